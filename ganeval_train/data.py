"""Training data: every dataset becomes a uint8 tensor of images [N, C, H, W] plus int64 labels [N].

- ``digits``: scikit-learn's bundled handwritten digits (1,797 real 8x8 grayscale images,
  values 0..16, 10 classes), scaled to 0..255 and upsampled 8x8 -> 32x32 with bilinear
  interpolation (``F.interpolate(mode="bilinear", align_corners=False)``, half-pixel
  centres; no antialiasing is needed when upsampling). Works offline.
- ``mnist``, ``fashion-mnist``, ``cifar10``, ``celeba``: torchvision datasets under
  ``data_root`` (``download=True`` fetches them when online).
- any folder or ``.zip`` of images: class = first sub-folder (sorted names -> 0, 1, ...),
  decoded with ganeval's own image reader (RGB; grayscale files replicated to 3 channels).

Images are resized (bilinear, antialiased when shrinking) to the model resolution and,
for the generator's tanh range, mapped to float [-1, 1] by :func:`to_model_range`.
"""

from __future__ import annotations

import functools
import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganeval.core.errors import GanevalError, one_line

TORCHVISION_DATASETS = ("mnist", "fashion-mnist", "cifar10", "celeba")
DATASETS = ("digits", *TORCHVISION_DATASETS)


@dataclass
class ImageDataset:
    """uint8 images [N, C, H, W] (C = 1 or 3, 0..255) and int64 labels [N] (0..num_classes-1).

    ``class_names[i]`` names class i: the sub-folder name for image folders, ``str(i)`` otherwise
    (digits, torchvision datasets); it is the folder name that samples and exports of class i get.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str
    class_names: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.class_names:
            self.class_names = tuple(str(i) for i in range(self.num_classes))

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])


def upsample_digits(raw: np.ndarray, size: int = 32) -> torch.Tensor:
    """float/int 8x8 digits in 0..16 [N, 8, 8] -> uint8 [N, 1, size, size] in 0..255 (bilinear)."""
    x = torch.as_tensor(np.asarray(raw, dtype=np.float32)).reshape(-1, 1, 8, 8) * (255.0 / 16.0)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: float [1797, 8, 8] in 0..16 and int64 labels [1797].

    Read straight from the file scikit-learn ships (``datasets/data/digits.csv.gz``: 64 pixels
    and the label per row), which avoids importing scikit-learn (seconds); the same arrays as
    ``sklearn.datasets.load_digits()``, which is the fallback.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise GanevalError("the digits dataset needs scikit-learn: pip install scikit-learn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.images, bunch.target.astype(np.int64)


def load_digits(size: int = 32) -> ImageDataset:
    """The embedded ``digits`` dataset: 1,797 uint8 [1, size, size] images, labels 0..9."""
    raw, target = _raw_digits()
    return ImageDataset(upsample_digits(raw, size), torch.from_numpy(target.copy()), 10, "digits")


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size] (bilinear, antialiased when shrinking; square crop first)."""
    h, w = images.shape[-2:]
    if h != w:  # centre square crop, e.g. CelebA 218x178
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images = images[..., top:top + s, left:left + s]
    if images.shape[-1] == size:
        return images.contiguous()
    out = []
    for chunk in images.split(512):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=chunk.shape[-1] > size)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def _torchvision_dataset(name: str, root: Path, download: bool, max_images: int | None):
    import torchvision.datasets as tvd

    try:
        if name == "mnist":
            ds = tvd.MNIST(root, train=True, download=download)
        elif name == "fashion-mnist":
            ds = tvd.FashionMNIST(root, train=True, download=download)
        elif name == "cifar10":
            ds = tvd.CIFAR10(root, train=True, download=download)
        else:
            ds = tvd.CelebA(root, split="train", target_type="attr", download=download)
    except (RuntimeError, OSError) as exc:
        raise GanevalError(f"dataset {name!r} not found under {root} ({one_line(exc)}); "
                           "pass --download when online, or --data-root pointing at a local copy") from exc
    if name in ("mnist", "fashion-mnist"):
        images, labels = ds.data.unsqueeze(1), ds.targets.to(torch.int64)
        num_classes = 10
    elif name == "cifar10":
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
        labels, num_classes = torch.as_tensor(ds.targets, dtype=torch.int64), 10
    else:  # CelebA: decode the JPEGs; no class labels (the 40 attributes are not classes)
        n = len(ds) if max_images is None else min(len(ds), max_images)
        images = torch.stack([torch.from_numpy(np.asarray(ds[i][0].convert("RGB"))).permute(2, 0, 1)
                              for i in range(n)])
        labels, num_classes = torch.zeros(n, dtype=torch.int64), 1
    return images, labels, num_classes


def _image_files(path: Path) -> tuple[list[bytes], list[str], list[str]]:
    """(file contents, display names, class names) of every image in a folder or zip, sorted by name."""
    from ganeval.io.images import IMAGE_EXTENSIONS

    def is_image(name: str) -> bool:
        return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not Path(name).name.startswith(".")

    if path.is_dir():
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and is_image(p.name))
        blobs = [(path / n).read_bytes() for n in names]
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if not n.endswith("/") and is_image(n)
                           and not n.startswith("__MACOSX/"))
            blobs = [archive.read(n) for n in names]
    else:
        raise GanevalError(f"{path}: not a dataset name ({', '.join(DATASETS)}), a folder or a .zip of images")
    return blobs, names, [n.split("/")[0] if "/" in n else "" for n in names]


def load_image_files(path: Path, max_images: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A folder/zip of same-size images -> (uint8 [N, 3, H, W], labels from sub-folders, class names).

    Class i is the i-th sub-folder name in sorted order ("" when the images are not in sub-folders).
    """
    from ganeval.io.images import decode_image_bytes

    blobs, names, classes = _image_files(path)
    if not names:
        raise GanevalError(f"{path}: no image files found (looked for {', '.join(sorted(_extensions()))})")
    if max_images is not None:
        blobs, names, classes = blobs[:max_images], names[:max_images], classes[:max_images]
    class_names = sorted(set(classes))
    index = {c: i for i, c in enumerate(class_names)}
    arrays = [decode_image_bytes(blob, f"{path}/{name}") for blob, name in zip(blobs, names)]
    first = arrays[0].shape
    for array, name in zip(arrays, names):
        if array.shape != first:
            raise GanevalError(f"{path}/{name}: size {array.shape[1]}x{array.shape[0]} differs from "
                               f"{first[1]}x{first[0]} of {names[0]}; resize the dataset to one size first")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor([index[c] for c in classes], dtype=torch.int64)
    return images, labels, class_names


def _extensions():
    from ganeval.io.images import IMAGE_EXTENSIONS
    return IMAGE_EXTENSIONS


def load_dataset(name: str, *, resolution: int = 32, channels: int | None = None, data_root=None,
                 download: bool = False, max_images: int | None = None) -> ImageDataset:
    """A dataset by name (``digits``, torchvision names) or path (folder/zip), as uint8 at ``resolution``.

    ``channels`` = 1 or 3 converts (RGB -> luma with ITU-R 601 weights, gray -> replicated); None keeps it.
    """
    class_names: tuple[str, ...] = ()
    if name == "digits":
        data = load_digits(resolution)
        images, labels, num_classes = data.images, data.labels, 10
    elif name in TORCHVISION_DATASETS:
        root = Path(data_root) if data_root is not None else Path("data")
        images, labels, num_classes = _torchvision_dataset(name, root, download, max_images)
        images = resize_uint8(images, resolution)
    else:
        path = Path(name)
        if not path.exists():
            raise GanevalError(f"{name}: no such dataset, folder or zip; choose one of {', '.join(DATASETS)} "
                               "or give the path of an image folder/zip")
        images, labels, names = load_image_files(path, max_images)
        num_classes = len(names)
        if num_classes > 1:
            class_names = tuple(names)
        images = resize_uint8(images, resolution)
    if max_images is not None:
        images, labels = images[:max_images], labels[:max_images]
    if channels is not None and channels != images.shape[1]:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        else:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(images.contiguous(), labels, num_classes, Path(name).name if name not in DATASETS else name,
                        class_names)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 [-1, 1] (the generator's tanh range)."""
    return images.to(torch.float32) / 127.5 - 1.0


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] generator output -> float [0, 1], clamped (what ganeval and PNG writers take)."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)
