"""sFID: the ADM evaluator's spatial features (mixed_6/conv:0, first 7 channels, (h, w, c) order).

The independent route is pytorch-fid's TF-ported Inception (torchvision's Inception3 with
pytorch-fid's FID blocks), loaded by pytorch-fid's own code from our exported weights, with a
forward hook on ``Mixed_6d.branch1x1`` (the TF graph's mixed_6/conv after its ReLU), fed the
same TF1-resized input. Measured on these 12 photographs (torch 2.14.1 CPU, 2026-12-01): max abs
spatial difference 2.0e-5, sFID 899.766912 vs 899.767043 (1.5e-7 relative). Tolerances: 1e-4 abs,
1e-5 relative.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.preprocess import preprocess
from ganeval.extractors.weights import save_exported_weights
from ganeval.metrics.frechet import frechet_distance
from cli_testing import run_cli

PYTORCH_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """12 real photographs, uint8 [12, 3, 96, 96]: 6 crops of scikit-image's colour images and their mirrors."""
    crops = [skimage.data.astronaut()[30:318, 120:408], skimage.data.coffee()[50:338, 200:488],
             skimage.data.chelsea()[20:296, 100:376], skimage.data.rocket()[100:388, 250:538],
             skimage.data.immunohistochemistry()[:288, :288], skimage.data.hubble_deep_field()[300:588, 400:688]]
    images = [np.asarray(Image.fromarray(np.ascontiguousarray(c)).resize((96, 96), Image.BICUBIC)) for c in crops]
    images += [im[:, ::-1] for im in images]
    return torch.from_numpy(np.stack([np.ascontiguousarray(im) for im in images])).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def pytorch_fid_network(tmp_path_factory):
    """pytorch-fid's fid_inception_v3(), built by its own loader from our exported weights (no download)."""
    inception = pytest.importorskip("pytorch_fid.inception")
    home = tmp_path_factory.mktemp("torch-home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    save_exported_weights(checkpoints / PYTORCH_FID_NAME, "pytorch-fid")
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(home / "hub"))
    try:
        network = inception.fid_inception_v3().eval()
    finally:
        torch.hub.set_dir(previous)
    return network


def _pytorch_fid_spatial(network, x: torch.Tensor) -> torch.Tensor:
    """Mixed_6d.branch1x1's output for the normalised 299x299 batch ``x``, as the ADM evaluator flattens it."""
    captured = {}
    hook = network.Mixed_6d.branch1x1.register_forward_hook(lambda module, inputs, output: captured.update(out=output))
    stem = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
            "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d"]
    try:
        with torch.inference_mode():
            for name in stem:
                x = getattr(network, name)(x)
    finally:
        hook.remove()
    nhwc = captured["out"].permute(0, 2, 3, 1)  # TF's [N, 17, 17, 192]
    return nhwc[..., :7].reshape(len(x), -1)


def _moments(x: torch.Tensor):
    x = x.double().numpy()
    return x.mean(0), np.cov(x, rowvar=False)


def test_spatial_features_and_sfid_match_pytorch_fids_network(pytorch_fid_network, photos):
    ours = InceptionExtractor(features=("pool3", "spatial"), backend="torch").extract(photos)
    theirs = _pytorch_fid_spatial(pytorch_fid_network, preprocess(photos, "tf1"))
    assert ours["spatial"].shape == theirs.shape == (12, 2023)
    diff = float((ours["spatial"].double() - theirs.double()).abs().max())
    print(f"spatial max abs diff vs pytorch-fid's Mixed_6d.branch1x1: {diff:.3g}")
    assert diff <= 1e-4
    # sFID between the photographs and their mirrors, by both routes.
    half = len(photos) // 2
    mine = frechet_distance(*_moments(ours["spatial"][:half]), *_moments(ours["spatial"][half:]))
    reference = frechet_distance(*_moments(theirs[:half]), *_moments(theirs[half:]))
    print(f"sFID ours {mine:.9g}, pytorch-fid route {reference:.9g}")
    assert abs(mine - reference) <= 1e-5 * reference


def test_onnx_backend_returns_every_space_from_one_graph(photos):
    torch_route = InceptionExtractor(features=("pool3", "spatial"), backend="torch").extract(photos)
    onnx_route = InceptionExtractor(features=("pool3", "spatial"), backend="onnxruntime").extract(photos)
    pool3_only = InceptionExtractor(features=("pool3",), backend="onnxruntime").extract(photos)
    for space in ("pool3", "spatial"):
        assert float((torch_route[space] - onnx_route[space]).abs().max()) <= 1e-4
    assert torch.equal(pool3_only["pool3"], onnx_route["pool3"])  # the extra output leaves pool3 untouched
    assert set(pool3_only) == {"pool3"}


def test_sfid_command_and_json_against_direct_features(tmp_path, photos, capsys):
    for half, name in ((slice(0, 6), "a"), (slice(6, 12), "b")):
        folder = tmp_path / name
        folder.mkdir()
        for i, image in enumerate(photos[half]):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    made = run_cli(capsys, "stats", str(tmp_path / "a"), "-o", str(tmp_path / "a.h5"), "-q")
    assert made.returncode == 0, made.stderr
    with h5py.File(tmp_path / "a.h5") as h5:
        assert json.loads(h5.attrs["spaces"]) == ["pool3", "spatial"] and h5["spatial/mu"].shape == (2023,)
        assert h5["spatial"].attrs["layer"].startswith("mixed_6/conv:0")
    direct = InceptionExtractor(features=("pool3", "spatial")).extract(photos)["spatial"]
    expected = frechet_distance(*_moments(direct[:6]), *_moments(direct[6:]))
    run = run_cli(capsys, "sfid", str(tmp_path / "a.h5"), str(tmp_path / "b"), "--json", "-q")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert abs(record["sfid"] - expected) <= 1e-5 * expected
    both = run_cli(capsys, "eval", str(tmp_path / "a.h5"), str(tmp_path / "b"), "--metrics", "fid,sfid", "--json", "-q")
    assert both.returncode == 0, both.stderr
    assert abs(json.loads(both.stdout)["sfid"] - record["sfid"]) <= 1e-9 * expected


def test_stats_without_spatial_are_refused_for_sfid_before_any_image_is_read(tmp_path, photos, capsys):
    folder = tmp_path / "a"
    folder.mkdir()
    for i, image in enumerate(photos[:4]):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    assert run_cli(capsys, "stats", str(folder), "-o", str(tmp_path / "p.h5"), "--features", "pool3", "-q").returncode == 0
    (tmp_path / "unreadable").mkdir()
    for name in ("x.png", "y.png"):  # reading them would fail: they must not be read
        (tmp_path / "unreadable" / name).write_bytes(b"not a png")
    run = run_cli(capsys, "sfid", str(tmp_path / "p.h5"), str(tmp_path / "unreadable"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    line = run.stderr.strip()
    assert "p.h5" in line and "no 'spatial' features" in line and "--features pool3,spatial" in line
    assert len(line.splitlines()) == 1
