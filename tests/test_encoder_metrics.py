"""FD_DINOv2, CMMD and KID/PRDC on encoder spaces through `ganeval eval` and the API (issue 12).

Random weights in the official layouts (the real ones cannot be downloaded here): a full DINOv2
ViT-L/14 (its loader accepts that architecture only) and a one-block CLIP ViT-L/14@336 layout
(width 64; the loader reads the architecture from the tensors, the extractor checks the 768-d
embedding at 336 px). Four 40x48 images per side.

Independent references: the same decoded images (PIL, in this file) through each extractor's
``extract`` → numpy float64 moments → ``frechet_distance`` (FID, FD_DINOv2), and CMMD by a direct
float64 numpy formula with explicit pairwise differences. Tolerance 1e-6 relative (the CLI runs
in another process: same code, so equal up to thread scheduling in the matrix products).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval import api
import ganeval.api.evaluate as ev
from ganeval.core.errors import GanevalError
from ganeval.core.options import ExtractorOptions
from ganeval.extractors.clip import ClipExtractor, ClipVisual
from ganeval.extractors.dinov2 import OFFICIAL_WEIGHTS, DinoV2Extractor, DinoV2ViT
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.registry import ExtractorSet, parse_conventions, parse_weights
from ganeval.metrics.frechet import frechet_distance
from ganeval.core.stats import FeatureStats, StatsSet
from vit_testing import randomise_, smooth_images

REPO = Path(__file__).resolve().parents[1]
REL = 1e-6

# Runs the CLI (one torch thread, as the fixture) with an audit hook that counts every open() of a file under $COUNT_UNDER.
_COUNTING_CLI = r"""
import atexit, json, os, sys
roots = tuple(os.path.abspath(p) + os.sep for p in os.environ["COUNT_UNDER"].split(os.pathsep))
counts = {}
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(roots):
            counts[path] = counts.get(path, 0) + 1
def dump():
    with open(os.environ["COUNT_FILE"], "w") as out:
        json.dump(counts, out)
atexit.register(dump)
sys.addaudithook(hook)
from ganeval.cli.commands import main
main(sys.argv[1:])
"""


def _cli(argv, count_under, tmp_path):
    """(exit code, stdout, stderr, {image path: times opened})."""
    count_file = tmp_path / f"opened-{os.getpid()}-{len(list(tmp_path.iterdir()))}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1",
           "COUNT_UNDER": os.pathsep.join(map(str, count_under)), "COUNT_FILE": str(count_file)}
    result = subprocess.run([sys.executable, "-c", _COUNTING_CLI, *map(str, argv)], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=600)
    counts = json.loads(count_file.read_text()) if count_file.is_file() else {}
    return result.returncode, result.stdout, result.stderr, counts


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Weights files, two image folders and the direct route's features of both."""
    root = tmp_path_factory.mktemp("encoders")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread is faster than two on the shared 2-core machine (as tests/test_dinov2.py)
    with torch.device("meta"):
        dino_layout = DinoV2ViT().state_dict()
        clip_layout = {f"visual.{k}": v for k, v in ClipVisual(64, 1, 14, 24, 768).state_dict().items()}
    paths = {"dinov2": root / "dinov2_vitl14_pretrain.pth", "clip": root / "clip-l14-336-tiny.pt"}
    torch.save(randomise_(dino_layout, seed=1, dtype=torch.float16), paths["dinov2"])  # 0.6 GB, read as fp32
    torch.save(randomise_(clip_layout, seed=2), paths["clip"])
    folders = {}
    for side, seed in (("a", 3), ("b", 4)):
        folders[side] = root / side
        folders[side].mkdir()
        for i, image in enumerate(smooth_images(4, 40, 48, seed=seed)):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folders[side] / f"{i}.png")
    # The direct route: decode here, run each extractor's own extract.
    dino = DinoV2Extractor(weights=paths["dinov2"], device="cpu")
    clip = ClipExtractor(weights=paths["clip"], device="cpu")
    inception = InceptionExtractor(device="cpu", features=("pool3",))
    features = {}
    for side, folder in folders.items():
        images = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)
                  for f in sorted(folder.glob("*.png"))]
        features[side] = {"pool3": inception(images), "dinov2": dino.extract(images)["dinov2"],
                          "clip": clip.extract(images)["clip"]}
        features[side] = {k: v.double().numpy() for k, v in features[side].items()}
    yield dict(root=root, paths=paths, folders=folders, features=features, dino=dino, clip=clip,
               inception=inception)
    torch.set_num_threads(threads)


def _fd(x, y):
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def _cmmd_direct(x, y, sigma=10.0, scale=1000.0, unbiased=False):
    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    if unbiased:
        return scale * ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                        - 2 * kxy.mean())
    return scale * (kxx.mean() + kyy.mean() - 2 * kxy.mean())


@pytest.mark.slow
def test_eval_fd_dinov2_and_cmmd_match_the_direct_route_with_one_decode(case, tmp_path):
    a, b = case["folders"]["a"], case["folders"]["b"]
    code, out, err, opened = _cli(["eval", a, b, "--metrics", "fid,fd_dinov2,cmmd", "--weights",
                                   f"dinov2={case['paths']['dinov2']}", "--weights", f"clip={case['paths']['clip']}",
                                   "--device", "cpu", "--json", "-q"], [a, b], tmp_path)
    assert code == 0, err
    report = json.loads(out)
    fa, fb = case["features"]["a"], case["features"]["b"]
    expected = {"fid": _fd(fa["pool3"], fb["pool3"]), "fd_dinov2": _fd(fa["dinov2"], fb["dinov2"]),
                "cmmd": _cmmd_direct(fa["clip"], fb["clip"])}
    print({k: (report[k], v) for k, v in expected.items()})
    for key, value in expected.items():
        assert abs(report[key] - value) <= REL * abs(value), key
    assert report["cmmd_estimator"] == "biased"
    assert report["spaces"]["dinov2"]["mode"] == "dgm-eval" and report["spaces"]["clip"]["mode"] == "cmmd"
    # One decode feeds Inception, DINOv2 and CLIP: every image file was opened exactly once.
    images = sorted(str(p) for folder in (a, b) for p in folder.glob("*.png"))
    assert sorted(opened) == images and set(opened.values()) == {1}, opened


def _hand_made_stats(case, side: str) -> StatsSet:
    """A StatsSet of the direct route's features, with the provenance the extractors record."""
    stats = StatsSet({"pool3": FeatureStats(provenance=case["inception"].space_provenance("pool3"),
                                            keep_features=True),
                      "dinov2": FeatureStats(provenance=case["dino"].space_provenance("dinov2"), keep_features=True),
                      "clip": FeatureStats(provenance=case["clip"].space_provenance("clip"), keep_features=True)})
    stats.add_features({space: torch.from_numpy(f) for space, f in case["features"][side].items()})
    return stats


def test_stats_file_round_trip_with_encoder_spaces_and_api_evaluate(case, tmp_path):
    path = tmp_path / "a.h5"
    stats = _hand_made_stats(case, "a")
    stats.save(path)
    loaded = StatsSet.load(path, with_features=True)
    assert list(loaded.spaces) == ["pool3", "dinov2", "clip"]
    for space in ("dinov2", "clip"):
        np.testing.assert_array_equal(loaded[space].mu, stats[space].mu)
        np.testing.assert_array_equal(loaded[space].sigma, stats[space].sigma)
        np.testing.assert_array_equal(loaded[space].features, stats[space].features)
        for key in ("extractor", "weights_sha256", "mode", "precision", "feature_dim"):
            assert loaded[space].provenance[key] == stats[space].provenance[key], (space, key)
    assert loaded["dinov2"].provenance["extractor"] == "dinov2-vitl14/dinov2"
    assert loaded["dinov2"].provenance["feature_dim"] == 1024 and loaded["clip"].provenance["feature_dim"] == 768
    # The API on two stats sets: the same numbers as the direct route, KID/PRDC on any space.
    report = ev.evaluate(str(path), _hand_made_stats(case, "b"),
                         metrics="fd_dinov2,cmmd,kid:dinov2,prdc:clip,fid:clip",
                         kid_subset_size=4, kid_subsets=3, k_pr=1, k_dc=1, cmmd_estimator="unbiased")
    fa, fb = case["features"]["a"], case["features"]["b"]
    assert abs(report["fd_dinov2"] - _fd(fa["dinov2"], fb["dinov2"])) <= 1e-9 * report["fd_dinov2"]
    assert abs(report["fid:clip"] - _fd(fa["clip"], fb["clip"])) <= 1e-9 * report["fid:clip"]
    unbiased = _cmmd_direct(fa["clip"], fb["clip"], unbiased=True)
    assert abs(report["cmmd"] - unbiased) <= 1e-9 * abs(unbiased) and report["cmmd_estimator"] == "unbiased"
    from ganeval.metrics.kid import kid
    from ganeval.metrics.prdc import prdc

    assert report["kid:dinov2"]["mean"] == kid(fa["dinov2"], fb["dinov2"], num_subsets=3, subset_size=4).mean
    assert report["prdc:clip"] == prdc(fa["clip"], fb["clip"], k_pr=1, k_dc=1)._asdict()
    # Spaces of different networks never compare: FD between dinov2 statistics and clip statistics.
    with pytest.raises(GanevalError, match="differ in extractor"):
        api.fid_from_stats(StatsSet({"dinov2": loaded["clip"]}), loaded, space="dinov2")


@pytest.mark.slow
def test_convention_mismatch_is_refused_before_reading_images(case, tmp_path):
    path = tmp_path / "a.h5"
    _hand_made_stats(case, "a").save(path)  # dinov2 made with the dgm-eval convention
    b = case["folders"]["b"]
    code, out, err, opened = _cli(["eval", path, b, "--metrics", "fd_dinov2", "--convention", "dinov2=edm2",
                                   "--weights", f"dinov2={case['paths']['dinov2']}", "--device", "cpu", "-q"],
                                  [b], tmp_path)
    lines = err.strip().splitlines()
    assert code == 1 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("ganeval: error: ") and str(path) in lines[0]
    assert "differ in mode (dgm-eval vs edm2)" in lines[0] and "--allow-mismatch" in lines[0]
    assert opened == {}  # not one image of B was read


@pytest.mark.slow
def test_registry_options_and_composite_interface(case):
    assert parse_weights(["x.pt", "dinov2=/w/d.pth", "clip-vitl14-336=/w/c.pt"]) == {
        "inception": "x.pt", "dinov2": "/w/d.pth", "clip": "/w/c.pt"}
    assert parse_weights("/a=b/c.pt") == {"inception": "/a=b/c.pt"}  # "=" in a path that names no network
    assert parse_conventions(["edm2"]) == {"dinov2": "edm2"} == parse_conventions({"dinov2-vitl14": "edm2"})
    for bad in (["dinov2=cmmd"], ["nonsense"], ["edm2", "dinov2=dgm-eval"]):
        with pytest.raises(GanevalError):
            parse_conventions(bad)
    with pytest.raises(GanevalError, match="unknown metric"):
        ev.parse_metrics("kid:nowhere")
    assert ev.parse_metrics("fid:dinov2,kid:pool3,fid:spatial,prdc:clip") == ("fd_dinov2", "kid", "sfid", "prdc:clip")
    assert ev.spaces_for(("fd_dinov2", "cmmd", "kid:clip_vitb32")) == ("dinov2", "clip", "clip_vitb32")
    assert ev.spaces_for(("cmmd", "fid")) == ("clip", "pool3")
    both = ExtractorSet({"inception": case["inception"], "clip": case["clip"]}, ("pool3", "clip"))
    assert both.space_dims == {"pool3": 2048, "clip": 768} and both.provenance == case["inception"].provenance
    assert both.space_provenance("clip")["extractor"] == "clip-vitl14-336/clip"
    images = smooth_images(2, 30, 30, seed=5)
    out = both.extract(images)
    assert torch.equal(out["clip"], case["clip"].extract(images)["clip"])
    assert torch.equal(out["pool3"], case["inception"](images))
    with pytest.raises(GanevalError, match="not computed"):
        api.get_extractor(("pool3",), weights={"dinov2": "x.pth"})
    # compute_stats through the registry (cached encoder), raw clip features kept, convention recorded.
    stats = api.compute_stats(case["folders"]["a"], features=("pool3", "clip"), weights={"clip": case["paths"]["clip"]},
                              convention="cmmd", device="cpu", save_features=True, progress=False)
    assert list(stats.spaces) == ["pool3", "clip"] and stats["clip"].provenance["mode"] == "cmmd"
    np.testing.assert_allclose(stats["clip"].features, case["features"]["a"]["clip"], rtol=0, atol=1e-6)
    assert api.get_encoder("clip", case["paths"]["clip"], device="cpu") is api.get_encoder(
        "clip-vitl14-336", case["paths"]["clip"], convention="cmmd", device="cpu")


@pytest.mark.slow
def test_edm2_fd_dinov2_compares_with_the_official_weights_and_edm2_only(case, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    moments = {}
    for key, dim in (("fid", 2048), ("fd_dinov2", 1024)):
        x = rng.standard_normal((dim + 8, dim))
        moments[key] = {"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)}
    pkl = tmp_path / "img64.pkl"
    pkl.write_bytes(pickle.dumps({"num_images": 1000, **moments}))
    edm2 = api.load_statistics(pkl)
    assert edm2["dinov2"].provenance["mode"] == "edm2" and edm2["dinov2"].provenance["weights_sha256"] == OFFICIAL_WEIGHTS
    # Meta's file from the cache (trusted on first download, like a download): labelled official.
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(case["paths"]["dinov2"], cache / "dinov2_vitl14_pretrain.pth")
    monkeypatch.setenv("GANEVAL_CACHE", str(cache))
    official = DinoV2Extractor(convention="edm2", device="cpu", download=False)
    assert official.space_provenance("dinov2")["weights_sha256"] == OFFICIAL_WEIGHTS
    ev.check_before_extraction([edm2], [str(pkl)], ("dinov2",), official)
    ours = StatsSet({"dinov2": FeatureStats(provenance=official.space_provenance("dinov2"))})
    ours["dinov2"].add_features(torch.from_numpy(case["features"]["a"]["dinov2"]))
    value = api.fid_from_stats(edm2, ours, space="dinov2")
    d = moments["fd_dinov2"]
    assert value == pytest.approx(frechet_distance(d["mu"], d["sigma"], ours["dinov2"].mu, ours["dinov2"].sigma),
                                  rel=1e-12)
    # A file given by path is identified by its tensor digest only, and dgm-eval is another convention.
    with pytest.raises(GanevalError, match="differ in weights_sha256"):
        ev.check_before_extraction([edm2], [str(pkl)], ("dinov2",), case["dino"])
    adopted = ev.adopt_settings([edm2], ExtractorOptions())
    assert adopted.conventions == {"dinov2": "edm2"} and adopted.mode == "nvidia"
