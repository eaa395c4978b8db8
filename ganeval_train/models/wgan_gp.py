"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

Critic: the DCGAN discriminator without BatchNorm (the penalty is per-sample, BatchNorm would
couple samples), linear output. Critic loss: D(fake) - D(real) + lambda * (||grad D(x_hat)||_2 - 1)^2
with x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample, lambda = 10;
n_critic = 5 critic steps per generator step; generator loss -D(G(z)). Adam lr 1e-4, betas (0, 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganeval_train.models.base import GANConfig, GANModel, init_normal_002
from ganeval_train.models.dcgan import DCGANDiscriminator, DCGANGenerator


@dataclass
class WGANGPConfig(GANConfig):
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    gp_weight: float = 10.0
    n_critic: int = 5


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """mean over the batch of (||grad_x critic(x_hat)||_2 - 1)^2, x_hat = eps*real + (1-eps)*fake.

    ``eps`` float [N] in [0, 1] (drawn uniformly when None). Differentiable (create_graph) so the
    penalty trains the critic. Returns a scalar tensor (without the lambda factor).
    """
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device)
    eps = eps.view(n, *([1] * (real.dim() - 1))).to(real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class WGANGP(GANModel):
    name = "wgan-gp"
    config_class = WGANGPConfig

    def __init__(self, config: WGANGPConfig):
        super().__init__(config)
        self.generator = DCGANGenerator(config)
        self.discriminator = DCGANDiscriminator(config, norm=False)
        init_normal_002(self)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas)

    def train_step(self, next_batch, step: int) -> dict[str, float]:
        cfg = self.config
        for _ in range(cfg.n_critic):
            real, _ = next_batch()
            z = torch.randn(real.shape[0], cfg.z_dim, device=real.device)
            with torch.no_grad():
                fake = self.generator(z)
            self.opt_d.zero_grad(set_to_none=True)
            wasserstein = self.discriminator(real).mean() - self.discriminator(fake).mean()
            penalty = gradient_penalty(self.discriminator, real, fake)
            loss_d = -wasserstein + cfg.gp_weight * penalty
            loss_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        z = torch.randn(cfg.batch_size, cfg.z_dim, device=real.device)
        loss_g = -self.discriminator(self.generator(z)).mean()
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "wasserstein": wasserstein.item(),
                "gp": penalty.item()}
