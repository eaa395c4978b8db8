"""Record the ADM precision/recall outputs of the code before issue 20 (run with PYTHONPATH=/tmp/h20_before)."""
import json, math, sys
import numpy as np
import ganeval.metrics.adm as adm
print(adm.__file__, file=sys.stderr)

def overflowing(x):
    x = np.asarray(x, np.float64)
    return (x * math.sqrt(1.3e5 / float((x ** 2).sum(1).min()))).astype(np.float32)

def pool3_like(rng, n, d=2048, shift=0.0):
    latent = rng.normal(size=(n, 8))
    mixing = np.random.default_rng(99).normal(scale=0.12, size=(8, d))
    base = rng.gamma(shape=0.9, scale=0.3, size=(n, d))
    return np.maximum(base + latent @ mixing + shift, 0.0).astype(np.float32)

def cases():
    rng = np.random.default_rng(2020)
    ref, sam = pool3_like(rng, 300, 2048), pool3_like(rng, 260, 2048, shift=0.02)
    yield "pool3_like_300x260", ref, sam, {}
    dup_ref = np.concatenate([ref[:200], ref[:40], ref[:20]])
    dup_sam = np.concatenate([sam[:150], ref[:60], sam[:50]])
    yield "duplicates", dup_ref, dup_sam, {}
    yield "duplicates_blocks_37x53", dup_ref, dup_sam, {"row_batch_size": 37, "col_batch_size": 53}
    part = ref[:120].copy(); part[:5] = overflowing(part[:5])
    yield "partial_fallback_50x40", part, sam[:100], {"row_batch_size": 50, "col_batch_size": 40}
    yield "all_overflow", overflowing(ref[:64, :256]), overflowing(sam[:50, :256]), {}
    yield "fp32_route", ref, sam, {"distance_precision": "fp32"}
    yield "fp64_route", ref, sam, {"distance_precision": "fp64"}

out = {}  # noqa: the recorder; the test reads only what is above this line
for name, r, s, kw in cases():
    pr = adm.adm_precision_recall(r, s, **kw)
    kw_r = {k: v for k, v in kw.items()}
    radii_r = adm.adm_manifold_radii(r, **kw_r).numpy()
    radii_s = adm.adm_manifold_radii(s, **kw_r).numpy()
    out[name] = {"kwargs": kw, "precision": pr.precision, "recall": pr.recall,
                 "distance_blocks": pr.distance_blocks, "fp32_fallback_blocks": pr.fp32_fallback_blocks,
                 "ref_radii": radii_r.tolist(), "sample_radii": radii_s.tolist()}
    print(name, pr, file=sys.stderr)
json.dump(out, open(sys.argv[1], "w"))
