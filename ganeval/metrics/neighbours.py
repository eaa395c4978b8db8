"""Exact Euclidean k-nearest-neighbour radii and ball memberships at fp32 GEMM speed, in blocks.

What "exact" means here: every distance that decides anything equals the float64 difference form
``sqrt(Σ_t (x_t − y_t)²)`` of the given values (float32 inputs are subtracted exactly in float64),
the definition the references compare with a strict ``<``. Equal inputs thus give equal distances
(duplicated features tie exactly), which the expanded form ‖x‖² + ‖y‖² − 2xᵀy does not guarantee.

How it stays fast: all distances are first *screened* by one fp32 GEMM per block of rows, on
values centred on a common vector c (distances do not change; x̃ = fl32(x − c)),

    D̃ = [x̃, ‖x̃‖², 1, 0…] · [−2ỹ, 1, ‖ỹ‖², 0…]ᵀ     (the squared norms folded into the product),

and only the pairs whose order or side of a radius the screen cannot decide are recomputed in
float64 with the difference form. The screen's error bound (``gemm_margin``): with u = 2⁻²⁴ the
unit roundoff of float32 and K the padded inner dimension, any summation order of an fp32 dot
product errs by at most γ_K·Σ|a_t b_t|, γ_K = Ku/(1 − Ku) (Higham, Accuracy and Stability of
Numerical Algorithms, §3.1), and here Σ|a_t b_t| = 2Σ|x̃_t ỹ_t| + ‖x̃‖² + ‖ỹ‖² ≤ 2(‖x̃‖² + ‖ỹ‖²);
rounding the float64 norms to float32 adds u(‖x̃‖² + ‖ỹ‖²), and the rounding of x − c to float32
(|x̃ − (x − c)| ≤ u|x − c|) moves the squared distance by at most 4.01u(‖x̃‖² + ‖ỹ‖²). So

    |D̃_ij − D_ij| ≤ η · (‖x̃_i‖² + ‖ỹ_j‖²),   η = 1.01 · (2γ_K(1 + 2u) + 6u + 2⁻³⁹),

about 2.5e-4 for d = 2048 (the float64 distances themselves are within 2⁻⁴⁰ relative of the true
ones, inside the last term). A pair is decided by the screen only when it lies outside that margin
of the radius (itself widened by 1e-12 relative for the float64 rounding of the radius and of the
square root); every other pair is a candidate and is recomputed exactly. The GEMM runs with
float32 matmul precision "highest" (no TF32/bf16 shortcuts, which the bound does not cover).

Memory: besides the features themselves, one [N, K] float32 operand of the column set (the GEMM's
right side) and per block one [rows, N] float32 screen plus boolean masks
(``DEFAULT_BLOCK_ELEMENTS`` entries, 64 MB of float32), and the candidate pairs (a few per row).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, NamedTuple

import torch

from ganeval.core.errors import GanevalError

__all__ = ["DEFAULT_BLOCK_ELEMENTS", "RADIUS_SLACK", "gemm_margin", "pair_distances", "kth_neighbour_radii",
           "nearest_neighbours", "Side", "screen_blocks", "up_to_float32"]

DEFAULT_BLOCK_ELEMENTS = 1 << 24
RADIUS_SLACK = 1e-12
"""Relative widening of every radius in the screen: covers the float64 rounding of distances and square roots."""
_EXTRA_CANDIDATES = 8  # top-k takes this many more than needed, so a full-row scan is rarely necessary
_PAIR_CHUNK_ELEMENTS = 1 << 20  # float64 entries per chunk of exact pair distances (8 MB per operand)
_PAD = 16  # the GEMM's inner dimension is padded to a multiple of this (aligned rows)


def gemm_margin(inner_dim: int) -> float:
    """η: |D̃ − D| ≤ η·(‖x̃‖² + ‖ỹ‖²) for the fp32 screen with inner dimension ``inner_dim`` (see the module)."""
    u = 2.0 ** -24
    ku = inner_dim * u
    if ku >= 0.5:
        return math.inf  # no useful bound: every pair becomes a candidate
    gamma = ku / (1.0 - ku)
    return 1.01 * (2.0 * gamma * (1.0 + 2.0 * u) + 6.0 * u + 2.0 ** -39)


@contextlib.contextmanager
def _exact_fp32_matmul() -> Iterator[None]:
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def block_rows_for(block_rows: int | None, columns: int) -> int:
    if block_rows is not None:
        if block_rows < 1:
            raise GanevalError(f"block size must be at least 1 row, got {block_rows}")
        return int(block_rows)
    return max(1, DEFAULT_BLOCK_ELEMENTS // max(columns, 1))


class Side:
    """One feature set as the screen needs it: the given values ``x`` [N, d] (float32 or float64,
    never copied), the centred float32 values x̃ = fl32(x − c) the GEMM uses (built per block), their
    float64 squared norms ‖x̃‖² [N], and the fp32 GEMM operands.

    ``center`` (float32 [d], the same for every set compared): distances do not change under a
    common shift, but the screen's error bound scales with ‖x̃‖² + ‖ỹ‖², which centring on the
    data's mean makes several times smaller for non-negative features like pool3's (‖x‖² ≈ 650,
    ‖x − mean‖² ≈ 170): several times fewer pairs to recompute.
    """

    def __init__(self, x: torch.Tensor, center: torch.Tensor | None = None):
        self.x = x
        self.n, self.dim = x.shape
        self.inner = -(-(self.dim + 2) // _PAD) * _PAD
        self.center = (mean_of(x) if center is None else center).to(device=x.device, dtype=torch.float32)
        self.norms = torch.empty(self.n, dtype=torch.float64, device=x.device)
        step = block_rows_for(None, self.dim)
        for start in range(0, self.n, step):  # float64 per block: no float64 copy of the whole set
            block = self.centred(start, start + step).to(torch.float64)
            self.norms[start:start + step] = (block * block).sum(dim=1)
        if not bool(torch.isfinite(self.norms).all()) or float(self.norms.max()) > 1e30:
            raise GanevalError("features are not finite or too large (squared norm above 1e30) for distances")
        self.max_norm = float(self.norms.max())

    def centred(self, start: int, stop: int) -> torch.Tensor:
        """x̃ = fl32(x − c) of rows start:stop, float32 (one rounding: float64 inputs are shifted in float64)."""
        block = self.x[start:stop]
        if block.dtype == torch.float64:
            return (block - self.center.to(torch.float64)).to(torch.float32)
        return block - self.center

    def left(self, start: int, stop: int) -> torch.Tensor:
        """[x̃, ‖x̃‖², 1, 0…] float32 [stop − start, inner] of rows start:stop."""
        out = torch.zeros(stop - start, self.inner, dtype=torch.float32, device=self.x.device)
        out[:, :self.dim] = self.centred(start, stop)
        out[:, self.dim] = self.norms[start:stop]
        out[:, self.dim + 1] = 1.0
        return out

    def right(self) -> torch.Tensor:
        """[−2x̃, 1, ‖x̃‖², 0…] float32 [N, inner]: the column operand (one working copy of the set)."""
        out = torch.zeros(self.n, self.inner, dtype=torch.float32, device=self.x.device)
        step = block_rows_for(None, self.dim)
        for start in range(0, self.n, step):
            out[start:start + step, :self.dim] = self.centred(start, start + step)
        out[:, :self.dim] *= -2.0  # exact: a power of two
        out[:, self.dim] = 1.0
        out[:, self.dim + 1] = self.norms
        return out


def mean_of(x: torch.Tensor) -> torch.Tensor:
    """Column means of ``x`` [N, d] as float32 [d], accumulated in float64 block by block."""
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    step = block_rows_for(None, x.shape[1])
    for start in range(0, x.shape[0], step):
        total += x[start:start + step].to(torch.float64).sum(dim=0)
    return (total / x.shape[0]).to(torch.float32)


def screen_blocks(rows: Side, cols_right: torch.Tensor, block_rows: int | None):
    """Yield (start, stop, D̃ float32 [stop − start, N]) over row blocks: the fp32 squared-distance screen."""
    step = block_rows_for(block_rows, cols_right.shape[0])
    with _exact_fp32_matmul():
        for start in range(0, rows.n, step):
            stop = min(start + step, rows.n)
            yield start, stop, rows.left(start, stop) @ cols_right.T


def pair_distances(x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Exact distances float64 [P] of the pairs (x[rows[p]], y[cols[p]]): sqrt(Σ (x − y)²) in float64."""
    out = torch.empty(rows.shape[0], dtype=torch.float64, device=x.device)
    chunk = max(1, _PAIR_CHUNK_ELEMENTS // max(x.shape[1], 1))
    for start in range(0, rows.shape[0], chunk):
        stop = start + chunk
        diff = x[rows[start:stop]].to(torch.float64).sub_(y[cols[start:stop]])  # exact for float32 inputs
        out[start:stop] = diff.square_().sum(dim=1).sqrt_()
    return out


def _sorted_by_row(rows: torch.Tensor, values: torch.Tensor, n_rows: int):
    """(values sorted within each row, start offset of each row [n_rows], count per row [n_rows])."""
    order = torch.argsort(values, stable=True)
    order = order[torch.argsort(rows[order], stable=True)]
    counts = torch.bincount(rows, minlength=n_rows)
    starts = torch.cumsum(counts, 0) - counts
    return values[order], starts, counts


def kth_neighbour_radii(x, ks, *, block_rows: int | None = None, device=None) -> dict[int, torch.Tensor]:
    """Distance of every row of ``x`` [N, d] to its k-th nearest other row, for each k in ``ks``.

    Returns {k: float64 [N]}: position k (0-based) of the row's exact distances to the whole set in
    ascending order, its own distance 0 at position 0 (a duplicate of the row ties with it). Equal
    to the float64 difference form's answer (see the module docstring); fp32 GEMM speed.
    """
    x = as_features(x, "features", device)
    ks = sorted(set(int(k) for k in ks))
    if ks[0] < 1 or ks[-1] >= x.shape[0]:
        raise GanevalError(f"k-th nearest neighbours need 1 ≤ k < number of features ({x.shape[0]}), got k={ks}")
    side = Side(x)
    return _radii(side, ks, block_rows)


def _radii(side: Side, ks: list[int], block_rows: int | None) -> dict[int, torch.Tensor]:
    """Exact k-th neighbour distances for each k in ``ks`` (see kth_neighbour_radii).

    Per row, with v the sorted screen values and m the row's margin, the k-th exact value t_k lies
    in [v_k − m, v_k + m]; an entry with v_j < v_k − 2m is surely below t_k, one with v_j > v_k + 2m
    surely above. So t_k is the (k − b_k)-th smallest exact distance of the window |v_j − v_k| ≤ 2m,
    b_k the count surely below: only the windows are recomputed in float64, not the nearest ones.
    """
    n = side.n
    need = ks[-1] + 1  # the k + 1 smallest, self included
    take = min(n, need + _EXTRA_CANDIDATES)
    eta = gemm_margin(side.inner)
    found = {k: ([], []) for k in ks}
    below = {k: torch.zeros(n, dtype=torch.long, device=side.x.device) for k in ks}
    right = side.right()
    for start, stop, screen in screen_blocks(side, right, block_rows):
        values, index = torch.topk(screen, take, dim=1, largest=False, sorted=True)
        v = values.to(torch.float64)
        reach = 2.0 * eta * (side.norms[start:stop] + side.max_norm)[:, None]  # 2m per row
        # The top-k list holds every window when its last value lies beyond the largest window.
        complete = (v[:, -1:] > v[:, need - 1:need] + reach)[:, 0] | (take == n)
        for k in ks:
            window = ((v - v[:, k:k + 1]).abs() <= reach) & complete[:, None]
            below[k][start:stop] = ((v < v[:, k:k + 1] - reach) & complete[:, None]).sum(dim=1)
            r, c = window.nonzero(as_tuple=True)
            found[k][0].append(r + start)
            found[k][1].append(index[r, c])
        incomplete = (~complete).nonzero(as_tuple=True)[0]
        if incomplete.numel():  # many near-ties: every candidate of those rows, from the whole row
            limit = v[incomplete, need - 1:need] + reach[incomplete]
            sub_r, sub_c = (screen[incomplete].to(torch.float64) <= limit).nonzero(as_tuple=True)
            for k in ks:
                found[k][0].append(incomplete[sub_r] + start)
                found[k][1].append(sub_c)
        del screen, values, index, v
    del right
    radii = {}
    for k in ks:
        rows, cols = torch.cat(found[k][0]), torch.cat(found[k][1])
        exact = pair_distances(side.x, side.x, rows, cols)
        exact[rows == cols] = 0.0  # the row itself (the difference form gives 0 too; kept explicit)
        ordered, starts, counts = _sorted_by_row(rows, exact, n)
        position = k - below[k]
        if bool((position < 0).any() or (counts <= position).any()):  # excluded by the bound
            raise GanevalError("internal error: k-NN window does not hold the k-th neighbour")
        radii[k] = ordered[starts + position]
    return radii


def nearest_neighbours(queries, points, *, exclude_self: bool = False, block_rows: int | None = None,
                       device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``queries`` [Q, d]: (distance float64 [Q], index int64 [Q]) of its nearest row
    of ``points`` [P, d], the distance exact (the float64 difference form), ties to the lowest index.

    ``exclude_self``: ``queries`` is ``points`` and row i may not pick itself (its duplicates may).
    Screened like the radii: a row's candidates are the columns within 2m of its smallest screen
    value (m its margin), which surely holds the exact minimum; only those get the float64 distance.
    Memory: one float32 working copy of ``points`` and one block; nothing of size Q × P.
    """
    p = as_features(points, "points", device)
    q = p if exclude_self else as_features(queries, "queries", p.device)
    if q.shape[1] != p.shape[1]:
        raise GanevalError(f"queries have {q.shape[1]}-d features and points {p.shape[1]}-d")
    if exclude_self and (tuple(torch.as_tensor(queries).shape) != tuple(p.shape) or p.shape[0] < 2):
        raise GanevalError("a set's own nearest neighbours need one set of at least 2 rows")
    cols = Side(p)
    rows = cols if exclude_self else Side(q, center=cols.center)
    eta = gemm_margin(cols.inner)
    distances = torch.empty(q.shape[0], dtype=torch.float64, device=p.device)
    indices = torch.empty(q.shape[0], dtype=torch.int64, device=p.device)
    right = cols.right()
    for start, stop, screen in screen_blocks(rows, right, block_rows):
        if exclude_self:
            own = torch.arange(stop - start, device=p.device)
            screen[own, own + start] = math.inf
        best = screen.min(dim=1).values.to(torch.float64)
        limit = up_to_float32(best + 2.0 * eta * (rows.norms[start:stop] + cols.max_norm))
        r, c = torch.le(screen, limit[:, None]).nonzero(as_tuple=True)
        del screen
        exact = pair_distances(q, p, r + start, c)
        order = torch.argsort(c, stable=True)  # ties: the lowest index first
        order = order[torch.argsort(exact[order], stable=True)]
        order = order[torch.argsort(r[order], stable=True)]
        counts = torch.bincount(r, minlength=stop - start)
        first = order[torch.cumsum(counts, 0) - counts]
        distances[start:stop], indices[start:stop] = exact[first], c[first]
    return distances, indices


def up_to_float32(x: torch.Tensor) -> torch.Tensor:
    """float64 → float32 values ≥ x (round to nearest, then one step up where that went below)."""
    y = x.to(torch.float32)
    below = y.to(torch.float64) < x
    return torch.where(below, torch.nextafter(y, torch.full_like(y, math.inf)), y)


def as_features(x, name: str, device=None) -> torch.Tensor:
    """``x`` as a 2-D float tensor on ``device``, without a copy when it already is one (float32 kept)."""
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[0] == 0:
        raise GanevalError(f"{name} must be a non-empty [N, d] array, got shape {tuple(t.shape)}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
    return t.to(device) if device is not None else t
