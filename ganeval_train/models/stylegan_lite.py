"""StyleGAN-lite: the StyleGAN (Karras et al. 2019) generator ideas at a CPU-friendly size.

Generator
- mapping network: PixelNorm(z) -> ``mapping_layers`` x (equalised Linear + LeakyReLU(0.2)),
  learning rate x0.01 as in StyleGAN; gives w [N, w_dim].
- synthesis: a learned constant 4x4 input (initialised N(0, 1)); per resolution two layers, each
  [2x bilinear up-sampling +] 3x3 conv -> noise injection (N(0, 1) per pixel, learned
  per-channel scale, initialised to 0) -> bias + LeakyReLU(0.2) -> AdaIN(w): instance
  normalisation, then per-channel scale and shift from an affine map of w (scale bias 1).
  Each layer reads its own w (``num_ws`` = 2 per resolution), which makes style mixing possible.
- progressive growing (Karras et al. 2018): training starts at 4x4; every ``phase_steps`` a
  resolution is added, faded in over the first half of its phase with alpha: 0 -> 1,
  out = lerp(up(toRGB_prev(h_prev)), toRGB(h), alpha); the discriminator mirrors it and the
  real images are down-sampled (and blended the same way) to the current resolution.
- style-mixing regularisation: with probability ``mixing_prob`` a second z takes over from a
  random layer on.
- w_avg, a running mean of w (decay ``w_avg_decay``), and the truncation trick
  w' = w_avg + psi (w - w_avg) at sampling.
- samples come from an exponential moving average of the generator weights, half-life
  ``ema_half_life_images`` capped at ``ema_rampup`` x images seen (StyleGAN2-ADA's ramp-up;
  a fixed long average of a network this young would average unrelated weights).

Discriminator: ProGAN-style, fromRGB 1x1 per resolution, two 3x3 convs + 2x average pooling
per block, minibatch standard deviation, equalised learning rate, no normalisation.
Loss: non-saturating logistic loss with a lazy R1 penalty on real images (every
``r1_interval`` steps, gamma ``r1_gamma``), Adam betas (0, 0.99). Output is linear
(no tanh, as StyleGAN); samples are clamped to [-1, 1].
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganeval_train.models.base import GANConfig, GANModel, check_resolution


@dataclass
class StyleGANLiteConfig(GANConfig):
    w_dim: int = 64
    mapping_layers: int = 4
    width: int = 32
    max_width: int = 128
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    betas: tuple[float, float] = (0.0, 0.99)
    phase_steps: int = 300  # steps per resolution phase (first half fades in)
    mixing_prob: float = 0.9
    w_avg_decay: float = 0.995
    r1_gamma: float = 1.0
    r1_interval: int = 4
    ema_half_life_images: float = 10_000.0  # generator weight average half-life, in images
    ema_rampup: float = 0.05  # ...but at most this fraction of the images seen so far


# ------------------------------------------------------------------ building blocks


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights N(0, 1/lr_mul^2) scaled by lr_mul/sqrt(fan_in) at run time."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)) / lr_mul)
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """k x k convolution (stride 1, 'same' padding) with equalised learning rate."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2), the gain that keeps unit variance through equalised layers
    (without it every layer halves the variance: tiny w spread, tiny discriminator outputs)."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over dim 1."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def adain(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Adaptive instance normalisation: x [N, C, H, W]; scale, shift [N, C].

    Each (sample, channel) plane is normalised to mean 0 and (biased) std 1, then given
    std |scale| and mean shift.
    """
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    normalised = (x - mean) * torch.rsqrt(var + eps)
    return normalised * scale[:, :, None, None] + shift[:, :, None, None]


class AdaIN(nn.Module):
    """AdaIN whose per-channel scale and shift are an affine map of w (scale starts at 1, shift at 0)."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.style = EqualLinear(w_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.style(w).chunk(2, dim=1)
        return adain(x, scale, shift)


class NoiseInjection(nn.Module):
    """x + per-channel learned scale (init 0) * N(0, 1) noise shared across channels [N, 1, H, W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, _, h, w = x.shape
        if generator is None:
            noise = torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
        else:
            noise = torch.randn(n, 1, h, w, generator=generator, device=generator.device).to(x)
        return x + self.weight * noise


class StyleLayer(nn.Module):
    """[up 2x] -> conv 3x3 (or the constant input) -> noise -> bias + LeakyReLU -> AdaIN(w)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool, conv: bool = True):
        super().__init__()
        self.upsample = upsample
        self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False) if conv else None
        self.noise = NoiseInjection(out_channels)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x, w, noise_generator=None):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.conv is not None:
            x = self.conv(x)
        x = lrelu(self.noise(x, noise_generator) + self.bias)
        return self.adain(x, w)


# ------------------------------------------------------------------ generator


def stage_widths(config: StyleGANLiteConfig) -> list[int]:
    """Channels per stage, stage 0 = 4x4 ... last = full resolution."""
    base, ups = check_resolution(config.resolution)
    if base != 4:
        raise ValueError("stylegan-lite needs a power-of-two resolution (its constant input is 4x4)")
    return [min(config.width * 2 ** (ups - s), config.max_width) for s in range(ups + 1)]


class MappingNetwork(nn.Module):
    """z float [N, z_dim] -> w float [N, w_dim]."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


class StyleGenerator(nn.Module):
    """z [N, z_dim] -> images float [N, C, R, R] (linear output, about [-1, 1]).

    Buffers ``stage`` (0 = 4x4) and ``alpha`` (fade-in) set the current progressive resolution;
    ``w_avg`` [w_dim] is the running mean of w for truncation.
    """

    def __init__(self, config: StyleGANLiteConfig):
        super().__init__()
        widths = stage_widths(config)
        self.final_stage = len(widths) - 1
        self.resolution = config.resolution
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers)
        # Random, not uniform: instance norm of a spatially constant plane would blow up the first noise.
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.blocks = nn.ModuleList()
        for s, c in enumerate(widths):
            if s == 0:
                first = StyleLayer(c, c, config.w_dim, upsample=False, conv=False)
            else:
                first = StyleLayer(widths[s - 1], c, config.w_dim, upsample=True)
            self.blocks.append(nn.ModuleList([first, StyleLayer(c, c, config.w_dim, upsample=False)]))
        self.to_rgb = nn.ModuleList(EqualConv2d(c, config.channels, 1) for c in widths)
        self.num_ws = 2 * len(widths)
        self.register_buffer("w_avg", torch.zeros(config.w_dim))
        self.register_buffer("stage", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w' = w_avg + psi (w - w_avg); psi = 1 is the identity, psi = 0 gives w_avg."""
        return self.w_avg + psi * (w - self.w_avg)

    def synthesis(self, ws: torch.Tensor, noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, r, r] at the current stage's resolution r."""
        stage, alpha = int(self.stage), float(self.alpha)
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        previous = None
        for s in range(stage + 1):
            if s == stage:
                previous = x
            first, second = self.blocks[s]
            x = first(x, ws[:, 2 * s], noise_generator)
            x = second(x, ws[:, 2 * s + 1], noise_generator)
        rgb = self.to_rgb[stage](x)
        if stage > 0 and alpha < 1.0:
            skip = F.interpolate(self.to_rgb[stage - 1](previous), scale_factor=2, mode="nearest")
            rgb = torch.lerp(skip, rgb, alpha)
        return rgb

    def forward(self, z: torch.Tensor, *, truncation: float | None = None, mix_z: torch.Tensor | None = None,
                mix_cutoff: int | None = None, noise_generator: torch.Generator | None = None,
                full_resolution: bool = True) -> torch.Tensor:
        """Images from z: float [N, C, R, R] (R = full resolution, nearest up-sampling while growing)."""
        w = self.mapping(z)
        if truncation is not None:
            w = self.truncate(w, truncation)
        ws = w[:, None, :].repeat(1, self.num_ws, 1)
        if mix_z is not None:
            w2 = self.mapping(mix_z)
            if truncation is not None:
                w2 = self.truncate(w2, truncation)
            ws[:, mix_cutoff:] = w2[:, None, :]
        images = self.synthesis(ws, noise_generator)
        if full_resolution and images.shape[-1] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="nearest")
        return images


# ------------------------------------------------------------------ discriminator


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one channel: the mean over features of the std over each group of samples."""
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n / g]
    y = y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([x, y], dim=1)


class ProgressiveDiscriminator(nn.Module):
    """(images [N, C, r, r] at the stage's resolution, stage, alpha) -> logits float [N]."""

    def __init__(self, config: StyleGANLiteConfig):
        super().__init__()
        widths = stage_widths(config)
        self.from_rgb = nn.ModuleList(EqualConv2d(config.channels, c, 1) for c in widths)
        self.blocks = nn.ModuleList([nn.Identity()])
        for s in range(1, len(widths)):
            self.blocks.append(nn.ModuleList([EqualConv2d(widths[s], widths[s], 3),
                                              EqualConv2d(widths[s], widths[s - 1], 3)]))
        c0 = widths[0]
        self.final_conv = EqualConv2d(c0 + 1, c0, 3)
        self.final_linear = EqualLinear(c0 * 16, c0)
        self.out = EqualLinear(c0, 1)

    def _block(self, s: int, h: torch.Tensor) -> torch.Tensor:
        conv1, conv2 = self.blocks[s]
        h = lrelu(conv1(h))
        h = lrelu(conv2(h))
        return F.avg_pool2d(h, 2)

    def forward(self, x: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        h = lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self._block(stage, h)
            if alpha < 1.0:
                skip = lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(skip, h, alpha)
            for s in range(stage - 1, 0, -1):
                h = self._block(s, h)
        h = lrelu(self.final_conv(minibatch_stddev(h)))
        h = lrelu(self.final_linear(h.flatten(1)))
        return self.out(h).flatten()


# ------------------------------------------------------------------ model


def progressive_schedule(step: int, phase_steps: int, final_stage: int) -> tuple[int, float]:
    """(stage, alpha) at ``step``: stage s from s*phase_steps on, faded in over its first half."""
    stage = min(step // phase_steps, final_stage)
    if stage == 0:
        return 0, 1.0
    into = step - stage * phase_steps
    return stage, min(1.0, into / max(1, phase_steps // 2))


def real_at_stage(real: torch.Tensor, stage: int, final_stage: int, alpha: float) -> torch.Tensor:
    """Full-resolution real images down-sampled (2x2 means) to the stage, blended like the generator."""
    x = F.avg_pool2d(real, 2 ** (final_stage - stage)) if stage < final_stage else real
    if stage > 0 and alpha < 1.0:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
    return x


def ema_beta(step: int, batch_size: int, half_life_images: float, rampup: float) -> float:
    """Per-step decay of the weight average: 0.5 ** (batch / half-life), the half-life (in images)
    capped at ``rampup`` x images seen after this step."""
    half_life = min(half_life_images, rampup * (step + 1) * batch_size) if rampup > 0 else half_life_images
    return 0.5 ** (batch_size / max(half_life, 1e-8))


class StyleGANLite(GANModel):
    name = "stylegan-lite"
    config_class = StyleGANLiteConfig

    def __init__(self, config: StyleGANLiteConfig):
        super().__init__(config)
        self.generator = StyleGenerator(config)
        self.discriminator = ProgressiveDiscriminator(config)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas)

    def sampling_generator(self) -> nn.Module:
        return self.generator_ema

    def set_progress(self, step: int) -> tuple[int, float]:
        stage, alpha = progressive_schedule(step, self.config.phase_steps, self.generator.final_stage)
        for g in (self.generator, self.generator_ema):
            g.stage.fill_(stage)
            g.alpha.fill_(alpha)
        return stage, alpha

    def _fake(self, n: int, device) -> torch.Tensor:
        z = torch.randn(n, self.config.z_dim, device=device)
        mix_z, cutoff = None, None
        active_ws = 2 * (int(self.generator.stage) + 1)
        if torch.rand(()) < self.config.mixing_prob and active_ws > 1:
            mix_z = torch.randn(n, self.config.z_dim, device=device)
            cutoff = int(torch.randint(1, active_ws, ()))
        return self.generator(z, mix_z=mix_z, mix_cutoff=cutoff, full_resolution=False), z

    def train_step(self, next_batch, step: int) -> dict[str, float]:
        cfg = self.config
        stage, alpha = self.set_progress(step)
        real_full, _ = next_batch()
        real = real_at_stage(real_full, stage, self.generator.final_stage, alpha)
        n = real.shape[0]
        # Discriminator: logistic loss (+ lazy R1 on the real images).
        fake, _ = self._fake(n, real.device)
        self.opt_d.zero_grad(set_to_none=True)
        apply_r1 = cfg.r1_gamma > 0 and step % cfg.r1_interval == 0
        real_in = real.detach().requires_grad_(apply_r1)
        real_logits = self.discriminator(real_in, stage, alpha)
        fake_logits = self.discriminator(fake.detach(), stage, alpha)
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        r1 = torch.zeros(())
        if apply_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            loss_d = loss_d + (cfg.r1_gamma / 2) * r1 * cfg.r1_interval
        loss_d.backward()
        self.opt_d.step()
        # Generator: non-saturating logistic loss, with style mixing.
        self.opt_g.zero_grad(set_to_none=True)
        fake, z = self._fake(n, real.device)
        loss_g = F.softplus(-self.discriminator(fake, stage, alpha)).mean()
        loss_g.backward()
        self.opt_g.step()
        with torch.no_grad():
            w_mean = self.generator.mapping(z).mean(dim=0)
            self.generator.w_avg.lerp_(w_mean, 1 - cfg.w_avg_decay)
            beta = ema_beta(step, n, cfg.ema_half_life_images, cfg.ema_rampup)
            for p_ema, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
                b_ema.copy_(b)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "r1": r1.item(),
                "stage": float(stage), "alpha": alpha}

    @torch.no_grad()
    def generate(self, z, labels=None, *, truncation=None, noise_generator=None) -> torch.Tensor:
        """Images float [N, C, R, R] in [-1, 1] (clamped) from the weight-averaged generator."""
        net = self.generator_ema
        return net(z, truncation=truncation, noise_generator=noise_generator).clamp(-1, 1)
