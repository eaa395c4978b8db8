"""Demo data: real photographs shipped by scikit-image, written as PNG files.

scikit-image bundles ``lfw_subset.npy``: 200 grayscale 25×25 photographs from Labeled
Faces in the Wild (100 faces, then 100 non-face crops of the same photographs), float64
in [0, 1]. The demo writes some of them as PNGs and a perturbed copy (Gaussian blur of
σ = 1 pixel plus Gaussian noise of σ = 8 grey levels, fixed seed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ganeval.core.errors import GanevalError


def lfw_photographs() -> np.ndarray:
    """The 200 LFW photographs bundled with scikit-image, uint8 [200, 25, 25]."""
    try:
        import skimage
    except ImportError:
        raise GanevalError("the demo needs scikit-image (pip install scikit-image)") from None
    path = Path(os.path.dirname(skimage.__file__)) / "data" / "lfw_subset.npy"
    if not path.is_file():
        raise GanevalError(f"{path}: missing from this scikit-image install; reinstall scikit-image")
    return np.round(np.load(path) * 255).clip(0, 255).astype(np.uint8)


def write_demo_images(out_dir: Path, n_images: int = 100, seed: int = 0) -> tuple[Path, Path]:
    """Write ``n_images`` real photographs to out_dir/real and a perturbed copy to out_dir/perturbed."""
    photos = lfw_photographs()
    # Alternate faces and non-faces so that any prefix mixes both kinds.
    order = np.stack([np.arange(100), np.arange(100, 200)], axis=1).reshape(-1)[:n_images]
    rng = np.random.default_rng(seed)
    real_dir, perturbed_dir = out_dir / "real", out_dir / "perturbed"
    for folder in (real_dir, perturbed_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for i, index in enumerate(order):
        Image.fromarray(photos[index]).save(real_dir / f"{i:04d}.png")
        Image.fromarray(degrade(photos[index], rng)).save(perturbed_dir / f"{i:04d}.png")
    return real_dir, perturbed_dir


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (sigma 1 pixel) plus Gaussian noise (sigma 8 grey levels): uint8 in, uint8 out, same shape."""
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=1)), dtype=np.float64)
    return np.round(blurred + rng.normal(0, 8, blurred.shape)).clip(0, 255).astype(np.uint8)


def colour_photo_crops(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Random square crops of scikit-image's bundled colour photographs, resized (PIL bicubic) to
    ``size``; uint8 [count, size, size, 3]. Deterministic for a given seed; for tests and benchmarks."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    crops = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(min(size, 64), min(photo.shape[:2]) + 1))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crops[i] = np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))
    return crops
