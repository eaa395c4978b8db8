"""What the ADM evaluator's fp16 distances change in its precision and recall, measured.

    python benchmarks/adm_fp16.py [--images 500] [--synthetic 4000] [--cache /tmp/adm_pool3.npz]

Feature sets (pool3 of ganeval's TF-Inception, exact fp32 route):

* "photos vs degraded": N random crops of scikit-image's colour photographs against blurred and
  noisy copies of other crops (as benchmarks/precision_effect.py);
* "photos vs photos": two disjoint sets of N crops;
* "synthetic": non-negative ReLU-like features at pool3 scale (2048-d, mean ~0.3), larger N.

For each pair: precision/recall with distance_precision fp16 (the evaluator), fp32 (its
fall-back route) and fp64 (exact), the differences, the largest fp16 error of a squared
distance and of a radius, and, as the emulation's own uncertainty, the same fp16 numbers with
dot products accumulated in fp32 before rounding (what cuBLAS does) instead of exactly.
docs/adm-suite.md quotes this script's output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import ganeval.metrics.adm as adm
from ganeval.cli.demo import colour_photo_crops, degrade


def photo_features(count: int, cache: Path) -> dict[str, np.ndarray]:
    if cache.exists():
        data = dict(np.load(cache))
        if all(data[k].shape[0] == count for k in ("photos_a", "photos_b", "degraded")):
            return data
    from ganeval.api.compute import get_inception

    extractor = get_inception(device="cpu")
    crops = colour_photo_crops(3 * count, 256, seed=11)
    rng = np.random.default_rng(0)
    sets = {"photos_a": crops[:count], "photos_b": crops[count:2 * count],
            "degraded": np.stack([degrade(image, rng) for image in crops[2 * count:]])}
    out = {}
    for name, images in sets.items():
        parts = []
        for start in range(0, count, 50):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + 50])).permute(0, 3, 1, 2)
            parts.append(extractor(batch).numpy())
        out[name] = np.concatenate(parts)
        print(f"  features of {name}: {out[name].shape}", flush=True)
    np.savez(cache, **out)
    return out


def synthetic(n: int, seed: int, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(scale=0.12, size=(8, 2048))
    x = rng.gamma(shape=0.9, scale=0.3, size=(n, 2048)) + rng.normal(size=(n, 8)) @ mixing + shift
    return np.maximum(x, 0.0).astype(np.float32)


def _fp32_accumulated(u, v, precision):
    """_block_distances with cuBLAS-style fp32 accumulation of the fp16 dot products."""
    if precision != "fp16":
        return _exact_block(u, v, precision)
    rnd = adm.round_to_fp16
    dots = rnd((u.values.float() @ v.values.float().T).double())
    t = rnd(u.norms[:, None] - rnd(2.0 * dots))
    return torch.clamp(rnd(t + v.norms[None, :]), min=0.0)


_exact_block = adm._block_distances


def measure(name: str, ref: np.ndarray, sam: np.ndarray) -> None:
    norms = (ref.astype(np.float64) ** 2).sum(1)
    print(f"\n{name}: {ref.shape[0]} reference, {sam.shape[0]} samples, mean feature {ref.mean():.3f}, "
          f"median ‖x‖² {np.median(norms):.0f}")
    results = {p: adm.adm_precision_recall(ref, sam, distance_precision=p) for p in adm.DISTANCE_PRECISIONS}
    adm._block_distances = _fp32_accumulated
    try:
        acc32 = adm.adm_precision_recall(ref, sam)
    finally:
        adm._block_distances = _exact_block
    exact = results["fp64"]
    for label, r in (*results.items(), ("fp16, fp32-accumulated dots", acc32)):
        print(f"  {label:28s} precision {r.precision:.4f} ({r.precision - exact.precision:+.4f})  "
              f"recall {r.recall:.4f} ({r.recall - exact.recall:+.4f})  fall-back blocks {r.fp32_fallback_blocks}")
    m = min(len(ref), 500)
    d16, _ = adm.adm_squared_distances(ref[:m], sam[:m], distance_precision="fp16")
    d64, _ = adm.adm_squared_distances(ref[:m].astype(np.float64), sam[:m], distance_precision="fp64")
    rel = ((d16 - d64).abs() / d64.clamp(min=1e-30)).flatten()
    u, v = adm._Sets(torch.as_tensor(ref[:m], dtype=torch.float64), "fp16"), adm._Sets(torch.as_tensor(sam[:m], dtype=torch.float64), "fp16")
    gap = (_fp32_accumulated(u.main, v.main, "fp16") - _exact_block(u.main, v.main, "fp16")).abs()
    differ, gap_max = float((gap > 0).double().mean()), float(gap.max())
    r16 = adm.adm_manifold_radii(ref, distance_precision="fp16")
    r64 = adm.adm_manifold_radii(ref, distance_precision="fp64")
    print(f"  fp16 squared distances: max abs error {float((d16 - d64).abs().max()):.3f}, "
          f"median / max relative {float(rel.median()):.2e} / {float(rel.max()):.2e}; "
          f"radii² max abs error {float((r16 - r64).abs().max()):.3f} (median radius² {float(r64.median()):.1f}); "
          f"fp32-accumulated dots change {differ:.2%} of the fp16 distances, by at most {gap_max:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--synthetic", type=int, default=4000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/adm_pool3.npz"))
    args = parser.parse_args()
    feats = photo_features(args.images, args.cache)
    measure("photos vs degraded (real pool3)", feats["photos_a"], feats["degraded"])
    measure("photos vs photos (real pool3)", feats["photos_a"], feats["photos_b"])
    if args.synthetic:
        measure("synthetic pool3-like", synthetic(args.synthetic, 1, 0.0), synthetic(args.synthetic, 2, 0.02))


if __name__ == "__main__":
    main()
