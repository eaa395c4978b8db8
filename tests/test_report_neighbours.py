"""The memorisation check's math against direct numpy formulas on the full distance matrix."""

from __future__ import annotations

import numpy as np
import pytest

from ganeval.core.errors import GanevalError
from ganeval.report.neighbours import memorisation_check, nearest_neighbours


def full_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """‖a_i − b_k‖ by broadcasting the differences (no expansion of the square)."""
    return np.sqrt(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(axis=2))


@pytest.fixture
def features():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(40, 16)).astype(np.float32) + 5.0  # a common offset, as pool3 features have
    generated = rng.normal(size=(30, 16)).astype(np.float32) + 5.0
    generated[:4] = real[[7, 3, 3, 20]]  # copies
    generated[4] = real[11] + 1e-3  # a near copy
    return real, generated


def test_nearest_neighbours_match_full_matrix(features):
    real, generated = features
    dist = full_distances(generated, real)
    d, idx = nearest_neighbours(generated, real, block_rows=7)
    np.testing.assert_allclose(d, dist.min(axis=1), rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(idx[5:], dist.argmin(axis=1)[5:])
    np.testing.assert_array_equal(idx[:5], [7, 3, 3, 20, 11])


def test_self_neighbours_exclude_the_row_itself(features):
    real, _ = features
    dist = full_distances(real, real)
    np.fill_diagonal(dist, np.inf)
    d, idx = nearest_neighbours(real, real, exclude_self=True, block_rows=9)
    np.testing.assert_allclose(d, dist.min(axis=1), rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(idx, dist.argmin(axis=1))
    assert (idx != np.arange(len(real))).all()


def test_memorisation_fraction_is_the_documented_formula(features):
    real, generated = features
    check = memorisation_check(real, generated)
    g_to_r = full_distances(generated, real)
    r_to_r = full_distances(real, real)
    np.fill_diagonal(r_to_r, np.inf)
    rho = r_to_r.min(axis=1)                                  # ρ(r_i)
    d, n = g_to_r.min(axis=1), g_to_r.argmin(axis=1)          # d_j, n(j)
    expected = np.mean(d < rho[n])                            # (1/M) #{j : d_j < ρ(r_n(j))}
    expected_median = np.mean(d < np.median(rho))             # (1/M) #{j : d_j < median ρ}
    assert check.fraction == pytest.approx(expected, abs=0)
    assert check.fraction_below_median == pytest.approx(expected_median, abs=0)
    assert check.closer[:5].all()                             # the copies and the near copy count
    np.testing.assert_allclose(check.ratio, d / rho[n], rtol=1e-9, atol=1e-6)
    assert list(check.closest(5)) == [0, 1, 2, 3, 4]
    assert list(check.farthest(3)) == list(np.argsort(-d)[:3])
    assert 5 / 30 <= check.fraction < 1
    summary = check.summary()
    assert summary["count_real"] == 40 and summary["count_generated"] == 30


def test_duplicated_real_image_has_zero_radius():
    real = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    generated = np.array([[0.0, 0.0], [3.0, 0.5], [10.0, 10.0]])
    check = memorisation_check(real, generated)
    np.testing.assert_allclose(check.real_nn_distance, [0, 0, 3, 4])
    # A copy of a duplicated real image is not closer than 0; the others compare with 3 and 4-ish.
    assert check.closer.tolist() == [False, True, False]
    assert check.ratio[0] == 0.0


def test_bad_shapes_are_refused():
    with pytest.raises(GanevalError, match="at least 2 real"):
        memorisation_check(np.zeros((1, 4)), np.zeros((3, 4)))
    with pytest.raises(GanevalError, match="-d features"):
        nearest_neighbours(np.zeros((2, 4)), np.zeros((3, 5)))


def test_pairs_are_ranked_by_the_memorisation_score_not_the_distance():
    # Real points: a tight pair near the origin (ρ = 0.1) and a loose pair far away (ρ = 10).
    real = np.array([[0.0, 0.0], [0.1, 0.0], [100.0, 0.0], [110.0, 0.0]])
    # g0 is nearest in distance (0.05 from r0, ratio 0.5); g1 is farther (2.0 from r2) but its ratio is 0.2;
    # g2 is a copy (ratio 0), g3 ties g1's ratio at a larger distance.
    generated = np.array([[0.0, 0.05], [100.0, 2.0], [110.0, 0.0], [100.0, -2.0 - 1e-9]])
    check = memorisation_check(real, generated)
    np.testing.assert_allclose(check.ratio, [0.5, 0.2, 0.0, 0.2], rtol=1e-6)
    assert list(check.closest(4)) == [2, 0, 1, 3]          # by distance
    assert list(check.most_like_copies(4)) == [2, 1, 3, 0]  # by d/ρ, ties by distance
