"""Peak memory (VmHWM) and wall time of `ganeval` refusing the bombs of tests/test_hardening_bombs.py.

    nice -n 10 python benchmarks/hardening_bombs.py

Prints one line per case: exit code, seconds, MiB. Each case is a fresh process (most of its time
is importing torch). Numbers quoted in docs/bad-input.md come from this script.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import ganeval  # noqa: E402
import test_hardening_bombs as bombs  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        np.save(tmp / "x.npy", np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
        ganeval.compute_stats(str(tmp / "x.npy"), device="cpu", save_features=True, progress=False).save(tmp / "s.h5")
        cases = []
        for name in ("memo bomb", "bytearray bomb", "deep lists"):
            (tmp / f"{name}.pkl").write_bytes(bombs.BOMBS[name][0]())
            cases.append((name, ["export-stats", tmp / f"{name}.pkl", "-o", tmp / "out.npz"]))
        cases.append(("plain eval --metrics fid", ["eval", tmp / "s.h5", tmp / "s.h5", "--metrics", "fid"]))
        shutil.copy(tmp / "s.h5", tmp / "declared.h5")
        bombs._declare_features(tmp / "declared.h5", 200_000, write=False)
        cases.append(("200k x 2048 features declared, never written",
                      ["eval", tmp / "declared.h5", tmp / "declared.h5", "--metrics", "fid"]))
        shutil.copy(tmp / "s.h5", tmp / "big.h5")
        bombs._declare_features(tmp / "big.h5", 100_000, write=True)
        cases.append(("100k x 2048 features written, eval --metrics fid",
                      ["eval", tmp / "big.h5", tmp / "big.h5", "--metrics", "fid"]))
        for name, argv in cases:
            code, _, seconds, peak_kib = bombs.ganeval_bounded(tmp, *argv)
            print(f"{name:50s} exit {code}  {seconds:5.1f} s  {peak_kib / 1024:6.0f} MiB")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
