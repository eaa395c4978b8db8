"""Cost of MiFID, Vendi, TopP&R, AuthPct and C_T on synthetic features, and of PPL per sample.

    nice -n 10 python benchmarks/issue19_metrics_cost.py [--sizes 2500,5000,10000] [--dim 2048]

Every metric runs on N real + N generated synthetic float32 features (correlated Gaussians, dimension
``--dim``) for each N of ``--sizes``; the times at 10k and 50k per side, where not among ``--sizes``, are
extrapolated from the growth exponent between the two largest sizes (t ∝ N^p), not measured; the
last column bounds the 50k cost from above with the asymptotic exponent k of each metric (cost =
fixed + c N^k ⇒ t(50k) ≤ t(N) (50k/N)^k). PPL: seconds per sample (one pair = two images
through LPIPS-VGG16 with a random backbone; the speed does not depend on the weights) at torch-fidelity's
LPIPS size 64 and at StyleGAN's 256, for a trivial generator; PPL is linear in the number of samples.
Times are CPU seconds of the process (all threads), not wall time. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from ganeval.metrics.lpips import LPIPSVGG16
from ganeval.metrics.memorisation import authenticity, data_copying_ct
from ganeval.metrics.mifid import mifid
from ganeval.metrics.ppl import perceptual_path_length
from ganeval.metrics.topp_r import top_pr
from ganeval.metrics.vendi import vendi_score


def features(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(64, dim)) / 8.0
    return (rng.normal(size=(n, 64)) @ mix + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


# name → (function, asymptotic exponent k of its cost in N: t = fixed + c N^k; the fixed part is the
# d × d linear algebra, e.g. FID's and PCA's d³)
METRICS = {
    "mifid": (lambda a, b: mifid(a, b), 2),  # N × N cosines
    "vendi (B)": (lambda a, b: vendi_score(b), 1),  # N d² Gram + d³ eigenvalues
    "toppr": (lambda a, b: top_pr(a, b), 2),  # N × N distances (32-d after projection)
    "authpct": (lambda a, b: authenticity(a, b), 2),  # N × N distances
    "ct (A halved)": (lambda a, b: data_copying_ct(*np.array_split(a, 2), b), 2),  # N d² PCA, (N/3)² per cell
}


def seconds(fn) -> float:
    """CPU seconds of this process (all threads): steadier than wall time on a shared machine;
    on an idle machine the wall time is about this divided by the threads in use."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def ppl_seconds_per_sample(size: int, samples: int = 16) -> float:
    lpips = LPIPSVGG16(resize=None)  # random backbone: same speed as the trained one
    def generator(p):
        return torch.tanh(p[:, :3, None, None].expand(-1, 3, size, size).contiguous())
    return seconds(lambda: perceptual_path_length(generator, 16, lpips, num_samples=samples, batch_size=8)) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2500,5000,10000")
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    for name, (fn, asymptotic) in METRICS.items():
        times = []
        for n in sizes:
            a, b = features(n, args.dim, 0), features(n, args.dim, 1)
            times.append(seconds(lambda: fn(a, b)))
        p = math.log(times[-1] / times[-2]) / math.log(sizes[-1] / sizes[-2])
        targets = {n: times[sizes.index(n)] if n in sizes else times[-1] * (n / sizes[-1]) ** p
                   for n in (10000, 50000)}
        # an upper bound: for t = fixed + c N^k, t(N2) ≤ t(N1) (N2/N1)^k
        bound = times[-1] * (50000 / sizes[-1]) ** asymptotic
        rows.append((name, times, p, targets, asymptotic, bound))
    print(f"features: {args.dim}-d float32, N real + N generated; CPU seconds (all threads; torch threads "
          f"{torch.get_num_threads()})\n")
    print("| metric | " + " | ".join(f"{n:,} per side (CPU s)" for n in sizes)
          + " | growth exponent p | 10k per side (CPU s) | 50k per side (CPU s, extrapolated) | 50k upper bound (CPU s) |")
    print("|---" * (len(sizes) + 5) + "|")
    for name, times, p, targets, k, bound in rows:
        cells = [f"{t:.0f}" if n in sizes else f"~{t:.0f}" for n, t in targets.items()]
        print(f"| {name} | " + " | ".join(f"{t:.2f}" for t in times) + f" | {p:.2f} | " + " | ".join(cells)
              + f" | {bound:.0f} (k = {k}) |")
    for size in (64, 256):
        per = ppl_seconds_per_sample(size)
        print(f"\nPPL, LPIPS-VGG16 at {size}x{size}: {per * 1000:.0f} CPU ms per sample "
              f"(10k samples {per * 1e4 / 60:.0f} CPU min, 50k {per * 5e4 / 60:.0f} CPU min)")


if __name__ == "__main__":
    main()
