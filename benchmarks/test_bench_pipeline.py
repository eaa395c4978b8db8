"""Benchmark: the overlapped pipeline end to end vs the network alone, at the same batch size.

    python -m pytest benchmarks/test_bench_pipeline.py -s            # GPU if present, else CPU

End to end = ``ganeval.compute_stats`` on a folder of 256x256 JPEG files (quality
90) that the benchmark writes: DataLoader decoding workers, the device prefetcher, resize +
normalise + network on the device, float64 accumulation there. Network alone = the same
extractor's network on a batch already preprocessed on the device. The issue's target is
a ratio ≥ 0.9 on a GPU (asserted there); on the CPU, where the network is the bottleneck and
decoding competes with it for the same cores, the ratio is only reported.

Environment: GANEVAL_BENCH_DEVICE (default cuda when present, else cpu), GANEVAL_BENCH_IMAGES
(default 2000 on a GPU, 40 on a CPU), GANEVAL_BENCH_BATCH (default 200 on a GPU, 10 on a CPU).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
import ganeval.api.pipeline as pipeline
from ganeval.cli.demo import colour_photo_crops
from ganeval.extractors.execution import exact_fp32
from ganeval.extractors.preprocess import preprocess
from ganeval.api.compute import compute_stats

DEVICE = torch.device(os.environ.get("GANEVAL_BENCH_DEVICE", "cuda" if torch.cuda.is_available() else "cpu"))
ON_GPU = DEVICE.type == "cuda"
N_IMAGES = int(os.environ.get("GANEVAL_BENCH_IMAGES", "2000" if ON_GPU else "40"))
BATCH = int(os.environ.get("GANEVAL_BENCH_BATCH", "200" if ON_GPU else "10"))
TARGET_RATIO = 0.9

_rates: dict[str, float] = {}


def _sync():
    if ON_GPU:
        torch.cuda.synchronize(DEVICE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-pipeline")
    crops = colour_photo_crops(min(N_IMAGES, 64), 256, seed=5)
    for i in range(N_IMAGES):  # a few distinct photographs, repeated (decoding cost is what matters)
        Image.fromarray(crops[i % len(crops)][:, ::(1 if i // len(crops) % 2 == 0 else -1)].copy()).save(
            root / f"{i:06d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def extractor():
    return ganeval.get_inception(device=str(DEVICE))


@pytest.mark.benchmark(group="pipeline end to end vs network alone")
def test_network_alone(benchmark, extractor, folder):
    images = torch.from_numpy(colour_photo_crops(BATCH, 256, seed=6)).permute(0, 3, 1, 2).to(DEVICE)
    x = preprocess(images, "tf1").contiguous(memory_format=extractor.runner.memory_format)

    def run():
        with torch.inference_mode(), exact_fp32():
            extractor.runner(x)
        _sync()

    run()
    benchmark.pedantic(run, rounds=3 if ON_GPU else 2, iterations=1, warmup_rounds=1)
    _rates["network"] = BATCH / benchmark.stats.stats.min
    benchmark.extra_info["images_per_second"] = round(_rates["network"], 1)


@pytest.mark.benchmark(group="pipeline end to end vs network alone")
def test_pipeline_end_to_end(benchmark, extractor, folder):
    settings = pipeline.choose_settings(DEVICE)
    compute_stats(str(folder), extractor=extractor, progress=False, distributed=False, batch_size=BATCH, max_images=2 * BATCH)  # warm caches

    def run():
        return compute_stats(str(folder), extractor=extractor, progress=False, distributed=False, batch_size=BATCH)

    stats = benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=0)
    assert stats.count == N_IMAGES
    rate = N_IMAGES / benchmark.stats.stats.min
    benchmark.extra_info.update(images_per_second=round(rate, 1), settings=settings.describe())
    _rates["pipeline"] = rate


def test_ratio_to_network_alone():
    """Reported always; the ≥ 0.9 target is asserted on a GPU only (on a CPU decoding shares the cores)."""
    if "network" not in _rates or "pipeline" not in _rates:
        pytest.fail("run the whole module: the ratio needs both benchmarks above")
    ratio = _rates["pipeline"] / _rates["network"]
    print(f"\n{DEVICE}: network alone {_rates['network']:,.1f} images/s, pipeline end to end "
          f"{_rates['pipeline']:,.1f} images/s (batch {BATCH}, {N_IMAGES} JPEG 256x256): ratio {ratio:.2f} "
          f"(target ≥ {TARGET_RATIO} on a GPU)")
    if ON_GPU:
        assert ratio >= TARGET_RATIO
    assert np.isfinite(ratio) and ratio > 0
