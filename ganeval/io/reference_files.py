"""Reference statistics published by other tools, read as they are.

Three layouts are read, each into a plain :class:`ReferenceStats`:

* **ADM batches** (openai/guided-diffusion ``evaluations/``): an ``.npz`` with ``arr_0``
  uint8 images [N, H, W, 3] and optionally ``arr_1`` labels [N]. A *reference* batch
  also holds ``mu``/``sigma`` (pool3, 2048-d) and ``mu_s``/``sigma_s`` (the spatial
  ``mixed_6/conv`` features, 2023-d), computed over the whole dataset, while ``arr_0``
  holds only a subset (10,000 images) for precision and recall. Made with the TF graph's
  own resize, so the mode is ``tf1``. The statistics are read without touching
  ``arr_0``; the images are read only when asked (``images=True`` or
  :meth:`ReferenceStats.load_images`).
* **EDM2 reference pickles** (NVlabs/edm2 ``calculate_metrics.py ref``):
  ``{'num_images': int, 'fid': {'mu', 'sigma'}, 'fd_dinov2': {'mu', 'sigma'}}`` with
  float64 numpy arrays. Read with a restricted unpickler that resolves only plain
  containers, numbers, strings and the numpy functions that rebuild arrays, dtypes and
  scalars; any other global is refused before anything is called. Mode ``nvidia``
  (StyleGAN/EDM's detector resizes with ``F.interpolate``). The DINOv2 statistics become
  space ``dinov2`` with the provenance of ``DinoV2Extractor(convention="edm2")`` and Meta's
  official weights (``weights_sha256`` ``dinov2-vitl14-official``; see
  ``ganeval.core.identity.DINOV2_OFFICIAL_WEIGHTS``), so FD_DINOv2 against them needs
  ``--convention dinov2=edm2`` (adopted by default from the file) and the official weights.
* **mu/sigma ``.npz``** (TTUR, pytorch-fid, clean-fid, EDM1 ``fid-refs``): ``mu`` [2048]
  and ``sigma`` [2048, 2048]; clean-fid's ``*_kid.npz`` hold raw ``feats`` instead. The
  mode is not recorded in these files (clean-fid's file names say it); the caller states
  it, as for ``ganeval import-stats``.

Everything is read without ``allow_pickle``; object arrays are refused. Every problem is
one :class:`GanevalError` line naming the file.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganeval.core.choices import MODES
from ganeval.core.identity import (CONVENTIONS, DINOV2_NAME, DINOV2_OFFICIAL_WEIGHTS, DINOV2_OFFSET_INTERPOLATION,
                                   DINOV2_OUTPUT, INCEPTION_NAME, INCEPTION_SPACES, TF_INCEPTION_DIGEST)
from ganeval.core.errors import GanevalError, one_line
from ganeval.io.hashing import file_sha256
from ganeval.io.moments import finite_symmetric_sigma

__all__ = ["ReferenceStats", "SPACE_DIMS", "NOT_COMPARABLE", "KINDS", "detect_reference_kind", "read_reference",
           "read_adm_batch", "read_edm2_pickle", "read_npz_stats", "to_stats_set", "to_stats_file",
           "file_sha256"]

#: Dimension of each named feature space.
SPACE_DIMS = {"pool3": 2048, "spatial": 2023, "dinov2": 1024}
#: Spaces that ganeval cannot compute yet, with the reason (kept in the reference, reported).
NOT_COMPARABLE: dict[str, str] = {}
#: What :func:`detect_reference_kind` returns.
KINDS = ("adm", "edm2", "npz", "stats")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_ADM_SPACES = {"pool3": ("mu", "sigma"), "spatial": ("mu_s", "sigma_s")}
_EDM2_SPACES = {"fid": "pool3", "fd_dinov2": "dinov2"}


@dataclass
class ReferenceStats:
    """Statistics of a published reference set, in one or more named feature spaces.

    ``spaces``: space name ("pool3", "spatial", "dinov2") → (mu float64 [d], sigma float64 [d, d]).
    ``count``: images behind the statistics, when the file records it (else None).
    ``mode``: the ganeval preprocessing mode the statistics were made with.
    ``images``: uint8 [N, H, W, 3] images stored with the statistics (ADM batches), when read.
    ``labels``: their class labels [N], when stored and read.
    ``provenance``: where it came from (format, file, image shape and count in the file, ...).
    """

    spaces: dict[str, tuple[np.ndarray, np.ndarray]]
    count: int | None
    mode: str
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def space(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of feature space ``name``; a one-line error when the file does not hold it."""
        if name not in self.spaces:
            held = ", ".join(self.spaces) or "no statistics (images only)"
            raise GanevalError(f"{self.provenance.get('file', 'reference')}: holds {held}, not {name!r} statistics")
        if name in NOT_COMPARABLE:
            raise GanevalError(f"{self.provenance.get('file', 'reference')}: {name!r} statistics are kept but "
                               f"not comparable: {NOT_COMPARABLE[name]}")
        return self.spaces[name]

    @property
    def comparable_spaces(self) -> list[str]:
        """Spaces ganeval can compare against today."""
        return [name for name in self.spaces if name not in NOT_COMPARABLE]

    def load_images(self) -> "ReferenceStats":
        """Read the images (and labels) of an ADM batch now; returns self."""
        if self.images is None and self.provenance.get("format") == "adm-batch" and self.provenance.get("batch_images"):
            self.images, self.labels = _read_adm_images(Path(self.provenance["file"]))
        return self


# ----------------------------------------------------------------------------------------------- detection


def detect_reference_kind(path) -> str:
    """"adm" (ADM batch), "edm2" (EDM2 pickle), "npz" (mu/sigma or feats .npz) or "stats" (ganeval HDF5)."""
    path = Path(path)
    if not path.is_file():
        raise GanevalError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == _HDF5_SIGNATURE:
        return "stats"
    if head[:4] == _ZIP_SIGNATURE:
        members = _npz_members(path)
        if "arr_0" in members:
            return "adm"
        if ("mu" in members and "sigma" in members) or "feats" in members:
            return "npz"
        raise GanevalError(f"{path}: .npz holds {sorted(members)}; expected an ADM batch ('arr_0' images, optionally "
                           "'mu', 'sigma', 'mu_s', 'sigma_s') or mu/sigma statistics (TTUR, pytorch-fid, clean-fid)")
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "edm2"
    raise GanevalError(f"{path}: not a reference file ganeval reads (expected an ADM/TTUR/clean-fid .npz, an EDM2 "
                       ".pkl or a ganeval .h5 stats file)")


def read_reference(path, *, mode: str | None = None, count: int | None = None,
                   images: bool = False) -> ReferenceStats:
    """Read any supported reference file (see the module docstring) by its content.

    ``mode``: required for mu/sigma ``.npz`` files that do not say it (TTUR, pytorch-fid, EDM1);
    for ADM and EDM2 files it must match their own mode when given.
    ``count``: images behind the statistics, for files that do not record it.
    ``images``: also read an ADM batch's images and labels.
    """
    kind = detect_reference_kind(path)
    if kind == "adm":
        ref = read_adm_batch(path, images=images)
    elif kind == "edm2":
        ref = read_edm2_pickle(path)
    elif kind == "npz":
        ref = read_npz_stats(path, mode=mode, count=count)
    else:
        raise GanevalError(f"{path}: is already a ganeval stats file; use it directly")
    if mode is not None and mode != ref.mode:
        raise GanevalError(f"{path}: {ref.provenance['format']} statistics are made in mode {ref.mode}, not {mode}; "
                           f"pass --mode {ref.mode}")
    if count is not None and ref.count is None:
        ref.count = int(count)
    return ref


# ----------------------------------------------------------------------------------------------- npz helpers


def _npz_members(path: Path) -> dict[str, str]:
    """Array name → member name of an .npz, without reading any array."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise GanevalError(f"{path}: unreadable .npz file ({one_line(err)}); download it again") from None
    return {name[:-4] if name.endswith(".npy") else name: name for name in names}


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of every array in an .npz, from the .npy headers only (nothing else is read)."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                headers[member[:-4] if member.endswith(".npy") else member] = (tuple(shape), np.dtype(dtype))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise GanevalError(f"{path}: unreadable .npz file ({one_line(err)}); download it again") from None
    for name, (_, dtype) in headers.items():
        if dtype.hasobject:
            raise GanevalError(f"{path}: array {name!r} holds pickled Python objects, which ganeval never loads; "
                               "use the file as published (plain numeric arrays)")
    return headers


def _load_npz_arrays(path: Path, names) -> dict[str, np.ndarray]:
    """Read only the named arrays of an .npz (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as err:
        raise GanevalError(f"{path}: unreadable .npz file ({one_line(err)}); download it again") from None


def _moments(path, label: str, space: str, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 (mu, sigma) of feature space ``space`` (same rules as ``import-stats``)."""
    if not isinstance(mu, np.ndarray) or not isinstance(sigma, np.ndarray):
        raise GanevalError(f"{path}: {label} mu/sigma are {type(mu).__name__}/{type(sigma).__name__}; "
                           "expected numpy arrays")
    if mu.dtype.kind not in "fiu" or sigma.dtype.kind not in "fiu":
        raise GanevalError(f"{path}: {label} mu/sigma have dtypes {mu.dtype}/{sigma.dtype}; expected floats")
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    d = SPACE_DIMS[space]
    if mu.shape != (d,) or sigma.shape != (d, d):
        raise GanevalError(f"{path}: {label} mu has shape {mu.shape} and sigma {sigma.shape}; {space} statistics "
                           f"are [{d}] and [{d}, {d}]")
    return mu, finite_symmetric_sigma(mu, sigma, f"{path}: {label} ")


# ----------------------------------------------------------------------------------------------- ADM


def read_adm_batch(path, *, images: bool = False) -> ReferenceStats:
    """Read an ADM evaluator batch (``arr_0`` images, optional ``arr_1``, ``mu``/``sigma``, ``mu_s``/``sigma_s``).

    The statistics are read without reading ``arr_0``; ``images=True`` reads the images and labels too.
    ``count`` is None for reference batches: their statistics cover the whole dataset, whose
    size the file does not record (``arr_0`` holds only a subset).
    """
    path = Path(path)
    if not path.is_file():
        raise GanevalError(f"{path}: no such file")
    headers = _npz_headers(path)
    if "arr_0" not in headers:
        raise GanevalError(f"{path}: no 'arr_0' images; not an ADM batch (it holds {sorted(headers)})")
    shape, dtype = headers["arr_0"]
    if dtype != np.uint8 or len(shape) != 4 or shape[3] != 3:
        raise GanevalError(f"{path}: 'arr_0' is {dtype} {list(shape)}; an ADM batch holds uint8 images [N, H, W, 3]")
    n = shape[0]
    if "arr_1" in headers:
        label_shape, label_dtype = headers["arr_1"]
        if label_dtype.kind not in "iu" or label_shape != (n,):
            raise GanevalError(f"{path}: 'arr_1' is {label_dtype} {list(label_shape)}; ADM labels are integers [{n}]")
    wanted = []
    for space, (mu_name, sigma_name) in _ADM_SPACES.items():
        if (mu_name in headers) != (sigma_name in headers):
            raise GanevalError(f"{path}: holds {mu_name if mu_name in headers else sigma_name} without its partner "
                               f"({mu_name} and {sigma_name} come together); download the file again")
        if mu_name in headers:
            wanted += [mu_name, sigma_name]
    arrays = _load_npz_arrays(path, wanted)
    spaces = {space: _moments(path, f"'{mu_name}'/'{sigma_name}'", space, arrays[mu_name], arrays[sigma_name])
              for space, (mu_name, sigma_name) in _ADM_SPACES.items() if mu_name in arrays}
    provenance = {
        "format": "adm-batch",
        "file": str(path.resolve()),
        "batch_images": int(n),
        "image_shape": [int(s) for s in shape[1:]],
        "has_labels": "arr_1" in headers,
        "statistics": "whole dataset (stored mu/sigma)" if spaces else "none (images only)",
    }
    ref = ReferenceStats(spaces=spaces, count=None if spaces else int(n), mode="tf1", provenance=provenance)
    if images:
        ref.load_images()
    return ref


def _read_adm_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``arr_0`` (memory-mapped when stored uncompressed, as the evaluator's batches are) and ``arr_1``."""
    from ganeval.io.sources import npz_member_array

    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise GanevalError(f"{path}: unreadable .npz file ({one_line(err)}); download it again") from None
    labels = _load_npz_arrays(path, ["arr_1"])["arr_1"] if "arr_1" in _npz_members(path) else None
    return npz_member_array(path, archive, "arr_0"), labels


# ----------------------------------------------------------------------------------------------- EDM2


def _numpy_core():
    return getattr(np, "_core", None) or np.core


def _checked_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("an object dtype (pickled Python objects) is not read")
    if dtype.kind not in "biufcSU" or dtype.itemsize > MAX_PICKLED_ITEMSIZE:
        raise pickle.UnpicklingError(f"a numpy dtype {dtype.str} is not read (only numbers and short strings)")
    return dtype


class _NdarrayName:
    """What the name numpy.ndarray resolves to: only :func:`_checked_reconstruct` accepts it. The class
    itself is not handed out: ``ndarray(shape)`` would allocate any declared size."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("numpy.ndarray(shape) is not read: it would allocate whatever shape it declares")


def _checked_reconstruct(subtype, shape, dtype_code):
    if subtype is not _NdarrayName:
        raise pickle.UnpicklingError(f"an array of type {getattr(subtype, '__name__', subtype)} is not read")
    # numpy pickles an array as an empty one whose __setstate__ then receives the data (whose size
    # numpy checks against the shape): a non-empty shape here would be an allocation bomb.
    if not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape) or 0 not in shape:
        raise pickle.UnpicklingError(f"numpy _reconstruct with shape {str(shape)[:40]} is not read")
    return _numpy_core().multiarray._reconstruct(np.ndarray, shape, _checked_dtype(dtype_code))


def _checked_bytearray(*args):
    # Pickles spell a bytearray as bytearray(bytes) or bytearray(str, 'latin-1'): its size is that of the
    # pickle's own data. bytearray(N) would allocate N bytes from a few bytes of pickle: refused.
    if not args or not isinstance(args[0], (bytes, str)) or len(args) > 2:
        raise pickle.UnpicklingError("bytearray is read only from bytes held in the pickle")
    return bytearray(*args)


def _checked_complex(*args):
    if not all(isinstance(a, (int, float)) for a in args) or len(args) > 2:
        raise pickle.UnpicklingError("complex is read only from two numbers")
    return complex(*args)


def _checked_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("only numeric numpy scalars are read")
    return _numpy_core().multiarray.scalar(dtype, *args)


def _checked_frombuffer(buffer, dtype, shape, order):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("only numeric numpy arrays are read")
    return _numpy_core().numeric._frombuffer(buffer, dtype, shape, order)


def _latin1_encode(text, encoding="utf-8"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only _codecs.encode(str, 'latin1') is read")
    return text.encode("latin1")


MAX_PICKLE_NODES = 100_000
"""Most values :func:`_check_plain` visits (an EDM2 reference holds about ten; 0.1-0.5 s to reach)."""
MAX_PICKLE_DEPTH = 64
"""Deepest nesting of containers read (an EDM2 reference nests 2 deep)."""
MAX_PICKLED_ITEMSIZE = 64
"""Largest numpy element read from a pickle, in bytes (complex256 is 32)."""

# Only these globals resolve; anything else stops the unpickler before it is called.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _checked_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy.core.multiarray", "scalar"): _checked_scalar,
    ("numpy._core.multiarray", "scalar"): _checked_scalar,
    ("numpy.core.numeric", "_frombuffer"): _checked_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _checked_frombuffer,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): _checked_bytearray,
    ("builtins", "complex"): _checked_complex,
    ("collections", "OrderedDict"): dict,
}


class _RefusedGlobal(Exception):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(module, name) from None

    def persistent_load(self, pid):
        raise _RefusedGlobal("persistent id", str(pid)[:40])


def _restricted_load(path: Path, data: bytes):
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except _RefusedGlobal as err:
        raise GanevalError(f"{path}: refused to unpickle: it references {err.qualified}, and an EDM2 reference holds "
                           "only dicts, numbers, strings and numpy arrays (nothing in it was run); use the file "
                           "as published by NVIDIA") from None
    except RecursionError:  # e.g. hashing a tuple nested thousands deep, used as a dict key
        raise GanevalError(f"{path}: refused: the pickle nests containers too deeply; an EDM2 reference is a "
                           "shallow dict") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, UnicodeDecodeError) as err:
        raise GanevalError(f"{path}: unreadable pickle ({one_line(err)}); download it again") from None


def _check_plain(path: Path, value, where: str = "the file") -> None:
    """Refuse anything but containers, numbers, strings and numeric numpy values (defence in depth).

    Walked iteratively, visiting at most :data:`MAX_PICKLE_NODES` values, no deeper than
    :data:`MAX_PICKLE_DEPTH`, and refusing a container that holds itself: a 1 KB pickle whose
    lists share references ("memo bomb") spans 2^40 paths, and one nested 100,000 deep or
    holding itself breaks every recursive reader after us.
    """
    pending = [(value, where, 0, ())]  # (value, where it is, depth, ids of the containers above it)
    visited = 0
    while pending:
        item, place, depth, above = pending.pop()
        visited += 1
        if visited > MAX_PICKLE_NODES:
            raise GanevalError(f"{path}: refused: holds more than {MAX_PICKLE_NODES:,} values (or shares references "
                               "to look that big); an EDM2 reference is a small dict of arrays")
        if isinstance(item, (dict, list, tuple, set, frozenset)):
            if id(item) in above:
                raise GanevalError(f"{path}: refused: {place} contains itself; an EDM2 reference is a plain dict")
            if depth >= MAX_PICKLE_DEPTH:
                raise GanevalError(f"{path}: refused: containers nested more than {MAX_PICKLE_DEPTH} deep; an EDM2 "
                                   "reference is a shallow dict")
            inner = above + (id(item),)
            if isinstance(item, dict):
                for key, child in item.items():
                    name = f"{place}[{key!r}]" if isinstance(key, (str, int)) and len(place) < 200 else place
                    pending.append((key, place, depth + 1, inner))
                    pending.append((child, name, depth + 1, inner))
            else:
                pending.extend((child, place, depth + 1, inner) for child in item)
        elif isinstance(item, (np.ndarray, np.generic)):
            if item.dtype.hasobject:
                raise GanevalError(f"{path}: {place} is an object array, which ganeval never reads")
        elif item is not None and not isinstance(item, (bool, int, float, complex, str, bytes, bytearray)):
            raise GanevalError(f"{path}: {place} is a {type(item).__name__}; an EDM2 reference holds only dicts, "
                               "numbers, strings and numpy arrays")


def read_edm2_pickle(path) -> ReferenceStats:
    """Read an EDM2 ``dataset-refs/*.pkl`` with a restricted unpickler (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise GanevalError(f"{path}: no such file")
    data = path.read_bytes()
    obj = _restricted_load(path, data)
    _check_plain(path, obj)
    if not isinstance(obj, dict):
        raise GanevalError(f"{path}: holds a {type(obj).__name__}; an EDM2 reference is a dict "
                           "{'num_images', 'fid': {'mu', 'sigma'}, 'fd_dinov2': {...}}")
    count = obj.get("num_images")
    if count is not None:
        if isinstance(count, np.generic):
            count = count.item()
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise GanevalError(f"{path}: 'num_images' is {count!r}; expected an integer ≥ 2")
    spaces, ignored = {}, []
    for key, value in obj.items():
        if key == "num_images":
            continue
        if key not in _EDM2_SPACES:
            ignored.append(str(key))
            continue
        if not isinstance(value, dict) or "mu" not in value or "sigma" not in value:
            raise GanevalError(f"{path}: entry {key!r} is not a dict with 'mu' and 'sigma'")
        space = _EDM2_SPACES[key]
        spaces[space] = _moments(path, f"{key!r}", space, value["mu"], value["sigma"])
    if not spaces:
        raise GanevalError(f"{path}: holds {sorted(map(str, obj))}; an EDM2 reference has 'fid' and/or 'fd_dinov2'")
    provenance = {"format": "edm2-pkl", "file": str(path.resolve()), "edm2_entries": sorted(map(str, obj))}
    if ignored:
        provenance["ignored_entries"] = sorted(ignored)
    not_comparable = {name: NOT_COMPARABLE[name] for name in spaces if name in NOT_COMPARABLE}
    if not_comparable:
        provenance["not_comparable"] = not_comparable
    return ReferenceStats(spaces=spaces, count=count, mode="nvidia", provenance=provenance)


# ----------------------------------------------------------------------------------------------- TTUR, clean-fid


def read_npz_stats(path, *, mode: str | None = None, count: int | None = None) -> ReferenceStats:
    """Read a TTUR / pytorch-fid / clean-fid / EDM1 ``.npz`` (``mu``, ``sigma``; or clean-fid's ``feats``).

    ``mode``: the ganeval mode the file was made with; clean-fid file names say it (a
    different ``mode`` is refused), other files need it stated.
    """
    from ganeval.io.interchange import CLEANFID_MODES, cleanfid_mode_of

    path = Path(path)
    if not path.is_file():
        raise GanevalError(f"{path}: no such file")
    named = cleanfid_mode_of(path)
    if named is not None:
        if mode is not None and mode != CLEANFID_MODES[named]:
            raise GanevalError(f"{path}: the clean-fid file name says mode {named}, which is ganeval mode "
                               f"{CLEANFID_MODES[named]}, but mode {mode} was given; "
                               f"pass --mode {CLEANFID_MODES[named]}")
        mode = CLEANFID_MODES[named]
    if mode is None:
        raise GanevalError(f"{path}: a mu/sigma .npz does not record its resize; pass --mode (tf1 for TTUR, "
                           "pytorch-fid for pytorch-fid, nvidia for EDM/StyleGAN)")
    if mode not in MODES:
        raise GanevalError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    headers = _npz_headers(path)
    provenance: dict[str, Any] = {"format": "clean-fid" if named else "mu/sigma npz", "file": str(path.resolve())}
    if "mu" in headers and "sigma" in headers:
        arrays = _load_npz_arrays(path, ["mu", "sigma"])
        spaces = {"pool3": _moments(path, "'mu'/'sigma'", "pool3", arrays["mu"], arrays["sigma"])}
        return ReferenceStats(spaces=spaces, count=None if count is None else int(count), mode=mode,
                              provenance=provenance)
    if "feats" in headers:
        from ganeval.io.interchange import import_npz

        stats = import_npz(path, mode=mode, network="tf-inception", count=count)
        provenance["format"] = "clean-fid features"
        spaces = {"pool3": _moments(path, "'feats'", "pool3", stats.mu, stats.sigma)}
        return ReferenceStats(spaces=spaces, count=int(stats.count), mode=mode, provenance=provenance)
    raise GanevalError(f"{path}: .npz holds {sorted(headers)}; expected 'mu' and 'sigma' (TTUR/pytorch-fid/clean-fid) "
                       "or 'feats' (clean-fid KID file)")


# ----------------------------------------------------------------------------------------------- conversion


def to_stats_set(ref: ReferenceStats, *, count: int | None = None, name: str | None = None,
                 sha256: str | None = None):
    """The statistics of ``ref`` (pool3, ADM's spatial, EDM2's dinov2 when present) as a
    :class:`~ganeval.core.stats.StatsSet`, with provenance.

    ``count``: images behind the statistics when the file does not record it.
    ``name``: registry name, recorded. ``sha256``: the source file's, when already known.
    """
    from ganeval.core.stats import FeatureStats, StatsSet, utc_timestamp

    source_file = ref.provenance.get("file", "reference")
    if "pool3" not in ref.spaces:
        raise GanevalError(f"{source_file}: holds no pool3 statistics (an ADM sample batch holds images only); "
                           f"compute them with `ganeval stats {source_file} -o FILE.h5`")
    explicit_count = count is not None
    count = count if explicit_count else ref.count
    if count is None:
        raise GanevalError(f"{source_file}: the file does not record how many images made its statistics; "
                           "pass --count N")
    if count < 2:
        raise GanevalError(f"--count must be at least 2, got {count}")
    if sha256 is None and Path(source_file).is_file():
        sha256 = file_sha256(source_file)
    provenance: dict[str, Any] = {
        "weights_sha256": TF_INCEPTION_DIGEST,
        "weights_known": True,
        "mode": ref.mode,
        "source": f"reference {name}" if name else f"imported {Path(source_file).name}",
        "source_fingerprint": f"file-sha256:{sha256}",
        "imported_from": str(source_file),
        "imported_file_sha256": sha256,
        "imported_format": ref.provenance.get("format", "unknown"),
        "created": utc_timestamp(),
        "reference_spaces": ",".join(ref.spaces),
        "reference_spaces_not_in_this_file": ",".join(s for s in ref.spaces if s not in ref.comparable_spaces),
    }
    if name:
        provenance["reference_name"] = name
    for key, value in ref.provenance.items():
        if key in ("file", "format", "reference_name", "count_source"):
            continue
        provenance[f"reference_{key}"] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    if explicit_count:
        provenance["count_source"] = "stated by the user (--count)"
    elif ref.provenance.get("count_source"):
        provenance["count_source"] = ref.provenance["count_source"]
    elif ref.count is not None:
        provenance["count_source"] = "recorded in the file" if ref.provenance.get("format") == "edm2-pkl" else \
            "stated when the file was read"
    spaces = {}
    for space in ref.comparable_spaces:
        mu, sigma = ref.spaces[space]
        if space == "dinov2":
            space_provenance = {**provenance, **_edm2_dinov2_provenance()}
        else:
            space_provenance = {**provenance, "extractor": f"{INCEPTION_NAME}/{space}",
                                "layer": INCEPTION_SPACES[space][1]}
        spaces[space] = FeatureStats.from_moments(int(count), mu, sigma,
                                                  {**space_provenance, "feature_dim": int(mu.shape[0])})
    shared_keys = ("source", "source_fingerprint", "created")
    return StatsSet(spaces, {key: provenance[key] for key in shared_keys})


def _edm2_dinov2_provenance() -> dict[str, Any]:
    """What made EDM2's ``fd_dinov2`` statistics, as ``DinoV2Extractor(convention="edm2")`` records it:
    torch.hub ``dinov2_vitl14`` (Meta's official weights, offset position embeddings), fp32,
    ``F.interpolate`` bicubic antialiased resize to 224 (NVlabs/edm2 ``calculate_metrics.py``)."""
    edm2 = CONVENTIONS["edm2"]
    return {"extractor": f"{DINOV2_NAME}/dinov2", "weights_sha256": DINOV2_OFFICIAL_WEIGHTS,
            "weights_origin": "torch.hub facebookresearch/dinov2 dinov2_vitl14 (EDM2's detector)",
            "weights_known": False, "mode": edm2.name, "resize": edm2.resize, "input_size": edm2.size,
            "precision": "fp32",
            "pos_embed_interpolation": DINOV2_OFFSET_INTERPOLATION, "output": DINOV2_OUTPUT}


def to_stats_file(ref: ReferenceStats, path, *, count: int | None = None, name: str | None = None,
                  sha256: str | None = None) -> Path:
    """Write ``ref`` as a ganeval stats file (format 2: pool3, and ADM's spatial or EDM2's dinov2)
    at ``path`` atomically and return the path."""
    path = Path(path)
    to_stats_set(ref, count=count, name=name, sha256=sha256).save(path)
    return path

