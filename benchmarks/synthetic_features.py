"""Synthetic pool3-like features with a realistic spectrum, and stats files made from them.

    python benchmarks/synthetic_features.py OUT_DIR --count 10000 [--dim 2048]

writes OUT_DIR/a.h5 (the "real" side) and OUT_DIR/b.h5 (a shifted "generated" side): pool3
statistics with their raw features (float32 [N, d]) and spatial statistics (2023-d moments), with
the provenance of ganeval's default Inception, so `ganeval eval a.h5 b.h5 --metrics fid,kid,prdc`
and `--suite adm` run on them without images.

The features: Inception pool3 activations are non-negative averages of ReLU outputs (mean ~0.3-0.5)
whose covariance spectrum decays roughly as a power law. Here x = relu(mu + z · diag(sqrt(λ)) · Q),
z standard normal [N, d], λ_i ∝ i^-1.1 (i = 1..d) scaled to a total variance of 0.08 · d, Q a fixed
random orthogonal basis, mu a fixed positive mean vector; the generated side moves mu by ``shift``
and scales the spectrum's tail, so FID, KID and PRDC are all away from their trivial values.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SPECTRUM_POWER = 1.1
TOTAL_VARIANCE_PER_DIM = 0.08


def _basis(dim: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(1234).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))  # a fixed, properly random orthogonal matrix


def synthetic_pool3(count: int, *, dim: int = 2048, seed: int = 0, shift: float = 0.0, tail: float = 1.0,
                    chunk: int = 5000) -> np.ndarray:
    """float32 [count, dim] non-negative features (see the module docstring); ``seed`` picks the draw."""
    spectrum = np.arange(1, dim + 1, dtype=np.float64) ** -SPECTRUM_POWER
    spectrum *= TOTAL_VARIANCE_PER_DIM * dim / spectrum.sum()
    spectrum[dim // 8:] *= tail
    mixing = (np.sqrt(spectrum)[:, None] * _basis(dim)).astype(np.float32)  # [d, d]
    mean = np.random.default_rng(99).gamma(2.0, 0.2, dim).astype(np.float32) + np.float32(shift)
    rng = np.random.default_rng(seed)
    out = np.empty((count, dim), np.float32)
    for start in range(0, count, chunk):
        z = rng.standard_normal((min(chunk, count - start), dim), dtype=np.float32)
        out[start:start + len(z)] = np.maximum(z @ mixing + mean, 0.0)
    return out


def write_stats_file(path: Path, features: np.ndarray, *, seed: int) -> None:
    """A two-space stats file: pool3 moments + raw features, spatial (2023-d) moments only."""
    import torch

    from ganeval.api.compute import get_inception
    from ganeval.core.stats import FeatureStats, StatsSet

    extractor = get_inception(device="cpu")
    pool3 = FeatureStats(provenance=extractor.space_provenance("pool3"), keep_features=True)
    for start in range(0, len(features), 5000):
        pool3.add_features(torch.from_numpy(features[start:start + 5000]))
    spatial_dim = extractor.space_dims["spatial"]
    spatial = np.random.default_rng(seed + 7).normal(size=(3 * spatial_dim, spatial_dim))
    spatial_stats = FeatureStats.from_moments(len(features), spatial.mean(0), np.cov(spatial, rowvar=False),
                                              extractor.space_provenance("spatial"))
    StatsSet({"pool3": pool3, "spatial": spatial_stats}).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_stats_file(args.out / "a.h5", synthetic_pool3(args.count, dim=args.dim, seed=1), seed=1)
    write_stats_file(args.out / "b.h5", synthetic_pool3(args.count, dim=args.dim, seed=2, shift=0.02, tail=1.3),
                     seed=2)
    print(f"wrote {args.out / 'a.h5'} and {args.out / 'b.h5'} ({args.count} x {args.dim} features each)")


if __name__ == "__main__":
    main()
