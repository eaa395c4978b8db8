"""Precision and recall (Kynkäänniemi et al., NeurIPS 2019) and density and coverage
(Naeem et al., ICML 2020) of generated features against real features.

Each real feature r_i gets the radius ρ_k(r_i) = distance to its k-th nearest other real
feature (likewise each fake feature f_j gets ρ_k(f_j) among the fakes). Then, with R real
(N rows) and F fake (M rows):

* precision = fraction of fakes inside some real ball:       f_j ∈ ∪_i B(r_i, ρ_k(r_i));
* recall    = fraction of reals inside some fake ball:        r_i ∈ ∪_j B(f_j, ρ_k(f_j));
* density   = Σ_j #{i : f_j ∈ B(r_i, ρ_k'(r_i))} / (k' M);
* coverage  = fraction of reals whose ball holds some fake:   ∃ j : f_j ∈ B(r_i, ρ_k'(r_i)).

Precision/recall use k = 3, density/coverage k' = 5; every ball is open: a point is inside when
its distance is strictly less than the radius, as the `prdc` package (Naeem et al.'s code) and
dgm-eval compare them. With exact distances that decides duplicated features the way the
definition does: a copy of a real feature lies inside a real ball only when the ball's radius is
above 0. (Kynkäänniemi et al.'s own code uses closed balls; on continuous features without ties
the two agree.) All distances that decide anything are the float64 difference form
sqrt(Σ (x − y)²) of the given values (``ganeval.metrics.neighbours``): radii and memberships
equal the float64 computation's, duplicates included.

Speed and memory: distances are screened by fp32 GEMM in row blocks (the matrix-product limit of
the machine) and only pairs near a decision are recomputed in float64. Nothing of size N × M is
held: besides the features (float32, never copied whole to float64), one float32 working copy of
one set (the GEMM's right operand) and per block a [rows, N] float32 screen of about 2²⁴ entries
(64 MB) with its masks. 50k + 50k features of dimension 2048 (0.8 GB) need about 1.2 GB.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.neighbours import (DEFAULT_BLOCK_ELEMENTS, RADIUS_SLACK, Side, _radii, as_features, gemm_margin,
                                        kth_neighbour_radii, pair_distances, screen_blocks,
                                        up_to_float32 as _up_to_float32)

__all__ = ["PRDCResult", "prdc", "kth_neighbour_radii", "DEFAULT_BLOCK_ELEMENTS"]


class PRDCResult(NamedTuple):
    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int


def prdc(real, fake, *, k_pr: int = 3, k_dc: int = 5, block_rows: int | None = None, device=None) -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` [M, d] against ``real`` [N, d].

    Exact (float64 difference-form distances wherever they decide, see the module docstring) at
    fp32 GEMM speed, on ``device`` (default: where ``real`` lives); ``block_rows`` rows per block
    (default: about 2²⁴ distances per block).
    """
    r = as_features(real, "real features", device)
    f = as_features(fake, "generated features", r.device)
    if r.shape[1] != f.shape[1]:
        raise GanevalError(f"real and generated features differ in dimension ({r.shape[1]} vs {f.shape[1]})")
    k_pr, k_dc = int(k_pr), int(k_dc)
    for x, name in ((r, "real"), (f, "generated")):
        k_max = max(k_pr, k_dc) if name == "real" else k_pr
        if min(k_pr, k_dc) < 1 or k_max >= x.shape[0]:
            raise GanevalError(f"k-th nearest neighbours need 1 ≤ k < number of {name} features ({x.shape[0]}), "
                               f"got k={k_pr}, {k_dc}")
    real_side = Side(r)
    fake_side = Side(f, center=real_side.center)  # one common shift, so the cross pass compares like with like
    fake_radius = _radii(fake_side, [k_pr], block_rows)[k_pr]  # its working copy is freed before the next
    real_radii = _radii(real_side, sorted({k_pr, k_dc}), block_rows)
    real_pr, real_dc = real_radii[k_pr], real_radii[k_dc]

    # Screen thresholds (squared, float64): a pair whose D̃ lies above both its column's (real ball)
    # and its row's (fake ball) threshold is outside every ball by the bound; the others are
    # recomputed exactly. Thresholds are rounded up to float32 so the float32 comparison keeps them.
    eta = gemm_margin(real_side.inner)
    widen = 1.0 + RADIUS_SLACK
    real_ball = torch.maximum(real_pr, real_dc).square() * widen + eta * real_side.norms  # + η‖f‖², per block
    fake_ball = fake_radius.square() * widen + eta * (fake_side.norms + real_side.max_norm)
    rows_found, cols_found, screened = [], [], []
    right = real_side.right()
    for start, stop, screen in screen_blocks(fake_side, right, block_rows):
        column_limit = _up_to_float32(real_ball + eta * float(fake_side.norms[start:stop].max()))
        row_limit = _up_to_float32(fake_ball[start:stop])
        near = torch.le(screen, column_limit[None, :])
        near |= torch.le(screen, row_limit[:, None])
        rows, cols = near.nonzero(as_tuple=True)
        rows_found.append(rows + start)
        cols_found.append(cols)
        screened.append(screen[rows, cols].to(torch.float64))
        del screen, near
    del right
    rows, cols, screen = torch.cat(rows_found), torch.cat(cols_found), torch.cat(screened)

    # Each near pair against each radius: surely inside (D̃ + m below the squared radius, less the
    # slack), surely outside (D̃ − m above it), or undecided: only the undecided pairs get their
    # exact float64 distance, and are then decided with the strict < on exact distances.
    margin = eta * (fake_side.norms[rows] + real_side.norms[cols])
    radii = {"pr": real_pr[cols], "dc": real_dc[cols], "fake": fake_radius[rows]}
    inside, undecided = {}, torch.zeros_like(rows, dtype=torch.bool)
    for name, radius in radii.items():
        squared = radius.square()
        inside[name] = screen + margin < squared * (1.0 - RADIUS_SLACK)
        undecided |= ~inside[name] & ~(screen - margin > squared * widen)
    exact_rows = undecided.nonzero(as_tuple=True)[0]
    dist = pair_distances(f, r, rows[exact_rows], cols[exact_rows])
    for name, radius in radii.items():
        inside[name][exact_rows] = dist < radius[exact_rows]

    m, n = f.shape[0], r.shape[0]
    in_real_pr, in_real_dc, in_fake = inside["pr"], inside["dc"], inside["fake"]
    fakes_in_real_manifold = torch.zeros(m, dtype=torch.bool, device=r.device)
    fakes_in_real_manifold[rows[in_real_pr]] = True
    real_covered = torch.zeros(n, dtype=torch.bool, device=r.device)
    real_covered[cols[in_real_dc]] = True
    real_in_fake_manifold = torch.zeros(n, dtype=torch.bool, device=r.device)
    real_in_fake_manifold[cols[in_fake]] = True
    return PRDCResult(  # integer counts: same bits on every device
        precision=int(fakes_in_real_manifold.count_nonzero()) / m,
        recall=int(real_in_fake_manifold.count_nonzero()) / n,
        density=int(in_real_dc.count_nonzero()) / (k_dc * m),
        coverage=int(real_covered.count_nonzero()) / n,
        k_pr=k_pr,
        k_dc=k_dc,
    )

