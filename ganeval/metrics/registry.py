"""The metric registry: every metric ganeval computes is one pure function plus one entry here.

An entry (:class:`Metric`) says which feature space the metric reads by default, whether it
takes another one as ``NAME:SPACE`` (``kid:dinov2``), whether it needs the raw features of a
side or only its mean and covariance, the function that computes it and how the command line
writes it. The orchestration (``ganeval.api.compute``) loads or computes both sides, checks them with
:func:`check_sides` and calls :func:`compute`; the command line, the callback and the report
render the values with :func:`render_lines`.

Adding a metric (inside or outside the package)::

    from ganeval.metrics.registry import register_metric

    @register_metric("mean_shift", space="pool3", any_space=True)
    def mean_shift(data):                     # data: MetricInput
        return float(np.linalg.norm(data.a.mu - data.b.mu))

``ganeval.register_metric`` is the same function (docs/extending.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ganeval.core.errors import GanevalError
from ganeval.core.guards import kid_whole_sides

__all__ = ["Metric", "MetricInput", "Entries", "METRICS", "register_metric", "unregister_metric", "parse_metrics",
           "metric_space", "metric_of", "spaces_for", "features_needed", "check_sides", "compute", "render_lines",
           "fid_of"]


class Entries(dict):
    """What a metric function returns when it gives several entries of the result record rather
    than one value under its own name (e.g. per-class FIDs and intra-FID)."""


@dataclass(frozen=True)
class MetricInput:
    """What a metric function receives: ``a`` (reference) and ``b`` statistics of the metric's space
    (FeatureStats: ``mu`` float64 [d], ``sigma`` float64 [d, d], ``features`` float32 [N, d] or None,
    ``count``, ``provenance``), the whole sets ``set_a``/``set_b`` (StatsSet, for per-class data),
    ``options`` (MetricOptions), ``names`` of the sides, the torch ``device`` for heavy math, and
    the Inception extractor with its logits head (``inception``) when the metric asked for it."""

    a: Any
    b: Any
    set_a: Any
    set_b: Any
    options: Any
    names: tuple[str, str]
    device: Any = None
    inception: Any = None
    space: str = "pool3"


@dataclass(frozen=True)
class Metric:
    """One metric: ``name`` (what ``--metrics`` takes and the result key), ``compute`` (MetricInput →
    float, a JSON-ready dict, or :class:`Entries`), ``space`` it reads by default, ``any_space``
    (accepts ``NAME:SPACE``), ``features``: the sides whose raw features it needs ("ab", "b", or "" for
    mean and covariance only), ``needs_logits`` (the Inception head), ``needs_classes`` (per-class
    statistics), ``render`` (name, value, record → text lines; None: one line ``name value``),
    ``kind``: the metric it is a named variant of (``sfid`` is ``fid`` on spatial), ``default``:
    part of ``ganeval eval``'s default set, ``option``: the MetricOptions field that turns on a
    refinement of another metric (``fid_bootstrap`` by ``bootstrap``), which is not asked for by name."""

    name: str
    compute: Callable[[MetricInput], Any]
    space: str = "pool3"
    any_space: bool = False
    features: str = ""
    needs_logits: bool = False
    needs_classes: bool = False
    render: Callable[[str, Any, dict], list[str]] | None = None
    kind: str | None = None
    default: bool = False
    description: str = ""
    option: str | None = None

    @property
    def family(self) -> str:
        return self.kind or self.name


METRICS: dict[str, Metric] = {}
"""Every registered metric by name, in registration order."""


def register_metric(name: str, compute: Callable[[MetricInput], Any] | None = None, *, space: str = "pool3",
                    any_space: bool = False, features: str = "", needs_logits: bool = False,
                    needs_classes: bool = False, render=None, kind: str | None = None, default: bool = False,
                    description: str = "", option: str | None = None, replace: bool = False):
    """Register a metric (see :class:`Metric` for the fields); usable as a decorator. Returns ``compute``.

    ``name`` must be new (``replace=True`` to redefine one); ``features`` is "ab", "b" or "".
    """
    name = str(name).strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_\-]*", name):
        raise GanevalError(f"metric name {name!r}: use lower-case letters, digits, '_' and '-'")
    if features not in ("", "b", "ab"):
        raise GanevalError(f"metric {name}: features must be 'ab', 'b' or '', got {features!r}")

    def add(function):
        if name in METRICS and not replace:
            raise GanevalError(f"a metric named {name!r} is already registered; pick another name or replace=True")
        METRICS[name] = Metric(name, function, space=space, any_space=any_space, features=features,
                               needs_logits=needs_logits, needs_classes=needs_classes, render=render, kind=kind,
                               default=default, description=description or (function.__doc__ or "").strip(),
                               option=option)
        return function

    return add(compute) if compute is not None else add


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests, plugins that replace one)."""
    METRICS.pop(name, None)


def _known_spaces() -> tuple[str, ...]:
    from ganeval.core import networks as registry

    return tuple(registry.SPACE_NETWORK)


def metric_of(name: str) -> Metric:
    """The entry of a parsed metric name (``kid:dinov2`` → kid's)."""
    return METRICS[name.split(":", 1)[0]]


def metric_space(name: str) -> str:
    """The feature space of a parsed metric name: ``fd_dinov2`` → dinov2, ``kid:clip`` → clip."""
    return name.split(":", 1)[1] if ":" in name else METRICS[name].space


def parse_metrics(text: str | Sequence[str], *, refinements: bool = True) -> tuple[str, ...]:
    """'fid,kid:dinov2' or a sequence → checked parsed names, order kept, no repeats.

    ``NAME:SPACE`` (for a metric with ``any_space``) is written in its short form where a named
    variant exists (``fid:dinov2`` → ``fd_dinov2``, ``kid:pool3`` → ``kid``).
    """
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    spaces = _known_spaces()
    parsed, unknown = [], []
    for name in names:
        if ":" in name:
            family, space = (part.strip() for part in name.split(":", 1))
            metric = METRICS.get(family)
            if metric is None or not metric.any_space or space not in spaces:
                unknown.append(name)
                continue
            short = [m.name for m in METRICS.values() if m.family == family and m.space == space]
            name = short[0] if short else f"{family}:{space}"
        elif name not in METRICS:
            unknown.append(name)
            continue
        elif METRICS[name].option and not refinements:
            raise GanevalError(f"{name} is not asked for by name: give --{METRICS[name].option.replace('_', '-')} "
                               f"with {METRICS[name].family.split('_')[0]} in --metrics")
        parsed.append(name)
    if unknown or not names:
        any_space = "/".join(m.name for m in METRICS.values() if m.any_space)
        raise GanevalError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from "
                           f"{','.join(m.name for m in METRICS.values() if not m.option)}, or {any_space}:SPACE "
                           f"with SPACE one of {','.join(spaces)}")
    return tuple(dict.fromkeys(parsed))


def spaces_for(metrics: Sequence[str]) -> tuple[str, ...]:
    """The feature spaces ``metrics`` read, in the order they first appear."""
    return tuple(dict.fromkeys(metric_space(m) for m in parse_metrics(metrics)))


def features_needed(metrics: Sequence[str], side: str = "b") -> tuple[str, ...]:
    """The spaces whose raw features side ``side`` ("a" or "b") must hold for ``metrics``."""
    return tuple(dict.fromkeys(metric_space(m) for m in parse_metrics(metrics) if side in metric_of(m).features))


def missing_features_error(name: str, space: str, why: str) -> GanevalError:
    """The one message for statistics without the raw features a metric needs."""
    which = "" if space == "pool3" else f"{space} "
    return GanevalError(f"{name}: {why} needs raw {which}features, which these statistics do not hold; recompute "
                        f"them with `ganeval stats SOURCE -o {name} --save-features`, or pass the images")


def check_sides(set_a, set_b, metrics: Sequence[str], names: tuple[str, str], *, allow_mismatch: bool) -> None:
    """Before any metric runs: each space the metrics read is on both sides, comparable (compatibility
    keys, dimension), and the raw features and classes they need are there; one line naming the file."""
    from ganeval.core.stats import check_compatible

    for space in spaces_for(metrics):
        a, b = set_a[space], set_b[space]  # a missing space is one line naming the file and the fix
        if not allow_mismatch:
            check_compatible(a.provenance, b.provenance, names[0], names[1])
        if a.dim != b.dim:
            raise GanevalError(f"{names[0]} has {a.dim}-d {space} features and {names[1]} has {b.dim}-d")
    for name in parse_metrics(metrics):
        metric, space = metric_of(name), metric_space(name)
        for side, stats, label in (("a", set_a, names[0]), ("b", set_b, names[1])):
            if side in metric.features and stats[space].features is None:
                raise missing_features_error(label, space, name.upper())
            if metric.needs_classes and stats.classes is None:
                raise GanevalError(f"{label}: has no per-class statistics; recompute it with `ganeval stats SOURCE "
                                   f"-o {label} --per-class` (SOURCE with one sub-folder per class)")


def compute(set_a, set_b, metrics: Sequence[str], options, *, names: tuple[str, str] = ("A", "B"), device=None,
            inception=None) -> dict[str, Any]:
    """{result key: value} of every metric in ``metrics`` between two checked StatsSets
    (see :func:`check_sides`), in the order given; :class:`Entries` are spread into the record."""
    values: dict[str, Any] = {}
    for name in parse_metrics(metrics):
        space = metric_space(name)
        data = MetricInput(set_a[space], set_b[space], set_a, set_b, options, tuple(names), device, inception, space)
        value = metric_of(name).compute(data)
        if isinstance(value, Entries):
            values.update(value)
        else:
            values[name] = value
    return values


def render_lines(record: dict) -> list[str]:
    """The command line's text for a result record (``Evaluation.to_dict()``): each metric's lines."""
    lines: list[str] = []
    for key, value in record.items():
        metric = METRICS.get(key.split(":", 1)[0])
        if metric is None or (key != metric.name and ":" not in key):
            continue
        lines.extend((metric.render or _render_number)(key, value, record))
    return lines


def _render_number(name: str, value, record: dict) -> list[str]:
    if isinstance(value, dict):
        return [f"{name:<10} " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in value.items())]
    return [f"{name:<10} {value:.6f}"]


# ------------------------------------------------------------------------------------ built-in metrics


def fid_of(a, b, names: tuple[str, str], space: str) -> float:
    """Fréchet distance of two FeatureStats; a non-finite or non-symmetric input names its side."""
    from ganeval.metrics.frechet import frechet_distance

    try:
        return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    except GanevalError as err:  # "sigma1 is not ..." → "the covariance of real.h5 [pool3] is not ..."
        def side(match):
            return f"the {'mean' if match[1] == 'mu' else 'covariance'} of {names[int(match[2]) - 1]} [{space}]"
        raise GanevalError(re.sub(r"\b(mu|sigma)([12])\b", side, str(err))) from None


@register_metric("fid", any_space=True, default=True, description="Fréchet distance of the pool3 statistics")
def _fid(data: MetricInput):
    return fid_of(data.a, data.b, data.names, data.space)


register_metric("sfid", _fid, space="spatial", kind="fid", default=True,
                description="sFID: Fréchet distance of the spatial (mixed_6/conv) statistics")
register_metric("fd_dinov2", _fid, space="dinov2", kind="fid", description="Fréchet distance of DINOv2 features")


def _render_bootstrap(name, boot, record):
    return [f"fid {boot['confidence']:.0%} interval [{boot['low']:.6f}, {boot['high']:.6f}] "
            f"(bootstrap std {boot['std']:.6f}, {boot['resamples']} resamples)"]


@register_metric("fid_bootstrap", features="", render=_render_bootstrap, option="bootstrap", kind="fid_refinement",
                 description="bootstrap interval of FID (resamples each side that holds raw features)")
def _fid_bootstrap(data: MetricInput):
    from ganeval.metrics.bootstrap import bootstrap_fid

    o = data.options
    feats = [s.features for s in (data.a, data.b)]
    sides = [f if f is not None else (s.mu, s.sigma) for f, s in zip(feats, (data.a, data.b))]
    result = bootstrap_fid(sides[0], sides[1], num_resamples=o.bootstrap, confidence=o.confidence, seed=o.seed)
    return {"low": result.low, "high": result.high, "std": result.std, "bias": result.bias,
            "confidence": o.confidence, "resamples": o.bootstrap,
            "resampled": [n for f, n in zip(feats, data.names) if f is not None]}


def _render_fid_inf(name, inf, record):
    return [f"fid_inf    {inf['value']:.6f} (FID_N ≈ FID∞ + {inf['slope']:.4g}/N, "
            f"N = {inf['counts'][0]}..{inf['counts'][-1]}, {len(inf['counts'])} sizes)"]


@register_metric("fid_inf", features="b", render=_render_fid_inf, option="fid_inf", kind="fid_refinement",
                 description="FID∞ (Chong & Forsyth): FID of subsets of B extrapolated to N → ∞")
def _fid_inf(data: MetricInput):
    from ganeval.metrics.bootstrap import fid_infinity

    o = data.options
    result = fid_infinity((data.a.mu, data.a.sigma), data.b.features, num_points=o.fid_inf_points, seed=o.seed)
    return {"value": result.fid_inf, "slope": result.slope, "counts": result.counts.tolist(),
            "fids": result.fids.tolist()}


def _render_kid(name, k, record):
    if name != "kid":
        return [f"{name:<10} {k['mean']:.6g} ± {k['std']:.6g} ({k['subsets']} subsets of {k['subset_size']})"]
    whole = kid_whole_sides(k["subset_size"], {record["a"]: record["count_a"], record["b"]: record["count_b"]})
    if len(whole) == 2 or (whole and record["a"] == record["b"]):
        return [f"kid        {k['mean']:.6g} (every subset is all images of both sides: no uncertainty estimate)"]
    if whole:
        return [f"kid        {k['mean']:.6g} (spread {k['std']:.2g} over {k['subsets']} subsets of "
                f"{k['subset_size']}: not an uncertainty, every subset holds all of {whole[0]})"]
    return [f"kid        {k['mean']:.6g} ± {k['std']:.6g} ({k['subsets']} subsets of {k['subset_size']})"]


@register_metric("kid", any_space=True, features="ab", render=_render_kid, default=True,
                 description="KID: unbiased MMD² with the cubic polynomial kernel over random subsets")
def _kid(data: MetricInput):
    from ganeval.metrics.kid import kid

    o = data.options
    result = kid(data.a.features, data.b.features, num_subsets=o.kid_subsets, subset_size=o.kid_subset_size,
                 seed=o.seed, device=data.device)
    whole = kid_whole_sides(result.subset_size, {"a": data.a.count, "b": data.b.count})
    return {"mean": result.mean, "std": result.std, "subsets": result.num_subsets, "subset_size": result.subset_size,
            "std_is_uncertainty": not whole}


def _render_prdc(name, p, record):
    space = name.split(":", 1)[1] if ":" in name else None
    keys = (("precision", "k_pr"), ("recall", "k_pr"), ("density", "k_dc"), ("coverage", "k_dc"))
    if space is None:
        return [f"{key:<10} {p[key]:.6f} (k={p[k]})" for key, k in keys]
    return [f"{key}:{space}  {p[key]:.6f} (k={p[k]})" for key, k in keys]


@register_metric("prdc", any_space=True, features="ab", render=_render_prdc, default=True,
                 description="precision, recall, density and coverage of B against A (k-NN manifolds)")
def _prdc(data: MetricInput):
    from ganeval.metrics.prdc import prdc

    return prdc(data.a.features, data.b.features, k_pr=data.options.k_pr, k_dc=data.options.k_dc,
                device=data.device)._asdict()


def _render_is(name, value, record):
    return [f"is         {v['mean']:.6f} ± {v['std']:.6f} ({v['splits']} splits, {record.get(side, side)})"
            for side, v in value.items()]


@register_metric("is", features="b", needs_logits=True, render=_render_is,
                 description="Inception Score of B (and of A when it holds raw features), with the logits head")
def _is(data: MetricInput):
    out = {}
    for stats, name, key in ((data.a, data.names[0], "a"), (data.b, data.names[1], "b")):
        if stats.features is not None or key == "b":
            out[key] = inception_score_of_stats(stats, data.inception, name, data.options.is_splits,
                                                data.options.allow_mismatch)
    return out


def inception_score_of_stats(stats, extractor, name: str, splits: int, allow_mismatch: bool) -> dict:
    """Inception Score of the raw pool3 features of ``stats`` through ``extractor``'s logits head."""
    from ganeval.metrics.inception_score import inception_score
    from ganeval.core.stats import check_compatible

    if extractor is None:
        raise GanevalError("the Inception Score needs the Inception network with its logits head (weights)")
    extractor.require_logits()
    if not allow_mismatch:
        check_compatible(stats.provenance, extractor.provenance, name, f"weights {extractor.weights.path}")
    if stats.features is None:
        raise missing_features_error(name, "pool3", "the Inception Score")
    logits = extractor.logits_from_features(stats.features).double().cpu().numpy()
    result = inception_score(logits, splits)
    return {"mean": result.mean, "std": result.std, "splits": splits, "count": stats.count,
            "logits_head_sha256": extractor.logits_head_sha256}


def _render_cmmd(name, value, record):
    return [f"{name:<10} {value:.6f} ({record.get('cmmd_estimator')} estimator, x1000)"]


@register_metric("cmmd", space="clip", features="ab", render=_render_cmmd,
                 description="CMMD: MMD² of CLIP embeddings with a Gaussian kernel (x1000)")
def _cmmd(data: MetricInput):
    from ganeval.metrics.cmmd import cmmd

    estimator = data.options.cmmd_estimator
    return Entries({"cmmd": cmmd(data.a.features, data.b.features, estimator=estimator, device=data.device),
                    "cmmd_estimator": estimator})


def class_order(label: str):
    """Sort key: numeric labels by value (2 before 10), then the others by name."""
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _render_intra(name, value, record):
    lines = [f"class {label}  {class_fid:.6f}" for label, class_fid in record.get("per_class", {}).items()]
    return lines + [f"intra-FID  {value:.6f}"]


@register_metric("intra_fid", needs_classes=True, render=_render_intra,
                 description="FID of every class (per_class) and intra-FID, their mean")
def _intra_fid(data: MetricInput):
    from ganeval.core.stats import check_compatible

    sets, names = (data.set_a, data.set_b), data.names
    only = [sorted(set(sets[i].classes) - set(sets[1 - i].classes), key=class_order) for i in (0, 1)]
    if only[0] or only[1]:
        parts = [f"{names[i]} only: {', '.join(only[i])}" for i in (0, 1) if only[i]]
        raise GanevalError("classes present on one side only (" + "; ".join(parts) + "); "
                           "per-class FID compares the same classes on both sides")
    per_class = {}
    for label in sorted(sets[0].classes, key=class_order):
        a, b = sets[0].classes[label]["pool3"], sets[1].classes[label]["pool3"]
        class_names = (f"{names[0]} class {label}", f"{names[1]} class {label}")
        if not data.options.allow_mismatch:
            check_compatible(a.provenance, b.provenance, *class_names)
        per_class[label] = fid_of(a, b, class_names, "pool3")
    return Entries({"per_class": per_class, "intra_fid": float(sum(per_class.values()) / len(per_class))})

