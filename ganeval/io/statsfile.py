"""The HDF5 statistics file.

Layout, format version 2 (written since ganeval 0.2; docs/file-format.md):

* root attributes: ``format`` = "ganeval-stats", ``format_version`` = 2, ``ganeval_version``,
  ``spaces`` (JSON list of the feature spaces, e.g. ["pool3", "spatial"]), ``image_count`` and the
  provenance the spaces share: ``source``, ``source_fingerprint``, ``created``, ``skipped_files``
  (JSON list), ``max_images``/``seed`` when a subset was taken, ``merged_from`` (JSON) after a merge;
* one group per feature space, ``/pool3``, ``/spatial``, ...: datasets ``mu`` float64 [d],
  ``sigma`` float64 [d, d] (unbiased covariance), ``count`` int64 scalar and optionally
  ``features`` float32 [N, d] (chunked, gzip); attributes: that space's provenance
  (``extractor``, ``layer``, ``feature_dim``, ``weights_sha256``, ``mode``, ``precision``, ...);
* per-class statistics (``ganeval stats --per-class``): ``/classes/00000``, ``/classes/00001``, ...
  in sorted label order, each with the attribute ``label`` (JSON string) and a ``pool3`` group
  laid out as above (no features).

Format 1 (ganeval 0.1: ``mu``/``sigma``/``count``/``features`` at the root, one pool3 space)
is read unchanged. Files are written to a temporary name in the target folder, flushed,
fsynced and then renamed, so an interrupted run never leaves a partial file under the final name.
Everything read is validated (dtypes, shapes before any data is read, finiteness, symmetry),
and any problem is one GanevalError line naming the file.

This module is the format alone: it writes any set of statistics shaped like
:class:`ganeval.core.stats.StatsSet` and reads plain arrays and dicts (:class:`StatsFileContents`),
which ``StatsSet.load`` turns into statistics; it does not import :mod:`ganeval.core.stats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from ganeval.core.identity import SHARED_KEYS
from ganeval.core.errors import GanevalError, one_line
from ganeval.io.atomic import atomic_write
from ganeval.io.h5safe import open_h5
from ganeval.io.preflight import (FORMAT_NAME, FORMAT_VERSION, HDF5_SIGNATURE, JSON_ATTRS,  # noqa: F401 (re-exported)
                                  check_stats_file_head, is_stats_file, read_attrs, redo_hint, stats_groups)

MAX_DIM = 65536
"""Largest feature dimension read (sigma is d² float64: 32 GiB at this d); larger is refused unread."""
MAX_FEATURE_BYTES = 64 * 2**30
"""Largest stored ``features`` dataset read (float32 N x d); larger is refused unread."""


class SpaceMoments(NamedTuple):
    """One feature space as stored (``StatsSet.load`` makes a FeatureStats of it)."""

    count: int
    mu: np.ndarray  # float64 [d]
    sigma: np.ndarray  # float64 [d, d], unbiased covariance, as stored
    provenance: dict[str, Any]  # the space's own attributes with the file's shared ones
    features: "StoredFeatures | None"  # float32 [count, d] when stored and asked for, read on use


@dataclass
class StatsFileContents:
    """What a stats file holds: ``shared`` provenance (with ``file``: the path read), ``spaces``
    {name: SpaceMoments} and ``classes`` {label: {name: SpaceMoments}} (None: not per class)."""

    shared: dict[str, Any]
    spaces: dict[str, SpaceMoments]
    classes: dict[str, dict[str, SpaceMoments]] | None


def write_stats_file(stats, path, *, overwrite: bool = True) -> None:
    """Write ``stats`` with its provenance to ``path`` atomically.

    ``stats``: a set of statistics shaped like :class:`ganeval.core.stats.StatsSet`: ``spaces``
    {name: an object with ``count``, ``mu``, ``sigma``, ``features``, ``provenance``; count ≥ 2},
    ``shared``, ``provenance``, ``count`` and ``classes`` ({label: such a set} or None).
    """
    from ganeval import __version__

    path = Path(path)
    if path.exists() and not overwrite:
        raise GanevalError(f"{path}: already exists; choose another name or remove it first")
    if not path.parent.exists():
        raise GanevalError(f"{path}: folder {path.parent} does not exist; create it first")
    for space_stats in stats.spaces.values():  # validates counts before anything is written
        space_stats.sigma
    classes = sorted((stats.classes or {}).items())
    for label, class_set in classes:
        if class_set.count < 2:
            raise GanevalError(f"{path}: class {label!r} has {class_set.count} image; per-class statistics need "
                               "at least 2 images in every class")
    shared = {k: v for k, v in {**stats.provenance, **stats.shared}.items() if k in SHARED_KEYS}
    shared.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, ganeval_version=__version__,
                  image_count=stats.count, spaces=list(stats.spaces))
    with atomic_write(path) as tmp_name:
        with h5py.File(tmp_name, "w") as h5:
            _write_attrs(h5, shared)
            for space, space_stats in stats.spaces.items():
                _write_space(h5.create_group(space), space_stats)
            for index, (label, class_set) in enumerate(classes):
                group = h5.create_group(f"classes/{index:05d}")
                group.attrs["label"] = json.dumps(label)
                for space, space_stats in class_set.spaces.items():
                    _write_space(group.create_group(space), space_stats)
            h5.flush()


def _write_space(group, stats) -> None:
    mu, sigma = stats.mu, stats.sigma
    group.create_dataset("mu", data=mu)
    group.create_dataset("sigma", data=sigma)
    group.create_dataset("count", data=np.int64(stats.count))
    features = stats.features
    if features is not None and len(features):
        group.create_dataset("features", data=features, chunks=(min(len(features), 256), features.shape[1]),
                             compression="gzip", compression_opts=4, shuffle=True)
    own = {k: v for k, v in stats.provenance.items() if k not in SHARED_KEYS and k != "class"}
    own["feature_dim"] = int(mu.shape[0])
    _write_attrs(group, own)


def _write_attrs(node, attrs: dict) -> None:
    for key, value in attrs.items():
        if value is None or key == "file":
            continue
        node.attrs[key] = json.dumps(value) if key in JSON_ATTRS else value


def read_stats_file(path, *, with_features: bool = False) -> StatsFileContents:
    """Read a stats file (format 1 or 2); any problem is a one-line GanevalError naming the file."""
    path = Path(path)
    check_stats_file_head(path)
    redo = redo_hint(path)
    try:
        with open_h5(path) as h5:  # refuses external storage and links, virtual datasets (ganeval.io.h5safe)
            attrs = read_attrs(h5, path, redo)
            version, groups = stats_groups(h5, attrs, path, redo)
            shared = {k: v for k, v in attrs.items() if k in SHARED_KEYS}
            shared["file"] = str(path)  # "file" is in SHARED_KEYS but never written
            spaces = {}
            for name, group in groups.items():
                own = attrs if version < 2 else read_attrs(group, path, redo)
                provenance = {k: v for k, v in own.items()
                              if k not in ("format", "format_version", "image_count", "spaces")}
                provenance.update(shared)
                where = f"{path} [{name}]" if version >= 2 else str(path)
                spaces[name] = _read_space(group, where, redo, provenance, with_features)
            classes = _read_classes(h5, path, redo, shared) if version >= 2 and "classes" in h5 else None
    except GanevalError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as err:
        reason = one_line(err)
        raise GanevalError(f"{path}: unreadable or truncated stats file ({reason}); {redo}") from None
    return StatsFileContents(shared, spaces, classes)


def _read_classes(h5, path: Path, redo: str, shared: dict) -> dict[str, dict[str, SpaceMoments]]:
    classes = {}
    for key, group in h5["classes"].items():
        try:
            label = json.loads(group.attrs["label"])
        except (KeyError, TypeError, ValueError):
            raise GanevalError(f"{path}: class group {key} has no readable label (damaged?); {redo}") from None
        if str(label) in classes:  # which of the two is meant cannot be known: one would be dropped silently
            raise GanevalError(f"{path}: two class groups have the label {str(label)!r} (the second is {key}); "
                               f"per-class results would be wrong; {redo}")
        spaces = {}
        for name in group:
            provenance = {**read_attrs(group[name], path, redo), **shared, "class": str(label)}
            spaces[name] = _read_space(group[name], f"{path} [class {label}, {name}]", redo, provenance, False)
        if not spaces:
            raise GanevalError(f"{path}: class {label!r} holds no statistics (damaged?); {redo}")
        classes[str(label)] = spaces
    return classes


def _dataset(group, name: str, where: str, redo: str, *, kind: str, ndim: int):
    """The h5py dataset ``name`` after checking its dtype kind ('f' float, 'i' integer) and rank, unread."""
    if name not in group or not isinstance(group[name], h5py.Dataset):
        raise GanevalError(f"{where}: stats file lacks the '{name}' dataset (damaged?); {redo}")
    data = group[name]
    if data.dtype.kind not in (kind if kind != "i" else "iu") or len(data.shape) != ndim:
        raise GanevalError(f"{where}: '{name}' is {data.dtype} of shape {data.shape}, expected "
                           f"{'floating point' if kind == 'f' else 'integer'} of rank {ndim} (damaged?); {redo}")
    return data


def _read_space(group, where: str, redo: str, provenance: dict, with_features: bool) -> SpaceMoments:
    mu_data = _dataset(group, "mu", where, redo, kind="f", ndim=1)
    sigma_data = _dataset(group, "sigma", where, redo, kind="f", ndim=2)
    count = int(_dataset(group, "count", where, redo, kind="i", ndim=0)[()])
    d = mu_data.shape[0]
    if d > MAX_DIM or sigma_data.shape != (d, d) or count < 2:
        raise GanevalError(f"{where}: inconsistent statistics (mu {mu_data.shape}, sigma {sigma_data.shape}, "
                           f"count {count}); {redo}")
    features = None
    if with_features and "features" in group:
        data = _dataset(group, "features", where, redo, kind="f", ndim=2)
        if data.shape != (count, d) or data.shape[0] * data.shape[1] * 4 > MAX_FEATURE_BYTES:
            raise GanevalError(f"{where}: stored features have shape {data.shape}, the statistics count {count} "
                               f"images of dimension {d}; {redo}")
        features = StoredFeatures(Path(group.file.filename).absolute(), data.name, data.shape, where, redo)
    mu = mu_data[()].astype(np.float64, copy=False)
    sigma = sigma_data[()].astype(np.float64, copy=False)
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise GanevalError(f"{where}: statistics contain NaN or infinity; {redo}")
    scale = max(float(np.abs(sigma).max()), 1e-300)
    if float(np.abs(sigma - sigma.T).max()) > 1e-9 * scale:
        raise GanevalError(f"{where}: covariance is not symmetric (damaged?); {redo}")
    return SpaceMoments(count, mu, sigma, provenance, features)


class StoredFeatures:
    """The ``features`` dataset of a stats file, read only when a metric uses it (KID, PRDC, ...).

    FID needs only mu and sigma; a file with [N, 2048] features would otherwise cost N x 8 KiB of
    memory for nothing. The shape is checked when the file is loaded (against the count, the
    dimension and the bytes the file stores, ganeval.io.h5safe); :meth:`load` refuses a file that
    changed in between, and NaN or infinity.
    """

    def __init__(self, path: Path, name: str, shape: tuple, where: str, redo: str):
        self.path, self.name, self.shape, self.where, self.redo = path, name, tuple(shape), where, redo
        self.stamp = _stamp(path)

    def load(self) -> np.ndarray:
        """float32 [N, d]; a one-line GanevalError when the file changed or holds non-finite values."""
        if _stamp(self.path) != self.stamp:
            raise GanevalError(f"{self.where}: the stats file changed since it was read; run again")
        try:
            with open_h5(self.path) as h5:
                data = h5[self.name]
                if data.shape != self.shape:
                    raise GanevalError(f"{self.where}: the stats file changed since it was read; run again")
                features = data[()].astype(np.float32, copy=False)
        except GanevalError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as err:
            reason = one_line(err)
            raise GanevalError(f"{self.where}: unreadable stored features ({reason}); {self.redo}") from None
        if not np.all(np.isfinite(features)):
            raise GanevalError(f"{self.where}: stored features contain NaN or infinity; {self.redo}")
        return features


def _stamp(path: Path) -> tuple:
    try:
        info = path.stat()
    except OSError:
        return ()
    return info.st_ino, info.st_size, info.st_mtime_ns


def has_features(path, space: str = "pool3") -> bool:
    """True when the stats file stores the raw features of ``space``."""
    with open_h5(path) as h5:
        node = h5[space] if space in h5 and isinstance(h5[space], h5py.Group) else h5
        return "features" in node

