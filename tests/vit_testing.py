"""Helpers shared by the ViT encoder tests: random weights in an official layout, test images."""

from __future__ import annotations

import torch


def randomise_(state: dict[str, torch.Tensor], seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random values for every floating tensor, at scales that keep a deep ViT's activations O(1):
    norm scales 1 ± 0.1, LayerScale 0.5..1.5, biases N(0, 0.02²), matrices N(0, 1/fan_in),
    embeddings N(0, 0.5²). Returns new tensors of ``dtype`` (cast one by one, to keep memory low)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, value in state.items():
        if not value.is_floating_point():
            out[name] = value.clone()
            continue
        shape = value.shape
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            t = 0.5 + torch.rand(shape, generator=g)
        elif leaf == "weight" and ("norm" in name or ".ln_" in name or name.startswith("ln_")):
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        elif leaf.endswith("bias"):
            t = 0.02 * torch.randn(shape, generator=g)
        elif value.ndim >= 2 and "embed" not in name and "token" not in name:
            t = torch.randn(shape, generator=g) / (value[0].numel() ** 0.5)
        else:
            t = 0.5 * torch.randn(shape, generator=g)
        out[name] = t.to(dtype)
    return out


def smooth_images(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """uint8 [n, 3, height, width]: upsampled noise (image-like spectra, full 0..255 range)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(2, height // 8), max(2, width // 8), generator=g)
    x = torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
    x = x + 0.08 * torch.randn(n, 3, height, width, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


class _Holder(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_torchscript_state(state: dict[str, torch.Tensor], path) -> None:
    """A TorchScript archive whose state_dict() is ``state`` (OpenAI ships CLIP as TorchScript)."""
    import warnings

    root = _Holder()
    for name, tensor in state.items():
        *parents, leaf = name.split(".")
        module = root
        for part in parents:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        if tensor.is_floating_point():
            module.register_parameter(leaf, torch.nn.Parameter(tensor, requires_grad=False))
        else:
            module.register_buffer(leaf, tensor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(root).save(str(path))
