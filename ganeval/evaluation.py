"""Every metric from one feature pass: FID (with bootstrap interval and FID∞), sFID, KID,
precision/recall/density/coverage and Inception Score.

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
from ganeval.extractors.preprocess import DEFAULT_MODE
from ganeval.metrics.bootstrap import bootstrap_fid, fid_infinity
from ganeval.metrics.inception_score import inception_score
from ganeval.metrics.kid import kid
from ganeval.metrics.prdc import prdc
from ganeval.stats import FeatureStats, StatsSet, as_stats_set, check_compatible

__all__ = ["METRICS", "METRIC_SPACES", "evaluate", "evaluate_stats", "load_side", "parse_metrics",
           "inception_score_of", "spaces_for", "check_before_extraction"]

METRICS = ("fid", "sfid", "kid", "prdc", "is")
METRIC_SPACES = {"fid": "pool3", "sfid": "spatial", "kid": "pool3", "prdc": "pool3", "is": "pool3"}
"""The feature space each metric is computed on."""
_NEED_FEATURES = {"kid", "prdc"}
DEFAULT_METRICS = ("fid", "sfid", "kid", "prdc")


def available_metrics(sides, names, metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[tuple[str, ...], list[str]]:
    """``metrics`` less those that loaded statistics sides cannot give: (kept, reasons for the rest).

    Image sources can give everything; a stats file without the spatial space cannot give sFID,
    one without raw pool3 features cannot give KID/PRDC.
    """
    kept, reasons = [], []
    for metric in metrics:
        for side, name in zip(sides, names):
            if not isinstance(side, (FeatureStats, StatsSet)):
                continue
            side = as_stats_set(side)
            if METRIC_SPACES[metric] not in side:
                reasons.append(f"{metric} left out: {name} has no {METRIC_SPACES[metric]} features "
                               f"(`ganeval stats SOURCE -o {name}` adds them)")
                break
            if metric in _NEED_FEATURES and side.features is None:
                reasons.append(f"{metric} left out: {name} holds no raw features "
                               f"(`ganeval stats SOURCE -o {name} --save-features` keeps them)")
                break
        else:
            kept.append(metric)
    return tuple(kept), reasons


def spaces_for(metrics: Sequence[str]) -> tuple[str, ...]:
    """The feature spaces a run must compute for ``metrics`` (pool3 always: it carries the mode checks)."""
    return tuple(dict.fromkeys(["pool3", *(METRIC_SPACES[m] for m in metrics)]))


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
    """'fid,kid' or ['fid', 'kid'] → ('fid', 'kid'), checked against METRICS, order kept, no repeats."""
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise GanevalError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def load_side(obj, *, need_features: bool, progress: Callable[[int], None] | None = None, **options) -> StatsSet:
    """``obj`` as a StatsSet: images are computed with their pool3 features kept; a stats file is
    loaded with its features. ``need_features``: refuse statistics without raw pool3 features."""
    name = str(obj) if isinstance(obj, (str, Path)) else type(obj).__name__
    if isinstance(obj, (FeatureStats, StatsSet)):
        stats = as_stats_set(obj)
        name = str(stats.provenance.get("file", name))
    elif api.is_statistics(obj):
        stats = api.load_statistics(obj, with_features=True)
    else:
        return api.compute_stats(obj, save_features=True, progress=progress, **options)
    images = stats.shared.get("reference_images")
    if need_features and stats.features is None and images:
        # An ADM reference batch: FID/sFID use its stored whole-dataset statistics, KID/PRDC the
        # features of its arr_0 images (as the ADM evaluator does).
        from ganeval.io.reference_files import read_adm_batch

        computed = api.compute_stats(read_adm_batch(images, images=True).images, save_features=True,
                                     progress=progress, **{**options, "features": ("pool3",)})
        stats["pool3"].attach_features(computed.features)
    if need_features and stats.features is None:
        raise GanevalError(f"{name}: these statistics hold no raw features, which KID/PRDC/IS/bootstrap/FID∞ need; "
                           f"recompute them with `ganeval stats SOURCE -o {name} --save-features`, or pass the images")
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
                   is_splits: int = 10, metric_seed: int = 0, allow_mismatch: bool = False,
                   names: tuple[str, str] = ("A", "B"), extractor=None, device=None) -> dict:
    """The metrics of two loaded statistics (StatsSet or FeatureStats; see :func:`evaluate`);
    returns a JSON-ready dict."""
    metrics = parse_metrics(metrics)
    sets = as_stats_set(stats_a), as_stats_set(stats_b)
    for space in spaces_for(metrics):
        for side in sets:
            side[space]  # a missing space is one line naming the file and the fix
        if not allow_mismatch:
            check_compatible(sets[0][space].provenance, sets[1][space].provenance, names[0], names[1])
    stats_a, stats_b = sets[0]["pool3"], sets[1]["pool3"]
    if stats_a.dim != stats_b.dim:
        raise GanevalError(f"{names[0]} has {stats_a.dim}-d features and {names[1]} has {stats_b.dim}-d")
    feats = [s.features for s in (stats_a, stats_b)]
    for metric in metrics:
        if metric in _NEED_FEATURES:
            for f, name in zip(feats, names):
                if f is None:
                    raise GanevalError(f"{name}: {metric.upper()} needs raw features; recompute with "
                                       f"`ganeval stats SOURCE -o {name} --save-features`, or pass the images")
    report: dict = {"a": names[0], "b": names[1], "count_a": stats_a.count, "count_b": stats_b.count,
                    "mode": stats_a.provenance.get("mode"), "weights_sha256": stats_a.provenance.get("weights_sha256")}
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
    if "sfid" in metrics:
        report["sfid"] = api.fid_from_stats(sets[0], sets[1], allow_mismatch=True, names=names, space="spatial")
    if "kid" in metrics:
        result = kid(feats[0], feats[1], num_subsets=kid_subsets, subset_size=kid_subset_size, seed=metric_seed,
                     device=device)
        report["kid"] = {"mean": result.mean, "std": result.std, "subsets": result.num_subsets,
                         "subset_size": result.subset_size}
    if "prdc" in metrics:
        result = prdc(feats[0], feats[1], k_pr=k_pr, k_dc=k_dc, device=device)
        report["prdc"] = result._asdict()
    if "is" in metrics:
        if extractor is None:
            raise GanevalError("the Inception Score needs the Inception network with its logits head (weights)")
        report["is"] = {}
        for stats, name, key in ((stats_a, names[0], "a"), (stats_b, names[1], "b")):
            if stats.features is not None or key == "b":
                report["is"][key] = _inception_score(stats, extractor, name, is_splits, allow_mismatch)
    return report


def evaluate(a, b, metrics: Sequence[str] = ("fid", "kid", "prdc"), *, bootstrap: int = 0, confidence: float = 0.95,
             fid_inf: bool = False, kid_subsets: int = 100, kid_subset_size: int = 1000, k_pr: int = 3,
             k_dc: int = 5, is_splits: int = 10, metric_seed: int = 0, allow_mismatch: bool = False,
             **options) -> dict:
    """Compute the features of ``a`` and ``b`` once and report every requested metric.

    ``a``/``b``: image sources, FeatureStats or stats files (with ``--save-features`` for KID,
    PRDC, IS, bootstrap, FID∞). ``options`` go to :func:`ganeval.compute_stats` (mode,
    weights, device, batch_size, ...); a stats file's mode is used when ``mode`` is not given.
    Returns a dict: ``fid``, ``fid_bootstrap``, ``fid_inf``, ``kid``, ``prdc``, ``is``, counts, ``seconds``.
    """
    start = time.perf_counter()
    metrics = parse_metrics(metrics)
    names = tuple(str(x) if isinstance(x, (str, Path)) else type(x).__name__ for x in (a, b))
    sides = [api.load_statistics(x, with_features=True) if api.is_statistics(x) else x for x in (a, b)]
    known_modes = [s.provenance["mode"] for s in sides if isinstance(s, (FeatureStats, StatsSet))
                   and "mode" in s.provenance]
    if options.get("mode") is None:
        options["mode"] = known_modes[0] if known_modes else DEFAULT_MODE
    options.setdefault("features", spaces_for(metrics))
    need = bool(_NEED_FEATURES & set(metrics))
    extractor = None
    if "is" in metrics or not all(isinstance(s, (FeatureStats, StatsSet)) for s in sides):
        extractor = api.inception_for(options)  # built now so that mismatches fail before images are read
    check_before_extraction(sides, names, spaces_for(metrics), extractor, allow_mismatch=allow_mismatch)
    if "is" in metrics:  # fail on weights without a logits head before spending time on features
        extractor.require_logits()
    stats = [load_side(side, need_features=need, **options) for side in sides]
    report = evaluate_stats(stats[0], stats[1], metrics, bootstrap=bootstrap, confidence=confidence,
                            fid_inf=fid_inf, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k_pr=k_pr,
                            k_dc=k_dc, is_splits=is_splits, metric_seed=metric_seed,
                            allow_mismatch=allow_mismatch, names=names, extractor=extractor,
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
