"""Issue 10, property test: randomly corrupted copies of valid PNG, JPEG, zip, npz and h5 files.

Seeded and bounded (40 cases). Each must give either a correct result (an output that loads,
with every image accounted for) or exactly one clean error line naming the file; never a
traceback, never a partial output or a leftover temporary.
"""

from __future__ import annotations

import io
import math
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from _hardening import assert_one_error, png_bytes, run, write_pngs
from ganeval.core.stats import load_stats

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

CASES_PER_KIND = 8
KINDS = ("png", "jpeg", "zip", "npz", "h5")


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    """One of: flipped bytes, truncation, zeroed range, inserted junk, a duplicated chunk."""
    data = bytearray(data)
    how = rng.integers(5)
    if how == 0:
        for _ in range(rng.integers(1, 9)):
            data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
    elif how == 1:
        data = data[:rng.integers(len(data))]
    elif how == 2:
        start, length = rng.integers(len(data)), int(rng.integers(1, 64))
        data[start:start + length] = bytes(len(data[start:start + length]))
    elif how == 3:
        at = rng.integers(len(data))
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
    else:
        start = rng.integers(len(data))
        data[start:start] = data[start:start + int(rng.integers(1, 256))]
    return bytes(data)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    write_pngs(root / "good", 2, seed=3)
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for i in range(3):
            out.writestr(f"m{i}.png", png_bytes(10 + i))
    npz = io.BytesIO()
    np.savez_compressed(npz, images=np.random.default_rng(5).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8))
    code, _, err = _run_main(["stats", str(root / "good"), "-o", str(root / "good.h5"), "-q"])
    assert code == 0, err
    return root, {"png": png_bytes(6), "jpeg": jpeg.getvalue(), "zip": archive.getvalue(), "npz": npz.getvalue(),
                  "h5": (root / "good.h5").read_bytes()}


def _run_main(argv):
    import contextlib

    from ganeval.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as done:
            return done.code, out.getvalue(), err.getvalue()
    raise AssertionError("main returned without exiting")


def test_corrupted_files_give_a_result_or_one_clean_line(originals, tmp_path, capsys):
    root, data = originals
    rng = np.random.default_rng(20261201)
    started = time.perf_counter()
    outcomes = {"result": 0, "error": 0}
    for case in range(CASES_PER_KIND * len(KINDS)):
        kind = KINDS[case % len(KINDS)]
        work = tmp_path / f"case{case:02d}"
        work.mkdir()
        bad = corrupt(data[kind], rng)
        if kind in ("png", "jpeg"):
            source = work / "src"
            write_pngs(source, 2, seed=3)
            target = source / f"z.{kind}"
            target.write_bytes(bad)
            argv, expected_count = ["stats", source, "-o", work / "out.h5"], 3
        elif kind in ("zip", "npz"):
            target = source = work / f"z.{kind}"
            target.write_bytes(bad)
            argv, expected_count = ["stats", source, "-o", work / "out.h5"], 3
        else:
            target = work / "z.h5"
            target.write_bytes(bad)
            argv, expected_count = ["fid", target, root / "good.h5"], None
        code, out, err = run(argv, capsys)
        outputs = sorted(p.name for p in work.iterdir() if p.name not in ("src", target.name))
        context = f"case {case} ({kind}): {err}"
        assert "Traceback" not in err, context
        if code == 0:
            outcomes["result"] += 1
            if expected_count is None:
                assert math.isfinite(float(out)), context
            else:
                assert outputs == ["out.h5"], context
                assert load_stats(work / "out.h5").count == expected_count, context
        else:
            outcomes["error"] += 1
            line = assert_one_error(code, err)
            assert target.name in line, context  # covariance errors too name the file they came from
            assert outputs == [], context  # no partial output, no temporary, no checkpoint
    print(outcomes)
    assert outcomes["error"] > 0
    assert time.perf_counter() - started < 180
