"""Decoding image files and arrays to uint8 RGB.

Conventions (the same for every source):

* The result is always ``numpy.uint8`` ``[H, W, 3]`` RGB.
* Grayscale (``L``, ``1``) is replicated to three channels.
* Alpha is dropped (``RGBA``, ``LA``, ``PA``): the colour channels are kept as they are,
  not composited on a background.
* Palette, CMYK and YCbCr images are converted to RGB by Pillow.
* 16-bit images keep their high byte (``v >> 8``): this is what Pillow itself does
  for 16-bit RGB PNGs, and we apply it to 16-bit grayscale too, which Pillow's own
  ``convert("RGB")`` would clip to 255 instead of scaling.
* Multi-frame files (GIF, TIFF) contribute their first frame.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganeval.core.choices import DEFAULT_MAX_PIXELS  # Pillow's decompression-bomb limit, defined without PIL
from ganeval.core.errors import BadImageError, GanevalError, one_line
from ganeval.io.preflight import IMAGE_EXTENSIONS  # noqa: F401  (defined with the light checks)





def decode_image_bytes(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded image file to uint8 ``[H, W, 3]``; raise BadImageError naming ``name``.

    Images of more than ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`) are refused
    from their header, before any pixel is decoded.
    """
    if len(data) == 0:
        raise BadImageError(name, "empty file, 0 bytes")
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    previous_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # the check below replaces Pillow's, with our limit and message
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > limit:
                    raise BadImageError(name, f"{width}x{height} = {width * height:,} pixels, above --max-pixels "
                                              f"{limit:,}; pass a larger --max-pixels to read it")
                img.load()  # forces full decoding: truncated files fail here
                return pil_to_rgb_array(img)
    except UnidentifiedImageError:
        raise BadImageError(name, "not an image Pillow can read") from None
    except MemoryError:
        raise BadImageError(name, "not enough memory to decode it") from None
    except BadImageError:
        raise
    except Exception as err:  # hostile files drive Pillow's decoders into many exception types
        raise BadImageError(name, one_line(err)) from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image to uint8 ``[H, W, 3]`` following the module conventions."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img)
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError("32-bit integer image out of the 16-bit range")
        gray = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        raise ValueError("floating-point image files are not supported; save as 8- or 16-bit")
    if mode in ("L", "1"):
        gray = np.asarray(img.convert("L"))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "LA":
        gray = np.asarray(img)[:, :, 0]
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")  # RGBA -> RGB drops alpha; CMYK/YCbCr are converted
    return np.array(img, dtype=np.uint8)  # a writable copy (torch.from_numpy needs one)


def array_to_uint8_images(array, name: str) -> np.ndarray:
    """Normalise an image array to uint8 ``[N, H, W, 3]``.

    Accepts uint8 ``[N, H, W]`` (grayscale), ``[N, H, W, C]`` (NHWC) or ``[N, C, H, W]``
    (NCHW) with C in {1, 3, 4}; NHWC is assumed when the last axis has 1, 3 or 4 entries.
    """
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise GanevalError(
            f"{name}: image arrays must be uint8 (0..255), got {arr.dtype}; "
            "convert with (x * 255).round().clip(0, 255).astype(np.uint8)"
        )
    if arr.ndim == 3:
        arr = arr[:, :, :, None]
    elif arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise GanevalError(
            f"{name}: expected images shaped [N, H, W], [N, H, W, C] or [N, C, H, W] with C in 1, 3, 4; "
            f"got shape {tuple(np.asarray(array).shape)}"
        )
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=3)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)
