"""Vendi score (Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine
Learning", TMLR 2023): the effective number of distinct samples in one set,

    VS_q(X) = exp(H_q(λ)),  λ = eigenvalues of K / n,  K_ij = k(x_i, x_j),

with H_1 the Shannon entropy −Σ λ log λ (q = 1, the default), H_q = log(Σ λ^q) / (1 − q) for other
orders and H_∞ = −log max λ. Eigenvalues ≤ 0 (rounding) are dropped, as the reference does.

Kernel and normalisation are those of the ``vendi-score`` package's feature entry point
``vendi.score_X(X)`` (0.0.3; also dgm-eval's default): the linear (cosine) kernel on L2-normalised
rows, K = X̂ X̂ᵀ, so k(x, x) = 1 and 1 ≤ VS ≤ min(n, d). (``score_X`` always uses q = 1
whatever it is passed; here ``order`` is honoured.)

The nonzero eigenvalues of X̂ X̂ᵀ / n [n, n] are those of X̂ᵀ X̂ / n [d, d] (the package's
``score_dual``), so when n > d the d × d matrix is used, accumulated over row blocks: 50,000 rows of
dimension 2048 need a 2048² float64 matrix (32 MB) instead of a 50,000² one (20 GB). Float64
throughout; tests/test_vendi.py checks ≤ 1e-8 relative against the package.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import eigvalsh

from ganeval.core.errors import GanevalError
from ganeval.metrics.arrays import CHECK_ELEMENTS, feature_matrix

__all__ = ["vendi_score", "entropy_of_order"]


def entropy_of_order(eigenvalues: np.ndarray, order: float | str = 1) -> float:
    """Rényi entropy H_q of the spectrum (the package's ``entropy_q``); q = 1 Shannon, "inf" min-entropy."""
    p = eigenvalues[eigenvalues > 0]
    if order == "inf":
        return float(-np.log(np.max(eigenvalues)))
    if float(order) == 1.0:
        return float(-(p * np.log(p)).sum())
    return float(np.log((p ** float(order)).sum()) / (1.0 - float(order)))


def vendi_score(features, *, order: float | str = 1, block_rows: int = 8192, device=None) -> float:
    """Vendi score of one feature set [n, d] (float array/tensor), linear kernel on unit rows; float64.

    ``order``: q of the Rényi entropy (1 = Shannon, the published score; "inf" allowed; q ≥ 0).
    """
    if order != "inf" and (not isinstance(order, (int, float)) or order < 0):
        raise GanevalError(f"Vendi score: order must be a number ≥ 0 or 'inf', got {order!r}")
    x = feature_matrix(features, "features", device, metric="Vendi score")  # checked; not copied
    n, d = x.shape
    step = max(1, CHECK_ELEMENTS // max(d, 1))
    norms = torch.cat([x[start:start + step].to(torch.float64).norm(dim=1) for start in range(0, n, step)])
    if bool((norms == 0).any()):
        raise GanevalError("Vendi score: a feature row is all zeros, so it has no direction; drop it")
    if n <= d:
        unit = x.to(torch.float64) / norms[:, None]  # n ≤ d rows: no larger than the d × d matrix below
        gram = unit @ unit.T
    else:  # the dual: same nonzero spectrum, d × d, summed over float64 row blocks (no float64 copy of x)
        gram = torch.zeros((d, d), dtype=torch.float64, device=x.device)
        for start in range(0, n, block_rows):
            unit = x[start:start + block_rows].to(torch.float64) / norms[start:start + block_rows, None]
            gram += unit.T @ unit
    eigenvalues = eigvalsh((gram / n).cpu().numpy())
    return math.exp(entropy_of_order(eigenvalues, order))
