"""CMMD against a direct float64 formula (the reference's full-matrix expression, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.cmmd import cmmd

REL = 1e-10


def _direct(x: np.ndarray, y: np.ndarray, unbiased: bool = False, sigma: float = 10.0) -> float:
    """google-research cmmd/distance.py's formula, in float64 numpy, plus the U-statistic variant."""
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # the distance itself, not the expansion
        return np.exp(-d2 / (2 * sigma**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    if unbiased:
        value = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    else:
        value = kxx.mean() + kyy.mean()
    return 1000 * (value - 2 * kxy.mean())


def _embeddings(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) + shift
    return z / np.linalg.norm(z, axis=1, keepdims=True)  # unit norm, as CLIP embeddings in CMMD


@pytest.mark.parametrize("block", [4096, 7, 1])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_matches_direct_formula(block, estimator):
    x, y = _embeddings(53, 16, 0), _embeddings(41, 16, 1, shift=0.3)
    expected = _direct(x, y, unbiased=estimator == "unbiased")
    got = cmmd(x, y, estimator=estimator, block_size=block)
    assert abs(got - expected) <= REL * abs(expected)


def test_not_normalised_and_wide_spread():
    rng = np.random.default_rng(2)
    x, y = 3 * rng.standard_normal((30, 8)), 3 * rng.standard_normal((25, 8)) + 1
    for estimator in ("biased", "unbiased"):
        expected = _direct(x, y, unbiased=estimator == "unbiased")
        assert abs(cmmd(x, y, estimator=estimator, block_size=8) - expected) <= REL * abs(expected)


def test_float32_inputs_are_computed_in_float64():
    x32, y32 = _embeddings(40, 32, 3).astype(np.float32), _embeddings(40, 32, 4).astype(np.float32)
    expected = _direct(x32.astype(np.float64), y32.astype(np.float64))
    assert abs(cmmd(torch.from_numpy(x32), torch.from_numpy(y32)) - expected) <= REL * abs(expected)


def test_identical_sets_and_estimators():
    x = _embeddings(20, 8, 5)
    assert abs(cmmd(x, x)) < 1e-12  # the V-statistic of a set against itself is 0
    assert cmmd(x, x, estimator="unbiased") < 0  # the U-statistic is not (it drops the diagonals)
    y = _embeddings(20, 8, 6)
    diff = cmmd(x, y) - cmmd(x, y, estimator="unbiased")
    assert 0 < diff < 1000 * (1 / 20 + 1 / 20)


def test_errors():
    with pytest.raises(GanevalError, match="one dimension"):
        cmmd(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(GanevalError, match="at least 2"):
        cmmd(np.zeros((1, 2)), np.zeros((3, 2)), estimator="unbiased")
    with pytest.raises(GanevalError, match="unknown CMMD estimator"):
        cmmd(np.zeros((3, 2)), np.zeros((3, 2)), estimator="v")
