"""Statistics in other tools' formats, and exact merging of shards.

* pytorch-fid / TTUR: ``.npz`` with ``mu`` float64 [d] and ``sigma`` float64 [d, d]
  (``np.savez_compressed``); nothing records the image count, the network or the resize.
* clean-fid: the same ``mu``/``sigma`` ``.npz`` (``mu`` float32 there), named
  ``{name}_{mode}_custom_na.npz`` in its ``stats`` folder, plus ``{name}_{mode}_custom_na_kid.npz``
  with the raw features ``feats`` float32 [N, 2048] for KID. clean-fid's modes map to ours:
  ``clean`` → ``clean``, ``legacy_tensorflow`` → ``nvidia``, ``legacy_pytorch`` → ``pytorch-fid``.

Imported files carry no provenance, so the user states it: the preprocessing mode, the
network ("tf-inception" when the file was made with the standard FID Inception, else
"unknown", which then refuses comparison without --allow-mismatch) and, for mu/sigma
files, the image count. The import records ``imported_from`` and the file's sha256.
Round trips are exact: mu and sigma are copied bit for bit both ways.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from ganeval.core.choices import MODES
from ganeval.core.identity import INCEPTION_NAME, INCEPTION_SPACES, TF_INCEPTION_DIGEST
from ganeval.core.errors import GanevalError, one_line
from ganeval.io.atomic import atomic_write
from ganeval.io.hashing import file_sha256
from ganeval.io.moments import finite_symmetric_sigma
from ganeval.io.outputs import check_output
from ganeval.io.preflight import check_cleanfid_target, check_mergeable, check_npz_output_name
from ganeval.io.statsfile import HDF5_SIGNATURE
from ganeval.core.stats import FeatureStats, Statistics, StatsSet, as_stats_set, load_stats, utc_timestamp

__all__ = ["NETWORKS", "CLEANFID_MODES", "import_npz", "export_npz", "export_cleanfid", "merge_stats",
           "cleanfid_file_names"]

NETWORKS = ("tf-inception", "unknown")
#: clean-fid mode → ganeval mode.
CLEANFID_MODES = {"clean": "clean", "legacy_tensorflow": "nvidia", "legacy_pytorch": "pytorch-fid"}
_CLEANFID_NAME = re.compile(r"_(clean|legacy_tensorflow|legacy_pytorch)_[a-z0-9]+_[a-z0-9]+(_kid)?\.npz$")
# Provenance that belongs to one shard's images, not to a merge of several.
_PER_SOURCE_KEYS = ("source", "source_fingerprint", "file", "created", "skipped_files", "max_images", "seed",
                    "imported_from", "imported_file_sha256", "imported_format", "merged_from")


def cleanfid_mode_of(path) -> str | None:
    """clean-fid mode named in a clean-fid stats file name, or None when the name is not clean-fid's."""
    match = _CLEANFID_NAME.search(Path(path).name.lower())
    return match.group(1) if match else None


def import_npz(path, *, mode: str, network: str, count: int | None = None) -> FeatureStats:
    """Read a pytorch-fid/TTUR or clean-fid ``.npz`` into FeatureStats with declared provenance.

    ``mode``: the ganeval preprocessing mode the file was made with (one of MODES).
    ``network``: "tf-inception" or "unknown" (see the module docstring).
    ``count``: images behind mu/sigma (required for those files; a ``feats`` file knows it).
    """
    path = Path(path)
    if mode not in MODES:
        raise GanevalError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if network not in NETWORKS:
        raise GanevalError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
    if not path.is_file():
        raise GanevalError(f"{path}: no such file")
    with open(path, "rb") as handle:
        if handle.read(8) == HDF5_SIGNATURE:
            raise GanevalError(f"{path}: is already an HDF5 stats file; use it directly")
    if not zipfile.is_zipfile(path):
        raise GanevalError(f"{path}: not an .npz file (expected pytorch-fid/TTUR or clean-fid statistics)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, MemoryError) as err:  # bad CRC, objects
        raise GanevalError(f"{path}: unreadable .npz file ({one_line(err)})"
                           "; re-create it with numpy.savez") from None
    for key in ("mu", "sigma", "feats"):
        if key in arrays and arrays[key].dtype.kind not in "fiu":
            raise GanevalError(f"{path}: '{key}' holds {arrays[key].dtype} values, not numbers; not a statistics file")
    named_mode = cleanfid_mode_of(path)
    if named_mode is not None and CLEANFID_MODES[named_mode] != mode:
        raise GanevalError(f"{path}: the clean-fid file name says mode {named_mode}, which is ganeval mode "
                           f"{CLEANFID_MODES[named_mode]}, but --mode {mode} was given; pass --mode "
                           f"{CLEANFID_MODES[named_mode]} (or rename the file if the name is wrong)")

    file_format = "clean-fid" if named_mode else "pytorch-fid/TTUR"
    features = None
    if "feats" in arrays:
        features = np.asarray(arrays["feats"], dtype=np.float32)
        if features.ndim != 2 or features.shape[0] < 2:
            raise GanevalError(f"{path}: 'feats' has shape {features.shape}; expected [N ≥ 2, d]")
        if not np.all(np.isfinite(features)):
            raise GanevalError(f"{path}: 'feats' contains NaN or infinity; not usable statistics, nothing written")
        if count is not None and count != features.shape[0]:
            raise GanevalError(f"{path}: holds {features.shape[0]} feature vectors but --count {count} was given")
        count = features.shape[0]
    elif "mu" in arrays and "sigma" in arrays:
        if count is None:
            raise GanevalError(f"{path}: the file does not record how many images made it; "
                               "pass --count N (e.g. 50000 for statistics of a 50k-image set)")
        if count < 2:
            raise GanevalError(f"--count must be at least 2, got {count}")
    else:
        raise GanevalError(f"{path}: .npz holds {sorted(arrays)}; expected 'mu' and 'sigma' "
                           "(pytorch-fid/TTUR/clean-fid) or 'feats' (clean-fid KID file)")

    digest = file_sha256(path)
    provenance = {
        "imported_from": str(path.resolve()),
        "imported_file_sha256": digest,
        "imported_format": file_format,
        "mode": mode,
        "source": f"imported {path.name}",
        "source_fingerprint": f"file-sha256:{digest}",
        "created": utc_timestamp(),
    }
    if network == "tf-inception":
        provenance.update(extractor=f"{INCEPTION_NAME}/pool3", weights_sha256=TF_INCEPTION_DIGEST, weights_known=True)
    else:
        provenance.update(extractor="unknown", weights_sha256="unknown", weights_known=False)

    if features is not None:
        stats = FeatureStats(provenance=provenance, keep_features=True)
        stats.add_features(features)
    else:
        mu = np.asarray(arrays["mu"], dtype=np.float64)
        sigma = np.asarray(arrays["sigma"], dtype=np.float64)
        d = mu.shape[0] if mu.ndim == 1 else -1
        if mu.ndim != 1 or sigma.shape != (d, d):
            raise GanevalError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected [d] and [d, d]")
        sigma = finite_symmetric_sigma(mu, sigma, f"{path}: ", "; not usable statistics, nothing written")
        stats = FeatureStats.from_moments(count, mu, sigma, provenance)
        stats._exact_sigma = sigma.copy()
    pool3_dim = INCEPTION_SPACES["pool3"][0]
    if network == "tf-inception" and stats.dim != pool3_dim:
        raise GanevalError(f"{path}: features are {stats.dim}-d, but the TF Inception pool3 features are "
                           f"{pool3_dim}-d; pass --network unknown")
    stats.provenance["feature_dim"] = int(stats.dim)
    return stats


def _exact_arrays(stats_or_path) -> tuple[np.ndarray, np.ndarray, FeatureStats]:
    """(mu, sigma) exactly as stored in a stats file (or as a FeatureStats reports them), and the stats."""
    if isinstance(stats_or_path, Statistics):
        return stats_or_path.mu, stats_or_path.sigma, stats_or_path
    stats = load_stats(stats_or_path, with_features=True)  # validates, one-line errors; sigma as stored, bit for bit
    return stats.mu, stats.sigma, stats


def _write_npz_atomically(path: Path, **arrays) -> None:
    if not path.parent.exists():
        raise GanevalError(f"{path}: folder {path.parent} does not exist; create it first")
    with atomic_write(path) as tmp_name, open(tmp_name, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def export_npz(stats_or_path, path) -> Path:
    """Write pytorch-fid/TTUR ``.npz`` (``mu`` float64 [d], ``sigma`` float64 [d, d]) atomically."""
    path = check_npz_output_name(path)
    check_output(path, [stats_or_path] if not isinstance(stats_or_path, FeatureStats) else [])
    mu, sigma, _ = _exact_arrays(stats_or_path)
    _write_npz_atomically(path, mu=mu, sigma=sigma)
    return path


def cleanfid_file_names(name: str, mode: str) -> tuple[str, str]:
    """clean-fid's (FID file, KID file) names for custom statistics ``name`` in ganeval ``mode``."""
    reverse = {ours: theirs for theirs, ours in CLEANFID_MODES.items()}
    if mode not in reverse:
        raise GanevalError(f"clean-fid has no mode with ganeval's {mode!r} preprocessing; compute the statistics "
                           f"with --mode {' or --mode '.join(reverse)} to use them in clean-fid")
    stem = f"{name}_{reverse[mode]}_custom_na".lower()
    return f"{stem}.npz", f"{stem}_kid.npz"


def export_cleanfid(stats_or_path, folder, name: str) -> list[Path]:
    """Write clean-fid custom statistics ``name`` into ``folder`` (e.g. cleanfid's ``stats`` folder).

    Writes the FID file (mu, sigma) and, when the statistics hold features, the KID file
    (``feats`` float32). Returns the paths written.
    """
    folder = check_cleanfid_target(folder, name)
    mu, sigma, stats = _exact_arrays(stats_or_path)
    fid_name, kid_name = cleanfid_file_names(name, stats.provenance.get("mode", ""))
    inputs = [stats_or_path] if not isinstance(stats_or_path, FeatureStats) else []
    for target in (fid_name, kid_name):
        check_output(folder / target, inputs)
    _write_npz_atomically(folder / fid_name, mu=mu, sigma=sigma)
    written = [folder / fid_name]
    if stats.features is not None and len(stats.features):
        _write_npz_atomically(folder / kid_name, feats=stats.features)
        written.append(folder / kid_name)
    return written


def merge_stats(items: Iterable) -> StatsSet:
    """Merge shard statistics (stats file paths, StatsSets or FeatureStats) exactly, as one run over all images.

    Every feature space the shards have in common is merged. Refuses shards that differ in
    extractor, weights, mode, precision or dimension, and the same shard twice. Raw features
    are kept only when every shard has them. The result's provenance lists each shard's
    source, fingerprint, count and file in ``merged_from``.
    """
    shards = [as_stats_set(item) if isinstance(item, Statistics)
              else load_stats(item, with_features=True) for item in items]
    names = [str(s.provenance.get("file", f"shard {i + 1}")) for i, s in enumerate(shards)]
    check_mergeable([shard.provenance for shard in shards], names)
    seen: dict[str, str] = {}
    for shard, name in zip(shards, names):
        fingerprint = shard.provenance.get("source_fingerprint")
        if fingerprint and fingerprint in seen:
            raise GanevalError(f"{name} and {seen[fingerprint]} hold the same images (fingerprint {fingerprint}); "
                               "each shard may be merged once")
        if fingerprint:
            seen[fingerprint] = name
    common = [space for space in shards[0].spaces if all(space in shard for shard in shards)]
    merged_spaces = {}
    for space in common:
        parts = [shard[space] for shard in shards]
        keep_features = all(p.features is not None and len(p.features) == p.count for p in parts)
        provenance = {k: v for k, v in parts[0].provenance.items() if k not in _PER_SOURCE_KEYS}
        merged_spaces[space] = FeatureStats(parts[0].dim, provenance=provenance, keep_features=keep_features)
        for part in parts:
            merged_spaces[space].merge(part)
    merged = StatsSet(merged_spaces)
    record = [{"source": s.provenance.get("source"), "source_fingerprint": s.provenance.get("source_fingerprint"),
               "count": s.count, "file": name} for s, name in zip(shards, names)]
    hasher = hashlib.sha256("\n".join(str(r["source_fingerprint"]) for r in record).encode())
    skipped = [f for s in shards for f in (s.provenance.get("skipped_files") or [])]
    merged.annotate(
        source=f"merge of {len(shards)} shards: " + ", ".join(str(r["source"]) for r in record),
        source_fingerprint=f"merged:sha256:{hasher.hexdigest()}",
        merged_from=record,
        skipped_files=skipped,
        created=utc_timestamp(),
    )
    return merged
