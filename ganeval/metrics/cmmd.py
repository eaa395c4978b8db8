"""CMMD (Jayasumana et al., "Rethinking FID: Towards a Better Evaluation Metric for Image
Generation", CVPR 2024): the squared MMD between CLIP embeddings under the Gaussian RBF kernel

    k(x, y) = exp(-||x - y||² / (2 σ²)),  σ = 10,  reported × 1000.

``estimator="biased"`` (the default) is what the reference code (google-research ``cmmd/
distance.py``) computes: the minimum-variance V-statistic over the full matrices, diagonals
included,

    MMD²_b = mean(K_xx) + mean(K_yy) − 2 mean(K_xy);

``estimator="unbiased"`` drops the diagonals of K_xx and K_yy (divides by m(m−1), n(n−1)), the
U-statistic whose expectation is the population MMD² (it can be negative). They differ by
MMD²_b − MMD²_u = (1 − K̄'_xx)/m + (1 − K̄'_yy)/n, K̄' the mean off-diagonal kernel value; for
unit-norm embeddings every k ≥ exp(−4/200), so at m = n = 30,000 the two CMMDs (× 1000) differ
by at most 1.3e-3.

Computed in float64 (the reference runs in JAX float32), in blocks of ``block_size`` rows so
that 30k × 30k never holds a full matrix, and without a float64 copy of either set: each block of
rows is converted on its own (peak ≈ block_size² × 8 bytes + 2 × block_size × d × 8 bytes);
||x − y||² is formed as ||x||² + ||y||² − 2 xᵀy as the reference does.
"""

from __future__ import annotations

import numpy as np
import torch

from ganeval.core.choices import CMMD_ESTIMATORS
from ganeval.core.errors import GanevalError

__all__ = ["cmmd", "CMMD_SIGMA", "CMMD_SCALE", "ESTIMATORS"]

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0
ESTIMATORS = CMMD_ESTIMATORS


def _as_matrix(features, name: str, device) -> torch.Tensor:
    """The embeddings as a float tensor on ``device``, not copied to float64 whole (blocks are)."""
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    if x.ndim != 2 or x.shape[0] < 1:
        raise GanevalError(f"CMMD needs {name} as a [N, d] matrix with N ≥ 1, got shape {list(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float64)
    return x.to(device if device is not None else x.device)


def _squared_norms(x: torch.Tensor, block: int) -> torch.Tensor:
    return torch.cat([x[i:i + block].to(torch.float64).square().sum(1) for i in range(0, x.shape[0], block)])


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, block: int, *, symmetric: bool) -> tuple[float, float]:
    """(Σ_ij k(a_i, b_j), Σ_i k(a_i, b_i) when symmetric else 0) over blocks of rows, each block
    converted to float64 on its own (peak: two [block, d] and one [block, block] float64 arrays)."""
    a_sq = _squared_norms(a, block)
    b_sq = a_sq if symmetric else _squared_norms(b, block)
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    diagonal = torch.zeros((), dtype=torch.float64, device=a.device)
    for i in range(0, a.shape[0], block):
        ai, ai_sq = a[i:i + block].to(torch.float64), a_sq[i:i + block]
        start = i if symmetric else 0
        for j in range(start, b.shape[0], block):
            d2 = ai_sq[:, None] + b_sq[None, j:j + block] - 2.0 * (ai @ b[j:j + block].to(torch.float64).T)
            k = torch.exp(-gamma * d2)
            if symmetric and j == i:
                total += k.sum()
                diagonal += k.diagonal().sum()
            elif symmetric:
                total += 2.0 * k.sum()  # the mirrored block below the diagonal
            else:
                total += k.sum()
    return float(total), float(diagonal)


def cmmd(features_a, features_b, *, sigma: float = CMMD_SIGMA, scale: float = CMMD_SCALE,
         estimator: str = "biased", block_size: int = 4096, device=None) -> float:
    """CMMD × ``scale`` between two embedding sets [m, d], [n, d] (float64 throughout).

    ``estimator``: "biased" (default; the reference's V-statistic) or "unbiased" (needs m, n ≥ 2).
    """
    if estimator not in ESTIMATORS:
        raise GanevalError(f"unknown CMMD estimator {estimator!r}; choose biased or unbiased")
    x = _as_matrix(features_a, "features A", device)
    y = _as_matrix(features_b, "features B", x.device)
    if x.shape[1] != y.shape[1]:
        raise GanevalError(f"CMMD needs embeddings of one dimension, got {x.shape[1]} and {y.shape[1]}")
    m, n = x.shape[0], y.shape[0]
    if estimator == "unbiased" and (m < 2 or n < 2):
        raise GanevalError(f"unbiased CMMD needs at least 2 embeddings on each side, got {m} and {n}")
    gamma = 1.0 / (2.0 * float(sigma) ** 2)
    block = max(1, int(block_size))
    s_xx, d_xx = _kernel_sum(x, x, gamma, block, symmetric=True)
    s_yy, d_yy = _kernel_sum(y, y, gamma, block, symmetric=True)
    s_xy, _ = _kernel_sum(x, y, gamma, block, symmetric=False)
    if estimator == "biased":
        value = s_xx / (m * m) + s_yy / (n * n) - 2.0 * s_xy / (m * n)
    else:
        value = (s_xx - d_xx) / (m * (m - 1)) + (s_yy - d_yy) / (n * (n - 1)) - 2.0 * s_xy / (m * n)
    return float(scale) * value
