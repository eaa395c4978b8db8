"""Memorisation and novelty scores, as dgm-eval (Stein et al., "Exposing flaws of generative model
evaluation metrics and their unfair treatment of diffusion models", NeurIPS 2023) computes them.

**Authenticity, AuthPct** (Alaa et al., "How Faithful is your Synthetic Data?", ICML 2022; dgm-eval
``dgm_eval/metrics/authpct.py``): a generated sample g is *authentic* when its nearest training
sample r is closer to another training sample than to g:

    authentic(g) ⇔ d(r, NN_train∖r(r)) < d(g, r),   r = NN_train(g);   AuthPct = 100 · mean authentic.

Low AuthPct means generated samples sit closer to training samples than those do to each other.

**Data-copying test C_T** (Meehan et al., "A Non-Parametric Test to Detect Data-Copying in Generative
Models", AISTATS 2020; dgm-eval ``dgm_eval/metrics/ct.py``): needs the training set T, a held-out
test set P_n from the same distribution and the generated set Q_m. Features of more than 64
dimensions are projected on the top 64 principal components of T; k-means (3 cells, k-means++,
10 restarts) partitions the space on T. In each cell π the distances of P_n and Q_m to their nearest
training sample in π are compared by the Mann–Whitney U statistic of Q_m against P_n, z-scored as
dgm-eval does:

    Z_U(π) = (U − (nm/2 − 0.5)) / √(nm(n + m + 1)/12)   (n, m the cell's test and generated counts)

and C_T = Σ_π P_n(π) Z_U(π) / Σ_π P_n(π) over the cells holding more than 20 generated samples
(τ = 20/m). C_T ≪ 0 means generated samples are closer to the training set than fresh data is:
data copying; ≫ 0 underfitting.

Differences from dgm-eval, all deterministic where it is random: PCA is exact (float64
eigendecomposition of T's covariance, where scikit-learn's PCA may choose a randomized solver), k-means
is scikit-learn's ``KMeans(n_clusters, n_init=10, random_state=seed)`` (dgm-eval leaves the seed
unset), and nearest-neighbour distances are exact: the float64 difference form, found at fp32
GEMM speed by ``ganeval.metrics.neighbours.nearest_neighbours``, so duplicated features tie exactly
(AuthPct in dgm-eval is float32, expanded form). Memory: no float64 copy of a whole set (blocks,
one float32 working copy of the training set, C_T's 64-d projections).
tests/test_memorisation.py checks both against a transcription of dgm-eval's code.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import rankdata

from ganeval.core.errors import GanevalError
from ganeval.metrics.arrays import CHECK_ELEMENTS, feature_matrix, moments
from ganeval.metrics.neighbours import nearest_neighbours

__all__ = ["AuthenticityResult", "authenticity", "CTResult", "data_copying_ct", "nearest_neighbours"]

CT_PCA_COMPONENTS = 64
CT_CELLS = 3
CT_MIN_GENERATED_PER_CELL = 20


class AuthenticityResult(NamedTuple):
    authpct: float  # percentage of authentic generated samples, 0–100
    authentic: np.ndarray  # bool [M]
    nearest_real: np.ndarray  # int64 [M]: index of each generated sample's nearest training sample
    distance: np.ndarray  # float64 [M]: that distance
    real_neighbour_distance: np.ndarray  # float64 [M]: the nearest training sample's distance to its own nearest


class CTResult(NamedTuple):
    ct: float
    cell_scores: np.ndarray  # float64 [cells]: Z_U per cell (0 where a cell has no generated sample)
    cell_used: np.ndarray  # bool [cells]: cells with more than the minimum of generated samples
    test_share: np.ndarray  # float64 [cells]: P_n(π)


def authenticity(train, generated, *, device=None) -> AuthenticityResult:
    """AuthPct of ``generated`` [M, d] against the training features ``train`` [N ≥ 2, d] (float64)."""
    t = feature_matrix(train, "training features", device)
    g = feature_matrix(generated, "generated features", t.device)
    if t.shape[1] != g.shape[1]:
        raise GanevalError(f"AuthPct: training and generated features differ in dimension ({t.shape[1]} vs {g.shape[1]})")
    if t.shape[0] < 2:
        raise GanevalError("AuthPct needs at least 2 training features (each needs a nearest other one)")
    real_nn, _ = nearest_neighbours(t, t, exclude_self=True)
    distance, nearest = nearest_neighbours(g, t)
    real_neighbour = real_nn[nearest]
    authentic = real_neighbour < distance
    return AuthenticityResult(100.0 * float(authentic.double().mean()), authentic.cpu().numpy(),
                              nearest.cpu().numpy(), distance.cpu().numpy(), real_neighbour.cpu().numpy())


def _pca_projection(train: torch.Tensor, components: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean [d], basis [d, components]) of ``train``'s top principal components (exact, float64;
    the covariance accumulated in row blocks, so ``train`` is not copied)."""
    mean, covariance = moments(train)
    _, vectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    return mean, vectors[:, ::-1][:, :components]


def _projected(x: torch.Tensor, mean: np.ndarray | None, basis: np.ndarray | None) -> np.ndarray:
    """float64 [n, components] (x − mean) · basis, in row blocks; x as float64 when not projected."""
    if basis is None:
        return x.to(torch.float64).cpu().numpy()
    out = np.empty((x.shape[0], basis.shape[1]))
    step = max(1, CHECK_ELEMENTS // max(x.shape[1], 1))
    for start in range(0, x.shape[0], step):
        out[start:start + step] = (x[start:start + step].to(torch.float64).cpu().numpy() - mean) @ basis
    return out


def mann_whitney_z(generated_distances: np.ndarray, test_distances: np.ndarray) -> float:
    """dgm-eval's z-scored U of the generated distances against the test distances (midranks for ties)."""
    m, n = len(generated_distances), len(test_distances)
    ranks = rankdata(np.concatenate([generated_distances, test_distances]))
    u = ranks[:m].sum() - m * (m + 1) / 2.0  # U of the first sample, as scipy.stats.mannwhitneyu
    return float((u - (n * m / 2.0 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12.0))


def data_copying_ct(train, test, generated, *, cells: int = CT_CELLS, pca_components: int = CT_PCA_COMPONENTS,
                    min_generated_per_cell: int = CT_MIN_GENERATED_PER_CELL, seed: int = 0,
                    device=None) -> CTResult:
    """C_T of ``generated`` [m, d] given ``train`` [l, d] and held-out ``test`` [n, d] real features.

    See the module docstring; ``seed`` fixes k-means' initialisation.
    """
    from sklearn.cluster import KMeans  # scikit-learn is a ganeval dependency; imported when used

    t = feature_matrix(train, "training features", device)
    p = feature_matrix(test, "test features", t.device)
    q = feature_matrix(generated, "generated features", t.device)
    if not t.shape[1] == p.shape[1] == q.shape[1]:
        raise GanevalError(f"C_T: training, test and generated features differ in dimension "
                           f"({t.shape[1]}, {p.shape[1]}, {q.shape[1]})")
    if t.shape[0] < cells:
        raise GanevalError(f"C_T needs at least {cells} training features for {cells} cells, got {t.shape[0]}")
    mean = basis = None
    if t.shape[1] > pca_components:
        mean, basis = _pca_projection(t, pca_components)
    t_np, p_np, q_np = (_projected(x, mean, basis) for x in (t, p, q))
    kmeans = KMeans(n_clusters=cells, n_init=10, random_state=seed).fit(t_np)
    t_cells, p_cells, q_cells = (kmeans.predict(x) for x in (t_np, p_np, q_np))

    m, n = q_np.shape[0], p_np.shape[0]
    test_share = np.bincount(p_cells, minlength=cells) / n
    generated_counts = np.bincount(q_cells, minlength=cells)
    used = generated_counts / m > min_generated_per_cell / m
    scores = np.zeros(cells)
    as_tensor = lambda x: torch.from_numpy(np.ascontiguousarray(x)).to(t.device)  # noqa: E731
    for cell in range(cells):
        cell_train, cell_test, cell_gen = t_np[t_cells == cell], p_np[p_cells == cell], q_np[q_cells == cell]
        if len(cell_test) == 0:
            raise GanevalError(f"C_T: k-means cell {cell} holds no test features; pass more test features "
                               "or fewer cells")
        if len(cell_gen) == 0:
            continue
        train_tensor = as_tensor(cell_train)
        gen_d, _ = nearest_neighbours(as_tensor(cell_gen), train_tensor)
        test_d, _ = nearest_neighbours(as_tensor(cell_test), train_tensor)
        scores[cell] = mann_whitney_z(gen_d.cpu().numpy(), test_d.cpu().numpy())
    if not used.any():
        raise GanevalError(f"C_T: no k-means cell holds more than {min_generated_per_cell} generated features; "
                           "pass more generated features")
    ct = float(test_share[used] @ scores[used] / test_share[used].sum())
    return CTResult(ct, scores, used, test_share)
