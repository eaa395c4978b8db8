"""Published reference files used as they are, as a side of fid/eval/import-stats (real weights).

An ADM reference batch and an EDM2 .pkl are built in the test from ganeval's own statistics of
real image files, so the numbers they must give are known: FID/sFID from the stored moments,
KID/PRDC from the batch's arr_0 images (as the ADM evaluator does)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganeval.api import compute_stats
from ganeval.io.statsfile import load_stats

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _images(seed: int, n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (n, 4, 4, 3)), np.ones((1, 8, 8, 1)))
    return np.clip(base + rng.integers(-30, 31, (n, 32, 32, 3)), 0, 255).astype(np.uint8)


def _cli(*args):
    run = subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("refs")
    real, fake = _images(1), _images(2)
    (root / "samples").mkdir()
    for i, image in enumerate(fake):
        Image.fromarray(image).save(root / "samples" / f"{i}.png")
    ours = compute_stats(real, batch_size=5, save_features=True)
    ours.save(root / "ours.h5")
    np.savez(root / "VIRTUAL_test.npz", arr_0=real, mu=ours.mu, sigma=ours.sigma,
             mu_s=ours["spatial"].mu, sigma_s=ours["spatial"].sigma)
    nvidia = compute_stats(real, batch_size=5, mode="nvidia", features=("pool3",))
    nvidia.save(root / "nvidia.h5")
    with open(root / "img-ref.pkl", "wb") as handle:
        pickle.dump({"num_images": 10, "fid": {"mu": nvidia.mu, "sigma": nvidia.sigma}}, handle)
    return root


def test_adm_reference_batch_as_eval_side_equals_our_stats_file(files):
    metrics = ["--metrics", "fid,sfid,kid,prdc", "--json", "--kid-subset-size", "5"]
    adm = json.loads(_cli("eval", str(files / "VIRTUAL_test.npz"), str(files / "samples"), *metrics, "-q").stdout)
    ours = json.loads(_cli("eval", str(files / "ours.h5"), str(files / "samples"), *metrics, "-q").stdout)
    assert adm["mode"] == "tf1"
    for key in ("fid", "sfid"):
        assert abs(adm[key] - ours[key]) <= 1e-9 * ours[key]
    for key in ("precision", "recall", "density", "coverage"):  # features of arr_0 = our features of the images
        assert adm["prdc"][key] == ours["prdc"][key]
    assert abs(adm["kid"]["mean"] - ours["kid"]["mean"]) <= 1e-6 * abs(ours["kid"]["mean"]) + 1e-12


def test_import_stats_keeps_both_adm_spaces(files, tmp_path):
    _cli("import-stats", str(files / "VIRTUAL_test.npz"), "-o", str(tmp_path / "adm.h5"))
    imported, ours = load_stats(tmp_path / "adm.h5"), load_stats(files / "ours.h5")
    assert list(imported.spaces) == ["pool3", "spatial"]
    assert np.array_equal(imported["spatial"].sigma, ours["spatial"].sigma)
    assert imported.provenance["mode"] == "tf1"


def test_edm2_pickle_as_fid_side_takes_its_mode(files):
    edm2 = json.loads(_cli("fid", str(files / "img-ref.pkl"), str(files / "samples"), "--json", "-q").stdout)
    ours = json.loads(_cli("fid", str(files / "nvidia.h5"), str(files / "samples"), "--json", "-q").stdout)
    assert edm2["mode_a"] == edm2["mode_b"] == "nvidia"
    assert abs(edm2["fid"] - ours["fid"]) <= 1e-9 * ours["fid"]
