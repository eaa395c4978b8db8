"""GPU measurements: precision effects on features/FID, network throughput, end-to-end JPEG throughput.

Run on a CUDA machine through ``benchmarks/gpu.sh``. Prints markdown tables:

1. features and FID at each precision against true fp32 on the CPU (real LFW photographs
   vs a blurred+noisy copy, upsampled to 299 with the tf1 resize);
2. the network alone, images/s, at fp32 (TF32 off), tf32 and bf16 autocast, for several
   batch sizes;
3. end-to-end ``compute_stats`` from a folder of 256×256 JPEG files (decode in workers,
   resize on the GPU, network, float64 statistics) at the default fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import ganeval
from ganeval.cli.demo import lfw_photographs
from ganeval.cli.demo import degrade
from ganeval.extractors.execution import precision_context
from ganeval.extractors.preprocess import preprocess
from ganeval.extractors.weights import load_inception


def real_and_perturbed() -> tuple[torch.Tensor, torch.Tensor]:
    """200 real photographs and a perturbed copy, uint8 [200, 3, 25, 25] each."""
    photos = lfw_photographs()
    rng = np.random.default_rng(0)
    perturbed = [degrade(p, rng) for p in photos]
    to_rgb = lambda a: torch.from_numpy(np.asarray(a))[:, None].expand(-1, 3, -1, -1).contiguous()
    return to_rgb(photos), to_rgb(np.stack(perturbed))


@torch.inference_mode()
def features(network, images: torch.Tensor, device: str, precision: str, batch: int = 100) -> torch.Tensor:
    out = []
    for start in range(0, len(images), batch):
        x = preprocess(images[start:start + batch].to(device), "tf1")
        with precision_context(precision, torch.device(device)) if device == "cuda" else contextlib.nullcontext():
            out.append(network(x).float().cpu())
    return torch.cat(out)


def fid_of(fa: torch.Tensor, fb: torch.Tensor) -> float:
    a, b = ganeval.FeatureStats(), ganeval.FeatureStats()
    a.add_features(fa)
    b.add_features(fb)
    return ganeval.frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def precision_table() -> None:
    real, perturbed = real_and_perturbed()
    cpu_net, _ = load_inception(device="cpu")
    gpu_net, _ = load_inception(device="cuda")
    ref_a, ref_b = features(cpu_net, real, "cpu", "fp32"), features(cpu_net, perturbed, "cpu", "fp32")
    ref_fid = fid_of(ref_a, ref_b)
    print("\n| precision (GPU) | max abs feature diff vs CPU fp32 | FID (200 vs 200) | FID diff vs CPU fp32 |")
    print("|---|---|---|---|")
    print(f"| CPU fp32 (reference) | 0 | {ref_fid:.6f} | 0 |")
    for precision in ("fp32", "tf32", "bf16"):
        fa, fb = features(gpu_net, real, "cuda", precision), features(gpu_net, perturbed, "cuda", precision)
        diff = max((fa - ref_a).abs().max().item(), (fb - ref_b).abs().max().item())
        value = fid_of(fa, fb)
        print(f"| {precision} | {diff:.2e} | {value:.6f} | {value - ref_fid:+.2e} ({(value - ref_fid) / ref_fid:+.2e} rel) |")


@torch.inference_mode()
def network_table(batch_sizes: list[int]) -> None:
    net, _ = load_inception(device="cuda")
    print("\n| batch | fp32 (TF32 off) images/s | tf32 images/s | bf16 autocast images/s | bf16 + channels-last images/s |")
    print("|---|---|---|---|---|")
    for bs in batch_sizes:
        x = torch.randn(bs, 3, 299, 299, device="cuda")
        row = []
        for precision, channels_last in (("fp32", False), ("tf32", False), ("bf16", False), ("bf16", True)):
            model = net.to(memory_format=torch.channels_last) if channels_last else net.to(memory_format=torch.contiguous_format)
            xi = x.to(memory_format=torch.channels_last) if channels_last else x
            with precision_context(precision, torch.device("cuda")):
                for _ in range(3):
                    model(xi)
                torch.cuda.synchronize()
                iters = max(3, 2048 // bs)
                start = time.perf_counter()
                for _ in range(iters):
                    model(xi)
                torch.cuda.synchronize()
            row.append(bs * iters / (time.perf_counter() - start))
        net.to(memory_format=torch.contiguous_format)
        print(f"| {bs} | " + " | ".join(f"{r:,.0f}" for r in row) + " |")


def end_to_end_table(n_images: int, batch_sizes: list[int], workers: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ganeval-jpeg-"))
    rng = np.random.default_rng(0)
    photos = lfw_photographs()
    for i in range(n_images):
        base = np.asarray(Image.fromarray(photos[i % 200]).resize((256, 256), Image.BICUBIC), np.float64)
        rgb = np.stack([base, base[::-1], base[:, ::-1]], axis=2) + rng.normal(0, 4, (256, 256, 3))
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)
    print(f"\nend to end: `compute_stats` on {n_images} JPEG files 256×256, fp32 (TF32 off), {workers} decode workers")
    print("\n| batch | seconds | images/s |")
    print("|---|---|---|")
    ganeval.compute_stats(str(folder), device="cuda", batch_size=64, workers=workers, max_images=256)  # warm-up
    for bs in batch_sizes:
        start = time.perf_counter()
        stats = ganeval.compute_stats(str(folder), device="cuda", batch_size=bs, workers=workers)
        seconds = time.perf_counter() - start
        assert stats.count == n_images
        print(f"| {bs} | {seconds:.2f} | {n_images / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="64,128,256,512")
    parser.add_argument("--jpeg-images", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py needs a CUDA device")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CPU cores {os.cpu_count()}")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    precision_table()
    network_table(batch_sizes)
    end_to_end_table(args.jpeg_images, batch_sizes, args.workers)


if __name__ == "__main__":
    main()
