"""Tests for ganeval.metrics.frechet: accuracy against independent references, routes, validation.

References used:
* scipy.linalg.sqrtm of Σ1Σ2 (the classic pytorch-fid formula) on well-conditioned inputs;
* closed form Σ √(a_i b_i) for commuting Σ1 = Q diag(a) Qᵀ, Σ2 = Q diag(b) Qᵀ;
* for covariances of samples X1 [n1, d], X2 [n2, d]: tr √(Σ1Σ2) equals the nuclear norm
  of the centred cross-Gram X1c X2cᵀ divided by √((n1−1)(n2−1)), computed by an SVD
  that never forms a d×d matrix (so it is exact for n < d, where Σ is singular).
"""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.frechet import _trace_sqrt_product_with_route, frechet_distance, trace_sqrt_product


def _samples(n: int, d: int, seed: int, decay: float = 1.0) -> np.ndarray:
    """float64 [n, d] Gaussian samples whose covariance spectrum decays like k^-decay, randomly rotated."""
    rng = np.random.default_rng(seed)
    scales = (1.0 + np.arange(d)) ** (-decay / 2)
    rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (rng.standard_normal((n, d)) * scales) @ rotation.T + rng.standard_normal(d)


def _cov(x: np.ndarray) -> np.ndarray:
    return np.cov(x, rowvar=False)


def _cross_gram_reference(x1: np.ndarray, x2: np.ndarray) -> float:
    """tr √(cov(x1)·cov(x2)) from the singular values of the centred [n1, n2] cross-Gram matrix."""
    centred1, centred2 = x1 - x1.mean(0), x2 - x2.mean(0)
    nuclear_norm = np.linalg.svd(centred1 @ centred2.T, compute_uv=False).sum()
    return float(nuclear_norm / np.sqrt((len(x1) - 1) * (len(x2) - 1)))


def _sqrtm_fd(mu1, sigma1, mu2, sigma2) -> float:
    """The classic FID formula with scipy.linalg.sqrtm, as in pytorch-fid."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _random_orthogonal(d: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


def _route(sigma1, sigma2) -> str:
    return _trace_sqrt_product_with_route(np.asarray(sigma1, float), np.asarray(sigma2, float))[1]


# ---------------------------------------------------------------------------------------------
# Accuracy


@pytest.mark.parametrize("d", [64, 256])
def test_matches_sqrtm_formula_on_well_conditioned_inputs(d):
    rng = np.random.default_rng(d)
    n = 3 * d
    a1, a2 = rng.standard_normal((d, n)), rng.standard_normal((d, n))
    sigma1 = a1 @ a1.T / n + 0.01 * np.eye(d)
    sigma2 = a2 @ a2.T / n + 0.01 * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)

    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    reference = _sqrtm_fd(mu1, sigma1, mu2, sigma2)

    assert _route(sigma1, sigma2) == "full-rank"
    # measured ~1e-15
    assert abs(ours - reference) <= 1e-8 * reference


COMMUTING_CASES = {
    # name: (eigenvalues a, eigenvalues b) as functions of d
    "full rank": (lambda d: np.linspace(0.1, 3.0, d), lambda d: np.linspace(2.0, 0.01, d)),
    "decaying spectra": (lambda d: 1.0 / (1 + np.arange(d)) ** 2, lambda d: 1.0 / (1 + np.arange(d))),
    "a rank deficient": (
        lambda d: np.r_[np.linspace(1, 2, d // 3), np.zeros(d - d // 3)],
        lambda d: np.linspace(0.5, 1.5, d),
    ),
    "b rank deficient": (
        lambda d: np.linspace(0.5, 1.5, d),
        lambda d: np.r_[np.zeros(d - d // 5), np.linspace(1, 2, d // 5)],
    ),
    "both, overlapping ranges": (
        lambda d: np.r_[np.linspace(1, 2, d // 2), np.zeros(d - d // 2)],
        lambda d: np.r_[np.zeros(d // 4), np.linspace(3, 1, d // 2), np.zeros(d - d // 4 - d // 2)],
    ),
    "both, one range inside the other": (
        lambda d: np.r_[np.linspace(1, 2, d // 2), np.zeros(d - d // 2)],
        lambda d: np.r_[np.linspace(1, 2, d // 8), np.zeros(d - d // 8)],
    ),
    "both, like n < d samples": (
        lambda d: np.r_[1.0 / (1 + np.arange(d // 4)), np.zeros(d - d // 4)],
        lambda d: np.r_[np.zeros(d // 8), 1.0 / (1 + np.arange(d // 3)), np.zeros(d - d // 8 - d // 3)],
    ),
}


@pytest.mark.parametrize("d", [64, 256])
@pytest.mark.parametrize("case", sorted(COMMUTING_CASES))
def test_closed_form_on_commuting_covariances(case, d):
    eig_a, eig_b = (make(d) for make in COMMUTING_CASES[case])
    q = _random_orthogonal(d, seed=d)
    sigma1 = (q * eig_a) @ q.T
    sigma2 = (q * eig_b) @ q.T
    expected = np.sum(np.sqrt(eig_a * eig_b))

    ours = trace_sqrt_product(sigma1, sigma2)

    # Relative tolerance 1e-9 (measured ≤ 4e-15). The √(rounding noise) of exact zeros alone would be ~1e-8.
    assert abs(ours - expected) <= 1e-9 * expected
    assert abs(trace_sqrt_product(sigma2, sigma1) - expected) <= 1e-9 * expected


def test_disjoint_ranges_give_zero_cross_term():
    d = 128
    q = _random_orthogonal(d, seed=3)
    sigma1 = (q * np.r_[np.ones(d // 2), np.zeros(d // 2)]) @ q.T
    sigma2 = (q * np.r_[np.zeros(d // 2), np.ones(d // 2)]) @ q.T
    assert _route(sigma1, sigma2) == "both-rank-deficient"
    # An eigenvalue route would give ~d/2·√eps ≈ 1e-6 here.
    assert trace_sqrt_product(sigma1, sigma2) <= 1e-12


# (n1, n2, d): sample counts below, at and above the dimension
SAMPLE_CASES = [
    (50, 1000, 128),
    (1000, 50, 128),
    (50, 80, 128),
    (127, 400, 128),
    (128, 128, 128),
    (129, 400, 128),
    (64, 700, 256),
    (200, 150, 256),
]


@pytest.mark.parametrize("decay", [0.0, 2.0])
@pytest.mark.parametrize("n1, n2, d", SAMPLE_CASES)
def test_sample_covariances_match_cross_gram_reference(n1, n2, d, decay):
    x1 = _samples(n1, d, seed=n1 + d, decay=decay)
    x2 = _samples(n2, d, seed=n2 + 3 * d, decay=decay)
    sigma1, sigma2 = _cov(x1), _cov(x2)
    reference = _cross_gram_reference(x1, x2)

    ours = trace_sqrt_product(sigma1, sigma2)

    # Tolerance 1e-12 relative (measured ≤ 1e-14); √(noise) on the null space would give ≥ 1e-9.
    assert abs(ours - reference) <= 1e-12 * reference


def test_routes_follow_the_numerical_rank():
    d = 128
    full = _cov(_samples(3 * d, d, seed=1))
    deficient = _cov(_samples(d // 2, d, seed=2))
    assert _route(full, full) == "full-rank"
    assert _route(full, deficient) == "one-rank-deficient"
    assert _route(deficient, full) == "one-rank-deficient"
    assert _route(deficient, deficient) == "both-rank-deficient"
    assert _route(np.zeros((d, d)), full) == "zero"


def test_numerically_singular_covariance_where_plain_cholesky_succeeds():
    # The last feature is a combination of the others plus noise far below rounding level; with this
    # seed an unpivoted Cholesky succeeds on a last pivot ratio of ~3e-16 that is pure rounding noise.
    d = 96
    rng = np.random.default_rng(5)
    base = _samples(400, d - 1, seed=6)
    last = base @ rng.standard_normal(d - 1) + 1e-12 * rng.standard_normal(400)
    x1 = np.column_stack([base, last])
    x2 = _samples(400, d, seed=7)
    sigma1, sigma2 = _cov(x1), _cov(x2)
    assert scipy.linalg.lapack.dpotrf(sigma1, lower=1)[1] == 0  # plain Cholesky does not notice

    assert _route(sigma1, sigma2) == "one-rank-deficient"
    reference = _cross_gram_reference(x1, x2)
    assert abs(trace_sqrt_product(sigma1, sigma2) - reference) <= 1e-12 * reference


def test_scalar_case():
    assert trace_sqrt_product([[4.0]], [[9.0]]) == pytest.approx(6.0, rel=1e-15)
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 4 + 9 - 12, rel=1e-15)


def test_zero_covariance():
    d = 32
    sigma = _cov(_samples(100, d, seed=8))
    mu1, mu2 = np.zeros(d), np.ones(d)
    fd = frechet_distance(mu1, np.zeros((d, d)), mu2, sigma)
    assert fd == pytest.approx(d + np.trace(sigma), rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Identity, sign and symmetry


@pytest.mark.parametrize(
    "n, d",
    [(500, 64), (30, 64), (64, 64), (1000, 256), (100, 256)],
    ids=["full-64", "n<d-64", "n=d-64", "full-256", "n<d-256"],
)
def test_identical_statistics_give_zero(n, d):
    x = _samples(n, d, seed=n + d, decay=1.5)
    mu, sigma = x.mean(0), _cov(x)
    fd = frechet_distance(mu, sigma, mu.copy(), sigma.copy())
    assert 0.0 <= fd <= 1e-6
    assert fd <= 1e-12 * np.trace(sigma)  # measured ≤ 1e-14 relative


@pytest.mark.parametrize("n", [2500, 1000], ids=["full rank", "rank deficient"])
def test_identical_statistics_give_zero_at_inception_size(n):
    # ReLU features with a decaying spectrum, like Inception pool3 statistics (d = 2048).
    d = 2048
    rng = np.random.default_rng(n)
    mixing = rng.standard_normal((d, d)) * (1.0 + np.arange(d))[:, None] ** -0.5 / np.sqrt(d)
    features = np.maximum(rng.standard_normal((n, d)) @ mixing + 0.1, 0.0)
    mu, sigma = features.mean(0), _cov(features)

    fd = frechet_distance(mu, sigma, mu, sigma.copy())

    assert 0.0 <= fd <= 1e-6


def test_never_negative_across_random_cases():
    rng = np.random.default_rng(11)
    for trial in range(40):
        d = int(rng.integers(2, 80))
        n1, n2 = (int(v) for v in rng.integers(2, 3 * d, size=2))
        decay = float(rng.choice([0.0, 1.0, 3.0]))
        x1 = _samples(n1, d, seed=100 + trial, decay=decay)
        # Half the trials compare near-identical statistics, where rounding decides the sign.
        x2 = x1 + 1e-9 * rng.standard_normal(x1.shape) if trial % 2 else _samples(n2, d, seed=200 + trial, decay=decay)
        fd = frechet_distance(x1.mean(0), _cov(x1), x2.mean(0), _cov(x2))
        assert fd >= 0.0
        assert np.isfinite(fd)


@pytest.mark.parametrize("n1, n2, d", [(500, 700, 64), (40, 700, 128), (40, 70, 128), (300, 300, 256)])
def test_symmetric_in_its_arguments(n1, n2, d):
    x1, x2 = _samples(n1, d, seed=1, decay=1.0), _samples(n2, d, seed=2, decay=1.0)
    mu1, sigma1, mu2, sigma2 = x1.mean(0), _cov(x1), x2.mean(0), _cov(x2)
    forward = frechet_distance(mu1, sigma1, mu2, sigma2)
    backward = frechet_distance(mu2, sigma2, mu1, sigma1)
    assert abs(forward - backward) <= 1e-10 * forward


# ---------------------------------------------------------------------------------------------
# Inputs


def test_accepts_torch_tensors_and_lists_and_returns_python_float():
    x = _samples(200, 16, seed=3)
    y = _samples(150, 16, seed=4)
    mu1, sigma1, mu2, sigma2 = x.mean(0), _cov(x), y.mean(0), _cov(y)
    expected = frechet_distance(mu1, sigma1, mu2, sigma2)

    from_torch = frechet_distance(*(torch.from_numpy(a) for a in (mu1, sigma1, mu2, sigma2)))
    from_lists = frechet_distance(mu1.tolist(), sigma1.tolist(), mu2.tolist(), sigma2.tolist())
    from_float32 = frechet_distance(*(torch.from_numpy(a).float().requires_grad_() for a in (mu1, sigma1, mu2, sigma2)))

    assert type(expected) is float and type(trace_sqrt_product(sigma1, sigma2)) is float
    assert from_torch == expected and from_lists == expected
    assert from_float32 == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("n, d", [(50, 128), (127, 128), (600, 512)])
def test_accepts_covariances_accumulated_in_float32(n, d):
    # float32 rounding leaves these slightly indefinite (eigenvalues down to about -3e-8·λmax); FD moves ≤ 1.4e-6.
    x = _samples(n, d, seed=n, decay=1.0).astype(np.float32)
    y = _samples(2 * n, d, seed=n + 1, decay=1.0).astype(np.float32)
    exact = frechet_distance(x.mean(0), _cov(x.astype(np.float64)), y.mean(0), _cov(y.astype(np.float64)))

    rounded = frechet_distance(x.mean(0), torch.cov(torch.from_numpy(x).T), y.mean(0), torch.cov(torch.from_numpy(y).T))

    assert rounded == pytest.approx(exact, rel=1e-4)


def test_does_not_modify_its_inputs():
    x = _samples(50, 32, seed=9)
    sigma = _cov(x)
    mu = x.mean(0)
    sigma_before, mu_before = sigma.copy(), mu.copy()
    frechet_distance(mu, sigma, mu, sigma)
    np.testing.assert_array_equal(sigma, sigma_before)
    np.testing.assert_array_equal(mu, mu_before)


def _good_stats(d=4):
    return np.zeros(d), np.eye(d), np.ones(d), 2 * np.eye(d)


@pytest.mark.parametrize(
    "replace, message",
    [
        ({0: np.zeros((4, 1))}, r"mu1 must be a non-empty 1-D vector \[d\], got shape \(4, 1\)"),
        ({2: np.zeros(0)}, r"mu2 must be a non-empty 1-D vector"),
        ({1: np.ones((4, 3))}, r"sigma1 must be a non-empty square matrix \[d, d\], got shape \(4, 3\)"),
        ({3: np.ones(4)}, r"sigma2 must be a non-empty square matrix"),
        ({0: np.zeros(5)}, r"mu1 has length 5 but sigma1 is 4x4"),
        ({2: np.zeros(3), 3: np.eye(3)}, r"different dimensions: sigma1 is 4x4, sigma2 is 3x3"),
        ({0: np.array([0.0, np.nan, 0.0, 0.0])}, r"mu1 contains NaN or infinite values"),
        ({3: np.diag([1.0, np.inf, 1.0, 1.0])}, r"sigma2 contains NaN or infinite values"),
        ({1: np.triu(np.ones((4, 4)))}, r"sigma1 is not symmetric"),
        ({1: np.diag([1.0, -1.0, 1.0, 1.0])}, r"sigma1 has negative variances"),
        ({3: np.array([[1.0, 2, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])}, r"sigma2 is not positive semi"),
        ({1: np.fliplr(np.eye(4))}, r"sigma1 is not positive semidefinite"),
        ({1: np.eye(4) * 1j}, r"sigma1 .*expected real"),
        ({0: ["a", "b", "c", "d"]}, r"mu1 has dtype <U1; expected real numbers"),
    ],
)
def test_invalid_inputs_raise_one_line_errors(replace, message):
    args = list(_good_stats())
    for index, value in replace.items():
        args[index] = value
    with pytest.raises(GanevalError, match=message) as info:
        frechet_distance(*args)
    assert "\n" not in str(info.value)


def test_trace_sqrt_product_validates_too():
    with pytest.raises(GanevalError, match="different dimensions"):
        trace_sqrt_product(np.eye(3), np.eye(4))
    with pytest.raises(GanevalError, match="sigma2 contains NaN"):
        trace_sqrt_product(np.eye(2), np.full((2, 2), np.nan))
    with pytest.raises(GanevalError, match="complex"):
        trace_sqrt_product(torch.eye(2, dtype=torch.complex64), np.eye(2))
