"""Benchmark: peak memory of ``ganeval stats`` does not grow with the number of images.

Run with ``python -m pytest benchmarks/test_bench_memory.py -s``. It writes two folders of
64x64 PNG photographs (2,000 and 20,000 by default; GANEVAL_BENCH_MEMORY_IMAGES="2000,20000")
and runs ``ganeval stats`` on each in a fresh process, reading that process's peak resident
memory (VmHWM) and the largest peak among its decoding workers. The target: the large run
peaks within 10% of the small one, because features are folded into float64 sums batch by
batch and never all held. Slow: every image goes through the real network (about 20 minutes
for 22,000 images on two CPU cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from ganeval.cli.demo import colour_photo_crops

COUNTS = tuple(int(n) for n in os.environ.get("GANEVAL_BENCH_MEMORY_IMAGES", "2000,20000").split(","))
MAX_GROWTH = 1.10

_CHILD = r"""
import json, resource, sys
import ganeval
stats = ganeval.compute_stats(sys.argv[1], batch_size=50)
stats.save(sys.argv[2])
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
workers_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"count": stats.count, "main_peak_mib": peak_kib / 1024, "worker_peak_mib": workers_kib / 1024}))
"""


def _write_folder(root, count):
    root.mkdir()
    done = 0
    while done < count:  # in chunks, so the benchmark itself never holds 20,000 images
        chunk = colour_photo_crops(min(1000, count - done), 64, seed=done)
        for image in chunk:
            Image.fromarray(image).save(root / f"{done:06d}.png")
            done += 1
    return root


def test_peak_memory_does_not_grow_with_image_count(tmp_path, capsys):
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/status")
    results = {}
    for count in COUNTS:
        folder = _write_folder(tmp_path / f"n{count}", count)
        out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(tmp_path / f"n{count}.h5")],
                             check=True, capture_output=True, text=True)
        results[count] = json.loads(out.stdout.strip().splitlines()[-1])
        assert results[count]["count"] == count
    with capsys.disabled():
        print()
        for count, r in results.items():
            print(f"  {count:6d} images: main process peak {r['main_peak_mib']:7.1f} MiB, "
                  f"largest child process peak {r['worker_peak_mib']:7.1f} MiB")
    small, large = (results[n] for n in (min(COUNTS), max(COUNTS)))
    assert large["main_peak_mib"] <= MAX_GROWTH * small["main_peak_mib"]
    assert large["worker_peak_mib"] <= MAX_GROWTH * small["worker_peak_mib"]
