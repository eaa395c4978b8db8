"""The overlapped input pipeline (ganeval.api.pipeline) on the CPU: the same code paths as on a GPU
except the CUDA stream calls, against the plain path (features ≤ 1e-4 abs, FID ≤ 1e-5 rel)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
import ganeval.api.pipeline as pipeline
from ganeval.cli.demo import colour_photo_crops, degrade
from ganeval.core.errors import BadImageError, GanevalError
from ganeval.extractors.preprocess import tf1_resize_bilinear
from ganeval.io.sources import open_source
from ganeval.api.compute import compute_stats


def _images(count: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8)) for _ in range(count)]


# ----------------------------------------------------------------- prefetcher


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetcher_preserves_order_and_count(depth):
    batches = [_images(n, 6, seed=i) for i, n in enumerate([4, 4, 1, 4, 3, 4, 2])]
    seen = []

    def source():  # records when each host batch is read, to check how far ahead the prefetcher reads
        for i, batch in enumerate(batches):
            seen.append(i)
            yield batch

    out = []
    for k, batch in enumerate(pipeline.device_batches(source(), "cpu", depth)):
        assert len(seen) <= k + depth + 1  # reads at most `depth` batches ahead
        out.append(batch)
    assert len(out) == len(batches)
    for got, expected in zip(out, batches):
        assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8
        assert torch.equal(got, torch.stack(expected))


class _RecordingOrder:
    """Stands in for the CUDA stream/event calls and records their order (the CPU cannot run them)."""

    non_blocking = True

    def __init__(self):
        self.calls, self.in_copy, self.count = [], False, 0

    def copy_context(self):
        order = self

        class _Context:
            def __enter__(self):
                order.in_copy = True

            def __exit__(self, *exc):
                order.in_copy = False

        return _Context()

    def record(self):
        assert self.in_copy  # copies are recorded on the side stream
        self.count += 1
        self.calls.append(("copied", self.count))
        return self.count

    def hand_over(self, ready, out):
        self.calls.append(("handed", ready))

    def mark_consumed(self):
        self.calls.append(("consumed",))
        return len([c for c in self.calls if c[0] == "consumed"])

    def wait(self, event):
        self.calls.append(("wait", event))


def test_prefetcher_stream_bookkeeping():
    """The CUDA path's order of events, on the CPU: batch k+depth is copied before batch k is
    handed over, each hand-over waits on its own copy, and at most depth + 1 consumed batches stay
    unfinished on the device."""
    order, depth = _RecordingOrder(), 2
    out = list(pipeline.device_batches([_images(2, 4, seed=i) for i in range(6)], "cpu", depth, _order=order))
    assert len(out) == 6
    calls = order.calls
    handed = [c[1] for c in calls if c[0] == "handed"]
    assert handed == [1, 2, 3, 4, 5, 6]  # in order, each with its own copy event
    for k in range(1, 5):  # copy k + depth started before batch k is handed over
        assert calls.index(("copied", k + depth)) < calls.index(("handed", k))
    waits = [c[1] for c in calls if c[0] == "wait"]
    assert waits == [1, 2, 3]  # consumed events 4, 5, 6 each force the wait on the one depth + 1 earlier


def test_prefetcher_mixed_sizes_tensors_and_dropping_decoder():
    mixed = [_images(1, 5)[0], _images(1, 7)[0]]
    tensor = torch.stack(_images(3, 4))
    out = list(pipeline.device_batches([mixed, tensor], "cpu", depth=1))
    assert isinstance(out[0], list) and [tuple(t.shape) for t in out[0]] == [(3, 5, 5), (3, 7, 7)]
    assert torch.equal(out[1], tensor)
    drop_small = lambda batch: [image for image in batch if image.shape[-1] > 5]  # noqa: E731
    out = list(pipeline.device_batches([mixed, [mixed[0]], mixed], "cpu", depth=2, decoder=drop_small))
    assert len(out) == 2 and all(tuple(b.shape) == (1, 3, 7, 7) for b in out)  # the emptied batch is dropped


def test_copy_batch_staging_and_direct_agree():
    batch = _images(5, 9)
    for staging in (None, True, False):
        assert torch.equal(pipeline.copy_batch(batch, "cpu", pinned_staging=staging), torch.stack(batch))
    with pytest.raises(ValueError):
        pipeline.copy_batch([], "cpu")


def test_packed_batches(folders, monkeypatch):
    """Workers stack a batch into one block: it crosses processes as one object, is pinned once,
    and is copied whole; a batch with a skipped image falls back to per-image copies."""
    folder_a, _ = folders
    source = open_source(str(folder_a))
    from ganeval.io.sources import DecodeDataset

    packing = pipeline.PackingDataset(DecodeDataset(source))
    items = pickle.loads(pickle.dumps(packing.__getitems__([1, 2, 3])))  # as from a worker process
    images = [image for image, _, _ in items]
    assert all(isinstance(image, pipeline.PackedImage) for image in images)
    assert images[0].packed is images[2].packed and images[1].shape == (3, 64, 64)
    pins = []
    monkeypatch.setattr(pipeline.PackedBatch, "pin_memory", lambda self, *a, **k: pins.append(self) or self)
    assert all(image.pin_memory() is image for image in images) and len(pins) == 3
    block = pipeline.PackedBatch.whole(images)
    assert block is images[0].packed.tensor and block.shape == (3, 3, 64, 64)
    plain = torch.stack([DecodeDataset(source)[i][0] for i in (1, 2, 3)])
    assert torch.equal(pipeline.copy_batch(images, "cpu"), plain)
    assert pipeline.PackedBatch.whole(images[1:]) is None  # a skip left a gap: per-image path
    assert torch.equal(pipeline.copy_batch(images[1:], "cpu"), plain[1:])
    mixed = [(torch.zeros(3, 5, 5, dtype=torch.uint8), b"", None), (torch.zeros(3, 6, 6, dtype=torch.uint8), b"", None)]
    packing.items = mixed
    assert packing.__getitems__([0, 1]) == mixed  # mixed sizes stay as they are


# ----------------------------------------------------------------- settings


def test_auto_workers_and_depth():
    assert pipeline.auto_workers("cpu", cores=16) == 0  # the CPU network keeps every core busy
    assert pipeline.auto_workers("cuda", cores=16) == 14  # all but the launching and pinning threads
    assert pipeline.auto_workers("cuda:1", cores=2) == 1
    assert pipeline.auto_workers("cuda", cores=128) == pipeline.MAX_AUTO_WORKERS
    assert pipeline.auto_workers("cuda") >= 1
    assert pipeline.auto_depth("cuda") == pipeline.CUDA_PREFETCH_DEPTH and pipeline.auto_depth("cpu") == 0
    cpu = pipeline.choose_settings("cpu")
    assert (cpu.workers, cpu.depth, cpu.pin_memory, cpu.decode, cpu.pack) == (0, 0, False, "cpu", False)
    cuda = pipeline.choose_settings("cuda", cores=16)
    assert (cuda.workers, cuda.depth, cuda.pin_memory, cuda.pack) == (14, 2, True, True)
    forced = pipeline.choose_settings("cuda", workers=3, depth=0)  # --workers overrides
    assert (forced.workers, forced.depth) == (3, 0)
    assert "3 workers, prefetch 0, pinned" in forced.describe()
    with pytest.raises(GanevalError, match="--workers must be at least 0"):
        pipeline.choose_settings("cpu", workers=-1)


def test_decode_gpu_refused_without_cuda():
    """Refused for a CPU network always, and for "cuda" on a machine without CUDA (as in CI)."""
    for device in ("cpu",) + (() if torch.cuda.is_available() else ("cuda",)):
        with pytest.raises(GanevalError) as caught:
            pipeline.choose_settings(device, decode="gpu")
        message = str(caught.value)
        assert message.startswith("--decode gpu needs a CUDA GPU") and "\n" not in message
    with pytest.raises(GanevalError, match="unknown --decode"):
        pipeline.check_decode("nvjpeg", "cpu")
    assert pipeline.check_decode("cpu", "cpu") == "cpu"


# ----------------------------------------------------------------- tf1 resize


@pytest.mark.parametrize("size", [(256, 256), (25, 25), (320, 300), (64, 97)])
def test_batched_tf1_resize_equals_per_image(size):
    """The whole-batch path (what runs on a GPU) is bit-identical to the per-image CPU loop."""
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (4, 3, *size), dtype=np.uint8)).float()
    per_image = tf1_resize_bilinear(x, 299, 299, per_image=True)
    batched = tf1_resize_bilinear(x, 299, 299, per_image=False)
    assert torch.equal(per_image, batched)
    assert torch.equal(tf1_resize_bilinear(x, 299, 299), per_image)  # the CPU default is per image


# ----------------------------------------------------------------- against the plain path


def _write_folder(folder, photos: np.ndarray, *, png_every: int = 0) -> None:
    folder.mkdir()
    for i, photo in enumerate(photos):
        ext = "png" if png_every and i % png_every == 0 else "jpg"
        Image.fromarray(photo).save(folder / f"{i:03d}.{ext}", **({"quality": 90} if ext == "jpg" else {}))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    real = colour_photo_crops(8, 64, seed=3)
    rng = np.random.default_rng(0)
    fake = np.stack([degrade(photo, rng) for photo in real])
    _write_folder(root / "a", real, png_every=4)  # JPEGs and a few PNGs
    _write_folder(root / "b", fake)
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def extractor():
    return ganeval.get_inception(device="cpu")


def test_pipeline_matches_plain_path(folders, extractor):
    folder_a, folder_b = folders
    plain_a = ganeval.compute_stats(str(folder_a), workers=0, batch_size=4, save_features=True, extractor=extractor)
    plain_b = ganeval.compute_stats(str(folder_b), workers=0, batch_size=4, extractor=extractor)
    # two decoding worker processes and prefetch depth 2: the CPU run of the GPU code path
    piped_a = compute_stats(str(folder_a), extractor=extractor, progress=False, distributed=False, batch_size=4,
                            workers=2, prefetch=2, save_features=True,
                            pack=True)  # each worker hands over one block per batch
    piped_b = compute_stats(str(folder_b), extractor=extractor, progress=False, distributed=False, batch_size=4,
                            workers=0)
    assert piped_a.features.shape == (8, 2048)
    assert np.abs(piped_a.features - plain_a.features).max() <= 1e-4
    assert piped_a.count == plain_a.count == 8
    assert piped_a.provenance["source_fingerprint"] == plain_a.provenance["source_fingerprint"]
    assert piped_a.provenance["decode"] == "pil"
    plain_fid = ganeval.fid(plain_a, plain_b)
    piped_fid = ganeval.fid(piped_a, piped_b)
    assert plain_fid > 0 and abs(piped_fid - plain_fid) <= 1e-5 * plain_fid


def test_device_decode_strategy_on_cpu(folders, tmp_path):
    """The --decode gpu plumbing with torchvision's CPU decoder standing in for nvjpeg:
    JPEGs reach the decoder encoded, PNGs decoded; pixels, order, fingerprint and skips kept."""
    folder_a, _ = folders
    for path in sorted(folder_a.iterdir()):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    jpeg = (tmp_path / "001.jpg").read_bytes()
    (tmp_path / "005.jpg").write_bytes(jpeg[:len(jpeg) // 2])  # header fine, body truncated
    (tmp_path / "007.jpg").write_bytes(b"not an image")

    source = open_source(str(tmp_path))
    items = [pipeline.EncodedJpegDataset(source)[i] for i in range(4)]
    assert isinstance(items[0][0], torch.Tensor) and items[0][0].shape == (3, 64, 64)  # 000.png
    assert isinstance(items[1][0], pipeline.EncodedJpeg) and items[1][0].position == 1
    assert pickle.loads(pickle.dumps(items[1][0])).name == items[1][0].name  # crosses worker processes

    settings = pipeline.PipelineSettings(torch.device("cpu"), workers=2, depth=1, pin_memory=False, decode="gpu")
    with pytest.raises(BadImageError):
        list(pipeline.pipeline_batches(source, 4, device="cpu", settings=settings))

    cpu_source, gpu_source = open_source(str(tmp_path)), open_source(str(tmp_path))
    plain = torch.cat([torch.stack(b) for b in cpu_source.batches(4, workers=0, skip_bad=True)])
    decoded = torch.cat(list(pipeline.pipeline_batches(gpu_source, 4, device="cpu", settings=settings,
                                                       skip_bad=True)))
    assert decoded.shape == plain.shape == (6, 3, 64, 64)
    assert torch.equal(decoded, plain)  # torchvision's CPU libjpeg decodes these exactly as PIL does
    assert sorted(gpu_source.skipped) == sorted(cpu_source.skipped) and len(gpu_source.skipped) == 2
    assert sorted(gpu_source.skipped_positions) == [5, 7]
    assert gpu_source.images_read == cpu_source.images_read == 6
    assert gpu_source.fingerprint == cpu_source.fingerprint
