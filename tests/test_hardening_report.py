"""Issue 23, class 3: `ganeval report -o DIR` obeys the output rules of every writing command.

Refused before any work when the folder is, contains or lies inside an input, when it holds
anything an earlier report did not write, or when one of the report's names is a symbolic link;
an unwritable folder is refused up front; the report is staged and put in place at the end, so a
failure leaves an earlier report as it was and no staging files.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _hardening import assert_one_error, digest_tree, run
import ganeval.api.evaluate as evaluation
from ganeval.report import make as report_make

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

N = 8


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_sets")
    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        (root / side).mkdir()
        for i in range(N):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / side / f"{side}{i}.png")
    return root


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the report starts its work (reading features) before refusing."""
    def started(*args, **kwargs):
        raise AssertionError("the report started its work before refusing the output")

    monkeypatch.setattr(evaluation, "load_side", started)


def _report(capsys, a, b, out, *extra):
    return run(["report", a, b, "-o", out, "--samples", "4", "--pairs", "2", "--workers", "0", *extra], capsys)


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for path in src.iterdir():
        (dst / path.name).write_bytes(path.read_bytes())


def test_output_holding_the_image_source_is_refused_and_the_photos_stay(sets, tmp_path, capsys, no_work):
    """The reported case: -o DIR with index.html and img/, img/ being A itself: img/ was deleted."""
    out = tmp_path / "out"
    _copy_tree(sets / "a", out / "img")
    (out / "index.html").write_text("<p>old</p>")
    before = digest_tree(tmp_path)
    code, _, err = _report(capsys, out / "img", sets / "b", out)
    assert_one_error(code, err, out, "contains the input")
    assert digest_tree(tmp_path) == before


@pytest.mark.parametrize("where", ["is", "inside"])
def test_output_that_is_or_lies_inside_an_input_is_refused(sets, tmp_path, capsys, no_work, where):
    a = tmp_path / "a"
    _copy_tree(sets / "a", a)
    out = a if where == "is" else a / "report"
    before = digest_tree(tmp_path)
    code, _, err = _report(capsys, a, sets / "b", out)
    assert_one_error(code, err, out, "input")
    assert digest_tree(tmp_path) == before


def test_output_link_to_an_input_folder_is_refused(sets, tmp_path, capsys, no_work):
    a = tmp_path / "a"
    _copy_tree(sets / "a", a)
    (tmp_path / "out").symlink_to(a)
    before = digest_tree(a)
    code, _, err = _report(capsys, a, sets / "b", tmp_path / "out")
    assert_one_error(code, err, "out", "input")
    assert digest_tree(a) == before


@pytest.mark.parametrize("name", ["index.html", "report.json", "img"])
def test_a_report_name_that_is_a_symlink_is_refused_and_its_target_kept(sets, tmp_path, capsys, no_work, name):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("<p>old</p>")
    target = tmp_path / "precious"
    if name == "img":
        _copy_tree(sets / "a", target)
    else:
        target.write_text("the user's own file")
    (out / name).unlink(missing_ok=True)
    (out / name).symlink_to(target)
    before = digest_tree(tmp_path, target)
    code, _, err = _report(capsys, sets / "a", sets / "b", out)
    assert_one_error(code, err, name, "symbolic link")
    assert digest_tree(tmp_path, target) == before


@pytest.mark.parametrize("foreign", ["notes.txt", "img/holiday.jpg", "img/sub/", "index.html/"])
def test_files_no_report_wrote_are_never_touched(sets, tmp_path, capsys, no_work, foreign):
    out = tmp_path / "out"
    (out / "img").mkdir(parents=True)
    if foreign != "index.html/":
        (out / "index.html").write_text("<p>old</p>")
    (out / "img" / "a_000001.png").write_bytes(b"old thumbnail")
    if foreign.endswith("/"):
        (out / foreign).mkdir()
    else:
        (out / foreign).write_text("mine")
    before = digest_tree(tmp_path)
    code, _, err = _report(capsys, sets / "a", sets / "b", out)
    assert_one_error(code, err, out)
    assert digest_tree(tmp_path) == before


def test_rerun_replaces_only_its_own_files_and_cleans_a_killed_runs_staging(sets, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _report(capsys, sets / "a", sets / "b", out)
    assert code == 0, err
    first = sorted(p.name for p in (out / "img").iterdir())
    assert first and all(name.endswith(".png") for name in first)
    # An extra old thumbnail, and the staging folders of a run killed by SIGKILL (a pid that is not running).
    (out / "img" / "b_999999.png").write_bytes(b"old")
    dead = _dead_pid()
    (out / f".img.{dead}-abcdefgh.tmp").mkdir()
    (out / f".img.{dead}-abcdefgh.tmp" / "a_000000.png").write_bytes(b"half")
    (tmp_path / f".out.{dead}-abcdefgh.tmp").mkdir()
    code, _, err = _report(capsys, sets / "a", sets / "b", out)
    assert code == 0, err
    assert sorted(p.name for p in (out / "img").iterdir()) == first  # the old extra thumbnail is gone
    assert sorted(p.name for p in out.iterdir()) == ["img", "index.html", "report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_during_the_work_keeps_the_earlier_report_and_leaves_no_staging(sets, tmp_path, capsys,
                                                                                monkeypatch):
    out = tmp_path / "out"
    code, _, err = _report(capsys, sets / "a", sets / "b", out)
    assert code == 0, err
    before = digest_tree(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_make, "read_images_at", interrupted)
    code, _, err = _report(capsys, sets / "a", sets / "b", out)
    assert code == 130 and "interrupted" in err
    assert digest_tree(tmp_path) == before
    code, _, err = _report(capsys, sets / "a", sets / "b", tmp_path / "new")
    assert code == 130 and not (tmp_path / "new").exists() and digest_tree(tmp_path) == before


@pytest.mark.slow
def test_read_only_folder_is_refused_before_the_work(sets, tmp_path, capsys, no_work):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    point = tmp_path / "mnt"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)], check=True)
    try:
        (point / "old").mkdir()
        (point / "old" / "index.html").write_text("<p>old</p>")
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        for out in (point / "old", point / "new"):
            code, _, err = _report(capsys, sets / "a", sets / "b", out)
            assert_one_error(code, err, out, "cannot write")
    finally:
        subprocess.run(["umount", str(point)], check=False)


def _dead_pid() -> int:
    """A pid that is not running now (a finished child's)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
