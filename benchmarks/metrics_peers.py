"""The metric math of ganeval and of its peers on the same features: CPU seconds, peak RSS, agreement.

    nice -n 10 python benchmarks/metrics_peers.py [--sizes 10000,50000] [--dim 2048] [--json out.json]

Each (implementation, N) runs in a fresh process on N real + N generated synthetic pool3-like float32
features (benchmarks/synthetic_features.py), from features to the number, the network out of the
picture. Reported: CPU seconds of the call (all threads), wall seconds, the process's peak RSS and its
growth during the call, the value, and its relative difference to ganeval's.

* PRDC at k = 5 (the `prdc` package has one k): ganeval ``prdc(k_pr=5, k_dc=5)`` vs ``prdc.compute_prdc``
  (sklearn distances, three N × N matrices: run only where 3 · N² · 4 bytes fit in memory: 10k).
* KID, 100 subsets of 1000: ganeval (float64) vs torch-fidelity's ``kid_features_to_metric`` (float32
  numpy) and torchmetrics' ``KernelInceptionDistance`` (an identity feature module; float32 torch).
  Their random subsets differ (each its own generator), so values agree to the subsets' spread only.
* FID from features: ganeval (blockwise float64 moments + its Fréchet distance) vs torchmetrics'
  ``FrechetInceptionDistance`` (identity module, float64 sums, eigenvalue square root) and
  torch-fidelity's ``fid_features_to_statistics`` + ``fid_statistics_to_metric`` (numpy cov, scipy sqrtm).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from feature_runs import run_in_child

CALLS = {
    ("prdc", "ganeval"): """
from ganeval.metrics.prdc import prdc
r = prdc(a, b, k_pr=5, k_dc=5)
value = [r.precision, r.recall, r.density, r.coverage]""",
    ("prdc", "prdc 0.2"): """
from prdc import compute_prdc
r = compute_prdc(real_features=a, fake_features=b, nearest_k=5)
value = [r["precision"], r["recall"], r["density"], r["coverage"]]""",
    ("kid", "ganeval"): """
from ganeval.metrics.kid import kid
value = [kid(a, b).mean]""",
    ("kid", "torch-fidelity 0.4"): """
from torch_fidelity.metric_kid import kid_features_to_metric
r = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), verbose=False)  # defaults: 100 x 1000, cubic
value = [r["kernel_inception_distance_mean"]]""",
    ("kid", "torchmetrics 1.9"): """
from torchmetrics.image.kid import KernelInceptionDistance
m = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=100, subset_size=1000)
m.update(torch.from_numpy(a), real=True); m.update(torch.from_numpy(b), real=False)
value = [float(m.compute()[0])]""",
    ("fid", "ganeval"): """
from ganeval.metrics.arrays import moments
from ganeval.metrics.frechet import frechet_distance
value = [frechet_distance(*moments(torch.from_numpy(a)), *moments(torch.from_numpy(b)))]""",
    ("fid", "torchmetrics 1.9"): """
from torchmetrics.image.fid import FrechetInceptionDistance
class Identity(torch.nn.Module):
    num_features = a.shape[1]
    def forward(self, x):
        return x
m = FrechetInceptionDistance(feature=Identity())
m.update(torch.from_numpy(a), real=True); m.update(torch.from_numpy(b), real=False)
value = [float(m.compute())]""",
    ("fid", "torch-fidelity 0.4"): """
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
value = [fid_statistics_to_metric(fid_features_to_statistics(torch.from_numpy(a)),
                                  fid_features_to_statistics(torch.from_numpy(b)), False)["frechet_inception_distance"]]""",
}

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--metrics", default="prdc,kid,fid")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for n in sorted(int(s) for s in args.sizes.split(",")):
        for metric in args.metrics.split(","):
            ours = None
            for (name, who), code in CALLS.items():
                if name != metric:
                    continue
                if metric == "prdc" and who != "ganeval" and 3 * n * n * 4 > 12e9:
                    rows.append({"metric": metric, "who": who, "n": n, "error": "three N x N matrices do not fit"})
                    print(json.dumps(rows[-1]), flush=True)
                    continue
                row = {"metric": metric, "who": who, "n": n, **run_in_child(code, n, args.dim)}
                if who == "ganeval":
                    ours = row
                elif ours is not None and "value" in row and "value" in ours:
                    row["max_rel_diff"] = max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(row["value"], ours["value"]))
                    row["cpu_ratio_to_ganeval"] = row["cpu_s"] / ours["cpu_s"]
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| metric | N per side | implementation | CPU s | wall s | peak RSS GB (growth) | value | rel. diff to ganeval |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['metric']} | {r['n']:,} | {r['who']} | – | – | – | {r['error']} | – |")
            continue
        value = ", ".join(f"{v:.6g}" for v in r["value"])
        diff = f"{r['max_rel_diff']:.1e}" if "max_rel_diff" in r else "–"
        print(f"| {r['metric']} | {r['n']:,} | {r['who']} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | "
              f"{r['peak_rss_gb']:.2f} (+{r['growth_gb']:.2f}) | {value} | {diff} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
