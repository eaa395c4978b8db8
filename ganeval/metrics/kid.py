"""Kernel Inception Distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018).

KID is the unbiased estimate of the squared maximum mean discrepancy (MMD²) between two
feature sets under the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³. For samples
X (m rows) and Y (n rows):

    MMD²_u = Σ_{i≠j} k(xi, xj) / (m(m−1)) + Σ_{i≠j} k(yi, yj) / (n(n−1)) − 2 Σ_{i,j} k(xi, yj) / (mn)

Its expectation is exactly the population MMD², which is 0 when both sets come from one
distribution, so KID has no small-sample bias (single estimates can be negative). As in
the paper and torch-fidelity/clean-fid, it is averaged over random subsets (default 100
subsets of 1,000 rows from each side, drawn without replacement); the reported std is
the standard deviation of the per-subset estimates (ddof = 0, as torch-fidelity).

Precision and speed: float64 for the dot products and sums, because it matters here. KID is a
difference of kernel means near 2 whose result is ~1e-3, so the relative error of the dot
products is amplified about a thousandfold: float32 GEMM (as torch-fidelity computes) leaves
~6e-6 relative of KID on pool3-like features, float64 ~1e-14 (tests/test_metrics_exact.py); no
float32 accumulation order can reach 1e-12. The speed comes from doing less float64 work: each
subset's X [m, d] and Y [n, d] are stacked into Z = [X; Y] and the one Gram matrix Z Zᵀ is
formed, whose blocks are X Xᵀ, Y Yᵀ and X Yᵀ. On the CPU it goes through numpy's BLAS, which
computes a product with its own transpose as a symmetric rank-k update (syrk: one triangle,
mirrored): (m + n)²d FLOP instead of the (m² + n² + mn)·2d of three products, 2/3 of the work,
in one large call; on other devices ``torch.mm``. Only the subsets' rows are converted
to float64 (never a whole set). The sums: the three kernel means are ~2 and MMD² ~1e-3, so each
kernel value is shifted by the cross mean first (MMD² is unchanged), which lowers the error
against an extended-precision reference from ~1e-12 to ~1e-14 relative (tests/test_metrics_exact.py).
Measured on the 2-core CPU of docs/speed-and-accuracy.md (`benchmarks/metrics_peers.py`): 100
subsets of 1000 × 2048 take 30.0 CPU-s (33.4 with three torch float64 products) against 13.3 for
torch-fidelity's float32: this CPU's float64 multiply-add costs 1.6× float32's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ganeval.core.errors import GanevalError

__all__ = ["KIDResult", "kid", "mmd2_unbiased", "polynomial_kernel", "gram"]


class KIDResult(NamedTuple):
    mean: float  # mean MMD² over subsets
    std: float  # std of the per-subset MMD² (ddof = 0)
    num_subsets: int
    subset_size: int


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (xᵀy / d + 1)³ for rows x [m, d], y [n, d] (float64) → [m, n]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def gram(z: torch.Tensor) -> torch.Tensor:
    """z zᵀ, float64 [N, N] of z float64 [N, d]: numpy's syrk on the CPU (one triangle, mirrored), else torch.mm."""
    if z.device.type == "cpu":
        values = z.numpy()
        return torch.from_numpy(values @ values.T)  # numpy calls syrk for a product with its own transpose
    return z @ z.T


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD² with the cubic polynomial kernel; x [m, d], y [n, d], m, n ≥ 2. Float64 throughout."""
    x = _as_float64(x, "features A")
    y = _as_float64(y, "features B").to(x.device)
    if x.shape[1] != y.shape[1]:
        raise GanevalError(f"KID needs features of one dimension, got {x.shape[1]} and {y.shape[1]}")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise GanevalError(f"KID needs at least 2 feature vectors on each side, got {m} and {n}")
    k = (gram(torch.cat([x, y])) / x.shape[1] + 1.0) ** 3  # [[K_xx, K_xy], [K_yx, K_yy]]
    # The three means are ~2 and MMD² ~1e-3: the same shift of every kernel value leaves MMD² unchanged
    # (the weights of each side sum to 1, the cross term's to 2) and makes the terms small, so their
    # final roundings no longer set a ~1e-12 relative floor.
    k -= k[:m, m:].mean()
    k_xx, k_yy, k_xy = k[:m, :m], k[m:, m:], k[:m, m:]
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.sum() / (m * n))


def kid(features_a, features_b, *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        device=None) -> KIDResult:
    """KID between two feature sets (float arrays/tensors [Na, d], [Nb, d]).

    Each of ``num_subsets`` rounds draws min(subset_size, Na, Nb) rows from each side without
    replacement (``numpy.random.default_rng(seed)``) and computes :func:`mmd2_unbiased`.
    Runs in float64 on ``device`` (default: where ``features_a`` lives).
    """
    if num_subsets < 1:
        raise GanevalError(f"KID needs at least one subset, got {num_subsets}")
    a = _as_matrix(features_a, "features A", device)  # converted to float64 per subset, not whole
    b = _as_matrix(features_b, "features B", a.device)
    size = min(int(subset_size), a.shape[0], b.shape[0])
    if size < 2:
        raise GanevalError(f"KID needs at least 2 feature vectors on each side, got {a.shape[0]} and {b.shape[0]}")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        rows_a = torch.from_numpy(rng.choice(a.shape[0], size, replace=False)).to(a.device)
        rows_b = torch.from_numpy(rng.choice(b.shape[0], size, replace=False)).to(a.device)
        values[i] = mmd2_unbiased(a[rows_a], b[rows_b])
    return KIDResult(float(values.mean()), float(values.std()), num_subsets, size)


def _as_matrix(features, name: str, device=None) -> torch.Tensor:
    x = torch.as_tensor(features)
    if x.ndim != 2:
        raise GanevalError(f"{name} must be an [N, d] array, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.to(torch.float64)
    return x.to(device) if device is not None else x


def _as_float64(features, name: str, device=None) -> torch.Tensor:
    return _as_matrix(features, name, device).to(torch.float64)
