"""Checks of imported (mu, sigma) statistics shared by ``import-stats`` (:mod:`ganeval.io.interchange`)
and the published reference files (:mod:`ganeval.io.reference_files`)."""

from __future__ import annotations

import numpy as np

from ganeval.core.errors import GanevalError

__all__ = ["finite_symmetric_sigma"]


def finite_symmetric_sigma(mu: np.ndarray, sigma: np.ndarray, where: str, nan_tail: str = "") -> np.ndarray:
    """``sigma`` made exactly symmetric, after checking that ``mu`` and ``sigma`` (float64) are finite
    and that ``sigma`` is symmetric up to rounding (relative 1e-6). Messages start with ``where``
    (e.g. ``"<path>: "``); ``nan_tail`` ends the NaN/infinity message."""
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise GanevalError(f"{where}mu or sigma contains NaN or infinity{nan_tail}")
    if not np.array_equal(sigma, sigma.T):
        asymmetry = np.abs(sigma - sigma.T).max() / max(np.abs(sigma).max(), 1e-300)
        if asymmetry > 1e-6:
            raise GanevalError(f"{where}sigma is not symmetric (relative asymmetry {asymmetry:.1e}); "
                               "not a covariance matrix")
        sigma = (sigma + sigma.T) / 2
    return sigma
