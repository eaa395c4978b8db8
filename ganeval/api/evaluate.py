"""``evaluate``: every metric between two sides from one feature pass, as one :class:`Evaluation`.

    import ganeval
    result = ganeval.evaluate("real/", "samples/", metrics="fid,kid,prdc", bootstrap=100)
    result["kid"]["mean"], result["prdc"]["precision"], result.to_dict()

Each side is an image source (features computed once and kept), statistics (StatsSet or
FeatureStats) or a stats file. The metrics come from ``ganeval.metrics.registry``; the command
line (``ganeval eval/fid/kid/prdc/sfid``), ``FIDCallback`` and ``ganeval report`` all call
:func:`evaluate` and only render its result. A is the reference (real) side.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
import warnings as _warnings
from pathlib import Path
from typing import Callable, Sequence

import ganeval.api.compute as api
from ganeval.core.options import ExtractorOptions, MetricOptions, RunOptions, options_from_keywords
from ganeval.core.result import Evaluation, Side
from ganeval.core.errors import GanevalError
from ganeval.extractors import registry as networks
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.core.guards import fid_size_warning, kid_subset_warning
from ganeval.metrics import registry as metrics_registry
from ganeval.metrics.registry import (METRICS, class_order, features_needed, inception_score_of_stats, metric_of,
                                      metric_space, parse_metrics, spaces_for)
from ganeval.core.stats import Statistics, StatsSet, check_compatible

__all__ = ["evaluate", "evaluate_stats", "inception_score_of", "load_side", "available_metrics", "adopt_settings",
           "prepare_extraction", "check_before_extraction", "parse_metrics", "spaces_for", "features_needed",
           "per_class_fid", "require_classes", "class_order", "adm_suite_report", "DEFAULT_METRICS", "side_name", "fid"]

DEFAULT_METRICS = tuple(m.name for m in METRICS.values() if m.default)
"""``ganeval eval``'s default set (fid, sfid, kid, prdc), narrowed to what loaded statistics can give."""


def side_name(obj) -> str:
    """How a side is named in messages and records: the path as given, else the file or source that
    statistics record (not the class name "StatsSet"), else the object's type."""
    if isinstance(obj, (str, Path)):
        return str(obj)
    provenance = obj.provenance if _is_loaded(obj) else {}
    return str(provenance.get("file") or provenance.get("source") or type(obj).__name__)


def _is_loaded(side) -> bool:
    return isinstance(side, Statistics)


def available_metrics(sides, names, metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[tuple[str, ...], list[str]]:
    """``metrics`` less those that loaded statistics sides cannot give: (kept, reasons for the rest).

    Image sources can give everything; a stats file without the spatial space cannot give sFID,
    one without raw pool3 features cannot give KID/PRDC (likewise for other spaces).
    """
    kept, reasons = [], []
    for metric in parse_metrics(metrics):
        space = metric_space(metric)
        for side, name, key in zip(sides, names, "ab"):
            if not _is_loaded(side):
                continue
            if space not in side:
                reasons.append(f"{metric} left out: {name} has no {space} features "
                               f"(`ganeval stats SOURCE -o {name}` adds them)")
                break
            if key in metric_of(metric).features and side[space].features is None:
                which = "" if space == "pool3" else f"{space} "
                reasons.append(f"{metric} left out: {name} holds no raw {which}features "
                               f"(`ganeval stats SOURCE -o {name} --save-features` keeps them)")
                break
        else:
            kept.append(metric)
    return tuple(kept), reasons


def adopt_settings(sides, options: ExtractorOptions, spaces: Sequence[str] | None = None) -> ExtractorOptions:
    """``options`` with the preprocessing of the loaded statistics among ``sides`` where not given:
    the Inception ``mode`` (else tf1), and the ``convention`` of each encoder space in ``spaces`` they
    hold (the first side's)."""
    loaded = [s for s in sides if _is_loaded(s)]
    mode = options.mode
    if mode is None:
        modes = [s["pool3"].provenance.get("mode") for s in loaded if "pool3" in s and s["pool3"].provenance.get("mode")]
        mode = modes[0] if modes else DEFAULT_MODE
    conventions = options.conventions
    encoders = networks.encoder_spaces()
    for space in (s for s in (encoders if spaces is None else spaces) if s in encoders):
        network = networks.NETWORKS[networks.SPACE_NETWORK[space]]
        for side in loaded:
            convention = side.spaces[space].provenance.get("mode") if space in side else None
            if network.key not in conventions and convention in network.conventions:
                conventions[network.key] = convention
    return options.with_(mode=mode, convention=tuple(sorted(conventions.items())))


def check_before_extraction(sides, names, spaces, extractor, *, allow_mismatch: bool = False) -> None:
    """Before any image is read: every loaded statistics side must hold ``spaces`` and agree with
    ``extractor`` (mode, weights, precision, dimension) on each of them; one line naming the file."""
    for side, name in zip(sides, names):
        if not _is_loaded(side):
            continue
        for space in spaces:
            stats = side[space]  # names the file and the command that adds a missing space
            if not allow_mismatch and extractor is not None:
                check_compatible(stats.provenance, extractor.space_provenance(space), name,
                                 "the features these settings compute")


def prepare_extraction(sides, names, metrics, options: ExtractorOptions, *, allow_mismatch: bool = False):
    """Before any image is read: adopt the loaded sides' preprocessing (:func:`adopt_settings`), set
    the spaces to compute, check conventions and classes, build the extractor when a side is images
    and check the loaded sides against it.

    Returns (the extractor options used, the extractor or None, the Inception extractor for IS or None).
    """
    if not options.features:
        options = options.with_(features=spaces_for(metrics))
    options = adopt_settings(sides, options, options.features)
    needs_classes = any(metric_of(m).needs_classes for m in metrics)
    for side, name in zip(sides, names):
        if not _is_loaded(side):
            continue
        if needs_classes:
            require_classes(side, name)
        if allow_mismatch:
            continue
        for space in spaces_for(metrics):  # conventions first: refused before any weights are loaded
            network = networks.NETWORKS[networks.SPACE_NETWORK[space]]
            if network.conventions and space in side:
                wanted = {"mode": options.conventions.get(network.key, network.default_convention)}
                check_compatible(side[space].provenance, wanted, name, "the features these settings compute")
    extractor = None
    if not all(_is_loaded(s) for s in sides):
        extractor = api.extractor_for(options)
    check_before_extraction(sides, names, spaces_for(metrics), extractor, allow_mismatch=allow_mismatch)
    inception = None
    if any(metric_of(m).needs_logits for m in metrics):  # refused before any time is spent on features
        inception = networks.inception_of(extractor) or api.inception_for(options)
        inception.require_logits()
    return options, extractor, inception


def load_side(obj, *, need_features, progress=None, extractor_options: ExtractorOptions | None = None,
              run_options: RunOptions | None = None, name: str | None = None, **keywords) -> StatsSet:
    """``obj`` as a StatsSet: images are computed with their pool3 features (and those of the spaces
    in ``need_features``) kept; a stats file is loaded with its features; statistics are used as
    they are. ``need_features``: True (pool3), False, or space names whose raw features must be there."""
    need = ("pool3",) if need_features is True else tuple(need_features or ())
    name = name or side_name(obj)
    if _is_loaded(obj):
        stats = obj.as_set()
        name = str(stats.provenance.get("file", name))
    elif api.is_statistics(obj):
        stats = api.load_statistics(obj, with_features=True)
    else:
        save = tuple(dict.fromkeys(("pool3", *need)))
        return api.compute_stats(obj, progress=progress, extractor_options=extractor_options,
                                 run_options=_with(run_options, save_features=save), **keywords)
    images = stats.shared.get("reference_images")
    if "pool3" in need and stats.features is None and images:
        # An ADM reference batch: FID/sFID use its stored whole-dataset statistics, KID/PRDC the
        # features of its arr_0 images (as the ADM evaluator does).
        from ganeval.io.reference_files import read_adm_batch

        ext = (extractor_options or ExtractorOptions()).with_(features=("pool3",))
        computed = api.compute_stats(read_adm_batch(images, images=True).images, progress=progress,
                                     extractor_options=ext, run_options=_with(run_options, save_features=True),
                                     **keywords)
        stats["pool3"].attach_features(computed.features)
    for space in need:
        if stats[space].features is None:
            what = "KID/PRDC/IS/bootstrap/FID∞" if space == "pool3" else f"KID/PRDC/CMMD on {space}"
            raise metrics_registry.missing_features_error(name, space, what)
    return stats


def _with(run_options: RunOptions | None, **changes) -> RunOptions:
    import dataclasses

    return dataclasses.replace(run_options or RunOptions(), **changes)


def require_classes(side, name: str) -> None:
    """One line naming the file and the fix when ``side`` (loaded statistics) has no per-class statistics."""
    if _is_loaded(side) and side.classes is None:
        raise GanevalError(f"{name}: has no per-class statistics; recompute it with "
                           f"`ganeval stats SOURCE -o {name} --per-class` (SOURCE with one sub-folder per class)")


def _resolve_metrics(metrics, options: MetricOptions) -> tuple[str, ...]:
    """Parsed names plus the refinements the options turn on (fid_bootstrap, fid_inf) right after fid."""
    metrics = list(parse_metrics(metrics, refinements=False))
    refinements = [m.name for m in METRICS.values() if m.option and getattr(options, m.option)]
    if refinements:
        families = {metric_of(m).family for m in metrics}
        if "fid" not in families and "fid" not in metrics:
            raise GanevalError("--bootstrap and --fid-inf refine FID; include fid in --metrics")
        at = metrics.index("fid") + 1 if "fid" in metrics else len(metrics)
        metrics[at:at] = refinements
    return tuple(metrics)


def _side(stats: StatsSet, name: str, spaces) -> Side:
    first = stats[spaces[0]]
    return Side(name, first.count, {space: dict(stats[space].provenance) for space in spaces})


def _result_warnings(values: dict, sides: tuple[Side, Side], sets, options: MetricOptions) -> list[str]:
    counts = {sides[0].name: sides[0].count, sides[1].name: sides[1].count}
    if sides[0].name == sides[1].name:
        counts = {f"{sides[0].name} (A)": sides[0].count, f"{sides[1].name} (B)": sides[1].count}
    found = [fid_size_warning(counts) if "fid" in values else None,
             kid_subset_warning(options.kid_subset_size, counts) if "kid" in values else None]
    precisions = sorted({p.get("precision", "fp32") for side in sides for p in side.provenance.values()} - {"fp32"})
    if precisions:
        found.append(f"features computed at {', '.join(precisions)}, a preview: not comparable with fp32 numbers "
                     "(docs/precision.md gives the measured difference)")
    return [w for w in found if w]


def _skipped_notes(sets, names) -> list[str]:
    notes = []
    for stats, name in zip(sets, names):
        skipped = stats.provenance.get("skipped_files") or []
        if skipped:
            shown = ", ".join(skipped[:5]) + (f", and {len(skipped) - 5} more" if len(skipped) > 5 else "")
            notes.append(f"{name}: skipped {len(skipped)} undecodable image(s): {shown}")
    return notes


def evaluate(a, b, metrics: str | Sequence[str] | None = None, *, suite: str | None = None,
             extractor_options: ExtractorOptions | None = None, run_options: RunOptions | None = None,
             metric_options: MetricOptions | None = None, names: tuple[str, str] | None = None,
             progress_for: Callable[[str], object] | None = None, progress=None, **keywords) -> Evaluation:
    """Compute the features of ``a`` and ``b`` once and every requested metric: an :class:`Evaluation`.

    ``a``/``b``: image sources, statistics (StatsSet/FeatureStats) or stats files (raw features
    kept for KID, PRDC, CMMD, IS, bootstrap, FID∞). ``metrics``: registered names
    (``ganeval.metrics.registry``: fid, sfid, kid, prdc, is, fd_dinov2, cmmd, intra_fid, ...) or
    ``NAME:SPACE``; None: fid, sfid, kid, prdc less what loaded statistics cannot give (a note says
    why). ``suite="adm"``: the ADM evaluator's own numbers (docs/adm-suite.md).
    Options as objects, or as keywords (``mode="clean"``, ``batch_size=100``, ``kid_subset_size=500``,
    ``bootstrap=100``, ``metric_seed=1``: ``ganeval.core.options``); a stats file's mode and
    conventions are used when not given. ``progress``: as for :func:`ganeval.compute_stats`, for every
    side computed; ``progress_for(label)``: a progress object per side (the command line's bars).
    """
    start = time.perf_counter()
    given = options_from_keywords(keywords, base={ExtractorOptions: extractor_options or ExtractorOptions(),
                                                  RunOptions: run_options or RunOptions(),
                                                  MetricOptions: metric_options or MetricOptions()})
    ext, run, options = given[ExtractorOptions], given[RunOptions], given[MetricOptions]
    names = tuple(names) if names is not None else (side_name(a), side_name(b))
    sides = [api.load_statistics(x, with_features=True) if api.is_statistics(x) else x for x in (a, b)]
    notes: list[str] = []
    if suite is not None:
        if suite != "adm":
            raise GanevalError(f"unknown suite {suite!r}; the one suite is adm")
        if metrics is not None:
            raise GanevalError("--suite adm reports its own metrics (IS, FID, sFID, precision, recall); drop --metrics")
        metrics = ("fid", "sfid", "prdc")  # what it needs: both spaces and the raw pool3 features
    elif metrics is None:
        metrics, notes = available_metrics(sides, names, DEFAULT_METRICS)
    metrics = _resolve_metrics(metrics, options)
    loading = None
    if progress_for is not None and not all(_is_loaded(side) for side in sides):
        loading = progress_for("networks")  # shown only while a network is really built (once per process)
    try:
        with loading.phase("loading...", only_when_loading=True) if loading is not None else nullcontext():
            ext, extractor, inception = prepare_extraction(sides, names, metrics, ext,
                                                           allow_mismatch=options.allow_mismatch)
    finally:
        if loading is not None:
            loading.close()
    head = None
    if suite == "adm":  # the IS head: the built network's, else read from the weights alone (no network)
        inception = inception or (networks.inception_of(extractor) if extractor is not None else None)
        head = api.logits_head_of(ext) if inception is None else None
    if any(metric_of(m).needs_classes for m in metrics):
        run = _with(run, per_class=True)
    need = tuple(dict.fromkeys(features_needed(metrics, "a") + features_needed(metrics, "b")))
    sets, timings = [], {}
    for side, name in zip(sides, names):
        side_start = time.perf_counter()
        bar = progress_for(f"features {name}") if progress_for is not None and not _is_loaded(side) else None
        try:
            sets.append(load_side(side, need_features=need, progress=bar if bar is not None else progress,
                                  extractor_options=ext, run_options=run, name=name))
        finally:
            if bar is not None:
                bar.close()
        timings["a" if len(sets) == 1 else "b"] = round(time.perf_counter() - side_start, 3)
    notes += _skipped_notes(sets, names)
    metric_start = time.perf_counter()
    if suite == "adm":
        values = adm_suite_report(sets[0], sets[1], extractor=inception, logits_weight=head, names=names,
                                  allow_mismatch=options.allow_mismatch, device=ext.device)
        notes += list(values.get("omitted", {}).values())
        spaces = ("pool3", "spatial")
    else:
        values = evaluate_stats(sets[0], sets[1], metrics, metric_options=options, names=names, inception=inception,
                                device=ext.device)
        spaces = spaces_for(metrics)
    timings["metrics"] = round(time.perf_counter() - metric_start, 3)
    timings["total"] = round(time.perf_counter() - start, 3)
    described = (_side(sets[0], names[0], spaces), _side(sets[1], names[1], spaces))
    return Evaluation(values, described, _result_warnings(values, described, sets, options), notes, timings, suite=suite,
                      statistics=tuple(sets))


def evaluate_stats(stats_a, stats_b, metrics: Sequence[str], *, metric_options: MetricOptions | None = None,
                   names: tuple[str, str] = ("A", "B"), inception=None, device=None, **keywords) -> dict:
    """{metric: value} of two loaded statistics (StatsSet or FeatureStats), after checking that they
    hold what the metrics need and are comparable (:func:`ganeval.metrics.registry.check_sides`)."""
    options = options_from_keywords(keywords, allowed=(MetricOptions,),
                                    base={MetricOptions: metric_options or MetricOptions()})[MetricOptions]
    sets = stats_a.as_set(), stats_b.as_set()
    metrics = parse_metrics(metrics)
    metrics_registry.check_sides(sets[0], sets[1], metrics, names, allow_mismatch=options.allow_mismatch)
    return metrics_registry.compute(sets[0], sets[1], metrics, options, names=names, device=device,
                                    inception=inception)


def per_class_fid(a, b, *, names: tuple[str, str] = ("A", "B"), allow_mismatch: bool = False) -> dict:
    """FID of every class between two per-class statistics, and intra-FID (their mean):
    {"per_class": {label: fid}, "intra_fid": float}."""
    return evaluate_stats(a, b, ("intra_fid",), names=names, allow_mismatch=allow_mismatch)


def adm_suite_report(stats_a, stats_b, *, extractor=None, logits_weight=None, names: tuple[str, str] = ("A", "B"),
                     allow_mismatch: bool = False, device=None) -> dict:
    """The ADM evaluator's numbers (``ganeval.metrics.adm.adm_suite``) between reference A and samples B.

    FID/sFID from each side's statistics (an ADM reference batch's stored whole-dataset moments),
    precision/recall from the raw pool3 features (a reference batch's ``arr_0`` images), IS of B
    with the head's weight and no bias (omitted, with the reason, when the weights have no head):
    ``logits_weight`` [1008, 2048], or the head of ``extractor`` (an Inception extractor).
    """
    from ganeval.metrics.adm import adm_suite

    sets = stats_a.as_set(), stats_b.as_set()
    for space in ("pool3", "spatial"):
        for side in sets:
            side[space]
        if not allow_mismatch:
            check_compatible(sets[0][space].provenance, sets[1][space].provenance, names[0], names[1])
    for side, name in zip(sets, names):
        if side.features is None:
            raise metrics_registry.missing_features_error(name, "pool3", "the ADM suite's precision/recall")
    head = logits_weight
    if head is None and extractor is not None and extractor.has_logits:
        head = extractor.network.output.weight.detach()
    result = adm_suite(
        sets[0].features, sets[1].features,
        ref_pool3_stats=(sets[0].mu, sets[0].sigma), sample_pool3_stats=(sets[1].mu, sets[1].sigma),
        ref_spatial_stats=(sets[0]["spatial"].mu, sets[0]["spatial"].sigma),
        sample_spatial_stats=(sets[1]["spatial"].mu, sets[1]["spatial"].sigma),
        logits_weight=head, device=device)
    return result.as_dict()


def inception_score_of(source, *, splits: int = 10, allow_mismatch: bool = False, progress=None,
                       extractor_options: ExtractorOptions | None = None, run_options: RunOptions | None = None,
                       **keywords) -> dict:
    """Inception Score of an image source or a stats file with features: {"mean", "std", "splits", "count", ...}.

    Needs weights with the logits head (``weights=`` pytorch-fid's or NVIDIA's file).
    """
    given = options_from_keywords(keywords, allowed=(ExtractorOptions, RunOptions),
                                  base={ExtractorOptions: extractor_options or ExtractorOptions(),
                                        RunOptions: run_options or RunOptions()})
    ext, run = given[ExtractorOptions], given[RunOptions]
    name = side_name(source)
    loaded = [api.load_statistics(source)] if api.is_statistics(source) else []
    ext = adopt_settings(loaded, ext, ())
    extractor = api.inception_for(ext)
    extractor.require_logits()  # before spending time on features
    stats = load_side(source, need_features=True, progress=progress,
                      extractor_options=ext.with_(features=("pool3",)), run_options=run, name=name)
    return inception_score_of_stats(stats["pool3"], extractor, name, splits, allow_mismatch)


def fid(a, b, **keywords) -> float:
    """FID between ``a`` and ``b``: each a stats file, statistics or any image source.

    Image sources are computed with the keyword options (mode, weights, device, batch_size, ...);
    when the other side is already statistics, its mode is used unless ``mode`` is given. The
    result's warnings (e.g. few images) are issued as Python warnings. ``evaluate(a, b, "fid")``
    gives the whole result.
    """
    result = evaluate(a, b, ("fid",), **keywords)
    for warning in result.warnings:
        _warnings.warn(warning, stacklevel=2)
    return result.value("fid")
