"""The four ganeval_train models: shapes, ranges, finite losses, and each model's defining formula
checked against a value computed by hand (gradient penalty, AdaIN, truncation, conditioning)."""

from __future__ import annotations

import math

import pytest
import torch

from ganeval_train.models import MODELS, build_model, model_from_config
from ganeval_train.models.stylegan_lite import AdaIN, adain, progressive_schedule, real_at_stage
from ganeval_train.models.wgan_gp import gradient_penalty

TINY = {"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str, **extra):
    torch.manual_seed(0)
    values = dict(TINY, **extra)
    if name == "cgan":
        values["num_classes"] = 10
    if name == "stylegan-lite":
        values.update(w_dim=16, phase_steps=2)
    return build_model(name, **values)


def batches(model, n_classes: int = 10):
    gen = torch.Generator().manual_seed(1)
    c, r = model.config.channels, model.config.resolution

    def next_batch():
        real = torch.rand(model.config.batch_size, c, r, r, generator=gen) * 2 - 1
        return real, torch.randint(0, n_classes, (model.config.batch_size,), generator=gen)
    return next_batch


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_ranges_and_finite_losses(name):
    model = tiny(name)
    next_batch = batches(model)
    steps = [0, 1, 2, 3, 5, 7] if name == "stylegan-lite" else [0, 1]  # 4x4 -> 8x8 fade -> 16 -> 32
    for step in steps:
        losses = model.train_step(next_batch, step)
        assert losses and all(math.isfinite(v) for v in losses.values()), losses
    z = model.sample_latents(5)
    labels = torch.arange(5) if model.conditional else None
    images = model.generate(z, labels)
    assert images.shape == (5, 1, 32, 32) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    logits = (model.discriminator(images, labels) if model.conditional
              else model.discriminator(images, 3, 1.0) if name == "stylegan-lite" else model.discriminator(images))
    assert logits.shape == (5,)


@pytest.mark.parametrize("resolution", [28, 64])
def test_dcgan_resolutions_28_and_64(resolution):
    model = tiny("dcgan", resolution=resolution, channels=3)
    images = model.generate(model.sample_latents(2))
    assert images.shape == (2, 3, resolution, resolution)
    assert model.discriminator(images).shape == (2,)


def test_dcgan_initialisation_is_normal_002():
    model = build_model("dcgan")
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <a, x> + b has gradient a everywhere: the penalty is (||a|| - 1)^2 whatever the interpolates."""
    torch.manual_seed(3)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 1))
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    a = critic[1].weight.detach().double()
    expected = (a.norm().item() - 1.0) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_by_hand():
    """D(x) = ||x||^2 / 2 has gradient x: penalty = mean_i (||eps_i r_i + (1 - eps_i) f_i|| - 1)^2."""
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    torch.manual_seed(4)
    real, fake = torch.randn(5, 2, 3, 3, dtype=torch.float64), torch.randn(5, 2, 3, 3, dtype=torch.float64)
    eps = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    total = 0.0
    for i in range(5):
        x_hat = [eps[i].item() * r + (1 - eps[i].item()) * f for r, f in zip(real[i].flatten().tolist(), fake[i].flatten().tolist())]
        total += (math.sqrt(sum(v * v for v in x_hat)) - 1) ** 2
    penalty = gradient_penalty(critic, real, fake, eps=eps)
    assert penalty.item() == pytest.approx(total / 5, rel=1e-12)
    assert penalty.requires_grad  # it must train the critic (double backpropagation)


def test_adain_gives_each_channel_the_style_mean_and_std():
    torch.manual_seed(5)
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64) * 3 + 2
    scale = torch.rand(3, 4, dtype=torch.float64) * 2 + 0.1
    shift = torch.randn(3, 4, dtype=torch.float64)
    y = adain(x, scale, shift)
    assert torch.allclose(y.mean(dim=(2, 3)), shift, atol=1e-10)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), scale, rtol=1e-6)


def test_adain_module_takes_its_style_from_an_affine_map_of_w():
    torch.manual_seed(6)
    layer = AdaIN(4, w_dim=5)
    with torch.no_grad():
        layer.style.bias.normal_()
    x, w = torch.randn(2, 4, 6, 6) + 1, torch.randn(2, 5)
    style = w @ (layer.style.weight * layer.style.scale).T + layer.style.bias  # by hand: [2, 8]
    scale, shift = style[:, :4], style[:, 4:]
    y = layer(x, w)
    assert torch.allclose(y.mean(dim=(2, 3)), shift, atol=1e-5)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), scale.abs(), rtol=1e-4)


def test_truncation_at_psi_zero_returns_w_avg():
    model = tiny("stylegan-lite")
    g = model.generator_ema
    g.w_avg.copy_(torch.randn(g.w_avg.shape))
    w = torch.randn(7, g.w_avg.numel())
    assert torch.equal(g.truncate(w, 0.0), g.w_avg.expand(7, -1))
    assert torch.allclose(g.truncate(w, 1.0), w, atol=1e-6)
    assert torch.allclose(g.truncate(w, 0.5), (g.w_avg + w) / 2, atol=1e-6)
    # psi = 0: every z gives the same image (with the same noise).
    images = model.generate(torch.randn(3, model.config.z_dim), truncation=0.0,
                            noise_generator=torch.Generator().manual_seed(0))
    single = model.generate(torch.randn(1, model.config.z_dim), truncation=0.0,
                            noise_generator=torch.Generator().manual_seed(0))
    assert torch.allclose(images[0], images[2], atol=1e-6) and torch.allclose(images[:1], single, atol=1e-6)


def test_progressive_schedule_and_real_image_fade():
    assert progressive_schedule(0, 100, 3) == (0, 1.0)
    assert progressive_schedule(99, 100, 3) == (0, 1.0)
    assert progressive_schedule(100, 100, 3) == (1, 0.0)
    assert progressive_schedule(125, 100, 3) == (1, 0.5)
    assert progressive_schedule(160, 100, 3) == (1, 1.0)
    assert progressive_schedule(10_000, 100, 3) == (3, 1.0)
    real = torch.arange(16.0).view(1, 1, 4, 4)
    half = real_at_stage(real, 1, 2, 1.0)  # 2x2 means
    assert torch.equal(half, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    faded = real_at_stage(real, 2, 2, 0.0)  # alpha 0: the up-sampled lower resolution
    assert torch.equal(faded[0, 0, :2, :2], torch.full((2, 2), 2.5))


def test_cgan_output_changes_with_the_class_for_fixed_noise():
    model = tiny("cgan")
    model.train_step(batches(model), 0)
    z = model.sample_latents(1).repeat(10, 1)
    images = model.generate(z, torch.arange(10))
    scale = images.abs().mean()  # outputs are small right after the N(0, 0.02) initialisation
    for k in range(1, 10):  # far above float32 rounding (~1e-7 relative)
        assert (images[k] - images[0]).abs().mean() > 1e-3 * scale
    again = model.generate(z[:2], torch.tensor([4, 4]))
    assert torch.equal(again[0], again[1]) and torch.equal(again[0], images[4])


@pytest.mark.parametrize("name", list(MODELS))
def test_checkpoint_round_trip_gives_identical_outputs_and_training(name, tmp_path):
    model = tiny(name)
    next_batch = batches(model)
    for step in range(3):
        model.train_step(next_batch, step)
    torch.save({"config": model.config.to_dict(), "state": model.training_state()}, tmp_path / "ckpt.pt")

    torch.manual_seed(123)  # a differently initialised model, then overwritten
    payload = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    restored = model_from_config(name, payload["config"])
    restored.load_training_state(payload["state"])
    z = model.sample_latents(4, torch.Generator().manual_seed(9))
    labels = torch.arange(4) if model.conditional else None
    kwargs = {"noise_generator": torch.Generator().manual_seed(2)} if name == "stylegan-lite" else {}
    kwargs2 = {"noise_generator": torch.Generator().manual_seed(2)} if name == "stylegan-lite" else {}
    assert torch.equal(model.generate(z, labels, **kwargs), restored.generate(z, labels, **kwargs2))
    # The optimiser states came back too: the next step is the same.
    torch.manual_seed(7)
    a = model.train_step(batches(model), 3)
    torch.manual_seed(7)
    b = restored.train_step(batches(restored), 3)
    assert a == b


def test_generator_average_ramps_up_its_half_life():
    from ganeval_train.models.stylegan_lite import ema_beta

    # half-life = min(10k images, 5% of images seen): after step 0 with batch 16 it is 0.8 images.
    assert ema_beta(0, 16, 10_000, 0.05) == pytest.approx(0.5 ** (16 / 0.8))
    assert ema_beta(999, 16, 10_000, 0.05) == pytest.approx(0.5 ** (16 / 800))
    assert ema_beta(10 ** 6, 16, 10_000, 0.05) == pytest.approx(0.5 ** (16 / 10_000))
    assert ema_beta(0, 16, 10_000, 0.0) == pytest.approx(0.5 ** (16 / 10_000))
