"""The Python API: compute statistics from images, load them, and compare them.

    import ganeval
    real = ganeval.compute_stats("dataset/")             # FeatureStats
    real.save("real.h5")
    score = ganeval.fid("real.h5", "samples/")            # float
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ganeval.errors import GanevalError
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.io.sources import open_source
from ganeval.io.statsfile import is_stats_file, load_stats
from ganeval.metrics.frechet import frechet_distance
from ganeval.stats import FeatureStats, check_compatible, utc_timestamp

_EXTRACTORS: dict[tuple, InceptionExtractor] = {}


def get_inception(weights=None, *, mode: str = DEFAULT_MODE, device=None,
                  allow_unknown_weights: bool = False) -> InceptionExtractor:
    """The Inception extractor for these settings, built once per process and reused."""
    key = (str(weights) if weights is not None else None, mode, str(device), allow_unknown_weights)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = InceptionExtractor(weights, mode=mode, device=device,
                                              allow_unknown_weights=allow_unknown_weights)
    return _EXTRACTORS[key]


def compute_stats(source, *, mode: str = DEFAULT_MODE, weights=None, device=None, batch_size: int = 50,
                  workers: int | None = None, max_images: int | None = None, seed: int = 0,
                  skip_bad: bool = False, save_features: bool = False, allow_unknown_weights: bool = False,
                  extractor=None, progress: Callable[[int], None] | None = None) -> FeatureStats:
    """Feature statistics of an image source (folder, zip, .npy/.npz, array, tensors, iterable, generator fn).

    Returns a FeatureStats (float64 mean [2048] and covariance [2048, 2048]) whose provenance
    records the extractor, weights digest, mode, source, content fingerprint and skipped files.
    ``progress(n)`` is called with the number of images added after each batch.
    """
    if batch_size < 1:
        raise GanevalError(f"--batch-size must be at least 1, got {batch_size}")
    image_source = open_source(source, max_images=max_images, seed=seed)
    if extractor is None:
        extractor = get_inception(weights, mode=mode, device=device, allow_unknown_weights=allow_unknown_weights)
    stats = FeatureStats(extractor=extractor, keep_features=save_features)
    for batch in image_source.batches(batch_size, workers=workers, skip_bad=skip_bad):
        stats.update(batch)
        if progress is not None:
            progress(len(batch))
    if stats.count < 2:
        found = "no images" if stats.count == 0 else "only one image"
        skipped = f" ({len(image_source.skipped)} undecodable skipped)" if image_source.skipped else ""
        raise GanevalError(f"{image_source.description}: {found} to compute statistics from{skipped}; "
                           "FID needs at least 2 images (thousands for a meaningful value)")
    stats.provenance.update(
        source=image_source.description,
        source_fingerprint=image_source.fingerprint,
        created=utc_timestamp(),
        skipped_files=list(image_source.skipped),
    )
    if max_images is not None:
        stats.provenance.update(max_images=max_images, seed=seed)
    return stats


def stats_of(obj, **options) -> FeatureStats:
    """``obj`` as statistics: a FeatureStats as is, a stats file loaded, anything else computed.

    ``options`` go to :func:`compute_stats` when images must be read.
    """
    if isinstance(obj, FeatureStats):
        return obj
    if isinstance(obj, (str, Path)) and is_stats_file(obj):
        return load_stats(obj)
    return compute_stats(obj, **options)


def fid_from_stats(a: FeatureStats, b: FeatureStats, *, allow_mismatch: bool = False,
                   names: tuple[str, str] = ("A", "B")) -> float:
    """Fréchet distance between two statistics, after checking that they are comparable."""
    if not allow_mismatch:
        check_compatible(a.provenance, b.provenance, names[0], names[1])
    if a.dim != b.dim:
        raise GanevalError(f"{names[0]} has {a.dim}-d features and {names[1]} has {b.dim}-d: not comparable")
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def fid(a, b, *, allow_mismatch: bool = False, **options) -> float:
    """FID between ``a`` and ``b``: each a stats file, a FeatureStats or any image source.

    Image sources are computed with ``options`` (mode, weights, device, batch_size, ...);
    when the other side is already statistics, its mode is used unless ``mode`` is given.
    """
    sides = [load_stats(x) if isinstance(x, (str, Path)) and is_stats_file(x) else x for x in (a, b)]
    known_modes = [s.provenance["mode"] for s in sides if isinstance(s, FeatureStats) and "mode" in s.provenance]
    if "mode" not in options and known_modes:
        options["mode"] = known_modes[0]
    stats_a, stats_b = (stats_of(side, **options) for side in sides)
    return fid_from_stats(stats_a, stats_b, allow_mismatch=allow_mismatch, names=(_name(a), _name(b)))


def _name(obj) -> str:
    return str(obj) if isinstance(obj, (str, Path)) else type(obj).__name__
