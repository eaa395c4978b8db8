"""Published reference files used as they are, as a side of fid/eval/import-stats (real weights).

An ADM reference batch and an EDM2 .pkl are built in the test from ganeval's own statistics of
real image files, so the numbers they must give are known: FID/sFID from the stored moments,
KID/PRDC from the batch's arr_0 images (as the ADM evaluator does)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganeval.api.compute import compute_stats
from ganeval.core.stats import load_stats
from cli_testing import run_cli

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _images(seed: int, n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (n, 4, 4, 3)), np.ones((1, 8, 8, 1)))
    return np.clip(base + rng.integers(-30, 31, (n, 32, 32, 3)), 0, 255).astype(np.uint8)


def _cli(capsys, *args):
    run = run_cli(capsys, *args)
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


def test_adm_reference_batch_as_eval_side_equals_our_stats_file(files, capsys):
    metrics = ["--metrics", "fid,sfid,kid,prdc", "--json", "--kid-subset-size", "5"]
    adm = json.loads(_cli(capsys, "eval", str(files / "VIRTUAL_test.npz"), str(files / "samples"), *metrics, "-q").stdout)
    ours = json.loads(_cli(capsys, "eval", str(files / "ours.h5"), str(files / "samples"), *metrics, "-q").stdout)
    assert adm["mode"] == "tf1"
    for key in ("fid", "sfid"):
        assert abs(adm[key] - ours[key]) <= 1e-9 * ours[key]
    for key in ("precision", "recall", "density", "coverage"):  # features of arr_0 = our features of the images
        assert adm["prdc"][key] == ours["prdc"][key]
    assert abs(adm["kid"]["mean"] - ours["kid"]["mean"]) <= 1e-6 * abs(ours["kid"]["mean"]) + 1e-12


def test_import_stats_keeps_both_adm_spaces(files, tmp_path, capsys):
    _cli(capsys, "import-stats", str(files / "VIRTUAL_test.npz"), "-o", str(tmp_path / "adm.h5"))
    imported, ours = load_stats(tmp_path / "adm.h5"), load_stats(files / "ours.h5")
    assert list(imported.spaces) == ["pool3", "spatial"]
    assert np.array_equal(imported["spatial"].sigma, ours["spatial"].sigma)
    assert imported.provenance["mode"] == "tf1"


def test_edm2_pickle_as_fid_side_takes_its_mode(files, capsys):
    edm2 = json.loads(_cli(capsys, "fid", str(files / "img-ref.pkl"), str(files / "samples"), "--json", "-q").stdout)
    ours = json.loads(_cli(capsys, "fid", str(files / "nvidia.h5"), str(files / "samples"), "--json", "-q").stdout)
    assert edm2["mode"] == "nvidia"
    assert {side["spaces"]["pool3"]["mode"] for side in edm2["provenance"].values()} == {"nvidia"}
    assert abs(edm2["fid"] - ours["fid"]) <= 1e-9 * ours["fid"]


def test_adm_suite_against_the_adm_functions_on_direct_features(files, capsys):
    from ganeval.extractors.inception_extractor import InceptionExtractor
    from ganeval.metrics.adm import adm_precision_recall
    from ganeval.metrics.frechet import frechet_distance

    run = _cli(capsys, "eval", str(files / "VIRTUAL_test.npz"), str(files / "samples"), "--suite", "adm", "--json")
    report = json.loads(run.stdout)
    assert report["suite"] == "adm" and "inception_score" in report["omitted"]
    assert "no logits head" in run.stderr  # the default weights: IS omitted, with the reason, not a failure
    extractor = InceptionExtractor(features=("pool3", "spatial"))
    samples = np.stack([np.asarray(Image.open(files / "samples" / f"{i}.png")) for i in range(10)])
    ref = extractor.extract(torch_images(_images(1)))
    sam = extractor.extract(torch_images(samples))
    moments = {k: (v.double().numpy().mean(0), np.cov(v.double().numpy(), rowvar=False)) for k, v in sam.items()}
    ours = load_stats(files / "ours.h5")
    assert abs(report["fid"] - frechet_distance(*moments["pool3"], ours.mu, ours.sigma)) <= 1e-6 * report["fid"]
    assert abs(report["sfid"] - frechet_distance(*moments["spatial"], ours["spatial"].mu, ours["spatial"].sigma)) \
        <= 1e-6 * report["sfid"]
    pr = adm_precision_recall(ref["pool3"], sam["pool3"])
    assert (report["precision"], report["recall"]) == (pr.precision, pr.recall)
    assert report["conventions"]["distance_precision"] == "fp16"


def torch_images(array: np.ndarray):
    import torch

    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
