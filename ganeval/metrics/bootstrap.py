"""How sure is a FID? Bootstrap intervals and the extrapolated FID∞.

**Bootstrap** (Efron): each of B rounds resamples the rows of each feature set with
replacement (same size), recomputes mean and covariance and the Fréchet distance. The
spread of these B values estimates how much FID would move with a fresh sample of the same
size. Resampling repeats rows, which makes every resample look less diverse and inflates
its FID (the bootstrap mean sits above the point estimate by ``bias``); the interval
reported is therefore the percentile interval of the bootstrap FIDs shifted back by that
bias, [q(α/2) − bias, q(1 − α/2) − bias]: an interval for the FID at this sample count
(the quantity a rerun would estimate), not for the N → ∞ limit. Resamples are drawn as
multinomial counts, so no resampled copy of the features is built.

**FID∞** (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find
them", CVPR 2020): E[FID_N] ≈ FID∞ + c/N for N generated samples against fixed reference
statistics. FID is computed on random subsets of sizes N₁ < … < N_K (default 15 sizes,
evenly spaced from N/10 to N, as the paper's 5,000…50,000), and the least-squares line in
1/N is evaluated at 1/N = 0.

Every statistic is float64; each FID costs one Fréchet distance (about 0.7 s at d = 2048 on
two CPU cores) plus one covariance (N·d² multiply-adds).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.frechet import frechet_distance

__all__ = ["BootstrapResult", "FIDInfinityResult", "bootstrap_fid", "fid_infinity", "extrapolate_to_infinity",
           "weighted_moments", "default_counts"]

_CHUNK_ROWS = 4096


class BootstrapResult(NamedTuple):
    fid: float  # point estimate on all features
    low: float  # interval bounds (see module docstring)
    high: float
    std: float  # standard deviation of the bootstrap FIDs (ddof = 1)
    bias: float  # mean bootstrap FID − point estimate
    confidence: float
    num_resamples: int
    samples: np.ndarray  # float64 [B], the bootstrap FIDs


class FIDInfinityResult(NamedTuple):
    fid_inf: float  # intercept at 1/N = 0
    slope: float  # c in FID_N ≈ FID∞ + c/N
    counts: np.ndarray  # int64 [K]
    fids: np.ndarray  # float64 [K]


def weighted_moments(features, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean float64 [d] and covariance float64 [d, d] (divides by n − 1) of rows of ``features`` [N, d],
    row i counted ``weights[i]`` times (integer counts, e.g. a bootstrap resample; None = once each).
    Reduced in float64 chunks of rows, so no float64 copy of all features is made."""
    x = torch.as_tensor(features)
    w = (torch.ones(x.shape[0], dtype=torch.float64) if weights is None
         else torch.as_tensor(np.asarray(weights), dtype=torch.float64))
    n = float(w.sum())
    if n < 2:
        raise GanevalError(f"a covariance needs at least 2 feature vectors, got {n:g}")
    w = w.to(x.device)
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        chunk = x[start:start + _CHUNK_ROWS].to(torch.float64)
        total += w[start:start + _CHUNK_ROWS] @ chunk
    mean = total / n
    scatter = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        centred = x[start:start + _CHUNK_ROWS].to(torch.float64) - mean
        scatter += (centred * w[start:start + _CHUNK_ROWS, None]).T @ centred
    sigma = scatter.cpu().numpy() / (n - 1)
    return mean.cpu().numpy(), (sigma + sigma.T) / 2


def _side(side, name: str):
    """(features or None, mu, sigma) for a features array or a fixed (mu, sigma) pair."""
    if isinstance(side, tuple) and len(side) == 2:
        mu, sigma = (np.asarray(v, dtype=np.float64) for v in side)
        return None, mu, sigma
    x = torch.as_tensor(side)
    if x.ndim != 2 or x.shape[0] < 2:
        raise GanevalError(f"{name} must be a [N, d] feature array with N ≥ 2, got shape {tuple(x.shape)}")
    mu, sigma = weighted_moments(x)
    return x, mu, sigma


def bootstrap_fid(features_a, features_b, *, num_resamples: int = 100, confidence: float = 0.95,
                  seed: int = 0) -> BootstrapResult:
    """Bootstrap interval of FID between ``features_a`` [Na, d] and ``features_b`` [Nb, d].

    Either side may instead be a fixed ``(mu, sigma)`` pair (reference statistics without
    features): it is then not resampled. Resample counts come from
    ``numpy.random.default_rng(seed)``: per round, ``rng.integers(0, N, N)`` for A, then for B.
    """
    if num_resamples < 2:
        raise GanevalError(f"--bootstrap needs at least 2 resamples, got {num_resamples}")
    if not 0 < confidence < 1:
        raise GanevalError(f"confidence must be in (0, 1), got {confidence}")
    xa, mu_a, sigma_a = _side(features_a, "features A")
    xb, mu_b, sigma_b = _side(features_b, "features B")
    if xa is None and xb is None:
        raise GanevalError("bootstrap needs the features of at least one side (compute stats with --save-features)")
    point = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    rng = np.random.default_rng(seed)
    samples = np.empty(num_resamples)
    for i in range(num_resamples):
        moments = []
        for x, mu, sigma in ((xa, mu_a, sigma_a), (xb, mu_b, sigma_b)):
            if x is None:
                moments.append((mu, sigma))
            else:
                counts = np.bincount(rng.integers(0, x.shape[0], x.shape[0]), minlength=x.shape[0])
                moments.append(weighted_moments(x, counts))
        samples[i] = frechet_distance(moments[0][0], moments[0][1], moments[1][0], moments[1][1])
    alpha = 1.0 - confidence
    bias = float(samples.mean() - point)
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return BootstrapResult(point, float(low - bias), float(high - bias), float(samples.std(ddof=1)), bias,
                           confidence, num_resamples, samples)


def default_counts(n: int, num_points: int = 15) -> np.ndarray:
    """Subset sizes for FID∞: ``num_points`` sizes evenly spaced from max(2, N // 10) to N (unique, int64)."""
    low = max(2, n // 10)
    return np.unique(np.linspace(low, n, num_points).astype(np.int64))


def extrapolate_to_infinity(counts: Sequence[int], fids: Sequence[float]) -> tuple[float, float]:
    """Least-squares line FID = a + c/N through (counts, fids); returns (a, c) = (FID∞, slope)."""
    n = np.asarray(counts, dtype=np.float64)
    y = np.asarray(fids, dtype=np.float64)
    if n.shape != y.shape or len(np.unique(n)) < 2:
        raise GanevalError("FID∞ needs FIDs at two or more different sample counts")
    design = np.stack([np.ones_like(n), 1.0 / n], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(intercept), float(slope)


def fid_infinity(reference, features, *, counts: Sequence[int] | None = None, num_points: int = 15,
                 seed: int = 0) -> FIDInfinityResult:
    """FID∞ of generated ``features`` [N, d] against ``reference``: a fixed (mu, sigma) pair or a
    feature array (then its full-sample moments are used, never subsampled, as in the paper).

    For each size in ``counts`` (default :func:`default_counts`) a fresh random subset without
    replacement (``numpy.random.default_rng(seed).permutation``) gives one FID_N.
    """
    _, mu_ref, sigma_ref = _side(reference, "reference features")
    x = torch.as_tensor(features)
    if x.ndim != 2 or x.shape[0] < 4:
        raise GanevalError(f"FID∞ needs a [N, d] feature array with N ≥ 4, got shape {tuple(x.shape)}")
    counts = default_counts(x.shape[0], num_points) if counts is None else np.asarray(counts, dtype=np.int64)
    if counts.min() < 2 or counts.max() > x.shape[0]:
        raise GanevalError(f"FID∞ subset sizes must lie in [2, {x.shape[0]}], got {counts.min()}..{counts.max()}")
    rng = np.random.default_rng(seed)
    fids = np.empty(len(counts))
    for i, count in enumerate(counts):
        rows = torch.from_numpy(np.sort(rng.permutation(x.shape[0])[:count])).to(x.device)
        mu, sigma = weighted_moments(x[rows])
        fids[i] = frechet_distance(mu, sigma, mu_ref, sigma_ref)
    intercept, slope = extrapolate_to_infinity(counts, fids)
    return FIDInfinityResult(intercept, slope, counts, fids)
