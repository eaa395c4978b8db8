"""The HDF5 statistics file.

Layout (format version 1):

* datasets ``mu`` float64 [d], ``sigma`` float64 [d, d] (unbiased covariance),
  ``count`` int64 scalar, and optionally ``features`` float32 [N, d] (chunked, gzip);
* root attributes: ``format`` = "ganeval-stats", ``format_version``, ``ganeval_version``
  and the provenance: ``extractor``, ``weights_sha256`` (digest of the network's
  tensors), ``weights_file_sha256``, ``mode``, ``precision``, ``feature_dim``,
  ``image_count``, ``source``, ``source_fingerprint``, ``created``, ``skipped_files``
  (JSON list), ``max_images`` and ``seed`` when a subset was taken; ``merged_from`` (JSON list
  of {source, source_fingerprint, count, file}) in files written by ``ganeval merge``.

Files are written to a temporary name in the target folder, flushed, fsynced and then
renamed, so an interrupted run never leaves a partial file under the final name.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from ganeval.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval.stats import FeatureStats

FORMAT_NAME = "ganeval-stats"
FORMAT_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_JSON_ATTRS = ("skipped_files", "merged_from")


def is_stats_file(path) -> bool:
    """True when ``path`` is a file that starts with the HDF5 signature or is named *.h5/*.hdf5."""
    path = Path(path)
    if not path.is_file():
        return path.suffix.lower() in (".h5", ".hdf5")
    with open(path, "rb") as handle:
        return handle.read(8) == HDF5_SIGNATURE or path.suffix.lower() in (".h5", ".hdf5")


def save_stats(stats: FeatureStats, path, *, overwrite: bool = True) -> None:
    """Write ``stats`` (count ≥ 2) with its provenance to ``path`` atomically."""
    from ganeval import __version__

    path = Path(path)
    if path.exists() and not overwrite:
        raise GanevalError(f"{path}: already exists; choose another name or remove it first")
    if not path.parent.exists():
        raise GanevalError(f"{path}: folder {path.parent} does not exist; create it first")
    mu, sigma = stats.mu, stats.sigma  # validates count before anything is written
    attrs = dict(stats.provenance)
    attrs.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, ganeval_version=__version__,
                 image_count=stats.count, feature_dim=int(mu.shape[0]))
    with atomic_write(path) as tmp_name:
        with h5py.File(tmp_name, "w") as h5:
            h5.create_dataset("mu", data=mu)
            h5.create_dataset("sigma", data=sigma)
            h5.create_dataset("count", data=np.int64(stats.count))
            features = stats.features
            if features is not None:
                h5.create_dataset("features", data=features, chunks=(min(len(features), 256), features.shape[1]),
                                  compression="gzip", compression_opts=4, shuffle=True)
            for key, value in attrs.items():
                if value is None or key == "file":
                    continue
                h5.attrs[key] = json.dumps(value) if key in _JSON_ATTRS else value
            h5.flush()


def load_stats(path, *, with_features: bool = False) -> FeatureStats:
    """Read a stats file; any problem becomes a one-line GanevalError naming the file."""
    path = Path(path)
    if not path.exists():
        raise GanevalError(f"{path}: no such file")
    if path.is_dir():
        raise GanevalError(f"{path}: is a folder, not a stats file")
    redo = f"recompute it with `ganeval stats SOURCE -o {path}`"
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
        raise GanevalError(f"{path}: not a ganeval stats file ({what}); {redo}")
    try:
        with h5py.File(path, "r") as h5:
            attrs = {key: _plain(value) for key, value in h5.attrs.items()}
            if attrs.get("format") != FORMAT_NAME:
                raise GanevalError(f"{path}: HDF5 file without ganeval statistics (written by another tool?); {redo}")
            version = int(attrs.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise GanevalError(
                    f"{path}: written by a newer ganeval (format {version}, this one reads {FORMAT_VERSION}); "
                    "upgrade ganeval"
                )
            for name in ("mu", "sigma", "count"):
                if name not in h5:
                    raise GanevalError(f"{path}: stats file lacks the '{name}' dataset (damaged?); {redo}")
            mu = h5["mu"][()]
            sigma = h5["sigma"][()]
            count = int(h5["count"][()])
            features = h5["features"][()] if with_features and "features" in h5 else None
    except GanevalError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise GanevalError(f"{path}: unreadable or truncated stats file ({reason}); {redo}") from None
    d = mu.shape[0] if mu.ndim == 1 else -1
    if mu.ndim != 1 or sigma.shape != (d, d) or count < 2:
        raise GanevalError(f"{path}: inconsistent statistics (mu {mu.shape}, sigma {sigma.shape}, count {count}); {redo}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise GanevalError(f"{path}: statistics contain NaN or infinity; {redo}")
    for key in _JSON_ATTRS:
        if key in attrs:
            attrs[key] = json.loads(attrs[key])
    provenance = {k: v for k, v in attrs.items() if k not in ("format", "format_version", "image_count")}
    provenance["file"] = str(path)
    return FeatureStats.from_moments(count, mu, sigma, provenance, features)


def has_features(path) -> bool:
    """True when the stats file stores the raw features."""
    with h5py.File(path, "r") as h5:
        return "features" in h5


def _plain(value):
    """HDF5 attribute → plain Python (str, int, float)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _looks_like_npz_stats(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return {"mu.npy", "sigma.npy"} <= names
