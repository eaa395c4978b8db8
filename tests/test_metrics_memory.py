"""Issue 20: PRDC, the ADM suite's precision/recall, KID and CMMD never hold an N x N matrix nor a
float64 copy of a feature set: their measured peak memory is bounded by one working copy of the
features plus a stated constant.

Each metric runs in a fresh Python process on float32 features of moderate size. The process
creates its inputs, runs the metric once on a small input (so that thread pools and allocator
arenas exist), reads its peak RSS (ru_maxrss), runs the metric, and reads the peak RSS again; the
growth is what the metric itself needed at its peak. Bounds (stated in the metrics' docstrings):
PRDC/ADM: one float32 working copy of one set (GEMM operand) + 64 MiB; KID/CMMD: 64 MiB (blocks
and subsets only). An N x N float32 matrix at these sizes would be 244 MiB (PRDC/ADM), a float64
copy of the features 125 MiB (KID) and the full float64 kernel matrix 488 MiB (CMMD).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20

SCRIPT = r"""
import json, resource, sys
import numpy as np
import torch

torch.set_num_threads(1)
metric, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
a = np.maximum(rng.normal(0.3, 0.3, size=(n, d)), 0).astype(np.float32)
b = np.maximum(rng.normal(0.32, 0.3, size=(n, d)), 0).astype(np.float32)
if metric == "prdc":
    from ganeval.metrics.prdc import prdc
    run = lambda x, y: prdc(x, y, block_rows=256)
elif metric == "adm":
    from ganeval.metrics.adm import adm_precision_recall
    run = lambda x, y: adm_precision_recall(x, y, block_elements=1 << 21)
elif metric == "kid":
    from ganeval.metrics.kid import kid
    run = lambda x, y: kid(x, y, num_subsets=2, subset_size=1000)
else:
    from ganeval.metrics.cmmd import cmmd
    run = lambda x, y: cmmd(x, y, block_size=512)
run(a[:1200], b[:1100])  # warm-up: thread pools, allocator arenas, lazy imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
run(a, b)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": after - before, "feature_bytes": a.nbytes + b.nbytes}))
"""

# (metric, N per side, d, allowed growth beyond the bound's working copy)
CASES = [("prdc", 8000, 128), ("adm", 8000, 128), ("kid", 8000, 2048), ("cmmd", 8000, 128)]


@pytest.mark.parametrize("metric,n,d", CASES)
def test_peak_memory_is_bounded(metric, n, d):
    # A fixed mmap threshold: glibc otherwise raises it after the first large free, after which freed
    # blocks may stay in the heap and the RSS high-water mark measures fragmentation, not live memory.
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MALLOC_MMAP_THRESHOLD_": "65536"}
    run = subprocess.run([sys.executable, "-c", SCRIPT, metric, str(n), str(d)], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    working_copy = measured["feature_bytes"] // 2 * (d + 16) // d if metric in ("prdc", "adm") else 0
    bound = working_copy + 64 * MIB
    assert measured["growth"] <= bound, (metric, measured["growth"] / MIB, bound / MIB)
    full_matrix = n * n * (4 if metric in ("prdc", "adm") else 8)
    assert bound < full_matrix / 2  # the test can tell a bounded metric from one holding N x N
