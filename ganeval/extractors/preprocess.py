"""Resize and normalise uint8 images into the input the TF Inception network expects.

Every mode takes uint8 RGB ``[N, 3, H, W]`` and returns float32 ``[N, 3, 299, 299]``
in roughly [-1, 1]. The modes differ only in how they resize, and each reproduces
the preprocessing of one widely used FID tool:

- ``tf1`` (default): the original TF FID (TTUR). Bilinear resize as TF1's
  ``tf.image.resize_bilinear(align_corners=False)`` inside the 2015 Inception graph:
  no half-pixel offset, float32 source coordinates; then ``(x - 128) / 128``.
- ``nvidia``: StyleGAN2-ADA / StyleGAN3 metrics. ``F.interpolate`` bilinear with
  ``align_corners=False`` (half-pixel centres, no antialias) on 0..255; then ``(x - 128) / 128``.
- ``pytorch-fid``: mseitzer/pytorch-fid. Same resize as ``nvidia`` but on ``x / 255``,
  then ``2x - 1``.
- ``clean``: clean-fid's default ``mode="clean"``. Each channel resized as a float32
  PIL image with bicubic (antialiased when downscaling), clipped to [0, 255] as current
  clean-fid does (its earliest releases did not clip); then ``(x - 128) / 128``. Runs on the CPU.

Images that are already 299x299 are only normalised, in every mode (each tool's resize
is the identity there too).

Input conventions are settled earlier, by the source layer: grayscale is replicated
to three channels, alpha is dropped, 16-bit images are scaled to 8 bits, and float
images are converted to uint8 before they reach :func:`preprocess`.
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganeval.core.errors import GanevalError

from ganeval.core.choices import DEFAULT_MODE, MODES  # noqa: F401  (defined without torch, for the CLI)
from ganeval.core.images import to_uint8_batch, to_uint8_chw  # noqa: F401  (the sources use them too)
INPUT_SIZE = 299


def preprocess(images: torch.Tensor, mode: str = DEFAULT_MODE) -> torch.Tensor:
    """Turn uint8 ``[N, 3, H, W]`` (0..255, any device) into float32 ``[N, 3, 299, 299]``
    normalised for the Inception network, on the same device."""
    if mode not in MODES:
        raise GanevalError(f"unknown preprocessing mode {mode!r}; choose one of: {', '.join(MODES)}")
    _check_images(images)

    x = images.to(torch.float32)
    needs_resize = tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE)
    if mode == "pytorch-fid":
        x = x / 255
        if needs_resize:
            x = _resize_half_pixel_bilinear(x)
        return 2 * x - 1
    if needs_resize:
        if mode == "tf1":
            x = tf1_resize_bilinear(x, INPUT_SIZE, INPUT_SIZE)
        elif mode == "nvidia":
            x = _resize_half_pixel_bilinear(x)
        else:
            x = _resize_clean(x)
    return x.sub_(128).div_(128)  # normalise() in place: x is always a fresh tensor here


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Map float32 0..255 to roughly [-1, 1] as ``(x - 128) / 128`` (the TF graph's own constants)."""
    return (x - 128) / 128


def tf1_resize_bilinear(x: torch.Tensor, out_h: int, out_w: int, *, per_image: bool | None = None) -> torch.Tensor:
    """Resize float32 ``[N, C, H, W]`` to ``[N, C, out_h, out_w]`` exactly as TF1's
    ``resize_bilinear(align_corners=False)``; values keep their range.

    Output index ``i`` samples source coordinate ``i * (in / out)`` computed in float32,
    as TF does; neighbours ``floor`` and ``min(floor + 1, in - 1)``. Works for up- and
    downscaling (downscaling skips pixels: no antialiasing, as in TF).

    ``per_image``: None (default) resizes image by image on the CPU (cache-friendly) and the
    whole batch at once on other devices (a GPU: one set of kernels per batch, not per image);
    True/False force either. Both give bit-identical results (each output value is the same
    two-tap lerp of the same inputs; tests/test_pipeline.py checks it).
    """
    # Two-tap gathers and lerps, width then height, mirror TF's own float32 arithmetic
    # and avoid matmuls, whose TF32 mode on GPUs would cost ~1e-3 relative precision.
    if per_image is None:
        per_image = x.device.type == "cpu"
    if per_image and x.shape[0] > 1:
        # One image at a time stays in the CPU caches: 5.4x faster than the whole batch at
        # once (256->299, batch 50: 1.07 vs 5.8 ms per image), bit-identical.
        out = x.new_empty(x.shape[0], x.shape[1], out_h, out_w)
        for i in range(x.shape[0]):
            out[i] = tf1_resize_bilinear(x[i:i + 1], out_h, out_w, per_image=False)[0]
        return out
    x = _tf1_lerp_along(x, dim=3, out_size=out_w)
    return _tf1_lerp_along(x, dim=2, out_size=out_h)


@functools.lru_cache(maxsize=64)
def _tf1_taps(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lower index, upper index, weight) of TF1's bilinear taps, on ``device``, computed once.

    Computed in float32 on the CPU as TF does and copied once per (sizes, device): a copy per
    batch would be a synchronising host-to-device transfer on a GPU, stalling the pipeline.
    """
    with torch.inference_mode(False):  # plain tensors: usable inside and outside inference mode
        scale = torch.tensor(in_size / out_size, dtype=torch.float32)
        src = torch.arange(out_size, dtype=torch.float32) * scale
        lower = src.floor()
        weight = src - lower
        lower_index = lower.to(torch.int64).clamp(max=in_size - 1)
        upper_index = (lower_index + 1).clamp(max=in_size - 1)
        return lower_index.to(device), upper_index.to(device), weight.to(device)


def _tf1_lerp_along(x: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
    lower_index, upper_index, weight = _tf1_taps(x.shape[dim], out_size, x.device)
    lower_values = x.index_select(dim, lower_index)
    out = x.index_select(dim, upper_index)
    weight_shape = [1] * x.dim()
    weight_shape[dim] = out_size
    # lower + (upper - lower) * weight, in place on the fresh gathered tensor (same rounding)
    return out.sub_(lower_values).mul_(weight.view(weight_shape)).add_(lower_values)


def _resize_half_pixel_bilinear(x: torch.Tensor) -> torch.Tensor:
    """float32 ``[N, C, H, W]`` -> ``[N, C, 299, 299]`` with half-pixel centres, no antialias."""
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)


def _resize_clean(x: torch.Tensor) -> torch.Tensor:
    """float32 0..255 ``[N, C, H, W]`` -> ``[N, C, 299, 299]`` via PIL bicubic per channel,
    clipped to [0, 255] as clean-fid does; computed on the CPU, returned on ``x.device``."""
    planes = x.detach().cpu().numpy()
    resized = np.empty(planes.shape[:2] + (INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for n in range(planes.shape[0]):
        for c in range(planes.shape[1]):
            # A 2-D float32 array becomes a mode "F" image, whose resampling stays in float.
            plane = Image.fromarray(np.ascontiguousarray(planes[n, c]))
            plane = plane.resize((INPUT_SIZE, INPUT_SIZE), resample=Image.Resampling.BICUBIC)
            resized[n, c] = np.asarray(plane)
    np.clip(resized, 0, 255, out=resized)
    return torch.from_numpy(resized).to(x.device)


def _check_images(images) -> None:
    if not isinstance(images, torch.Tensor):
        raise GanevalError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise GanevalError(
            f"images must be uint8 in 0..255, got {images.dtype}; convert them to uint8 first"
        )
    if images.dim() != 4 or images.shape[1] != 3:
        raise GanevalError(
            f"images must have shape [N, 3, H, W] (RGB), got {list(images.shape)}"
        )
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise GanevalError(f"images must have non-zero height and width, got shape {list(images.shape)}")
