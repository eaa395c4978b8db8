"""Topological precision and recall, TopP&R (Kim et al., "TopP&R: Robust Support Estimation
Approach for Evaluating Fidelity and Diversity in Generative Models", NeurIPS 2023), computed as the
authors' ``top-pr`` package (0.2.1, ``top_pr.compute_top_pr``) does for features of more than 3
dimensions.

1. Random projection (features of more than 32 dimensions): x ↦ W x with W [32, d] float32 drawn by
   ``torch.nn.init.xavier_normal_`` from a torch generator seeded with 99 (the package's
   ``torch.manual_seed(99)``); the projected features are float64 from here on.
2. Bandwidth h of each set (n rows, projected dimension d', k = 5 d'): for rows i < n − k, the
   distance to the k-th nearest among the LATER rows j > i (the package's "balloon estimator"); h is
   the ⌊(n − k)/2⌋-th smallest of these (1-based). Row order therefore matters, as in the package.
3. Cosine-kernel density at each point of its own set,
   p̂(x) = (1/n) (π / 4h)^d' Σ_j [‖x − x_j‖ ≤ h] cos(π/2 · ‖x − x_j‖ / h).
4. Confidence band: 10 bootstrap resamples of each set (rows drawn with replacement by
   ``numpy.random.RandomState(42).choice(n, n)``, the real set's 10 draws first, then the fake set's
   10, from one stream, as the package's global ``np.random.seed(42)``); θ_b = √n max |p̂ − p̂_b|,
   c = quantile(θ, 1 − α) / √n, α = 0.1.
5. A real point is significant if p̂_real(x) > c_real; a real point lies on the fake support if the
   fake density (fake bandwidth) at it exceeds c_fake; and symmetrically. Then
   precision (fidelity) = #{significant fakes on the real support} / #{significant fakes},
   recall (diversity) = #{significant reals on the fake support} / #{significant reals},
   F1 = their harmonic mean (0 when either is ≤ 1e-4).

Random parts and their pins: W (torch generator seeded 99) and the bootstrap draws (RandomState(42));
both seeds are parameters. The package seeds numpy only when it projects; for d ≤ 32 its draws come
from whatever numpy's global state is (tests/test_topp_r.py seeds it with 42 before the call).

Every n × n quantity is formed in row blocks; a bootstrap density is the kernel matrix times the
resample's row counts, so all 11 densities of a set come from one pass. Float64 throughout (the
package holds distances in float32).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.arrays import CHECK_ELEMENTS, feature_matrix

__all__ = ["TopPRResult", "top_pr", "top_pr_projection"]

PROJECTION_DIM = 32
PROJECTION_SEED = 99
BOOTSTRAP_SEED = 42
BOOTSTRAP_REPEATS = 10
BALLOON_NEIGHBOURS_PER_DIM = 5


class TopPRResult(NamedTuple):
    precision: float  # the package's "fidelity"
    recall: float  # the package's "diversity"
    f1: float
    bandwidth_real: float
    bandwidth_fake: float


def top_pr_projection(dim: int, *, seed: int = PROJECTION_SEED, out_dim: int = PROJECTION_DIM) -> torch.Tensor:
    """The package's random projection weight [out_dim, dim] float32 (xavier normal, generator seeded)."""
    weight = torch.empty(out_dim, dim, dtype=torch.float32)
    torch.nn.init.xavier_normal_(weight, generator=torch.Generator().manual_seed(seed))
    return weight


def _distance_block(rows: torch.Tensor, rows_sq: torch.Tensor, cols: torch.Tensor, cols_sq: torch.Tensor):
    """sqrt(max(‖r‖² + ‖c‖² − 2·r·c, 0)) [rows, cols], the package's formula, with one temporary block."""
    twice = (rows @ cols.T).mul_(2.0)
    return torch.add(rows_sq[:, None], cols_sq[None, :]).sub_(twice).clamp_(min=0.0).sqrt_()


def _balloon_bandwidth(x: torch.Tensor, k: int, block_rows: int) -> float:
    """Median (lower, 1-based ⌊len/2⌋-th) of each row's distance to its k-th nearest later row."""
    n = x.shape[0]
    rows = n - k
    sq = (x * x).sum(1)
    kth = torch.empty(rows, dtype=torch.float64, device=x.device)
    columns = torch.arange(n, device=x.device)
    for start in range(0, rows, block_rows):
        stop = min(start + block_rows, rows)
        dist = _distance_block(x[start:stop], sq[start:stop], x, sq)
        earlier = columns[None, :] <= torch.arange(start, stop, device=x.device)[:, None]
        dist.masked_fill_(earlier, float("inf"))
        kth[start:stop] = torch.topk(dist, k, dim=1, largest=False, sorted=True).values[:, k - 1]
    return float(torch.sort(kth).values[int(rows * 0.5) - 1])


def _cosine_kernel(dist: torch.Tensor, h: float) -> torch.Tensor:
    """cos(π/2 · dist/h) where dist² ≤ h², else 0; computed in place of ``dist``."""
    outside = dist.square() > h * h
    return dist.div_(h).mul_(math.pi / 2.0).cos_().masked_fill_(outside, 0.0)


def _densities(positions: torch.Tensor, data: torch.Tensor, h: float, weights: torch.Tensor, block_rows: int):
    """KDE at ``positions`` [P, d'] of ``data`` [n, d'] with row weights [n, w] → [P, w] (weights = counts)."""
    n, d = data.shape
    scale = (math.pi / (4.0 * h)) ** d / n
    pos_sq, data_sq = (positions * positions).sum(1), (data * data).sum(1)
    out = torch.empty(positions.shape[0], weights.shape[1], dtype=torch.float64, device=data.device)
    for start in range(0, positions.shape[0], block_rows):
        stop = min(start + block_rows, positions.shape[0])
        kernel = _cosine_kernel(_distance_block(positions[start:stop], pos_sq[start:stop], data, data_sq), h)
        out[start:stop] = scale * (kernel @ weights)
    return out


def _confidence_band(x: torch.Tensor, h: float, alpha: float, rng: np.random.RandomState, repeats: int,
                     block_rows: int) -> tuple[float, torch.Tensor]:
    """(c, p̂ at the set's own points): the bootstrap band of the package's ``confband_est``."""
    n = x.shape[0]
    weights = torch.ones(n, repeats + 1, dtype=torch.float64)
    for b in range(repeats):
        weights[:, b + 1] = torch.from_numpy(np.bincount(rng.choice(np.arange(n), size=n, replace=True),
                                                         minlength=n).astype(np.float64))
    dens = _densities(x, x, h, weights.to(x.device), block_rows)
    p_hat = dens[:, 0]
    theta = (math.sqrt(n) * (p_hat[:, None] - dens[:, 1:]).abs().max(dim=0).values).cpu().numpy()
    return float(np.quantile(theta, 1.0 - alpha)) / math.sqrt(n), p_hat


def _projected(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """float64 [n, out] x · weightᵀ in row blocks (x is not copied to float64 whole)."""
    out = torch.empty(x.shape[0], weight.shape[0], dtype=torch.float64, device=x.device)
    step = max(1, CHECK_ELEMENTS // max(x.shape[1], 1))
    for start in range(0, x.shape[0], step):
        out[start:start + step] = x[start:start + step].to(torch.float64) @ weight.T
    return out


def top_pr(real, fake, *, alpha: float = 0.1, random_projection: bool = True,
           projection_seed: int = PROJECTION_SEED, bootstrap_seed: int = BOOTSTRAP_SEED,
           bootstrap_repeats: int = BOOTSTRAP_REPEATS, block_rows: int | None = None, device=None) -> TopPRResult:
    """TopP&R of ``fake`` [M, d] against ``real`` [N, d] (see the module docstring); float64."""
    r = feature_matrix(real, "real features", metric="TopP&R")
    f = feature_matrix(fake, "generated features", metric="TopP&R")
    if r.shape[1] != f.shape[1]:
        raise GanevalError(f"TopP&R: real and generated features differ in dimension ({r.shape[1]} vs {f.shape[1]})")
    if r.shape[1] <= 3:
        raise GanevalError("TopP&R of features with at most 3 dimensions (the package's grid search) is not "
                           "supported; use a feature space of more dimensions")
    if not 0 < alpha < 1:
        raise GanevalError(f"TopP&R: alpha must be in (0, 1), got {alpha}")
    if random_projection and r.shape[1] > PROJECTION_DIM:
        weight = top_pr_projection(r.shape[1], seed=projection_seed).to(r.device, torch.float64)
        r, f = _projected(r, weight), _projected(f, weight)
    dev = device if device is not None else r.device
    r, f = r.to(dev, torch.float64), f.to(dev, torch.float64)
    k = BALLOON_NEIGHBOURS_PER_DIM * r.shape[1]
    block_rows = block_rows or max(1, (1 << 23) // max(r.shape[0], f.shape[0]))  # 64 MB of distances per block
    for x, name in ((r, "real"), (f, "generated")):
        if x.shape[0] < k + 2:
            raise GanevalError(f"TopP&R needs more than {k + 1} {name} features in {r.shape[1]} dimensions "
                               f"(k = 5·d neighbours), got {x.shape[0]}")
    h_real, h_fake = _balloon_bandwidth(r, k, block_rows), _balloon_bandwidth(f, k, block_rows)
    rng = np.random.RandomState(bootstrap_seed)
    c_real, density_rr = _confidence_band(r, h_real, alpha, rng, bootstrap_repeats, block_rows)
    c_fake, density_ff = _confidence_band(f, h_fake, alpha, rng, bootstrap_repeats, block_rows)
    ones_f = torch.ones(f.shape[0], 1, dtype=torch.float64, device=dev)
    ones_r = torch.ones(r.shape[0], 1, dtype=torch.float64, device=dev)
    fake_density_at_real = _densities(r, f, h_fake, ones_f, block_rows)[:, 0]
    real_density_at_fake = _densities(f, r, h_real, ones_r, block_rows)[:, 0]
    significant_real, significant_fake = density_rr > c_real, density_ff > c_fake
    if not bool(significant_real.any()) or not bool(significant_fake.any()):
        raise GanevalError("TopP&R: no sample's density exceeds its confidence band (too few features?); "
                           "pass more features")
    recall = int((significant_real & (fake_density_at_real > c_fake)).sum()) / int(significant_real.sum())
    precision = int((significant_fake & (real_density_at_fake > c_real)).sum()) / int(significant_fake.sum())
    f1 = 2.0 / (1.0 / precision + 1.0 / recall) if precision > 1e-4 and recall > 1e-4 else 0.0
    return TopPRResult(precision, recall, f1, h_real, h_fake)
