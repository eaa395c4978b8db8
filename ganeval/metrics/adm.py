"""The ADM evaluator's numbers (openai/guided-diffusion ``evaluations/evaluator.py``) as pure
functions on features.

Line numbers below refer to that file at commit 22e0df8 (guided-diffusion's current head).
Our exact conventions (``ganeval.metrics.prdc``, ``ganeval.metrics.inception_score``) stay the
default everywhere else; these functions reproduce the evaluator's own, including its precision.

Precision and recall (``ManifoldEstimator``, ``DistanceBlock``; L194-L430)
---------------------------------------------------------------------------
* Distances are **squared** Euclidean distances from ``max(‖u‖² − 2·u·v + ‖v‖², 0)``, evaluated
  as ``(‖u‖² − 2·(U Vᵀ)) + ‖v‖²`` (L414-L430); radii and comparisons stay squared.
* Each distance block (``row_batch_size`` × ``col_batch_size`` = 10000 × 10000, L215-L216) is
  first computed in **fp16** (inputs cast to fp16, L376-L379); only when some entry of that
  block is not finite is the whole block recomputed in fp32 (``tf.cond``, L380-L384). The
  decision is per block, so block sizes can matter when some blocks overflow and others do not.
* Radius of a point = the value at sorted position k (0-based) of its row of distances to the
  *whole* set, **itself included** (``np.partition`` with kth = 0..k, then ``x[:, [k]]``,
  L254, L270-L276): with k = 3, the 3rd nearest other point when the self-distance is the row's
  smallest (ganeval's ``prdc`` counts the same way). Radii are stored in float32 (L252), which
  holds fp16 and fp32 values exactly.
* ``clamp_to_percentile`` is None (L218) and ``eps`` (L219) only enters the realism score,
  which the evaluator computes but does not report: neither affects precision or recall.
* Closed balls: a point is inside when ``distance ≤ radius`` (L390-L391). precision = fraction
  of samples inside some reference ball, recall = fraction of reference points inside some
  sample ball (L343-L359, L194-L202), the reference batch being the ``arr_0`` images.

How fp16 and fp32 are modelled here: every TF op (cast, square, reduce_sum, matmul, ×2, −, +,
maximum) returns the *correctly rounded* result of its exact value in the op's dtype. Sums of
fp16 values (the squared norms) are exact in float64 for d ≤ 2¹³, so those match any fp32
accumulator after the final rounding; a dot product is accumulated in float64 and rounded once,
where cuBLAS accumulates in fp32 in its own order: a distance may then differ from the GPU's by
one fp16 unit in the last place when the exact value lies within fp32 noise of a rounding
boundary. That is the limit of any emulation without the same GPU kernels; docs/adm-suite.md
gives the measured effect. The per-entry rounding makes each distance independent of the block
it is computed in, so block sizes change nothing unless the fp32 fall-back is involved.

Inception Score (``compute_inception_score``, L179-L192; ``_create_softmax_graph``, L603-L614)
---------------------------------------------------------------------------------------------
softmax over all 1008 logits = pool3 · W, W being the second input of the graph's
``softmax/logits/MatMul`` ([2048, 1008]), **without the bias** that the graph adds afterwards;
consecutive splits of ``split_size`` = 5000 rows, the last one holding the remainder
(``range(0, N, split_size)``: 12000 images → splits of 5000, 5000 and 2000, weighted equally);
the mean of the per-split exp(mean KL(p(y|x) ‖ p(y))) is returned, no standard deviation.
The evaluator computes this in float32; here it is float64 (docs/adm-suite.md: the difference).

Memory and speed: the evaluator keeps a [10000, N] float32 distance slab. Here no set is copied
whole (float32 features stay as given) and each evaluator block is *screened* in row chunks of at
most ``block_elements`` entries (default 2²², 16 MB of float32) by one fp32 GEMM of the route's
values with the squared norms folded in (``ganeval.metrics.neighbours``). The screen is within a
stated bound of the evaluator's distance (``_Route.bound``: the GEMM's γ_K bound plus one unit
roundoff of the route per rounded op, ×1.05); only pairs within that bound of a decision — the
k + 1 nearest of each row, a radius in the cross pass, or fp16 overflow (screen ≥ 32752 − bound)
— get the evaluator's distance, computed per pair exactly as ``_block_distances`` computes each
entry (fp16/fp32 values exact in float32, dot products summed in float64, the same casts). So the
results are the whole-block emulation's bit for bit (tests/test_adm_blocked.py compares with
outputs recorded from that implementation), at the fp32 GEMM rate instead of float64's. The
per-block finite check sees every pair that could overflow before anything of the block is
used, so chunking never changes a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import log_softmax

from ganeval.core.errors import GanevalError
from ganeval.metrics.frechet import frechet_distance
from ganeval.metrics.neighbours import _exact_fp32_matmul, as_features, gemm_margin
from ganeval.metrics.neighbours import up_to_float32 as _up_to_float32

__all__ = [
    "DISTANCE_PRECISIONS",
    "ADM_ROW_BATCH_SIZE",
    "ADM_COL_BATCH_SIZE",
    "ADM_SPLIT_SIZE",
    "ADMPrecisionRecall",
    "ADMSuiteResult",
    "adm_precision_recall",
    "adm_manifold_radii",
    "adm_squared_distances",
    "adm_inception_score",
    "adm_inception_split_scores",
    "adm_suite",
    "round_to_fp16",
]

DISTANCE_PRECISIONS = ("fp16", "fp32", "fp64")
ADM_ROW_BATCH_SIZE = 10000  # ManifoldEstimator(row_batch_size=10000), L215
ADM_COL_BATCH_SIZE = 10000  # ManifoldEstimator(col_batch_size=10000), L216
ADM_SPLIT_SIZE = 5000  # compute_inception_score(split_size=5000), L179
DEFAULT_BLOCK_ELEMENTS = 1 << 22

SUITE_KEYS = ("inception_score", "fid", "sfid", "precision", "recall")  # the evaluator's print order, L55-L60


# ---------------------------------------------------------------------------------------- rounding

def round_to_fp16(x: torch.Tensor) -> torch.Tensor:
    """float64 tensor → the nearest fp16 value of each entry (ties to even, overflow → ±inf), as float64.

    torch converts float64 to fp16 through float32, which rounds twice. Rounding to float32 with
    round-to-odd first (truncate, then set the last bit if inexact) makes the second rounding the
    correct one, because float32 carries more than 11 + 2 significant bits.
    """
    return _round_to_odd_fp32(x).to(torch.float16).to(torch.float64)


def _round_to_odd_fp32(x: torch.Tensor) -> torch.Tensor:
    """float64 → float32 rounded to odd: the truncation, with the last bit set when inexact."""
    f = x.to(torch.float32)
    back = f.to(torch.float64)
    bits = f.view(torch.int32)  # sign and magnitude: magnitude ± 1 ulp is bits ± 1
    bits = bits - (back.abs() > x.abs()).to(torch.int32)  # rounded away from zero: step back (inf → max)
    bits = bits | (back != x).to(torch.int32)  # NaN stays NaN
    return bits.view(torch.float32)


def _round_to_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).to(torch.float64)  # a single correct rounding


def _rounder(precision: str):
    return {"fp16": round_to_fp16, "fp32": _round_to_fp32, "fp64": lambda t: t}[precision]


# ---------------------------------------------------------------------------------------- distances

class _Operand(NamedTuple):
    """Rows of one feature set in a distance precision: values and squared norms, both float64."""

    values: torch.Tensor
    norms: torch.Tensor


def _operand(x32: torch.Tensor, precision: str) -> _Operand:
    """``x32``: float64 [n, d] holding the float32 activations (float64 inputs for "fp64")."""
    rnd = _rounder(precision)
    values = rnd(x32)  # tf.cast(features, tf.float16), L377-L378; identity for fp32 placeholders
    norms = rnd(rnd(values * values).sum(dim=1))  # reduce_sum(square(U), 1), L420-L421
    return _Operand(values, norms)


def _block_distances(u: _Operand, v: _Operand, precision: str) -> torch.Tensor:
    """The evaluator's _batch_pairwise_distances(U, V) (L414-L430): float64 [n, m] of exact dtype values."""
    if precision == "fp16":
        return _block_distances_fp16(u, v)
    rnd = _rounder(precision)
    dots = rnd(u.values @ v.values.T)
    t = rnd(u.norms[:, None] - rnd(2.0 * dots))
    d = rnd(t + v.norms[None, :])
    return torch.clamp(d, min=0.0)  # tf.maximum(·, 0.0); NaN stays NaN (and so is "not finite")


def _block_distances_fp16(u: _Operand, v: _Operand) -> torch.Tensor:
    """The same for fp16, with the element-wise steps in float32 (half the memory traffic).

    An op on fp16 operands evaluated in float32 and then rounded to fp16 is correctly rounded,
    since float32's 24 bits are at least 2·11 + 2; the float64 dot products are rounded to odd
    into float32 first, for the same reason. 2·m is exact in float32 and becomes ±inf in the
    conversion exactly when it exceeds fp16's range, as TF's fp16 product does.
    """
    m = _round_to_odd_fp32(u.values @ v.values.T).to(torch.float16)
    twice = (2.0 * m.to(torch.float32)).to(torch.float16).to(torch.float32)
    t = (u.norms.to(torch.float32)[:, None] - twice).to(torch.float16).to(torch.float32)
    d = (t + v.norms.to(torch.float32)[None, :]).to(torch.float16).to(torch.float32)
    return torch.clamp(d, min=0.0).to(torch.float64)


def _check_precision(distance_precision: str) -> None:
    if distance_precision not in DISTANCE_PRECISIONS:
        raise GanevalError(
            f"distance_precision must be one of {', '.join(DISTANCE_PRECISIONS)}, got {distance_precision!r}"
        )


class _Sets:
    """One feature set prepared for the requested route, and its fp32 fall-back kept on demand."""

    def __init__(self, x: torch.Tensor, precision: str):
        self.precision = precision
        # The evaluator's activations and placeholders are float32 (L131, L374-L375).
        self.x = x if precision == "fp64" else _round_to_fp32(x)
        self.main = _operand(self.x, precision)
        self._fp32: _Operand | None = None

    @property
    def fp32(self) -> _Operand:
        if self._fp32 is None:
            self._fp32 = _operand(self.x, "fp32") if self.precision == "fp16" else self.main
        return self._fp32


def _slice(op: _Operand, start: int, stop: int) -> _Operand:
    return _Operand(op.values[start:stop], op.norms[start:stop])


def _evaluator_block(rows: _Sets, r0: int, r1: int, cols: _Sets, c0: int, c1: int, reduce, chunk_rows: int):
    """One DistanceBlock call on rows[r0:r1] × cols[c0:c1], computed in row chunks.

    ``reduce(offset, distances)`` is applied to each chunk (offset relative to r0); the results
    are returned only once the whole block is known to be finite, else the block is recomputed
    in fp32 (the tf.cond of L380-L384). Returns (list of results, fell_back).
    """
    attempts = [("main", rows.precision)] + ([("fp32", "fp32")] if rows.precision == "fp16" else [])
    for name, precision in attempts:
        u_all = rows.main if name == "main" else rows.fp32
        v = _slice(cols.main if name == "main" else cols.fp32, c0, c1)
        results, finite = [], True
        for s in range(r0, r1, chunk_rows):
            d = _block_distances(_slice(u_all, s, min(s + chunk_rows, r1)), v, precision)
            if not bool(torch.isfinite(d).all()):
                finite = False
                break
            results.append(reduce(s - r0, d))
        if finite:
            return results, name != "main"
    raise GanevalError(
        f"ADM precision/recall: squared feature distances overflow {rows.precision if len(attempts) == 1 else 'fp32'} "
        f"(largest |feature| {float(rows.x.abs().max()):.3g}); these are not Inception pool3 features"
    )


def _chunk_rows(block_elements: int | None, columns: int) -> int:
    elements = DEFAULT_BLOCK_ELEMENTS if block_elements is None else int(block_elements)
    if elements < 1:
        raise GanevalError(f"block_elements must be at least 1, got {block_elements}")
    return max(1, elements // max(columns, 1))


def _features(x, name: str, device=None) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[0] == 0:
        raise GanevalError(f"{name} must be a non-empty [N, d] array, got shape {tuple(t.shape)}")
    t = t.to(device=device if device is not None else t.device, dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise GanevalError(f"{name} contain NaN or infinity")
    return t


def _check_batches(row_batch_size: int, col_batch_size: int) -> None:
    if row_batch_size < 1 or col_batch_size < 1:
        raise GanevalError(f"batch sizes must be at least 1, got rows {row_batch_size}, columns {col_batch_size}")


def adm_squared_distances(u, v, *, distance_precision: str = "fp16", device=None) -> tuple[torch.Tensor, bool]:
    """One evaluator distance block: squared distances float64 [n, m] between rows of u [n, d] and v [m, d].

    Returns (distances, fell_back): with "fp16" the block is the fp16 result, or, when some
    entry of it is not finite, the fp32 one (fell_back True). Values are exactly the dtype's.
    """
    _check_precision(distance_precision)
    a = _Sets(_features(u, "features", device), distance_precision)
    b = _Sets(_features(v, "features", a.x.device), distance_precision)
    results, fell_back = _evaluator_block(a, 0, a.x.shape[0], b, 0, b.x.shape[0],
                                          lambda offset, d: d, a.x.shape[0])
    return results[0], fell_back


# ---------------------------------------------------------------------------------------- blocked, screened

_UNIT_ROUNDOFF = {"fp16": 2.0 ** -11, "fp32": 2.0 ** -24, "fp64": 2.0 ** -53}
_SUBNORMAL_STEP = 2.0 ** -24  # fp16's smallest step: the absolute error floor of one fp16 rounding
_PAIR_CHUNK_ELEMENTS = 1 << 20
_OVERFLOW_SUSPECT = 32752.0  # squared distances below this cannot overflow fp16 (see _Route.bound)
_EXTRA_CANDIDATES = 8


class _Route:
    """One feature set in one distance precision, built block by block (no whole-set copies).

    ``x``: the given features (float32 or float64, never copied whole); values and squared norms
    are those of :func:`_operand` (the evaluator's casts), the norms kept for all rows (float64 [N]).
    """

    def __init__(self, x: torch.Tensor, precision: str):
        self.x, self.precision = x, precision
        self.n, self.dim = x.shape
        self.inner = -(-(self.dim + 2) // 16) * 16
        self.norms = torch.empty(self.n, dtype=torch.float64, device=x.device)
        step = max(1, DEFAULT_BLOCK_ELEMENTS // max(self.dim, 1))
        for start in range(0, self.n, step):
            self.norms[start:start + step] = self.values(start, start + step)[1]

    def values(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(values [rows, d] (float32 holding fp16/fp32 values, float64 for fp64), squared norms
        float64 [rows]) of rows start:stop, equal to _operand's."""
        return self.gather(slice(start, stop))

    def gather(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """The values and norms of _operand, computed faster: float32 inputs round to fp16 in one
        correctly rounded conversion, and a product of two fp16 values is exact in float32."""
        if self.precision == "fp64":
            op = _operand(self.x[rows].to(torch.float64), "fp64")
            return op.values, op.norms
        values = self.x[rows].to(torch.float32)  # the evaluator's float32 activations
        if self.precision == "fp16":
            values = values.to(torch.float16).to(torch.float32)  # exact fp16 values, held in float32
            squares = (values * values).to(torch.float16)  # exact product, one correct rounding
            norms = round_to_fp16(squares.to(torch.float64).sum(dim=1))
        else:
            norms = _round_to_fp32(_round_to_fp32(values.to(torch.float64).square()).sum(dim=1))
        return values, norms

    def left(self, start: int, stop: int) -> torch.Tensor:
        """fp32 screen operand [values, ‖·‖², 1, 0…] of rows start:stop."""
        values, norms = self.values(start, stop)
        out = torch.zeros(stop - start, self.inner, dtype=torch.float32, device=self.x.device)
        out[:, :self.dim] = values
        out[:, self.dim] = norms
        out[:, self.dim + 1] = 1.0
        return out

    def right(self, start: int, stop: int) -> torch.Tensor:
        """fp32 screen operand [−2·values, 1, ‖·‖², 0…] of rows start:stop (one evaluator column block)."""
        values, norms = self.values(start, stop)
        out = torch.zeros(stop - start, self.inner, dtype=torch.float32, device=self.x.device)
        out[:, :self.dim] = values
        out[:, :self.dim] *= -2.0
        out[:, self.dim] = 1.0
        out[:, self.dim + 1] = norms
        return out

    def bound(self, norms_sum: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """|screen − evaluator distance| ≤ this, for pairs with ‖u‖² + ‖v‖² ≤ ``norms_sum`` (the route's
        norms) and evaluator distance of absolute value ≤ ``magnitude`` (float64 tensors).

        The screen errs by ≤ η(‖u‖² + ‖v‖²) against D* = ‖u‖² + ‖v‖² − 2u·v of the route's values
        (neighbours.gemm_margin). The evaluator rounds 2·u·v, the difference t and the sum d, each
        by ≤ ρ|value| + one subnormal step (ρ the route's unit roundoff, ×2 through the doubling),
        with |2u·v| ≤ (1 + 2ρ)(‖u‖² + ‖v‖²), |t| ≤ |d| + ‖v‖², |d| ≤ magnitude; 5 % on top covers
        the second-order terms.
        """
        eta = gemm_margin(self.inner)
        rho = _UNIT_ROUNDOFF[self.precision]
        first = (eta + 3.0 * rho) * norms_sum
        return 1.05 * (first + 3.0 * rho * (magnitude + first) + 4.0 * _SUBNORMAL_STEP) + 1e-300


def _pair_distances(row_route: "_Route", col_route: "_Route", rows: torch.Tensor, cols: torch.Tensor,
                    left: torch.Tensor | None = None, row_start: int = 0,
                    right: torch.Tensor | None = None, col_start: int = 0) -> torch.Tensor:
    """The evaluator's squared distance of each pair (rows[p], cols[p]), exactly as _block_distances
    gives it (float64 [P], values of the route's dtype; +inf/NaN where it overflows).

    ``left``/``right``: the screen operands holding these rows/columns (from ``row_start``/``col_start``);
    their float32 entries are the fp16/fp32 values exactly (−2·v exactly on the right), so nothing
    is rounded again. The fp64 route (and calls without operands) reads the features themselves.
    """
    out = torch.empty(rows.shape[0], dtype=torch.float64, device=row_route.x.device)
    chunk = max(1, _PAIR_CHUNK_ELEMENTS // max(row_route.dim, 1))  # 8 MB of float64 per operand
    precision, dim = row_route.precision, row_route.dim
    from_operands = left is not None and right is not None and precision != "fp64"
    for start in range(0, rows.shape[0], chunk):
        r, c = rows[start:start + chunk], cols[start:start + chunk]
        if from_operands and precision == "fp16":
            # A product of two fp16 values (and its doubling) is exact in float32: multiply there,
            # accumulate in float64 (no float64 copies of the operands), undo the −2 exactly.
            nu, nv = row_route.norms[r], col_route.norms[c]
            dots = (left[r - row_start, :dim] * right[c - col_start, :dim]).sum(dim=1, dtype=torch.float64) * -0.5
        else:
            if from_operands:
                u = left[r - row_start, :dim].to(torch.float64)
                v = right[c - col_start, :dim].to(torch.float64) * -0.5
                nu, nv = row_route.norms[r], col_route.norms[c]
            else:
                (u, nu), (v, nv) = row_route.gather(r), col_route.gather(c)
                u, v = u.to(torch.float64), v.to(torch.float64)
            dots = (u * v).sum(dim=1)  # float64, each product exact for fp16/fp32 values
        if precision == "fp16":
            m = _round_to_odd_fp32(dots).to(torch.float16)
            twice = (2.0 * m.to(torch.float32)).to(torch.float16).to(torch.float32)
            t = (nu.to(torch.float32) - twice).to(torch.float16).to(torch.float32)
            d = (t + nv.to(torch.float32)).to(torch.float16).to(torch.float32).to(torch.float64)
        else:
            rnd = _rounder(precision)
            d = rnd(rnd(nu - rnd(2.0 * rnd(dots))) + nv)
        out[start:start + chunk] = torch.clamp(d, min=0.0)
    return out


class _Block(NamedTuple):
    rows: torch.Tensor  # global row indices of candidate pairs
    cols: torch.Tensor  # global column indices
    distances: torch.Tensor  # their exact evaluator distances (float64)
    fell_back: bool


def _screened_block(routes, r0: int, r1: int, c0: int, c1: int, chunk_rows: int, candidates) -> _Block:
    """One evaluator DistanceBlock on rows r0:r1 × columns c0:c1, screened.

    ``routes``: [(row route, column route)] to try in order (fp16, then the fp32 fall-back).
    ``candidates(start, screen, row_route, col_route, c0)`` → (rows, cols) of the pairs that may decide
    something in a chunk of rows (global indices). A route is used when the whole block is finite:
    its norms are finite and no pair that could overflow (screen ≥ _OVERFLOW_SUSPECT − bound)
    does; otherwise the next route is tried (the tf.cond of L380-L384).
    """
    for attempt, (row_route, col_route) in enumerate(routes):
        if not (bool(torch.isfinite(row_route.norms[r0:r1]).all()) and bool(torch.isfinite(col_route.norms[c0:c1]).all())):
            continue
        right = col_route.right(c0, c1)
        norms_sum = row_route.norms[r0:r1].max() + col_route.norms[c0:c1].max()
        suspect_at = _OVERFLOW_SUSPECT - float(col_route.bound(norms_sum, torch.tensor(65504.0, dtype=torch.float64)))
        found_rows, found_cols, found_distances, finite = [], [], [], True
        with _exact_fp32_matmul():
            for s in range(r0, r1, chunk_rows):
                e = min(s + chunk_rows, r1)
                left = row_route.left(s, e)
                screen = left @ right.T
                if not bool(torch.isfinite(screen).all()) and row_route.precision != "fp16":
                    finite = False  # fp32/fp64 values whose squares overflow float32: not pool3 features
                    break
                if row_route.precision == "fp16":
                    sr, sc = (screen >= suspect_at).nonzero(as_tuple=True)
                    if sr.numel() and not bool(torch.isfinite(
                            _pair_distances(row_route, col_route, sr + s, sc + c0, left, s, right, c0)).all()):
                        finite = False
                        break
                rows, cols = candidates(s, screen, row_route, col_route, c0)
                found_rows.append(rows)
                found_cols.append(cols)
                found_distances.append(_pair_distances(row_route, col_route, rows, cols, left, s, right, c0))
        if finite:
            return _Block(torch.cat(found_rows), torch.cat(found_cols), torch.cat(found_distances), attempt > 0)
    raise GanevalError(
        f"ADM precision/recall: squared feature distances overflow {routes[-1][0].precision} "
        f"(largest |feature| {float(routes[0][0].x.abs().max()):.3g}); these are not Inception pool3 features"
    )


def _routes(x: torch.Tensor, precision: str) -> list[_Route]:
    main = _Route(x, precision)
    return [main] + ([_LazyRoute(x, "fp32")] if precision == "fp16" else [])


class _LazyRoute:
    """The fp32 fall-back route, built (its norms computed) only when a block needs it."""

    def __init__(self, x: torch.Tensor, precision: str):
        self._args, self._route = (x, precision), None

    def __getattr__(self, name):
        if self._route is None:
            self._route = _Route(*self._args)
        return getattr(self._route, name)


def _knn_candidates(need: int):
    def candidates(start, screen, row_route, col_route, c0):
        take = min(screen.shape[1], need + _EXTRA_CANDIDATES)
        kth_index = min(need, screen.shape[1]) - 1
        values, index = torch.topk(screen, take, dim=1, largest=False, sorted=True)
        kth = values[:, kth_index].to(torch.float64)
        norms_sum = row_route.norms[start:start + screen.shape[0]] + col_route.norms[c0:c0 + screen.shape[1]].max()
        first = row_route.bound(norms_sum, kth.abs())
        reach = row_route.bound(norms_sum, kth.abs() + 2.1 * first)
        limit = kth + 2.1 * reach  # 2.1, not 2: the bound grows (by ≤ 3.2ρ per unit) with the distance
        inside = values.to(torch.float64) <= limit[:, None]
        complete = ~inside[:, -1] | (take == screen.shape[1])
        r, c = inside.nonzero(as_tuple=True)
        keep = complete[r]
        rows, cols = [r[keep] + start], [index[r[keep], c[keep]] + c0]
        incomplete = (~complete).nonzero(as_tuple=True)[0]
        if incomplete.numel():  # many near-ties: those rows whole
            sub_r, sub_c = (screen[incomplete].to(torch.float64) <= limit[incomplete, None]).nonzero(as_tuple=True)
            rows.append(incomplete[sub_r] + start)
            cols.append(sub_c + c0)
        return torch.cat(rows), torch.cat(cols)
    return candidates


def _radii(routes: list, k: int, row_batch_size: int, col_batch_size: int, block_elements) -> tuple[torch.Tensor, int, int]:
    main = routes[0]
    n = main.n
    if not 1 <= k < n:
        raise GanevalError(f"ADM precision/recall needs 1 ≤ k < number of features ({n}), got k={k}")
    radii = torch.empty(n, dtype=torch.float64, device=main.x.device)
    blocks = fallbacks = 0
    pairs = [(routes[0], routes[0])] + ([(routes[1], routes[1])] if len(routes) > 1 else [])
    for r0 in range(0, n, row_batch_size):
        r1 = min(r0 + row_batch_size, n)
        found_rows, found_values = [], []
        for c0 in range(0, n, col_batch_size):
            c1 = min(c0 + col_batch_size, n)
            block = _screened_block(pairs, r0, r1, c0, c1, _chunk_rows(block_elements, c1 - c0), _knn_candidates(k + 1))
            found_rows.append(block.rows - r0)
            found_values.append(block.distances)
            blocks += 1
            fallbacks += int(block.fell_back)
        rows, values = torch.cat(found_rows), torch.cat(found_values)
        order = torch.argsort(values, stable=True)
        order = order[torch.argsort(rows[order], stable=True)]
        counts = torch.bincount(rows, minlength=r1 - r0)
        radii[r0:r1] = values[order][torch.cumsum(counts, 0) - counts + k]  # sorted position k, self included
    return radii, blocks, fallbacks


def adm_manifold_radii(features, *, k: int = 3, row_batch_size: int = ADM_ROW_BATCH_SIZE,
                       col_batch_size: int = ADM_COL_BATCH_SIZE, distance_precision: str = "fp16",
                       block_elements: int | None = None, device=None) -> torch.Tensor:
    """ManifoldEstimator.manifold_radii (L248-L281): squared k-NN radii float64 [N], self counted."""
    _check_precision(distance_precision)
    _check_batches(row_batch_size, col_batch_size)
    routes = _routes(_given_features(features, "features", device), distance_precision)
    return _radii(routes, int(k), int(row_batch_size), int(col_batch_size), block_elements)[0]


class ADMPrecisionRecall(NamedTuple):
    precision: float  # fraction of samples inside some reference ball
    recall: float  # fraction of reference points inside some sample ball
    k: int
    distance_precision: str
    distance_blocks: int  # evaluator distance blocks computed (both radii passes and the cross pass)
    fp32_fallback_blocks: int  # of those, blocks whose fp16 result was not finite and were redone in fp32


def adm_precision_recall(ref_features, sample_features, *, k: int = 3,
                         row_batch_size: int = ADM_ROW_BATCH_SIZE, col_batch_size: int = ADM_COL_BATCH_SIZE,
                         distance_precision: str = "fp16", block_elements: int | None = None,
                         device=None) -> ADMPrecisionRecall:
    """The evaluator's precision and recall (``compute_prec_recall``, L194-L202) of samples against a reference.

    ``ref_features`` [N, d] and ``sample_features`` [M, d]: pool3 activations (any float dtype;
    taken as float32 like the evaluator's, except for "fp64"). ``distance_precision``:

    * "fp16" (default, what the evaluator computes): fp16 blocks with the per-block fp32 fall-back;
    * "fp32": the fall-back route everywhere;
    * "fp64": the same algorithm in float64 on the float64 inputs (no casts): the exact route.

    ``row_batch_size``/``col_batch_size``: the evaluator's blocks (they decide where the fall-back
    applies); ``block_elements``: memory per computed chunk, never changes the result; ``device``:
    torch device (default: where ``ref_features`` lives). See the module docstring.
    """
    _check_precision(distance_precision)
    _check_batches(row_batch_size, col_batch_size)
    ref_x = _given_features(ref_features, "reference features", device)
    sam_x = _given_features(sample_features, "sample features", ref_x.device)
    if ref_x.shape[1] != sam_x.shape[1]:
        raise GanevalError(f"reference and sample features differ in dimension ({ref_x.shape[1]} vs {sam_x.shape[1]})")
    k = int(k)
    ref, sam = _routes(ref_x, distance_precision), _routes(sam_x, distance_precision)
    ref_radii, blocks_r, fb_r = _radii(ref, k, row_batch_size, col_batch_size, block_elements)
    sam_radii, blocks_s, fb_s = _radii(sam, k, row_batch_size, col_batch_size, block_elements)

    def candidates(start, screen, row_route, col_route, c0):
        """Pairs that may lie inside the sample's ball (its column) or the reference point's (its row)."""
        cols = slice(c0, c0 + screen.shape[1])
        rows = slice(start, start + screen.shape[0])
        col_reach = sam_radii[cols] + row_route.bound(row_route.norms[rows].max() + col_route.norms[cols],
                                                      sam_radii[cols])
        row_reach = ref_radii[rows] + row_route.bound(row_route.norms[rows] + col_route.norms[cols].max(),
                                                      ref_radii[rows])
        near = torch.le(screen, _up_to_float32(col_reach)[None, :])
        near |= torch.le(screen, _up_to_float32(row_reach)[:, None])
        r, c = near.nonzero(as_tuple=True)
        return r + start, c + c0

    # evaluate_pr (L325-L359): rows = reference batch, columns = sample batch.
    n, m = ref_x.shape[0], sam_x.shape[0]
    ref_inside = torch.zeros(n, dtype=torch.bool, device=ref_x.device)  # features_1_status: recall
    sam_inside = torch.zeros(m, dtype=torch.bool, device=ref_x.device)  # features_2_status: precision
    blocks, fallbacks = blocks_r + blocks_s, fb_r + fb_s
    pairs = [(ref[0], sam[0])] + ([(ref[1], sam[1])] if len(ref) > 1 else [])
    for r0 in range(0, n, row_batch_size):
        r1 = min(r0 + row_batch_size, n)
        for c0 in range(0, m, col_batch_size):
            c1 = min(c0 + col_batch_size, m)
            block = _screened_block(pairs, r0, r1, c0, c1, _chunk_rows(block_elements, c1 - c0), candidates)
            ref_inside[block.rows[block.distances <= sam_radii[block.cols]]] = True  # L390-L391, L354-L355
            sam_inside[block.cols[block.distances <= ref_radii[block.rows]]] = True
            blocks += 1
            fallbacks += int(block.fell_back)
    return ADMPrecisionRecall(
        precision=int(sam_inside.count_nonzero()) / m,
        recall=int(ref_inside.count_nonzero()) / n,
        k=k,
        distance_precision=distance_precision,
        distance_blocks=blocks,
        fp32_fallback_blocks=fallbacks,
    )


def _given_features(x, name: str, device=None) -> torch.Tensor:
    """The features as given (float32 stays float32: no whole-set copy), checked finite blockwise."""
    t = as_features(x, name, device)
    step = max(1, DEFAULT_BLOCK_ELEMENTS // max(t.shape[1], 1))
    for start in range(0, t.shape[0], step):
        if not bool(torch.isfinite(t[start:start + step]).all()):
            raise GanevalError(f"{name} contain NaN or infinity")
    return t


# ---------------------------------------------------------------------------------------- Inception Score

def _logits(pool3_features, weight) -> np.ndarray:
    x, w = _numpy64(pool3_features), _numpy64(weight)
    if x.ndim != 2 or x.shape[0] == 0:
        raise GanevalError(f"Inception Score needs pool3 features of shape [N, d], got {x.shape}")
    if w.ndim != 2:
        raise GanevalError(f"the logits head weight must be a matrix, got shape {w.shape}")
    if w.shape[0] != x.shape[1]:
        if w.shape[1] != x.shape[1]:
            raise GanevalError(f"logits head weight {w.shape} does not fit features of dimension {x.shape[1]}")
        w = w.T  # torch nn.Linear layout [classes, d]
    if w.shape[1] < 2:
        raise GanevalError(f"Inception Score needs at least 2 classes, got a head of shape {w.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w))):
        raise GanevalError("Inception Score: features or head weight contain NaN or infinity")
    return x @ w  # logits = tf.matmul(pool3, W), no bias (L612-L613)


def adm_inception_split_scores(pool3_features, weight, *, split_size: int = ADM_SPLIT_SIZE) -> np.ndarray:
    """Per-split scores float64 [ceil(N / split_size)] of the evaluator's Inception Score (L186-L191).

    ``pool3_features`` [N, 2048]; ``weight``: the head's matrix, [2048, 1008] as TF's
    ``softmax/logits/MatMul`` holds it (logits = features · weight), or [1008, 2048] as a torch
    ``nn.Linear.weight``; no bias. Splits are rows [i, i + split_size), the last one shorter.
    """
    if split_size < 1:
        raise GanevalError(f"split_size must be at least 1, got {split_size}")
    x = pool3_features if isinstance(pool3_features, torch.Tensor) else np.asarray(pool3_features)
    if x.ndim != 2 or x.shape[0] == 0:
        raise GanevalError(f"Inception Score needs pool3 features of shape [N, d], got {tuple(x.shape)}")
    scores = []
    for start in range(0, x.shape[0], split_size):  # L187; one split's logits at a time (memory)
        part = log_softmax(_logits(x[start:start + split_size], weight), axis=1)  # tf.nn.softmax, L614
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0))  # log of the split's p(y), L189
        terms = np.where(p > 0, p * (part - log_marginal), 0.0)  # 0·log 0 = 0 (float32 would give NaN)
        scores.append(np.exp(terms.sum(axis=1).mean()))  # L190-L191
    return np.asarray(scores)


def adm_inception_score(pool3_features, weight, *, split_size: int = ADM_SPLIT_SIZE) -> float:
    """The evaluator's Inception Score (L179-L192): mean of the per-split scores only, float64."""
    return float(adm_inception_split_scores(pool3_features, weight, split_size=split_size).mean())


# ---------------------------------------------------------------------------------------- the suite

@dataclass(frozen=True)
class ADMSuiteResult:
    """``metrics``: the evaluator's numbers by its names, in its print order (those computed);
    ``omitted``: metric name → one-line reason; ``conventions``: what was computed how."""

    metrics: dict[str, float]
    omitted: dict[str, str] = field(default_factory=dict)
    conventions: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready: {"suite": "adm", <metric>: number, ..., "omitted": {...}, "conventions": {...}}."""
        return {"suite": "adm", **self.metrics, "omitted": dict(self.omitted), "conventions": dict(self.conventions)}


def _numpy64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu")
    return np.asarray(x, dtype=np.float64)


def _stats_of(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 1) as compute_statistics computes them (L174-L177), bit for bit: numpy
    on a float64 copy of the set (made here only, one side at a time; ``ganeval eval`` passes the moments)."""
    if features.shape[0] < 2:
        raise GanevalError(f"FID statistics need at least 2 feature rows, got {features.shape[0]}")
    x = _numpy64(features)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _pair(stats, name: str):
    try:
        mu, sigma = stats
    except (TypeError, ValueError):
        raise GanevalError(f"{name} must be a (mu, sigma) pair") from None
    return _numpy64(mu), _numpy64(sigma)


def adm_suite(ref_pool3, sample_pool3, *, ref_spatial_stats=None, sample_spatial_stats=None,
              ref_pool3_stats=None, sample_pool3_stats=None, logits_weight=None,
              logits_missing_reason: str | None = None, k: int = 3,
              row_batch_size: int = ADM_ROW_BATCH_SIZE, col_batch_size: int = ADM_COL_BATCH_SIZE,
              distance_precision: str = "fp16", split_size: int = ADM_SPLIT_SIZE,
              block_elements: int | None = None, device=None) -> ADMSuiteResult:
    """What ``evaluator.py``'s main() prints (L54-L60), from features and statistics.

    * ``ref_pool3`` [N, 2048], ``sample_pool3`` [M, 2048]: pool3 activations of the reference
      batch's images (``arr_0``) and of the samples: precision/recall, and IS of the samples.
    * ``*_pool3_stats``: (mu [2048], sigma [2048, 2048]) for FID; when None, mean and covariance
      (ddof 1) of the features, as the evaluator does for a batch without stored ``mu`` (L164-L177).
      Pass a reference batch's stored full-dataset ``mu``/``sigma`` here, as the evaluator uses them.
    * ``*_spatial_stats``: (mu_s, sigma_s) of the 2023-d spatial features for sFID; both None →
      sFID omitted with a reason.
    * ``logits_weight``: the head matrix ([2048, 1008] or torch's [1008, 2048]); None → IS
      omitted, with ``logits_missing_reason`` (or a default line) as the reason.

    FID and sFID use ganeval's exact ``frechet_distance`` (the evaluator's sqrtm, L72-L115,
    agrees to its own rounding), in the evaluator's argument order (samples, reference).
    """
    # As given (float32 pool3 stays float32): no whole-set float64 copies; P/R rounds per block.
    ref, sam = as_features(ref_pool3, "reference features"), as_features(sample_pool3, "sample features")
    metrics: dict[str, float] = {}
    omitted: dict[str, str] = {}
    if logits_weight is None:
        omitted["inception_score"] = logits_missing_reason or (
            "Inception Score omitted: these Inception weights have no logits head (2048->1008 classifier)")
    else:
        metrics["inception_score"] = adm_inception_score(sam, logits_weight, split_size=split_size)
    ref_mu, ref_sigma = _stats_of(ref) if ref_pool3_stats is None else _pair(ref_pool3_stats, "ref_pool3_stats")
    sam_mu, sam_sigma = _stats_of(sam) if sample_pool3_stats is None else _pair(sample_pool3_stats, "sample_pool3_stats")
    metrics["fid"] = frechet_distance(sam_mu, sam_sigma, ref_mu, ref_sigma)
    if ref_spatial_stats is None or sample_spatial_stats is None:
        if ref_spatial_stats is not None or sample_spatial_stats is not None:
            raise GanevalError("sFID needs spatial statistics of both the reference and the samples")
        omitted["sfid"] = "sFID omitted: no spatial (mixed_6/conv) statistics given"
    else:
        rs_mu, rs_sigma = _pair(ref_spatial_stats, "ref_spatial_stats")
        ss_mu, ss_sigma = _pair(sample_spatial_stats, "sample_spatial_stats")
        metrics["sfid"] = frechet_distance(ss_mu, ss_sigma, rs_mu, rs_sigma)
    pr = adm_precision_recall(ref, sam, k=k, row_batch_size=row_batch_size, col_batch_size=col_batch_size,
                              distance_precision=distance_precision, block_elements=block_elements, device=device)
    metrics["precision"] = pr.precision
    metrics["recall"] = pr.recall
    conventions = {
        "k": pr.k,
        "distance_precision": pr.distance_precision,
        "row_batch_size": int(row_batch_size),
        "col_batch_size": int(col_batch_size),
        "distance_blocks": pr.distance_blocks,
        "fp32_fallback_blocks": pr.fp32_fallback_blocks,
        "inception_split_size": int(split_size),
        "fid_reference_stats": "given" if ref_pool3_stats is not None else "from features",
    }
    ordered = {key: metrics[key] for key in SUITE_KEYS if key in metrics}
    return ADMSuiteResult(metrics=ordered, omitted=omitted, conventions=conventions)
