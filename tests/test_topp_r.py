"""TopP&R (ganeval.metrics.topp_r) against the authors' `top-pr` package (==0.2.1, a test dependency):
``top_pr.compute_top_pr`` on the same features. Its random parts: the projection weight (it seeds
torch with 99 itself; ours draws from a generator seeded 99) and the bootstrap rows (numpy's global
state, which it seeds with 42 only when it projects, d > 32; the test seeds it for d ≤ 32)."""

import numpy as np
import pytest
import torch
from top_pr import compute_top_pr

from ganeval.core.errors import GanevalError
from ganeval.metrics.topp_r import top_pr, top_pr_projection


def _sets(seed, n_real, n_fake, dim, shift):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(size=(n_fake, dim)) * 1.2 + shift
    return real, fake


def _reference(real, fake, seed_numpy: bool):
    state = torch.random.get_rng_state()
    try:
        if seed_numpy:
            np.random.seed(42)
        return compute_top_pr(real_features=real, fake_features=fake)
    finally:
        torch.random.set_rng_state(state)  # the package reseeds torch's global generator


def test_projection_weight_is_the_packages():
    torch.manual_seed(99)
    layer = torch.nn.Linear(70, 32, bias=False)
    torch.manual_seed(99)
    torch.nn.init.xavier_normal_(layer.weight)
    assert torch.equal(top_pr_projection(70), layer.weight.detach())


@pytest.mark.parametrize("dim, shift", [(64, 0.0), (64, 0.6), (8, 0.4)])  # projected (d > 32) and not
def test_top_pr_equals_package(dim, shift):
    real, fake = _sets(dim, 420, 380, dim, shift)
    reference = _reference(real, fake, seed_numpy=dim <= 32)
    ours = top_pr(real, fake)
    # counts of samples: the same integers, so the same fractions up to the last bit
    assert ours.precision == pytest.approx(reference["fidelity"], rel=1e-12)
    assert ours.recall == pytest.approx(reference["diversity"], rel=1e-12)
    assert ours.f1 == pytest.approx(reference["Top_F1"], rel=1e-12)


def test_shifted_fakes_lose_precision():
    real, near = _sets(1, 400, 400, 40, 0.0)
    _, far = _sets(2, 400, 400, 40, 1.5)
    assert top_pr(real, far).precision < top_pr(real, near).precision


def test_bad_input():
    real, fake = _sets(3, 100, 100, 64, 0.0)
    with pytest.raises(GanevalError, match="more than 161 real"):
        top_pr(real, fake)
    with pytest.raises(GanevalError, match="at most 3 dimensions"):
        top_pr(real[:, :3], fake[:, :3])
    with pytest.raises(GanevalError, match="differ in dimension"):
        top_pr(real, fake[:, :10])


def test_row_blocks_do_not_change_the_result():
    real, fake = _sets(5, 300, 280, 40, 0.3)
    assert top_pr(real, fake, block_rows=37) == top_pr(real, fake)
