"""The four reference models and their configurations (``small``: 32x32 CPU, ``large``: 64x64 GPU)."""

from __future__ import annotations

from ganeval_train.models.base import GANConfig, GANModel
from ganeval_train.models.cgan import CGAN, CGANConfig
from ganeval_train.models.dcgan import DCGAN, DCGANConfig
from ganeval_train.models.stylegan_lite import StyleGANLite, StyleGANLiteConfig
from ganeval_train.models.wgan_gp import WGANGP, WGANGPConfig

MODELS: dict[str, type[GANModel]] = {"dcgan": DCGAN, "wgan-gp": WGANGP, "cgan": CGAN, "stylegan-lite": StyleGANLite}

# Size presets. ``small``: 32x32, trains on a CPU in minutes; ``large``: 64x64 for a GPU.
PRESETS: dict[str, dict[str, dict]] = {
    "small": {
        "dcgan": dict(resolution=32, z_dim=64, width=32, batch_size=64),
        "wgan-gp": dict(resolution=32, z_dim=64, width=32, batch_size=32),
        "cgan": dict(resolution=32, z_dim=64, width=32, batch_size=64),
        "stylegan-lite": dict(resolution=32, z_dim=64, w_dim=64, width=16, max_width=64, batch_size=16,
                              phase_steps=150),
    },
    "large": {
        "dcgan": dict(resolution=64, z_dim=100, width=64, max_width=512, batch_size=128),
        "wgan-gp": dict(resolution=64, z_dim=128, width=64, max_width=512, batch_size=64),
        "cgan": dict(resolution=64, z_dim=100, width=64, max_width=512, batch_size=128),
        "stylegan-lite": dict(resolution=64, z_dim=256, w_dim=256, mapping_layers=8, width=64, max_width=256,
                              batch_size=32, phase_steps=6000, lr_g=1e-3, lr_d=1e-3,
                              r1_gamma=2.0),
    },
}


def build_model(name: str, preset: str = "small", **overrides) -> GANModel:
    """A freshly initialised model (uses the global torch RNG) from a preset plus overrides."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    cls = MODELS[name]
    values = {**PRESETS[preset][name], **{k: v for k, v in overrides.items() if v is not None}}
    return cls(cls.config_class.from_dict(values))


def model_from_config(name: str, config: dict) -> GANModel:
    cls = MODELS[name]
    return cls(cls.config_class.from_dict(config))


__all__ = ["MODELS", "PRESETS", "build_model", "model_from_config", "GANConfig", "GANModel",
           "DCGAN", "WGANGP", "CGAN", "StyleGANLite", "DCGANConfig", "WGANGPConfig", "CGANConfig",
           "StyleGANLiteConfig"]
