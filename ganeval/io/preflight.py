"""Checks of a command's inputs before torch is imported or any network loaded (issue 22, item 1).

Importing torch takes about 2 s on an idle machine and tens of seconds on a loaded one; a wrong
path, an empty folder or a typo in a metric name must not wait for it. This module answers
every such mistake with the library's own one-line :class:`GanevalError`, and the library keeps
its checks (it calls the same functions here), so the API, used without the command line, says
the same.

Cost: numpy is imported for array-file headers (about 0.1 s) and h5py for stats files (about
0.2 s), each only when such a file is given; never torch. A folder is listed once here and once
more when its images are read (``os.scandir``: well under a second for 50,000 files).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

from ganeval.core.compatibility import COMPATIBILITY_KEYS, check_compatible  # noqa: F401  (re-exported)
from ganeval.core.errors import GanevalError
from ganeval.io.names import escape_name

def check_mergeable(provenances: Sequence[dict], names: Sequence[str]) -> None:
    """Refuse shards whose (primary space's) provenance differs from the first's on a compatibility key."""
    if len(provenances) < 2:
        raise GanevalError("merge needs at least two statistics files")
    first = provenances[0]
    for provenance, name in zip(provenances[1:], names[1:]):
        for key in COMPATIBILITY_KEYS:
            if str(first.get(key)) != str(provenance.get(key)):
                raise GanevalError(f"{names[0]} and {name} differ in {key} ({first.get(key)} vs "
                                   f"{provenance.get(key)}): shards must come from identical settings; "
                                   "recompute the odd one out")


def primary_provenance(spaces: dict[str, dict]) -> dict:
    """The provenance of a file's primary space (pool3 when present, else the first), as StatsSet.provenance."""
    return spaces.get("pool3") or next(iter(spaces.values()))


# ------------------------------------------------------------------------------------ image sources

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
"""Image file suffixes read from folders and zips (``ganeval.io.images`` re-exports them)."""

STATS_SUFFIXES = (".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_EXTENSIONS_READ = ", ".join(e[1:] for e in IMAGE_EXTENSIONS)


def is_stats_file(path) -> bool:
    """True when ``path`` is a file that starts with the HDF5 signature or is named *.h5/*.hdf5."""
    path = Path(path)
    if not path.is_file():
        return path.suffix.lower() in STATS_SUFFIXES
    with open(path, "rb") as handle:
        return handle.read(8) == HDF5_SIGNATURE or path.suffix.lower() in STATS_SUFFIXES


def source_kind(path: Path) -> str:
    """"folder", "zip" or "array" for an image source path; else the one-line error saying what it is."""
    if not path.exists():
        raise GanevalError(f"{escape_name(path)}: no such file or folder")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return "zip"
    if suffix in (".npy", ".npz"):
        return "array"
    if suffix in STATS_SUFFIXES:
        raise GanevalError(f"{escape_name(path)}: is a statistics file, not an image source")
    raise GanevalError(
        f"{escape_name(path)}: not an image source; give a folder of images, a .zip archive, or a .npy/.npz array of uint8 images"
    )


def folder_image_names(path: Path) -> list[str]:
    """Relative POSIX names of the image files under folder ``path``, recursively, in byte order.

    Symbolic links are followed; a dangling one is listed (reading it is the error that names it).
    """
    names = sorted(
        (p.relative_to(path).as_posix()
         for p in path.rglob("*")
         if p.suffix.lower() in IMAGE_EXTENSIONS and (p.is_file() or (p.is_symlink() and not p.exists()))),
        key=lambda n: n.encode("utf-8", "surrogateescape"),
    )
    if not names:
        what = "is empty" if not any(path.iterdir()) else "has no image files"
        raise GanevalError(
            f"{escape_name(path)}: folder {what} ({_EXTENSIONS_READ} are read, recursively); "
            "point at the folder that holds the images"
        )
    return names


def zip_image_index(path: Path) -> dict[str, int]:
    """Image member name → index in the archive's directory; refuses unreadable archives, duplicate
    names and archives without images."""
    shown = escape_name(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise GanevalError(f"{shown}: not a readable zip archive ({_first_line(err)}); re-create or re-download it") from None
    index: dict[str, int] = {}
    duplicates: list[str] = []
    for i, info in enumerate(infos):
        name = info.filename
        if name.endswith("/") or name.startswith("__MACOSX/") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            continue
        if name in index:
            duplicates.append(name)
        index[name] = i
    if duplicates:
        listed = ", ".join(escape_name(n) for n in sorted(set(duplicates))[:5])
        raise GanevalError(f"{shown}: zip archive holds several members with the same name ({listed}); which "
                           "one is meant is unknown: re-create the archive with unique names")
    if not index:
        raise GanevalError(f"{shown}: zip archive has no image files ({_EXTENSIONS_READ})")
    return index


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def npz_image_key(path: Path, keys: Sequence[str]) -> str:
    """The member of a .npz of images that holds them; refuses mu/sigma statistics and ambiguous files."""
    if "mu" in keys and "sigma" in keys:
        raise GanevalError(
            f"{path}: this is a statistics file from another tool (pytorch-fid/TTUR/clean-fid .npz with mu and "
            f"sigma), not images; convert it with `ganeval import-stats {path} -o {path.with_suffix('.h5')} "
            "--mode MODE --network tf-inception --count N`, or recompute from the images with `ganeval stats`"
        )
    chosen = next((key for key in ("images", "arr_0", "x") if key in keys), keys[0] if len(keys) == 1 else None)
    if chosen is None:
        raise GanevalError(f"{escape_name(path)}: .npz holds several arrays {list(keys)}; store the images under the "
                           "key 'images'")
    return chosen


def check_npz_member(path: Path, archive: zipfile.ZipFile, key: str) -> tuple:
    """Refuse an .npz member by its header before numpy allocates it: object arrays, and a declared
    shape larger than the member's data (a corrupt or hostile header). Returns (member name, shape,
    fortran order, dtype, header size in bytes)."""
    import zlib

    import numpy as np

    member_name = f"{key}.npy" if f"{key}.npy" in archive.namelist() else key
    shown = f"{escape_name(path)}:{escape_name(member_name)}"
    try:
        with archive.open(member_name) as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(member)
            header_size = member.tell()
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, KeyError) as err:
        raise GanevalError(f"{shown}: unreadable array header ({_first_line(err)}); re-create it with numpy.savez") from None
    if dtype.hasobject:
        raise GanevalError(f"{shown}: holds Python objects (dtype {dtype}), not uint8 images; ganeval never "
                           "unpickles data; save a uint8 array")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    stored = archive.getinfo(member_name).file_size - header_size
    if declared != stored:
        raise GanevalError(f"{shown}: header declares shape {tuple(shape)} ({declared} bytes) but the member holds "
                           f"{stored} bytes; the file is damaged, re-create it")
    return member_name, tuple(shape), fortran, dtype, header_size


def array_file_error(path: Path, err: BaseException) -> GanevalError:
    """The one line for a .npy/.npz that numpy cannot open."""
    return GanevalError(f"{escape_name(path)}: cannot read the array file ({_first_line(err)}); "
                        "re-create it with numpy.save/savez")


def check_array_shape(description: str, shape) -> None:
    """Refuse an image array that is not [N, H, W] or [N, ...] of rank 4 with N > 0, or whose images have no pixels."""
    if len(shape) not in (3, 4) or shape[0] == 0:
        raise GanevalError(f"{description}: expected a non-empty array of images, got shape {tuple(shape)}")
    if 0 in shape[1:]:
        raise GanevalError(f"{description}: its images have no pixels (shape {tuple(shape)}: a height, width or "
                           "channel count of 0); give images of at least 1 x 1 pixel")


def array_file_shape(path: Path) -> tuple:
    """The shape of the image array of a .npy/.npz file, read from its header alone."""
    import zlib

    import numpy as np

    try:
        if path.suffix.lower() == ".npy":
            return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)  # maps, reads nothing
        with np.load(path, allow_pickle=False) as archive:  # lazy: members are read when asked for
            key = npz_image_key(path, list(archive.keys()))
            return check_npz_member(path, archive.zip, key)[1]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise array_file_error(path, err) from None


def too_few_images(description: str, count: int, skipped: int = 0) -> GanevalError:
    """The one line for a source of fewer than 2 images (FID's covariance needs 2)."""
    found = "no images" if count == 0 else "only one image"
    skipped_note = f" ({skipped} undecodable skipped)" if skipped else ""
    return GanevalError(f"{description}: {found} to compute statistics from{skipped_note}; "
                        "FID needs at least 2 images (thousands for a meaningful value)")


def count_images(path) -> int:
    """How many images the image source file or folder ``path`` holds, from listings and headers
    only (no image decoded); the library's one-line error for a source that is none."""
    path = Path(path)
    kind = source_kind(path)
    if kind == "folder":
        return len(folder_image_names(path))
    if kind == "zip":
        return len(zip_image_index(path))
    shape = array_file_shape(path)
    check_array_shape(escape_name(path.resolve()), shape)
    return shape[0]


def check_image_source(path, max_images: int | None = None) -> int:
    """:func:`count_images`, refusing a source of fewer than 2 images (``max_images`` also caps the count)."""
    count = count_images(path)
    used = count if max_images is None else min(count, max_images)
    if used < 2:
        raise too_few_images(escape_name(Path(path).resolve()), used)
    return count


# -------------------------------------------------------------------------------------- stats files

JSON_ATTRS = ("skipped_files", "merged_from", "spaces")
FORMAT_NAME = "ganeval-stats"
FORMAT_VERSION = 2


def redo_hint(path) -> str:
    return f"recompute it with `ganeval stats SOURCE -o {path}`"


def check_stats_file_head(path: Path) -> None:
    """Refuse, by its first bytes, what is not a ganeval HDF5 stats file (one line naming the fix)."""
    if not path.exists():
        raise GanevalError(f"{path}: no such file")
    if path.is_dir():
        raise GanevalError(f"{path}: is a folder, not a stats file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head != HDF5_SIGNATURE:
        if zipfile.is_zipfile(path) and _looks_like_npz_stats(path):
            raise GanevalError(
                f"{path}: is a pytorch-fid/TTUR/clean-fid .npz statistics file, not a ganeval .h5 file; convert it "
                f"with `ganeval import-stats {path} -o {path.with_suffix('.h5')} --mode MODE --network tf-inception "
                "--count N` (stating how it was made), or recompute it with `ganeval stats SOURCE -o FILE.h5`"
            )
        what = "empty" if path.stat().st_size == 0 else "not an HDF5 file"
        raise GanevalError(f"{path}: not a ganeval stats file ({what}); {redo_hint(path)}")


def _looks_like_npz_stats(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return {"mu.npy", "sigma.npy"} <= names


def plain(value):
    """HDF5 attribute → plain Python (str, int, float)."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_attrs(node, path: Path, redo: str) -> dict:
    """The attributes of an HDF5 group as plain Python, JSON ones decoded."""
    import json

    attrs = {key: plain(value) for key, value in node.attrs.items()}
    for key in JSON_ATTRS:
        if key in attrs:
            try:
                attrs[key] = json.loads(attrs[key])
            except (TypeError, ValueError):
                raise GanevalError(f"{path}: attribute '{key}' is not valid JSON (damaged?); {redo}") from None
    return attrs


def stats_groups(h5, attrs: dict, path: Path, redo: str) -> tuple[int, dict]:
    """(format version, {space: HDF5 group}) of an open stats file whose root ``attrs`` are read."""
    if attrs.get("format") != FORMAT_NAME:
        raise GanevalError(f"{path}: HDF5 file without ganeval statistics (written by another tool?); {redo}")
    version = attrs.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise GanevalError(
            f"{path}: written by a newer ganeval (format {version}, this one reads up to {FORMAT_VERSION}); "
            "upgrade ganeval"
        )
    if version < 2:  # format 1: one pool3 space at the root
        return version, {"pool3": h5}
    names = attrs.get("spaces")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n in h5 for n in names):
        raise GanevalError(f"{path}: stats file lists feature spaces {names!r} it does not hold (damaged?); {redo}")
    return version, {name: h5[name] for name in names}


def stats_provenance(path) -> dict[str, dict]:
    """{space: provenance} of a ganeval stats file, from its attributes alone (no dataset is read);
    the same one-line errors as ``ganeval.io.statsfile.load_stats`` for what is not one."""
    import h5py

    path = Path(path)
    check_stats_file_head(path)
    redo = redo_hint(path)
    try:
        with h5py.File(path, "r") as h5:
            attrs = read_attrs(h5, path, redo)
            version, groups = stats_groups(h5, attrs, path, redo)
            return {name: dict(attrs) if version < 2 else read_attrs(group, path, redo)
                    for name, group in groups.items()}
    except GanevalError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as err:
        raise GanevalError(f"{path}: unreadable or truncated stats file ({_first_line(err)}); {redo}") from None


def check_npz_output_name(path) -> Path:
    """A pytorch-fid/TTUR statistics file to write must end in .npz."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise GanevalError(f"{path}: pytorch-fid/TTUR statistics files end in .npz; name it {path.name}.npz")
    return path


def check_cleanfid_target(folder, name: str) -> Path:
    """clean-fid custom statistics go into an existing folder, under a name without '_'."""
    import re

    folder = Path(folder)
    if not folder.is_dir():
        raise GanevalError(f"{folder}: not a folder; create it first (clean-fid keeps statistics in a folder)")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", name):
        raise GanevalError(f"--name {name!r}: use letters, digits and '-' only (clean-fid splits names on '_')")
    return folder
