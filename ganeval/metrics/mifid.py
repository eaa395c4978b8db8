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

Float64 throughout, without float64 copies of whole sets but one (the unit rows of the set each
minimum is taken over): the moments are accumulated in row blocks and the cosine matrix is formed in row
blocks (no N × M matrix is held).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.arrays import CHECK_ELEMENTS, feature_matrix, moments
from ganeval.metrics.frechet import frechet_distance

__all__ = ["MiFIDResult", "mifid", "min_cosine_distance", "DEFAULT_COSINE_EPS"]

DEFAULT_COSINE_EPS = 0.1
PENALTY_SIDES = ("real", "generated")


class MiFIDResult(NamedTuple):
    mifid: float
    fid: float
    memorization_distance: float  # d before thresholding: mean minimum cosine distance
    penalty: float  # the divisor: d if d < eps else 1


def min_cosine_distance(rows, others, *, block_rows: int | None = None) -> float:
    """Mean over ``rows`` [N, d] of min_j (1 − |cos(rows_i, others_j)|), others [M, d]; float64.

    Rows of either set whose entries sum to exactly 0 are dropped first (torchmetrics does). Memory:
    one float64 unit-row copy of ``others`` (the GEMM operand) and one block of ``rows`` with its
    [block, M] cosines (2²⁴ entries, 128 MB); ``rows`` is never copied whole.
    """
    step = max(1, CHECK_ELEMENTS // max(others.shape[1], 1))
    kept = sum(int((others[s:s + step].to(torch.float64).sum(dim=1) != 0).sum())
               for s in range(0, others.shape[0], step))
    b = torch.empty(kept, others.shape[1], dtype=torch.float64, device=others.device)
    if b.shape[0] == 0:
        raise GanevalError("MiFID: every feature row of one side sums to 0; the cosine distance is undefined")
    filled = 0
    for start in range(0, others.shape[0], step):  # the unit rows, block by block into the one copy
        r = others[start:start + step].to(torch.float64)
        r = r[r.sum(dim=1) != 0]
        b[filled:filled + r.shape[0]] = r / r.norm(dim=1, keepdim=True)
        filled += r.shape[0]
    block_rows = block_rows or max(1, (1 << 24) // b.shape[0])
    total = torch.zeros((), dtype=torch.float64, device=b.device)
    kept = 0
    for start in range(0, rows.shape[0], block_rows):
        a = rows[start:start + block_rows].to(b.device, torch.float64)
        a = a[a.sum(dim=1) != 0]
        if a.shape[0] == 0:
            continue
        cosines = ((a / a.norm(dim=1, keepdim=True)) @ b.T).abs_()
        total += (1.0 - cosines.max(dim=1).values).sum()  # = min(1 − |cos|) exactly: 1 − x is monotone
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
