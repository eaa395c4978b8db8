"""Write samples of a trained run in a form ganeval reads directly.

PNG: a new folder of ``000000.png`` ... (grayscale ``L`` or ``RGB``), quantised with
``floor(255 x + 0.5)`` from x in [0, 1] (what ``torchvision.utils.save_image`` does and what
``ganeval.FIDCallback`` assumes). NPZ: one uint8 array ``images`` [N, H, W, C] (plus ``labels``
for cGAN). Nothing is left half-written: files go to a temporary name that is renamed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganeval.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval_train.data import to_unit_range
from ganeval_train.train import SampleStream, load_model


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C], rounded like a saved PNG."""
    unit = to_unit_range(images.detach().cpu().float())
    return (unit * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_samples(run, count: int, output, *, class_index: int | None = None, truncation: float | None = None,
                  fmt: str = "png", seed: int = 0, batch_size: int = 250, device=None) -> Path:
    """Generate ``count`` images from the run's checkpoint into ``output``; returns the path written."""
    output = Path(output)
    if fmt == "npz" and output.suffix != ".npz":
        output = output.with_suffix(".npz") if output.suffix else Path(str(output).rstrip("/") + ".npz")
    if output.exists() and (output.is_file() or any(output.iterdir())):
        raise GanevalError(f"{output}: already exists; choose a new -o (samples are never mixed with old ones)")
    if not output.parent.exists():
        raise GanevalError(f"{output}: folder {output.parent} does not exist; create it first")
    model, _ = load_model(run, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if class_index is not None:
        if not model.conditional:
            raise GanevalError(f"{run}: --class needs a conditional model (cgan), this run is {model.name}")
        if class_index >= model.config.num_classes:
            raise GanevalError(f"--class {class_index}: this model has classes 0..{model.config.num_classes - 1}")
    if truncation is not None and model.name != "stylegan-lite":
        raise GanevalError(f"--truncation applies to stylegan-lite only, this run is {model.name}")

    stream = SampleStream(model, seed, class_index=class_index, truncation=truncation)
    width = max(6, len(str(count - 1)))
    if fmt == "png":
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            done = 0
            while done < count:
                batch = to_uint8_hwc(stream(min(batch_size, count - done)))
                for array in batch:
                    image = Image.fromarray(array[:, :, 0], "L") if array.shape[2] == 1 else Image.fromarray(array, "RGB")
                    image.save(tmp / f"{done:0{width}d}.png")
                    done += 1
            if output.exists():
                output.rmdir()
            os.replace(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        arrays, labels = [], []
        done = 0
        while done < count:
            n = min(batch_size, count - done)
            start = stream.produced
            arrays.append(to_uint8_hwc(stream(n)))
            if model.conditional:
                labels.append(np.full(n, class_index) if class_index is not None
                              else np.arange(start, start + n) % model.config.num_classes)
            done += n
        extra = {"labels": np.concatenate(labels).astype(np.int64)} if labels else {}
        with atomic_write(output) as tmp_name, open(tmp_name, "wb") as handle:
            np.savez(handle, images=np.concatenate(arrays), **extra)
    return output
