"""LPIPS-VGG16 (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018, v0.1), the image distance of the perceptual path length.

    LPIPS(x0, x1) = Σ_l mean_{h,w} Σ_c w_lc (f̂_l(x0) − f̂_l(x1))²_chw,

f_l the VGG16 activations after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 (torchvision's
``vgg16().features`` indices 3, 8, 15, 22, 29), f̂ = f / (‖f‖_channels + 1e-10), and w_l ≥ 0 the
learned 1 × 1 "linear" layers. Inputs are images in [0, 255] (any float dtype or uint8), scaled
as the ``lpips`` package and torch-fidelity do: ((x / 127.5 − 1) − shift) / scale with
shift = (−.030, −.088, −.188), scale = (.458, .448, .450); optionally resized (torch-fidelity's rule:
area when both sides are larger than the target, bilinear otherwise).

No weights ship with ganeval. :func:`lpips_vgg16` loads the published layouts:

* the backbone: torchvision's ImageNet VGG16 state dict (``vgg16-397923af.pth``; keys
  ``features.N.weight``), or a whole ``lpips.LPIPS``/torch-fidelity LPIPS state dict
  (``net.sliceK.N.weight``);
* the linear layers: the ``lpips`` package's ``weights/v0.1/vgg.pth`` (which it ships) or
  torch-fidelity's ``weights-vgg16-lpips.pth`` (the same file; keys ``linK.model.1.weight``), or a
  whole ``lpips.LPIPS`` state dict.

tests/test_lpips_ppl.py checks the network against both packages' own LPIPS on the same weights.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganeval.core.errors import GanevalError

__all__ = ["LPIPSVGG16", "lpips_vgg16", "VGG16_CONFIG", "TAP_INDICES", "CHANNELS"]

# torchvision's VGG16 "D" configuration of ``features``: ints are 3×3 conv widths, "M" a 2×2 max pool.
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
TAP_INDICES = (3, 8, 15, 22, 29)  # relu1_2 … relu5_3 in torchvision's numbering
CHANNELS = (64, 128, 256, 512, 512)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPSVGG16(nn.Module):
    """LPIPS with a VGG16 backbone; ``forward(x0, x1)`` → distances float [N] for images [N, 3, H, W] in [0, 255].

    ``features`` has torchvision's layout (``features.N.weight``); ``lin`` holds the five 1×1 weights
    [1, C_l, 1, 1]. Freshly built it has no trained weights: load them with :func:`lpips_vgg16`.
    """

    def __init__(self, resize: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG16_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.lin = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in CHANNELS])
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])
        self.resize = resize
        self.requires_grad_(False)
        self.eval()

    def scaled_input(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [0, 255] → the network's input (scaled, then resized if ``resize``)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise GanevalError(f"LPIPS needs RGB images [N, 3, H, W], got shape {list(images.shape)}")
        x = (images.float() / 127.5 - 1.0 - self.shift) / self.scale
        if self.resize is not None:
            size = int(self.resize)
            if x.shape[-1] > size and x.shape[-2] > size:
                x = F.interpolate(x, (size, size), mode="area")
            else:
                x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False)
        return x

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAP_INDICES:
                taps.append(x)
        return taps

    def forward(self, images0: torch.Tensor, images1: torch.Tensor) -> torch.Tensor:
        if images0.shape != images1.shape:
            raise GanevalError(f"LPIPS compares images of one shape, got {list(images0.shape)} and {list(images1.shape)}")
        taps0 = self.activations(self.scaled_input(images0))
        taps1 = self.activations(self.scaled_input(images1))
        total = 0.0
        for f0, f1, weight in zip(taps0, taps1, self.lin):
            f0 = f0 / (f0.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            f1 = f1 / (f1.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((f0 - f1) ** 2, weight).mean(dim=(2, 3))[:, 0]
        return total


def _as_state_dict(source, what: str) -> dict:
    if isinstance(source, dict):
        return source
    path = Path(os.fspath(source))
    if not path.is_file():
        raise GanevalError(f"{path}: no such {what} weight file; pass the path of the .pth file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise GanevalError(f"{path}: cannot read {what} weights ({type(err).__name__}); download the file again") from None
    return state.state_dict() if isinstance(state, nn.Module) else state


def _backbone_from(state: dict) -> dict:
    """torchvision ``features.N.*`` keys from a torchvision VGG16 or an LPIPS (``net.sliceK.N.*``) state dict."""
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r"(?:net\.slice\d\.|features\.)(\d+)\.(weight|bias)", key)
        if match:
            out[f"{match[1]}.{match[2]}"] = value
    return out


def _linear_from(state: dict) -> list[torch.Tensor] | None:
    weights = [state.get(f"lin{k}.model.1.weight", state.get(f"lins.{k}.model.1.weight")) for k in range(5)]
    return None if any(w is None for w in weights) else weights


def lpips_vgg16(backbone, linear=None, *, resize: int | None = None, device=None) -> LPIPSVGG16:
    """LPIPS-VGG16 with weights from ``backbone`` and ``linear`` (paths or state dicts; see the module docstring).

    ``linear`` may be left out when ``backbone`` is a whole LPIPS state dict that holds both.
    """
    model = LPIPSVGG16(resize=resize)
    backbone_state = _as_state_dict(backbone, "VGG16 backbone")
    convs = _backbone_from(backbone_state)
    expected = model.features.state_dict()
    if set(convs) != set(expected) or any(convs[k].shape != expected[k].shape for k in expected):
        raise GanevalError(f"{backbone if not isinstance(backbone, dict) else 'the backbone state dict'}: not a VGG16 "
                           "backbone (expected torchvision's features.N.weight or LPIPS' net.sliceK.N.weight keys)")
    model.features.load_state_dict(convs)
    lin = _linear_from(_as_state_dict(linear, "LPIPS linear") if linear is not None else backbone_state)
    if lin is None or any(tuple(w.shape) != (1, c, 1, 1) for w, c in zip(lin, CHANNELS)):
        raise GanevalError(f"{linear if linear is not None and not isinstance(linear, dict) else 'the weights'}: no "
                           "LPIPS-VGG16 linear layers (lin0.model.1.weight … lin4.model.1.weight); pass lpips' "
                           "weights/v0.1/vgg.pth or torch-fidelity's weights-vgg16-lpips.pth")
    for param, weight in zip(model.lin, lin):
        param.data.copy_(weight)
    return model.to(device) if device is not None else model
