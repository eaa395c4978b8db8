"""LPIPS-VGG16 (ganeval.metrics.lpips) and PPL (ganeval.metrics.ppl) against their references' own code:
the `lpips` package (==0.1.4, whose shipped v0.1 linear weights are used) and torch-fidelity (==0.4.0:
SampleSimilarityLPIPS and calculate_metrics(ppl=True)).

The ImageNet VGG16 backbone cannot be downloaded here, so every network gets the same random backbone
in torchvision's layout (``features.N.weight``, initialised as torchvision's VGG does). torch-fidelity
fetches its two weight files by URL: its linear layers are read from a torch hub cache (TORCH_HOME) where
the test writes lpips' vgg.pth under torch-fidelity's file name (torch-fidelity's file is a re-upload of
it), and its backbone loader, the one function that would download, is pointed at the random backbone.
"""

import os
from pathlib import Path

import lpips as lpips_package
import numpy as np
import pytest
import torch
import torch_fidelity
import torch_fidelity.sample_similarity_lpips as tf_lpips
import torchvision
from torch_fidelity import GenerativeModelModuleWrapper

from ganeval.core.errors import GanevalError
from ganeval.metrics.lpips import TAP_INDICES, lpips_vgg16
from ganeval.metrics.ppl import (filtered_mean, interpolate, perceptual_path_length, stylegan_lite_ppl,
                                 stylegan_lite_synthesis)

LPIPS_LINEAR = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "vgg.pth"


@pytest.fixture(scope="module")
def backbone() -> dict:
    """Random VGG16 ``features`` weights, torchvision's layout and initialisation (kaiming fan-out, zero bias)."""
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    for layer in features:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
    return {f"features.{k}": v for k, v in features.state_dict().items()}


@pytest.fixture()
def torch_fidelity_weights(backbone, tmp_path, monkeypatch):
    """torch-fidelity's LPIPS reads our weights: linear layers from its hub cache file, backbone from ``backbone``."""
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / os.path.basename(tf_lpips.URL_VGG16_LPIPS)).write_bytes(LPIPS_LINEAR.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def random_vgg16(**kwargs):
        model = torch.nn.Module()
        model.features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        model.features.load_state_dict({k[len("features."):]: v for k, v in backbone.items()})
        return model

    monkeypatch.setattr(tf_lpips, "torchvision_load_pretrained_vgg16", random_vgg16)


def _images(seed, n, size):
    """Smooth random images in [-1, 1] (bilinear up-sampled noise), float32 [n, 3, size, size]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.slow  # the package builds a whole random VGG16 (138M parameters) before we load ours
def test_lpips_equals_lpips_package(backbone):
    reference = lpips_package.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    slices = {i: 1 + sum(i > t for t in TAP_INDICES) for i in range(30)}
    state = reference.state_dict()
    for key, value in backbone.items():
        _, index, kind = key.split(".")
        state[f"net.slice{slices[int(index)]}.{index}.{kind}"] = value
    reference.load_state_dict(state)
    x0, x1 = _images(1, 3, 32), _images(2, 3, 32)
    expected = reference(x0, x1).flatten()
    ours = lpips_vgg16(backbone, LPIPS_LINEAR)((x0 + 1) * 127.5, (x1 + 1) * 127.5)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=0)
    # the same network from the package's own whole state dict (net.sliceK.N.*, lin/lins keys)
    from_package = lpips_vgg16(reference.state_dict())((x0 + 1) * 127.5, (x1 + 1) * 127.5)
    torch.testing.assert_close(from_package, expected, rtol=1e-5, atol=0)
    assert (expected > 0).all()


@pytest.mark.parametrize("size", [24, 80])  # torch-fidelity's bilinear (smaller) and area (larger) resize to 64
def test_lpips_equals_torch_fidelity(backbone, torch_fidelity_weights, size):
    reference = tf_lpips.SampleSimilarityLPIPS("lpips-vgg16", sample_similarity_resize=64,
                                               sample_similarity_dtype="uint8")
    x0 = ((_images(3, 3, size) + 1) * 127.5).round().to(torch.uint8)
    x1 = ((_images(4, 3, size) + 1) * 127.5).round().to(torch.uint8)
    expected = reference(x0, x1)
    ours = lpips_vgg16(backbone, LPIPS_LINEAR, resize=64)(x0, x1)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=0)


class SineGenerator(torch.nn.Module):
    """z [N, 16] → uint8 images [N, 3, 16, 16]: 127.5 (1 + sin(W z)), W large enough that a step of
    1e-4 in z moves pixels by about a grey level (so uint8 images of a pair differ)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.weight = torch.nn.Parameter(torch.randn(3 * 8 * 8, 16, generator=g) * 60.0, requires_grad=False)

    def forward(self, z):
        x = torch.sin(z @ self.weight.T).view(-1, 3, 8, 8)
        x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        return (127.5 * (x + 1)).round().clamp(0, 255).to(torch.uint8)


def _percentile_with_interpolation(percentile):
    def shim(a, q, *args, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return percentile(a, q, *args, **kwargs)
    return shim


@pytest.mark.slow  # 500 + 500 VGG16 passes: ~10-40 s on a shared 2-core machine
def test_ppl_equals_torch_fidelity(backbone, torch_fidelity_weights, monkeypatch):
    # torch-fidelity 0.4.0 calls np.percentile(..., interpolation=...), a keyword NumPy 2.4 removed (its
    # PPL fails with a TypeError there); pass it on as ``method``, the same rule under its current name.
    percentile = np.percentile
    monkeypatch.setattr(np, "percentile", _percentile_with_interpolation(percentile))
    generator = SineGenerator().eval()
    samples, seed, batch = 210, 7, 105  # 210 samples: the 1st/99th percentile filter drops 2 + 2 of them
    reference = torch_fidelity.calculate_metrics(
        input1=GenerativeModelModuleWrapper(generator, 16, "normal", 0), input1_model_num_samples=samples,
        ppl=True, ppl_sample_similarity_resize=16, rng_seed=seed, batch_size=batch, cuda=False,
        verbose=False, save_cpu_ram=True)
    ours = perceptual_path_length(generator, 16, lpips_vgg16(backbone, LPIPS_LINEAR, resize=16),
                                  num_samples=samples, sampling="end", interpolation="lerp", pixels="uint8",
                                  seed=seed, batch_size=batch)
    assert ours.mean == pytest.approx(reference["perceptual_path_length_mean"], rel=1e-5)
    assert ours.std == pytest.approx(reference["perceptual_path_length_std"], rel=1e-5)
    assert ours.num_kept == samples - 4 and ours.mean > 0


def test_filtered_mean_by_hand():
    d = np.arange(1.0, 201.0)  # 1..200: 1st percentile ("lower") = 2, 99th ("higher") = 199
    mean, std, kept = filtered_mean(d)
    assert kept == 198 and mean == pytest.approx(np.arange(2.0, 200.0).mean(), rel=1e-15)
    assert std == pytest.approx(np.arange(2.0, 200.0).std(), rel=1e-15)


def test_slerp_is_a_great_circle():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    t = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    p = interpolate(a, b, t, "slerp")
    unit_a, unit_b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((unit_a * unit_b).sum(1))
    torch.testing.assert_close(p.norm(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(torch.acos((p * unit_a).sum(1).clamp(-1, 1)), t * omega, atol=1e-7, rtol=0)
    torch.testing.assert_close(p[-1], unit_b[-1])
    torch.testing.assert_close(interpolate(a, b, t, "lerp"), a + (b - a) * t[:, None])


def test_stylegan_lite_w_space_ppl(backbone):
    from ganeval_train.models.stylegan_lite import StyleGANLiteConfig, StyleGenerator

    torch.manual_seed(0)
    generator = StyleGenerator(StyleGANLiteConfig(resolution=16, channels=3)).eval()
    for block in generator.blocks:  # trained models have noise; a fresh one starts at weight 0
        for layer in block:
            for module in layer.modules():
                if type(module).__name__ == "NoiseInjection":
                    module.weight.data.fill_(0.5)
    lpips = lpips_vgg16(backbone, LPIPS_LINEAR)
    first, again = (stylegan_lite_ppl(generator, lpips, num_samples=6, batch_size=6) for _ in range(2))
    assert first.mean == again.mean and np.isfinite(first.mean) and first.mean > 0  # seeded: repeatable
    z_space = stylegan_lite_ppl(generator, lpips, space="z", num_samples=6, batch_size=6)
    assert np.isfinite(z_space.mean) and z_space.mean != first.mean
    # the noise is live (two plain renders differ), yet both halves of a PPL batch get the same noise
    w = generator.mapping(torch.randn(3, 64))
    ws = w[:, None].repeat(1, generator.num_ws, 1)
    assert not torch.equal(generator.synthesis(ws), generator.synthesis(ws))
    pair = stylegan_lite_synthesis(generator)(torch.cat((w, w)))
    assert torch.equal(pair[:3], pair[3:])


def test_bad_input(backbone, tmp_path):
    with pytest.raises(GanevalError, match="no such"):
        lpips_vgg16(tmp_path / "missing.pth")
    with pytest.raises(GanevalError, match="not a VGG16 backbone"):
        lpips_vgg16({"features.0.weight": torch.zeros(1)}, LPIPS_LINEAR)
    with pytest.raises(GanevalError, match="linear layers"):
        lpips_vgg16(backbone)
    lpips = lpips_vgg16(backbone, LPIPS_LINEAR)
    with pytest.raises(GanevalError, match="not uint8"):
        perceptual_path_length(lambda p: torch.zeros(p.shape[0], 3, 8, 8), 4, lpips, num_samples=4, pixels="uint8")
    with pytest.raises(GanevalError, match="mapping network"):
        perceptual_path_length(lambda p: p, 4, lpips, space="w")


@pytest.mark.slow  # trains one step of StyleGAN-lite and runs PPL twice: ~20 s on a shared 2-core machine
def test_ganeval_train_ppl_command(backbone, tmp_path, capsys):
    import json

    from ganeval_train.cli import main
    from ganeval_train.train import TrainOptions, load_model, train

    run = tmp_path / "s"
    train(TrainOptions(model="stylegan-lite", out=run, steps=1, quiet=True,
                       overrides={"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16, "w_dim": 16}))
    torch.save(backbone, tmp_path / "vgg16.pth")
    with pytest.raises(SystemExit) as info:
        main(["ppl", str(run), "--vgg16", str(tmp_path / "vgg16.pth"), "-n", "6", "--batch-size", "3", "--json",
              "--device", "cpu"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    record = json.loads(out)["ppl_wend"]
    model, _ = load_model(run, device="cpu")
    expected = stylegan_lite_ppl(model.sampling_generator().eval(), lpips_vgg16(backbone, LPIPS_LINEAR),
                                 num_samples=6, batch_size=3)
    assert record["mean"] == pytest.approx(expected.mean, rel=1e-12) and record["kept"] == expected.num_kept
    with pytest.raises(SystemExit) as info:  # a missing weight file: one line naming it
        main(["ppl", str(run), "--vgg16", str(tmp_path / "nope.pth"), "-n", "4"])
    err = capsys.readouterr().err
    assert info.value.code == 1 and "nope.pth" in err and len(err.strip().splitlines()) == 1
