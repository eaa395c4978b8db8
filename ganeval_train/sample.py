"""Write samples of a trained run in a form ganeval reads directly.

PNG: a new folder of ``000000.png`` ... (grayscale ``L`` or ``RGB``), quantised with
``floor(255 x + 0.5)`` from x in [0, 1] (what ``torchvision.utils.save_image`` does and what
``ganeval.FIDCallback`` assumes). A conditional model (cGAN) writes one sub-folder per class,
named like the training data's classes (``0`` .. ``9`` for digits, the sub-folder names of an
image-folder dataset): ``OUT/3/000003.png``, the file name being the sample's index in the
stream, where sample i has class i mod K (of the chosen classes), so that
``ganeval stats real/ -o real.h5 --per-class`` and ``ganeval fid real.h5 OUT/ --per-class`` compare
class by class; ``--class`` writes one class into a plain folder. NPZ: one uint8 array ``images``
[N, H, W, C] (plus ``labels``, the class indices, for cGAN). Nothing is left half-written: files go
to a temporary name that is renamed at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganeval.core.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval_train.data import to_unit_range
from ganeval_train.export import check_new_folder, select_classes, write_png_folder
from ganeval_train.train import SampleStream, class_names_of, load_model


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C], rounded like a saved PNG."""
    unit = to_unit_range(images.detach().cpu().float())
    return (unit * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_samples(run, count: int, output, *, class_index: int | None = None, classes: str | None = None,
                  truncation: float | None = None, fmt: str = "png", seed: int = 0, batch_size: int = 250,
                  device=None) -> Path:
    """Generate ``count`` images from the run's checkpoint into ``output``; returns the path written.

    ``classes``: cGAN only, a comma-separated list of class names (or indices) to sample in turn
    instead of all classes.
    """
    output = Path(output)
    if fmt == "npz" and output.suffix != ".npz":
        output = output.with_suffix(".npz") if output.suffix else Path(str(output).rstrip("/") + ".npz")
    check_new_folder(output)
    model, payload = load_model(run, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    names = class_names_of(payload)
    if (class_index is not None or classes is not None) and not model.conditional:
        option = "--class" if class_index is not None else "--classes"
        raise GanevalError(f"{run}: {option} needs a conditional model (cgan), this run is {model.name}")
    if class_index is not None and classes is not None:
        raise GanevalError("give --class (one class, plain folder) or --classes (several, one sub-folder each), not both")
    if class_index is not None and class_index >= model.config.num_classes:
        raise GanevalError(f"--class {class_index}: this model has classes 0..{model.config.num_classes - 1}")
    chosen = select_classes(names, classes) if classes is not None else None
    if truncation is not None and model.name != "stylegan-lite":
        raise GanevalError(f"--truncation applies to stylegan-lite only, this run is {model.name}")

    stream = SampleStream(model, seed, class_index=class_index, truncation=truncation, classes=chosen)
    width = max(6, len(str(count - 1)))
    by_class = model.conditional and class_index is None

    def batches():
        done = 0
        while done < count:
            n = min(batch_size, count - done)
            labels = stream.labels_for(n)
            yield done, to_uint8_hwc(stream(n, labels)), labels
            done += n

    if fmt == "png":
        write_png_folder(output, ((array, names[int(labels[j])] if by_class else None, f"{start + j:0{width}d}")
                                  for start, batch, labels in batches() for j, array in enumerate(batch)))
    else:
        arrays, all_labels = [], []
        for _, batch, labels in batches():
            arrays.append(batch)
            if labels is not None:
                all_labels.append(labels.numpy())
        extra = {"labels": np.concatenate(all_labels).astype(np.int64)} if all_labels else {}
        with atomic_write(output) as tmp_name, open(tmp_name, "wb") as handle:
            np.savez(handle, images=np.concatenate(arrays), **extra)
    return output
