"""DCGAN (Radford et al. 2016): transposed-convolution generator, strided-convolution discriminator.

Generator: z [N, z_dim] -> ConvT(k=base) to base x base -> [ConvT(4, stride 2) + BN + ReLU] x ups
-> ConvT to C channels, tanh -> [N, C, R, R] in [-1, 1].
Discriminator: [Conv(4, stride 2) (+ BN except the first) + LeakyReLU(0.2)] x ups -> Conv(k=base) -> logit.
Loss: BCE-with-logits, non-saturating generator loss (maximise log D(G(z))).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganeval_train.models.base import GANConfig, GANModel, check_resolution, init_normal_002


@dataclass
class DCGANConfig(GANConfig):
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


def layer_widths(config: GANConfig) -> list[int]:
    """Channels from the base resolution up to the last hidden layer, e.g. [128, 64, 32] for 32x32."""
    _, ups = check_resolution(config.resolution)
    return [min(config.width * 2 ** i, config.max_width) for i in reversed(range(ups))]


class DCGANGenerator(nn.Module):
    """z float [N, in_dim] -> images float [N, C, R, R] in [-1, 1]."""

    def __init__(self, config: GANConfig, in_dim: int | None = None):
        super().__init__()
        base, _ = check_resolution(config.resolution)
        widths = layer_widths(config)
        in_dim = config.z_dim if in_dim is None else in_dim
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, widths[0], base, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], config.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminatorTrunk(nn.Module):
    """images [N, C, R, R] -> features [N, widest, base, base]; BN everywhere but the first layer if ``norm``."""

    def __init__(self, config: GANConfig, norm: bool = True, in_channels: int | None = None):
        super().__init__()
        widths = list(reversed(layer_widths(config)))
        in_channels = config.channels if in_channels is None else in_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)]
            if norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
        self.net = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCGANDiscriminator(nn.Module):
    """images float [N, C, R, R] -> logits float [N] (a linear output; the loss applies the sigmoid)."""

    def __init__(self, config: GANConfig, norm: bool = True):
        super().__init__()
        base, _ = check_resolution(config.resolution)
        self.trunk = DCGANDiscriminatorTrunk(config, norm)
        self.head = nn.Conv2d(self.trunk.out_channels, 1, base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).flatten()


class DCGAN(GANModel):
    name = "dcgan"
    config_class = DCGANConfig

    def __init__(self, config: DCGANConfig):
        super().__init__(config)
        self.generator = DCGANGenerator(config)
        self.discriminator = DCGANDiscriminator(config)
        init_normal_002(self)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas)

    def train_step(self, next_batch, step: int) -> dict[str, float]:
        real, _ = next_batch()
        n = real.shape[0]
        z = torch.randn(n, self.config.z_dim, device=real.device)
        fake = self.generator(z)
        # Discriminator: real -> 1, fake -> 0.
        self.opt_d.zero_grad(set_to_none=True)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        loss_d.backward()
        self.opt_d.step()
        # Generator, non-saturating: label its samples as real.
        self.opt_g.zero_grad(set_to_none=True)
        gen_logits = self.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}
