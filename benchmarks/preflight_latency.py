"""How long `ganeval` takes to answer each user mistake of issue 22, item 1, measured.

    python benchmarks/preflight_latency.py [--runs 5]

Each mistake runs `python -m ganeval ...` in a fresh interpreter (what a user types), --runs
times; the median wall time is printed beside that of `python -c "import torch"`, which every
mistake used to wait for (plus the network's load for some). The files are made in a temporary
folder: folders of 0, 1 and 3 PNGs, a text file, and stats files of different modes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _stats_file(path: Path, mode: str) -> str:
    from ganeval.core.stats import save_stats
    from ganeval.core.stats import FeatureStats

    features = np.random.default_rng(0).standard_normal((5, 4))
    save_stats(FeatureStats.from_moments(5, features.mean(0), np.cov(features, rowvar=False),
                                         {"extractor": "inception-v3-tf-2015-12-05/pool3", "mode": mode,
                                          "precision": "fp32"}), path)
    return str(path)


def _median_seconds(command: list[str], runs: int, expect_failure: bool = True) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if expect_failure and done.returncode == 0:
            raise SystemExit(f"{' '.join(command)} succeeded; it should have failed")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, count in (("empty", 0), ("one", 1), ("three", 3)):
            (root / name).mkdir()
            for i in range(count):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / name / f"{i}.png")
        (root / "notes.txt").write_text("not an image\n")
        tf1, clean = _stats_file(root / "tf1.h5", "tf1"), _stats_file(root / "clean.h5", "clean")
        out = str(root / "out.h5")
        mistakes = {
            "wrong path": ["stats", str(root / "missing"), "-o", out],
            "empty folder": ["stats", str(root / "empty"), "-o", out],
            "one image": ["fid", str(root / "three"), str(root / "one")],
            "non-image file": ["kid", str(root / "three"), str(root / "notes.txt")],
            "-o in a missing folder": ["stats", str(root / "three"), "-o", str(root / "no" / "out.h5")],
            "-o unwritable (/proc)": ["stats", str(root / "three"), "-o", "/proc/out.h5"],
            "metric typo": ["eval", str(root / "three"), str(root / "three"), "--metrics", "fdi"],
            "bad option value": ["eval", str(root / "three"), str(root / "three"), "--features", "pool4"],
            "stats files of two modes": ["fid", tf1, clean],
            "stats file vs --mode": ["fid", tf1, str(root / "three"), "--mode", "clean"],
            "click usage error": ["fid", tf1, clean, "--mode", "tf2"],
        }
        print(f"median of {runs} fresh processes each, {sys.version.split()[0]}")
        print(f"{'import torch (reference)':<28} {_median_seconds([sys.executable, '-c', 'import torch'], runs, False):6.2f} s")
        print(f"{'ganeval --version':<28} {_median_seconds([sys.executable, '-m', 'ganeval', '--version'], runs, False):6.2f} s")
        for name, args in mistakes.items():
            print(f"{name:<28} {_median_seconds([sys.executable, '-m', 'ganeval', *args], runs):6.2f} s")


if __name__ == "__main__":
    main()
