"""Feature matrices as the metric functions take them: checked once, on the chosen device, copied to
float64 only where a metric needs a whole float64 set; their moments in float64 row blocks."""

from __future__ import annotations

import numpy as np
import torch

from ganeval.core.errors import GanevalError


CHECK_ELEMENTS = 1 << 22  # entries per finiteness check: 32 MB of float64, so no whole-set temporary


def feature_matrix(x, name: str, device=None, *, min_rows: int = 1, metric: str = "") -> torch.Tensor:
    """``x`` (array or tensor [N, d], N >= ``min_rows``, finite) as a float tensor on ``device``
    (default: where it is) without a whole-set copy: float32 and float64 stay as they are (other
    dtypes become float64); anything else is one GanevalError line naming ``name`` (and ``metric``)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    who = f"{metric}: " if metric else ""
    if t.ndim != 2 or t.shape[0] < min_rows:
        raise GanevalError(f"{who}{name} must be an [N, d] feature matrix with N ≥ {min_rows}, "
                           f"got shape {list(t.shape)}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
    t = t.to(device) if device is not None else t
    step = max(1, CHECK_ELEMENTS // max(t.shape[1], 1))
    for start in range(0, t.shape[0], step):
        if not bool(torch.isfinite(t[start:start + step]).all()):
            raise GanevalError(f"{who}{name} contain NaN or infinite values; recompute the features")
    return t


def float64_matrix(x, name: str, device=None, *, min_rows: int = 1, metric: str = "") -> torch.Tensor:
    """:func:`feature_matrix` as float64 (a copy unless it already is float64)."""
    return feature_matrix(x, name, device, min_rows=min_rows, metric=metric).to(torch.float64)


def moments(x: torch.Tensor, block_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean float64 [d], unbiased covariance float64 [d, d]) of the rows of ``x`` [N ≥ 2, d], in
    float64 row blocks (Chan's streaming update, as ``ganeval stats`` accumulates): no copy of ``x``."""
    from ganeval.core.stats import FeatureStats

    stats = FeatureStats(int(x.shape[1]))
    step = block_rows or max(1, CHECK_ELEMENTS // max(x.shape[1], 1))
    for start in range(0, x.shape[0], step):
        stats.add_features(x[start:start + step])
    return stats.mu, stats.sigma
