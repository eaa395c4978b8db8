"""The wheel ships the MIT LICENSE (pyproject says MIT): built for real by pip from a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_license_file_is_mit_of_the_ganeval_developers():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 ganeval developers\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


@pytest.mark.slow  # a real setuptools build: ~15 s on the shared 2-core machine
def test_wheel_contains_the_license(tmp_path):
    tree = tmp_path / "tree"  # a copy, so that the build leaves no build/ or *.egg-info in the checkout
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    for package in ("ganeval", "ganeval_train"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("ganeval-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        licenses = [name for name in archive.namelist() if name.endswith("/LICENSE") and ".dist-info/" in name]
        assert len(licenses) == 1, archive.namelist()
        assert archive.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-File: LICENSE" in metadata
