"""Issue 20: PRDC, the ADM suite's precision/recall, KID, CMMD and the metrics added since (MiFID,
AuthPct, C_T, TopP&R, Vendi) never hold an N x N matrix: their measured peak memory is bounded by one
working copy of the features plus a stated constant (``bound_of``).

Each metric runs in a fresh Python process on float32 features of moderate size. The process
creates its inputs, runs the metric once on a small input (so that thread pools and allocator
arenas exist), reads its peak RSS (ru_maxrss), runs the metric, and reads the peak RSS again; the
growth is what the metric itself needed at its peak. Bounds (stated in the metrics' docstrings):
PRDC/ADM: one float32 working copy of one set (GEMM operand) + 64 MiB; KID/CMMD: 64 MiB (blocks
and subsets only). An N x N float32 matrix at these sizes would be 244 MiB (PRDC/ADM), a float64
copy of the features 125 MiB (KID) and the full float64 kernel matrix 488 MiB (CMMD); the others'
N x N float64 matrices 275 MiB to 1.9 GiB.
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
elif metric == "cmmd":
    from ganeval.metrics.cmmd import cmmd
    run = lambda x, y: cmmd(x, y, block_size=512)
elif metric == "mifid":
    from ganeval.metrics.mifid import mifid
    run = mifid
elif metric == "authpct":
    from ganeval.metrics.memorisation import authenticity
    run = authenticity
elif metric == "ct":
    from ganeval.metrics.memorisation import data_copying_ct
    run = lambda x, y: data_copying_ct(x[: len(x) // 2], x[len(x) // 2:], y)
elif metric == "toppr":
    from ganeval.metrics.topp_r import top_pr
    run = lambda x, y: top_pr(x, y, block_rows=256)  # 256-row blocks: a small N tells them from N x N
else:
    from ganeval.metrics.vendi import vendi_score
    run = lambda x, y: vendi_score(y)
run(a[:1200], b[:1100])  # warm-up: thread pools, allocator arenas, lazy imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
run(a, b)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": after - before, "feature_bytes": a.nbytes + b.nbytes}))
"""

# (metric, N per side, d)
CASES = [("prdc", 8000, 128), ("adm", 8000, 128), ("kid", 8000, 2048), ("cmmd", 8000, 128),
         ("mifid", 16000, 32), ("authpct", 16000, 32), ("ct", 16000, 128), ("toppr", 6000, 8), ("vendi", 16000, 32)]


def bound_of(metric: str, n: int, d: int, feature_bytes: int) -> tuple[int, int]:
    """(the stated bound on the peak's growth, the bytes of the N x N matrix it must stay far below)."""
    one_side = feature_bytes // 2
    if metric in ("prdc", "adm"):  # one float32 GEMM operand [N, d + pad], 64 MB screens
        return one_side * (d + 16) // d + 64 * MIB, n * n * 4
    if metric == "authpct":  # the same screen (ganeval.metrics.neighbours), twice
        return one_side * (d + 16) // d + 128 * MIB, n * n * 8
    if metric in ("mifid", "vendi"):  # one float64 copy of one side (unit rows); 128 MB cosine blocks
        return 2 * one_side + (256 if metric == "mifid" else 64) * MIB, n * n * 8
    if metric == "toppr":  # 32-d projections; [256, N] float64 distance/kernel blocks (three alive at most)
        return 3 * 256 * n * 8 + 64 * MIB, n * n * 8
    if metric == "ct":  # 64-d projections; per cell one neighbour screen (64 MB float32 and its mask)
        return 192 * MIB, n * n * 8
    return 64 * MIB, n * n * 8  # kid, cmmd: blocks and subsets only


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
    bound, full_matrix = bound_of(metric, n, d, measured["feature_bytes"])
    assert measured["growth"] <= bound, (metric, measured["growth"] / MIB, bound / MIB)
    assert bound < full_matrix / 2  # the test can tell a bounded metric from one holding N x N
