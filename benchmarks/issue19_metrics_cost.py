"""Cost of MiFID, Vendi, TopP&R, AuthPct and C_T at 10k and 50k per side, and of PPL per sample.

    nice -n 10 python benchmarks/issue19_metrics_cost.py [--sizes 10000,50000] [--dim 2048] [--json out.json]

Every metric runs in a fresh process on N real + N generated synthetic pool3-like float32 features
(benchmarks/synthetic_features.py, dimension ``--dim``) for each N of ``--sizes``: CPU seconds of the
metric call (user + system of all threads, ``time.process_time``), its wall seconds, the process's peak
RSS (ru_maxrss) and its growth during the call (what the metric itself held at its peak, beyond the
features and the interpreter), and the fp32 GEMM limit of the metric's N × N products (their FLOP
at the FLOP per CPU-second of a plain torch.mm measured in this invocation) where it has them.
Growth exponents a (time ∝ N^a) between the smallest and the largest size. PPL: CPU seconds per
sample (one pair = two images through LPIPS-VGG16 with a random backbone; the speed does not
depend on the weights) at torch-fidelity's LPIPS size 64 and at StyleGAN's 256, for a trivial
generator; PPL is linear in the number of samples.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from feature_runs import run_in_child

# name → (the call, on a = real and b = generated; its N × N products of d-dimensional rows)
METRICS = {
    "mifid": ("mifid(a, b)", 1),  # N × N cosines (float64; FID from blockwise moments)
    "vendi (B)": ("vendi_score(b)", 0),  # N d² Gram (float64) + d³ eigenvalues
    "toppr": ("top_pr(a, b)", 0),  # N × N distances in 32-d after the projection: no d-dimensional products
    "authpct": ("authenticity(a, b)", 2),  # A × A and B × A screens (fp32 GEMM), exact recompute near decisions
    "ct (A halved)": ("data_copying_ct(a[: len(a) // 2], a[len(a) // 2:], b)", 0),  # PCA to 64-d, then 64-d
}

def gemm_flops_per_cpu_second(dim: int, size: int = 4096, repeats: int = 5) -> float:
    a, b = torch.randn(size, dim), torch.randn(size, dim)
    a @ b.T
    cpu = time.process_time()
    for _ in range(repeats):
        a @ b.T
    return 2.0 * size * size * dim * repeats / (time.process_time() - cpu)


IMPORTS = ("from ganeval.metrics.memorisation import authenticity, data_copying_ct\n"
           "from ganeval.metrics.mifid import mifid\n"
           "from ganeval.metrics.topp_r import top_pr\n"
           "from ganeval.metrics.vendi import vendi_score\n")


def run_metric(call: str, n: int, dim: int) -> dict:
    row = run_in_child(f"{IMPORTS}value = {call}\nvalue = value if isinstance(value, float) else value[0]", n, dim)
    if "error" in row:
        raise SystemExit(f"{call} at N = {n} failed: {row['error']}")
    return row


def ppl_seconds_per_sample(size: int, samples: int = 16) -> float:
    from ganeval.metrics.lpips import LPIPSVGG16
    from ganeval.metrics.ppl import perceptual_path_length

    lpips = LPIPSVGG16(resize=None)  # random backbone: same speed as the trained one

    def generator(p):
        return torch.tanh(p[:, :3, None, None].expand(-1, 3, size, size).contiguous())

    start = time.process_time()
    perceptual_path_length(generator, 16, lpips, num_samples=samples, batch_size=8)
    return (time.process_time() - start) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--only", default=None, help="comma-separated metric names (default: all)")
    parser.add_argument("--no-ppl", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rate = gemm_flops_per_cpu_second(args.dim)
    print(f"fp32 GEMM: {rate / 1e9:.1f} GFLOP per CPU-second ({torch.get_num_threads()} threads)", flush=True)
    names = args.only.split(",") if args.only else list(METRICS)
    rows = []
    for name in names:
        call, products = METRICS[name]
        for n in sizes:
            row = {"metric": name, "n": n, **run_metric(call, n, args.dim)}
            row["gemm_limit_cpu_s"] = products * 2.0 * n * n * args.dim / rate if products else None
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nfeatures: {args.dim}-d synthetic pool3-like float32, N real + N generated\n")
    print("| metric | N per side | CPU s | wall s | peak RSS GB (growth in the call) | fp32 GEMM limit CPU s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        limit = f"{row['gemm_limit_cpu_s']:.1f}" if row["gemm_limit_cpu_s"] else "–"
        print(f"| {row['metric']} | {row['n']:,} | {row['cpu_s']:.1f} | {row['wall_s']:.1f} | "
              f"{row['peak_rss_gb']:.2f} (+{row['growth_gb']:.2f}) | {limit} |")
    if len(sizes) > 1:
        for name in names:
            small = next(r for r in rows if r["metric"] == name and r["n"] == sizes[0])
            large = next(r for r in rows if r["metric"] == name and r["n"] == sizes[-1])
            exponent = math.log(large["cpu_s"] / small["cpu_s"]) / math.log(sizes[-1] / sizes[0])
            print(f"growth {name}: CPU time ∝ N^{exponent:.2f}")
    ppl = {}
    if not args.no_ppl:
        for size in (64, 256):
            ppl[size] = ppl_seconds_per_sample(size)
            print(f"PPL, LPIPS-VGG16 at {size}x{size}: {ppl[size] * 1000:.0f} CPU ms per sample "
                  f"(10k samples {ppl[size] * 1e4 / 60:.0f} CPU min, 50k {ppl[size] * 5e4 / 60:.0f} CPU min)")
    if args.json:
        args.json.write_text(json.dumps({"gemm_gflops_per_cpu_s": rate / 1e9, "rows": rows, "ppl": ppl}, indent=1))


if __name__ == "__main__":
    main()
