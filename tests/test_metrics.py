"""KID, PRDC, Inception Score, bootstrap FID and FID∞ against slow direct formulas written
plainly here, and against the properties the papers state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.special import softmax

from ganeval.core.errors import GanevalError
from ganeval.metrics.bootstrap import (bootstrap_fid, default_counts, extrapolate_to_infinity, fid_infinity,
                                       weighted_moments)
from ganeval.metrics.frechet import frechet_distance
from ganeval.metrics.inception_score import inception_score, split_scores
from ganeval.metrics.kid import kid, mmd2_unbiased
from ganeval.metrics.prdc import kth_neighbour_radii, prdc


def gaussian(n, d, seed, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).normal(shift, scale, (n, d))


# ---------------------------------------------------------------- KID


def slow_mmd2(x, y):
    """Unbiased MMD² by explicit double loops over pairs."""
    d = len(x[0])

    def k(u, v):
        return (sum(ui * vi for ui, vi in zip(u, v)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_double_loop():
    x, y = gaussian(12, 5, 0), gaussian(9, 5, 1, shift=0.3)
    expected = slow_mmd2(x.tolist(), y.tolist())
    assert mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_kid_subsets_match_direct_loop():
    a, b = gaussian(40, 6, 2), gaussian(30, 6, 3, shift=0.5)
    result = kid(a, b, num_subsets=7, subset_size=20, seed=5)
    rng = np.random.default_rng(5)
    values = []
    for _ in range(7):
        ia = rng.choice(40, 20, replace=False)
        ib = rng.choice(30, 20, replace=False)
        values.append(slow_mmd2(a[ia].tolist(), b[ib].tolist()))
    assert result.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert result.std == pytest.approx(np.std(values), rel=1e-10)
    assert result.subset_size == 20
    # Subset size shrinks to the smaller side; the result is seeded.
    assert kid(a, b, num_subsets=3, subset_size=1000).subset_size == 30
    assert kid(a, b, num_subsets=3, seed=1) == kid(a, b, num_subsets=3, seed=1)


def test_kid_is_unbiased_for_one_distribution():
    """Mean of many independent MMD²_u estimates of one distribution is within 3 standard errors of 0;
    the biased estimate (diagonal kept) on the same draws is not."""
    rng = np.random.default_rng(7)
    unbiased, biased = [], []
    d, m = 8, 40
    for _ in range(300):
        x, y = rng.normal(size=(m, d)), rng.normal(size=(m, d))
        unbiased.append(mmd2_unbiased(x, y))
        kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    mean, stderr = np.mean(unbiased), np.std(unbiased, ddof=1) / math.sqrt(len(unbiased))
    assert abs(mean) < 3 * stderr, (mean, stderr)
    assert np.mean(biased) > 10 * stderr
    # A real difference is detected far outside that noise.
    shifted = kid(gaussian(200, d, 8), gaussian(200, d, 9, shift=0.5), num_subsets=20, subset_size=100)
    assert shifted.mean > 20 * stderr


# ---------------------------------------------------------------- precision / recall / density / coverage


def slow_prdc(real, fake, k_pr=3, k_dc=5):
    """The four metrics from full scipy distance matrices, written as the papers define them (open balls:
    strictly closer than the radius, as the prdc package and dgm-eval compare)."""
    rr, ff, fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    radius_real = {k: np.sort(rr, axis=1)[:, k] for k in (k_pr, k_dc)}
    radius_fake = np.sort(ff, axis=1)[:, k_pr]
    precision = np.mean([any(fr[j, i] < radius_real[k_pr][i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(fr[j, i] < radius_fake[j] for j in range(len(fake))) for i in range(len(real))])
    density = sum(fr[j, i] < radius_real[k_dc][i] for j in range(len(fake)) for i in range(len(real)))
    density /= k_dc * len(fake)
    coverage = np.mean([any(fr[j, i] < radius_real[k_dc][i] for j in range(len(fake))) for i in range(len(real))])
    return precision, recall, density, coverage


@pytest.mark.parametrize("block_rows", [None, 1, 7, 64, 1000])
def test_prdc_in_blocks_equals_full_matrix_reference(block_rows):
    real, fake = gaussian(120, 10, 10), gaussian(90, 10, 11, shift=0.4, scale=1.3)
    result = prdc(real, fake, block_rows=block_rows)
    expected = slow_prdc(real, fake)
    assert (result.precision, result.recall, result.density, result.coverage) == pytest.approx(expected, abs=1e-15)
    assert 0 < result.precision < 1 and 0 < result.recall < 1 and 0 < result.coverage < 1


def test_kth_neighbour_radii_equal_sorted_distances():
    x = gaussian(50, 4, 12)
    radii = kth_neighbour_radii(x, (1, 3), block_rows=9)
    full = np.sort(cdist(x, x), axis=1)
    for k in (1, 3):
        np.testing.assert_allclose(radii[k].numpy(), full[:, k], rtol=1e-12, atol=1e-12)


def test_identical_sets_have_full_precision_recall_coverage():
    x = gaussian(200, 16, 13)
    result = prdc(x, x.copy(), block_rows=33)
    assert result.precision == 1.0 and result.recall == 1.0 and result.coverage == 1.0
    # Each real ball holds its centre and, up to rounding on the boundary, k − 1 or k neighbours.
    assert 1.0 <= result.density <= (result.k_dc + 1) / result.k_dc


def test_density_and_coverage_expectations_for_one_distribution():
    """Naeem et al.: E[density] = 1 and E[coverage] = 1 − Π_{i=1..k} (N − i)/(N + M − i) for one distribution."""
    densities, coverages = [], []
    n = m = 500
    k = 5
    for seed in range(6):
        result = prdc(gaussian(n, 8, 100 + seed), gaussian(m, 8, 200 + seed))
        densities.append(result.density)
        coverages.append(result.coverage)
    expected_coverage = 1 - np.prod([(n - i) / (n + m - i) for i in range(1, k + 1)])
    assert np.mean(densities) == pytest.approx(1.0, abs=0.05)
    assert np.mean(coverages) == pytest.approx(expected_coverage, abs=0.01)
    # A generator that drops one of two equal modes keeps precision but halves recall and coverage.
    real = np.concatenate([gaussian(200, 8, 14, shift=-6.0), gaussian(200, 8, 15, shift=6.0)])
    dropped = prdc(real, gaussian(200, 8, 16, shift=6.0))
    assert dropped.precision > 0.75 and dropped.density > 0.8
    assert 0.4 < dropped.recall <= 0.5 and 0.4 < dropped.coverage <= 0.5


def test_prdc_rejects_bad_input():
    with pytest.raises(GanevalError, match="dimension"):
        prdc(gaussian(10, 3, 0), gaussian(10, 4, 0))
    with pytest.raises(GanevalError, match="k-th nearest"):
        prdc(gaussian(5, 3, 0), gaussian(10, 3, 0))


# ---------------------------------------------------------------- Inception Score


def slow_inception_score(logits, splits):
    scores = []
    n = len(logits)
    for s in range(splits):
        part = logits[s * n // splits:(s + 1) * n // splits]
        probs = [softmax(row) for row in part]
        marginal = [sum(p[c] for p in probs) / len(probs) for c in range(len(probs[0]))]
        kls = [sum(p[c] * math.log(p[c] / marginal[c]) for c in range(len(p)) if p[c] > 0) for p in probs]
        scores.append(math.exp(sum(kls) / len(kls)))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_matches_direct_formula():
    logits = gaussian(53, 12, 20, scale=3.0)
    result = inception_score(logits, splits=4)
    mean, std = slow_inception_score(logits, 4)
    assert result.mean == pytest.approx(mean, rel=1e-12)
    assert result.std == pytest.approx(std, rel=1e-9)


def test_inception_score_known_values():
    constant = np.tile(gaussian(1, 1008, 21), (40, 1))
    assert inception_score(constant, splits=4).mean == pytest.approx(1.0, abs=1e-12)
    classes = 16
    one_hot = np.full((classes * 10, classes), -1000.0)
    one_hot[np.arange(classes * 10), np.arange(classes * 10) % classes] = 1000.0
    result = inception_score(one_hot, splits=10)
    assert result.mean == pytest.approx(classes, rel=1e-12) and result.std < 1e-9
    np.testing.assert_allclose(split_scores(one_hot, 10), classes, rtol=1e-12)
    with pytest.raises(GanevalError, match="at least 10 images"):
        inception_score(one_hot[:5], splits=10)


# ---------------------------------------------------------------- bootstrap FID


def test_weighted_moments_equal_numpy_on_repeated_rows():
    x = gaussian(30, 5, 30).astype(np.float32)
    counts = np.bincount(np.random.default_rng(0).integers(0, 30, 30), minlength=30)
    mu, sigma = weighted_moments(x, counts)
    repeated = np.repeat(x.astype(np.float64), counts, axis=0)
    np.testing.assert_allclose(mu, repeated.mean(axis=0), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(repeated, rowvar=False), rtol=1e-12, atol=1e-13)


def test_bootstrap_samples_equal_direct_resampling():
    a, b = gaussian(60, 4, 31), gaussian(50, 4, 32, shift=0.3)
    result = bootstrap_fid(a, b, num_resamples=20, seed=3)
    rng = np.random.default_rng(3)
    direct = []
    for _ in range(20):
        ra, rb = a[rng.integers(0, 60, 60)], b[rng.integers(0, 50, 50)]
        direct.append(frechet_distance(ra.mean(0), np.cov(ra, rowvar=False), rb.mean(0), np.cov(rb, rowvar=False)))
    np.testing.assert_allclose(result.samples, direct, rtol=1e-10)
    assert result.fid == pytest.approx(frechet_distance(a.mean(0), np.cov(a, rowvar=False),
                                                        b.mean(0), np.cov(b, rowvar=False)), rel=1e-12)


def test_bootstrap_interval_contains_estimate_and_matches_true_spread():
    """The bootstrap std of FID agrees with the spread of FID over fresh samples (within 35%),
    and the interval holds the point estimate."""
    d, n = 6, 400
    truth = [frechet_distance(*weighted_moments(gaussian(n, d, 1000 + s)),
                              *weighted_moments(gaussian(n, d, 2000 + s, shift=0.2)))
             for s in range(200)]
    a, b = gaussian(n, d, 40), gaussian(n, d, 41, shift=0.2)
    result = bootstrap_fid(a, b, num_resamples=300, seed=1)
    assert result.low <= result.fid <= result.high
    assert result.std == pytest.approx(np.std(truth, ddof=1), rel=0.35), (result.std, np.std(truth, ddof=1))
    assert result.high - result.low == pytest.approx(2 * 1.96 * np.std(truth, ddof=1), rel=0.4)
    # A fixed (mu, sigma) side is not resampled; the interval is narrower.
    fixed = bootstrap_fid(a, (np.full(d, 0.2), np.eye(d)), num_resamples=100)
    assert fixed.low <= fixed.fid <= fixed.high


# ---------------------------------------------------------------- FID∞


def test_extrapolation_recovers_exact_line():
    counts = default_counts(50000)
    assert counts[0] == 5000 and counts[-1] == 50000 and len(counts) == 15
    fids = 3.25 + 1234.5 / counts
    intercept, slope = extrapolate_to_infinity(counts, fids)
    assert intercept == pytest.approx(3.25, rel=1e-12) and slope == pytest.approx(1234.5, rel=1e-10)


def test_fid_infinity_removes_small_sample_bias():
    """Generated = reference distribution (true FID 0); FID_N ≈ c/N with c ≈ d + d(d+1)/4 > 0.
    FID∞ lands near 0, well below the biased FID at the largest N."""
    d = 32
    features = gaussian(20000, d, 50)
    result = fid_infinity((np.zeros(d), np.eye(d)), features, num_points=8, seed=2)
    assert result.fids[-1] > 0
    assert abs(result.fid_inf) < result.fids[-1] / 4, (result.fid_inf, result.fids)
    assert result.slope == pytest.approx(d + d * (d + 1) / 4, rel=0.25)
    # Each FID_N equals a direct computation on the same subset.
    rng = np.random.default_rng(2)
    rows = np.sort(rng.permutation(20000)[:result.counts[0]])
    direct = frechet_distance(features[rows].mean(0), np.cov(features[rows], rowvar=False), np.zeros(d), np.eye(d))
    assert result.fids[0] == pytest.approx(direct, rel=1e-10)
