"""Every metric from one feature pass: FID (with bootstrap interval and FID∞), sFID, KID,
precision/recall/density/coverage, Inception Score, FD_DINOv2 (``fd_dinov2``), CMMD (``cmmd``),
and FID/KID/PRDC on any feature space (``fid:clip_vitb32``, ``kid:dinov2``, ``prdc:clip``).

    import ganeval.evaluation as ev
    report = ev.evaluate("real/", "samples/", metrics=("fid", "kid", "prdc"), bootstrap=100)
    report["kid"]["mean"], report["prdc"]["precision"]

Each side is an image source (features computed once and kept), a StatsSet/FeatureStats, or a
stats file; KID and PRDC need the raw pool3 features of both sides (``ganeval stats`` keeps them
for sets of up to 50,000 images); sFID needs the ``spatial`` space.
A is the reference (real) side: PRDC measures B against A, FID∞ subsamples B against A's
full statistics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from ganeval import api
from ganeval.errors import GanevalError
from ganeval.extractors import registry
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.metrics.bootstrap import bootstrap_fid, fid_infinity
from ganeval.metrics.cmmd import ESTIMATORS, cmmd
from ganeval.metrics.inception_score import inception_score
from ganeval.metrics.kid import kid
from ganeval.metrics.prdc import prdc
from ganeval.stats import FeatureStats, StatsSet, as_stats_set, check_compatible

__all__ = ["METRICS", "METRIC_SPACES", "SPACE_METRICS", "evaluate", "evaluate_stats", "load_side", "parse_metrics",
           "inception_score_of", "spaces_for", "check_before_extraction", "metric_space", "metric_kind",
           "features_needed", "adopt_settings", "available_metrics"]

METRICS = ("fid", "sfid", "kid", "prdc", "is", "fd_dinov2", "cmmd")
METRIC_SPACES = {"fid": "pool3", "sfid": "spatial", "kid": "pool3", "prdc": "pool3", "is": "pool3",
                 "fd_dinov2": "dinov2", "cmmd": "clip"}
"""The feature space each named metric is computed on."""
SPACE_METRICS = ("fid", "kid", "prdc")
"""Metrics that take any feature space as ``NAME:SPACE`` (``kid:dinov2``, ``prdc:clip``, ``fid:clip_vitb32``)."""
_KINDS = {"fid": "fid", "sfid": "fid", "fd_dinov2": "fid", "kid": "kid", "prdc": "prdc", "is": "is", "cmmd": "cmmd"}
_NEED_FEATURES = {"kid", "prdc", "cmmd"}
DEFAULT_METRICS = ("fid", "sfid", "kid", "prdc")


def metric_space(metric: str) -> str:
    """The feature space of a (parsed) metric: ``fd_dinov2`` → dinov2, ``kid:clip`` → clip."""
    return METRIC_SPACES[metric] if metric in METRIC_SPACES else metric.split(":", 1)[1]


def metric_kind(metric: str) -> str:
    """What a (parsed) metric computes: fid (any Fréchet distance), kid, prdc, is or cmmd."""
    return _KINDS[metric] if metric in _KINDS else metric.split(":", 1)[0]


def features_needed(metrics: Sequence[str]) -> tuple[str, ...]:
    """The spaces whose raw features ``metrics`` need (KID, PRDC, CMMD)."""
    return tuple(dict.fromkeys(metric_space(m) for m in metrics if metric_kind(m) in _NEED_FEATURES))


def available_metrics(sides, names, metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[tuple[str, ...], list[str]]:
    """``metrics`` less those that loaded statistics sides cannot give: (kept, reasons for the rest).

    Image sources can give everything; a stats file without the spatial space cannot give sFID,
    one without raw pool3 features cannot give KID/PRDC (likewise for other spaces).
    """
    kept, reasons = [], []
    for metric in parse_metrics(metrics):
        space = metric_space(metric)
        for side, name in zip(sides, names):
            if not isinstance(side, (FeatureStats, StatsSet)):
                continue
            side = as_stats_set(side)
            if space not in side:
                reasons.append(f"{metric} left out: {name} has no {space} features "
                               f"(`ganeval stats SOURCE -o {name}` adds them)")
                break
            if metric_kind(metric) in _NEED_FEATURES and side[space].features is None:
                which = "" if space == "pool3" else f"{space} "
                reasons.append(f"{metric} left out: {name} holds no raw {which}features "
                               f"(`ganeval stats SOURCE -o {name} --save-features` keeps them)")
                break
        else:
            kept.append(metric)
    return tuple(kept), reasons


def spaces_for(metrics: Sequence[str]) -> tuple[str, ...]:
    """The feature spaces a run must compute for ``metrics``, in the order they first appear
    (CMMD alone needs no Inception features, so no Inception network runs for it)."""
    return tuple(dict.fromkeys(metric_space(m) for m in parse_metrics(metrics)))


def adopt_settings(sides, options: dict, spaces: Sequence[str] = registry.ENCODER_SPACES) -> dict:
    """``options`` with the preprocessing of the loaded statistics among ``sides`` where not given:
    the Inception ``mode``, and the ``convention`` of each encoder space in ``spaces`` they hold
    (the first side's). Returns ``options`` (changed in place)."""
    loaded = [as_stats_set(s) for s in sides if isinstance(s, (FeatureStats, StatsSet))]
    if options.get("mode") is None:
        modes = [s["pool3"].provenance.get("mode") for s in loaded if "pool3" in s and s["pool3"].provenance.get("mode")]
        options["mode"] = modes[0] if modes else DEFAULT_MODE
    conventions = registry.parse_conventions(options.get("convention"))
    for space in (s for s in spaces if s in registry.ENCODER_SPACES):
        network = registry.NETWORKS[registry.SPACE_NETWORK[space]]
        for side in loaded:
            mode = side.spaces[space].provenance.get("mode") if space in side else None
            if network.key not in conventions and mode in network.conventions:
                conventions[network.key] = mode
    options["convention"] = conventions or None
    return options


def check_before_extraction(sides, names, spaces, extractor, *, allow_mismatch: bool = False) -> None:
    """Before any image is read: every loaded statistics side must hold ``spaces`` and agree with
    ``extractor`` (mode, weights, precision, dimension) on each of them; one line naming the file."""
    for side, name in zip(sides, names):
        if not isinstance(side, (FeatureStats, StatsSet)):
            continue
        side = as_stats_set(side)
        for space in spaces:
            stats = side[space]  # names the file and the command that adds a missing space
            if not allow_mismatch and extractor is not None:
                check_compatible(stats.provenance, extractor.space_provenance(space), name,
                                 "the features these settings compute")


def parse_metrics(text: str | Sequence[str]) -> tuple[str, ...]:
    """'fid,kid:dinov2' or ['fid', 'kid:dinov2'] → ('fid', 'kid:dinov2'), checked, order kept, no repeats.

    ``NAME:SPACE`` for NAME in :data:`SPACE_METRICS` names the metric on another space; it is
    written in its short form where there is one (``fid:dinov2`` → ``fd_dinov2``, ``kid:pool3`` → ``kid``).
    """
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    parsed, unknown = [], []
    for name in names:
        if ":" in name:
            kind, space = (part.strip() for part in name.split(":", 1))
            if kind not in SPACE_METRICS or space not in registry.SPACE_NETWORK:
                unknown.append(name)
                continue
            short = [m for m in METRICS if _KINDS[m] == kind and METRIC_SPACES[m] == space]
            name = short[0] if short else f"{kind}:{space}"
        elif name not in METRICS:
            unknown.append(name)
            continue
        parsed.append(name)
    if unknown or not names:
        raise GanevalError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(METRICS)}, "
                           f"or {'/'.join(SPACE_METRICS)}:SPACE with SPACE one of {','.join(registry.SPACE_NETWORK)}")
    return tuple(dict.fromkeys(parsed))


def load_side(obj, *, need_features, progress: Callable[[int], None] | None = None, **options) -> StatsSet:
    """``obj`` as a StatsSet: images are computed with their pool3 features (and those of the
    spaces in ``need_features``) kept; a stats file is loaded with its features.
    ``need_features``: True (pool3), False, or space names: refuse statistics without those raw features."""
    need = ("pool3",) if need_features is True else tuple(need_features or ())
    name = str(obj) if isinstance(obj, (str, Path)) else type(obj).__name__
    if isinstance(obj, (FeatureStats, StatsSet)):
        stats = as_stats_set(obj)
        name = str(stats.provenance.get("file", name))
    elif api.is_statistics(obj):
        stats = api.load_statistics(obj, with_features=True)
    else:
        return api.compute_stats(obj, save_features=tuple(dict.fromkeys(("pool3", *need))), progress=progress,
                                 **options)
    images = stats.shared.get("reference_images")
    if "pool3" in need and stats.features is None and images:
        # An ADM reference batch: FID/sFID use its stored whole-dataset statistics, KID/PRDC the
        # features of its arr_0 images (as the ADM evaluator does).
        from ganeval.io.reference_files import read_adm_batch

        computed = api.compute_stats(read_adm_batch(images, images=True).images, save_features=True,
                                     progress=progress, **{**options, "features": ("pool3",)})
        stats["pool3"].attach_features(computed.features)
    for space in need:
        if stats[space].features is None:
            what = "KID/PRDC/IS/bootstrap/FID∞" if space == "pool3" else f"KID/PRDC/CMMD on {space}"
            which = "" if space == "pool3" else f"{space} "
            raise GanevalError(f"{name}: these statistics hold no raw {which}features, which {what} need; "
                               f"recompute them with `ganeval stats SOURCE -o {name} --save-features`, "
                               "or pass the images")
    return as_stats_set(stats)


def adm_suite_report(stats_a, stats_b, *, extractor=None, names: tuple[str, str] = ("A", "B"),
                     allow_mismatch: bool = False, device=None) -> dict:
    """The ADM evaluator's numbers (``ganeval.metrics.adm.adm_suite``) between reference A and samples B.

    FID/sFID from each side's statistics (an ADM reference batch's stored whole-dataset moments),
    precision/recall from the raw pool3 features (a reference batch's ``arr_0`` images), IS of B
    with the head's weight and no bias (omitted, with the reason, when the weights have no head).
    """
    from ganeval.metrics.adm import adm_suite

    sets = as_stats_set(stats_a), as_stats_set(stats_b)
    for space in ("pool3", "spatial"):
        for side in sets:
            side[space]
        if not allow_mismatch:
            check_compatible(sets[0][space].provenance, sets[1][space].provenance, names[0], names[1])
    for side, name in zip(sets, names):
        if side.features is None:
            raise GanevalError(f"{name}: the ADM suite's precision/recall needs raw pool3 features; recompute with "
                               f"`ganeval stats SOURCE -o {name} --save-features`, or pass the images")
    head = extractor.network.output.weight.detach() if extractor is not None and extractor.has_logits else None
    result = adm_suite(
        sets[0].features, sets[1].features,
        ref_pool3_stats=(sets[0].mu, sets[0].sigma), sample_pool3_stats=(sets[1].mu, sets[1].sigma),
        ref_spatial_stats=(sets[0]["spatial"].mu, sets[0]["spatial"].sigma),
        sample_spatial_stats=(sets[1]["spatial"].mu, sets[1]["spatial"].sigma),
        logits_weight=head, device=device)
    return {"a": names[0], "b": names[1], "count_a": sets[0].count, "count_b": sets[1].count,
            "mode": sets[0].provenance.get("mode"), **result.as_dict()}


def class_order(label: str):
    """Sort key: numeric labels by value (2 before 10), then the others by name."""
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def require_classes(side, name: str) -> None:
    """One line naming the file and the fix when ``side`` (loaded statistics) has no per-class statistics."""
    if isinstance(side, (FeatureStats, StatsSet)) and as_stats_set(side).classes is None:
        raise GanevalError(f"{name}: has no per-class statistics; recompute it with "
                           f"`ganeval stats SOURCE -o {name} --per-class` (SOURCE with one sub-folder per class)")


def per_class_fid(a, b, *, names: tuple[str, str] = ("A", "B"), allow_mismatch: bool = False) -> dict:
    """FID of every class between two per-class statistics, and intra-FID (their mean).

    Returns {"per_class": {label: fid}, "intra_fid": float}; classes present on one side only are
    an error listing them.
    """
    sets = as_stats_set(a), as_stats_set(b)
    for side, name in zip(sets, names):
        require_classes(side, name)
    only = [sorted(set(sets[i].classes) - set(sets[1 - i].classes), key=class_order) for i in (0, 1)]
    if only[0] or only[1]:
        parts = [f"{names[i]} only: {', '.join(only[i])}" for i in (0, 1) if only[i]]
        raise GanevalError("classes present on one side only (" + "; ".join(parts) + "); "
                           "per-class FID compares the same classes on both sides")
    per_class = {
        label: api.fid_from_stats(sets[0].classes[label], sets[1].classes[label], allow_mismatch=allow_mismatch,
                                  names=(f"{names[0]} class {label}", f"{names[1]} class {label}"))
        for label in sorted(sets[0].classes, key=class_order)
    }
    return {"per_class": per_class, "intra_fid": float(sum(per_class.values()) / len(per_class))}


def _inception_score(stats: FeatureStats, extractor, name: str, splits: int, allow_mismatch: bool) -> dict:
    extractor.require_logits()
    if not allow_mismatch:
        check_compatible(stats.provenance, extractor.provenance, name, f"weights {extractor.weights.path}")
    if stats.features is None:
        raise GanevalError(f"{name}: the Inception Score needs raw features or images; recompute with "
                           "`ganeval stats SOURCE -o FILE --save-features`")
    logits = extractor.logits_from_features(stats.features).double().cpu().numpy()
    result = inception_score(logits, splits)
    return {"mean": result.mean, "std": result.std, "splits": splits, "count": stats.count,
            "logits_head_sha256": extractor.logits_head_sha256}


def evaluate_stats(stats_a, stats_b, metrics: Sequence[str] = ("fid", "kid", "prdc"), *,
                   bootstrap: int = 0, confidence: float = 0.95, fid_inf: bool = False, fid_inf_points: int = 15,
                   kid_subsets: int = 100, kid_subset_size: int = 1000, k_pr: int = 3, k_dc: int = 5,
                   is_splits: int = 10, metric_seed: int = 0, cmmd_estimator: str = "biased",
                   allow_mismatch: bool = False, names: tuple[str, str] = ("A", "B"), extractor=None,
                   device=None) -> dict:
    """The metrics of two loaded statistics (StatsSet or FeatureStats; see :func:`evaluate`);
    returns a JSON-ready dict: one entry per metric under its parsed name (``fid``, ``fd_dinov2``,
    ``cmmd``, ``kid:dinov2``, ...)."""
    metrics = parse_metrics(metrics)
    if cmmd_estimator not in ESTIMATORS:
        raise GanevalError(f"unknown CMMD estimator {cmmd_estimator!r}; choose biased or unbiased")
    sets = as_stats_set(stats_a), as_stats_set(stats_b)
    for space in spaces_for(metrics):
        for side in sets:
            side[space]  # a missing space is one line naming the file and the fix
        if not allow_mismatch:
            check_compatible(sets[0][space].provenance, sets[1][space].provenance, names[0], names[1])
        if sets[0][space].dim != sets[1][space].dim:
            raise GanevalError(f"{names[0]} has {sets[0][space].dim}-d {space} features and {names[1]} has "
                               f"{sets[1][space].dim}-d")
    for metric in metrics:
        if metric_kind(metric) in _NEED_FEATURES:
            space = metric_space(metric)
            for side, name in zip(sets, names):
                if side[space].features is None:
                    raise GanevalError(f"{name}: {metric.upper()} needs raw {space} features; recompute with "
                                       f"`ganeval stats SOURCE -o {name} --save-features`, or pass the images")
    spaces = spaces_for(metrics)
    first_a, first_b = sets[0][spaces[0]], sets[1][spaces[0]]
    report: dict = {"a": names[0], "b": names[1], "count_a": first_a.count, "count_b": first_b.count}
    if "pool3" in spaces:
        stats_a, stats_b = sets[0]["pool3"], sets[1]["pool3"]
        feats = [s.features for s in (stats_a, stats_b)]
        report.update(mode=stats_a.provenance.get("mode"), weights_sha256=stats_a.provenance.get("weights_sha256"))
    others = [space for space in spaces if registry.SPACE_NETWORK[space] != "inception"]
    if others:  # which encoder, convention and weights made the other spaces' numbers
        report["spaces"] = {space: {key: sets[0][space].provenance.get(key)
                                    for key in ("extractor", "mode", "weights_sha256")} for space in others}
    if "fid" in metrics:
        report["fid"] = api.fid_from_stats(stats_a, stats_b, allow_mismatch=True, names=names)
        if bootstrap:
            sides = [f if f is not None else (s.mu, s.sigma) for f, s in zip(feats, (stats_a, stats_b))]
            result = bootstrap_fid(sides[0], sides[1], num_resamples=bootstrap, confidence=confidence,
                                   seed=metric_seed)
            report["fid_bootstrap"] = {"low": result.low, "high": result.high, "std": result.std,
                                       "bias": result.bias, "confidence": confidence, "resamples": bootstrap,
                                       "resampled": [n for f, n in zip(feats, names) if f is not None]}
        if fid_inf:
            if feats[1] is None:
                raise GanevalError(f"{names[1]}: FID∞ needs the raw features of B; recompute with --save-features")
            result = fid_infinity((stats_a.mu, stats_a.sigma), feats[1], num_points=fid_inf_points, seed=metric_seed)
            report["fid_inf"] = {"value": result.fid_inf, "slope": result.slope,
                                 "counts": result.counts.tolist(), "fids": result.fids.tolist()}
    elif bootstrap or fid_inf:
        raise GanevalError("--bootstrap and --fid-inf refine FID; include fid in --metrics")
    for metric in metrics:
        kind, space = metric_kind(metric), metric_space(metric)
        pair = [side[space].features for side in sets]
        if kind == "fid" and metric != "fid":  # sfid, fd_dinov2, fid:SPACE: the same Fréchet routine
            report[metric] = api.fid_from_stats(sets[0], sets[1], allow_mismatch=True, names=names, space=space)
        elif kind == "kid":
            result = kid(pair[0], pair[1], num_subsets=kid_subsets, subset_size=kid_subset_size, seed=metric_seed,
                         device=device)
            report[metric] = {"mean": result.mean, "std": result.std, "subsets": result.num_subsets,
                              "subset_size": result.subset_size}
        elif kind == "prdc":
            report[metric] = prdc(pair[0], pair[1], k_pr=k_pr, k_dc=k_dc, device=device)._asdict()
        elif kind == "cmmd":
            report["cmmd"] = cmmd(pair[0], pair[1], estimator=cmmd_estimator, device=device)
            report["cmmd_estimator"] = cmmd_estimator
    if "is" in metrics:
        if extractor is None:
            raise GanevalError("the Inception Score needs the Inception network with its logits head (weights)")
        report["is"] = {}
        for stats, name, key in ((stats_a, names[0], "a"), (stats_b, names[1], "b")):
            if stats.features is not None or key == "b":
                report["is"][key] = _inception_score(stats, extractor, name, is_splits, allow_mismatch)
    return report


def prepare_extraction(sides, names, metrics, options: dict, *, allow_mismatch: bool = False):
    """Before any image is read: adopt the loaded sides' preprocessing (:func:`adopt_settings`),
    set the spaces to compute, build the extractor when a side is images and check the loaded
    sides against it. Returns (extractor or None, the Inception extractor for IS or None)."""
    if not options.get("features"):
        options["features"] = spaces_for(metrics)
    adopt_settings(sides, options, registry.parse_spaces(options["features"]))
    if not allow_mismatch:  # conventions first: refused before any weights are loaded or downloaded
        conventions = registry.parse_conventions(options.get("convention"))
        for side, name in zip(sides, names):
            if not isinstance(side, (FeatureStats, StatsSet)):
                continue
            side = as_stats_set(side)
            for space in spaces_for(metrics):
                network = registry.NETWORKS[registry.SPACE_NETWORK[space]]
                if network.conventions and space in side:
                    wanted = {"mode": conventions.get(network.key, network.default_convention)}
                    check_compatible(side[space].provenance, wanted, name, "the features these settings compute")
    extractor = None
    if not all(isinstance(s, (FeatureStats, StatsSet)) for s in sides):
        extractor = api.extractor_for(options)
    check_before_extraction(sides, names, spaces_for(metrics), extractor, allow_mismatch=allow_mismatch)
    inception = None
    if "is" in metrics:  # fail on weights without a logits head before spending time on features
        inception = registry.inception_of(extractor) or api.inception_for(options)
        inception.require_logits()
    return extractor, inception


def evaluate(a, b, metrics: Sequence[str] = ("fid", "kid", "prdc"), *, bootstrap: int = 0, confidence: float = 0.95,
             fid_inf: bool = False, kid_subsets: int = 100, kid_subset_size: int = 1000, k_pr: int = 3,
             k_dc: int = 5, is_splits: int = 10, metric_seed: int = 0, cmmd_estimator: str = "biased",
             allow_mismatch: bool = False, **options) -> dict:
    """Compute the features of ``a`` and ``b`` once and report every requested metric.

    ``a``/``b``: image sources, FeatureStats or stats files (with ``--save-features`` for KID,
    PRDC, CMMD, IS, bootstrap, FID∞). ``metrics``: names of :data:`METRICS` (``fd_dinov2``,
    ``cmmd`` use the DINOv2 / CLIP encoders) or ``kid:SPACE``-style (:func:`parse_metrics`).
    ``options`` go to :func:`ganeval.compute_stats` (mode, weights, convention, device, batch_size,
    ...); a stats file's mode and conventions are used when not given.
    Returns a dict: ``fid``, ``fid_bootstrap``, ``fid_inf``, ``kid``, ``prdc``, ``is``, ``fd_dinov2``,
    ``cmmd``, counts, ``seconds``.
    """
    start = time.perf_counter()
    metrics = parse_metrics(metrics)
    names = tuple(str(x) if isinstance(x, (str, Path)) else type(x).__name__ for x in (a, b))
    sides = [api.load_statistics(x, with_features=True) if api.is_statistics(x) else x for x in (a, b)]
    _, inception = prepare_extraction(sides, names, metrics, options, allow_mismatch=allow_mismatch)
    need = features_needed(metrics)
    stats = [load_side(side, need_features=need, **options) for side in sides]
    report = evaluate_stats(stats[0], stats[1], metrics, bootstrap=bootstrap, confidence=confidence,
                            fid_inf=fid_inf, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k_pr=k_pr,
                            k_dc=k_dc, is_splits=is_splits, metric_seed=metric_seed, cmmd_estimator=cmmd_estimator,
                            allow_mismatch=allow_mismatch, names=names, extractor=inception,
                            device=options.get("device"))
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def inception_score_of(source, *, splits: int = 10, allow_mismatch: bool = False, **options) -> dict:
    """Inception Score of an image source or a stats file with features: {"mean", "std", "splits", "count", ...}.

    Needs weights with the logits head (``weights=`` pytorch-fid's or NVIDIA's file).
    """
    if options.get("mode") is None:
        options["mode"] = DEFAULT_MODE
        if api.is_statistics(source):
            options["mode"] = api.load_statistics(source).provenance.get("mode", DEFAULT_MODE)
    extractor = api.inception_for(options)
    extractor.require_logits()  # before spending time on features
    stats = load_side(source, need_features=True, **options)
    name = str(source) if isinstance(source, (str, Path)) else type(source).__name__
    return _inception_score(stats, extractor, name, splits, allow_mismatch)
