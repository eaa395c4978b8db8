"""AuthPct and C_T (ganeval.metrics.memorisation) against dgm-eval's algorithms.

dgm-eval is not on PyPI, so its code is transcribed below as the independent reference, from
github.com/layer6ai-labs/dgm-eval at commit 74c79f7527fbf38fdccfbac51f25d759bc02ab07:
``dgm_eval/metrics/authpct.py`` (compute_authpct) and ``dgm_eval/metrics/ct.py``
(preprcoess_ct, Zu, Zu_cells, C_T, compute_CTscore). Transcribed as written (float32 torch.cdist for
AuthPct; scikit-learn PCA, KMeans and NearestNeighbors and scipy's mannwhitneyu for C_T), except that
prints are dropped and KMeans gets ``random_state`` as a parameter (dgm-eval leaves it unset).
"""

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from ganeval.core.errors import GanevalError
from ganeval.metrics.memorisation import authenticity, data_copying_ct


# ---- dgm-eval dgm_eval/metrics/authpct.py @ 74c79f7 (transcribed) ----
def dgm_eval_authpct(train_feat, gen_feat):
    with torch.no_grad():
        train_feat = torch.tensor(train_feat, dtype=torch.float32)
        gen_feat = torch.tensor(gen_feat, dtype=torch.float32)
        real_dists = torch.cdist(train_feat, train_feat)
        real_dists.fill_diagonal_(float("inf"))
        gen_dists = torch.cdist(train_feat, gen_feat)
        real_min_dists = real_dists.min(axis=0)
        gen_min_dists = gen_dists.min(dim=0)
        authen = real_min_dists.values[gen_min_dists.indices] < gen_min_dists.values
        return (100 * torch.sum(authen) / len(authen)).item()


# ---- dgm-eval dgm_eval/metrics/ct.py @ 74c79f7 (transcribed) ----
def dgm_eval_preprocess_ct(train_feat, test_feat, gen_feat):
    if train_feat.shape[1] > 64:
        pca_xf = PCA(n_components=64).fit(train_feat)
        train_feat, test_feat, gen_feat = (pca_xf.transform(x) for x in (train_feat, test_feat, gen_feat))
    return train_feat, test_feat, gen_feat


def dgm_eval_zu(Pn, Qm, T):
    m, n = Qm.shape[0], Pn.shape[0]
    T_NN = NearestNeighbors(n_neighbors=1).fit(T)
    LQm, _ = T_NN.kneighbors(X=Qm, n_neighbors=1)
    LPn, _ = T_NN.kneighbors(X=Pn, n_neighbors=1)
    u, _ = mannwhitneyu(LQm, LPn, alternative="less")
    mean = (n * m / 2) - 0.5
    std = np.sqrt(n * m * (n + m + 1) / 12)
    return (u - mean) / std


def dgm_eval_zu_cells(Pn, Pn_cells, Qm, Qm_cells, T, T_cells):
    k = len(np.unique(Pn_cells))
    zu_cells = np.zeros(k)
    for i in range(k):
        Pn_cell_i, Qm_cell_i, T_cell_i = Pn[Pn_cells == i], Qm[Qm_cells == i], T[T_cells == i]
        if len(Pn_cell_i) * len(T_cell_i) == 0:
            raise ValueError(f"Cell {i} lacks test samples and/or training samples.")
        zu_cells[i] = np.squeeze(dgm_eval_zu(Pn_cell_i, Qm_cell_i, T_cell_i)) if len(Qm_cell_i) > 0 else 0
    return zu_cells


def dgm_eval_c_t(Pn, Pn_cells, Qm, Qm_cells, T, T_cells, tau):
    m, n = Qm.shape[0], Pn.shape[0]
    k = np.max(np.unique(T_cells)) + 1
    labels, cts = np.unique(Qm_cells, return_counts=True)
    Qm_cts = np.zeros(k)
    Qm_cts[labels.astype(int)] = cts
    Pi_tau = Qm_cts / m > tau
    labels, cts = np.unique(Pn_cells, return_counts=True)
    Pn_cts = np.zeros(k)
    Pn_cts[labels.astype(int)] = cts
    Pn_of_pi = Pn_cts / n
    Zu_scores = dgm_eval_zu_cells(Pn, Pn_cells, Qm, Qm_cells, T, T_cells)
    return Pn_of_pi[Pi_tau].dot(Zu_scores[Pi_tau]) / np.sum(Pn_of_pi[Pi_tau])


def dgm_eval_ct(train_feat, test_feat, gen_feat, random_state):
    train_feat, test_feat, gen_feat = dgm_eval_preprocess_ct(train_feat, test_feat, gen_feat)
    km_clf = KMeans(n_clusters=3, n_init=10, random_state=random_state).fit(train_feat)
    T_labels, Pn_labels, Qm_labels = (km_clf.predict(x) for x in (train_feat, test_feat, gen_feat))
    return dgm_eval_c_t(test_feat, Pn_labels, gen_feat, Qm_labels, train_feat, T_labels, tau=20 / len(gen_feat))
# ---- end of transcription ----


def _blobs(rng, n, dim, centres):
    """n points around the rows of ``centres`` (well apart, so every k-means run finds the same 3 cells)."""
    return centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, dim))


@pytest.mark.parametrize("kind", ["novel", "copies", "underfit"])
def test_authpct_equals_dgm_eval(kind):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 12))
    if kind == "novel":
        gen = rng.normal(size=(300, 12))
    elif kind == "copies":  # half of the generated rows are near-copies of training rows
        gen = np.concatenate([train[:150] + 0.01 * rng.normal(size=(150, 12)), rng.normal(size=(150, 12))])
    else:
        gen = 2.5 * rng.normal(size=(300, 12))
    ours = authenticity(train, gen)
    # dgm-eval returns a float32 percentage: 1e-5 absolute means the same count (one sample is 1/3 %)
    assert ours.authpct == pytest.approx(dgm_eval_authpct(train, gen), abs=1e-5)
    if kind == "copies":
        assert not ours.authentic[:150].any()


def test_authpct_hand_checked():
    # training 0, 1, 10 (1-D): nearest-other distances 1, 1, 9.
    # g = 0.4 → r = 0 at 0.4; 1 < 0.4? no.   g = 5 → r = 1 at 4; 1 < 4: authentic.
    # g = 12 → r = 10 at 2; 9 < 2? no.        g = -3 → r = 0 at 3; 1 < 3: authentic.   AuthPct = 50.
    ours = authenticity([[0.0], [1.0], [10.0]], [[0.4], [5.0], [12.0], [-3.0]])
    assert ours.authpct == 50.0
    assert ours.authentic.tolist() == [False, True, False, True]
    assert ours.nearest_real.tolist() == [0, 1, 2, 0]
    assert ours.distance.tolist() == pytest.approx([0.4, 4.0, 2.0, 3.0], abs=1e-12)


@pytest.mark.parametrize("dim", [8, 80])  # 80 > 64: the PCA step (900 ≥ 10 · 80 rows: sklearn's exact solver)
@pytest.mark.parametrize("kind", ["fresh", "copies"])
def test_ct_equals_dgm_eval(dim, kind):
    rng = np.random.default_rng(dim)
    centres = 12.0 * np.eye(3, dim)
    train = _blobs(rng, 900, dim, centres)
    test = _blobs(rng, 450, dim, centres)
    if kind == "fresh":
        gen = _blobs(rng, 400, dim, centres)
    else:  # a copying generator: training rows plus a little noise
        gen = train[rng.integers(0, 900, 400)] + 0.05 * rng.normal(size=(400, dim))
    ours = data_copying_ct(train, test, gen, seed=3)
    reference = dgm_eval_ct(train, test, gen, random_state=3)
    assert ours.ct == pytest.approx(reference, rel=1e-9, abs=1e-12)
    assert ours.cell_used.all()
    if kind == "copies":
        assert ours.ct < -5  # generated samples sit far closer to training rows than test rows do
    else:
        assert abs(ours.ct) < 3


def test_ct_hand_checked():
    # One cell, 1-D. Training {0}; test distances |1|, |3|; generated distances 2, 0.5, 4.
    # Ranks of (2, .5, 4 | 1, 3): 3, 1, 5 | 2, 4 ⇒ U = 9 − 3·4/2 = 3; mean = 3·2/2 − .5 = 2.5;
    # std = √(3·2·6/12) = √3 ⇒ C_T = 0.5/√3. (Cells need more than min_generated_per_cell = 2 samples.)
    result = data_copying_ct([[0.0], [0.0]], [[1.0], [3.0]], [[2.0], [0.5], [4.0]], cells=1,
                             min_generated_per_cell=2)
    assert result.ct == pytest.approx(0.5 / np.sqrt(3), rel=1e-14)


def test_ct_bad_input():
    rng = np.random.default_rng(1)
    with pytest.raises(GanevalError, match="differ in dimension"):
        data_copying_ct(rng.normal(size=(30, 3)), rng.normal(size=(30, 3)), rng.normal(size=(30, 4)))
    with pytest.raises(GanevalError, match="more than 20 generated"):
        data_copying_ct(rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), rng.normal(size=(15, 3)))
    with pytest.raises(GanevalError, match="at least 2 training"):
        authenticity([[0.0]], [[1.0]])


def test_row_blocks_do_not_change_the_neighbours():
    rng = np.random.default_rng(7)
    train, gen = rng.normal(size=(200, 6)), rng.normal(size=(150, 6))
    whole = authenticity(train, gen)
    from ganeval.metrics import memorisation

    blocked_t, blocked_g = torch.from_numpy(train), torch.from_numpy(gen)
    d, i = memorisation.nearest_neighbours(blocked_g, blocked_t, block_rows=7)
    np.testing.assert_array_equal(i.numpy(), whole.nearest_real)
    d_self, _ = memorisation.nearest_neighbours(blocked_t, blocked_t, exclude_self=True, block_rows=7)
    d_whole, _ = memorisation.nearest_neighbours(blocked_t, blocked_t, exclude_self=True)
    np.testing.assert_allclose(d_self.numpy(), d_whole.numpy(), rtol=1e-12)  # BLAS blocking: last-bit rounding


def test_authpct_ties_follow_the_exact_distances():
    """Duplicated training rows and generated copies: distances are the float64 difference form, so a
    copy of a duplicated row is at 0 = its neighbour's 0 (not authentic, strict <) and a copy of a lone
    row is at 0 < its neighbour distance (not authentic); the rest as brute force says. Pool3-like
    2048-d values, where the expanded form ‖x‖² + ‖y‖² − 2x·y leaves ~1e-13 noise instead of 0."""
    rng = np.random.default_rng(5)
    train = np.maximum(rng.normal(0.4, 0.5, (300, 2048)), 0).astype(np.float32)
    train[100:150] = train[:50]                                  # 50 duplicated rows
    generated = np.maximum(rng.normal(0.4, 0.5, (200, 2048)), 0).astype(np.float32)
    generated[:40] = train[:40]                                  # copies of duplicated rows
    generated[40:80] = train[200:240]                            # copies of lone rows
    generated[80:90] = generated[90:100]                         # repeats among the generated
    t64, g64 = train.astype(np.float64), generated.astype(np.float64)
    dist_tt = np.array([np.sqrt(((t64 - row) ** 2).sum(axis=1)) for row in t64])  # difference form, row by row
    np.fill_diagonal(dist_tt, np.inf)
    dist_gt = np.array([np.sqrt(((t64 - row) ** 2).sum(axis=1)) for row in g64])
    nearest = dist_gt.argmin(axis=1)
    expected = dist_tt.min(axis=1)[nearest] < dist_gt.min(axis=1)
    result = authenticity(train, generated, device="cpu")
    np.testing.assert_array_equal(result.authentic, expected)
    np.testing.assert_array_equal(result.nearest_real, nearest)
    assert (result.distance[:80] == 0).all() and (result.real_neighbour_distance[:40] == 0).all()
    assert not result.authentic[:80].any() and result.authpct == pytest.approx(100 * expected.mean(), abs=0)
