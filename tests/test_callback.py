"""ganeval.FIDCallback with the real Inception network: its in-memory FID equals `ganeval fid`
on the same images written to disk as PNG, and it runs in a plain training loop."""

from __future__ import annotations

import pytest
import torch
from torchvision.utils import save_image

import ganeval
from ganeval.cli.commands import main as ganeval_main
from ganeval.core.errors import GanevalError
from ganeval_train.data import load_digits

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

N = 16


@pytest.fixture(scope="module")
def real_stats_file(tmp_path_factory):
    """Statistics of 16 real digits (uint8, 32x32 gray), saved as a ganeval HDF5 file."""
    path = tmp_path_factory.mktemp("callback") / "real.h5"
    ganeval.compute_stats(load_digits().images[:N], mode="tf1", workers=0, save_features=True).save(path)
    return path


def fake_images() -> torch.Tensor:
    """16 float images in [-1, 1]: other real digits, darkened and with noise, like a generator's tanh output."""
    torch.manual_seed(0)
    digits = load_digits().images[100:100 + N].float() / 127.5 - 1
    return (0.8 * digits + 0.3 * torch.randn_like(digits)).clamp(-1, 1)


def test_callback_fid_equals_ganeval_fid_on_the_same_images_on_disk(real_stats_file, tmp_path, capsys):
    images = fake_images()
    served = []

    def generate(n):  # serves the fixed images in order, in batches of the size asked for
        start = sum(served)
        served.append(n)
        return images[start:start + n]

    callback = ganeval.FIDCallback(real_stats_file, generate, num_samples=N, every=1, value_range=(-1, 1),
                                   batch_size=5)
    value = callback.compute(step=7)
    assert served == [5, 5, 5, 1] and callback.history == [(7, value)] and callback.last == value

    folder = tmp_path / "samples"
    folder.mkdir()
    for i, image in enumerate(images):
        save_image((image + 1) / 2, folder / f"{i:03d}.png")
    with pytest.raises(SystemExit) as exit_info:
        ganeval_main(["fid", str(real_stats_file), str(folder), "--workers", "0", "--quiet"])
    assert exit_info.value.code in (0, None)
    on_disk = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert value == pytest.approx(on_disk, rel=1e-5, abs=1e-6)
    assert value > 1.0  # different images: a real distance, not a trivially equal zero


def test_callback_in_a_plain_loop_evaluates_every_k_steps(real_stats_file):
    stats = ganeval.FeatureStats.load(real_stats_file)  # a FeatureStats object works as well as a path
    images = (fake_images()[:4] + 1) / 2  # float in [0, 1], the default range
    callback = ganeval.FIDCallback(stats, lambda n: images[:n], num_samples=4, every=2)
    results = [callback(step) for step in range(4)]
    assert results[1] is None and results[3] is None
    assert [s for s, _ in callback.history] == [0, 2]
    assert results[0] == results[2] == callback.last  # same images, same FID


def test_callback_refuses_bad_input(real_stats_file, tmp_path):
    with pytest.raises(GanevalError, match="not found"):
        ganeval.FIDCallback(tmp_path / "missing.h5", lambda n: None)
    with pytest.raises(GanevalError, match="value_range"):
        ganeval.FIDCallback(real_stats_file, lambda n: None, value_range=(0, 255))
    tanh_like = ganeval.FIDCallback(real_stats_file, lambda n: fake_images()[:n], num_samples=4)
    with pytest.raises(GanevalError, match=r"\[0, 1\]"):  # [-1, 1] output without value_range=(-1, 1)
        tanh_like.compute()
    assert tanh_like.history == []


class BatchNormGenerator(torch.nn.Module):
    """A small DCGAN-style generator with BatchNorm (running statistics) and Dropout: z [n, 16] -> [n, 3, 16, 16]."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Unflatten(1, (16, 1, 1)),
            torch.nn.ConvTranspose2d(16, 32, 4, 1, 0), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),  # 4x4
            torch.nn.ConvTranspose2d(32, 16, 4, 2, 1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),  # 8x8
            torch.nn.Dropout(0.2),
            torch.nn.ConvTranspose2d(16, 3, 4, 2, 1), torch.nn.Tanh(),  # 16x16 in [-1, 1]
        )

    def forward(self, z):
        return self.net(z)


def snapshot(module: torch.nn.Module):
    return ({k: v.clone() for k, v in module.state_dict().items()}, [m.training for m in module.modules()])


def test_callback_with_the_module_leaves_a_batchnorm_generator_bit_identical(real_stats_file):
    torch.manual_seed(1)
    G = BatchNormGenerator().train()
    G.net[7].eval()  # a submodule already in eval mode must come back in eval mode, the rest in train mode
    before_state, before_modes = snapshot(G)
    seen = []

    def sample(generator, n):
        seen.append((generator.training, generator.net[2].training, torch.is_grad_enabled()))
        return generator(torch.randn(n, 16))

    callback = ganeval.FIDCallback(real_stats_file, generator=G, sample=sample, num_samples=20, batch_size=10,
                                   value_range=(-1, 1))
    value = callback.compute(step=0)
    assert value > 0 and seen == [(False, False, False)] * 2  # eval mode, no autograd, while sampling
    after_state, after_modes = snapshot(G)
    assert after_modes == before_modes and before_modes.count(False) == 1
    assert after_state.keys() == before_state.keys()
    for key in before_state:
        assert torch.equal(before_state[key], after_state[key]), key
    assert int(after_state["net.2.num_batches_tracked"]) == 0

    # The pitfall of the bare-function form: in train mode the FID batches update BatchNorm.
    bare = ganeval.FIDCallback(real_stats_file, lambda n: G(torch.randn(n, 16)), num_samples=20, batch_size=10,
                               value_range=(-1, 1))
    bare.compute()
    assert int(G.state_dict()["net.2.num_batches_tracked"]) == 2
    assert not torch.equal(G.state_dict()["net.2.running_mean"], before_state["net.2.running_mean"])


def test_callback_refuses_ambiguous_sampling(real_stats_file):
    G = BatchNormGenerator()
    with pytest.raises(GanevalError, match="generator=G, sample="):
        ganeval.FIDCallback(real_stats_file, G)  # the module as the generate function
    with pytest.raises(GanevalError, match="sample="):
        ganeval.FIDCallback(real_stats_file, generator=G)
    with pytest.raises(GanevalError, match="not both"):
        ganeval.FIDCallback(real_stats_file, lambda n: None, generator=G, sample=lambda g, n: None)
    with pytest.raises(GanevalError, match="torch.nn.Module"):
        ganeval.FIDCallback(real_stats_file, generator=lambda z: z, sample=lambda g, n: None)


def test_mismatch_is_refused_before_anything_is_generated(tmp_path):
    import numpy as np

    import ganeval
    from ganeval.core.errors import GanevalError

    real = ganeval.compute_stats(np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
                                 mode="clean", features=("pool3",), progress=False)

    def never(n):
        raise AssertionError("the generator must not run when the settings cannot match")

    callback = ganeval.FIDCallback(real, never, num_samples=4, every=1, mode="tf1")
    with pytest.raises(GanevalError, match="differ in mode"):
        callback(0)


def test_callback_computes_any_registered_metric_on_pool3(real_stats_file, tmp_path):
    """metrics="fid,kid,prdc,vendi": each record holds them all, equal to ganeval.evaluate on the same
    generated images (the images written as PNGs and read back: the callback's uint8 quantisation)."""
    images = fake_images()
    generate = iter(images.split(4))
    options = ganeval.MetricOptions(kid_subset_size=8, kid_subsets=10, k_pr=2, k_dc=2)
    callback = ganeval.FIDCallback(real_stats_file, lambda n: next(generate), num_samples=N, every=1,
                                   value_range=(-1, 1), batch_size=4, metrics="kid,prdc,vendi",
                                   metric_options=options)
    callback(0)
    record = callback.history[-1]
    assert set(record.metrics) == {"fid", "kid", "prdc", "vendi"} and record.fid == record.metrics["fid"]
    folder = tmp_path / "samples"
    folder.mkdir()
    for i, image in enumerate(images):
        save_image((image + 1) / 2, folder / f"{i:03d}.png")
    expected = ganeval.evaluate(str(real_stats_file), str(folder), "fid,kid,prdc,vendi", metric_options=options,
                                workers=0)
    assert record.metrics["kid"]["mean"] == pytest.approx(expected["kid"]["mean"], rel=1e-5, abs=1e-9)
    assert record.metrics["prdc"] == pytest.approx(expected["prdc"], rel=1e-6)
    assert record.metrics["vendi"] == pytest.approx(expected["vendi"], rel=1e-6)
    with pytest.raises(GanevalError, match=r"real.h5: holds no dinov2 features, which fid,fd_dinov2 need; .*"
                                           r"--features pool3,dinov2"):
        ganeval.FIDCallback(real_stats_file, lambda n: images[:n], metrics="fd_dinov2")


def test_callback_computes_metrics_in_other_feature_spaces(tmp_path):
    """metrics="vendi:clip,kid:clip,fid:clip,prdc": the CLIP network runs on the generated images beside
    Inception; each value equals ganeval.evaluate on the same images written to disk (CLIP weights: a
    small random network in the official layout, as tests/test_encoder_metrics.py builds)."""
    from vit_testing import randomise_

    from ganeval.extractors.clip import ClipVisual

    with torch.device("meta"):
        layout = {f"visual.{k}": v for k, v in ClipVisual(64, 1, 14, 24, 768).state_dict().items()}
    clip = tmp_path / "clip-l14-336-tiny.pt"
    torch.save(randomise_(layout, seed=2), clip)
    real_path = tmp_path / "real.h5"
    ganeval.compute_stats(load_digits().images[:N], mode="tf1", workers=0, save_features=True,
                          features=("pool3", "clip"), weights={"clip": clip}).save(real_path)
    images = fake_images()
    generate = iter(images.split(4))
    metrics = "vendi:clip,kid:clip,fid:clip,prdc"
    options = ganeval.MetricOptions(kid_subset_size=8, kid_subsets=10, k_pr=2, k_dc=2)
    callback = ganeval.FIDCallback(real_path, lambda n: next(generate), num_samples=N, every=1,
                                   value_range=(-1, 1), batch_size=4, metrics=metrics, metric_options=options,
                                   weights={"clip": clip})
    callback(0)
    record = callback.history[-1]
    assert set(record.metrics) == {"fid", "vendi:clip", "kid:clip", "fid:clip", "prdc"}
    folder = tmp_path / "samples"
    folder.mkdir()
    for i, image in enumerate(images):
        save_image((image + 1) / 2, folder / f"{i:03d}.png")
    expected = ganeval.evaluate(str(real_path), str(folder), "fid," + metrics, metric_options=options, workers=0,
                                weights={"clip": clip})
    assert record.fid == pytest.approx(expected["fid"], rel=1e-5)
    assert record.metrics["fid:clip"] == pytest.approx(expected["fid:clip"], rel=1e-5)
    assert record.metrics["fid:clip"] != pytest.approx(record.fid, rel=1e-2)  # a different space, not pool3 again
    assert record.metrics["vendi:clip"] == pytest.approx(expected["vendi:clip"], rel=1e-6)
    assert record.metrics["kid:clip"]["mean"] == pytest.approx(expected["kid:clip"]["mean"], rel=1e-5, abs=1e-9)
    assert record.metrics["prdc"] == pytest.approx(expected["prdc"], rel=1e-6)
    # The CLIP statistics were made with these weights: other weights are refused before any image is made.
    other = tmp_path / "clip-other.pt"
    torch.save(randomise_(layout, seed=3), other)

    def never(n):
        raise AssertionError("the generator must not run when the settings cannot match")

    with pytest.raises(GanevalError, match="differ"):
        ganeval.FIDCallback(real_path, never, num_samples=N, metrics="vendi:clip", weights={"clip": other})(0)
