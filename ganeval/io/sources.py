"""Image sources: turn what the user points at into batches of uint8 RGB images.

A source is a folder (searched recursively), a ``.zip`` archive, a ``.npy``/``.npz``
array of uint8 images, or, from Python, an array, a tensor, any iterable of image
tensors, or a function returning such an iterable (a generator function).

Every source yields batches as lists of ``torch.uint8`` tensors ``[3, H, W]`` (one per
image, sizes may differ) and keeps, as it goes, a fingerprint of the content it read
and the list of files it skipped.

Under torch.distributed (see ``ganeval.api.distributed``) file and array sources are split
by whole batches: the global batch k (items ``[k·B, (k+1)·B)`` of the, possibly subset,
list) is read by rank ``k mod world``. Every item is read by exactly one rank, in a batch
of exactly the composition a single process would use, and each item keeps its global
position so that digests, skipped files and features can be put back in source order.
Iterables cannot be split (each rank has its own): every rank reads its own items.
"""

from __future__ import annotations

import abc
import errno
import hashlib
import lzma
import os
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ganeval.core.choices import default_workers  # noqa: F401  (re-exported)
from ganeval.core.images import to_uint8_chw
from ganeval.core.errors import BadImageError, GanevalError, one_line
from ganeval.core.interrupts import ignore_in_worker
from ganeval.io.images import array_to_uint8_images, decode_image_bytes
from ganeval.io.names import escape_name
from ganeval.io.preflight import (STATS_SUFFIXES, array_file_error,  # noqa: F401  (STATS_SUFFIXES re-exported)
                                   check_array_shape, check_npz_member,
                                   folder_image_names, npz_image_key, source_kind, zip_image_index)

#: Largest image file or zip member read (bytes): bounds the memory one item can take.
MAX_ITEM_BYTES = 256 * 1024 * 1024
#: A zip member above MAX_RATIO_FLOOR bytes may expand at most this many times its stored size.
MAX_COMPRESSION_RATIO = 100
MAX_RATIO_FLOOR = 32 * 1024 * 1024
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                zipfile.ZIP_LZMA: "lzma"}

ImageBatch = list  # list[torch.Tensor], each uint8 [3, H, W]


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
    labelled: bool = False
    """Whether :attr:`batch_labels` gives each image's class (sources opened with ``labels=True``)."""

    def __init__(self) -> None:
        self.batch_labels: list[str] | None = None  # classes of the images of the batch last yielded
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

    def __init__(self, path: Path, names: list[str], max_images: int | None, seed: int, labels: bool = False,
                 max_pixels: int | None = None):
        super().__init__()
        self.path = path
        self.description = escape_name(path.resolve())
        self.names = [names[i] for i in _subset_indices(len(names), max_images, seed)]
        self.count = len(self.names)
        self.max_pixels = max_pixels
        self.labelled = labels
        if labels:  # ImageFolder convention: the class is the first folder of the relative path
            loose = [n for n in self.names if "/" not in n]
            if loose:
                raise GanevalError(f"{self.display_name(loose[0])}: per-class statistics need one sub-folder per "
                                   f"class (CLASS/image.png), and {len(loose)} image(s) lie outside any")

    def identity(self) -> dict:
        # surrogateescape: names that are not UTF-8 hash as their original bytes
        listing = hashlib.sha256("\n".join(self.names).encode("utf-8", "surrogateescape")).hexdigest()
        return {**super().identity(), "source_listing_sha256": listing}

    @abc.abstractmethod
    def display_name(self, name: str) -> str:
        """How error messages name the entry ``name``."""

    @abc.abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The encoded bytes of entry ``name``; OSError or BadImageError when it cannot be read."""

    def batches(self, batch_size: int, workers: int | None = None, skip_bad: bool = False, *,
                rank: int = 0, world: int = 1, start_batch: int = 0, pin_memory: bool = False,
                dataset: torch.utils.data.Dataset | None = None) -> Iterator[ImageBatch]:
        """As :meth:`ImageSource.batches`; ``pin_memory``: the DataLoader returns the images in
        pinned (page-locked) memory, for non-blocking copies to a CUDA device (needs CUDA);
        ``dataset``: what reads item i, default ``DecodeDataset(self)`` (``ganeval.api.pipeline``
        passes one that leaves JPEGs encoded for ``--decode gpu``)."""
        workers = default_workers() if workers is None else workers
        plan = [list(r) for r in rank_batches(len(self.names), batch_size, rank, world)[start_batch:]]
        self.batches_done = start_batch
        if not plan:
            return
        loader = torch.utils.data.DataLoader(
            DecodeDataset(self) if dataset is None else dataset,
            batch_sampler=plan,
            num_workers=min(workers, len(plan)) if workers > 0 else 0,
            collate_fn=list,
            pin_memory=pin_memory,
            worker_init_fn=ignore_in_worker if workers > 0 else None,  # Ctrl-C is the main process's (ganeval.core.interrupts)
        )
        for positions, items in _worker_errors_named(zip(plan, loader), self.description):
            batch, labels = [], []
            for position, (image, digest, error) in zip(positions, items):
                self._record(digest, position)
                if error is not None:
                    if not skip_bad:
                        raise error
                    self.skipped.append(error.path)
                    self.skipped_positions.append(position)
                    continue
                batch.append(image)
                labels.append(self.names[position].split("/", 1)[0])
                self.images_read += 1
            self.batches_done += 1
            if batch:
                self.batch_labels = labels if self.labelled else None
                yield batch


def read_item(source: FileSource, index: int) -> tuple[str, bytes | None, bytes, BadImageError | None]:
    """Item ``index`` of ``source`` as (name shown in messages, the file's bytes or None,
    sha256 of the bytes, BadImageError or None): a file that cannot be read is an error, not an exception."""
    name = source.names[index]
    shown = source.display_name(name)
    try:
        data = source.read_bytes(name)
    except BadImageError as err:
        return shown, None, hashlib.sha256(b"").digest(), err
    except OSError as err:
        return shown, None, hashlib.sha256(b"").digest(), BadImageError(shown, f"cannot read: {err.strerror or err}")
    return shown, data, hashlib.sha256(data).digest(), None


def decode_to_tensor(data: bytes, shown: str, max_pixels: int | None = None) -> torch.Tensor:
    """Encoded image bytes → uint8 [3, H, W]; BadImageError naming ``shown``."""
    return torch.from_numpy(decode_image_bytes(data, shown, max_pixels=max_pixels)).permute(2, 0, 1).contiguous()


class DecodeDataset(torch.utils.data.Dataset):
    """Item i of a FileSource → (uint8 [3, H, W] tensor or None, sha256 of the file bytes,
    BadImageError or None). Subclasses change :meth:`decode` (``ganeval.api.pipeline.EncodedJpegDataset``)."""

    def __init__(self, source: FileSource):
        self.source = source

    def __len__(self) -> int:
        return len(self.source.names)

    def __getitem__(self, index: int):
        shown, data, digest, error = read_item(self.source, index)
        if error is not None:
            return None, digest, error
        try:
            return self.decode(data, shown, index), digest, None
        except BadImageError as err:
            return None, digest, err

    def decode(self, data: bytes, shown: str, index: int):
        """The file's bytes → the item's image (uint8 [3, H, W]); a BadImageError when they are not one."""
        return decode_to_tensor(data, shown, self.source.max_pixels)


def _worker_errors_named(batches, description: str):
    """Turn the DataLoader's error for a worker killed from outside into one line naming the source."""
    try:
        yield from batches
    except RuntimeError as err:
        if "DataLoader worker" not in str(err):
            raise
        raise GanevalError(
            f"{description}: a decoding worker process died ({one_line(err).rstrip('. ')}), killed from "
            "outside, often by the out-of-memory killer; rerun with fewer --workers (0 decodes in this process), "
            "with --resume where a checkpoint was written") from None


class FolderSource(FileSource):
    """Every image file under a folder, recursively, in sorted relative-path order.

    Symbolic links are followed; one that leads nowhere (dangling, or a loop) is an
    unreadable image: an error naming it, or skipped and recorded under --skip-bad.
    """

    def __init__(self, path: Path, max_images: int | None = None, seed: int = 0, labels: bool = False,
                 max_pixels: int | None = None):
        super().__init__(path, folder_image_names(path), max_images, seed, labels, max_pixels)

    def display_name(self, name: str) -> str:
        return escape_name(self.path / name)

    def read_bytes(self, name: str) -> bytes:
        file = self.path / name
        try:
            size = file.stat().st_size
        except OSError as err:
            if file.is_symlink():
                what = "a symbolic link loop" if err.errno == errno.ELOOP else "a dangling symbolic link"
                raise OSError(err.errno, f"{what} (to {escape_name(os.readlink(file))})") from None
            raise
        if size > MAX_ITEM_BYTES:
            raise BadImageError(self.display_name(name), f"{size >> 20} MiB, above the {MAX_ITEM_BYTES >> 20} MiB "
                                "read per image file")
        return file.read_bytes()


class ZipSource(FileSource):
    """Every image file inside a zip archive, in sorted member-name order.

    Members are read by their own directory entry. Two image members of the same name are
    refused (which one is meant cannot be known); encrypted members, unsupported compression
    methods and members above the size caps (MAX_ITEM_BYTES, MAX_COMPRESSION_RATIO) are
    unreadable images: an error naming archive and member, or skipped under --skip-bad.
    """

    def __init__(self, path: Path, max_images: int | None = None, seed: int = 0, labels: bool = False,
                 max_pixels: int | None = None):
        index = zip_image_index(path)
        names = sorted(index)
        self._member_index = index
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid = -1
        super().__init__(path, names, max_images, seed, labels, max_pixels)

    def display_name(self, name: str) -> str:
        return f"{escape_name(self.path)}:{escape_name(name)}"

    def read_bytes(self, name: str) -> bytes:
        # One handle per process: worker processes must not share the parent's file offset.
        if self._archive is None or self._archive_pid != os.getpid():
            self._archive = zipfile.ZipFile(self.path)
            self._archive_pid = os.getpid()
        info = self._archive.infolist()[self._member_index[name]]
        shown = self.display_name(name)
        if info.flag_bits & 0x1:
            raise BadImageError(shown, "encrypted zip member; store the images unencrypted")
        if info.compress_type not in _ZIP_METHODS:
            raise BadImageError(shown, f"zip compression method {info.compress_type} is not supported "
                                       f"({', '.join(_ZIP_METHODS.values())} are)")
        if info.file_size > MAX_ITEM_BYTES:
            raise BadImageError(shown, f"member inflates to {info.file_size >> 20} MiB, above the "
                                       f"{MAX_ITEM_BYTES >> 20} MiB read per image")
        if info.file_size > MAX_RATIO_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise BadImageError(shown, f"member inflates {info.file_size // max(info.compress_size, 1)}-fold to "
                                       f"{info.file_size >> 20} MiB (a zip bomb?); ganeval reads at most "
                                       f"{MAX_COMPRESSION_RATIO}-fold expansion above {MAX_RATIO_FLOOR >> 20} MiB")
        try:
            # zipfile stops at the declared size and checks the CRC, so at most file_size bytes are held.
            with self._archive.open(info) as member:
                return member.read()
        except (zipfile.BadZipFile, EOFError, ValueError, zlib.error, lzma.LZMAError, NotImplementedError,
                RuntimeError) as err:  # bad CRC, truncated or broken stream, encrypted
            raise OSError(f"damaged zip member ({one_line(err)})") from None
        except OSError as err:  # bz2 reports a broken stream as OSError
            raise OSError(f"damaged zip member ({err})") from None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_archive"] = None
        return state


# --------------------------------------------------------------------------- arrays


class ArraySource(ImageSource):
    """uint8 images held in an array: [N, H, W], NHWC or NCHW (see ``array_to_uint8_images``)."""

    shardable = True

    def __init__(self, array, description: str, max_images: int | None = None, seed: int = 0, labels=None):
        super().__init__()
        self.description = description
        shape = np.shape(array)
        check_array_shape(description, shape)
        if labels is not None and np.shape(labels) != (shape[0],):
            raise GanevalError(f"{description}: {np.shape(labels)[0] if np.ndim(labels) else 0} labels for "
                               f"{shape[0]} images; give one class label per image")
        self.labels = None if labels is None else np.asarray(labels)
        self.labelled = labels is not None
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
            if self.labelled:
                self.batch_labels = [str(v) for v in self.labels[self.indices[positions.start:positions.stop]].tolist()]
            yield batch


def _load_array_labels(path: Path):
    """The class labels of a .npz of images: its ``labels`` array, or ADM's ``arr_1``."""
    if path.suffix.lower() != ".npz":
        raise GanevalError(f"{path}: per-class statistics need labels; store images and labels in one .npz "
                           "(keys 'images' and 'labels', or ADM's arr_0 and arr_1)")
    try:
        archive = np.load(path, allow_pickle=False)
        for key in ("labels", "arr_1", "y"):
            if key in archive.files:
                labels = archive[key]
                if labels.dtype.kind not in "iuU":
                    raise GanevalError(f"{path}: '{key}' holds {labels.dtype}, not integer or string class labels")
                return labels
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise GanevalError(f"{path}: cannot read the labels ({err})") from None
    raise GanevalError(f"{path}: no class labels found (looked for 'labels', 'arr_1', 'y'); add them to the .npz")


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


_CRC_CHUNK = 1 << 24


def _map_stored_member(path: Path, archive: zipfile.ZipFile, member_name: str, shape, fortran, dtype,
                       header_size: int):
    """A read-only memory map of an uncompressed (``numpy.savez``) member's array, or None when the
    member is compressed or encrypted. The member is read through once first, in 16 MiB pieces,
    so that zipfile checks its CRC-32: a damaged file is refused as when the array is loaded, while
    memory holds only the batches being read (ADM's 50k-sample .npz files are ~10 GB)."""
    info = archive.getinfo(member_name)
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    with archive.open(member_name) as member:
        while member.read(_CRC_CHUNK):
            pass
    with open(path, "rb") as handle:  # the data follow the local header, whose extra field may differ
        handle.seek(info.header_offset)
        local = handle.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        return None
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    offset = info.header_offset + 30 + name_length + extra_length + header_size
    if int(np.prod(shape, dtype=object)) == 0:
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=offset)


def _load_array_file(path: Path):
    """The image array inside a .npy or .npz file (memory-mapped for .npy and for an uncompressed
    .npz member, as ``numpy.savez`` writes; a ``savez_compressed`` member is read whole)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise array_file_error(path, err) from None
    return npz_member_array(path, archive, npz_image_key(path, list(archive.keys())))


def npz_member_array(path: Path, archive, key: str) -> np.ndarray:
    """Array ``key`` of the open .npz ``archive`` (``numpy.load`` of ``path``), its header checked
    first: memory-mapped when stored uncompressed (``numpy.savez``), else read whole."""
    member = check_npz_member(path, archive.zip, key)
    try:
        mapped = _map_stored_member(path, archive.zip, *member)
        return mapped if mapped is not None else archive[key]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, MemoryError) as err:  # bad CRC, ...
        raise GanevalError(f"{escape_name(path)}:{escape_name(key)}.npy: cannot read the array ({one_line(err)}); "
                           "the file is damaged, re-create it with numpy.savez") from None


# --------------------------------------------------------------------------- Python iterables


DEFAULT_ITERABLE_LIMIT = 50_000
"""Images read from a generator or iterator (no ``len``) when ``max_images`` is not given, so that an
endless one ends: the conventional FID sample size. Sized iterables (lists, ...) are read whole."""


class IterableSource(ImageSource):
    """Images from Python: each item is a tensor/array [N, C, H, W] or [C, H, W], C in {1, 3},
    uint8 or float in [0, 1] (see ``ganeval.core.images.to_uint8_batch``).

    Without ``max_images`` a generator or iterator is read up to DEFAULT_ITERABLE_LIMIT images
    (``default_limited``), with a warning when that limit is reached."""

    def __init__(self, items: Iterable, description: str = "<python iterable>", max_images: int | None = None,
                 labels: bool = False):
        super().__init__()
        self.labelled = labels  # items are (images, labels) pairs
        self.items = items
        self.description = description
        if max_images is not None and max_images < 1:
            raise GanevalError(f"--max-images must be at least 1, got {max_images}")
        self.default_limited = max_images is None and not hasattr(items, "__len__")
        self.max_images = DEFAULT_ITERABLE_LIMIT if self.default_limited else max_images

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
        pending_labels: list[str] = []
        for item in self.items:
            images, labels = self._split(item)
            for index, image in enumerate(images):
                if limit is not None and self.images_read >= limit:
                    break
                self._record(hashlib.sha256(image.cpu().numpy().tobytes()).digest(), self.images_read)
                pending.append(image)
                if labels is not None:
                    pending_labels.append(labels[index])
                self.images_read += 1
                if len(pending) == batch_size:
                    self.batches_done += 1
                    self.batch_labels = pending_labels if self.labelled else None
                    yield pending
                    pending, pending_labels = [], []
            if limit is not None and self.images_read >= limit:
                break
        if pending:
            self.batches_done += 1
            self.batch_labels = pending_labels if self.labelled else None
            yield pending
        if self.default_limited and limit is not None and self.images_read >= limit:
            warnings.warn(f"{self.description}: stopped at {self.images_read:,} images, the limit for a generator "
                          f"or iterator given without max_images; pass max_images=N to read another number",
                          stacklevel=2)

    def _split(self, item) -> tuple[list[torch.Tensor], list[str] | None]:
        """An item as (uint8 [3, H, W] images, their class labels or None)."""
        if not self.labelled:
            return to_uint8_chw(item, self.description), None
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise GanevalError(f"{self.description}: per-class statistics need (images, labels) pairs from the "
                               f"iterable, got a {type(item).__name__}")
        images = to_uint8_chw(item[0], self.description)
        raw = item[1].cpu().numpy() if isinstance(item[1], torch.Tensor) else np.asarray(item[1])
        labels = [str(v) for v in raw.reshape(-1).tolist()]
        if len(labels) != len(images):
            raise GanevalError(f"{self.description}: {len(labels)} labels for {len(images)} images in one item")
        return images, labels


# --------------------------------------------------------------------------- entry point

def open_source(source, *, max_images: int | None = None, seed: int = 0, labels: bool = False,
                max_pixels: int | None = None) -> ImageSource:
    """Turn a path, array, tensor, iterable or generator function into an :class:`ImageSource`.

    ``max_images`` keeps a seeded random subset (in source order) of file and array sources,
    and the first ``max_images`` images of iterables, whose length is not known in advance.
    ``labels``: also give each image's class (``batch_labels``): the first sub-folder of folders
    and zips, a .npz's ``labels`` (or ADM's ``arr_1``), ``(images, labels)`` pairs from iterables;
    an (images, labels) tuple of arrays.
    ``max_pixels``: image files above this many pixels are unreadable (default: Pillow's limit).
    """
    if isinstance(source, ImageSource):
        return source
    if labels and isinstance(source, tuple) and len(source) == 2 and not callable(source[0]):
        images, classes = source
        return ArraySource(np.asarray(images), "<labelled array>", max_images, seed, labels=np.asarray(classes))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        kind = source_kind(path)  # the one-line error for a path that is no image source
        if kind == "folder":
            return FolderSource(path, max_images, seed, labels, max_pixels)
        if kind == "zip":
            return ZipSource(path, max_images, seed, labels, max_pixels)
        return ArraySource(_load_array_file(path), escape_name(path.resolve()), max_images, seed,
                           labels=_load_array_labels(path) if labels else None)
    if labels and isinstance(source, (np.ndarray, torch.Tensor)):
        raise GanevalError("per-class statistics of an array need its labels: pass (images, labels)")
    if isinstance(source, np.ndarray):
        return ArraySource(source, "<numpy array>", max_images, seed)
    if isinstance(source, torch.Tensor):
        return IterableSource([source], "<tensor>", max_images)
    if callable(source):
        return IterableSource(source(), f"<{getattr(source, '__name__', 'generator function')}>", max_images, labels)
    if isinstance(source, Iterable):
        return IterableSource(source, "<python iterable>", max_images, labels)
    raise GanevalError(f"cannot read images from a {type(source).__name__}; see ganeval.open_source for what is accepted")
