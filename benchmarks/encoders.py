"""ViT encoders: images/s per encoder and what the conventions change, on random weights.

    PYTHONPATH=. python benchmarks/encoders.py --threads 2 --images 8 --out encoders.json

Random weights in the official layouts (tests/vit_testing.py), so nothing is downloaded. Speed is
the whole extract() (uint8 images in, features out: preprocessing + network), after one warm-up
batch. The convention measurements give, on the same images, the max and the mean relative
difference of the features (||a - b|| / ||a||) between dgm-eval and edm2 resizing, and between
the offset- and size-based position-embedding interpolations (with random — white-noise — and
with smooth 37x37 position embeddings; the real ones are closer to smooth).
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
    """(images per wall second, images per CPU second of this process). On a shared machine the
    second, with one thread, is what one core does alone; the first is what this run got."""
    extractor.batch_size = batch
    extractor.extract(images[:batch])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    extractor.extract(images)
    return {"wall": len(images) / (time.perf_counter() - start), "per_cpu_second": len(images) / (time.process_time() - cpu)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = smooth_images(args.images, 256, 256, seed=12)
    result = {"threads": args.threads, "images": args.images, "batch": args.batch, "device": args.device,
              "torch": torch.__version__, "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dinov2.pth"
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in DinoV2ViT().state_dict().items()}
        state = randomise_({k: torch.empty(s) for k, s in shapes.items()}, seed=10)
        torch.save(state, path)
        dgm = DinoV2Extractor(path, "dgm-eval", args.device)
        result["dinov2-vitl14 dgm-eval images/s"] = _speed(dgm, images, args.batch)
        edm = DinoV2Extractor(path, "edm2", args.device)
        result["dinov2-vitl14 edm2 images/s"] = _speed(edm, images, args.batch)
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
            result[f"{name} images/s"] = _speed(cls(path, device=args.device), images, args.batch)
    result["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
