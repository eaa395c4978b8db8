"""The torch float64 Fréchet route (ganeval.metrics.frechet_torch) against the exact numpy route
and the classic scipy.linalg.sqrtm formula, on the CPU (the same code runs on a GPU; the GPU
script benchmarks/gpu_pipeline.py checks it there to 1e-10 and times it at d = 2048)."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.frechet import _trace_sqrt_product_with_route, frechet_distance
from ganeval.metrics.frechet_torch import fd_device, frechet_distance_torch, trace_sqrt_product_torch

AGREEMENT = 1e-10  # relative FID, torch route vs numpy route (the bound for the GPU route)


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Pool3-like float64 features [n, d]: non-negative, correlated, decaying spectrum."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) * (1.0 + np.arange(d)) ** -0.5 / np.sqrt(d)
    return np.maximum(rng.standard_normal((n, d)) @ mix + 0.3 + shift, 0.0)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


def _sqrtm_fd(mu1, sigma1, mu2, sigma2) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def _full_rank(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean [d], covariance [d, d]): a rank-256 correlated part plus a decaying diagonal, full
    rank with condition number ~1e4 (a sample covariance of > d images costs n·d² to form)."""
    rng = np.random.default_rng(seed)
    loadings = rng.standard_normal((d, min(d, 256))) / 16
    return rng.standard_normal(d) * 0.1, loadings @ loadings.T + np.diag(np.linspace(0.5, 0.005, d) ** 2)


@pytest.mark.parametrize("d", [64, 256, 512, 2048])
def test_full_rank_matches_numpy_route_and_sqrtm(d):
    mu1, sigma1 = _full_rank(d, seed=d)
    mu2, sigma2 = _full_rank(d, seed=d + 1)
    exact = frechet_distance(mu1, sigma1, mu2, sigma2)
    ours = frechet_distance_torch(mu1, sigma1, mu2, sigma2)
    assert _trace_sqrt_product_with_route(sigma1, sigma2)[1] == "full-rank"
    assert trace_sqrt_product_torch(sigma1, sigma2)[1] == "full-rank"
    assert _rel(ours, exact) <= AGREEMENT  # measured ≤ 2e-16
    if d <= 512:  # sqrtm at d = 2048 took 160 s on this project's two shared cores
        # sqrtm is not a symmetric solver and is less accurate; it still agrees far below FID noise
        assert _rel(ours, _sqrtm_fd(mu1, sigma1, mu2, sigma2)) <= 1e-8


def test_sample_covariances_full_rank():
    """Covariances of n = 2d + 50 pool3-like samples (full rank, as for real FIDs)."""
    d, n = 256, 562
    mu1, sigma1 = _moments(_features(n, d, seed=11))
    mu2, sigma2 = _moments(_features(n, d, seed=12, shift=0.02))
    assert _rel(frechet_distance_torch(mu1, sigma1, mu2, sigma2), frechet_distance(mu1, sigma1, mu2, sigma2)) <= AGREEMENT
    assert _rel(frechet_distance_torch(mu1, sigma1, mu2, sigma2), _sqrtm_fd(mu1, sigma1, mu2, sigma2)) <= 1e-8


@pytest.mark.parametrize("d, n1, n2", [(64, 40, 500), (256, 100, 60), (512, 300, 2000)])
def test_rank_deficient_matches_numpy_route(d, n1, n2):
    """Fewer images than dimensions on one or both sides: the eigen-factor route."""
    mu1, sigma1 = _moments(_features(n1, d, seed=1))
    mu2, sigma2 = _moments(_features(n2, d, seed=2, shift=0.05))
    exact = frechet_distance(mu1, sigma1, mu2, sigma2)
    ours = frechet_distance_torch(mu1, sigma1, mu2, sigma2)
    assert trace_sqrt_product_torch(sigma1, sigma2)[1] == _trace_sqrt_product_with_route(sigma1, sigma2)[1]
    assert _rel(ours, exact) <= AGREEMENT


def test_cross_gram_reference_both_rank_deficient():
    """tr √(Σ1Σ2) for n < d on both sides equals the nuclear norm of the centred cross-Gram matrix."""
    x1, x2 = _features(30, 128, seed=5), _features(45, 128, seed=6)
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    reference = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(29 * 44)
    value, route = trace_sqrt_product_torch(np.cov(x1, rowvar=False), np.cov(x2, rowvar=False))
    assert route == "both-rank-deficient"
    assert _rel(value, reference) <= 1e-12


def test_inputs_as_tensors_float32_and_lists_and_identical():
    mu, sigma = _moments(_features(200, 32, seed=3))
    as_tensor = frechet_distance_torch(torch.tensor(mu), torch.tensor(sigma), mu.tolist(), sigma.tolist())
    assert as_tensor == pytest.approx(0.0, abs=1e-12 * np.trace(sigma))
    assert fd_device(torch.zeros(1)) == torch.device("cpu") and fd_device([1.0]) == torch.device("cpu")
    mu2, sigma2 = _moments(_features(200, 32, seed=4))
    single = frechet_distance_torch(mu.astype(np.float32), sigma.astype(np.float32), mu2, sigma2)
    assert _rel(single, frechet_distance(mu.astype(np.float32), sigma.astype(np.float32), mu2, sigma2)) <= AGREEMENT


def test_zero_covariance_and_validation_messages():
    d = 8
    assert trace_sqrt_product_torch(np.zeros((d, d)), np.eye(d))[1] == "zero"
    mu = np.zeros(d)
    with pytest.raises(GanevalError, match="not symmetric"):
        frechet_distance_torch(mu, np.triu(np.ones((d, d))), mu, np.eye(d))
    with pytest.raises(GanevalError, match="NaN or infinite"):
        frechet_distance_torch(mu, np.full((d, d), np.nan), mu, np.eye(d))
    with pytest.raises(GanevalError, match="not positive semidefinite"):
        frechet_distance_torch(mu, np.eye(d) - 2 * np.ones((d, d)) / d * 3, mu, np.eye(d))
    with pytest.raises(GanevalError, match="different dimensions"):
        frechet_distance_torch(mu, np.eye(d), np.zeros(d + 1), np.eye(d + 1))
    with pytest.raises(GanevalError, match="mu1 has length"):
        frechet_distance_torch(np.zeros(d + 1), np.eye(d), mu, np.eye(d))
    with pytest.raises(GanevalError, match="complex"):
        frechet_distance_torch(mu, torch.eye(d, dtype=torch.complex128), mu, np.eye(d))
