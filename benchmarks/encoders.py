"""ViT encoders: images/s per encoder and backend, precision effects, and what the conventions change.

    PYTHONPATH=. python benchmarks/encoders.py --threads 2 --images 8 --out encoders.json

Random weights in the official layouts (tests/vit_testing.py), so nothing is downloaded. Speed is
the whole extract() (uint8 images in, features out: preprocessing + network), after one warm-up
batch, for the torch backend at fp32 (the default), ONNX Runtime at fp32 and torch at bf16 (each
with its max abs / max relative L2 difference from torch fp32 on the same images), and, with
--compile, torch.compile. "GFLOP/s" is the network's FLOPs (torch.utils.flop_counter, one
multiply-add = 2 FLOPs) times images/s. The ONNX graphs are cached in a temporary folder.

The convention measurements give, on the same images, the max and the mean relative difference
of the features (||a - b|| / ||a||) between dgm-eval and edm2 resizing, and between the offset-
and size-based position-embedding interpolations (with random — white-noise — and with smooth
37x37 position embeddings; the real ones are closer to smooth).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ganeval.extractors.clip import ClipB32Extractor, ClipExtractor, ClipVisual  # noqa: E402
from ganeval.extractors.dinov2 import DinoV2Extractor, DinoV2ViT  # noqa: E402
from vit_testing import randomise_, smooth_images  # noqa: E402


def _clip_state(width, layers, patch, grid, embed):
    with torch.device("meta"):
        model = ClipVisual(width, layers, patch, grid, embed)
    state = randomise_({f"visual.{k}": torch.empty(v.shape) for k, v in model.state_dict().items()}, seed=11)
    return {k: v.half() for k, v in state.items()}


def _relative(a, b):
    d = (a - b).norm(dim=1) / a.norm(dim=1)
    return {"max_abs": (a - b).abs().max().item(), "mean_relative_l2": d.mean().item(), "max_relative_l2": d.max().item()}


def _speed(extractor, images, batch):
    """(images per wall second, images per CPU second of this process, the features). On a shared
    machine the second, with one thread, is what one core does alone; the first is what this run got."""
    extractor.batch_size = batch
    extractor.extract(images[:batch])  # warm-up
    _sync(extractor.device)
    start, cpu = time.perf_counter(), time.process_time()
    features = next(iter(extractor.extract(images).values()))
    _sync(extractor.device)
    return {"wall": len(images) / (time.perf_counter() - start),
            "per_cpu_second": len(images) / (time.process_time() - cpu)}, features.float().cpu()


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _gflop_per_image(extractor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    size = extractor.convention.size
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        extractor.model(torch.zeros(1, 3, size, size, device=extractor.device))
    return counter.get_total_flops() / 1e9


def _variants(name, build, images, batch, compile_too):
    """Speed and difference from torch fp32 of each backend / precision of one encoder."""
    plain = build()
    speed, reference = _speed(plain, images, batch)
    gflop = _gflop_per_image(plain)
    out = {"gflop_per_image": gflop, "torch fp32": {**speed, "gflop_per_s": gflop * speed["wall"]}}
    on_gpu = plain.device.type == "cuda"
    del plain
    variants = ({"torch tf32": {"precision": "tf32"}, "torch bf16": {"precision": "bf16"},
                 "torch fp16": {"precision": "fp16"}} if on_gpu else
                {"onnxruntime fp32": {"backend": "onnxruntime"}, "torch bf16": {"precision": "bf16"}})
    if compile_too:
        variants["torch fp32 compiled"] = {"compile": True}
    for label, options in variants.items():
        start = time.perf_counter()
        try:
            extractor = build(**options)
        except Exception as err:  # e.g. onnxruntime not installed: recorded, not fatal
            out[label] = {"error": " ".join(str(err).split())[:200]}
            continue
        setup = time.perf_counter() - start  # loading, and for ONNX Runtime the export and session
        speed, features = _speed(extractor, images, batch)
        out[label] = {**speed, "gflop_per_s": gflop * speed["wall"], "setup_s": round(setup, 1),
                      **{f"vs torch fp32 {k}": v for k, v in _relative(reference, features).items()}}
        del extractor
    print(name, json.dumps(out), flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes for ViT-L)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = smooth_images(args.images, 256, 256, seed=12)
    result = {"threads": args.threads, "images": args.images, "batch": args.batch, "device": args.device,
              "torch": torch.__version__, "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GANEVAL_CACHE"] = str(Path(tmp) / "cache")  # ONNX graphs of random weights: not kept
        path = Path(tmp) / "dinov2.pth"
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in DinoV2ViT().state_dict().items()}
        state = randomise_({k: torch.empty(s) for k, s in shapes.items()}, seed=10)
        torch.save(state, path)
        for convention in ("dgm-eval", "edm2"):
            result[f"dinov2-vitl14 {convention}"] = _variants(
                f"dinov2-vitl14 {convention}", lambda **o: DinoV2Extractor(path, convention, args.device, **o),
                images, args.batch, args.compile)
        dgm, edm = DinoV2Extractor(path, "dgm-eval", args.device), DinoV2Extractor(path, "edm2", args.device)
        f_dgm, f_edm = dgm.extract(images)["dinov2"], edm.extract(images)["dinov2"]
        result["dinov2 dgm-eval vs edm2"] = _relative(f_dgm, f_edm)
        size = DinoV2Extractor(path, "dgm-eval", args.device, pos_embed="size")
        result["dinov2 offset vs size pos-embed (random pos_embed)"] = _relative(f_dgm, size.extract(images)["dinov2"])
        # Smooth position embeddings: a 6x6 random field upsampled to 37x37 (plus the CLS slot).
        g = torch.Generator().manual_seed(13)
        field = torch.nn.functional.interpolate(0.5 * torch.randn(1, 1024, 6, 6, generator=g), size=(37, 37),
                                                mode="bicubic", align_corners=True)
        smooth = torch.cat((state["pos_embed"][:, :1], field.flatten(2).transpose(1, 2)), dim=1)
        with torch.no_grad():
            for extractor in (dgm, size):
                extractor.model.pos_embed.copy_(smooth)
                extractor.model._pos_cache.clear()
        result["dinov2 offset vs size pos-embed (smooth pos_embed)"] = _relative(
            dgm.extract(images)["dinov2"], size.extract(images)["dinov2"])
        del dgm, edm, size, state

        for cls, spec, name in ((ClipExtractor, (1024, 24, 14, 24, 768), "clip-vitl14-336 cmmd"),
                                (ClipB32Extractor, (768, 12, 32, 7, 512), "clip-vitb32 clip-fid")):
            path = Path(tmp) / f"{name.split()[0]}.pt"
            torch.save(_clip_state(*spec), path)
            result[name] = _variants(name, lambda cls=cls, path=path, **o: cls(path, device=args.device, **o),
                                     images, args.batch, args.compile)
    result["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
