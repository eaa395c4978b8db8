"""Every command that writes statistics computed from images keeps the raw features by the rule of
`ganeval stats` (choices.saved_features): a `fid --save-stats` file serves KID and PRDC."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from cli_testing import run_cli
from ganeval.core.choices import SAVED_FEATURES_DEFAULT, saved_features
from ganeval_train.data import load_digits


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two folders of 10 real digits each (PNG, 32x32 gray), the second darker."""
    root = tmp_path_factory.mktemp("saved-features")
    digits = load_digits().images[:20, 0].numpy()
    for name, images in (("real", digits[:10]), ("samples", (digits[10:] * 0.7).astype(np.uint8))):
        (root / name).mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def stored_features(path):
    with h5py.File(path, "r") as file:
        return file["pool3"]["features"][()] if "features" in file["pool3"] else None


def test_the_rule():
    assert saved_features(None) == SAVED_FEATURES_DEFAULT == "auto"
    assert saved_features(True) is True and saved_features(False) is False


@pytest.mark.slow  # real-weight Inception on 50 images: ~25 s on the shared 2-core machine
def test_fid_save_stats_keeps_features_like_stats_and_eval_accepts_the_file(folders, capsys):
    work = folders
    common = ["--workers", "0", "--quiet", "--mode", "tf1"]
    assert run_cli(capsys, "stats", work / "real", "-o", work / "real.h5", *common).returncode == 0
    done = run_cli(capsys, "fid", work / "real.h5", work / "samples", "--save-stats", work / "fake.h5", *common)
    assert done.returncode == 0, done.stderr
    assert run_cli(capsys, "stats", work / "samples", "-o", work / "by-stats.h5", *common).returncode == 0
    # The same features as `ganeval stats` writes for the same images.
    np.testing.assert_array_equal(stored_features(work / "fake.h5"), stored_features(work / "by-stats.h5"))
    assert stored_features(work / "fake.h5").shape == (10, 2048)

    metrics = ["--metrics", "kid,prdc", "--kid-subset-size", "5", "--json"]
    from_files = run_cli(capsys, "eval", work / "real.h5", work / "fake.h5", *metrics, "--quiet")
    assert from_files.returncode == 0, from_files.stderr
    from_images = run_cli(capsys, "eval", work / "real", work / "samples", *metrics, *common)
    assert from_images.returncode == 0, from_images.stderr
    files, images = json.loads(from_files.stdout), json.loads(from_images.stdout)
    # Reference: the same metrics computed from the images themselves (float64 statistics: to 1e-12).
    assert files["kid"]["mean"] == pytest.approx(images["kid"]["mean"], rel=1e-12, abs=1e-12)
    assert files["prdc"] == pytest.approx(images["prdc"], rel=1e-12, abs=1e-12)


@pytest.mark.slow
def test_no_save_features_opts_out_and_needs_save_stats(folders, capsys):
    work = folders
    common = ["--workers", "0", "--quiet", "--mode", "tf1"]
    done = run_cli(capsys, "fid", work / "samples", work / "real", "--save-stats", work / "lean.h5",
                   "--no-save-features", *common)
    assert done.returncode == 0, done.stderr
    assert stored_features(work / "lean.h5") is None
    for flag in ("--save-features", "--no-save-features"):
        refused = run_cli(capsys, "fid", work / "samples", work / "real", flag, *common)
        assert refused.returncode != 0
        assert f"{flag} applies to the files of --save-stats PATH" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_with_saved_features_applies_the_rule_and_keeps_the_moments_bit_for_bit(tmp_path, monkeypatch):
    import ganeval.api.compute
    from ganeval.api.compute import with_saved_features
    from ganeval.core.stats import FeatureStats, StatsSet, load_stats

    rng = np.random.default_rng(0)
    pool3 = FeatureStats(8, keep_features=True, provenance={"mode": "tf1"})
    pool3.add_features(rng.normal(size=(12, 8)).astype(np.float32))
    stats = StatsSet({"pool3": pool3})
    assert with_saved_features(stats, "auto") is stats and with_saved_features(stats, True) is stats
    monkeypatch.setattr(ganeval.api.compute, "AUTO_FEATURES_LIMIT", 11)  # 12 images: above the limit
    for choice in ("auto", False):
        lean = with_saved_features(stats, choice)
        assert lean.features is None and stats.features is not None  # the original keeps its features
        lean.save(tmp_path / "lean.h5")
        stats.save(tmp_path / "full.h5")
        lean_file, full_file = load_stats(tmp_path / "lean.h5", with_features=True), load_stats(tmp_path / "full.h5")
        assert lean_file.features is None and stored_features(tmp_path / "full.h5").shape == (12, 8)
        np.testing.assert_array_equal(lean_file.mu, full_file.mu)
        np.testing.assert_array_equal(lean_file.sigma, full_file.sigma)
    with pytest.raises(Exception, match="save_features must be True, False or 'auto'"):
        with_saved_features(stats, "yes")
