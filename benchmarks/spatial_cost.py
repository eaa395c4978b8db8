"""The price of the spatial (sFID) space: network time per image with and without the extra
output, its float64 accumulation, and the stats file sizes (docs/file-format.md).

    python benchmarks/spatial_cost.py [--images 100]

Uses ganeval's demo photographs (scikit-image's LFW faces); prints one Markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

import ganeval
from ganeval.cli.demo import write_demo_images
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.core.stats import FeatureStats, StatsSet


def network_ms_per_image(features, batch: torch.Tensor, repeats: int = 3) -> float:
    extractor = InceptionExtractor(features=features)
    extractor.extract(batch[:2])  # warm up (and export the ONNX graph once)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        extractor.extract(batch)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(batch)


def accumulation_ms_per_image(dim: int = 2023, batch: int = 50, repeats: int = 20) -> float:
    stats, features = FeatureStats(dim), torch.rand(batch, dim)
    stats.add_features(features)
    start = time.perf_counter()
    for _ in range(repeats):
        stats.add_features(features)
    return 1000 * (time.perf_counter() - start) / (batch * repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    batch = torch.randint(0, 256, (50, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pool3 = network_ms_per_image(("pool3",), batch)
    both = network_ms_per_image(("pool3", "spatial"), batch)
    accumulate = accumulation_ms_per_image()
    with tempfile.TemporaryDirectory() as tmp:
        real, _ = write_demo_images(Path(tmp) / "demo", args.images)
        stats = ganeval.compute_stats(str(real), save_features=True, progress=False)
        sizes = {}
        for name, spaces, keep in (("pool3 only", ("pool3",), False), ("pool3 + spatial", ("pool3", "spatial"), False),
                                   ("pool3 + spatial + features", ("pool3", "spatial"), True)):
            chosen = {s: stats[s] for s in spaces}
            if not keep:
                chosen = {s: FeatureStats.from_moments(v.count, v.mu, v.sigma, dict(v.provenance))
                          for s, v in chosen.items()}
            path = Path(tmp) / f"{len(sizes)}.h5"
            StatsSet(chosen).save(path)
            sizes[name] = os.path.getsize(path)
    print(f"| | ms/image | file, {args.images} images |\n|---|---|---|")
    print(f"| pool3 only | {pool3:.1f} | {sizes['pool3 only'] / 1e6:.1f} MB |")
    print(f"| pool3 + spatial | {both:.1f} + {accumulate:.2f} accumulation "
          f"({100 * (both + accumulate - pool3) / pool3:+.1f} %) | {sizes['pool3 + spatial'] / 1e6:.1f} MB |")
    extra = (sizes["pool3 + spatial + features"] - sizes["pool3 + spatial"]) / args.images
    print(f"| + pool3 features | | +{extra / 1e3:.1f} KB per image |")


if __name__ == "__main__":
    main()
