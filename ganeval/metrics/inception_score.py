"""Inception Score (Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016).

With p(y|x) the softmax over the network's 1008 logits and p(y) its mean over a split,

    IS = exp( mean_x KL( p(y|x) ‖ p(y) ) ),

computed on ``splits`` consecutive parts of the images (rows i·N//splits to (i+1)·N//splits,
10 parts by default, as the original code), reporting the mean and the standard deviation
(ddof = 0) of the per-split scores. IS lies in [1, number of classes]: 1 when every image gets the same
prediction, the number of classes when predictions are confident and classes balanced.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import log_softmax

from ganeval.core.errors import GanevalError

__all__ = ["ISResult", "inception_score", "split_scores"]


class ISResult(NamedTuple):
    mean: float
    std: float
    splits: int


def split_scores(logits, splits: int = 10) -> np.ndarray:
    """Per-split Inception Scores, float64 [splits], from logits [N, C] (N ≥ splits)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise GanevalError(f"Inception Score needs logits of shape [N, classes], got {z.shape}")
    if not 1 <= splits <= z.shape[0]:
        raise GanevalError(f"Inception Score with {splits} splits needs at least {splits} images, got {z.shape[0]}")
    if not np.all(np.isfinite(z)):
        raise GanevalError("Inception Score: logits contain NaN or infinity")
    log_p = log_softmax(z, axis=1)
    scores = np.empty(splits)
    n = log_p.shape[0]
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]  # the original code's split bounds
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0))
        # 0 · log 0 = 0: classes no image of the split predicts contribute nothing.
        terms = np.where(p > 0, p * (part - log_marginal), 0.0)
        scores[i] = np.exp(terms.sum(axis=1).mean())
    return scores


def inception_score(logits, splits: int = 10) -> ISResult:
    """Inception Score (mean, std over splits) of logits [N, C] (float; softmax taken here)."""
    scores = split_scores(logits, splits)
    return ISResult(float(scores.mean()), float(scores.std()), splits)
