"""One metric call in a fresh process on synthetic features: the shared runner of
benchmarks/issue19_metrics_cost.py and benchmarks/metrics_peers.py.

The child makes N real + N generated synthetic pool3-like float32 features (synthetic_features.py;
``a`` and ``b``), runs ``code`` (which sets ``value``: a float or a list of floats) and reports the
CPU seconds of that code (all threads), its wall seconds, the process's peak RSS and its growth
during the code (what the call itself held at its peak beyond the features and the interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
import torch
from synthetic_features import synthetic_pool3

n, dim = int(sys.argv[2]), int(sys.argv[3])
a = synthetic_pool3(n, dim=dim, seed=1)
b = synthetic_pool3(n, dim=dim, seed=2, shift=0.02, tail=1.3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start, cpu = time.perf_counter(), time.process_time()
scope = {"a": a, "b": b, "torch": torch}
exec(sys.argv[1], scope)
cpu, wall = time.process_time() - cpu, time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
value = scope["value"]
print(json.dumps({"cpu_s": cpu, "wall_s": wall, "peak_rss_gb": peak / 1e9, "growth_gb": (peak - before) / 1e9,
                  "feature_gb": (a.nbytes + b.nbytes) / 1e9,
                  "value": [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)}))
"""


def run_in_child(code: str, n: int, dim: int) -> dict:
    """Run ``code`` in a fresh process on N + N features of dimension ``dim``; its measurements, or
    {"error": last line of stderr} when it failed."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", CHILD, code, str(n), str(dim), str(HERE)], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1][:200] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])
