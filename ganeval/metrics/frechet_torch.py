"""Fréchet distance in torch float64, on any device (a GPU when the statistics live there).

The same mathematics as :mod:`ganeval.metrics.frechet` (read its docstring first), with
torch's solvers instead of LAPACK's, so that the whole computation can stay on a GPU:

* each covariance is factored by Cholesky (``torch.linalg.cholesky_ex``), trusted as full
  rank under the same pivot-ratio test as the numpy route;
* a covariance that fails it (rank deficient, e.g. fewer images than dimensions) is factored
  by its eigendecomposition instead of pivoted Cholesky (torch has none): Σ = V Λ Vᵀ,
  F = V_r √Λ_r keeping the eigenvalues above the same rank tolerance d·eps·max variance;
* both full rank: Σ √λ over the eigenvalues of L1ᵀ Σ2 L1 (``torch.linalg.eigvalsh``);
  one rank deficient: of Fᵀ Σ F with Σ the full-rank one; both: Σ of the singular values
  of F1ᵀ F2 (``torch.linalg.svdvals``), so no exact zero of Σ1 Σ2 is ever squared.

Agreement with the numpy route: ≤ 1e-10 relative FID (tests/test_frechet_torch.py, d = 64 to
2048, full-rank and rank-deficient covariances; measured differences are ~1e-13 and below).
The validation (shapes, finiteness, symmetry, positive semidefiniteness) and its one-line
messages are the numpy route's.
"""

from __future__ import annotations

import numpy as np
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.frechet import (_INDEFINITE_RTOL, _MIN_PIVOT_RATIO, _check_covariance_shape, _check_finite,
                                     _check_matching, _check_mean_shape, _check_same_dimension, _check_symmetric,
                                     _raise_not_psd, _real_array)

__all__ = ["frechet_distance_torch", "trace_sqrt_product_torch", "fd_device"]

_EPS = float(np.finfo(np.float64).eps)


def fd_device(*values, device=None) -> torch.device:
    """``device`` if given; else the device of the first tensor among ``values`` (so statistics
    kept on a GPU stay there); else the CPU."""
    if device is not None:
        return torch.device(device)
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


def frechet_distance_torch(mu1, sigma1, mu2, sigma2, *, device=None) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64 on ``device``.

    Inputs as for ``ganeval.metrics.frechet.frechet_distance`` (numpy, torch on any device,
    nested lists); ``device`` defaults to :func:`fd_device`. Returns a Python float ≥ 0.
    """
    device = fd_device(mu1, sigma1, mu2, sigma2, device=device)
    mu1, mu2 = _checked_mean(mu1, "mu1", device), _checked_mean(mu2, "mu2", device)
    sigma1, sigma2 = _checked_covariance(sigma1, "sigma1", device), _checked_covariance(sigma2, "sigma2", device)
    _check_matching(mu1, sigma1, mu2, sigma2)
    cross, _ = _trace_sqrt_product(sigma1, sigma2)
    total = (mu1 - mu2).square().sum() + sigma1.diagonal().sum() + sigma2.diagonal().sum() - 2.0 * cross
    return max(float(total), 0.0)


def trace_sqrt_product_torch(sigma1, sigma2, *, device=None) -> tuple[float, str]:
    """(tr √(sigma1·sigma2), route name) in float64 on ``device``; route one of "zero",
    "full-rank", "one-rank-deficient", "both-rank-deficient" (as the numpy route names them)."""
    device = fd_device(sigma1, sigma2, device=device)
    sigma1 = _checked_covariance(sigma1, "sigma1", device)
    sigma2 = _checked_covariance(sigma2, "sigma2", device)
    _check_same_dimension(sigma1, sigma2)
    value, route = _trace_sqrt_product(sigma1, sigma2)
    return float(value), route


def _trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, str]:
    factor1, full1 = _factor(sigma1, "sigma1")
    factor2, full2 = _factor(sigma2, "sigma2")
    zero = sigma1.new_zeros(())
    if factor1.shape[1] == 0 or factor2.shape[1] == 0:
        return zero, "zero"
    if full1 and full2:
        return _sum_sqrt_eigenvalues(factor1, sigma2), "full-rank"
    if full1:
        return _sum_sqrt_eigenvalues(factor2, sigma1), "one-rank-deficient"
    if full2:
        return _sum_sqrt_eigenvalues(factor1, sigma2), "one-rank-deficient"
    return torch.linalg.svdvals(factor1.T @ factor2).sum(), "both-rank-deficient"


def _sum_sqrt_eigenvalues(factor: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Σ √λ over the eigenvalues λ ≥ 0 of Fᵀ Σ F (F [d, r], Σ [d, d] symmetric)."""
    congruence = factor.T @ (sigma @ factor)
    congruence = (congruence + congruence.T) * 0.5
    return torch.linalg.eigvalsh(congruence).clamp_(min=0.0).sqrt_().sum()


def _factor(sigma: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """(F [d, r] with Σ = F Fᵀ, full rank?) for a validated symmetric float64 covariance."""
    d = sigma.shape[0]
    diagonal = sigma.diagonal()
    low, high, largest = (float(v) for v in torch.stack([diagonal.min(), diagonal.max(), diagonal.abs().max()]))
    if low < -_INDEFINITE_RTOL * largest:
        raise GanevalError(f"{name} has negative variances on its diagonal; it is not a covariance matrix")
    if high <= 0.0:
        if float(sigma.abs().max()) > 0.0:
            _raise_not_psd(name)
        return sigma.new_zeros((d, 0)), False

    lower, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        ratio = float((lower.diagonal().square() / diagonal).min())
        if ratio >= _MIN_PIVOT_RATIO:
            return lower, True

    eigenvalues, vectors = torch.linalg.eigh(sigma)
    if float(eigenvalues[0]) < -_INDEFINITE_RTOL * float(torch.linalg.matrix_norm(sigma)):
        _raise_not_psd(name)
    keep = eigenvalues > d * _EPS * high
    rank = int(keep.sum())
    if rank == d:
        # Passed as full rank by the eigenvalues although Cholesky's pivots looked doubtful:
        # still a valid factor, and F has no null space to remove.
        return vectors * eigenvalues.clamp(min=0.0).sqrt(), True
    return vectors[:, keep] * eigenvalues[keep].sqrt(), False


def _as_float64(value, name: str, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise GanevalError(f"{name} is complex; expected real statistics")
        tensor = value.detach()
    else:
        array = _real_array(value, name)
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise GanevalError(f"{name} has dtype {tensor.dtype}; expected real numbers")
    return tensor.to(device=device, dtype=torch.float64)


def _checked_mean(mu, name: str, device: torch.device) -> torch.Tensor:
    mu = _as_float64(mu, name, device)
    _check_mean_shape(tuple(mu.shape), name)
    _check_finite(bool(torch.isfinite(mu).all()), name)
    return mu


def _checked_covariance(sigma, name: str, device: torch.device) -> torch.Tensor:
    sigma = _as_float64(sigma, name, device)
    _check_covariance_shape(tuple(sigma.shape), name)
    _check_finite(bool(torch.isfinite(sigma).all()), name)
    symmetric = (sigma + sigma.T) * 0.5
    asymmetry, scale = (float(v) for v in torch.stack([2.0 * (sigma - symmetric).abs().max(), sigma.abs().max()]))
    _check_symmetric(asymmetry, scale, name)
    return symmetric
