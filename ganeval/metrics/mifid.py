"""Memorization-informed Fréchet Inception Distance (MiFID; Bai et al., "On Training Sample
Memorization: Lessons from Benchmarking Generative Modeling with a Large-scale Competition",
KDD 2021; the Kaggle "Generative Dog Images" metric).

    MiFID = FID / d_thr,   d_thr = d if d < ε else 1,   ε = 0.1 (default)

where d is the mean, over the rows of one set, of the minimum cosine distance
1 − |cos(a, b)| to the rows of the other set (the absolute cosine, as both references).
A set that copies the other has d → 0 and its FID is divided by a small number.

Which set the mean runs over: torchmetrics' ``MemorizationInformedFrechetInceptionDistance``
(1.9.0, ``_compute_cosine_distance(real, fake)``) averages over the REAL rows (each real row's
nearest generated row); the Kaggle code averages over the generated rows. ``penalty_over``
selects; the default "real" is torchmetrics', which ganeval is tested against
(tests/test_mifid.py, ≤ 1e-6 relative). As torchmetrics, rows whose entries sum to 0 are left
out of d, the penalty is d + 1e-14, and FID ≤ 1e-8 gives MiFID = 0.

Float64 results at fp32 GEMM speed, without float64 copies of whole sets: the moments are
accumulated in float64 row blocks, and the cosines are screened by an fp32 GEMM in row blocks with
a stated error bound, only the candidates for each row's maximum computed in float64
(:func:`min_cosine_distance`; no N × M matrix is held).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.arrays import CHECK_ELEMENTS, feature_matrix, moments
from ganeval.metrics.frechet import frechet_distance
from ganeval.metrics.neighbours import _exact_fp32_matmul, up_to_float32

__all__ = ["MiFIDResult", "mifid", "min_cosine_distance", "cosine_margin", "DEFAULT_COSINE_EPS"]

DEFAULT_COSINE_EPS = 0.1
PENALTY_SIDES = ("real", "generated")
_PAIR_CHUNK_ELEMENTS = 1 << 20  # float64 entries per chunk of candidate pairs (8 MB per operand)


class MiFIDResult(NamedTuple):
    mifid: float
    fid: float
    memorization_distance: float  # d before thresholding: mean minimum cosine distance
    penalty: float  # the divisor: d if d < eps else 1


def cosine_margin(dim: int) -> float:
    """η: |c̃ − ĉ| ≤ η for the fp32 screen c̃ of the float64 cosine ĉ = â·b̂ of two unit rows of
    dimension ``dim``. Rounding â and b̂ to float32 moves the dot product by ≤ (2u + u²)Σ|â_t b̂_t| ≤
    2u + u² (Cauchy–Schwarz on unit rows), and any float32 summation order errs by ≤ γ_d(1 + u)²
    (Higham §3.1); 1 % on top and 2⁻⁴⁰ for the float64 unit rows themselves."""
    u = 2.0 ** -24
    du = dim * u
    if du >= 0.5:
        return math.inf  # no useful bound: every pair is a candidate
    return 1.01 * (du / (1.0 - du) * (1.0 + u) ** 2 + 2.0 * u + u * u) + 2.0 ** -40


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    """float64 unit rows of ``x``'s rows whose entries do not sum to exactly 0 (torchmetrics drops those)."""
    x = x.to(torch.float64)
    x = x[x.sum(dim=1) != 0]
    return x / x.norm(dim=1, keepdim=True)


def min_cosine_distance(rows, others, *, block_rows: int | None = None) -> float:
    """Mean over ``rows`` [N, d] of min_j (1 − |cos(rows_i, others_j)|), others [M, d]; float64.

    Rows of either set whose entries sum to exactly 0 are dropped first (torchmetrics does). The
    cosines are screened by an fp32 GEMM of the unit rows (error ≤ :func:`cosine_margin`); for each
    row only the columns within twice that margin of its largest screened |cos| can hold the largest
    float64 |cos|, and only those are computed in float64 (â·b̂ of the float64 unit rows): the result
    is the float64 computation's, at fp32 GEMM speed. Memory: one float32 unit-row copy of
    ``others`` (the GEMM operand), one block of ``rows`` with its [block, M] screen (2²⁴ entries,
    64 MB) and the candidates; neither set is copied whole to float64.
    """
    step = max(1, CHECK_ELEMENTS // max(others.shape[1], 1))
    kept_index = torch.cat([(others[s:s + step].to(torch.float64).sum(dim=1) != 0).nonzero()[:, 0] + s
                            for s in range(0, others.shape[0], step)])
    if kept_index.numel() == 0:
        raise GanevalError("MiFID: every feature row of one side sums to 0; the cosine distance is undefined")
    b32 = torch.empty(kept_index.numel(), others.shape[1], dtype=torch.float32, device=others.device)
    b_norms = torch.empty(kept_index.numel(), dtype=torch.float64, device=others.device)
    for start in range(0, kept_index.numel(), step):
        block = others[kept_index[start:start + step]].to(torch.float64)
        b_norms[start:start + step] = block.norm(dim=1)
        b32[start:start + step] = (block / b_norms[start:start + step, None]).to(torch.float32)
    margin = 2.0 * cosine_margin(others.shape[1])
    block_rows = block_rows or max(1, (1 << 24) // b32.shape[0])
    total = torch.zeros((), dtype=torch.float64, device=b32.device)
    kept = 0
    for start in range(0, rows.shape[0], block_rows):
        a = _unit_rows(rows[start:start + block_rows].to(b32.device))
        if a.shape[0] == 0:
            continue
        with _exact_fp32_matmul():
            screen = (a.to(torch.float32) @ b32.T).abs_()
        limit = up_to_float32(screen.max(dim=1).values.to(torch.float64) - margin)
        r, c = torch.ge(screen, limit[:, None]).nonzero(as_tuple=True)
        del screen
        cosines = torch.empty(r.shape[0], dtype=torch.float64, device=a.device)
        chunk = max(1, _PAIR_CHUNK_ELEMENTS // max(a.shape[1], 1))  # many near-ties: bounded chunks
        for p in range(0, r.shape[0], chunk):  # float64 â·b̂ of the candidate pairs
            columns = others[kept_index[c[p:p + chunk]]].to(torch.float64) / b_norms[c[p:p + chunk], None]
            cosines[p:p + chunk] = (a[r[p:p + chunk]] * columns).sum(dim=1).abs_()
        best = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device).scatter_reduce_(
            0, r, cosines, reduce="amax")
        total += (1.0 - best).sum()  # = min(1 − |cos|) exactly: 1 − x is monotone
        kept += a.shape[0]
    if kept == 0:
        raise GanevalError("MiFID: every feature row of one side sums to 0; the cosine distance is undefined")
    return float(total / kept)


def mifid(real, fake, *, cosine_distance_eps: float = DEFAULT_COSINE_EPS, penalty_over: str = "real",
          device=None) -> MiFIDResult:
    """MiFID of generated features ``fake`` [M, d] against ``real`` [N, d] (float arrays/tensors).

    FID comes from :func:`ganeval.metrics.frechet.frechet_distance` on the float64 means and
    (ddof = 1) covariances; see the module docstring for the penalty.
    """
    if penalty_over not in PENALTY_SIDES:
        raise GanevalError(f"MiFID: penalty_over must be 'real' or 'generated', got {penalty_over!r}")
    if not 0 < float(cosine_distance_eps) <= 1:
        raise GanevalError(f"MiFID: cosine_distance_eps must be in (0, 1], got {cosine_distance_eps}")
    r = feature_matrix(real, "real features", device, min_rows=2, metric="MiFID")
    f = feature_matrix(fake, "generated features", r.device, min_rows=2, metric="MiFID")
    if r.shape[1] != f.shape[1]:
        raise GanevalError(f"MiFID: real and generated features differ in dimension ({r.shape[1]} vs {f.shape[1]})")
    fid = frechet_distance(*moments(r), *moments(f))
    d = min_cosine_distance(r, f) if penalty_over == "real" else min_cosine_distance(f, r)
    penalty = d if d < cosine_distance_eps else 1.0
    value = fid / (penalty + 1e-14) if fid > 1e-8 else 0.0
    return MiFIDResult(float(value), float(fid), float(d), float(penalty))
