"""Real full and read-only filesystems (tmpfs mounts): a write that fails after the work is one
line saying the statistics were not saved, and an unwritable output is refused before the work.

Mounting needs root, which this project's machines and CI are (the tests say so when not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def mounted(tmp_path):
    """mounted(options) → a fresh tmpfs mounted with ``options`` (e.g. "size=64k"), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounts = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", str(point)], check=False)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _ganeval(*args):
    return subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_full_disk_after_the_work_is_one_line_and_leaves_nothing(mounted, images):
    full = mounted("size=64k")  # the probe file fits; 33 MB of statistics do not
    run = _ganeval("stats", str(images), "-o", str(full / "real.h5"), "--features", "pool3",
                   "--checkpoint-every", "0", "-q")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganeval: error:") and "real.h5" in lines[0], run.stderr
    assert "not saved" in lines[0]
    assert sorted(p.name for p in full.iterdir()) == []  # no partial file, no temporary, no lock


def test_read_only_filesystem_is_refused_before_the_work(mounted, images, tmp_path):
    read_only = mounted("size=64k,ro")
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")  # reading it would fail: it must not be read
    run = _ganeval("stats", str(images), "-o", str(read_only / "real.h5"), "-q")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "real.h5" in lines[0] and "broken.png" not in lines[0], run.stderr
    assert list(read_only.iterdir()) == []
