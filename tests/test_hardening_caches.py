"""Issue 23, classes 4 and 7 (`ref get`): a cached artefact is served only when it proves to hold what it
was made from, and a cache that cannot take the files is one line before any work.

(The weights side, a download that is not weights neither kept nor recorded, is in test_vit_weights.py.)
"""

from __future__ import annotations

import os
import subprocess

import h5py
import numpy as np
import pytest

from _hardening import assert_one_error, digest_tree, run
from ganeval.core.stats import load_stats

NAME = "ttur/cifar10-train"


@pytest.fixture
def local_copy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2048))
    path = tmp_path / "fid_stats_cifar10_train.npz"
    np.savez(path, mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANEVAL_CACHE", str(folder))
    monkeypatch.delenv("GANEVAL_REF_MIRROR", raising=False)
    return folder


@pytest.mark.parametrize("alteration", ["mu", "sigma", "count"])
def test_an_altered_cached_conversion_is_converted_again_not_served(local_copy, cache, capsys, alteration):
    code, out, err = run(["ref", "get", NAME, "--file", local_copy], capsys)
    assert code == 0, err
    converted = out.strip()
    source = np.load(local_copy)
    with h5py.File(converted, "r+") as h5:  # attributes untouched: they still name our source and its sha256
        if alteration == "count":
            h5["pool3/count"][()] = 7
        else:
            data = h5[f"pool3/{alteration}"][()]
            data[(0,) * data.ndim] += 1.0  # sigma stays symmetric: a valid file, just not the source's
            h5[f"pool3/{alteration}"][...] = data
    code, out, err = run(["ref", "get", NAME], capsys)
    assert code == 0, err
    assert out.strip() == converted
    if alteration != "count":  # a count that differs from the wanted one is remade silently, as before
        assert "converting it again" in err
    served = load_stats(converted)
    assert np.array_equal(served.mu, source["mu"]) and np.array_equal(served.sigma, source["sigma"])
    assert served.count == 50_000


def test_an_intact_cached_conversion_is_reused(local_copy, cache, capsys):
    code, out, err = run(["ref", "get", NAME, "--file", local_copy], capsys)
    assert code == 0, err
    made = os.stat(out.strip()).st_mtime_ns
    code, out, err = run(["ref", "get", NAME], capsys)
    assert code == 0 and os.stat(out.strip()).st_mtime_ns == made and "again" not in err


def test_a_garbage_local_copy_is_named_as_the_users_file(tmp_path, cache, capsys):
    garbage = tmp_path / "mine.npz"
    garbage.write_bytes(b"garbage")
    code, _, err = run(["ref", "get", NAME, "--file", garbage], capsys)
    line = assert_one_error(code, err, garbage, "not kept")
    assert str(cache) not in line.split(" (")[0]
    assert not list((cache / "refs" / "ttur").iterdir())


def test_cache_that_is_a_file_is_one_line(local_copy, tmp_path, monkeypatch, capsys):
    (tmp_path / "cachefile").write_text("not a folder")
    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path / "cachefile"))
    code, _, err = run(["ref", "get", NAME, "--file", local_copy], capsys)
    assert_one_error(code, err, "cachefile", "GANEVAL_CACHE")


@pytest.mark.parametrize("blocked", ["cifar10-train.h5", "fid_stats_cifar10_train.npz",
                                     "fid_stats_cifar10_train.npz.sha256"])
def test_a_folder_where_a_cached_file_goes_is_one_line_before_any_work(local_copy, cache, capsys, blocked):
    (cache / "refs" / "ttur" / blocked).mkdir(parents=True)
    before = digest_tree(cache)
    code, _, err = run(["ref", "get", NAME, "--file", local_copy], capsys)
    assert_one_error(code, err, blocked, "folder")
    assert digest_tree(cache) == before


@pytest.mark.slow
def test_a_read_only_cache_is_one_line(local_copy, tmp_path, monkeypatch, capsys):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    point = tmp_path / "ro"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(point)], check=True)
    try:
        monkeypatch.setenv("GANEVAL_CACHE", str(point))
        code, _, err = run(["ref", "get", NAME, "--file", local_copy], capsys)
        assert_one_error(code, err, str(point), "GANEVAL_CACHE")
    finally:
        subprocess.run(["umount", str(point)], check=False)
