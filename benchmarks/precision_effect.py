"""What each opt-in speed mode costs in FID, measured on real photographs.

    python benchmarks/precision_effect.py [--images 500] [--device cpu|cuda] [--configs ...]

Two real sets: N random crops of scikit-image's colour photographs (256x256, written as
JPEG quality 90 and read back through ganeval's folder pipeline) and a degraded copy (blur
+ noise), plus the 100 + 100 LFW photographs of ``ganeval demo``. For each configuration
(backend / precision / torch.compile) the script prints the FID of both pairs, the absolute
and relative difference from the exact fp32 default, and the images/s of the feature pass.
The table in docs/precision.md comes from this script.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import ganeval
from ganeval.cli.demo import colour_photo_crops, degrade, write_demo_images

CONFIGS = {
    "fp32 default": dict(),
    "fp32 torch": dict(backend="torch"),
    "fp32 torch.compile": dict(backend="torch", compile=True),
    "tf32": dict(precision="tf32"),
    "bf16": dict(precision="bf16"),
    "fp16": dict(precision="fp16"),
}


def write_pairs(root: Path, count: int) -> dict[str, tuple[Path, Path]]:
    crops = colour_photo_crops(count, 256, seed=11)
    rng = np.random.default_rng(12)
    real, fake = root / "photos", root / "photos-degraded"
    real.mkdir()
    fake.mkdir()
    for i, image in enumerate(crops):
        Image.fromarray(image).save(real / f"{i:05d}.jpg", quality=90)
        Image.fromarray(degrade(image, rng)).save(fake / f"{i:05d}.jpg", quality=90)
    lfw_real, lfw_fake = write_demo_images(root / "lfw", 100)
    return {f"{count} colour 256² JPEG": (real, fake), "100 LFW 25² PNG": (lfw_real, lfw_fake)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500, help="photographs per colour set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", default=",".join(k for k in CONFIGS if k != "tf32"),
                        help=f"comma-separated, from: {', '.join(CONFIGS)}")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",")]
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        pairs = write_pairs(Path(tmp), args.images)
        exact: dict[str, float] = {}
        print(f"{'config':22s} {'pair':22s} {'FID':>10s} {'abs diff':>10s} {'rel diff':>9s} {'images/s':>9s}")
        for name in names:
            options = dict(CONFIGS[name], device=args.device)
            try:
                ganeval.get_inception(**options)(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))  # build + compile
            except ganeval.GanevalError as err:
                print(f"{name:22s} skipped: {err}")
                continue
            for pair, (real, fake) in pairs.items():
                start = time.perf_counter()
                a, b = (ganeval.compute_stats(str(folder), **options) for folder in (real, fake))
                rate = (a.count + b.count) / (time.perf_counter() - start)
                value = ganeval.fid_from_stats(a, b)
                exact.setdefault(pair, value)
                diff = value - exact[pair]
                print(f"{name:22s} {pair:22s} {value:10.4f} {diff:+10.4f} {diff / exact[pair]:+9.2%} {rate:9.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
