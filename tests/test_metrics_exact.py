"""Issue 20: the blocked fp32-screened metric math equals the float64 computation.

* PRDC against the official ``prdc`` package (clovaai/generative-evaluation-prdc, pinned in the
  test extra) on features with exact duplicates, copies of real rows in the generated set and
  repeated generated rows: counts identical (tolerance 0).
* PRDC and k-NN radii against a brute-force float64 difference-form reference written here, on
  features built with near-ties (distances within 1e-9 … 1e-4 relative of a radius, inside the
  fp32 screen's margin, so every one of them is decided by the float64 recomputation).
* KID and CMMD against plain float64 formulas: ≤ 1e-12 relative.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ganeval.metrics.cmmd import cmmd
from ganeval.metrics.kid import kid, mmd2_unbiased
from ganeval.metrics.neighbours import gemm_margin
from ganeval.metrics.prdc import kth_neighbour_radii, prdc

prdc_package = pytest.importorskip("prdc")  # the test extra pins prdc==0.2; CI installs it


def pool3_like(rng, n, d, shift=0.0):
    """Non-negative features at Inception pool3's scale (mean ~0.3)."""
    mixing = np.random.default_rng(99).normal(scale=0.12, size=(8, d))
    x = rng.gamma(0.9, 0.3, size=(n, d)) + rng.normal(size=(n, 8)) @ mixing + shift
    return np.maximum(x, 0.0).astype(np.float32)


def package_prdc(real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
        return {key: float(v) for key, v in prdc_package.compute_prdc(real, fake, k).items()}


def brute_force(real, fake, k_pr=3, k_dc=5):
    """Full float64 difference-form distance matrices, strict < (the definition)."""
    def dist(a, b):  # scipy's loop: sqrt of Σ (a_t − b_t)² in float64, in one order for every pair
        return cdist(a.astype(np.float64), b.astype(np.float64))

    rr, ff, fr = dist(real, real), dist(fake, fake), dist(fake, real)
    radius = {k: np.sort(rr, axis=1)[:, k] for k in {k_pr, k_dc}}
    radius_fake = np.sort(ff, axis=1)[:, k_pr]
    return {"precision": float((fr < radius[k_pr][None, :]).any(1).mean()),
            "recall": float((fr < radius_fake[:, None]).any(0).mean()),
            "density": float((fr < radius[k_dc][None, :]).sum() / (k_dc * len(fake))),
            "coverage": float((fr < radius[k_dc][None, :]).any(0).mean()),
            "radii": radius, "radius_fake": radius_fake, "fr": fr}


def duplicated_sets(seed, n_real=1100, n_fake=1100, d=128):
    """Real features with exact repeats; generated ones with copies of real rows and repeats of their own."""
    rng = np.random.default_rng(seed)
    real = pool3_like(rng, n_real, d)
    real[-100:] = real[:100]  # 100 real rows appear twice
    real[-120:-100] = real[200]  # one real row 21 times: its k-NN radii are exactly 0
    fake = pool3_like(rng, n_fake, d, shift=0.02)
    fake[:150] = real[rng.choice(n_real, 150, replace=False)]  # memorised training images
    fake[150:300] = fake[300:450]  # mode collapse: repeated generated rows
    fake[450:460] = real[200]  # copies of the 21-fold real row: on a radius-0 ball, so outside it
    return real, fake


@pytest.mark.parametrize("seed", [0, 1])
def test_prdc_equals_prdc_package_on_duplicates(seed):
    real, fake = duplicated_sets(seed)
    ours_k3 = prdc(real, fake, k_pr=3, k_dc=3, block_rows=97)
    ours_k5 = prdc(real, fake, k_pr=5, k_dc=5)
    for ours, k in ((ours_k3, 3), (ours_k5, 5)):
        theirs = package_prdc(real, fake, k)
        assert (ours.precision, ours.recall, ours.coverage) == tuple(theirs[key] for key in ("precision", "recall",
                                                                                          "coverage")), k
        # density: the same count (the package divides in another order: 1 ulp of the quotient)
        assert round(ours.density * k * len(fake)) == round(theirs["density"] * k * len(fake))
        assert ours.density == pytest.approx(theirs["density"], rel=1e-15)
    # The duplicates decide something: without the exact ties the counts would move.
    exact = brute_force(real, fake, 3, 3)
    assert (exact["radii"][3] == 0).sum() >= 21
    assert (exact["fr"] == exact["radii"][3][None, :]).sum() > 100  # distances exactly on a radius


def test_prdc_harsh_duplicates_default_ks_equal_package_and_brute_force():
    # 500 real with repeats, 500 generated of which 150 copy real rows and 150 repeat generated ones.
    rng = np.random.default_rng(7)
    real = pool3_like(rng, 500, 128)
    real[400:] = real[:100]
    fake = pool3_like(rng, 500, 128, shift=0.01)
    fake[:150] = real[rng.choice(500, 150, replace=False)]
    fake[150:300] = fake[rng.choice(np.arange(300, 500), 150)]
    ours = prdc(real, fake, block_rows=33)._asdict()
    exact = brute_force(real, fake)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == exact[key], key
    assert (ours["precision"], ours["recall"]) == tuple(package_prdc(real, fake, 3)[key] for key in ("precision", "recall"))
    theirs = package_prdc(real, fake, 5)
    assert ours["coverage"] == theirs["coverage"] and ours["density"] == pytest.approx(theirs["density"], rel=1e-15)


def near_tie_sets(seed, n=400, d=2048):
    """Generated rows placed at distance ρ·(1 + ε) from a real row, ρ that row's exact k-th neighbour
    radius and ε ∈ ±{1e-9, 1e-7, 1e-5, 1e-4}: all inside the fp32 screen's margin (≈ 2.4e-4 of
    ‖x‖² + ‖y‖², several 1e-3 of the squared distances here)."""
    rng = np.random.default_rng(seed)
    real = pool3_like(rng, n, d)
    fake = pool3_like(rng, n, d, shift=0.02)
    sorted_real = np.sort(cdist(real.astype(np.float64), real.astype(np.float64)), axis=1)
    exact_real = {k: sorted_real[:, k] for k in (3, 5)}
    eps = np.array([1e-9, -1e-9, 1e-7, -1e-7, 1e-5, -1e-5, 1e-4, -1e-4])
    real64 = real.astype(np.float64)
    for j in range(120):
        i = rng.integers(n)
        k = (3, 5)[j % 2]
        direction = rng.normal(size=d)
        direction /= np.linalg.norm(direction)
        target = exact_real[k][i] * (1 + eps[j % len(eps)])
        point = real64[i] + target * direction
        # float32 storage moves the distance by ~1e-7 relative; one Newton-like rescale brings it back
        for _ in range(3):
            p32 = point.astype(np.float32).astype(np.float64)
            actual = np.sqrt(((p32 - real64[i]) ** 2).sum())
            point = real64[i] + (p32 - real64[i]) * (target / actual)
        fake[j] = point.astype(np.float32)
    return real, fake


def test_prdc_and_radii_exact_on_near_ties_at_2048_dims():
    real, fake = near_tie_sets(3)
    exact = brute_force(real, fake)
    fr = exact["fr"]
    relative = np.concatenate([np.abs(fr / exact["radii"][k][None, :] - 1).ravel() for k in (3, 5)])
    assert (relative < 1e-4).sum() >= 60  # near-ties the fp32 screen cannot decide by itself
    assert relative.min() > 1e-13  # and none so close that float64 summation order could decide them
    ours = prdc(real, fake, block_rows=64)._asdict()
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == exact[key], key
    radii = kth_neighbour_radii(real, (3, 5), block_rows=50)
    for k in (3, 5):
        np.testing.assert_allclose(radii[k].numpy(), exact["radii"][k], rtol=1e-12, atol=0)


def test_screen_margin_is_the_stated_bound_and_holds():
    # η for d = 2048 (inner dimension 2064 after padding) as the module states, and the screen's
    # actual error on pool3-like data is far inside it.
    eta = gemm_margin(2064)
    assert 2.4e-4 < eta < 2.6e-4
    rng = np.random.default_rng(4)
    x = pool3_like(rng, 300, 2048)
    norms = (x.astype(np.float64) ** 2).sum(1)
    left = torch.from_numpy(np.concatenate([x, norms[:, None], np.ones((300, 1)), np.zeros((300, 14))], 1).astype(np.float32))
    right = torch.from_numpy(np.concatenate([-2 * x, np.ones((300, 1)), norms[:, None], np.zeros((300, 14))], 1).astype(np.float32))
    screen = (left @ right.T).double().numpy()
    exact = cdist(x.astype(np.float64), x.astype(np.float64), "sqeuclidean")
    error = np.abs(screen - exact) / (norms[:, None] + norms[None, :])
    assert error.max() < eta / 10


def test_prdc_on_float64_inputs_and_integer_ties():
    # Small integers: every formula is exact, so all ties are real ties; float64 inputs are not
    # copied to float32 for the decisions (the screen's bound covers their rounding).
    rng = np.random.default_rng(11)
    real = rng.integers(0, 3, size=(300, 16)).astype(np.float64)
    fake = rng.integers(0, 3, size=(250, 16)).astype(np.float64)
    ours = prdc(real, fake)._asdict()
    exact = brute_force(real, fake)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == exact[key], key
    assert ours == prdc(torch.from_numpy(real).float(), torch.from_numpy(fake).float())._asdict()


def test_kid_within_1e12_of_the_float64_formula_at_2048_dims():
    rng = np.random.default_rng(21)
    a, b = pool3_like(rng, 700, 2048), pool3_like(rng, 650, 2048, shift=0.2)  # KID ~1e-3: as in use
    result = kid(a, b, num_subsets=3, subset_size=300, seed=4)
    draws = np.random.default_rng(4)
    values = []
    for _ in range(3):
        x = a[draws.choice(700, 300, replace=False)].astype(np.float64)
        y = b[draws.choice(650, 300, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((u @ v.T / 2048 + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        values.append((kxx.sum() - np.trace(kxx)) / (300 * 299) + (kyy.sum() - np.trace(kyy)) / (300 * 299)
                      - 2 * kxy.mean())
    assert abs(result.mean - np.mean(values)) <= 1e-12 * abs(np.mean(values))
    # float32 inputs stay float32 outside the subsets: the same number from float64 inputs
    assert abs(mmd2_unbiased(a[:200], b[:200]) - mmd2_unbiased(a[:200].astype(np.float64), b[:200])) <= 1e-15


def test_kid_within_1e13_of_an_extended_precision_reference():
    """Against the formula in numpy's long double (64-bit significand): the float64 formula itself errs
    by up to ~1e-12 here (three means near 2, MMD² ~1e-3); ganeval's shifted kernel values do not."""
    rng = np.random.default_rng(23)
    a, b = pool3_like(rng, 200, 2048), pool3_like(rng, 200, 2048, shift=0.2)
    x, y = a.astype(np.longdouble), b.astype(np.longdouble)
    kxx, kyy, kxy = ((np.dot(u, v.T) / 2048 + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
    exact = ((kxx.sum() - np.trace(kxx)) / (200 * 199) + (kyy.sum() - np.trace(kyy)) / (200 * 199)
             - 2 * kxy.sum() / (200 * 200))
    assert abs(mmd2_unbiased(a, b) - float(exact)) <= 1e-13 * abs(float(exact))


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_cmmd_within_1e12_of_the_float64_formula(estimator):
    rng = np.random.default_rng(22)
    x = rng.normal(size=(500, 64)).astype(np.float32)
    y = (rng.normal(size=(450, 64)) + 0.3).astype(np.float32)  # CMMD ~ 0.5 (x 1000): CLIP-like values
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)

    def kernel(u, v):
        return np.exp(-cdist(u.astype(np.float64), v.astype(np.float64), "sqeuclidean") / 200.0)

    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    if estimator == "biased":
        expected = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    else:
        expected = ((kxx.sum() - 500) / (500 * 499) + (kyy.sum() - 450) / (450 * 449) - 2 * kxy.mean())
    ours = cmmd(x, y, estimator=estimator, block_size=128) / 1000.0
    assert abs(ours - expected) <= 1e-12 * abs(expected)
