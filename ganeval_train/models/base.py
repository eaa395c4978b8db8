"""What every model shares: configuration, the training-step contract, sampling and state.

A model owns its generator, discriminator (critic) and their optimisers. Images are float
``[N, C, H, W]`` in [-1, 1] (tanh range) everywhere inside ``ganeval_train``.
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch
from torch import nn

BatchFn = Callable[[], tuple[torch.Tensor, torch.Tensor]]  # -> (images float [-1, 1], labels int64)


@dataclass
class GANConfig:
    """Hyper-parameters common to all models; each model adds its own fields."""

    resolution: int = 32
    channels: int = 1  # image channels (1 gray, 3 RGB)
    z_dim: int = 64
    width: int = 32  # channels of the widest-resolution layer; deeper layers double it
    max_width: int = 256
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    num_classes: int = 0  # > 0 only for conditional models

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "GANConfig":
        known = {f.name for f in fields(cls)}
        values = {k: (tuple(v) if k == "betas" else v) for k, v in values.items() if k in known}
        return cls(**values)


def check_resolution(resolution: int) -> tuple[int, int]:
    """(base size, number of 2x up-samplings) for 28 (7x7 base) or a power of two >= 8 (4x4 base)."""
    base = 7 if resolution % 7 == 0 else 4
    ups = round(math.log2(resolution / base))
    if ups < 1 or base * 2 ** ups != resolution:
        raise ValueError(f"resolution must be 28 or a power of two >= 8, got {resolution}")
    return base, ups


def init_normal_002(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class GANModel(nn.Module, metaclass=abc.ABCMeta):
    """Base class. Subclasses build ``generator``, ``discriminator``, ``opt_g``, ``opt_d``."""

    name = "gan"
    config_class = GANConfig
    conditional = False

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config

    # ---------------------------------------------------------------- training
    @abc.abstractmethod
    def train_step(self, next_batch: BatchFn, step: int) -> dict[str, float]:
        """One generator update (and its discriminator updates); returns the losses as floats."""

    # ---------------------------------------------------------------- sampling
    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latent codes z ~ N(0, I): float32 [n, z_dim] on the model's device."""
        return torch.randn(n, self.config.z_dim, generator=generator, device="cpu").to(self.device)

    def sampling_generator(self) -> nn.Module:
        """The network used for samples (StyleGAN-lite uses its weight average)."""
        return self.generator

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, truncation: float | None = None,
                 noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """Images float [N, C, R, R] in [-1, 1] from z [N, z_dim], in eval mode (no state changes)."""
        if truncation is not None:
            raise ValueError(f"{self.name} has no truncation trick (only stylegan-lite)")
        net = self.sampling_generator()
        was_training = net.training
        net.eval()
        try:
            return net(z, labels) if self.conditional else net(z)
        finally:
            net.train(was_training)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---------------------------------------------------------------- state
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def training_state(self) -> dict:
        """Everything to resume training: weights, buffers and optimiser states."""
        return {"model": self.state_dict(), **{k: o.state_dict() for k, o in self.optimizers().items()}}

    def load_training_state(self, state: dict) -> None:
        self.load_state_dict(state["model"])
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state[key])


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
