"""Feature matrices as the metric functions take them: checked once, float64, on the chosen device."""

from __future__ import annotations

import numpy as np
import torch

from ganeval.core.errors import GanevalError


def float64_matrix(x, name: str, device=None, *, min_rows: int = 1, metric: str = "") -> torch.Tensor:
    """``x`` (array or tensor [N, d], N >= ``min_rows``, finite) as a float64 tensor on ``device``
    (default: where it is); anything else is one GanevalError line naming ``name`` (and ``metric``)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    who = f"{metric}: " if metric else ""
    if t.ndim != 2 or t.shape[0] < min_rows:
        raise GanevalError(f"{who}{name} must be an [N, d] feature matrix with N ≥ {min_rows}, "
                           f"got shape {list(t.shape)}")
    t = t.to(device if device is not None else t.device, torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise GanevalError(f"{who}{name} contain NaN or infinite values; recompute the features")
    return t
