"""The Python API: compute statistics from images, load them, and compare them.

    import ganeval
    real = ganeval.compute_stats("dataset/")             # FeatureStats
    real.save("real.h5")
    score = ganeval.fid("real.h5", "samples/")            # float
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ganeval import distributed as dist_helpers
from ganeval.errors import GanevalError
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.io.checkpoint import open_checkpoint, save_checkpoint
from ganeval.io.sources import open_source
from ganeval.io.statsfile import is_stats_file, load_stats
from ganeval.metrics.frechet import frechet_distance
from ganeval.stats import FeatureStats, check_compatible, utc_timestamp

_EXTRACTORS: dict[tuple, InceptionExtractor] = {}


def get_inception(weights=None, *, mode: str = DEFAULT_MODE, device=None, allow_unknown_weights: bool = False,
                  precision: str = "fp32", backend: str = "auto", compile: bool = False) -> InceptionExtractor:
    """The Inception extractor for these settings, built once per process and reused."""
    key = (str(weights) if weights is not None else None, mode, str(device), allow_unknown_weights,
           precision, backend, compile)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = InceptionExtractor(weights, mode=mode, device=device,
                                              allow_unknown_weights=allow_unknown_weights,
                                              precision=precision, backend=backend, compile=compile)
    return _EXTRACTORS[key]


def clear_extractor_cache() -> None:
    """Forget the extractors built so far (the next call loads the network again, e.g. to time a cold start)."""
    _EXTRACTORS.clear()


EXTRACTOR_OPTIONS = ("weights", "mode", "device", "allow_unknown_weights", "precision", "backend", "compile")


def inception_for(options: dict) -> InceptionExtractor:
    """:func:`get_inception` with the extractor settings found among compute_stats-style ``options``."""
    chosen = {key: options[key] for key in EXTRACTOR_OPTIONS if options.get(key) is not None}
    return get_inception(chosen.pop("weights", None), **chosen)


def compute_stats(source, *, mode: str = DEFAULT_MODE, weights=None, device=None, batch_size: int = 50,
                  workers: int | None = None, max_images: int | None = None, seed: int = 0,
                  skip_bad: bool = False, save_features: bool = False, allow_unknown_weights: bool = False,
                  precision: str = "fp32", backend: str = "auto", compile: bool = False, extractor=None, progress: Callable[[int], None] | None = None,
                  distributed: bool | None = None, checkpoint=None, checkpoint_every: int = 100,
                  resume: bool = False, keep_checkpoint: bool = False, max_pixels: int | None = None) -> FeatureStats:
    """Feature statistics of an image source (folder, zip, .npy/.npz, array, tensors, iterable, generator fn).

    Returns a FeatureStats (float64 mean [2048] and covariance [2048, 2048]) whose provenance
    records the extractor, weights digest, mode, source, content fingerprint and skipped files.
    ``progress(n)`` is called with the number of images added after each batch.

    Speed: ``backend`` "auto" runs fp32 on the CPU with ONNX Runtime (same numbers, ~1.5-2.7x
    faster than PyTorch there). ``precision`` "bf16"/"fp16"/"tf32" and ``compile`` are opt-in;
    the precision is recorded and statistics of different precisions refuse to be compared.

    Process groups (``distributed=None``: use the initialised group, or the one torchrun's
    environment describes; False: this process alone). Every rank must call this with the same
    arguments; the combined statistics are returned on every rank. Folders, zips and arrays
    are split across ranks by whole batches; an iterable/generator is read by each rank for
    itself (each rank contributes its own images, e.g. its own generated samples), with
    ``max_images`` shared between the ranks.

    Resume: with ``checkpoint`` (a path, e.g. "real.h5.partial"; one file per rank in a group)
    the partial state is written atomically every ``checkpoint_every`` batches; ``resume=True``
    continues from it (bit-identical final result), refusing one made with other settings.
    Without ``resume`` an existing checkpoint is an error. The checkpoint is removed on success
    unless ``keep_checkpoint`` (then remove it with ``ganeval.io.checkpoint.remove_checkpoints``).
    ``max_pixels``: image files above this many pixels are unreadable (default: Pillow's limit).
    """
    if batch_size < 1:
        raise GanevalError(f"--batch-size must be at least 1, got {batch_size}")
    if checkpoint is not None and checkpoint_every < 1:
        raise GanevalError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    if distributed is None or distributed:
        in_group = dist_helpers.init_from_env(device)
        if distributed and not in_group:
            raise GanevalError("distributed=True but no process group of more than one process; launch with torchrun")
    else:
        in_group = False
    rank, world = (dist_helpers.rank(), dist_helpers.world_size()) if in_group else (0, 1)
    if in_group:
        device = dist_helpers.resolve_device(device)
    image_source = open_source(source, max_images=max_images, seed=seed, max_pixels=max_pixels)
    if extractor is None:
        extractor = get_inception(weights, mode=mode, device=device, allow_unknown_weights=allow_unknown_weights,
                                  precision=precision, backend=backend, compile=compile)
    stats = FeatureStats(extractor=extractor, keep_features=save_features)
    if workers is None and torch.device(getattr(extractor, "device", "cuda")).type == "cpu":
        # The CPU network keeps every core busy, so decoding processes only compete with it:
        # 15.3 vs 14.4 images/s end to end on 2 cores (0 vs 2 workers).
        workers = 0

    own_checkpoint = settings = None
    if checkpoint is not None:
        setup_error = None
        try:
            own_checkpoint, settings = open_checkpoint(
                checkpoint, stats, image_source, resume=resume, rank=rank, world=world,
                run=dict(batch_size=batch_size, max_images=max_images, seed=seed, skip_bad=skip_bad,
                         save_features=save_features))
        except GanevalError as err:
            setup_error = err
        dist_helpers.any_rank_failed(setup_error)  # every rank stops together (just raises outside a group)

    start_batch = image_source.batches_done
    last_saved = start_batch
    for batch in image_source.batches(batch_size, workers=workers, skip_bad=skip_bad,
                                      rank=rank, world=world, start_batch=start_batch):
        stats.update(batch)
        if own_checkpoint is not None and image_source.batches_done - last_saved >= checkpoint_every:
            save_checkpoint(own_checkpoint, stats, image_source, settings)
            last_saved = image_source.batches_done
        if progress is not None:
            progress(len(batch))

    if own_checkpoint is not None and keep_checkpoint and image_source.batches_done != last_saved:
        # The caller still has to write the result: if that fails, --resume finishes without recomputing.
        try:
            save_checkpoint(own_checkpoint, stats, image_source, settings)
        except GanevalError:
            pass  # the older checkpoint (if any) stays; the caller's message says what --resume redoes

    if in_group:
        stats, fingerprint, skipped = dist_helpers.reduce_stats(stats, image_source)
    else:
        fingerprint, skipped = image_source.fingerprint, list(image_source.skipped)
    if stats.count < 2:
        found = "no images" if stats.count == 0 else "only one image"
        skipped_note = f" ({len(skipped)} undecodable skipped)" if skipped else ""
        raise GanevalError(f"{image_source.description}: {found} to compute statistics from{skipped_note}; "
                           "FID needs at least 2 images (thousands for a meaningful value)")
    stats.provenance.update(
        source=image_source.description,
        source_fingerprint=fingerprint,
        created=utc_timestamp(),
        skipped_files=skipped,
    )
    if max_images is not None:
        stats.provenance.update(max_images=max_images, seed=seed)
    if own_checkpoint is not None and not keep_checkpoint:
        own_checkpoint.unlink(missing_ok=True)
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
