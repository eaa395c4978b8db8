"""Vendi score (ganeval.metrics.vendi) against the `vendi-score` package (==0.0.3, a test dependency):
``vendi.score_X`` (L2-normalised rows, linear kernel, q = 1) and ``vendi.score_K`` for other orders,
≤ 1e-8 relative."""

import numpy as np
import pytest
from vendi_score import vendi

from ganeval.core.errors import GanevalError
from ganeval.metrics.vendi import vendi_score

# vendi-score 0.0.3 reaches scipy.sparse.csr.csr_matrix, deprecated in SciPy 1.17
pytestmark = pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")

RELATIVE_TOLERANCE = 1e-8


@pytest.mark.parametrize("n, d", [(40, 64), (300, 16), (64, 64)])  # primal (n ≤ d) and dual (n > d) routes
def test_vendi_equals_package(n, d):
    x = np.random.default_rng(n + d).normal(size=(n, d)) + 0.5
    assert vendi_score(x) == pytest.approx(vendi.score_X(x), rel=RELATIVE_TOLERANCE)


def test_dual_route_blocks_do_not_change_the_value():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert vendi_score(x, block_rows=37) == pytest.approx(vendi.score_X(x), rel=RELATIVE_TOLERANCE)


@pytest.mark.parametrize("order", [0.5, 2, "inf"])
def test_other_orders_equal_package_score_K(order):
    # n ≤ d: no exact-zero eigenvalues. (For n > d the package's n × n spectrum holds n − d rounding
    # eigenvalues of ~1e-17 whose λ^q, q < 1, adds ~1e-8 relative each; the d × d route has none.)
    x = np.random.default_rng(1).normal(size=(40, 50))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    reference = vendi.score_K(unit @ unit.T, q=order)
    assert vendi_score(x, order=order) == pytest.approx(reference, rel=RELATIVE_TOLERANCE)


def test_hand_checked_values():
    # k identical directions repeated: K/n has one eigenvalue 1 ⇒ VS = 1
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (7, 1))) == pytest.approx(1.0, rel=1e-12)
    # n orthogonal directions (scaled): K = I, eigenvalues 1/n ⇒ VS = n
    assert vendi_score(np.diag([1.0, 5.0, 0.2, 3.0])) == pytest.approx(4.0, rel=1e-12)
    # two directions, one used 3×, one once: eigenvalues 3/4, 1/4 ⇒ VS = exp(H(¾, ¼))
    x = np.array([[1.0, 0], [2.0, 0], [0.5, 0], [0, 1.0]])
    assert vendi_score(x) == pytest.approx(np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))), rel=1e-12)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 2)), "all zeros"),
    (np.full((3, 2), np.inf), "NaN or infinite"),
    (np.ones(5), r"\[N, d\]"),
])
def test_bad_input(bad, message):
    with pytest.raises(GanevalError, match=message):
        vendi_score(bad)
    with pytest.raises(GanevalError, match="order"):
        vendi_score(np.ones((3, 2)), order=-1)
