"""MiFID (ganeval.metrics.mifid) against torchmetrics' own MemorizationInformedFrechetInceptionDistance
(torchmetrics==1.9.0, a test dependency) on the same features: its feature extractor is replaced by
nn.Identity, so it sees exactly our float64 features."""

import numpy as np
import pytest
import torch
from torchmetrics.image.mifid import MemorizationInformedFrechetInceptionDistance

from ganeval.core.errors import GanevalError
from ganeval.metrics.mifid import mifid

RELATIVE_TOLERANCE = 1e-6


def _torchmetrics_mifid(real: np.ndarray, fake: np.ndarray, eps: float = 0.1) -> float:
    metric = MemorizationInformedFrechetInceptionDistance(feature=torch.nn.Identity(), cosine_distance_eps=eps)
    for rows in np.array_split(real, 3):  # several updates, as a real run would
        metric.update(torch.from_numpy(rows), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    return float(metric.compute())


def _sets(seed: int, n_real: int, n_fake: int, dim: int, copy_noise: float | None):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim)) + rng.normal(size=dim)
    if copy_noise is None:
        fake = 1.3 * rng.normal(size=(n_fake, dim)) + rng.normal(size=dim)
    else:  # a generator that memorised: real rows plus a little noise
        fake = real[rng.integers(0, n_real, n_fake)] + copy_noise * rng.normal(size=(n_fake, dim))
    return real, fake


@pytest.mark.parametrize("copy_noise", [None, 0.3, 0.05])
def test_mifid_equals_torchmetrics(copy_noise):
    real, fake = _sets(1, 300, 250, 16, copy_noise)
    ours = mifid(real, fake)
    reference = _torchmetrics_mifid(real, fake)
    assert ours.mifid == pytest.approx(reference, rel=RELATIVE_TOLERANCE)
    if copy_noise == 0.05:  # the memorised set is penalised: MiFID well above FID
        assert ours.penalty < 0.1 and ours.mifid > 5 * ours.fid
    if copy_noise is None:
        assert ours.penalty == 1.0 and ours.mifid == pytest.approx(ours.fid, rel=1e-13)  # FID / (1 + 1e-14)


def test_mifid_other_eps_and_blocks_agree():
    real, fake = _sets(2, 200, 220, 8, 0.3)
    ours = mifid(real, fake, cosine_distance_eps=0.5)
    assert ours.mifid == pytest.approx(_torchmetrics_mifid(real, fake, eps=0.5), rel=RELATIVE_TOLERANCE)


def test_memorisation_distance_by_hand():
    # real r1 = (1, 0), r2 = (0, 1), r3 = (-1, .5); generated f1 = (1, 0) (a copy of r1), f2 = (1, 1), f3 = (.3, -2).
    # |cos| pairs: r1·f1 = 1; r2·f2 = √½; r2·f3 = 2/√4.09; r3·f1 = 1/√1.25; r3·f2 = .5/√2.5;
    # r3·f3 = 1.3/(√1.25 √4.09); r1·f3 = .3/√4.09; r1·f2 = √½; r2·f1 = 0.
    real = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]])
    fake = np.array([[1.0, 0.0], [1.0, 1.0], [0.3, -2.0]])
    r3f3 = 1.3 / (np.sqrt(1.25) * np.sqrt(4.09))
    # over the reals (torchmetrics): r1 → 0, r2 → 1 − 2/√4.09 (f3), r3 → 1 − 1/√1.25 (f1)
    d_real = (0.0 + (1 - 2 / np.sqrt(4.09)) + (1 - 1 / np.sqrt(1.25))) / 3
    ours = mifid(real, fake)
    assert ours.memorization_distance == pytest.approx(d_real, rel=1e-14)
    assert d_real < 0.1 and ours.penalty == ours.memorization_distance
    assert ours.mifid == pytest.approx(ours.fid / d_real, rel=1e-12)
    # over the generated (Kaggle): f1 → 0, f2 → 1 − √½ (r1 or r2), f3 → 1 − 2/√4.09 (r2)
    d_fake = (0.0 + (1 - np.sqrt(0.5)) + (1 - 2 / np.sqrt(4.09))) / 3
    assert max(0.3 / np.sqrt(4.09), r3f3) < 2 / np.sqrt(4.09)  # r2 is f3's nearest, as used above
    other = mifid(real, fake, penalty_over="generated")
    assert other.memorization_distance == pytest.approx(d_fake, rel=1e-14)
    assert other.penalty == 1.0 and other.mifid == pytest.approx(other.fid, rel=1e-13)  # d ≥ 0.1: no penalty


def test_identical_sets_give_zero():
    real, _ = _sets(3, 50, 50, 4, None)
    assert mifid(real, real.copy()).mifid == 0.0


@pytest.mark.parametrize("bad, message", [
    (dict(fake=np.zeros((5, 3))), "differ in dimension"),
    (dict(fake=np.ones((1, 4))), "N ≥ 2"),
    (dict(fake=np.full((5, 4), np.nan)), "NaN"),
    (dict(penalty_over="both"), "penalty_over"),
    (dict(cosine_distance_eps=0.0), "cosine_distance_eps"),
])
def test_bad_input_is_one_clear_error(bad, message):
    real, fake = _sets(4, 20, 20, 4, None)
    kwargs = dict(fake=fake) | bad
    with pytest.raises(GanevalError, match=message):
        mifid(real, **kwargs)


def test_row_blocks_do_not_change_the_distance():
    from ganeval.metrics.mifid import min_cosine_distance

    real, fake = (torch.from_numpy(x) for x in _sets(5, 90, 70, 6, 0.3))
    assert min_cosine_distance(real, fake, block_rows=11) == pytest.approx(min_cosine_distance(real, fake), rel=1e-15)


def test_screened_cosines_equal_the_float64_computation_at_near_ties():
    """The fp32 screen only picks candidates: with near-ties inside its margin (second-best |cos| 1e-9 …
    1e-5 below the best, where float32 cannot order them), exact duplicates, a negated copy (|cos| = 1)
    and all-zero-sum rows, the mean minimum distance equals the float64 brute force."""
    from ganeval.metrics.mifid import cosine_margin, min_cosine_distance

    rng = np.random.default_rng(9)
    dim = 2048
    rows = np.maximum(rng.normal(0.4, 0.5, (60, dim)), 0)
    others = np.maximum(rng.normal(0.4, 0.5, (400, dim)), 0)
    for i, gap in enumerate([1e-9, 1e-8, 1e-7, 1e-6, 1e-5] * 8):  # two columns near row i's direction
        direction = rows[i] + 0.3 * rng.normal(size=dim)
        others[2 * i] = direction
        bend = rng.normal(size=dim)
        bend -= bend @ direction / (direction @ direction) * direction
        others[2 * i + 1] = direction + np.sqrt(2 * gap) * np.linalg.norm(direction) / np.linalg.norm(bend) * bend
    others[100] = others[101] = rows[50]          # exact duplicates of a row
    others[102] = -rows[51]                       # |cos| = 1 through the sign
    others[103] = 0.0                             # dropped (sums to 0), as torchmetrics
    rows[59] = 0.0
    unit = lambda x: x[x.sum(1) != 0] / np.linalg.norm(x[x.sum(1) != 0], axis=1, keepdims=True)  # noqa: E731
    exact = np.mean(1.0 - np.abs(unit(rows) @ unit(others).T).max(axis=1))
    ours = min_cosine_distance(torch.from_numpy(rows), torch.from_numpy(others), block_rows=7)
    assert ours == pytest.approx(exact, rel=1e-13, abs=1e-16)
    assert 2 * cosine_margin(dim) > 1e-5  # the gaps above lie inside the screen's margin
    as32 = min_cosine_distance(torch.from_numpy(rows).float(), torch.from_numpy(others).float())
    assert as32 == pytest.approx(np.mean(1.0 - np.abs(unit(rows.astype(np.float32).astype(np.float64))
                                                        @ unit(others.astype(np.float32).astype(np.float64)).T)
                                         .max(axis=1)), rel=1e-13, abs=1e-16)
