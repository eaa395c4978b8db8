"""Metric math at scale: `ganeval eval` on two stats files of synthetic 2048-d features.

    nice -n 10 python benchmarks/metrics_scale.py --counts 10000 50000 [--runs "fid,kid,prdc" adm prdc kid fid]
        [--data /tmp/ganeval_scale] [--code DIR] [--json out.json]

For each count N (per side) it writes a.h5/b.h5 with benchmarks/synthetic_features.py (once, kept
under --data) and runs, each in a fresh process (`python -m ganeval eval a.h5 b.h5 --json ...`):
``--metrics fid,kid,prdc``, ``--suite adm`` and each metric alone. Per run: CPU seconds (user +
system of the process, os.wait4), wall seconds, peak RSS (ru_maxrss), and the ratio of the CPU time
to the fp32 GEMM limit of the run's matrix products: their FLOP divided by the FLOP per CPU-second
of a plain torch.mm (float32, [4096, d] x [d, 4096], all threads) measured in the same invocation.
CPU seconds, not wall seconds, because the machine is shared: another process's load stretches the
wall time of both alike but not the CPU time. The products counted:

* prdc and the ADM suite's precision/recall: three N x N x d distance products (real-real,
  fake-fake, fake-real), 3 · 2N²d FLOP;
* kid: 100 subsets x three 1000 x 1000 x d kernel products, 100 · 3 · 2 · 1000² · d FLOP;
* fid: no product of that kind (the 2048 x 2048 matrix functions are counted in its wall time only).

Growth exponents a (time ∝ N^a) come from the two smallest and largest counts. ``--code DIR``
runs another checkout's ganeval (PYTHONPATH=DIR), for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000


def gemm_flops_per_second(dim: int = 2048, size: int = 4096, repeats: int = 5) -> tuple[float, float]:
    """(FLOP per wall second, FLOP per CPU second) of a plain float32 torch.mm with all threads."""
    a, b = torch.randn(size, dim), torch.randn(size, dim)
    a @ b.T  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        a @ b.T
    flops = 2.0 * size * size * dim * repeats
    return flops / (time.perf_counter() - start), flops / (time.process_time() - cpu)


def product_flops(run: str, n: int, dim: int) -> float:
    flops = 0.0
    names = run.split(",")
    if "prdc" in names or run == "adm":
        flops += 3 * 2.0 * n * n * dim
    if "kid" in names:
        size = min(KID_SUBSET_SIZE, n)
        flops += KID_SUBSETS * 3 * 2.0 * size * size * dim
    return flops


def make_data(root: Path, n: int, dim: int, code: Path) -> Path:
    folder = root / f"n{n}_d{dim}"
    if not (folder / "b.h5").exists():
        env = {**os.environ, "PYTHONPATH": str(code)}
        subprocess.run([sys.executable, str(HERE / "synthetic_features.py"), str(folder), "--count", str(n),
                        "--dim", str(dim)], check=True, env=env)
    return folder


def measure(run: str, folder: Path, code: Path) -> dict:
    """One run in a fresh process; its own rusage (os.wait4): CPU seconds and peak RSS of that process."""
    args = ["--suite", "adm"] if run == "adm" else ["--metrics", run]
    command = [sys.executable, "-m", "ganeval", "eval", str(folder / "a.h5"), str(folder / "b.h5"), *args,
               "--json", "-q"]
    env = {**os.environ, "PYTHONPATH": str(code)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(command)} failed:\n{err.read().decode()[-2000:]}")
        report = json.loads(out.read())
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9,
            "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--runs", nargs="+", default=["fid,kid,prdc", "adm", "prdc", "kid", "fid"])
    parser.add_argument("--data", type=Path, default=Path("/tmp/ganeval_scale"))
    parser.add_argument("--code", type=Path, default=REPO, help="the ganeval checkout to run (PYTHONPATH)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rate, cpu_rate = gemm_flops_per_second(args.dim)
    print(f"fp32 GEMM: {rate / 1e9:.1f} GFLOP/s wall, {cpu_rate / 1e9:.1f} GFLOP per CPU-second "
          f"({torch.get_num_threads()} threads); code: {args.code}", flush=True)
    rows = []
    for n in sorted(args.counts):
        folder = make_data(args.data, n, args.dim, args.code)
        for run in args.runs:
            result = measure(run, folder, args.code)
            limit = product_flops(run, n, args.dim) / cpu_rate  # CPU seconds: robust on a shared machine
            row = {"n": n, "run": run, "cpu_s": round(result["cpu_s"], 1), "wall_s": round(result["wall_s"], 1),
                   "peak_rss_gb": round(result["peak_rss_gb"], 2), "gemm_limit_cpu_s": round(limit, 1),
                   "ratio": round(result["cpu_s"] / limit, 2) if limit else None}
            report = result["report"]
            row["values"] = {key: report[key] for key in ("fid", "kid", "prdc", "precision", "recall") if key in report}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| N per side | run | CPU s | wall s | peak RSS GB | fp32 GEMM limit, CPU s | CPU s / limit |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        name = "--suite adm" if row["run"] == "adm" else f"--metrics {row['run']}"
        print(f"| {row['n']:,} | {name} | {row['cpu_s']} | {row['wall_s']} | {row['peak_rss_gb']} | "
              f"{row['gemm_limit_cpu_s'] or '-'} | {row['ratio'] or '-'} |")
    counts = sorted(args.counts)
    if len(counts) > 1:
        for run in args.runs:
            small = next(r for r in rows if r["n"] == counts[0] and r["run"] == run)
            large = next(r for r in rows if r["n"] == counts[-1] and r["run"] == run)
            exponent = math.log(large["cpu_s"] / small["cpu_s"]) / math.log(counts[-1] / counts[0])
            print(f"growth {run}: CPU time ∝ N^{exponent:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"gemm_gflops_wall": rate / 1e9, "gemm_gflops_per_cpu_s": cpu_rate / 1e9,
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
