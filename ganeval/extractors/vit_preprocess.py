"""Input conventions of the ViT encoders: uint8 RGB images → the normalised float32 batch.

Each convention is the one a published evaluation used, reproduced operation by operation
(tests/test_vit_preprocess.py calls the reference transforms directly):

* ``dgm-eval`` (Stein et al., NeurIPS 2023; layer6ai-labs/dgm-eval, default, no
  ``--clean_resize``): ``torchvision.transforms.Resize((224, 224), BICUBIC)`` on the PIL
  image, i.e. PIL's bicubic resize of the uint8 image (antialiased, rounded to uint8), the
  aspect ratio not kept; ``ToTensor`` (/255) and ``Normalize`` with the ImageNet mean/std.
* ``edm2`` (Karras et al., CVPR 2024; NVlabs/edm2 ``calculate_metrics.py``, the default
  ``resize_mode='torch'``): ``F.interpolate(x.float(), (224, 224), mode='bicubic',
  antialias=True)`` on 0..255 floats, no rounding or clamping; /255 and the ImageNet mean/std.
* ``cmmd`` (Jayasumana et al., CVPR 2024; google-research ``cmmd/io_util.py``): centre
  crop to a square (offsets floored: ``(h - l) // 2``), PIL bicubic resize to 336, float32,
  /255, CLIP mean/std. (Its second, ``jax.image.resize`` to the size the image already has,
  is the identity.)
* ``clip-fid`` (clean-fid's ``clip_features.img_preprocess_clip``): torchvision
  ``Resize(224)`` (shorter side to 224, PIL bicubic, long side ``int(224 * long / short)``),
  ``CenterCrop(224)`` (offsets ``round((h - 224) / 2)``, half to even), /255, CLIP mean/std.
  (clean-fid's ``ToTensor() * 255`` before its ``/ 255`` gives back every uint8 value exactly
  in float32, so it is left out; the test runs it.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# The table of conventions is plain data in the core, which the file readers also use.
from ganeval.core.identity import CLIP_MEAN, CLIP_STD, CONVENTIONS, IMAGENET_MEAN, IMAGENET_STD, Convention
from ganeval.core.errors import GanevalError

__all__ = ["Convention", "CONVENTIONS", "IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD",
           "preprocess_vit", "as_image_list"]


def as_image_list(images) -> list[torch.Tensor]:
    """uint8 [N, 3, H, W] tensor/array or a sequence of uint8 [3, H, W] → list of CPU uint8 [3, H, W]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise GanevalError(f"expected uint8 images [N, 3, H, W], got shape {list(images.shape)}")
        images = list(images)
    if not isinstance(images, Sequence):
        raise GanevalError(f"expected uint8 images, got {type(images).__name__}")
    out = []
    for image in images:
        image = torch.as_tensor(image)
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise GanevalError(f"expected uint8 [3, H, W] images, got {image.dtype} {list(image.shape)}")
        out.append(image.cpu())
    return out


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy()), "RGB")


def _from_pil(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


def _normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """(x - mean) / std in float32, as torchvision's Normalize (mean/std cast to float32 first)."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def _resize_uint8(image: torch.Tensor, convention: Convention) -> torch.Tensor:
    size = convention.size
    pil = _pil(image)
    if convention.resize == "pil-bicubic":
        return _from_pil(pil.resize((size, size), Image.BICUBIC))
    if convention.resize == "center-crop+pil-bicubic":
        w, h = pil.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        return _from_pil(pil.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC))
    if convention.resize == "short-side+center-crop":
        w, h = pil.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size * long / short)
        new_w, new_h = (size, new_long) if w <= h else (new_long, size)
        if (new_w, new_h) != (w, h):
            pil = pil.resize((new_w, new_h), Image.BICUBIC)
        top = int(round((new_h - size) / 2.0))
        left = int(round((new_w - size) / 2.0))
        return _from_pil(pil.crop((left, top, left + size, top + size)))
    raise AssertionError(convention.resize)


def preprocess_vit(images, convention: str | Convention, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (see :func:`as_image_list`) → normalised float32 [N, 3, S, S] on ``device``."""
    if isinstance(convention, str):
        if convention not in CONVENTIONS:
            raise GanevalError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
        convention = CONVENTIONS[convention]
    images = as_image_list(images)
    if not images:
        raise GanevalError("no images to preprocess")
    size = convention.size
    if convention.resize == "torch-bicubic-antialias":
        # Per image (sizes may differ); a same-size batch gives the same numbers (the op is per image).
        same = len({tuple(im.shape) for im in images}) == 1
        groups = [torch.stack(images)] if same else [im[None] for im in images]
        out = [F.interpolate(g.to(device, torch.float32), size=(size, size), mode="bicubic", antialias=True)
               for g in groups]
        x = torch.cat(out) / 255
    else:
        x = torch.stack([_resize_uint8(im, convention) for im in images]).to(device, torch.float32)
        x = x / 255
    return _normalize(x, convention.mean, convention.std)
