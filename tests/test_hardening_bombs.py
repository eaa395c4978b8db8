"""Issue 23, class 5: tiny files that would hang ganeval or make it allocate gigabytes.

Each bomb runs in a real subprocess that reports its own peak memory (VmHWM), under a
wall-clock timeout: the test asserts the one-line refusal, the time bound (the timeout) and the
memory bound. Measured on the shared 2-core development machine: each refusal takes 2.4-6 s in a fresh
process, nearly all of it importing torch, at 526 MiB peak resident memory whatever the bomb
declares (a plain `ganeval eval s.h5 s.h5 --metrics fid` peaks at 990 MiB; the 60-byte bytearray
bomb once allocated 3.5 GiB, the memo bomb walked 2^40 nodes, now at most 100,000 in 0.1-0.5 s)."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import ganeval
from _hardening import REPO, assert_one_error
from ganeval.core.errors import GanevalError
from ganeval.io.reference_files import read_edm2_pickle

TIME_BOUND_S = 120  # a hang is what is caught; a refusal takes seconds (module docstring)
MEMORY_BOUND_KIB = 1536 * 1024  # 1.5 GiB: above the ~0.5 GiB a refusal costs, far below what each bomb asks for

# The peak resident memory of this program only: VmHWM belongs to the address space exec made. (ru_maxrss
# would also count the pages the child shared with a big pytest parent between fork and exec.)
CHILD = """
import os, re, sys
from ganeval.cli.commands import main
try:
    main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    with open(os.environ["GANEVAL_TEST_RSS"], "w") as out:
        out.write(peak)
"""


def ganeval_bounded(tmp_path, *argv):
    """``ganeval ARGV`` in a subprocess: (exit code, stderr, seconds, peak RSS in KiB)."""
    rss = tmp_path / "rss.txt"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", GANEVAL_TEST_RSS=str(rss))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], capture_output=True, text=True,
                          timeout=TIME_BOUND_S, env=env)
    return done.returncode, done.stderr, time.perf_counter() - start, int(rss.read_text())


MOMENTS = {"mu": np.zeros(2), "sigma": np.eye(2)}


def _memo_bomb():
    shared = []
    for _ in range(40):  # 2^40 paths through 40 lists
        shared = [shared, shared]
    return pickle.dumps({"num_images": 10, "fid": MOMENTS, "junk": shared}, protocol=4)


def _self_reference():
    loop = []
    loop.append(loop)
    return pickle.dumps({"num_images": 10, "fid": MOMENTS, "junk": loop}, protocol=4)


def _with_junk(junk_opcodes: bytes) -> bytes:
    """A protocol-2 pickle of {"junk": <the value the opcodes push>}."""
    return b"\x80\x02}X\x04\x00\x00\x00junk" + junk_opcodes + b"s."


N_DEEP = 100_000
BOMBS = {
    # (pickle bytes, words of the refusal)
    "memo bomb": (_memo_bomb, "more than 100,000 values"),
    "self reference": (_self_reference, "contains itself"),
    "deep lists": (lambda: _with_junk(b"]" * N_DEEP + b"a" * (N_DEEP - 1)), "nested more than"),
    "deep dict key": (lambda: _with_junk(b"}" + b")" + b"\x85" * N_DEEP + b"K\x01s"), "nested"),
    # bytearray(3.5 GiB) from 60 bytes, through an allowed global
    "bytearray bomb": (lambda: _with_junk(b"cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\xe0\x00\x85R"), "bytearray"),
    # numpy.ndarray((2^40,)) and _reconstruct(ndarray, (2^40,), 'b') would allocate their shape
    "ndarray shape": (lambda: _with_junk(b"cnumpy\nndarray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85\x85R"), "ndarray\\(shape\\)"),
    "reconstruct shape": (lambda: _with_junk(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                                             b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85C\x01b\x87R"), "_reconstruct"),
    "huge dtype": (lambda: _with_junk(b"cnumpy\ndtype\nX\x0b\x00\x00\x00V1000000000\x85R"), "dtype"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_pickle_bombs_are_one_line(name, tmp_path, capsys):
    from _hardening import run

    make, words = BOMBS[name]
    bomb = tmp_path / "ref.pkl"
    bomb.write_bytes(make())
    assert bomb.stat().st_size < 256 * 1024  # each is small: a few bytes to 200 KB (the 100,000-deep ones)
    with pytest.raises(GanevalError, match=words) as refused:
        read_edm2_pickle(bomb)
    assert "\n" not in str(refused.value)
    code, _, err = run(["export-stats", bomb, "-o", tmp_path / "out.npz"], capsys)
    assert_one_error(code, err, "ref.pkl")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memo bomb", "bytearray bomb", "deep lists"])
def test_pickle_bombs_stay_within_time_and_memory_bounds(name, tmp_path):
    """In a fresh process, whose own peak memory is measured (VmHWM)."""
    bomb = tmp_path / "ref.pkl"
    bomb.write_bytes(BOMBS[name][0]())
    code, err, seconds, rss_kib = ganeval_bounded(tmp_path, "export-stats", bomb, "-o", tmp_path / "out.npz")
    assert_one_error(code, err, "ref.pkl")
    assert rss_kib < MEMORY_BOUND_KIB, (name, rss_kib, seconds)
    assert not (tmp_path / "out.npz").exists()


@pytest.fixture(scope="module")
def stats_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("declared")
    np.save(root / "x.npy", np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
    ganeval.compute_stats(str(root / "x.npy"), device="cpu", save_features=True, progress=False).save(root / "s.h5")
    return root / "s.h5"


def _declare_features(path, rows: int, *, write: bool):
    """Give ``path`` a features dataset of ``rows`` x 2048 (and that count): written as zeros, or never."""
    with h5py.File(path, "r+") as h5:
        del h5["pool3/features"]
        data = h5["pool3"].create_dataset("features", shape=(rows, 2048), dtype="f4", chunks=(256, 2048),
                                          compression="gzip", compression_opts=4, shuffle=True)
        if write:
            for start in range(0, rows, 8192):
                data[start:start + 8192] = 0.0
        del h5["pool3/count"]
        h5["pool3/count"] = np.int64(rows)


@pytest.mark.slow
def test_declared_features_never_written_are_refused_before_allocating(stats_file, tmp_path):
    """The reported case: 200k x 2048 features declared, never written: eval --metrics fid took 5.4 GiB."""
    evil = tmp_path / "evil.h5"
    shutil.copy(stats_file, evil)
    _declare_features(evil, 200_000, write=False)
    code, err, seconds, rss_kib = ganeval_bounded(tmp_path, "eval", evil, evil, "--metrics", "fid")
    assert_one_error(code, err, evil, "/pool3/features", "never written")
    assert rss_kib < MEMORY_BOUND_KIB, (rss_kib, seconds)


def test_features_are_read_only_when_a_metric_needs_them(stats_file, tmp_path, capsys):
    """NaN features: FID (which does not read them) works; KID (which does) names the problem."""
    from _hardening import run

    odd = tmp_path / "odd.h5"
    shutil.copy(stats_file, odd)
    with h5py.File(odd, "r+") as h5:
        features = h5["pool3/features"][()]
        features[1, 7] = np.nan
        h5["pool3/features"][...] = features
    code, out, err = run(["eval", odd, stats_file, "--metrics", "fid"], capsys)
    assert code == 0, err
    code, _, err = run(["eval", odd, stats_file, "--metrics", "kid"], capsys)
    assert_one_error(code, err, odd, "NaN")


@pytest.mark.slow
def test_fid_of_a_file_with_large_features_does_not_load_them(stats_file, tmp_path):
    """100k x 2048 real (zero) features, 800 MB when read, ~0.8 MB stored: FID stays under the bound."""
    big = tmp_path / "big.h5"
    shutil.copy(stats_file, big)
    _declare_features(big, 100_000, write=True)
    code, err, _, baseline_kib = ganeval_bounded(tmp_path, "eval", stats_file, stats_file, "--metrics", "fid")
    assert code == 0, err
    code, err, seconds, rss_kib = ganeval_bounded(tmp_path, "eval", big, big, "--metrics", "fid")
    assert code == 0, err
    assert rss_kib < baseline_kib + 400 * 1024, (rss_kib, baseline_kib, seconds)  # the features alone are 800 MB
