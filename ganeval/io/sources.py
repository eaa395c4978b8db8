"""Image sources: turn what the user points at into batches of uint8 RGB images.

A source is a folder (searched recursively), a ``.zip`` archive, a ``.npy``/``.npz``
array of uint8 images, or, from Python, an array, a tensor, any iterable of image
tensors, or a function returning such an iterable (a generator function).

Every source yields batches as lists of ``torch.uint8`` tensors ``[3, H, W]`` (one per
image, sizes may differ) and keeps, as it goes, a fingerprint of the content it read
and the list of files it skipped.

Under torch.distributed (see ``ganeval.distributed``) file and array sources are split
by whole batches: the global batch k (items ``[k·B, (k+1)·B)`` of the, possibly subset,
list) is read by rank ``k mod world``. Every item is read by exactly one rank, in a batch
of exactly the composition a single process would use, and each item keeps its global
position so that digests, skipped files and features can be put back in source order.
Iterables cannot be split (each rank has its own): every rank reads its own items.
"""

from __future__ import annotations

import abc
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ganeval.errors import BadImageError, GanevalError
from ganeval.extractors.preprocess import to_uint8_chw
from ganeval.io.images import IMAGE_EXTENSIONS, array_to_uint8_images, decode_image_bytes

ImageBatch = list  # list[torch.Tensor], each uint8 [3, H, W]


def default_workers() -> int:
    """Decoding processes used when the caller does not say: up to 4, never more than the cores."""
    return min(4, os.cpu_count() or 1)


class ImageSource(abc.ABC):
    """Base class. ``description`` goes into provenance; ``count`` is None when unknown.

    As items are read, ``digests``/``positions`` record each item's sha256 content digest
    (32 bytes) and its position in the source; ``skipped``/``skipped_positions`` the
    undecodable files; ``batches_done`` the source batches consumed (the resume point).
    ``shardable`` sources accept ``rank``/``world``/``start_batch`` in :meth:`batches`.
    """

    description: str = ""
    count: int | None = None
    shardable: bool = False

    def __init__(self) -> None:
        self.images_read = 0
        self.batches_done = 0
        self.digests: list[bytes] = []
        self.positions: list[int] = []
        self.skipped: list[str] = []
        self.skipped_positions: list[int] = []

    @property
    def fingerprint(self) -> str:
        """sha256 over the per-image content digests, in source order, of everything read so far."""
        return combine_digests(self.positions, self.digests)

    def _record(self, digest: bytes, position: int) -> None:
        self.digests.append(digest)
        self.positions.append(int(position))

    def identity(self) -> dict:
        """What a resume checkpoint compares to make sure it continues the same source."""
        return {"source": self.description, "source_count": self.count}

    @abc.abstractmethod
    def batches(self, batch_size: int, workers: int | None = None, skip_bad: bool = False, *,
                rank: int = 0, world: int = 1, start_batch: int = 0) -> Iterator[ImageBatch]:
        """Yield lists of at most ``batch_size`` uint8 [3, H, W] tensors, in source order.

        ``rank``/``world``: read only this rank's share; ``start_batch``: skip this many of the
        rank's own batches (resume). Shardable sources split by whole batches (module docstring).
        """


def combine_digests(positions, digests) -> str:
    """"sha256:" + hex of sha256 over the 32-byte digests ordered by position (stable)."""
    order = sorted(range(len(positions)), key=positions.__getitem__)
    total = hashlib.sha256()
    for i in order:
        total.update(digests[i])
    return "sha256:" + total.hexdigest()


def rank_batches(count: int, batch_size: int, rank: int = 0, world: int = 1) -> list[range]:
    """Position ranges of the global batches ``k`` with ``k mod world == rank``, in order."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    return [range(start, min(start + batch_size, count))
            for start in range(rank * batch_size, count, world * batch_size)]


def _subset_indices(total: int, max_images: int | None, seed: int) -> np.ndarray:
    """All indices, or a seeded random subset of ``max_images`` of them kept in source order."""
    if max_images is None or max_images >= total:
        return np.arange(total)
    if max_images < 1:
        raise GanevalError(f"--max-images must be at least 1, got {max_images}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=max_images, replace=False))


# --------------------------------------------------------------------------- files


class FileSource(ImageSource):
    """Image files in a folder or a zip archive, decoded in DataLoader worker processes."""

    shardable = True

    def __init__(self, path: Path, names: list[str], max_images: int | None, seed: int):
        super().__init__()
        self.path = path
        self.description = str(path.resolve())
        self.names = [names[i] for i in _subset_indices(len(names), max_images, seed)]
        self.count = len(self.names)

    def identity(self) -> dict:
        listing = hashlib.sha256("\n".join(self.names).encode()).hexdigest()
        return {**super().identity(), "source_listing_sha256": listing}

    @abc.abstractmethod
    def display_name(self, name: str) -> str:
        """How error messages name the entry ``name``."""

    @abc.abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The encoded bytes of entry ``name``; OSError when it cannot be read."""

    def batches(self, batch_size: int, workers: int | None = None, skip_bad: bool = False, *,
                rank: int = 0, world: int = 1, start_batch: int = 0, pin_memory: bool = False,
                dataset: torch.utils.data.Dataset | None = None) -> Iterator[ImageBatch]:
        """As :meth:`ImageSource.batches`; ``pin_memory``: the DataLoader returns the images in
        pinned (page-locked) memory, for non-blocking copies to a CUDA device (needs CUDA);
        ``dataset``: what reads item i, default ``_DecodeDataset(self)`` (``ganeval.pipeline``
        passes one that leaves JPEGs encoded for ``--decode gpu``)."""
        workers = default_workers() if workers is None else workers
        plan = [list(r) for r in rank_batches(len(self.names), batch_size, rank, world)[start_batch:]]
        self.batches_done = start_batch
        if not plan:
            return
        loader = torch.utils.data.DataLoader(
            _DecodeDataset(self) if dataset is None else dataset,
            batch_sampler=plan,
            num_workers=min(workers, len(plan)) if workers > 0 else 0,
            collate_fn=list,
            pin_memory=pin_memory,
        )
        for positions, items in zip(plan, loader):
            batch = []
            for position, (image, digest, error) in zip(positions, items):
                self._record(digest, position)
                if error is not None:
                    if not skip_bad:
                        raise error
                    self.skipped.append(error.path)
                    self.skipped_positions.append(position)
                    continue
                batch.append(image)
                self.images_read += 1
            self.batches_done += 1
            if batch:
                yield batch


class _DecodeDataset(torch.utils.data.Dataset):
    """Item i → (uint8 [3, H, W] tensor or None, sha256 of the file bytes, BadImageError or None)."""

    def __init__(self, source: FileSource):
        self.source = source

    def __len__(self) -> int:
        return len(self.source.names)

    def __getitem__(self, index: int):
        name = self.source.names[index]
        shown = self.source.display_name(name)
        try:
            data = self.source.read_bytes(name)
        except OSError as err:
            return None, hashlib.sha256(b"").digest(), BadImageError(shown, f"cannot read: {err.strerror or err}")
        digest = hashlib.sha256(data).digest()
        try:
            array = decode_image_bytes(data, shown)
        except BadImageError as err:
            return None, digest, err
        return torch.from_numpy(array).permute(2, 0, 1).contiguous(), digest, None


class FolderSource(FileSource):
    """Every image file under a folder, recursively, in sorted relative-path order."""

    def __init__(self, path: Path, max_images: int | None = None, seed: int = 0):
        names = sorted(
            p.relative_to(path).as_posix()
            for p in path.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not names:
            what = "is empty" if not any(path.iterdir()) else "has no image files"
            raise GanevalError(
                f"{path}: folder {what} ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)} are read, recursively); "
                "point at the folder that holds the images"
            )
        super().__init__(path, names, max_images, seed)

    def display_name(self, name: str) -> str:
        return str(self.path / name)

    def read_bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()


class ZipSource(FileSource):
    """Every image file inside a zip archive, in sorted member-name order."""

    def __init__(self, path: Path, max_images: int | None = None, seed: int = 0):
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise GanevalError(f"{path}: not a readable zip archive ({err}); re-create or re-download it") from None
        names = sorted(
            m for m in members
            if not m.endswith("/") and not m.startswith("__MACOSX/")
            and os.path.splitext(m)[1].lower() in IMAGE_EXTENSIONS
        )
        if not names:
            raise GanevalError(f"{path}: zip archive has no image files ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)})")
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid = -1
        super().__init__(path, names, max_images, seed)

    def display_name(self, name: str) -> str:
        return f"{self.path}:{name}"

    def read_bytes(self, name: str) -> bytes:
        # One handle per process: worker processes must not share the parent's file offset.
        if self._archive is None or self._archive_pid != os.getpid():
            self._archive = zipfile.ZipFile(self.path)
            self._archive_pid = os.getpid()
        try:
            return self._archive.read(name)
        except (zipfile.BadZipFile, EOFError, ValueError) as err:  # bad CRC, truncated member
            raise OSError(str(err)) from None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_archive"] = None
        return state


# --------------------------------------------------------------------------- arrays


class ArraySource(ImageSource):
    """uint8 images held in an array: [N, H, W], NHWC or NCHW (see ``array_to_uint8_images``)."""

    shardable = True

    def __init__(self, array, description: str, max_images: int | None = None, seed: int = 0):
        super().__init__()
        self.description = description
        shape = np.shape(array)
        if len(shape) not in (3, 4) or shape[0] == 0:
            raise GanevalError(f"{description}: expected a non-empty array of images, got shape {tuple(shape)}")
        self.array = array
        self.indices = _subset_indices(shape[0], max_images, seed)
        self.count = len(self.indices)

    def identity(self) -> dict:
        return {**super().identity(), "source_shape": list(np.shape(self.array))}

    def batches(self, batch_size: int, workers: int | None = None, skip_bad: bool = False, *,
                rank: int = 0, world: int = 1, start_batch: int = 0) -> Iterator[ImageBatch]:
        self.batches_done = start_batch
        for positions in rank_batches(len(self.indices), batch_size, rank, world)[start_batch:]:
            chunk = array_to_uint8_images(np.asarray(self.array[self.indices[positions.start:positions.stop]]),
                                          self.description)
            batch = []
            for position, image in zip(positions, chunk):
                self._record(hashlib.sha256(image.tobytes()).digest(), position)
                batch.append(torch.from_numpy(image).permute(2, 0, 1).contiguous())
            self.images_read += len(batch)
            self.batches_done += 1
            yield batch


def _load_array_file(path: Path):
    """The image array inside a .npy or .npz file (memory-mapped for .npy)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise GanevalError(f"{path}: cannot read the array file ({err}); re-create it with numpy.save/savez") from None
    keys = list(archive.keys())
    if "mu" in keys and "sigma" in keys:
        raise GanevalError(
            f"{path}: this is a statistics file from another tool (pytorch-fid/TTUR/clean-fid .npz with mu and "
            f"sigma), not images; convert it with `ganeval import-stats {path} -o {path.with_suffix('.h5')} "
            "--mode MODE --network tf-inception --count N`, or recompute from the images with `ganeval stats`"
        )
    for key in ("images", "arr_0", "x"):
        if key in keys:
            return archive[key]
    if len(keys) == 1:
        return archive[keys[0]]
    raise GanevalError(f"{path}: .npz holds several arrays {keys}; store the images under the key 'images'")


# --------------------------------------------------------------------------- Python iterables


class IterableSource(ImageSource):
    """Images from Python: each item is a tensor/array [N, C, H, W] or [C, H, W], C in {1, 3},
    uint8 or float in [0, 1] (see ``ganeval.extractors.preprocess.to_uint8_batch``)."""

    def __init__(self, items: Iterable, description: str = "<python iterable>", max_images: int | None = None):
        super().__init__()
        self.items = items
        self.description = description
        self.max_images = max_images
        if max_images is not None and max_images < 1:
            raise GanevalError(f"--max-images must be at least 1, got {max_images}")

    def batches(self, batch_size: int, workers: int | None = None, skip_bad: bool = False, *,
                rank: int = 0, world: int = 1, start_batch: int = 0) -> Iterator[ImageBatch]:
        """Under a process group each rank reads its own iterable (e.g. its own generated samples);
        ``max_images`` is then the total, shared as evenly as possible (rank r takes one extra
        while r < max_images mod world). ``start_batch`` must be 0: an iterable cannot be repositioned."""
        if start_batch:
            raise GanevalError(f"{self.description}: an iterable cannot be resumed part-way; "
                               "resume needs a folder, zip or array source")
        limit = self.max_images
        if limit is not None and world > 1:
            limit = limit // world + (1 if rank < limit % world else 0)
        pending: list[torch.Tensor] = []
        for item in self.items:
            for image in to_uint8_chw(item, self.description):
                if limit is not None and self.images_read >= limit:
                    break
                self._record(hashlib.sha256(image.cpu().numpy().tobytes()).digest(), self.images_read)
                pending.append(image)
                self.images_read += 1
                if len(pending) == batch_size:
                    self.batches_done += 1
                    yield pending
                    pending = []
            if limit is not None and self.images_read >= limit:
                break
        if pending:
            self.batches_done += 1
            yield pending


# --------------------------------------------------------------------------- entry point

STATS_SUFFIXES = (".h5", ".hdf5")


def open_source(source, *, max_images: int | None = None, seed: int = 0) -> ImageSource:
    """Turn a path, array, tensor, iterable or generator function into an :class:`ImageSource`.

    ``max_images`` keeps a seeded random subset (in source order) of file and array sources,
    and the first ``max_images`` images of iterables, whose length is not known in advance.
    """
    if isinstance(source, ImageSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise GanevalError(f"{path}: no such file or folder")
        if path.is_dir():
            return FolderSource(path, max_images, seed)
        suffix = path.suffix.lower()
        if suffix == ".zip":
            return ZipSource(path, max_images, seed)
        if suffix in (".npy", ".npz"):
            return ArraySource(_load_array_file(path), str(path.resolve()), max_images, seed)
        if suffix in STATS_SUFFIXES:
            raise GanevalError(f"{path}: is a statistics file, not an image source")
        raise GanevalError(
            f"{path}: not an image source; give a folder of images, a .zip archive, or a .npy/.npz array of uint8 images"
        )
    if isinstance(source, np.ndarray):
        return ArraySource(source, "<numpy array>", max_images, seed)
    if isinstance(source, torch.Tensor):
        return IterableSource([source], "<tensor>", max_images)
    if callable(source):
        return IterableSource(source(), f"<{getattr(source, '__name__', 'generator function')}>", max_images)
    if isinstance(source, Iterable):
        return IterableSource(source, "<python iterable>", max_images)
    raise GanevalError(f"cannot read images from a {type(source).__name__}; see ganeval.open_source for what is accepted")
