"""Conditional DCGAN: the class enters both networks.

Generator: [z, embedding(y)] -> the DCGAN generator. Discriminator: the DCGAN trunk, then a
projection head (Miyato & Koyama 2018): logit = w . h + embedding(y) . h with h the flattened
features. When training D the fake images are generated from the labels of the real batch,
so D sees the same labels on both sides. Same losses and optimiser as DCGAN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganeval_train.models.base import GANModel, check_resolution, init_normal_002
from ganeval_train.models.dcgan import DCGANConfig, DCGANDiscriminatorTrunk, DCGANGenerator


@dataclass
class CGANConfig(DCGANConfig):
    num_classes: int = 10
    embed_dim: int = 16


class ConditionalGenerator(nn.Module):
    """(z float [N, z_dim], labels int64 [N]) -> images float [N, C, R, R] in [-1, 1]."""

    def __init__(self, config: CGANConfig):
        super().__init__()
        self.embed = nn.Embedding(config.num_classes, config.embed_dim)
        self.body = DCGANGenerator(config, in_dim=config.z_dim + config.embed_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, self.embed(labels)], dim=1))


class ProjectionDiscriminator(nn.Module):
    """(images [N, C, R, R], labels int64 [N]) -> logits float [N]."""

    def __init__(self, config: CGANConfig):
        super().__init__()
        base, _ = check_resolution(config.resolution)
        self.trunk = DCGANDiscriminatorTrunk(config)
        features = self.trunk.out_channels * base * base
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(config.num_classes, features)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x).flatten(1)
        return self.linear(h).flatten() + (self.embed(labels) * h).sum(dim=1)


class CGAN(GANModel):
    name = "cgan"
    config_class = CGANConfig
    conditional = True

    def __init__(self, config: CGANConfig):
        super().__init__(config)
        if config.num_classes < 1:
            raise ValueError("cgan needs num_classes >= 1")
        self.generator = ConditionalGenerator(config)
        self.discriminator = ProjectionDiscriminator(config)
        init_normal_002(self)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas)

    def train_step(self, next_batch, step: int) -> dict[str, float]:
        real, labels = next_batch()
        z = torch.randn(real.shape[0], self.config.z_dim, device=real.device)
        fake = self.generator(z, labels)  # the real batch's labels: D compares like with like
        self.opt_d.zero_grad(set_to_none=True)
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake.detach(), labels)
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        gen_logits = self.discriminator(fake, labels)
        loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def class_labels(self, n: int, class_index: int | None = None) -> torch.Tensor:
        """int64 [n]: all ``class_index``, or 0, 1, ..., K-1 repeated (balanced classes)."""
        if class_index is None:
            return torch.arange(n, device=self.device) % self.config.num_classes
        return torch.full((n,), class_index, dtype=torch.int64, device=self.device)
