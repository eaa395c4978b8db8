"""Write a training dataset as PNGs with one sub-folder per class (the real side of per-class FID).

    ganeval-train export-data digits real/        # real/0/000000.png ... real/9/...
    ganeval stats real/ -o real.h5 --per-class

The images are exactly those the models train on (``ganeval_train.data.load_dataset`` at the
given resolution and channels), written losslessly as 8-bit grayscale (``L``) or ``RGB`` PNG;
a file's name is the image's index in the dataset, its folder the class name
(``ImageDataset.class_names``: ``0`` .. ``9`` for digits). The folder appears complete or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ganeval.core.errors import GanevalError


def check_new_folder(output: Path) -> None:
    """Refuse an existing non-empty output or a missing parent folder (one line each)."""
    if output.exists() and (output.is_file() or any(output.iterdir())):
        raise GanevalError(f"{output}: already exists; choose a new output (images are never mixed with old ones)")
    if not output.parent.exists():
        raise GanevalError(f"{output}: folder {output.parent} does not exist; create it first")


def save_png(array: np.ndarray, path: Path) -> None:
    """uint8 [H, W, C] (C = 1 or 3) as an 8-bit grayscale or RGB PNG."""
    image = Image.fromarray(array[:, :, 0], "L") if array.shape[2] == 1 else Image.fromarray(array, "RGB")
    image.save(path)


def write_png_folder(output: Path, items: Iterable[tuple[np.ndarray, str | None, str]]) -> int:
    """Write (uint8 [H, W, C] image, sub-folder or None, file stem) items into a new folder ``output``.

    Files go to a temporary folder beside ``output`` that is renamed at the end, so an interrupted
    run leaves nothing half-written. Returns the number of images written.
    """
    check_new_folder(output)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    count = 0
    try:
        for array, folder, stem in items:
            target = tmp if folder is None else tmp / folder
            if folder is not None:
                target.mkdir(exist_ok=True)
            save_png(array, target / f"{stem}.png")
            count += 1
        if output.exists():
            output.rmdir()
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count


def select_classes(names: tuple[str, ...], wanted: str | None) -> list[int]:
    """Class indices of a comma-separated list of class names (or indices) ``wanted``; all when None."""
    if wanted is None:
        return list(range(len(names)))
    chosen = []
    for item in (w.strip() for w in wanted.split(",")):
        if not item:
            continue
        if item in names:
            chosen.append(names.index(item))
        elif item.isdigit() and int(item) < len(names):
            chosen.append(int(item))
        else:
            raise GanevalError(f"--classes: no class {item!r}; the classes are {', '.join(names)}")
    if not chosen:
        raise GanevalError("--classes: give at least one class, e.g. --classes 0,1,2")
    return list(dict.fromkeys(chosen))


def export_dataset(dataset: str, output, *, resolution: int = 32, channels: int | None = None,
                   classes: str | None = None, per_class: int | None = None, max_images: int | None = None,
                   data_root=None, download: bool = False) -> tuple[Path, int, int]:
    """Write ``dataset`` into ``output/<class>/<index>.png``; returns (folder, images, classes written).

    ``classes``: comma-separated class names to keep (default all); ``per_class``: at most the first
    N images of each class (in dataset order); ``max_images``: only the first N images of the dataset.
    """
    from ganeval_train.data import load_dataset

    output = Path(output)
    check_new_folder(output)
    data = load_dataset(dataset, resolution=resolution, channels=channels, data_root=data_root,
                        download=download, max_images=max_images)
    if data.num_classes < 2:
        raise GanevalError(f"dataset {dataset}: has no class labels (one class); per-class export needs classes")
    keep = select_classes(data.class_names, classes)
    labels = data.labels.tolist()
    taken = dict.fromkeys(keep, 0)
    rows = []
    for i, label in enumerate(labels):
        if label in taken and (per_class is None or taken[label] < per_class):
            taken[label] += 1
            rows.append(i)
    width = max(6, len(str(len(data) - 1)))
    images = data.images.permute(0, 2, 3, 1).numpy()
    count = write_png_folder(output, ((images[i], data.class_names[labels[i]], f"{i:0{width}d}") for i in rows))
    return output, count, sum(1 for v in taken.values() if v)
