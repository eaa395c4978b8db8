"""FeatureStats against numpy's direct formulas, and the HDF5 file format with its failure modes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from ganeval.errors import GanevalError
from ganeval.io.statsfile import load_stats, save_stats
from ganeval.stats import FeatureStats

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
        assert h5["mu"].dtype == np.float64 and h5["sigma"].shape == (16, 16)
        assert int(h5["count"][()]) == 40 and h5.attrs["format"] == "ganeval-stats"
        assert h5.attrs["image_count"] == 40 and h5.attrs["mode"] == "tf1"
        assert json.loads(h5.attrs["skipped_files"]) == ["/data/x/bad.png"]
        assert h5["features"].dtype == np.float32 and h5["features"].compression == "gzip"
        assert "ganeval_version" in h5.attrs and h5.attrs["format_version"] == 1
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
