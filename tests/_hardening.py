"""Helpers of the hardening tests (issue 10): run the CLI, build inputs, check the one-line rule."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganeval.cli.commands import main

REPO = Path(__file__).resolve().parents[1]  # this checkout, wherever CI cloned it


def run(argv, capsys):
    """The CLI in this process (the network stays loaded between calls): (exit code, stdout, stderr)."""
    argv = [os.fspath(a) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def run_subprocess(argv, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """``python -m ganeval ARGV`` with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.update(kwargs.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "ganeval", *map(os.fsencode, argv)], capture_output=True,
                          timeout=timeout, env=env, **kwargs)


def assert_one_error(code, err, *names, exit_code=None):
    """Non-zero exit, no traceback, and exactly one stderr line, a `ganeval: error:` naming ``names``."""
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    assert code != 0 if exit_code is None else code == exit_code, (code, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganeval: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def write_pngs(folder: Path, count: int, seed: int = 0, size: int = 32, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def png_bytes(seed: int = 0, size: int = 32) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def digest_tree(*roots: Path) -> dict:
    """sha256 of every file under (or at) ``roots``, and the names of everything there: to show nothing changed."""
    state = {}
    for root in roots:
        paths = [root] if not root.is_dir() else sorted(root.rglob("*"))
        for path in paths:
            if path.is_symlink() or not path.is_file():
                state[str(path)] = "entry"
            else:
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state
