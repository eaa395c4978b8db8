"""Registry entries of MiFID, the Vendi score, TopP&R, AuthPct and C_T (issue 19): each metric is one
pure function in its own module and one entry here, so that ``ganeval eval --metrics``, the API and
the callback compute it, in its default space or any other (``vendi:dinov2``, ``authpct:clip``).

All five read raw features (statistics saved with ``--save-features``). Side A is the reference
(real/training) set, side B the generated one. Parameters other than the defaults come from
``MetricOptions.params`` ({metric: {parameter: value}}, e.g. ``params={"mifid": {"cosine_distance_eps": 0.2}}``):

* mifid: ``cosine_distance_eps`` (0.1), ``penalty_over`` ("real", torchmetrics; or "generated", Kaggle);
* vendi: ``order`` (1); the score of B, and of A when A holds raw features;
* toppr: ``alpha`` (0.1), ``random_projection`` (True), ``projection_seed`` (99), ``bootstrap_seed`` (42);
* authpct: none (A is the training set);
* ct: ``cells`` (3), ``pca_components`` (64), ``min_generated_per_cell`` (20). C_T needs a training set
  and a held-out set; from two sides it splits A with ``numpy.array_split(A, 2)`` into the training
  half T (first) and the held-out half P_n (second), as dgm-eval's ``ct_test`` splits its test set.
  Call :func:`ganeval.metrics.memorisation.data_copying_ct` with three sets to use a real held-out set.
  k-means is seeded with ``MetricOptions.seed``.
"""

from __future__ import annotations

from ganeval.core.errors import GanevalError
from ganeval.metrics.registry import MetricInput, register_metric

__all__: list[str] = []

_PARAMETERS = {
    "mifid": ("cosine_distance_eps", "penalty_over"),
    "vendi": ("order",),
    "toppr": ("alpha", "random_projection", "projection_seed", "bootstrap_seed"),
    "authpct": (),
    "ct": ("cells", "pca_components", "min_generated_per_cell"),
}


def _params(data: MetricInput, metric: str) -> dict:
    given = data.options.params_of(metric)
    unknown = sorted(set(given) - set(_PARAMETERS[metric]))
    if unknown:
        allowed = ", ".join(_PARAMETERS[metric]) or "none"
        raise GanevalError(f"{metric}: unknown parameter(s) {', '.join(unknown)}; it takes {allowed}")
    return given


def _render_mifid(name, value, record):
    return [f"{name:<10} {value['value']:.6f} (FID {value['fid']:.6f}, memorisation distance "
            f"{value['memorization_distance']:.4g}, penalty {value['penalty']:.4g})"]


@register_metric("mifid", any_space=True, features="ab", render=_render_mifid,
                 description="MiFID: FID divided by the memorisation penalty (min cosine distance, eps 0.1)")
def _mifid(data: MetricInput):
    from ganeval.metrics.mifid import mifid

    result = mifid(data.a.features, data.b.features, device=data.device, **_params(data, "mifid"))
    return {"value": result.mifid, "fid": result.fid, "memorization_distance": result.memorization_distance,
            "penalty": result.penalty}


def _render_vendi(name, value, record):
    return [f"{name:<10} {v:.6f} ({record.get(side, side)})" for side, v in value.items()]


@register_metric("vendi", any_space=True, features="b", render=_render_vendi,
                 description="Vendi score of B (and of A when it holds raw features): effective number of samples")
def _vendi(data: MetricInput):
    from ganeval.metrics.vendi import vendi_score

    params = _params(data, "vendi")
    return {side: vendi_score(stats.features, device=data.device, **params)
            for side, stats in (("a", data.a), ("b", data.b)) if stats.features is not None}


def _render_toppr(name, value, record):
    suffix = name[len("toppr"):]
    return [f"{key}{suffix}".ljust(10) + f" {value[key]:.6f}" for key in ("top_precision", "top_recall", "top_f1")]


@register_metric("toppr", any_space=True, features="ab", render=_render_toppr,
                 description="TopP&R: topological precision and recall (Kim et al. 2023, the top-pr package)")
def _toppr(data: MetricInput):
    from ganeval.metrics.topp_r import top_pr

    result = top_pr(data.a.features, data.b.features, device=data.device, **_params(data, "toppr"))
    return {"top_precision": result.precision, "top_recall": result.recall, "top_f1": result.f1,
            "bandwidth_a": result.bandwidth_real, "bandwidth_b": result.bandwidth_fake}


@register_metric("authpct", any_space=True, features="ab",
                 description="AuthPct: % of B whose nearest A sample is closer to another A sample (Alaa et al.)")
def _authpct(data: MetricInput):
    from ganeval.metrics.memorisation import authenticity

    _params(data, "authpct")
    return authenticity(data.a.features, data.b.features, device=data.device).authpct


@register_metric("ct", any_space=True, features="ab",
                 description="C_T data-copying test (Meehan et al.): A split into training and held-out halves")
def _ct(data: MetricInput):
    import numpy as np

    from ganeval.metrics.memorisation import data_copying_ct

    train, held_out = np.array_split(np.asarray(data.a.features), 2)
    return data_copying_ct(train, held_out, data.b.features, seed=data.options.seed, device=data.device,
                           **_params(data, "ct")).ct
