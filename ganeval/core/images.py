"""In-memory images (tensors, arrays) → uint8 RGB, the one conversion every room agrees on.

The image sources (``ganeval.io.sources``), the extractors and the training callback all turn
what a user hands over into uint8 with these functions, so an image gives the same features
whichever road it takes.
"""

from __future__ import annotations

import torch

from ganeval.core.errors import GanevalError

__all__ = ["to_uint8_batch", "to_uint8_chw"]


def to_uint8_batch(item, description: str = "images") -> torch.Tensor:
    """A tensor/array [N, C, H, W] or [C, H, W], C in {1, 3} → uint8 [N, 3, H, W] on the same device.

    uint8 passes through. Floats must lie in [0, 1] and are quantised the way
    ``torchvision.utils.save_image`` writes PNGs, ``floor(255·x + 0.5)`` clamped to 0..255,
    so in-memory images give the same features as the same images saved to disk.
    """
    tensor = torch.as_tensor(item).detach()
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[1] not in (1, 3):
        raise GanevalError(
            f"{description}: expected image tensors [N, C, H, W] or [C, H, W] with C = 1 or 3, got {tuple(tensor.shape)}"
        )
    if tensor.dtype.is_floating_point:
        lo, hi = float(tensor.min()), float(tensor.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise GanevalError(
                f"{description}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "for generator output in [-1, 1] pass (x + 1) / 2"
            )
        tensor = (tensor * 255 + 0.5).clamp_(0, 255).to(torch.uint8)
    elif tensor.dtype != torch.uint8:
        raise GanevalError(f"{description}: images must be uint8 or float in [0, 1], got {tensor.dtype}")
    if tensor.shape[1] == 1:
        tensor = tensor.expand(-1, 3, -1, -1)
    return tensor.contiguous()


def to_uint8_chw(item, description: str = "images") -> list[torch.Tensor]:
    """Like :func:`to_uint8_batch`, as a list of uint8 [3, H, W] images."""
    return list(to_uint8_batch(item, description).unbind(0))
