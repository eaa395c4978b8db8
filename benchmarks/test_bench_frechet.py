"""Benchmark: frechet_distance vs the classic scipy.linalg.sqrtm formula at Inception size (d = 2048).

Run with ``python -m pytest benchmarks/test_bench_frechet.py`` (about a minute on two cores).
Statistics are covariances of random feature vectors with a k^-1 spectrum (fixed seeds):
5,000 vectors (full rank) and 1,000 vectors (rank 999 < d). The last test asserts that ours is
at least 10× faster than sqrtm on the full-rank case, with both timed in the same run.
"""

import time

import numpy as np
import pytest
import scipy.linalg

from ganeval.metrics.frechet import _trace_sqrt_product_with_route, frechet_distance

D = 2048
MIN_SPEEDUP = 10.0

# name -> best wall time in seconds, filled by the timing tests and read by the last one
_best_seconds: dict[str, float] = {}


def _statistics(n: int, rotation: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(mu [D], sigma [D, D]) float64 of n feature vectors with a k^-1 covariance spectrum."""
    rng = np.random.default_rng(seed)
    scales = (1.0 + np.arange(D)) ** -0.5
    features = (rng.standard_normal((n, D)) * scales) @ rotation.T + rng.uniform(0, 1, D)
    return features.mean(0), np.cov(features, rowvar=False)


@pytest.fixture(scope="module")
def stats():
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((D, D)))[0]
    return {
        "full_a": _statistics(5000, rotation, seed=1),
        "full_b": _statistics(5000, rotation, seed=2),
        "deficient_a": _statistics(1000, rotation, seed=3),
        "deficient_b": _statistics(1000, rotation, seed=4),
    }


def _sqrtm_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The classic pytorch-fid formula."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _timed(name, function):
    """function, recording its fastest wall time under name."""

    def run(*args):
        start = time.perf_counter()
        result = function(*args)
        elapsed = time.perf_counter() - start
        _best_seconds[name] = min(elapsed, _best_seconds.get(name, float("inf")))
        return result

    return run


@pytest.mark.benchmark(group="frechet d=2048, full rank (n=5000 each)")
def test_ours_full_rank(benchmark, stats):
    args = (*stats["full_a"], *stats["full_b"])
    assert _trace_sqrt_product_with_route(args[1], args[3])[1] == "full-rank"
    fd = benchmark.pedantic(_timed("ours full rank", frechet_distance), args=args, rounds=3, iterations=1)
    _best_seconds["fd ours"] = fd


@pytest.mark.benchmark(group="frechet d=2048, full rank (n=5000 each)")
def test_sqrtm_full_rank(benchmark, stats):
    args = (*stats["full_a"], *stats["full_b"])
    fd = benchmark.pedantic(_timed("sqrtm full rank", _sqrtm_frechet_distance), args=args, rounds=2, iterations=1)
    ours = frechet_distance(*args)
    assert abs(fd - ours) <= 1e-8 * ours, (fd, ours)


@pytest.mark.benchmark(group="frechet d=2048, rank deficient")
@pytest.mark.parametrize(
    "first, second, route",
    [
        ("full_a", "deficient_a", "one-rank-deficient"),
        ("deficient_a", "deficient_b", "both-rank-deficient"),
    ],
    ids=["n=5000 vs n=1000", "n=1000 vs n=1000"],
)
def test_ours_rank_deficient(benchmark, stats, first, second, route):
    args = (*stats[first], *stats[second])
    assert _trace_sqrt_product_with_route(args[1], args[3])[1] == route
    benchmark.pedantic(_timed(f"ours {route}", frechet_distance), args=args, rounds=3, iterations=1)


def test_speedup_over_sqrtm(capsys):
    if "ours full rank" not in _best_seconds or "sqrtm full rank" not in _best_seconds:
        pytest.skip("run the whole module: the timing tests fill in the numbers")
    ratio = _best_seconds["sqrtm full rank"] / _best_seconds["ours full rank"]
    with capsys.disabled():
        print()
        for name, seconds in _best_seconds.items():
            if not name.startswith("fd"):
                print(f"  {name:28s} {seconds:7.3f} s (best of the rounds)")
        print(f"  speedup over sqrtm at d={D}: {ratio:.1f}x")
    assert ratio >= MIN_SPEEDUP
