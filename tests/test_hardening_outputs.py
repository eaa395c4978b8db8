"""Issue 10, class 1 and 4: outputs that are inputs, non-regular outputs, duplicates, locks, leftovers.

Every refusal happens before any work: one `ganeval: error:` line naming the file, a non-zero
exit, nothing new in the folder and every input byte-identical.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from _hardening import REPO, assert_one_error, digest_tree, run, run_subprocess, write_pngs

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder of 4 PNGs, its stats file (computed once), the same as pytorch-fid .npz, and a .npy of images."""
    root = tmp_path_factory.mktemp("outputs")
    write_pngs(root / "imgs", 4)
    write_pngs(root / "other", 3, seed=1)
    np.save(root / "x.npy", np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    with pytest.MonkeyPatch.context():
        from ganeval.cli.commands import main

        for argv in (["stats", str(root / "imgs"), "-o", str(root / "real.h5"), "-q", "--mode", "nvidia"],
                     ["export-stats", str(root / "real.h5"), "-o", str(root / "real.npz")]):
            with pytest.raises(SystemExit) as done:
                main(argv)
            assert done.value.code == 0
    return root


def refused(argv, capsys, root, *names):
    """Run, check the one-line refusal and that nothing in ``root`` changed."""
    before = digest_tree(root)
    code, out, err = run(argv, capsys)
    line = assert_one_error(code, err, *names)
    assert digest_tree(root) == before, "an input changed or an output appeared"
    return line


def test_stats_output_is_the_input_array(work, capsys):
    refused(["stats", work / "x.npy", "-o", work / "x.npy"], capsys, work, "x.npy", "same file")


def test_output_reaching_the_input_through_a_link_is_refused(work, capsys, tmp_path):
    (tmp_path / "link.h5").symlink_to(work / "x.npy")
    os.link(work / "x.npy", tmp_path / "hard.h5")
    for alias in ("link.h5", "hard.h5"):
        refused(["stats", work / "x.npy", "-o", tmp_path / alias], capsys, work, alias, "same file")


def test_import_stats_onto_its_input(work, capsys):
    refused(["import-stats", work / "real.npz", "-o", work / "real.npz", "--mode", "tf1",
             "--network", "tf-inception", "--count", "4"], capsys, work, "real.npz", "same file")


def test_fid_save_stats_naming_either_input(work, capsys):
    refused(["fid", work / "real.h5", work / "other", "--save-stats", work / "real.h5"], capsys, work,
            "real.h5", "same file")
    refused(["fid", work / "other", work / "x.npy", "--save-stats", work / "s.h5", "--save-stats", work / "x.npy"],
            capsys, work, "x.npy", "same file")


def test_fid_save_stats_twice_the_same_file(work, capsys):
    refused(["fid", work / "other", work / "x.npy", "--save-stats", work / "s.h5", "--save-stats", work / "s.h5"],
            capsys, work, "s.h5", "twice")


def test_merge_onto_a_shard(work, capsys):
    refused(["merge", work / "real.h5", work / "real.h5", "-o", work / "real.h5"], capsys, work, "real.h5", "same file")


def test_export_stats_onto_its_input_and_into_a_folder(work, capsys, tmp_path):
    refused(["export-stats", work / "real.h5", "-o", work / "real.h5"], capsys, work, "real.h5")
    (tmp_path / "d.npz").mkdir()
    refused(["export-stats", work / "real.h5", "-o", tmp_path / "d.npz"], capsys, work, "d.npz", "is a folder")
    assert (tmp_path / "d.npz").is_dir()


def test_export_cleanfid_refuses_a_folder_where_its_file_goes(work, capsys, tmp_path):
    (tmp_path / "n_legacy_tensorflow_custom_na.npz").mkdir()
    refused(["export-stats", work / "real.h5", "-o", tmp_path, "--format", "clean-fid", "--name", "n"],
            capsys, work, "n_legacy_tensorflow_custom_na.npz", "is a folder")


def test_weights_export_onto_the_weights_file(capsys, tmp_path):
    from ganeval.extractors.weights import resolve_weights

    source = resolve_weights().path
    size, mtime = source.stat().st_size, source.stat().st_mtime_ns
    code, _, err = run(["weights", "export", source], capsys)
    assert_one_error(code, err, source.name, "same file")
    assert (source.stat().st_size, source.stat().st_mtime_ns) == (size, mtime)


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_non_regular_outputs_are_refused(work, capsys, tmp_path, kind):
    if kind == "device":
        target = "/dev/null"
    elif kind == "fifo":
        target = tmp_path / "pipe.h5"
        os.mkfifo(target)
    else:
        target = tmp_path / "dir.h5"
        target.mkdir()
    expected = {"device": "character device", "fifo": "FIFO", "folder": "is a"}[kind]  # click says "directory"
    refused(["stats", work / "x.npy", "-o", target], capsys, work, str(target), expected)
    if kind == "device":
        assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    refused(["import-stats", work / "real.npz", "-o", target, "--mode", "tf1", "--network", "tf-inception",
             "--count", "4"], capsys, work, str(target), expected)


def test_missing_output_folder(work, capsys, tmp_path):
    refused(["stats", work / "x.npy", "-o", tmp_path / "nope" / "s.h5"], capsys, work, "nope", "does not exist")


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_unwritable_output_folder_is_found_before_the_work(work, tmp_path):
    """RLIMIT_FSIZE=0: not one byte can be written, as on a full disk; the probe says so at once."""
    started = time.perf_counter()
    done = run_subprocess(["stats", work / "imgs", "-o", tmp_path / "s.h5"], preexec_fn=_limit_file_size(0))
    assert_one_error(done.returncode, done.stderr, "s.h5", "cannot write in folder")
    assert list(tmp_path.iterdir()) == []
    assert time.perf_counter() - started < 60


def test_late_write_failure_is_one_line_and_leaves_nothing(work, tmp_path):
    """The probe passes (a few bytes) but the 33 MB result cannot be written: the work is lost, said once."""
    done = run_subprocess(["stats", work / "x.npy", "-o", tmp_path / "s.h5", "--checkpoint-every", "0"],
                          preexec_fn=_limit_file_size(1 << 20))
    line = assert_one_error(done.returncode, done.stderr, "s.h5", "statistics were not saved")
    assert "File too large" in line
    assert list(tmp_path.iterdir()) == []


def test_a_live_owner_of_the_output_is_named(work, capsys, tmp_path):
    output = tmp_path / "s.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ganeval.io.outputs import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(120)\n", str(output)],
        env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run(["stats", work / "x.npy", "-o", output], capsys)
        assert_one_error(code, err, "s.h5", f"pid {holder.pid}", "writing this output right now")
        assert not output.exists() and not (tmp_path / "s.h5.partial").exists()
    finally:
        holder.kill()
        holder.wait()
    # The owner is gone (killed: its OS lock went with it), so the output is free again.
    code, _, err = run(["import-stats", work / "real.npz", "-o", output, "--mode", "tf1",
                        "--network", "tf-inception", "--count", "4"], capsys)
    assert code == 0, err
    assert not (tmp_path / ".s.h5.lock").exists()


def test_stale_temporaries_of_ours_are_cleaned_and_nothing_else(work, capsys, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    ours = [tmp_path / f".s.h5.{dead.pid}-abcd_123.tmp", tmp_path / f".s.h5.partial.{dead.pid}-zz9zz9zz.tmp",
            tmp_path / f".s.h5.partial-rank1of2.{dead.pid}-a1b2c3d4.tmp"]
    old = tmp_path / ".s.h5.q1w2e3r4.tmp"  # pid-less naming of older versions, two hours old
    users = [tmp_path / ".s.h5.mine.tmp", tmp_path / f".s.h5.{os.getpid()}-abcdefgh.tmp",
             tmp_path / f".t.h5.{dead.pid}-abcdefgh.tmp", tmp_path / f"s.h5.{dead.pid}-abcdefgh.tmp",
             tmp_path / ".s.h5.recent00.tmp"]
    for path in [*ours, old, *users]:
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    code, _, err = run(["import-stats", work / "real.npz", "-o", tmp_path / "s.h5", "--mode", "tf1",
                        "--network", "tf-inception", "--count", "4"], capsys)
    assert code == 0 and "Traceback" not in err
    notes = [line for line in err.splitlines() if line.startswith("removed ")]
    assert len(notes) == 1 and "4 stale temporary" in notes[0], err
    assert not any(p.exists() for p in [*ours, old])
    assert all(p.read_bytes() == b"x" for p in users)
    with h5py.File(tmp_path / "s.h5", "r") as h5:
        assert int(h5["pool3/count"][()]) == 4


def test_late_failure_keeps_a_complete_checkpoint_that_resume_finishes(tmp_path):
    """A folder appears where the output goes while the run computes: the write fails after the work,
    the line says so and points at --resume, which then finishes without reading an image."""
    source = tmp_path / "src"
    write_pngs(source, 24, size=16)
    output = tmp_path / "s.h5"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run_ = subprocess.Popen([sys.executable, "-m", "ganeval", "stats", str(source), "-o", str(output),
                             "--batch-size", "2", "--checkpoint-every", "4", "--device", "cpu"],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (tmp_path / "s.h5.partial").exists() and run_.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    output.mkdir()  # the computing run cannot know: its probe passed long ago
    _, err = run_.communicate(timeout=240)
    line = assert_one_error(run_.returncode, err, "s.h5", "statistics were not saved", "s.h5.partial",
                            "--resume to finish without recomputing")
    assert "not a regular file" in line
    output.rmdir()
    for image in source.iterdir():  # --resume must not read them again: every batch is in the checkpoint
        image.write_bytes(b"no longer an image")
    done = run_subprocess(["stats", source, "-o", output, "--batch-size", "2", "--checkpoint-every", "4",
                           "--device", "cpu", "--resume"])
    assert done.returncode == 0, done.stderr
    assert b"24 images done" in done.stderr
    with h5py.File(output, "r") as h5:
        assert int(h5["pool3/count"][()]) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5", "src"]


def test_a_user_file_named_like_our_lock_is_left_alone(work, capsys, tmp_path):
    (tmp_path / ".s.h5.lock").write_text("my notes\n")
    refused(["import-stats", work / "real.npz", "-o", tmp_path / "s.h5", "--mode", "tf1", "--network",
             "tf-inception", "--count", "4"], capsys, tmp_path, ".s.h5.lock", "not a ganeval lock file")
    assert (tmp_path / ".s.h5.lock").read_text() == "my notes\n"
