"""What FIDCallback costs per 1,000 generated samples: generator, Inception features, Fréchet distance.

Uses the small DCGAN generator of ganeval-train (32x32, BatchNorm) passed as ``generator=G``, real
statistics of scikit-learn's digits, and the Inception network already loaded (a training run
loads it once). Prints one line per stage and the total scaled to 1,000 samples.

    PYTHONPATH=. python benchmarks/callback_cost.py --samples 200 [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

import ganeval
from ganeval.api.compute import fid_from_stats, inception_for
from ganeval.core.options import ExtractorOptions
from ganeval.core.stats import FeatureStats
from ganeval_train.data import load_digits
from ganeval_train.models.dcgan import DCGAN, DCGANConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="Generated samples to time (scaled to 1,000).")
    parser.add_argument("--batch-size", type=int, default=50, help="Samples per generator call.")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present).")
    args = parser.parse_args()

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    real = ganeval.compute_stats(load_digits().images[:200], mode="tf1", workers=0, device=device, progress=False)
    G = DCGAN(DCGANConfig(resolution=32, z_dim=64, width=32)).generator.to(device).train()
    sample = lambda G, n: G(torch.randn(n, 64, device=device))  # noqa: E731
    callback = ganeval.FIDCallback(real, generator=G, sample=sample, num_samples=args.samples,
                                   batch_size=args.batch_size, value_range=(-1, 1), device=device, progress=False)
    callback.compute()  # warm-up: loads the network (once per process) and the first batches

    start = time.perf_counter()
    value = callback.compute()
    total = time.perf_counter() - start

    with torch.no_grad():  # the stages alone, same sizes
        t0 = time.perf_counter()
        batches = [callback._to_uint8(sample(G.eval(), args.batch_size)) for _ in range(args.samples // args.batch_size)]
        t1 = time.perf_counter()
        fake = FeatureStats(extractor=inception_for(ExtractorOptions(device=device, mode="tf1")))
        for images in batches:
            fake.update(images)
        t2 = time.perf_counter()
        fid_from_stats(real, fake)
        t3 = time.perf_counter()
    per_1k = 1000 / args.samples
    print(f"device {device}, {torch.get_num_threads()} threads, {args.samples} samples, FID {value:.2f}")
    print(f"generator      {per_1k * (t1 - t0):8.2f} s per 1k samples")
    print(f"inception      {per_1k * (t2 - t1):8.2f} s per 1k samples")
    print(f"frechet        {t3 - t2:8.2f} s per evaluation (whatever N)")
    frechet = t3 - t2
    print(f"callback total {total:8.2f} s for {args.samples} samples: {per_1k * (total - frechet) + frechet:.2f} s "
          f"per evaluation of 1k samples ({args.samples / (total - frechet):.1f} samples/s + the Fréchet distance)")


if __name__ == "__main__":
    main()
