"""Precision and recall (Kynkäänniemi et al., NeurIPS 2019) and density and coverage
(Naeem et al., ICML 2020) of generated features against real features.

Each real feature r_i gets the radius ρ_k(r_i) = distance to its k-th nearest other real
feature (likewise each fake feature f_j gets ρ_k(f_j) among the fakes). Then, with R real
(N rows) and F fake (M rows):

* precision = fraction of fakes inside some real ball:       f_j ∈ ∪_i B(r_i, ρ_k(r_i));
* recall    = fraction of reals inside some fake ball:        r_i ∈ ∪_j B(f_j, ρ_k(f_j));
* density   = Σ_j #{i : f_j ∈ B(r_i, ρ_k'(r_i))} / (k' M);
* coverage  = fraction of reals whose ball holds some fake:   ∃ j : f_j ∈ B(r_i, ρ_k'(r_i)).

Precision/recall use k = 3 and closed balls (≤), as Kynkäänniemi et al.'s reference code;
density/coverage use k' = 5 and open balls (<), as Naeem et al.'s. All distances are
Euclidean, in float64.

Nothing of size N × M (or N × N) is ever held: distances are produced in row blocks of
``block_rows`` rows (by default about 2²⁴ float64 entries, 128 MB, per block), the k-th
neighbour radii come from a top-k over each block, and the four counts are reduced block
by block. 50k + 50k features of dimension 2048 thus need their float64 copies (1.6 GB)
plus a few hundred MB of blocks, instead of the 20 GB of full distance matrices.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ganeval.errors import GanevalError

__all__ = ["PRDCResult", "prdc", "kth_neighbour_radii", "DEFAULT_BLOCK_ELEMENTS"]

DEFAULT_BLOCK_ELEMENTS = 1 << 24


class PRDCResult(NamedTuple):
    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int


def _block_rows(block_rows: int | None, columns: int) -> int:
    if block_rows is not None:
        if block_rows < 1:
            raise GanevalError(f"block size must be at least 1 row, got {block_rows}")
        return int(block_rows)
    return max(1, DEFAULT_BLOCK_ELEMENTS // max(columns, 1))


def _distances(rows: torch.Tensor, rows_sq: torch.Tensor, cols: torch.Tensor, cols_sq: torch.Tensor) -> torch.Tensor:
    """Euclidean distances [r, c] float64 from ‖a‖² + ‖b‖² − 2aᵀb, clamped at 0 against rounding."""
    squared = rows_sq[:, None] + cols_sq[None, :] - 2.0 * (rows @ cols.T)
    return squared.clamp_(min=0.0).sqrt_()


def kth_neighbour_radii(x, ks, *, block_rows: int | None = None, device=None) -> dict[int, torch.Tensor]:
    """Distance of every row of ``x`` [N, d] to its k-th nearest other row, for each k in ``ks``.

    Returns {k: float64 [N]}. A row's distance 0 to itself is the first of the k + 1 smallest.
    """
    x = _features(x, "features", device)
    ks = sorted(set(int(k) for k in ks))
    if ks[0] < 1 or ks[-1] >= x.shape[0]:
        raise GanevalError(f"k-th nearest neighbours need 1 ≤ k < number of features ({x.shape[0]}), got k={ks}")
    x_sq = (x * x).sum(dim=1)
    step = _block_rows(block_rows, x.shape[0])
    radii = {k: torch.empty(x.shape[0], dtype=torch.float64, device=x.device) for k in ks}
    for start in range(0, x.shape[0], step):
        stop = min(start + step, x.shape[0])
        block = _distances(x[start:stop], x_sq[start:stop], x, x_sq)
        nearest = torch.topk(block, ks[-1] + 1, dim=1, largest=False, sorted=True).values
        for k in ks:
            radii[k][start:stop] = nearest[:, k]
    return radii


def prdc(real, fake, *, k_pr: int = 3, k_dc: int = 5, block_rows: int | None = None, device=None) -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` [M, d] against ``real`` [N, d].

    Float64 on ``device`` (default: where ``real`` lives); memory per block is
    ``block_rows`` × max(N, M) distances (see the module docstring).
    """
    r = _features(real, "real features", device)
    f = _features(fake, "generated features", r.device)
    if r.shape[1] != f.shape[1]:
        raise GanevalError(f"real and generated features differ in dimension ({r.shape[1]} vs {f.shape[1]})")
    real_radii = kth_neighbour_radii(r, (k_pr, k_dc), block_rows=block_rows)
    fake_radius = kth_neighbour_radii(f, (k_pr,), block_rows=block_rows)[k_pr]
    r_sq, f_sq = (r * r).sum(dim=1), (f * f).sum(dim=1)
    real_pr, real_dc = real_radii[k_pr], real_radii[k_dc]

    fakes_in_real_manifold = 0
    density_count = 0
    real_in_fake_manifold = torch.zeros(r.shape[0], dtype=torch.bool, device=r.device)
    real_covered = torch.zeros(r.shape[0], dtype=torch.bool, device=r.device)
    step = _block_rows(block_rows, r.shape[0])
    for start in range(0, f.shape[0], step):
        stop = min(start + step, f.shape[0])
        dist = _distances(f[start:stop], f_sq[start:stop], r, r_sq)  # [fakes in block, N]
        fakes_in_real_manifold += int((dist <= real_pr[None, :]).any(dim=1).sum())
        inside_dc = dist < real_dc[None, :]
        density_count += int(inside_dc.sum())
        real_covered |= inside_dc.any(dim=0)
        real_in_fake_manifold |= (dist <= fake_radius[start:stop, None]).any(dim=0)
    m = f.shape[0]
    return PRDCResult(
        precision=fakes_in_real_manifold / m,
        recall=int(real_in_fake_manifold.sum()) / r.shape[0],  # integer counts: same bits on every device
        density=density_count / (k_dc * m),
        coverage=int(real_covered.sum()) / r.shape[0],
        k_pr=k_pr,
        k_dc=k_dc,
    )


def _features(x, name: str, device=None) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[0] == 0:
        raise GanevalError(f"{name} must be a non-empty [N, d] array, got shape {tuple(t.shape)}")
    return t.to(device=device if device is not None else t.device, dtype=torch.float64)
