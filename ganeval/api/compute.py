"""Statistics from images and files: ``compute_stats``, ``load_statistics``, and the extractors
(built once per process, keyed by the digest of their ExtractorOptions).

    import ganeval
    real = ganeval.compute_stats("dataset/")             # StatsSet
    real.save("real.h5")
    score = ganeval.fid("real.h5", "samples/")            # float (ganeval.api.evaluate)
"""

from __future__ import annotations

import ganeval.api.distributed as dist_helpers
from ganeval.core.options import ExtractorOptions, RunOptions, options_from_keywords
from ganeval.core.errors import GanevalError
from ganeval.io.classes import check_class_sizes, check_listed_class_sizes
from ganeval.extractors import registry
from ganeval.extractors.inception_extractor import DEFAULT_FEATURES, InceptionExtractor, parse_features
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.io.checkpoint import open_checkpoint, save_checkpoint
from ganeval.io.sources import open_source
from ganeval.io.statsfile import is_stats_file
from ganeval.io.preflight import too_few_images
from ganeval.api.preflight import is_statistics  # noqa: F401  (public here)
from ganeval.metrics.registry import fid_of
from ganeval.api.pipeline import choose_settings, decode_description, pipeline_batches
from ganeval.api.progress import announce_loading, as_progress, images_to_read
from ganeval.core.stats import StatsSet, as_stats_set, check_compatible, load_stats, space_of, utc_timestamp

_EXTRACTORS: dict[tuple, InceptionExtractor] = {}

AUTO_FEATURES_LIMIT = 50_000
"""``save_features="auto"`` keeps the raw pool3 features of sets up to this many images
(50k x 2048 float32: 410 MB in memory; docs/file-format.md gives measured file sizes)."""


def _cached(cache: dict, options: ExtractorOptions, build, network=None):
    """The extractor of ``options`` (and of this registered ``network`` entry: a network registered
    again with other weights is a new extractor), built once."""
    key = (options.digest(), id(network))
    if key not in cache:
        announce_loading()  # e.g. "loading Inception network..." on a bar: only when a network is really built
        cache[key] = build()
    return cache[key]


def get_inception(weights=None, *, mode: str = DEFAULT_MODE, device=None, allow_unknown_weights: bool = False,
                  precision: str = "fp32", backend: str = "auto", compile: bool = False,
                  features=DEFAULT_FEATURES) -> InceptionExtractor:
    """The Inception extractor for these settings, built once per process and reused."""
    options = ExtractorOptions(features=parse_features(features), mode=mode,
                               weights={"inception": weights} if weights is not None else (), device=device,
                               allow_unknown_weights=allow_unknown_weights, precision=precision, backend=backend,
                               compile=compile)
    return _cached(_EXTRACTORS, options, lambda: InceptionExtractor(
        weights, mode=mode, device=device, allow_unknown_weights=allow_unknown_weights, precision=precision,
        backend=backend, compile=compile, features=features))


def clear_extractor_cache() -> None:
    """Forget the extractors built so far (the next call loads the network again, e.g. to time a cold start)."""
    _EXTRACTORS.clear()
    _ENCODERS.clear()


_ENCODERS: dict[tuple, object] = {}


def get_encoder(network: str, weights=None, *, convention: str | None = None, device=None,
                precision: str = "fp32", backend: str = "auto", compile: bool = False):
    """The extractor of a registered network other than Inception ("dinov2", "clip", "clip_vitb32", or
    one registered with ``ganeval.register_extractor``) for these settings, built once per process."""
    spec = registry.network_of(network)
    convention = convention or spec.default_convention
    options = ExtractorOptions(features=spec.spaces, weights={spec.key: weights} if weights is not None else (),
                               convention={spec.key: convention} if convention else (), device=device,
                               precision=precision, backend=backend, compile=compile)
    return _cached(_ENCODERS, options, lambda: spec.build(weights=weights, convention=convention, device=device,
                                                          precision=precision, backend=backend, compile=compile),
                   network=spec)


def get_extractor(features=DEFAULT_FEATURES, *, weights=None, convention=None, mode: str = DEFAULT_MODE,
                  device=None, **inception_options):
    """The extractor of the feature spaces ``features``: the Inception extractor when they are all
    Inception's, else an :class:`~ganeval.extractors.registry.ExtractorSet` of one cached extractor
    per network. ``weights``: the Inception weights path, or {network: path} (``registry.parse_weights``);
    ``convention``: {network: convention} or one convention name (``registry.parse_conventions``).
    ``precision``, ``backend`` and ``compile`` apply to every network; ``allow_unknown_weights``
    to Inception's."""
    return extractor_for(ExtractorOptions(features=features, weights=weights or (), convention=convention or (),
                                          mode=mode, device=device, **inception_options))


def extractor_for(options: ExtractorOptions):
    """The extractor (Inception alone, or an ExtractorSet) of ``options``' feature spaces (default
    pool3,spatial), each network built once per process and reused."""
    features = options.features or DEFAULT_FEATURES
    by_network = registry.split_by_network(features)
    paths, conventions = options.weights_by_network, options.conventions
    unused = sorted(set(paths) - set(by_network)) + sorted(set(conventions) - set(by_network))
    if unused:
        raise GanevalError(f"--weights/--convention given for {', '.join(unused)}, whose features are not computed "
                           f"(features: {','.join(features)})")
    execution = dict(precision=options.precision, backend=options.backend, compile=options.compile)
    members = {}
    for key, spaces in by_network.items():
        if key == "inception":
            members[key] = get_inception(paths.get(key), mode=options.mode or DEFAULT_MODE, device=options.device,
                                         features=spaces, allow_unknown_weights=options.allow_unknown_weights,
                                         **execution)
        else:
            members[key] = get_encoder(key, paths.get(key), convention=conventions.get(key), device=options.device,
                                       **execution)
    if list(members) == ["inception"]:
        return members["inception"]
    return registry.ExtractorSet(members, features)


def inception_for(options: ExtractorOptions) -> InceptionExtractor:
    """The Inception extractor of ``options`` (its Inception spaces and weights; pool3 when they ask
    for no Inception space), e.g. for the Inception Score's logits head."""
    spaces = registry.split_by_network(options.features or DEFAULT_FEATURES).get("inception", ("pool3",))
    return get_inception(options.weights_by_network.get("inception"), features=spaces,
                         mode=options.mode or DEFAULT_MODE, device=options.device,
                         allow_unknown_weights=options.allow_unknown_weights, precision=options.precision,
                         backend=options.backend, compile=options.compile)


def logits_head_of(options: ExtractorOptions):
    """The logits head weight float32 [1008, 2048] of ``options``' Inception weights (None when they have
    none), read without building the network: the same checks and head as :func:`inception_for`."""
    from ganeval.extractors.weights import load_logits_head

    head = load_logits_head(options.weights_by_network.get("inception"),
                            allow_unknown=options.allow_unknown_weights)
    return None if head is None else head["output.weight"]


def compute_stats(source, *, progress=None, extractor=None, extractor_options: ExtractorOptions | None = None,
                  run_options: RunOptions | None = None, **keywords) -> StatsSet:
    """Feature statistics of an image source (folder, zip, .npy/.npz, array, tensors, iterable, generator fn).

    Returns a StatsSet: one FeatureStats (float64 mean [d], covariance [d, d]) per feature space in
    ``features`` ("pool3" 2048-d for FID/KID/PRDC, "spatial" 2023-d for sFID, "logits"; "dinov2"
    1024-d, "clip" 768-d, "clip_vitb32" 512-d, or a space of an extractor registered with
    ``ganeval.register_extractor``), each image decoded once and fed to every network needed;
    ``.mu``/``.sigma``/``.count`` are pool3's. The provenance records the extractor, weights digest,
    mode (convention), source, content fingerprint and skipped files.

    Options as objects (``extractor_options``, ``run_options``: ``ganeval.core.options``) or as
    keywords, which override them (an unknown keyword is refused):

    - ``features``: default pool3,spatial. ``weights``: the Inception weights path, or
      {network or space: path} (e.g. {"dinov2": PATH}). ``convention``: of the DINOv2/CLIP encoders,
      {network: convention} or a convention name ("edm2"); default dgm-eval (dinov2), cmmd (clip),
      clip-fid (clip_vitb32). ``mode``: Inception's preprocessing (tf1, nvidia, pytorch-fid, clean).
    - ``save_features``: keep the raw features of pool3 and the encoder spaces (True), none
      (False), those of the space names given, or "auto": True when the source holds at most
      :data:`AUTO_FEATURES_LIMIT` images. ``per_class``: also keep pool3 statistics per class
      (``.classes``; labels from class sub-folders, a .npz's labels/arr_1, (images, labels) pairs;
      see ``ganeval.io.sources.open_source``) for per-class FID and intra-FID.
    - ``progress``: None shows a tqdm bar (total, ETA) when stderr is a terminal, False silences it,
      True forces it, a callable ``progress(n)`` is called with the images added after each batch
      (see ``ganeval.api.progress``).

    Speed: ``backend`` "auto" runs Inception at fp32 on the CPU with ONNX Runtime (same numbers,
    ~1.5-2.7x faster than PyTorch there) and the ViT encoders with PyTorch (as fast).
    ``precision`` "bf16"/"fp16"/"tf32" and ``compile`` are opt-in and apply to every network;
    the precision is recorded and statistics of different precisions refuse to be compared
    (``ganeval.extractors.execution``).

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

    The input pipeline (``ganeval.api.pipeline``): ``workers`` decoding processes (default: 0 for a
    CPU network, every core but two for a GPU), ``prefetch`` batches copied to the device ahead
    (default: 2 on CUDA, 0 on the CPU; 0 whenever checkpoints or per-class labels are kept),
    ``pack`` one pinned block per batch (default on CUDA), ``decode`` "cpu" (PIL) or "gpu"
    (nvjpeg, opt-in; docs/gpu.md).
    """
    given = options_from_keywords(keywords, allowed=(ExtractorOptions, RunOptions),
                                  base={ExtractorOptions: extractor_options or ExtractorOptions(),
                                        RunOptions: run_options or RunOptions()})
    ext, run = given[ExtractorOptions], given[RunOptions]
    in_group, rank, world, device = _process_group(run.distributed, ext.device)
    image_source = open_source(source, max_images=run.max_images, seed=run.seed, labels=run.per_class,
                               max_pixels=run.max_pixels)
    if run.per_class:
        check_listed_class_sizes(image_source)  # before any image is decoded (ganeval.io.classes)
    bar = as_progress(progress, "features")
    if extractor is None:
        ext = ext.with_(device=device)
        only_inception = registry.networks_for(ext.features or DEFAULT_FEATURES) == ("inception",)
        with bar.phase("loading Inception network..." if only_inception else "loading networks...",
                       only_when_loading=True):
            extractor = extractor_for(ext)
    stats = StatsSet.for_extractor(extractor, keep_features=_kept_spaces(run.save_features, image_source,
                                                                         run.max_images),
                                   per_class=run.per_class)
    # The source's bookkeeping runs ahead by the prefetch depth: none when a checkpoint or the
    # per-class labels must describe exactly the batch being added.
    depth = 0 if run.checkpoint is not None or run.per_class else run.prefetch
    settings = choose_settings(getattr(extractor, "device", "cpu"), run.workers, depth, run.decode, pack=run.pack)
    recorded = dict(batch_size=run.batch_size, max_images=run.max_images, seed=run.seed, skip_bad=run.skip_bad,
                    per_class=run.per_class,
                    save_features=sorted(s for s, v in stats.spaces.items() if v.keep_features))
    resumable = _Resumable(run.checkpoint, run.checkpoint_every, stats, image_source, resume=run.resume, rank=rank,
                           world=world, run=recorded)

    start_batch = image_source.batches_done
    batches = pipeline_batches(image_source, run.batch_size, device=settings.device, settings=settings,
                               skip_bad=run.skip_bad, rank=rank, world=world, start_batch=start_batch)
    for batch in bar.track(batches, images_to_read(image_source, run.batch_size, rank, world, start_batch)):
        stats.update(batch, image_source.batch_labels)
        resumable.after_batch()

    if run.keep_checkpoint:
        resumable.save_final()

    if in_group:
        stats, fingerprint, skipped = dist_helpers.reduce_stats(stats, image_source)
    else:
        fingerprint, skipped = image_source.fingerprint, list(image_source.skipped)
    try:
        if stats.count < 2:
            raise too_few_images(image_source.description, stats.count, len(skipped))
        check_class_sizes(stats, image_source.description)
    except GanevalError:
        resumable.remove()  # a final refusal: --resume could not help, so no checkpoint is left behind
        raise
    stats.annotate(source=image_source.description, source_fingerprint=fingerprint, created=utc_timestamp(),
                   skipped_files=skipped, decode=decode_description(settings.decode))
    if run.max_images is not None:
        stats.annotate(max_images=run.max_images, seed=run.seed)
    if not run.keep_checkpoint:
        resumable.remove()
    return stats


def _process_group(distributed: bool | None, device):
    """(in a group, rank, world size, device) for ``distributed`` (None: whatever torchrun set up)."""
    in_group = False
    if distributed is None or distributed:
        in_group = dist_helpers.init_from_env(device)
        if distributed and not in_group:
            raise GanevalError("distributed=True but no process group of more than one process; launch with torchrun")
    if not in_group:
        return False, 0, 1, device
    return True, dist_helpers.rank(), dist_helpers.world_size(), dist_helpers.resolve_device(device)


def kept_spaces() -> tuple[str, ...]:
    """The spaces whose raw features ``save_features=True`` keeps: pool3 and every encoder's."""
    return ("pool3", *registry.encoder_spaces())


def _kept_spaces(save_features, source, max_images: int | None) -> tuple[str, ...]:
    """The spaces whose raw features a run keeps (see compute_stats): True keeps :func:`kept_spaces`
    (those the run computes), a collection of space names keeps those."""
    if save_features == "auto":
        known = source.count if source.count is not None else max_images
        save_features = known is not None and known <= AUTO_FEATURES_LIMIT
    elif not isinstance(save_features, bool):
        names = tuple(save_features) if isinstance(save_features, (list, tuple, set, frozenset)) else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise GanevalError(f"save_features must be True, False, 'auto' or space names, got {save_features!r}")
        return names
    return kept_spaces() if save_features else ()


class _Resumable:
    """The checkpoint around a statistics run: restores the state on resume, saves it every
    ``every`` batches, removes it at the end; does nothing when ``path`` is None."""

    def __init__(self, path, every: int, stats: StatsSet, source, *, resume: bool, rank: int, world: int, run: dict):
        self.stats, self.source, self.every = stats, source, every
        self.own = self.settings = None
        if path is None:
            return
        setup_error = None
        try:
            self.own, self.settings = open_checkpoint(path, stats, source, resume=resume, rank=rank, world=world,
                                                      run=run)
        except GanevalError as err:
            setup_error = err
        dist_helpers.any_rank_failed(setup_error)  # every rank stops together (just raises outside a group)
        self.last_saved = source.batches_done

    def after_batch(self) -> None:
        if self.own is not None and self.source.batches_done - self.last_saved >= self.every:
            save_checkpoint(self.own, self.stats, self.source, self.settings)
            self.last_saved = self.source.batches_done

    def save_final(self) -> None:
        """Save the finished state, for a caller who still has to write the result: if that write
        fails, --resume finishes without recomputing. A failure here keeps the older checkpoint."""
        if self.own is not None and self.source.batches_done != self.last_saved:
            try:
                save_checkpoint(self.own, self.stats, self.source, self.settings)
            except GanevalError:
                pass

    def remove(self) -> None:
        if self.own is not None:
            self.own.unlink(missing_ok=True)


def with_saved_features(stats, save_features):
    """``stats`` (a StatsSet) as a command writes it under the rule of ``ganeval stats``
    (:func:`ganeval.core.choices.saved_features`): ``True`` keeps the raw features it holds, ``False``
    none, ``"auto"`` those of sets of up to :data:`AUTO_FEATURES_LIMIT` images. The moments
    are shared, not recomputed (the file gets the very same mu and sigma)."""
    import copy

    if save_features not in (True, False, "auto"):
        raise GanevalError(f"save_features must be True, False or 'auto', got {save_features!r}")
    stats = as_stats_set(stats)
    keep = save_features if isinstance(save_features, bool) else stats.count <= AUTO_FEATURES_LIMIT
    if keep or all(space.features is None for space in stats.spaces.values()):
        return stats
    spaces = {}
    for name, space in stats.spaces.items():
        spaces[name] = copy.copy(space)  # same moments; only the view of the features changes
        spaces[name].keep_features = False
    lean = copy.copy(stats)
    lean.spaces = spaces
    return lean


def load_statistics(path, *, with_features: bool = False) -> StatsSet:
    """Statistics from a ganeval .h5 file or a published reference file (see :func:`is_statistics`).

    Reference files are used as they are: their stored statistics (an ADM reference batch's
    whole-dataset mu/sigma and mu_s/sigma_s; its ``arr_0`` images give the features KID and PRDC
    need, see ``ganeval.api.evaluate.load_side``). ``with_features``: also read stored raw features.
    """
    if is_stats_file(path):
        return load_stats(path, with_features=with_features)
    from ganeval.io.reference_files import read_reference, to_stats_set

    ref = read_reference(path)
    count = ref.count if ref.count is not None else ref.provenance.get("batch_images")
    stats = to_stats_set(ref, count=count)
    stats.annotate(file=str(path))
    if ref.provenance.get("batch_images"):
        stats.shared["reference_images"] = str(path)  # arr_0, for features (KID/PRDC)
    return stats


def fid_from_stats(a, b, *, allow_mismatch: bool = False, names: tuple[str, str] = ("A", "B"),
                   space: str = "pool3") -> float:
    """Fréchet distance between the ``space`` statistics of ``a`` and ``b`` (StatsSet or FeatureStats),
    after checking that they are comparable: FID for pool3, sFID for spatial."""
    a, b = space_of(a, space), space_of(b, space)
    if not allow_mismatch:
        check_compatible(a.provenance, b.provenance, names[0], names[1])
    if a.dim != b.dim:
        raise GanevalError(f"{names[0]} has {a.dim}-d features and {names[1]} has {b.dim}-d: not comparable")
    return fid_of(a, b, names, space)
