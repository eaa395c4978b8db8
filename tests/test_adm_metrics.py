"""ganeval.metrics.adm against independent references.

Two kinds of reference, both written here and not sharing code with the module:

* a slow direct float64 formula (pairs in Python loops, Euclidean distances from Σ(a − b)²,
  sorted rows, closed balls) for what precision/recall mean;
* a step-by-step transcription of evaluations/evaluator.py's ManifoldEstimator and DistanceBlock
  in numpy (its preallocated float32 distance slab, its batch loops, np.partition with
  kth = 0..k and column k, its float16/float32 casts with numpy's own fp16 arithmetic, the
  per-block finite check and fp32 fall-back, its ``<=`` broadcasting in less_thans), for how
  the evaluator computes them.

Inception Score is checked against scipy.special.softmax + scipy.stats.entropy per split.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import entropy

from ganeval.core.errors import GanevalError
from ganeval.metrics.adm import (
    adm_inception_score,
    adm_inception_split_scores,
    adm_manifold_radii,
    adm_precision_recall,
    adm_squared_distances,
    adm_suite,
    round_to_fp16,
)
from ganeval.metrics.frechet import frechet_distance
from ganeval.metrics.prdc import prdc


# ------------------------------------------------------------------ references

def direct_precision_recall(ref, sam, k=3):
    """Slow direct float64 definition: radius = sorted distances to the whole set (self included)[k]."""
    ref = [np.asarray(r, dtype=np.float64) for r in ref]
    sam = [np.asarray(s, dtype=np.float64) for s in sam]

    def dist(a, b):
        return math.sqrt(float(((a - b) ** 2).sum()))

    ref_r = [sorted(dist(a, b) for b in ref)[k] for a in ref]
    sam_r = [sorted(dist(a, b) for b in sam)[k] for a in sam]
    precision = sum(any(dist(s, r) <= ref_r[i] for i, r in enumerate(ref)) for s in sam) / len(sam)
    recall = sum(any(dist(r, s) <= sam_r[j] for j, s in enumerate(sam)) for r in ref) / len(ref)
    return precision, recall


def _np_pairwise(U, V, dtype):
    """_batch_pairwise_distances in numpy ``dtype`` arithmetic: each op correctly rounded."""
    norm_u = np.square(U).astype(np.float64).sum(axis=1).astype(dtype).reshape(-1, 1)
    norm_v = np.square(V).astype(np.float64).sum(axis=1).astype(dtype).reshape(1, -1)
    mm = (U.astype(np.float64) @ V.astype(np.float64).T).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.maximum(norm_u - dtype(2) * mm + norm_v, dtype(0))


def _np_distance_block(U, V, log=None):
    """DistanceBlock.distance_block: fp16 casts of the float32 placeholders, fp32 when not all finite."""
    U32, V32 = np.asarray(U, np.float32), np.asarray(V, np.float32)
    with np.errstate(over="ignore"):
        d16 = _np_pairwise(U32.astype(np.float16), V32.astype(np.float16), np.float16)
    finite = bool(np.all(np.isfinite(d16)))
    if log is not None:
        log.append(not finite)
    return d16.astype(np.float32) if finite else _np_pairwise(U32, V32, np.float32)


class EvaluatorTranscription:
    """ManifoldEstimator (nhood_sizes=(k,), clamp_to_percentile=None) step by step, in numpy."""

    def __init__(self, row_batch_size=10000, col_batch_size=10000, k=3, fp16=True):
        self.row_batch_size, self.col_batch_size, self.nhood_sizes = row_batch_size, col_batch_size, (k,)
        self.fp16 = fp16  # False: the fall-back route everywhere (our distance_precision="fp32")
        self.fallbacks = []

    def distance_block(self, U, V):
        if self.fp16:
            return _np_distance_block(U, V, self.fallbacks)
        return _np_pairwise(np.asarray(U, np.float32), np.asarray(V, np.float32), np.float32)

    def manifold_radii(self, features):
        num_images = len(features)
        radii = np.zeros([num_images, 1], dtype=np.float32)
        distance_batch = np.zeros([self.row_batch_size, num_images], dtype=np.float32)
        seq = np.arange(max(self.nhood_sizes) + 1, dtype=np.int32)
        for begin1 in range(0, num_images, self.row_batch_size):
            end1 = min(begin1 + self.row_batch_size, num_images)
            row_batch = features[begin1:end1]
            for begin2 in range(0, num_images, self.col_batch_size):
                end2 = min(begin2 + self.col_batch_size, num_images)
                col_batch = features[begin2:end2]
                distance_batch[0:end1 - begin1, begin2:end2] = self.distance_block(row_batch, col_batch)
            part = np.partition(distance_batch[0:end1 - begin1, :], seq, axis=1)
            radii[begin1:end1, :] = part[:, list(self.nhood_sizes)]
        return radii

    def less_thans(self, batch_1, radii_1, batch_2, radii_2):
        dist32 = self.distance_block(batch_1, batch_2).astype(np.float32)[..., None]
        return np.any(dist32 <= radii_2, axis=1), np.any(dist32 <= radii_1[:, None], axis=0)

    def evaluate_pr(self, features_1, radii_1, features_2, radii_2):
        features_1_status = np.zeros([len(features_1), radii_2.shape[1]], dtype=bool)
        features_2_status = np.zeros([len(features_2), radii_1.shape[1]], dtype=bool)
        for begin_1 in range(0, len(features_1), self.row_batch_size):
            end_1 = begin_1 + self.row_batch_size
            batch_1 = features_1[begin_1:end_1]
            for begin_2 in range(0, len(features_2), self.col_batch_size):
                end_2 = begin_2 + self.col_batch_size
                batch_2 = features_2[begin_2:end_2]
                b1_in, b2_in = self.less_thans(batch_1, radii_1[begin_1:end_1], batch_2, radii_2[begin_2:end_2])
                features_1_status[begin_1:end_1] |= b1_in
                features_2_status[begin_2:end_2] |= b2_in
        return (np.mean(features_2_status.astype(np.float64), axis=0),
                np.mean(features_1_status.astype(np.float64), axis=0))

    def compute_prec_recall(self, ref, sample):
        ref, sample = np.asarray(ref, np.float32), np.asarray(sample, np.float32)
        radii_1, radii_2 = self.manifold_radii(ref), self.manifold_radii(sample)
        pr = self.evaluate_pr(ref, radii_1, sample, radii_2)
        return float(pr[0][0]), float(pr[1][0])


def overflowing(x):
    """Scaled so that every squared norm exceeds fp16's largest value 65504 (by 2x at least)."""
    x = np.asarray(x, np.float64)
    return (x * math.sqrt(1.3e5 / float((x ** 2).sum(1).min()))).astype(np.float32)


def pool3_like(rng, n, d=2048, shift=0.0):
    """Non-negative ReLU-like features at pool3's scale (mean ~0.3, ‖x‖² ~ 400-600), with structure."""
    latent = rng.normal(size=(n, 8))
    mixing = np.random.default_rng(99).normal(scale=0.12, size=(8, d))
    base = rng.gamma(shape=0.9, scale=0.3, size=(n, d))
    return np.maximum(base + latent @ mixing + shift, 0.0).astype(np.float32)


# ------------------------------------------------------------------ fp16 rounding

def test_round_to_fp16_is_correctly_rounded_like_numpy():
    rng = np.random.default_rng(0)
    wide = rng.normal(size=20000) * 10.0 ** rng.uniform(-9, 5.5, 20000)
    h = rng.normal(scale=300, size=5000).astype(np.float16).astype(np.float64)
    half_ulp = np.spacing(np.abs(h).astype(np.float16)).astype(np.float64) / 2
    near_ties = np.concatenate([h + half_ulp, h - half_ulp, h + half_ulp * (1 + 1e-12), h + half_ulp * (1 - 1e-12)])
    edges = np.array([65504.0, 65519.999, 65520.0, -65520.0, 1e40, -1e40, 6e-8, 2.9e-8, 3e-8, 0.0, -0.0, np.inf, -np.inf])
    for x in (wide, near_ties, edges):
        with np.errstate(over="ignore"):
            expected = x.astype(np.float16).astype(np.float64)
        got = round_to_fp16(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(got, expected)  # tolerance 0: bit-identical values
    # torch's own float64 -> float16 rounds twice (through float32) and is wrong near ties:
    naive = torch.from_numpy(near_ties).to(torch.float16).double().numpy()
    assert (naive != near_ties.astype(np.float16).astype(np.float64)).sum() > 0
    assert np.isnan(round_to_fp16(torch.tensor([np.nan], dtype=torch.float64)).item())


# ------------------------------------------------------------------ distance block

@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_distance_block_equals_numpy_transcription(precision):
    rng = np.random.default_rng(1)
    u, v = pool3_like(rng, 40, 256), pool3_like(rng, 30, 256, shift=0.05)
    got, fell_back = adm_squared_distances(u, v, distance_precision=precision)
    dtype = np.float16 if precision == "fp16" else np.float32
    expected = _np_pairwise(u.astype(dtype), v.astype(dtype), dtype).astype(np.float64)
    assert not fell_back
    np.testing.assert_array_equal(got.numpy(), expected)  # tolerance 0


def test_distance_block_fp64_against_direct_formula():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(12, 16)), rng.normal(size=(9, 16))
    got, _ = adm_squared_distances(u, v, distance_precision="fp64")
    direct = np.array([[sum((a - b) ** 2 for a, b in zip(x, y)) for y in v] for x in u])
    np.testing.assert_allclose(got.numpy(), direct, rtol=1e-13, atol=1e-13)


def test_doubled_dot_product_overflow_reads_as_distance_zero_like_the_evaluator():
    # ‖u‖² = 40000 fits fp16 but 2·u·v does not: (‖u‖² − inf) + ‖v‖² = −inf, max(−inf, 0) = 0, which
    # is finite, so the evaluator's check keeps the wrong fp16 block. Real pool3 norms are ~10³.
    u = np.array([[100.0, 100.0, 100.0, 100.0], [100.0, 100.0, 100.0, 101.0]])
    got, fell_back = adm_squared_distances(u, u, distance_precision="fp16")
    assert not fell_back
    np.testing.assert_array_equal(got.numpy(), _np_distance_block(u, u).astype(np.float64))
    np.testing.assert_array_equal(got.numpy(), np.zeros((2, 2)))
    exact, _ = adm_squared_distances(u, u, distance_precision="fp32")
    assert exact[0, 1].item() == 1.0


# ------------------------------------------------------------------ precision / recall

def test_small_integer_features_all_routes_exact_including_ties():
    # Integer coordinates 0..7, d = 6: every square, norm, dot product and distance is an integer
    # below 2048, exact in fp16, fp32 and fp64; ties with the radii (closed balls) are frequent.
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 8, size=(40, 6)).astype(np.float64)
    sam = rng.integers(1, 8, size=(35, 6)).astype(np.float64)
    expected = direct_precision_recall(ref, sam)
    for precision in ("fp16", "fp32", "fp64"):
        pr = adm_precision_recall(ref, sam, distance_precision=precision)
        assert (pr.precision, pr.recall) == expected  # tolerance 0
    assert EvaluatorTranscription().compute_prec_recall(ref, sam) == expected


def test_well_separated_clusters_exact():
    # Blobs of 4 points (±0.1 per coordinate) around distinct corners of {0, 1}⁸; samples of the
    # shared blobs are their reference twins moved by 1e-3. Every point's decision has a float64
    # margin |max_i (r_i² − d_i²)| > 0.02, above every route's rounding (fp16 here: ‖x‖² ≤ 10, so
    # each squared distance and radius is off by at most a few 2⁻⁸).
    rng = np.random.default_rng(4)
    corners = rng.permutation(256)[:8]
    centres = ((corners[:, None] >> np.arange(8)) & 1).astype(np.float64)
    blobs = [c + rng.uniform(-0.1, 0.1, size=(4, 8)) for c in centres]
    ref = np.concatenate(blobs[:6])  # blobs 0-5
    sam = np.concatenate([b + rng.uniform(-1e-3, 1e-3, size=b.shape) for b in blobs[3:6]] + blobs[6:])  # 3-5 shared, 6-7 new
    expected = direct_precision_recall(ref, sam)
    assert expected == (12 / 20, 12 / 24)
    d2 = ((sam[:, None] - ref[None]) ** 2).sum(-1)
    r2_ref = np.sort(((ref[:, None] - ref[None]) ** 2).sum(-1), axis=1)[:, 3]
    r2_sam = np.sort(((sam[:, None] - sam[None]) ** 2).sum(-1), axis=1)[:, 3]
    assert np.abs((r2_ref[None, :] - d2).max(axis=1)).min() > 0.02  # each sample: clearly in or out
    assert np.abs((r2_sam[:, None] - d2).max(axis=0)).min() > 0.02  # each reference point
    for precision in ("fp16", "fp32", "fp64"):
        pr = adm_precision_recall(ref, sam, distance_precision=precision)
        assert (pr.precision, pr.recall) == expected  # tolerance 0
    assert EvaluatorTranscription().compute_prec_recall(ref, sam) == expected


def test_fp64_route_equals_direct_formula_on_continuous_data():
    rng = np.random.default_rng(5)
    ref, sam = rng.normal(size=(60, 24)), rng.normal(loc=0.3, size=(50, 24))
    pr = adm_precision_recall(ref, sam, distance_precision="fp64")
    # Equality is justified, not lucky: no pair distance lies within 1e-9 (relative) of a radius,
    # while the norm-expansion formula and the direct sum differ by ~1e-15 relative.
    d_rs = np.sqrt(((ref[:, None] - sam[None]) ** 2).sum(-1))
    r_ref = np.sort(np.sqrt(((ref[:, None] - ref[None]) ** 2).sum(-1)), axis=1)[:, 3]
    r_sam = np.sort(np.sqrt(((sam[:, None] - sam[None]) ** 2).sum(-1)), axis=1)[:, 3]
    assert np.abs(d_rs / r_ref[:, None] - 1).min() > 1e-9 and np.abs(d_rs / r_sam[None, :] - 1).min() > 1e-9
    assert (pr.precision, pr.recall) == direct_precision_recall(ref, sam)


def test_fp64_route_equals_ganeval_prdc_precision_recall():
    # Same k-th neighbour convention (self included) and closed balls; squared vs plain distances
    # is monotone, so only rounding at a tie could differ.
    rng = np.random.default_rng(15)
    ref, sam = pool3_like(rng, 80, 128), pool3_like(rng, 70, 128, shift=0.03)
    ours = adm_precision_recall(ref, sam, distance_precision="fp64")
    theirs = prdc(ref, sam, k_pr=3)
    assert (ours.precision, ours.recall) == (theirs.precision, theirs.recall)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_equals_evaluator_transcription_on_pool3_like_features(precision):
    rng = np.random.default_rng(6)
    ref, sam = pool3_like(rng, 120), pool3_like(rng, 100, shift=0.02)
    transcription = EvaluatorTranscription(fp16=precision == "fp16")
    expected = transcription.compute_prec_recall(ref, sam)
    assert not any(transcription.fallbacks)
    pr = adm_precision_recall(ref, sam, distance_precision=precision)
    assert (pr.precision, pr.recall) == expected  # tolerance 0
    radii = adm_manifold_radii(ref, distance_precision=precision).numpy()
    np.testing.assert_array_equal(radii, transcription.manifold_radii(ref)[:, 0].astype(np.float64))


@pytest.mark.slow
def test_batching_changes_nothing_without_fallback():
    rng = np.random.default_rng(7)
    ref, sam = pool3_like(rng, 60, 512), pool3_like(rng, 50, 512, shift=0.03)
    one = adm_precision_recall(ref, sam)
    radii_one = adm_manifold_radii(ref)
    for rows, cols, chunk in ((7, 11, None), (60, 4, None), (16, 60, 50), (2, 5, 1), (33, 33, 64)):
        pr = adm_precision_recall(ref, sam, row_batch_size=rows, col_batch_size=cols, block_elements=chunk)
        assert (pr.precision, pr.recall) == (one.precision, one.recall)
        assert pr.fp32_fallback_blocks == 0
        assert torch.equal(adm_manifold_radii(ref, row_batch_size=rows, col_batch_size=cols, block_elements=chunk),
                           radii_one)
        assert EvaluatorTranscription(rows, cols).compute_prec_recall(ref, sam) == (one.precision, one.recall)


def test_fp16_overflow_falls_back_to_fp32_per_block():
    rng = np.random.default_rng(8)
    ref, sam = overflowing(pool3_like(rng, 48, 256)), overflowing(pool3_like(rng, 40, 256, shift=0.02))
    fp32 = adm_precision_recall(ref, sam, distance_precision="fp32")
    for rows, cols in ((10000, 10000), (10, 7)):
        pr = adm_precision_recall(ref, sam, row_batch_size=rows, col_batch_size=cols)
        assert pr.fp32_fallback_blocks == pr.distance_blocks > 0  # every block overflowed in fp16
        assert (pr.precision, pr.recall) == (fp32.precision, fp32.recall)
        assert math.isfinite(pr.precision) and math.isfinite(pr.recall)
        assert EvaluatorTranscription(rows, cols).compute_prec_recall(ref, sam) == (pr.precision, pr.recall)
    radii = adm_manifold_radii(ref)
    np.testing.assert_array_equal(radii.numpy(), adm_manifold_radii(ref, distance_precision="fp32").numpy())


def test_partial_fallback_follows_the_evaluator_blocks():
    # A few reference rows overflow fp16: only the blocks holding them are redone in fp32, so
    # with small batches the result is the evaluator's per-block mixture (checked against the
    # transcription with the same batch sizes), and the fall-back count is partial.
    rng = np.random.default_rng(9)
    ref, sam = pool3_like(rng, 60, 256), pool3_like(rng, 50, 256, shift=0.02)
    ref[:3] = overflowing(ref[:3])
    for rows, cols in ((10000, 10000), (20, 25), (7, 9)):
        transcription = EvaluatorTranscription(rows, cols)
        expected = transcription.compute_prec_recall(ref, sam)
        pr = adm_precision_recall(ref, sam, row_batch_size=rows, col_batch_size=cols, block_elements=40)
        assert (pr.precision, pr.recall) == expected
        assert pr.fp32_fallback_blocks == sum(transcription.fallbacks)
        assert 0 < pr.fp32_fallback_blocks < pr.distance_blocks


def test_fp16_against_float64_within_stated_rounding_margin():
    # Stated tolerance: on pool3-scale features every fp16 squared distance (and so every radius)
    # is within τ = 2⁻⁸·max‖x‖² of its float64 value; a point's membership may differ between the
    # routes only when some ball's margin |d² − r²| (float64) is within 2τ.
    rng = np.random.default_rng(10)
    ref, sam = pool3_like(rng, 150), pool3_like(rng, 120, shift=0.02)
    tau = 2.0 ** -8 * max(float((ref.astype(np.float64) ** 2).sum(1).max()), float((sam.astype(np.float64) ** 2).sum(1).max()))
    d16, _ = adm_squared_distances(ref, sam, distance_precision="fp16")
    d64, _ = adm_squared_distances(ref.astype(np.float32).astype(np.float64), sam, distance_precision="fp64")
    assert float((d16 - d64).abs().max()) <= tau
    r_ref = adm_manifold_radii(ref, distance_precision="fp64").numpy()
    r_sam = adm_manifold_radii(sam, distance_precision="fp64").numpy()
    r16_ref = adm_manifold_radii(ref).numpy()
    assert np.abs(r16_ref - r_ref).max() <= tau
    d = d64.numpy()
    in16_sam = (d16.numpy() <= r16_ref[:, None]).any(0)
    in64_sam = (d <= r_ref[:, None]).any(0)
    for j in np.flatnonzero(in16_sam != in64_sam):
        assert np.abs(d[:, j] - r_ref).min() <= 2 * tau
    p16 = adm_precision_recall(ref, sam)
    p64 = adm_precision_recall(ref.astype(np.float64), sam.astype(np.float64), distance_precision="fp64")
    assert p16.precision == in16_sam.mean() and p64.precision == in64_sam.mean()
    ambiguous = (np.abs(d - r_ref[:, None]) <= 2 * tau).any(0).mean()  # samples near some ball's edge
    assert abs(p16.precision - p64.precision) <= ambiguous
    ambiguous_ref = (np.abs(d - r_sam[None, :]) <= 2 * tau).any(1).mean()
    assert abs(p16.recall - p64.recall) <= ambiguous_ref


def test_errors_are_one_line():
    x = np.ones((5, 4))
    with pytest.raises(GanevalError, match="k=5"):
        adm_precision_recall(x, x, k=5)
    with pytest.raises(GanevalError, match="distance_precision"):
        adm_precision_recall(x, x, distance_precision="bf16")
    with pytest.raises(GanevalError, match="dimension"):
        adm_precision_recall(x, np.ones((5, 3)))
    with pytest.raises(GanevalError, match="NaN"):
        adm_precision_recall(np.full((5, 4), np.nan), x)
    with pytest.raises(GanevalError, match="overflow fp32"):
        adm_precision_recall(np.full((5, 4), 1e30) * np.arange(1, 6)[:, None], x)


# ------------------------------------------------------------------ Inception Score

def direct_inception_score(features, weight, split_size):
    logits = np.asarray(features, np.float64) @ np.asarray(weight, np.float64)
    p = softmax(logits, axis=1)
    scores = []
    for start in range(0, len(p), split_size):
        part = p[start:start + split_size]
        marginal = part.mean(axis=0)
        scores.append(math.exp(np.mean([entropy(row, marginal) for row in part])))
    return float(np.mean(scores)), scores


def test_inception_score_against_softmax_entropy():
    rng = np.random.default_rng(11)
    features, weight = pool3_like(rng, 23, 64), rng.normal(scale=0.8, size=(64, 20))
    for split_size in (5000, 23, 5, 7, 1, 22):
        expected, per_split = direct_inception_score(features, weight, split_size)
        scores = adm_inception_split_scores(features, weight, split_size=split_size)
        assert len(scores) == math.ceil(23 / split_size)  # range(0, N, split_size): the last split is short
        np.testing.assert_allclose(scores, per_split, rtol=1e-12, atol=0)
        got = adm_inception_score(features, weight, split_size=split_size)
        assert abs(got - expected) <= 1e-12 * expected
    # 23 images, splits of 5: [0:5] … [15:20] and the remainder [20:23], all weighted equally.
    parts = [adm_inception_score(features[s:s + 5], weight, split_size=5) for s in (0, 5, 10, 15, 20)]
    assert abs(adm_inception_score(features, weight, split_size=5) - np.mean(parts)) <= 1e-12 * np.mean(parts)


def test_inception_score_weight_layouts_no_bias_and_limits():
    rng = np.random.default_rng(12)
    features, weight = pool3_like(rng, 30, 2048), rng.normal(scale=0.05, size=(2048, 1008))
    tf_layout = adm_inception_score(features, weight)
    assert adm_inception_score(features, weight.T) == pytest.approx(tf_layout, rel=1e-14)  # torch nn.Linear.weight [1008, 2048]
    assert 1.0 <= tf_layout <= 30  # one split of 30 images: at most 30
    # Identical predictions give exactly 1; a probability underflowing to 0 in float64 is 0·log 0 = 0.
    assert adm_inception_score(np.ones((10, 3)), np.ones((3, 4))) == pytest.approx(1.0, abs=1e-15)
    extreme = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert adm_inception_score(extreme, np.array([[800.0, 0.0], [0.0, 800.0]])) == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(GanevalError, match="does not fit"):
        adm_inception_score(features, np.ones((100, 10)))


def test_inception_score_float32_evaluator_route_difference_is_small():
    # The evaluator's own precision: TF float32 softmax, numpy float32 KL (L180-L191). Measured here
    # against our float64: relative difference below 1e-5 on pool3-like features with a 1008-way head.
    rng = np.random.default_rng(13)
    features, weight = pool3_like(rng, 400, 2048), rng.normal(scale=0.06, size=(2048, 1008))
    logits32 = features.astype(np.float32) @ weight.astype(np.float32)
    e = np.exp(logits32 - logits32.max(axis=1, keepdims=True))
    preds = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    scores = []
    for i in range(0, len(preds), 150):
        part = preds[i:i + 150]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    evaluator32 = float(np.mean(scores))
    ours = adm_inception_score(features, weight, split_size=150)
    assert abs(evaluator32 - ours) / ours < 1e-5


# ------------------------------------------------------------------ suite

def test_suite_numbers_and_omissions():
    rng = np.random.default_rng(14)
    ref, sam = pool3_like(rng, 80, 64), pool3_like(rng, 70, 64, shift=0.05)
    spatial_r, spatial_s = rng.normal(size=(80, 10)), rng.normal(loc=0.1, size=(70, 10))
    rs = (spatial_r.mean(0), np.cov(spatial_r, rowvar=False))
    ss = (spatial_s.mean(0), np.cov(spatial_s, rowvar=False))
    weight = rng.normal(size=(64, 12))
    result = adm_suite(ref, sam, ref_spatial_stats=rs, sample_spatial_stats=ss, logits_weight=weight)
    assert list(result.metrics) == ["inception_score", "fid", "sfid", "precision", "recall"]
    assert result.omitted == {}
    r64, s64 = ref.astype(np.float64), sam.astype(np.float64)
    assert result.metrics["fid"] == frechet_distance(s64.mean(0), np.cov(s64, rowvar=False), r64.mean(0), np.cov(r64, rowvar=False))
    assert result.metrics["sfid"] == frechet_distance(*ss, *rs)
    assert result.metrics["inception_score"] == adm_inception_score(sam, weight)
    pr = adm_precision_recall(ref, sam)
    assert (result.metrics["precision"], result.metrics["recall"]) == (pr.precision, pr.recall)
    as_dict = result.as_dict()
    assert as_dict["suite"] == "adm" and as_dict["conventions"]["distance_precision"] == "fp16"

    given = (np.zeros(64), np.eye(64))
    bare = adm_suite(ref, sam, ref_pool3_stats=given)
    assert list(bare.metrics) == ["fid", "precision", "recall"]
    assert set(bare.omitted) == {"inception_score", "sfid"}
    assert all("\n" not in reason for reason in bare.omitted.values())
    assert bare.metrics["fid"] == frechet_distance(s64.mean(0), np.cov(s64, rowvar=False), *given)
    custom = adm_suite(ref, sam, logits_missing_reason="x.pt: no logits head")
    assert custom.omitted["inception_score"] == "x.pt: no logits head"
    with pytest.raises(GanevalError, match="both"):
        adm_suite(ref, sam, ref_spatial_stats=rs)
