"""The GPU measurements of issue 13, as one prepared run that writes ONE Markdown report.

Run through ``benchmarks/gpu.sh`` on a lent GPU machine (docs/gpu.md says how), or here:

    python benchmarks/gpu_pipeline.py --dry-run          # = --device cpu --images 40: proves it runs

Sections, each written to the report as soon as it is done (a run cut short still reports):

env          GPU, versions, cores
images       builds N 256x256 JPEG photographs (folder a) and a degraded copy (folder b), seeded
fd           Fréchet distance: torch float64 route on the device vs the numpy route (1e-10), times at d=2048
accumulation FeatureStats float64 on the device vs on the CPU (1e-12 relative)
nvjpeg       nvjpeg (torchvision.io.decode_jpeg on CUDA) vs PIL pixels, and decode time
stages       per stage: file read + sha256, PIL decode, loader throughput, H2D, resize, network, accumulation
throughput   network alone vs end to end (plain compute_stats, the pipeline, the pipeline + nvjpeg), same batch
exactness    GPU pipeline vs the plain CPU path (features 1e-4, FID 1e-5) and vs the plain GPU path
nvjpeg-fid   FID with nvjpeg-decoded vs PIL-decoded images
large        50,000 images -> statistics, FD included (time)
peers        benchmarks/peers.py --device: pytorch-fid, clean-fid, torch-fidelity, torchmetrics, same GPU

``--phase prep`` runs the sections that need no network weights (env, images, fd, accumulation,
nvjpeg) and keeps the images and the section texts in ``--work-dir`` for a following
``--phase main`` call on the same (still warm) machine, which runs the rest; ``--phase all``
(default) runs everything. CUDA-only steps print "skipped: no CUDA" on the CPU. A time budget
(``--budget-s``) skips the optional sections (large, peers) when too little is left.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peers.py beside this file

import ganeval  # noqa: E402
import ganeval.api.pipeline as pipeline  # noqa: E402
from ganeval.extractors.execution import exact_fp32  # noqa: E402
from ganeval.extractors.preprocess import preprocess  # noqa: E402
from ganeval.metrics.frechet import frechet_distance  # noqa: E402
from ganeval.metrics.frechet_torch import frechet_distance_torch  # noqa: E402
from ganeval.core.stats import FeatureStats  # noqa: E402
from ganeval.api.compute import compute_stats

SECTIONS = ("env", "images", "fd", "accumulation", "nvjpeg", "stages", "throughput", "exactness", "nvjpeg-fid",
            "large", "peers")
PREP = ("env", "images", "fd", "accumulation", "nvjpeg")
NO_CUDA = "skipped: no CUDA"


# ----------------------------------------------------------------------------- helpers


class Run:
    """Options, timing budget, and the report being written."""

    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.start = time.perf_counter()
        self.work = Path(args.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "sections").mkdir(exist_ok=True)
        self.out = Path(args.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.folder_a, self.folder_b = self.work / f"jpeg256-{args.images}" / "a", self.work / f"jpeg256-{args.images}" / "b"

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    def section_file(self, name: str) -> Path:
        return self.work / "sections" / f"{name}.md"

    def write_report(self) -> None:
        parts = [f"# ganeval GPU report (issue 13)\n\nwritten {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
                 f"device `{self.device}`; {self.args.images} images per folder; batch {self.args.batch_size}\n"]
        for name in SECTIONS:
            path = self.section_file(name)
            if path.exists():
                parts.append(path.read_text())
        self.out.write_text("\n".join(parts))


def log(line: str) -> None:
    print(line, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device: torch.device, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` (device synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else abs(a - b)


def verdict(ok: bool) -> str:
    return "ok" if ok else "**FAILS**"


def files_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


# ----------------------------------------------------------------------------- images


_PHOTOS = None


def _photos():
    global _PHOTOS
    if _PHOTOS is None:
        import skimage.data

        _PHOTOS = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
                   skimage.data.immunohistochemistry(), skimage.data.hubble_deep_field()]
    return _PHOTOS


def _make_pair(job) -> None:
    """Image i: a random crop of a bundled colour photograph (seed i) and its degraded copy."""
    index, dir_a, dir_b, seed = job
    rng = np.random.default_rng([seed, index])
    photo = _photos()[index % len(_photos())]
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 4, min(h, w) + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(np.ascontiguousarray(photo[top:top + side, left:left + side]))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    real = crop.resize((256, 256), Image.Resampling.BILINEAR)
    real.save(f"{dir_a}/{index:06d}.jpg", quality=90)
    if dir_b is not None:
        blurred = np.asarray(real.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.int16)
        noise = rng.integers(-12, 13, blurred.shape, dtype=np.int16)
        Image.fromarray((blurred + noise).clip(0, 255).astype(np.uint8)).save(f"{dir_b}/{index:06d}.jpg", quality=90)


def build_images(dir_a: Path, dir_b: Path | None, count: int, seed: int = 0) -> float:
    """Write ``count`` JPEG pairs with all cores; returns seconds (0 when they already exist)."""
    if dir_a.exists() and len(files_of(dir_a)) == count and (dir_b is None or len(files_of(dir_b)) == count):
        return 0.0
    dir_a.mkdir(parents=True, exist_ok=True)
    if dir_b is not None:
        dir_b.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [(i, str(dir_a), None if dir_b is None else str(dir_b), seed) for i in range(count)]
    with multiprocessing.get_context("fork").Pool(pipeline.usable_cores()) as pool:
        pool.map(_make_pair, jobs, chunksize=64)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- sections


def section_env(run: Run) -> str:
    lines = ["## Environment", ""]
    if run.cuda:
        props = torch.cuda.get_device_properties(run.device)
        lines.append(f"- GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, "
                     f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    else:
        lines.append(f"- device: {run.device} ({NO_CUDA}: CUDA-only steps are skipped)")
    try:
        import torchvision

        tv = torchvision.__version__
    except ImportError:
        tv = "not installed"
    lines += [f"- torch {torch.__version__}, torchvision {tv}, numpy {np.__version__}, Python {platform.python_version()}",
              f"- CPU cores usable: {pipeline.usable_cores()}; torch threads {torch.get_num_threads()}",
              f"- pipeline auto settings on this device: {pipeline.choose_settings(run.device).describe()}",
              f"- `compute_stats` uses the pipeline: "
              f"{'yes' if 'decode' in __import__('inspect').signature(ganeval.compute_stats).parameters else 'no (plain path)'}"]
    return "\n".join(lines) + "\n"


def section_images(run: Run) -> str:
    seconds = build_images(run.folder_a, run.folder_b, run.args.images)
    size = sum(p.stat().st_size for p in files_of(run.folder_a))
    return (f"## Test images\n\n{run.args.images} pairs of 256x256 JPEG (quality 90): a = random crops of "
            f"scikit-image's colour photographs, b = blurred (1.5 px) + uniform noise (±12) copies; built in "
            f"{seconds:.1f} s with {pipeline.usable_cores()} processes (0 = reused); folder a holds "
            f"{size / 2**20:.1f} MiB ({size / run.args.images / 1024:.1f} KiB per file)\n")


def _synthetic_features(n: int, d: int, seed: int, shift: float, device) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix
    return torch.relu(x + 0.3 + shift).float().to(device)


def section_fd(run: Run) -> str:
    d = 2048 if not run.args.dry_run else 256
    n = 5000 if not run.args.dry_run else 600
    sa, sb = FeatureStats(), FeatureStats()
    sa.add_features(_synthetic_features(n, d, 1, 0.0, "cpu"))
    sb.add_features(_synthetic_features(n, d, 2, 0.02, "cpu"))
    mu1, s1, mu2, s2 = sa.mu, sa.sigma, sb.mu, sb.sigma
    rows = []
    exact = frechet_distance(mu1, s1, mu2, s2)
    t_numpy = best_time(lambda: frechet_distance(mu1, s1, mu2, s2), torch.device("cpu"), repeat=2)
    rows.append(["numpy/LAPACK (exact route)", "cpu", f"{exact:.10f}", "0", f"{t_numpy:.3f}", "reference"])
    t_cpu = best_time(lambda: frechet_distance_torch(mu1, s1, mu2, s2, device="cpu"), torch.device("cpu"), repeat=2)
    value = frechet_distance_torch(mu1, s1, mu2, s2, device="cpu")
    rows.append(["torch float64", "cpu", f"{value:.10f}", f"{rel(value, exact):.1e}", f"{t_cpu:.3f}",
                 verdict(rel(value, exact) <= 1e-10)])
    if run.cuda:
        gpu_inputs = [torch.as_tensor(v).to(run.device) for v in (mu1, s1, mu2, s2)]
        t_gpu = best_time(lambda: frechet_distance_torch(*gpu_inputs), run.device, repeat=3)
        t_gpu_host = best_time(lambda: frechet_distance_torch(mu1, s1, mu2, s2, device=run.device), run.device, repeat=3)
        value = frechet_distance_torch(*gpu_inputs)
        rows.append(["torch float64", str(run.device), f"{value:.10f}", f"{rel(value, exact):.1e}",
                     f"{t_gpu:.3f} (inputs on the GPU); {t_gpu_host:.3f} (from host numpy)",
                     verdict(rel(value, exact) <= 1e-10)])
    else:
        rows.append(["torch float64", "cuda", "", "", "", NO_CUDA])
    return (f"## Fréchet distance on the device (d = {d})\n\nstatistics of {n} synthetic pool3-like features per side; "
            "seconds = best of 2-3 calls, validation included; target: ≤ 1e-10 relative to the exact route\n\n"
            + table(["route", "device", "FD", "rel. diff", "seconds", "check"], rows) + "\n")


def section_accumulation(run: Run) -> str:
    n, d, batch = (run.args.images, 2048, run.args.batch_size) if not run.args.dry_run else (200, 2048, 20)
    features = _synthetic_features(n, d, 3, 0.0, "cpu")
    cpu = FeatureStats()
    for start in range(0, n, batch):
        cpu.add_features(features[start:start + batch])
    rows = []
    if run.cuda:
        on_device = features.to(run.device)
        gpu = FeatureStats()

        def accumulate():
            stats = FeatureStats()
            for start in range(0, n, batch):
                stats.add_features(on_device[start:start + batch])
            return stats

        seconds = best_time(accumulate, run.device, repeat=2)
        gpu = accumulate()
        mu_rel = float(np.abs(gpu.mu - cpu.mu).max() / np.abs(cpu.mu).max())
        sigma_rel = float(np.abs(gpu.sigma - cpu.sigma).max() / np.abs(cpu.sigma).max())
        identical = np.array_equal(gpu.mu, cpu.mu) and np.array_equal(gpu.sigma, cpu.sigma)
        rows.append([str(run.device), f"{mu_rel:.1e}", f"{sigma_rel:.1e}", "yes" if identical else "no",
                     f"{seconds / (n / batch) * 1e3:.2f}", verdict(max(mu_rel, sigma_rel) <= 1e-12)])
    else:
        rows.append(["cuda", "", "", "", "", NO_CUDA])
    cpu_seconds = best_time(lambda: [FeatureStats().add_features(features[:batch]) for _ in range(3)],
                            torch.device("cpu"), repeat=1, warmup=0) / 3
    rows.append(["cpu (reference)", "0", "0", "yes", f"{cpu_seconds * 1e3:.2f}", "reference"])
    return (f"## float64 accumulation on the device vs the CPU\n\n{n} synthetic float32 features [N, {d}], batches of "
            f"{batch}; max |difference| / max |value| of mean and covariance; target ≤ 1e-12 (bit-identical would "
            "need the CPU's summation order)\n\n"
            + table(["device", "mean rel.", "covariance rel.", "bit-identical", "ms per batch", "check"], rows) + "\n")


def _pil_decode(path: Path) -> torch.Tensor:
    from ganeval.io.images import decode_image_bytes

    return torch.from_numpy(decode_image_bytes(path.read_bytes(), str(path))).permute(2, 0, 1)


def section_nvjpeg(run: Run) -> str:
    if not run.cuda:
        return f"## nvjpeg vs PIL pixels\n\n{NO_CUDA}\n"
    from torchvision.io import ImageReadMode, decode_jpeg

    paths = files_of(run.folder_a)[:min(run.args.images, 2000)]
    encoded = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in paths]
    batch = run.args.batch_size
    decode = lambda chunk: decode_jpeg(chunk, mode=ImageReadMode.RGB, device=run.device)  # noqa: E731
    decode(encoded[:batch])
    sync(run.device)
    start = time.perf_counter()
    gpu = []
    for i in range(0, len(encoded), batch):
        gpu += decode(encoded[i:i + batch])
    sync(run.device)
    gpu_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pil = [_pil_decode(p) for p in paths]
    pil_seconds = time.perf_counter() - start
    diffs = torch.stack([(g.cpu().int() - p.int()).abs() for g, p in zip(gpu, pil)])
    lines = [f"## nvjpeg vs PIL pixels\n\n{len(paths)} files of folder a",
             "",
             table(["decoder", "images/s", "max abs diff", "mean abs diff", "pixels differing"], [
                 ["PIL (libjpeg, one core)", f"{len(paths) / pil_seconds:,.0f}", "reference", "", ""],
                 [f"nvjpeg, batches of {batch}", f"{len(paths) / gpu_seconds:,.0f}", int(diffs.max()),
                  f"{diffs.float().mean().item():.4f}", f"{(diffs > 0).float().mean().item():.2%}"]])]
    return "\n".join(lines) + "\n"


def _extractor(run: Run, device=None):
    return ganeval.get_inception(device=str(device or run.device))


def section_stages(run: Run) -> str:
    args, device = run.args, run.device
    batch = args.batch_size
    paths = files_of(run.folder_a)[:min(args.images, 1000)]
    rows = []
    start = time.perf_counter()
    blobs = []
    for p in paths:
        data = p.read_bytes()
        hashlib.sha256(data).digest()
        blobs.append(data)
    t = (time.perf_counter() - start) / len(paths)
    rows.append(["file read + sha256", "1 CPU core", f"{t * batch * 1e3:.1f}", f"{1 / t:,.0f}", "warm OS cache"])
    from ganeval.io.images import decode_image_bytes

    start = time.perf_counter()
    for data in blobs:
        torch.from_numpy(decode_image_bytes(data, "x")).permute(2, 0, 1).contiguous()
    t = (time.perf_counter() - start) / len(blobs)
    rows.append(["PIL decode + HWC→CHW", "1 CPU core", f"{t * batch * 1e3:.1f}", f"{1 / t:,.0f}", ""])
    settings = pipeline.choose_settings(device)
    source = ganeval.open_source(str(run.folder_a), max_images=len(paths))
    start = time.perf_counter()
    count = sum(len(b) for b in source.batches(batch, workers=settings.workers, pin_memory=settings.pin_memory))
    t = (time.perf_counter() - start) / count
    rows.append([f"DataLoader: read + sha256 + decode{' + pin' if settings.pin_memory else ''}",
                 f"{settings.workers} workers", f"{t * batch * 1e3:.1f}", f"{1 / t:,.0f}",
                 "worker start-up included"])
    for pack in ((True, False) if run.cuda else (False,)):
        chosen = pipeline.choose_settings(device, pack=pack)
        source = ganeval.open_source(str(run.folder_a), max_images=len(paths))
        start = time.perf_counter()
        count = sum(len(b) for b in pipeline.pipeline_batches(source, batch, device=device, settings=chosen))
        sync(device)
        t = (time.perf_counter() - start) / count
        rows.append([f"loader + prefetcher to {device} ({'packed' if pack else 'per image'})",
                     f"{chosen.workers} workers", f"{t * batch * 1e3:.1f}", f"{1 / t:,.0f}",
                     "no network: the input side's ceiling"])
    host = torch.stack([_pil_decode(p) for p in paths[:batch]])
    if run.cuda:
        pinned = host.pin_memory()
        t = best_time(lambda: pinned.to(device, non_blocking=True), device, repeat=5)
        rows.append(["H2D copy (pinned)", "copy engine", f"{t * 1e3:.2f}", f"{batch / t:,.0f}",
                     f"{host.numel() / t / 1e9:.1f} GB/s"])
        t = best_time(lambda: host.to(device), device, repeat=5)
        rows.append(["H2D copy (pageable)", "copy engine", f"{t * 1e3:.2f}", f"{batch / t:,.0f}",
                     f"{host.numel() / t / 1e9:.1f} GB/s"])
    else:
        rows.append(["H2D copy", "", "", "", NO_CUDA])
    on_device = host.to(device)
    for mode in ("tf1", "nvidia"):
        t = best_time(lambda mode=mode: preprocess(on_device, mode), device, repeat=3)
        rows.append([f"resize + normalise ({mode}, batched)", str(device), f"{t * 1e3:.2f}", f"{batch / t:,.0f}", ""])
    extractor = _extractor(run)
    x = preprocess(on_device, "tf1")
    with torch.inference_mode(), exact_fp32():
        net = extractor.runner
        t = best_time(lambda: net(x.contiguous(memory_format=extractor.runner.memory_format)), device, repeat=3)
    rows.append(["network fp32 (TF32 off)", f"{device} ({extractor.backend})", f"{t * 1e3:.1f}", f"{batch / t:,.0f}", ""])
    features = extractor(on_device)
    stats = FeatureStats()
    stats.add_features(features)
    t = best_time(lambda: stats.add_features(features), device, repeat=3)
    rows.append(["float64 accumulation", str(device), f"{t * 1e3:.2f}", f"{batch / t:,.0f}", "mean + scatter GEMM"])
    return (f"## Where the time goes (per stage, batch {batch})\n\nimages/s of each stage alone; CPU stages on "
            f"{len(paths)} files of folder a\n\n"
            + table(["stage", "where", "ms per batch", "images/s", "note"], rows) + "\n")


def _timed_stats(fn) -> tuple[float, FeatureStats]:
    start = time.perf_counter()
    stats = fn()
    return time.perf_counter() - start, stats


def section_throughput(run: Run) -> str:
    args, device = run.args, run.device
    batch = args.batch_size
    extractor = _extractor(run)
    folder = str(run.folder_a)
    n = args.images
    x = preprocess(torch.stack([_pil_decode(p) for p in files_of(run.folder_a)[:batch]]).to(device), "tf1")
    with torch.inference_mode(), exact_fp32():
        xin = x.contiguous(memory_format=extractor.runner.memory_format)
        repeat = max(3, min(20, 2048 // batch)) if run.cuda else 2

        def many():
            for _ in range(repeat):
                extractor.runner(xin)

        network = batch * repeat / best_time(many, device, repeat=2)
    rows = [["network alone (preprocessed input on the device)", f"{network:,.0f}", "1.00", "", ""]]
    ganeval.compute_stats(folder, device=str(device), batch_size=batch, max_images=2 * batch, extractor=extractor)
    seconds, plain = _timed_stats(lambda: ganeval.compute_stats(folder, device=str(device), batch_size=batch,
                                                                extractor=extractor))
    rows.append(["`compute_stats` as shipped (default workers)", f"{n / seconds:,.0f}", f"{n / seconds / network:.2f}",
                 f"{seconds:.2f}", ""])
    settings = pipeline.choose_settings(device)
    seconds, piped = _timed_stats(lambda: compute_stats(folder, extractor=extractor, progress=False, distributed=False, batch_size=batch))
    ratio = n / seconds / network
    rows.append([f"pipeline ({settings.describe()})", f"{n / seconds:,.0f}", f"{ratio:.2f}", f"{seconds:.2f}",
                 "target ≥ 0.90" + (f": {verdict(ratio >= 0.9)}" if run.cuda else " (GPU)")])
    if run.cuda:
        for workers in sorted({4, max(1, settings.workers // 2), pipeline.usable_cores()} - {settings.workers}):
            seconds, _ = _timed_stats(lambda workers=workers: compute_stats(folder, extractor=extractor, progress=False, distributed=False, batch_size=batch, workers=workers))
            rows.append([f"pipeline, {workers} workers", f"{n / seconds:,.0f}", f"{n / seconds / network:.2f}",
                         f"{seconds:.2f}", "--workers override"])
        seconds, _ = _timed_stats(lambda: compute_stats(folder, extractor=extractor, progress=False, distributed=False, batch_size=batch, pack=False))
        rows.append(["pipeline, per-image transfer (not packed)", f"{n / seconds:,.0f}", f"{n / seconds / network:.2f}",
                     f"{seconds:.2f}", "pack=False"])
        seconds, _ = _timed_stats(lambda: compute_stats(folder, extractor=extractor, progress=False, distributed=False, batch_size=batch, decode="gpu"))
        rows.append(["pipeline + `--decode gpu` (nvjpeg)", f"{n / seconds:,.0f}", f"{n / seconds / network:.2f}",
                     f"{seconds:.2f}", "opt-in"])
    else:
        rows.append(["pipeline + `--decode gpu`", "", "", "", NO_CUDA])
    same = np.abs(plain.mu - piped.mu).max()
    return (f"## End to end vs network alone (batch {batch}, fp32, TF32 off)\n\n{n} JPEG files 256x256 -> statistics "
            "(decode, resize, network, float64 accumulation; worker start-up included; warm OS cache, network "
            f"loaded); max |mean difference| plain vs pipeline: {same:.1e}\n\n"
            + table(["path", "images/s", "÷ network alone", "seconds", "note"], rows) + "\n")


def section_exactness(run: Run) -> str:
    device = run.device
    m = min(run.args.images, 200 if run.cuda else 20)
    batch = min(run.args.batch_size, m)
    extractor = _extractor(run)
    cpu_extractor = _extractor(run, "cpu")
    rows = []
    options = dict(batch_size=batch, max_images=m)
    piped_a = compute_stats(str(run.folder_a), extractor=extractor, progress=False, distributed=False, save_features=True, **options)
    piped_b = compute_stats(str(run.folder_b), extractor=extractor, progress=False, distributed=False, **options)
    cpu_a = ganeval.compute_stats(str(run.folder_a), extractor=cpu_extractor, save_features=True, workers=0, **options)
    cpu_b = ganeval.compute_stats(str(run.folder_b), extractor=cpu_extractor, workers=0, **options)
    diff = float(np.abs(piped_a.features - cpu_a.features).max())
    fid_piped, fid_cpu = ganeval.fid(piped_a, piped_b), ganeval.fid(cpu_a, cpu_b)
    rows.append([f"pipeline on {device} vs plain path on the CPU ({cpu_extractor.backend})", f"{diff:.1e}",
                 f"{fid_piped:.6f} vs {fid_cpu:.6f}", f"{rel(fid_piped, fid_cpu):.1e}",
                 verdict(diff <= 1e-4 and rel(fid_piped, fid_cpu) <= 1e-5)])
    if run.cuda:
        plain_a = ganeval.compute_stats(str(run.folder_a), extractor=extractor, save_features=True, **options)
        plain_b = ganeval.compute_stats(str(run.folder_b), extractor=extractor, **options)
        diff = float(np.abs(piped_a.features - plain_a.features).max())
        fid_plain = ganeval.fid(plain_a, plain_b)
        rows.append([f"pipeline vs plain path, both on {device}", f"{diff:.1e}", f"{fid_piped:.6f} vs {fid_plain:.6f}",
                     f"{rel(fid_piped, fid_plain):.1e}", verdict(diff <= 1e-4 and rel(fid_piped, fid_plain) <= 1e-5)])
    else:
        rows.append(["pipeline vs plain path, both on CUDA", "", "", "", NO_CUDA])
    return (f"## Exactness of the pipeline ({m} images per folder, fp32)\n\ntargets: features ≤ 1e-4 abs, "
            "FID ≤ 1e-5 relative\n\n" + table(["comparison", "max abs feature diff", "FID a vs b", "rel. FID diff",
                                                 "check"], rows) + "\n")


def section_nvjpeg_fid(run: Run) -> str:
    if not run.cuda:
        return f"## nvjpeg effect on FID\n\n{NO_CUDA}\n"
    extractor = _extractor(run)
    batch = run.args.batch_size
    stats = {}
    for decode in ("cpu", "gpu"):
        for side, folder in (("a", run.folder_a), ("b", run.folder_b)):
            stats[decode, side] = compute_stats(str(folder), extractor=extractor, progress=False, distributed=False, batch_size=batch, decode=decode)
    fid_pil, fid_nv = ganeval.fid(stats["cpu", "a"], stats["cpu", "b"]), ganeval.fid(stats["gpu", "a"], stats["gpu", "b"])
    self_fid = ganeval.fid(stats["cpu", "a"], stats["gpu", "a"])
    moved = rel(fid_nv, fid_pil)
    return (f"## nvjpeg effect on FID ({run.args.images} vs {run.args.images} images)\n\n"
            + table(["decode", "FID a vs b", "rel. diff vs PIL", "FID(PIL a, nvjpeg a)"], [
                ["PIL (default)", f"{fid_pil:.6f}", "reference", ""],
                ["nvjpeg (`--decode gpu`)", f"{fid_nv:.6f}", f"{moved:.2e}", f"{self_fid:.2e}"]])
            + f"\n\nnvjpeg could be the default only if the FID moves < 1e-5 relative: "
              f"{'it does not move more (< 1e-5)' if moved < 1e-5 else 'it moves more, so it stays opt-in'}\n")


def section_large(run: Run) -> str:
    if not run.cuda:
        return f"## 50,000 images -> statistics\n\n{NO_CUDA}\n"
    n = run.args.large
    folder = run.work / f"jpeg256-large-{n}"
    build = build_images(folder, None, n, seed=1)
    extractor = _extractor(run)
    start = time.perf_counter()
    stats = compute_stats(str(folder), extractor=extractor, progress=False, distributed=False, batch_size=run.args.batch_size)
    stats_seconds = time.perf_counter() - start
    start = time.perf_counter()
    mu, sigma = stats._mean, stats._scatter / (stats.count - 1)
    value = frechet_distance_torch(mu, (sigma + sigma.T) / 2, mu + 0.01, (sigma + sigma.T) / 2)
    fd_seconds = time.perf_counter() - start
    total = stats_seconds + fd_seconds
    return (f"## {n:,} images -> statistics, FD included\n\n{n:,} JPEG files 256x256 (built in {build:.0f} s): "
            f"statistics in {stats_seconds:.1f} s ({n / stats_seconds:,.0f} images/s), FD on the GPU "
            f"{fd_seconds:.2f} s (value {value:.4f} against a shifted copy); total {total:.1f} s; target ≤ 30 s: "
            f"{verdict(total <= 30)}\n")


def section_peers(run: Run) -> str:
    import peers

    n = run.args.peer_images
    root = run.work / "peers"
    root.mkdir(exist_ok=True)
    folders = None
    if n <= run.args.images:  # the same images as the other sections (the first n of each folder)
        folders = (run.work / f"peers-{n}" / "a", run.work / f"peers-{n}" / "b")
        for src, dst in ((run.folder_a, folders[0]), (run.folder_b, folders[1])):
            dst.mkdir(parents=True, exist_ok=True)
            for p in files_of(src)[:n]:
                target = dst / p.name
                if not target.exists():
                    try:
                        os.link(p, target)
                    except OSError:
                        target.write_bytes(p.read_bytes())
    tools = [t.strip() for t in run.args.peer_tools.split(",") if t.strip()]
    rows, meta = peers.run_benchmark(n, "jpeg256", tools, run.args.batch_size, None, 0, root / f"run-{time.time_ns()}",
                                     False, log, device=str(run.device), folders=folders)
    ganeval_best = min((r.seconds for r in rows if r.tool == "ganeval" and r.seconds), default=None)
    peer_best = min((r.seconds for r in rows if r.tool != "ganeval" and r.seconds), default=None)
    compared = [r for r in rows if r.speed_ratio]
    summary = ""
    if ganeval_best and peer_best:
        summary = (f"\n\nfastest peer {peer_best:.2f} s vs ganeval's fastest mode {ganeval_best:.2f} s: "
                   f"{peer_best / ganeval_best:.2f}x (target ≥ 3x on a GPU)")
    if compared:
        worst = min(compared, key=lambda r: r.speed_ratio)
        summary += (f"; in the same mode the smallest margin is {worst.speed_ratio:.2f}x ({worst.tool}, "
                    f"mode {worst.mode})")
    summary += "\n" if summary else ""
    notes = "".join(f"\n- {note}" for note in meta["notes"])
    return (f"## Peers on the same device ({meta['device']})\n\n{n} + {n} JPEG 256x256 per tool, batch "
            f"{meta['batch_size']}, {meta['workers']} loader workers where a tool takes a count; seconds = call to FID "
            f"number; versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}{notes}\n\n"
            + peers.format_table(rows) + summary + "\n")


RUNNERS = {"env": section_env, "images": section_images, "fd": section_fd, "accumulation": section_accumulation,
           "nvjpeg": section_nvjpeg, "stages": section_stages, "throughput": section_throughput,
           "exactness": section_exactness, "nvjpeg-fid": section_nvjpeg_fid, "large": section_large,
           "peers": section_peers}
# rough seconds each needs on an H200 with 5,000 images (the budget check skips optional ones that do not fit)
ESTIMATE = {"large": 90, "peers": 180}
OPTIONAL = ("large", "peers")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=5000, help="JPEG pairs built and measured (default 5000)")
    parser.add_argument("--large", type=int, default=50000, help="images of the large run (0: skip; default 50000)")
    parser.add_argument("--peer-images", type=int, default=2500, help="images per folder in the peer table")
    parser.add_argument("--peer-tools", default=",".join(("ganeval", "pytorch-fid", "clean-fid", "torch-fidelity",
                                                          "torchmetrics", "torchmetrics-tf1")))
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--phase", choices=("all", "prep", "main"), default="all")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    parser.add_argument("--budget-s", type=float, default=540.0, help="skip optional sections past this (default 540)")
    parser.add_argument("--work-dir", default="/tmp/ganeval-gpu")
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu-report.md"))
    parser.add_argument("--dry-run", action="store_true", help="= --device cpu --images 40 --peer-images 12 "
                        "--large 0 --batch-size 10 (proves the script on a machine without a GPU)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.device, args.images, args.peer_images, args.large, args.batch_size = "cpu", 40, 12, 0, 10
        args.peer_tools = "ganeval,pytorch-fid,clean-fid,torch-fidelity,torchmetrics,torchmetrics-tf1"
        args.work_dir = args.work_dir + "-dry-run"
    if torch.device(args.device).type == "cpu":
        args.dry_run = True  # small CPU-sized problems everywhere
    run = Run(args)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    if args.phase == "prep":
        wanted = [s for s in wanted if s in PREP]
    status = 0
    for name in SECTIONS:
        if name not in wanted:
            continue
        path = run.section_file(name)
        if args.phase == "main" and name in PREP and name not in ("env", "images") and path.exists():
            log(f"[{name}] kept from the prep phase")
            continue
        if name == "large" and args.large <= 0:
            path.write_text("## 50,000 images -> statistics\n\nskipped: --large 0\n")
            run.write_report()
            continue
        if name in OPTIONAL and run.cuda and run.left() < ESTIMATE[name]:
            path.write_text(f"## {name}\n\nskipped: time budget ({run.left():.0f} s left of {args.budget_s:.0f})\n")
            run.write_report()
            log(f"[{name}] skipped: time budget")
            continue
        log(f"[{name}] ... ({time.perf_counter() - run.start:.0f} s so far)")
        start = time.perf_counter()
        try:
            text = RUNNERS[name](run)
        except Exception as err:  # one failing section must not lose the others
            status = 1
            text = f"## {name}\n\n**failed**: `{type(err).__name__}: {' '.join(str(err).split())[:300]}`\n"
            traceback.print_exc()
        path.write_text(text + f"\n_section {name}: {time.perf_counter() - start:.1f} s_\n")
        run.write_report()
        log(text)
    log(f"report: {run.out} ({time.perf_counter() - run.start:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
