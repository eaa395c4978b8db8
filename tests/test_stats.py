"""FeatureStats against numpy's direct formulas, and the HDF5 file format with its failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ganeval.core.errors import GanevalError
from ganeval.core.stats import FeatureStats, StatsSet, load_stats, save_stats

PROVENANCE = {"extractor": "test", "weights_sha256": "abc", "mode": "tf1", "precision": "fp32", "feature_dim": 16}


def features(n, d=16, seed=0, offset=50.0):
    """Features with a large common offset: the raw-moment formula would lose digits here."""
    rng = np.random.default_rng(seed)
    return offset + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))


def accumulate(x, batch=7, **kwargs):
    stats = FeatureStats(x.shape[1], provenance=PROVENANCE, **kwargs)
    for start in range(0, len(x), batch):
        stats.add_features(torch.from_numpy(x[start:start + batch]).float())
    return stats


def test_streaming_matches_numpy_in_float64():
    x = features(103).astype(np.float32)
    stats = accumulate(x)
    reference = x.astype(np.float64)
    assert stats.count == 103
    assert stats.mu.dtype == np.float64 and stats.sigma.dtype == np.float64
    np.testing.assert_allclose(stats.mu, reference.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.sigma, np.cov(reference, rowvar=False), rtol=1e-10, atol=1e-12)
    assert np.array_equal(stats.sigma, stats.sigma.T)


def test_merge_of_shards_equals_one_pass():
    x = features(200, seed=1).astype(np.float32)
    whole = accumulate(x)
    shards = [accumulate(x[:37]), accumulate(x[37:150], batch=50), accumulate(x[150:], batch=3)]
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert merged.count == whole.count
    np.testing.assert_allclose(merged.mu, whole.mu, rtol=1e-12)
    np.testing.assert_allclose(merged.sigma, whole.sigma, rtol=1e-10, atol=1e-12)


def test_merge_refuses_other_provenance():
    a = accumulate(features(10))
    b = FeatureStats(16, provenance={**PROVENANCE, "mode": "clean"})
    b.add_features(features(10, seed=2))
    with pytest.raises(GanevalError, match="mode"):
        a.merge(b)


def test_too_few_images_and_bad_shapes():
    stats = FeatureStats(16)
    stats.add_features(features(1))
    with pytest.raises(GanevalError, match="at least 2"):
        stats.sigma
    with pytest.raises(GanevalError, match="dimension"):
        stats.add_features(np.zeros((3, 8)))
    with pytest.raises(GanevalError, match="extractor"):
        stats.update(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_hdf5_round_trip_with_provenance_and_features(tmp_path):
    x = features(40, seed=3).astype(np.float32)
    stats = accumulate(x, keep_features=True)
    stats.provenance.update(source="/data/x", skipped_files=["/data/x/bad.png"], created="2026-01-01T00:00:00+00:00")
    path = tmp_path / "s.h5"
    stats.save(path)
    with h5py.File(path) as h5:
        assert h5["pool3/mu"].dtype == np.float64 and h5["pool3/sigma"].shape == (16, 16)
        assert int(h5["pool3/count"][()]) == 40 and h5.attrs["format"] == "ganeval-stats"
        assert h5.attrs["image_count"] == 40 and h5["pool3"].attrs["mode"] == "tf1"
        assert json.loads(h5.attrs["skipped_files"]) == ["/data/x/bad.png"]
        assert json.loads(h5.attrs["spaces"]) == ["pool3"]
        assert h5["pool3/features"].dtype == np.float32 and h5["pool3/features"].compression == "gzip"
        assert "ganeval_version" in h5.attrs and h5.attrs["format_version"] == 2
    loaded = load_stats(path, with_features=True)
    assert np.array_equal(loaded.mu, stats.mu) and np.array_equal(loaded.sigma, stats.sigma)
    assert loaded.count == 40 and loaded.provenance["skipped_files"] == ["/data/x/bad.png"]
    assert np.array_equal(loaded.features, x)
    # Loaded statistics still merge exactly with fresh ones.
    y = features(30, seed=4).astype(np.float32)
    merged = loaded.merge(accumulate(y))
    whole = accumulate(np.concatenate([x, y]))
    np.testing.assert_allclose(merged.sigma, whole.sigma, rtol=1e-10, atol=1e-12)


def test_interrupted_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "real.h5"
    first = accumulate(features(20, seed=5))
    first.save(path)
    original = path.read_bytes()

    def explode(self, name, *args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of writing

    monkeypatch.setattr(h5py.Group, "create_dataset", explode)
    with pytest.raises(KeyboardInterrupt):
        accumulate(features(20, seed=6)).save(path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.h5"]
    with pytest.raises(KeyboardInterrupt):
        accumulate(features(20, seed=6)).save(tmp_path / "new.h5")
    assert not (tmp_path / "new.h5").exists()


def test_bad_stats_files_give_one_line_naming_the_file(tmp_path):
    good = tmp_path / "good.h5"
    accumulate(features(20)).save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "text.h5").write_text("hello")
    np.savez(tmp_path / "pytorch_fid.npz", mu=np.zeros(4), sigma=np.eye(4))
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["mu"] = np.zeros(4)
    cases = {
        "missing.h5": "no such file",
        "truncated.h5": "unreadable or truncated",
        "empty.h5": "empty",
        "text.h5": "not an HDF5 file",
        "pytorch_fid.npz": "pytorch-fid/TTUR",
        "other.h5": "another tool",
    }
    for name, expected in cases.items():
        with pytest.raises(GanevalError) as info:
            load_stats(tmp_path / name)
        message = str(info.value)
        assert name in message and expected in message and "\n" not in message, message


def test_save_refuses_missing_folder(tmp_path):
    with pytest.raises(GanevalError, match="does not exist"):
        save_stats(accumulate(features(5)), tmp_path / "nope" / "x.h5")


def test_loaded_covariance_is_bit_exact(tmp_path):
    stats = accumulate(features(30, seed=7))
    stats.save(tmp_path / "s.h5")
    loaded = load_stats(tmp_path / "s.h5")
    assert np.array_equal(loaded.sigma, stats.sigma) and np.array_equal(loaded.mu, stats.mu)
    loaded.save(tmp_path / "again.h5")
    assert np.array_equal(load_stats(tmp_path / "again.h5").sigma, stats.sigma)


DATA = Path(__file__).parent / "data"


def test_format_1_file_written_by_ganeval_0_1_loads_unchanged():
    """tests/data/v1-stats-16d.h5: written by ganeval 0.1's own save_stats (16-d, 12 images, features kept)."""
    loaded = load_stats(DATA / "v1-stats-16d.h5", with_features=True)
    assert list(loaded.spaces) == ["pool3"] and loaded.count == 12
    direct = accumulate(loaded.features.astype(np.float64))
    np.testing.assert_allclose(loaded.mu, direct.mu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(loaded.sigma, direct.sigma, rtol=1e-5, atol=1e-6)
    assert loaded["pool3"].provenance["mode"] == "tf1" and loaded.provenance["skipped_files"] == ["/data/v1-set/bad.png"]
    assert loaded["pool3"].provenance["source"] == "/data/v1-set"


def test_several_spaces_round_trip_and_missing_space_names_the_fix(tmp_path):
    a, b = accumulate(features(30, seed=1), keep_features=True), accumulate(features(30, seed=2)[:, :8])
    a.provenance.update(extractor="inception-v3-tf-2015-12-05/pool3", source="/data/x")
    b.provenance.update(extractor="inception-v3-tf-2015-12-05/spatial", layer="mixed_6/conv:0", source="/data/x")
    both = StatsSet({"pool3": a, "spatial": b}, {"source": "/data/x"})
    both.save(tmp_path / "two.h5")
    loaded = StatsSet.load(tmp_path / "two.h5", with_features=True)
    assert list(loaded.spaces) == ["pool3", "spatial"]
    assert np.array_equal(loaded["spatial"].sigma, b.sigma) and loaded["spatial"].dim == 8
    assert loaded["spatial"].provenance["layer"] == "mixed_6/conv:0" and loaded["spatial"].features is None
    assert np.array_equal(loaded.features, a.features)  # the primary (pool3) space
    only_pool3 = StatsSet({"pool3": a})
    only_pool3.save(tmp_path / "one.h5")
    with pytest.raises(GanevalError) as info:
        StatsSet.load(tmp_path / "one.h5")["spatial"]
    message = str(info.value)
    assert "one.h5" in message and "--features pool3,spatial" in message


def _tamper(path, edit):
    with h5py.File(path, "r+") as h5:
        edit(h5)


def test_malformed_stats_files_are_refused_by_name_before_reading(tmp_path):
    good = tmp_path / "good.h5"
    stats = accumulate(features(20), keep_features=True)
    stats.save(good)
    edits = {
        "count-not-scalar.h5": (lambda h5: (h5["pool3"].__delitem__("count"),
                                            h5["pool3"].create_dataset("count", data=np.array([20, 20]))), "count"),
        "bad-json.h5": (lambda h5: h5.attrs.__setitem__("skipped_files", "[not json"), "not valid JSON"),
        "string-mu.h5": (lambda h5: (h5["pool3"].__delitem__("mu"),
                                     h5["pool3"].create_dataset("mu", data=np.array([b"x"] * 16))), "'mu'"),
        "huge.h5": (lambda h5: (h5["pool3"].__delitem__("sigma"),  # declared 2**20 x 2**20, never allocated
                                h5["pool3"].create_dataset("sigma", shape=(2**20, 2**20), dtype="f8")), "declares shape"),
        "rows.h5": (lambda h5: (h5["pool3"].__delitem__("features"),
                                h5["pool3"].create_dataset("features", data=np.zeros((7, 16), np.float32))), "features"),
        "nan-features.h5": (lambda h5: h5["pool3/features"].__setitem__((0, 0), np.nan), "NaN"),
        "asymmetric.h5": (lambda h5: h5["pool3/sigma"].__setitem__((0, 1), 1e3), "not symmetric"),
        "spaces-lie.h5": (lambda h5: h5.attrs.__setitem__("spaces", '["pool3", "spatial"]'), "does not hold"),
    }
    for name, (edit, expected) in edits.items():
        path = tmp_path / name
        path.write_bytes(good.read_bytes())
        _tamper(path, edit)
        with pytest.raises(GanevalError) as info:  # stored features are checked when first read
            load_stats(path, with_features=True)["pool3"].features
        message = str(info.value)
        assert name in message and expected in message and "\n" not in message, (name, message)


def test_fid_errors_name_the_file_the_bad_covariance_came_from(tmp_path):
    from ganeval.api.compute import fid_from_stats

    good = accumulate(features(20, seed=1))
    bad = FeatureStats.from_moments(20, np.zeros(16), -np.eye(16), {"file": "bad.h5"})
    with pytest.raises(GanevalError, match=r"covariance of bad\.h5 \[pool3\]"):
        fid_from_stats(good, bad, names=("good.h5", "bad.h5"))
