"""The overlapped input pipeline: decode on the CPU cores while the device computes.

Stages, for a folder or zip of image files (``ganeval.io.sources.FileSource``)::

    DataLoader workers          read + sha256 + decode (PIL) -> uint8 [3, H, W]
      (pinned memory on CUDA)   the loader's pin thread copies each image into page-locked memory
    device_batches()            batch k+1 is copied to the device (non-blocking, on a side CUDA
                                stream) while batch k computes; on the CPU a plain pass-through
    extractor (on the device)   resize + normalise + network (fp32, TF32 off)
    FeatureStats.add_features   float64 mean/scatter accumulated on the features' device

With ``decode="gpu"`` (``--decode gpu``, opt-in) the workers only read and hash JPEG files
and the prefetcher decodes each batch with nvjpeg (``torchvision.io.decode_jpeg(device="cuda")``)
on the side stream; other formats, and JPEGs that are neither RGB nor grayscale, are still
decoded by PIL in the workers. nvjpeg's pixels are not libjpeg's: the difference in pixels and
FID is measured by ``benchmarks/gpu.sh``, and ``decode`` is recorded in the provenance.

Everything that is not CUDA-specific runs on the CPU too, through the same code: with
``device="cpu"`` the prefetcher stacks each batch and hands it over in order (no streams, no
pinning), which is what the CPU tests exercise.

Hooks for ``compute_stats`` (see :func:`pipeline_batches`, the one call it needs):

* :func:`pipeline_batches` ``(source, batch_size, device=..., workers=..., decode=...)``:
  the device batches of an ``ImageSource``, in source order;
* :func:`device_batches` ``(batches, device, depth)``: any iterable of host batches → an
  iterator of device tensors (the prefetcher alone);
* :func:`choose_settings`: worker count, prefetch depth and pinning from the core count and
  the device (``workers`` overrides).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from ganeval.core.errors import BadImageError, GanevalError
from ganeval.io.sources import DecodeDataset, decode_to_tensor

from ganeval.core.choices import DECODES  # noqa: E402  (defined without torch, for the CLI)

MAX_AUTO_WORKERS = 16
"""More decoding processes than this are not chosen automatically (``--workers`` can)."""

CUDA_PREFETCH_DEPTH = 2
"""Batches whose host-to-device copy is started ahead of the batch being computed, on CUDA."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline runs with (see :func:`choose_settings`)."""

    device: torch.device
    workers: int  # DataLoader decoding processes (0: decode in this process)
    depth: int  # batches copied to the device ahead of the one being computed
    pin_memory: bool  # the loader returns page-locked images (CUDA only)
    decode: str  # one of DECODES
    pack: bool = False  # each worker stacks its batch into one block (one shared-memory segment, one copy)

    def describe(self) -> str:
        """One line, e.g. "14 workers, prefetch 2, pinned, packed, decode cpu"."""
        return (f"{self.workers} workers, prefetch {self.depth}, {'pinned' if self.pin_memory else 'not pinned'}, "
                f"{'packed' if self.pack else 'per image'}, decode {self.decode}")


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_workers(device, cores: int | None = None) -> int:
    """Decoding processes for ``device`` on a machine with ``cores`` usable cores.

    CPU network: 0. It keeps every core busy, so decoding processes only compete with it
    (15.3 vs 14.4 images/s end to end on 2 cores, 0 vs 2 workers). Other devices: every core
    but two (the main thread launching the device work, and the loader's pin thread), at
    least 1 and at most :data:`MAX_AUTO_WORKERS`. PIL decodes a 256² JPEG in about 1 ms, so
    each worker feeds several hundred images/s: 4 workers (the old default) cap a GPU at
    roughly the 1,170 images/s measured end to end on an H100, whose network alone ran 2,287.
    """
    device = torch.device(device)
    cores = usable_cores() if cores is None else int(cores)
    if device.type == "cpu":
        return 0
    return max(1, min(cores - 2, MAX_AUTO_WORKERS))


def auto_depth(device) -> int:
    """Prefetch depth: :data:`CUDA_PREFETCH_DEPTH` on CUDA (copies overlap compute), 0 elsewhere
    (on the CPU a copy ahead would only compete with the network for the same cores)."""
    return CUDA_PREFETCH_DEPTH if torch.device(device).type == "cuda" else 0


def check_decode(decode: str, device) -> str:
    """Validate ``decode`` for ``device``; returns it. One-line GanevalError otherwise."""
    if decode not in DECODES:
        raise GanevalError(f"unknown --decode {decode!r}; choose one of {', '.join(DECODES)}")
    if decode == "gpu":
        device = torch.device(device)
        if device.type != "cuda" or not torch.cuda.is_available():
            raise GanevalError(f"--decode gpu needs a CUDA GPU (the network runs on {device}); "
                               "use --decode cpu (the default)")
        try:
            from torchvision.io import decode_jpeg  # noqa: F401
        except ImportError:
            raise GanevalError("--decode gpu needs torchvision (its nvjpeg decoder): pip install torchvision") from None
    return decode


def choose_settings(device, workers: int | None = None, depth: int | None = None, decode: str = "cpu",
                    cores: int | None = None, pack: bool | None = None) -> PipelineSettings:
    """Settings for ``device``: ``workers``/``depth`` None choose automatically
    (:func:`auto_workers`, :func:`auto_depth`); pinned memory exactly when the device is CUDA;
    ``pack`` (default: on CUDA) makes each worker hand over its batch as one block
    (:class:`PackedBatch`) instead of one shared-memory tensor per image."""
    device = torch.device(device)
    if workers is not None and workers < 0:
        raise GanevalError(f"--workers must be at least 0, got {workers}")
    if depth is not None and depth < 0:
        raise GanevalError(f"the prefetch depth must be at least 0, got {depth}")
    check_decode(decode, device)
    return PipelineSettings(
        device=device,
        workers=auto_workers(device, cores) if workers is None else int(workers),
        depth=auto_depth(device) if depth is None else int(depth),
        pin_memory=device.type == "cuda",
        decode=decode,
        pack=device.type == "cuda" if pack is None else bool(pack),
    )


# --------------------------------------------------------------------------- the prefetcher


class _HostOrder:
    """CPU (or any non-CUDA device): everything happens in program order; nothing to wait for."""

    non_blocking = False

    def copy_context(self):
        return contextlib.nullcontext()

    def record(self):
        return None

    def hand_over(self, ready, out) -> None:
        pass

    def mark_consumed(self):
        return None

    def wait(self, event) -> None:
        pass


class _CudaOrder:
    """Copies on a side stream; the compute stream waits for each copy's event before using it."""

    non_blocking = True

    def __init__(self, device: torch.device):
        self.device = device
        self.copy_stream = torch.cuda.Stream(device)

    def copy_context(self):
        return torch.cuda.stream(self.copy_stream)

    def record(self):
        event = torch.cuda.Event()
        event.record(self.copy_stream)
        return event

    def hand_over(self, ready, out) -> None:
        stream = torch.cuda.current_stream(self.device)
        stream.wait_event(ready)
        for tensor in _tensors(out):
            if tensor.device.type == "cuda":
                tensor.record_stream(stream)  # memory made on the side stream, used on this one

    def mark_consumed(self):
        # blocking: waiting on it sleeps instead of spinning a core the loader's pin thread needs
        event = torch.cuda.Event(blocking=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def wait(self, event) -> None:
        event.synchronize()


def _tensors(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


def copy_batch(batch, device, non_blocking: bool = False, *, pinned_staging: bool | None = None):
    """A host batch (a tensor [N, C, H, W], or a list of [C, H, W] tensors) on ``device``.

    Equal-shaped images become one tensor [N, C, H, W]: pinned images are copied one by one
    straight into it (no host-side stacking); others are stacked first, into a page-locked
    staging buffer when ``pinned_staging`` (default: when ``device`` is CUDA; the buffer is
    page-locked only then), then copied once. Mixed shapes stay a list (the extractor groups them by shape). Images already on
    the device are copied device to device.
    """
    device = torch.device(device)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    batch = list(batch)
    if not batch:
        raise ValueError("empty batch")
    block = PackedBatch.whole(batch)
    if block is not None:  # a worker's whole batch in one block: one copy (pinned already on CUDA)
        if device.type == "cuda" and not block.is_pinned() and (pinned_staging is None or pinned_staging):
            block = block.pin_memory()
        return block.to(device, non_blocking=non_blocking)
    batch = [image.tensor if isinstance(image, PackedImage) else image for image in batch]
    shapes = {tuple(image.shape) for image in batch}
    if len(shapes) != 1:
        return [image.to(device, non_blocking=non_blocking) for image in batch]
    shape = (len(batch), *batch[0].shape)
    dtype = batch[0].dtype
    if pinned_staging is None:
        pinned_staging = device.type == "cuda"
    stage = pinned_staging and all(image.device.type == "cpu" and not image.is_pinned() for image in batch)
    if not stage:
        out = torch.empty(shape, dtype=dtype, device=device)
        for i, image in enumerate(batch):
            out[i].copy_(image, non_blocking=non_blocking)
        return out
    staging = torch.empty(shape, dtype=dtype, pin_memory=device.type == "cuda")  # plain on the CPU (tests)
    torch.stack(batch, out=staging)
    return staging.to(device, non_blocking=non_blocking)


def device_batches(batches: Iterable, device, depth: int | None = None, *,
                   decoder: Callable[[list], list] | None = None, _order=None) -> Iterator:
    """Host batches → the same batches on ``device``, in order, the copies overlapping compute.

    ``batches``: an iterable of tensors [N, C, H, W] or lists of [C, H, W] tensors (what
    ``ImageSource.batches`` yields). Yields a uint8 tensor [N, C, H, W] on ``device`` per
    batch (a list of device tensors when the sizes differ); feed each to the extractor.

    ``depth`` (default :func:`auto_depth`): how many batches are copied ahead. On CUDA the
    copies run non-blocking on a side stream; the stream that consumes a batch waits for its
    copy's event, and the prefetcher keeps at most ``depth + 1`` consumed batches' work in
    flight on the device (so the host never runs far ahead of the GPU). With depth 0, and
    on the CPU, each batch is handed over before the next one is read from ``batches``
    (the source's counters then describe exactly the batches handed over: use depth 0 with
    resume checkpoints). ``decoder``: applied to each host batch, on the copy stream, before
    the copy (``--decode gpu``); batches it leaves empty are dropped.
    """
    device = torch.device(device)
    depth = auto_depth(device) if depth is None else depth
    if depth < 0:
        raise ValueError(f"depth must be at least 0, got {depth}")
    if _order is not None:  # tests: a recorder standing in for _CudaOrder's stream/event calls
        order = _order
    else:
        order = _CudaOrder(device) if device.type == "cuda" else _HostOrder()
    in_flight: collections.deque = collections.deque()  # (device batch, copy-done event)
    consumed: collections.deque = collections.deque()  # compute-enqueued events of handed-over batches

    def start(batch):
        with order.copy_context():
            if decoder is not None:
                batch = decoder(batch)
                if len(batch) == 0:
                    return None
            out = copy_batch(batch, device, order.non_blocking)
            return out, order.record()

    def hand_over():
        out, ready = in_flight.popleft()
        order.hand_over(ready, out)
        return out

    def after_consumer() -> None:
        event = order.mark_consumed()
        if event is None:
            return
        consumed.append(event)
        while len(consumed) > depth + 1:
            order.wait(consumed.popleft())

    for batch in batches:
        started = start(batch)
        if started is not None:
            in_flight.append(started)
        while len(in_flight) > depth:
            yield hand_over()
            after_consumer()
    while in_flight:
        yield hand_over()
        after_consumer()


# --------------------------------------------------------------------------- packed batches


class PackedBatch:
    """One worker's decoded batch as a single uint8 block [N, C, H, W]: it crosses from the worker
    in one shared-memory segment (not N), and the loader's pin thread pins it with one copy."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def pin_memory(self, *args, **kwargs) -> "PackedBatch":
        if not self.tensor.is_pinned():
            self.tensor = self.tensor.pin_memory()
        return self

    @staticmethod
    def whole(batch: list) -> torch.Tensor | None:
        """The block, when ``batch`` is exactly all images of one PackedBatch in order; else None."""
        if not batch or not isinstance(batch[0], PackedImage):
            return None
        packed = batch[0].packed
        if len(batch) != packed.tensor.shape[0]:
            return None
        for i, image in enumerate(batch):
            if not isinstance(image, PackedImage) or image.packed is not packed or image.index != i:
                return None
        return packed.tensor


class PackedImage:
    """Image ``index`` of a :class:`PackedBatch` (what the source's batch list holds in its place)."""

    __slots__ = ("packed", "index")

    def __init__(self, packed: PackedBatch, index: int):
        self.packed, self.index = packed, index

    @property
    def tensor(self) -> torch.Tensor:
        return self.packed.tensor[self.index]

    @property
    def shape(self):
        return self.packed.tensor.shape[1:]

    def pin_memory(self, *args, **kwargs) -> "PackedImage":
        self.packed.pin_memory()  # once per batch: later calls find it pinned
        return self

    def __getstate__(self):
        return self.packed, self.index

    def __setstate__(self, state):
        self.packed, self.index = state


class PackingDataset(torch.utils.data.Dataset):
    """Wraps a source's item dataset; ``__getitems__`` (which the DataLoader calls with a whole
    batch of indices) stacks the batch's decoded images into one :class:`PackedBatch` when they
    all have one shape; mixed shapes, failures and encoded JPEGs are left as they are."""

    def __init__(self, items: torch.utils.data.Dataset):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]

    def __getitems__(self, indices) -> list:
        items = [self.items[i] for i in indices]
        images = [image for image, _, _ in items if image is not None]
        if (len(images) < 2 or not all(isinstance(image, torch.Tensor) for image in images)
                or len({tuple(image.shape) for image in images}) != 1):
            return items
        packed = PackedBatch(torch.stack(images))
        out, k = [], 0
        for image, digest, error in items:
            if image is not None:
                image, k = PackedImage(packed, k), k + 1
            out.append((image, digest, error))
        return out


# --------------------------------------------------------------------------- GPU JPEG decoding


JPEG_MAGIC = b"\xff\xd8\xff"


class EncodedJpeg:
    """A JPEG file's bytes (uint8 [n] tensor) left for the device decoder, with its name and position."""

    __slots__ = ("data", "name", "position")

    def __init__(self, data: torch.Tensor, name: str, position: int):
        self.data, self.name, self.position = data, name, position

    def pin_memory(self, *args, **kwargs) -> "EncodedJpeg":
        """The DataLoader's pinning leaves it as it is: nvjpeg parses the bytes on the host."""
        return self

    def __getstate__(self):
        return self.data, self.name, self.position

    def __setstate__(self, state):
        self.data, self.name, self.position = state


def _nvjpeg_decodable(data: bytes) -> bool:
    """A JPEG whose header PIL reads and whose colours are RGB (YCbCr) or grayscale."""
    if not data.startswith(JPEG_MAGIC):
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:  # parses the header only
            return image.format == "JPEG" and image.mode in ("RGB", "L")
    except Exception:  # noqa: BLE001 - PIL decides below, and names the problem
        return False


class EncodedJpegDataset(DecodeDataset):
    """Item i of a FileSource → (image, sha256 of the bytes, BadImageError or None), like the
    source's own :class:`~ganeval.io.sources.DecodeDataset`, except that RGB/grayscale JPEGs come
    back as :class:`EncodedJpeg` (decoded later on the GPU) and everything else decoded by PIL as
    uint8 [3, H, W]."""

    def decode(self, data: bytes, shown: str, index: int):
        if _nvjpeg_decodable(data):
            return EncodedJpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), shown, index)
        return super().decode(data, shown, index)


class GpuJpegDecoder:
    """Decodes the :class:`EncodedJpeg` items of a batch on ``device`` with nvjpeg, in one call.

    When nvjpeg rejects a batch, its JPEGs are decoded one by one; one nvjpeg rejects is
    decoded by PIL, and a file PIL cannot decode either is a BadImageError, or with
    ``skip_bad`` dropped and recorded in ``source.skipped`` like the source's own skips.
    """

    def __init__(self, device, source=None, skip_bad: bool = False):
        from torchvision.io import ImageReadMode, decode_jpeg

        self.device = torch.device(device)
        self.source, self.skip_bad = source, skip_bad
        self._decode, self._rgb = decode_jpeg, ImageReadMode.RGB

    def _decode_jpeg(self, data, **options):
        with warnings.catch_warnings():  # torchvision >= 0.29 announces a move to torchcodec on each call
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._decode(data, **options)

    def __call__(self, batch: list) -> list:
        where = [i for i, item in enumerate(batch) if isinstance(item, EncodedJpeg)]
        if not where:
            return batch
        encoded = [batch[i] for i in where]
        try:
            images = self._decode_jpeg([item.data for item in encoded], mode=self._rgb, device=self.device)
        except RuntimeError:
            images = [self._one(item) for item in encoded]
        out = list(batch)
        for i, image in zip(where, images):
            out[i] = image
        return [image for image in out if image is not None]

    def _one(self, item: EncodedJpeg) -> torch.Tensor | None:
        try:
            return self._decode_jpeg(item.data, mode=self._rgb, device=self.device)
        except RuntimeError:
            pass
        try:
            return decode_to_tensor(item.data.numpy().tobytes(), item.name, None)
        except BadImageError as err:
            if not self.skip_bad or self.source is None:
                raise
            self.source.skipped.append(err.path)
            self.source.skipped_positions.append(item.position)
            self.source.images_read -= 1
            return None


# --------------------------------------------------------------------------- the whole pipeline


def pipeline_batches(source, batch_size: int, *, device, workers: int | None = None, depth: int | None = None,
                     decode: str = "cpu", skip_bad: bool = False, rank: int = 0, world: int = 1,
                     start_batch: int = 0, settings: PipelineSettings | None = None) -> Iterator:
    """Device batches of an ``ImageSource`` (``ganeval.open_source(...)``), in source order.

    File sources decode in DataLoader workers (pinned on CUDA) and, with ``decode="gpu"``,
    JPEGs on the device; arrays and iterables are already pixels and are only prefetched.
    The source keeps its fingerprint/skipped/batches_done bookkeeping as with
    ``source.batches`` (ahead by up to ``depth`` batches while iterating: pass ``depth=0``
    when checkpointing). ``settings`` (from :func:`choose_settings`) replaces
    ``workers``/``depth``/``decode``.
    """
    from ganeval.io.sources import FileSource

    if settings is None:
        settings = choose_settings(device, workers, depth, decode)
    options = dict(workers=settings.workers, skip_bad=skip_bad, rank=rank, world=world, start_batch=start_batch)
    decoder = None
    if isinstance(source, FileSource):
        options["pin_memory"] = settings.pin_memory
        items = DecodeDataset(source)
        if settings.decode == "gpu":
            items = EncodedJpegDataset(source)
            decoder = GpuJpegDecoder(settings.device, source, skip_bad)
        options["dataset"] = PackingDataset(items) if settings.pack else items
    return device_batches(source.batches(batch_size, **options), settings.device, settings.depth, decoder=decoder)


def decode_description(decode: str) -> str:
    """What the provenance records: "pil" or "nvjpeg (torchvision X.Y.Z)"."""
    if decode == "gpu":
        import torchvision

        return f"nvjpeg (torchvision {torchvision.__version__.split('+')[0]})"
    return "pil"
