"""FID and speed of ganeval against pytorch-fid, clean-fid, torch-fidelity and torchmetrics.

Same images, same Inception weights, same batch size, one process::

    python benchmarks/peers.py --images 200 --kind both --json peers.json

1. Two folders of N images each are written under a temporary folder (seeded): A holds real
   photographs (random square crops, random horizontal flips, of scikit-image's bundled colour
   photographs), B a degraded copy of A (Gaussian blur plus Gaussian noise of 8 grey levels),
   as 64x64 PNG (``png64``) or 256x256 JPEG of quality 90 (``jpeg256``).
2. ganeval's Inception weights are exported once (``ganeval weights export``) and every peer
   loads that same file offline, through its own loading code:

   * pytorch-fid: ``$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth`` links to
     the pytorch-fid-format export, so ``calculate_fid_given_paths`` finds it in its hub cache;
   * clean-fid: its own ``InceptionV3W`` wrapper loads ``inception-2015-12-05.pt`` (the
     TorchScript export, which has the ``layers`` module clean-fid calls) from our temporary
     folder and is passed to ``compute_fid(..., mode="clean", custom_feat_extractor=...)``; the
     file clean-fid itself looks for (``/tmp/inception-2015-12-05.pt``) is never touched;
   * torch-fidelity: ``calculate_metrics(..., feature_extractor_weights_path=<export>)``;
   * torchmetrics: ``FrechetInceptionDistance(feature_extractor_weights_path=<export>)``, fed
     uint8 batches decoded with PIL, as a torchmetrics user does. Its default resize
     (``antialias=True``) is a half-pixel bilinear that matches ganeval's "nvidia" mode when
     upscaling (both kinds here upscale) and no ganeval mode when downscaling; the row
     ``torchmetrics-tf1`` runs it with ``antialias=False``, its TF1 resize (ganeval "tf1").

3. Each tool is timed from its call to the FID number: model loading, image decoding and the
   statistics included; imports are done beforehand and not timed. There is no warm-up of any
   tool (a first call is what users pay), only one tiny untimed convolution so that the first
   tool does not pay PyTorch's own start-up. All image files are read once before timing, and
   ganeval (once per mode a selected peer needs) runs right before the first peer of that mode,
   so every tool meets a warm OS file cache. Everything runs on ``--device`` (default ``cpu``;
   ``--device cuda`` gives every tool the same GPU: pytorch-fid and clean-fid the device,
   torch-fidelity ``cuda=True``, torchmetrics its metric moved there); torch threads stay at
   their default. On CUDA, ganeval and the peers that take a worker count get the same one,
   ganeval's automatic choice for the GPU (``ganeval.api.pipeline.auto_workers``) unless ``--workers``.

Matching modes must agree to 1e-4 relative FID; rows that do not are flagged (exit status 1).
``run_benchmark()`` gives the rows to Python code (no pytest-benchmark needed).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

TOOLS = ("ganeval", "pytorch-fid", "clean-fid", "torch-fidelity", "torchmetrics", "torchmetrics-tf1")
PEERS = TOOLS[1:]
#: ganeval mode reproducing each peer's preprocessing (torchmetrics: when upscaling, see the module docstring).
MATCHING_MODE = {"pytorch-fid": "pytorch-fid", "clean-fid": "clean", "torch-fidelity": "tf1",
                 "torchmetrics": "nvidia", "torchmetrics-tf1": "tf1"}
PACKAGE = {"pytorch-fid": "pytorch_fid", "clean-fid": "cleanfid", "torch-fidelity": "torch_fidelity",
           "torchmetrics": "torchmetrics", "torchmetrics-tf1": "torchmetrics"}
DISTRIBUTION = {"ganeval": "ganeval", "pytorch-fid": "pytorch-fid", "clean-fid": "clean-fid",
                "torch-fidelity": "torch-fidelity", "torchmetrics": "torchmetrics", "torchmetrics-tf1": "torchmetrics"}
KINDS = {"png64": (64, "png"), "jpeg256": (256, "jpg")}
AGREEMENT = 1e-4
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
CLEAN_FID_FILE = "inception-2015-12-05.pt"
# scikit-image's colour photographs that ship inside the wheel (no download needed).
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
               "retina", "stereo_motorcycle")


@dataclass
class Row:
    """One timed run: ``fid`` is None when the tool failed (``note`` says why)."""

    kind: str
    tool: str
    setting: str
    mode: str
    fid: float | None
    seconds: float | None
    images: int
    workers: str = ""  # image loader processes the tool used
    note: str = ""
    ganeval_seconds: float | None = None
    ganeval_fid: float | None = None
    speed_ratio: float | None = None  # peer seconds / ganeval seconds (matching mode)
    rel_fid_diff: float | None = None  # |peer - ganeval| / ganeval (matching mode)
    agrees: bool | None = None

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.seconds else None


@dataclass
class PeerWeights:
    """The exported copies of ganeval's weights that the peers load."""

    pytorch_fid: Path  # torchvision Inception3 state dict
    torch_home: Path  # $TORCH_HOME whose hub/checkpoints holds PYTORCH_FID_FILE
    torchscript_dir: Path  # holds CLEAN_FID_FILE
    digest: str
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- images


def photographs() -> list[np.ndarray]:
    import skimage.data

    images = []
    for name in PHOTOGRAPHS:
        image = getattr(skimage.data, name)()
        images.append(image[0] if isinstance(image, tuple) else image)  # stereo_motorcycle: (left, right, disp)
    return images


def write_image_pair(root: Path, n: int, kind: str, seed: int = 0) -> tuple[Path, Path]:
    """Write ``n`` real crops to root/a and a blurred, noisy copy of each to root/b; returns both folders."""
    size, ext = KINDS[kind]
    sources = photographs()
    rng = np.random.default_rng(seed)
    dir_a, dir_b = root / "a", root / "b"
    dir_a.mkdir(parents=True)
    dir_b.mkdir(parents=True)
    radius = max(1.0, size / 128)
    for i in range(n):
        photo = sources[i % len(sources)]
        height, width = photo.shape[:2]
        side = int(rng.integers(min(height, width) // 3, min(height, width) + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = photo[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        real = Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.Resampling.LANCZOS)
        blurred = np.asarray(real.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64)
        degraded = Image.fromarray(np.round(blurred + rng.normal(0, 8, blurred.shape)).clip(0, 255).astype(np.uint8))
        options = {"quality": 90} if ext == "jpg" else {}
        real.save(dir_a / f"{i:05d}.{ext}", **options)
        degraded.save(dir_b / f"{i:05d}.{ext}", **options)
    return dir_a, dir_b


def read_all_files(*folders: Path) -> int:
    """Read every file once (warms the OS file cache for every tool alike); returns the bytes read."""
    total = 0
    for folder in folders:
        for path in sorted(folder.iterdir()):
            total += len(path.read_bytes())
    return total


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


# ---------------------------------------------------------------- weights


def export_peer_weights(folder: Path, tools) -> PeerWeights:
    """Export ganeval's weights once per format the selected peers need, into ``folder``."""
    from ganeval.extractors.weights import resolve_weights, save_exported_weights

    info = resolve_weights()
    folder.mkdir(parents=True, exist_ok=True)
    pytorch_fid = folder / "inception-pytorch-fid.pth"
    torch_home = folder / "torch-home"
    torchscript_dir = folder / "clean-fid"
    notes = []
    if any(tool in tools for tool in ("pytorch-fid", "torch-fidelity", "torchmetrics", "torchmetrics-tf1")):
        written = save_exported_weights(pytorch_fid, "pytorch-fid", info)
        if written.logits == "zero-filled":
            notes.append("the pytorch-fid-format export has a zero-filled logits head (FID uses pool3 only)")
        checkpoints = torch_home / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        (checkpoints / PYTORCH_FID_FILE).symlink_to(pytorch_fid)
    if "clean-fid" in tools:
        torchscript_dir.mkdir()
        save_exported_weights(torchscript_dir / CLEAN_FID_FILE, "torchscript", info)
    return PeerWeights(pytorch_fid, torch_home, torchscript_dir, info.digest, notes)


@contextlib.contextmanager
def torch_home(path: Path):
    """Point torch.hub at ``path`` for the duration (pytorch-fid's weights lookup)."""
    previous = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(path)
    try:
        if Path(torch.hub.get_dir()) != path / "hub":
            raise RuntimeError("torch.hub.set_dir() was called in this process, so $TORCH_HOME is ignored")
        yield
    finally:
        if previous is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = previous


# ---------------------------------------------------------------- the tools, each from call to FID


def run_ganeval(dir_a: Path, dir_b: Path, mode: str, batch_size: int, workers: int, device: str = "cpu") -> float:
    import ganeval
    import ganeval.api.compute

    # Extractors are cached per process; drop them so that every run pays its model load like the peers.
    ganeval.api.compute.clear_extractor_cache()
    return float(ganeval.fid(str(dir_a), str(dir_b), mode=mode, device=device, batch_size=batch_size, workers=workers))


def run_pytorch_fid(dir_a: Path, dir_b: Path, weights: PeerWeights, batch_size: int, workers: int,
                    device: str = "cpu") -> float:
    from pytorch_fid.fid_score import calculate_fid_given_paths

    with torch_home(weights.torch_home):
        return float(calculate_fid_given_paths([str(dir_a), str(dir_b)], batch_size, device, 2048, num_workers=workers))


def run_clean_fid(dir_a: Path, dir_b: Path, weights: PeerWeights, batch_size: int, workers: int,
                  device: str = "cpu") -> float:
    from cleanfid import fid as cleanfid_fid
    from cleanfid.inception_torchscript import InceptionV3W

    model = InceptionV3W(str(weights.torchscript_dir), download=False, resize_inside=False).eval().to(device)
    return float(cleanfid_fid.compute_fid(str(dir_a), str(dir_b), mode="clean", batch_size=batch_size,
                                          device=torch.device(device), num_workers=workers,
                                          custom_feat_extractor=model, verbose=False, use_dataparallel=False))


def run_torch_fidelity(dir_a: Path, dir_b: Path, weights: PeerWeights, batch_size: int, workers: int,
                       device: str = "cpu") -> float:
    import torch_fidelity

    # torch-fidelity picks its own loader workers: min(4, 2 * cores), or none with save_cpu_ram.
    metrics = torch_fidelity.calculate_metrics(
        input1=str(dir_a), input2=str(dir_b), fid=True, cuda=torch.device(device).type == "cuda",
        batch_size=batch_size, verbose=False,
        cache=False, save_cpu_ram=workers == 0, feature_extractor_weights_path=str(weights.pytorch_fid))
    return float(metrics["frechet_inception_distance"])


def run_torchmetrics(dir_a: Path, dir_b: Path, weights: PeerWeights, batch_size: int, antialias: bool,
                     device: str = "cpu") -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, antialias=antialias,
                                      feature_extractor_weights_path=str(weights.pytorch_fid)).to(device)
    for real, folder in ((True, dir_a), (False, dir_b)):
        files = image_files(folder)
        for start in range(0, len(files), batch_size):
            batch = [np.asarray(Image.open(path).convert("RGB")) for path in files[start:start + batch_size]]
            metric.update(torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(device), real=real)
    return float(metric.compute())


def loader_workers(tool: str, workers: int) -> str:
    if tool == "torch-fidelity":
        return "0" if workers == 0 else str(min(4, 2 * (os.cpu_count() or 1)))
    if tool.startswith("torchmetrics"):
        return "0"  # decoded in this process by the benchmark, as a torchmetrics user does
    return str(workers)


def _call_quietly(verbose: bool, fn, *args):
    if verbose:
        return fn(*args), ""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args), captured.getvalue()


def _timed(verbose: bool, fn, *args) -> tuple[float | None, float | None, str]:
    gc.collect()
    start = time.perf_counter()
    try:
        value, _ = _call_quietly(verbose, fn, *args)
    except Exception as err:  # a failing tool is reported in its row, the others still run
        return None, None, f"failed: {type(err).__name__}: {' '.join(str(err).split())[:200]}"
    return value, time.perf_counter() - start, ""


def missing_packages(tools) -> dict[str, str]:
    missing = {}
    for tool in tools:
        if tool != "ganeval" and importlib.util.find_spec(PACKAGE[tool]) is None:
            missing[tool] = f"{tool}: not installed (pip install {DISTRIBUTION[tool]}); skipped"
    return missing


def import_tools(tools) -> None:
    """Import what the runs use, so that imports are not timed."""
    modules = {"ganeval": ["ganeval", "ganeval.api.compute"], "pytorch-fid": ["pytorch_fid.fid_score"],
               "clean-fid": ["cleanfid.fid", "cleanfid.inception_torchscript"], "torch-fidelity": ["torch_fidelity"],
               "torchmetrics": ["torchmetrics.image.fid"], "torchmetrics-tf1": ["torchmetrics.image.fid"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tool in tools:
            for module in modules[tool]:
                importlib.import_module(module)


def warm_up_torch(device: str = "cpu") -> None:
    """One tiny convolution: PyTorch's thread pool and kernels (and on CUDA the context) start
    here, not inside the first tool."""
    with torch.inference_mode():
        torch.nn.functional.conv2d(torch.ones(1, 3, 16, 16, device=device),
                                   torch.ones(4, 3, 3, 3, device=device)).sum().item()


def run_benchmark(images: int = 20, kind: str = "png64", tools=TOOLS, batch_size: int = 50,
                  workers: int | None = None, seed: int = 0, root: Path | None = None,
                  verbose: bool = False, log=print, device: str = "cpu",
                  folders: tuple[Path, Path] | None = None) -> tuple[list[Row], dict]:
    """Run the comparison for one kind of images; returns (rows, metadata).

    ``root``: where images and exported weights go (default: a temporary folder, removed after).
    ``log`` receives progress and notes, one line each. ``device``: where every tool runs.
    ``folders``: two existing image folders to use instead of writing ``images`` of ``kind``
    (``images`` must then be their image count).
    """
    from ganeval.io.sources import default_workers

    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    unknown = [tool for tool in tools if tool not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if workers is None:
        if torch.device(device).type == "cuda":
            from ganeval.api.pipeline import auto_workers

            workers = auto_workers(device)
        else:
            workers = default_workers()
    notes = []
    missing = missing_packages(tools)
    for line in missing.values():
        log(line)
    notes += missing.values()
    peers = [tool for tool in PEERS if tool in tools and tool not in missing]
    run_ganeval_too = "ganeval" in tools
    import_tools(([] if not run_ganeval_too else ["ganeval"]) + peers)

    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ganeval-peers-")))
        root = Path(root)
        dir_a, dir_b = folders if folders is not None else write_image_pair(root / kind, images, kind, seed)
        weights = export_peer_weights(root / "weights", peers)
        notes += weights.notes
        read_all_files(dir_a, dir_b)
        warm_up_torch(device)

        size = KINDS[kind][0]
        count = 2 * images
        plan: list[tuple[str, str]] = []  # (tool, ganeval mode it needs or matches)
        for peer in peers:
            mode = MATCHING_MODE[peer]
            if run_ganeval_too and ("ganeval", mode) not in plan:
                plan.append(("ganeval", mode))
            plan.append((peer, mode))
        if run_ganeval_too and not peers:
            plan.append(("ganeval", "tf1"))

        rows: list[Row] = []
        ganeval_rows: dict[str, Row] = {}
        for tool, mode in plan:
            log(f"[{kind}] {tool} ({mode if tool == 'ganeval' else 'its default settings'}) ...")
            if tool == "ganeval":
                fid, seconds, note = _timed(verbose, run_ganeval, dir_a, dir_b, mode, batch_size, workers, device)
                setting = f"mode={mode}"
            elif tool == "pytorch-fid":
                fid, seconds, note = _timed(verbose, run_pytorch_fid, dir_a, dir_b, weights, batch_size, workers,
                                            device)
                setting = "calculate_fid_given_paths"
            elif tool == "clean-fid":
                fid, seconds, note = _timed(verbose, run_clean_fid, dir_a, dir_b, weights, batch_size, workers, device)
                setting = "compute_fid mode=clean"
            elif tool == "torch-fidelity":
                fid, seconds, note = _timed(verbose, run_torch_fidelity, dir_a, dir_b, weights, batch_size, workers,
                                            device)
                setting = "calculate_metrics fid=True"
            else:
                antialias = tool == "torchmetrics"
                fid, seconds, note = _timed(verbose, run_torchmetrics, dir_a, dir_b, weights, batch_size, antialias,
                                            device)
                setting = f"FrechetInceptionDistance antialias={antialias}"
            row = Row(kind, tool, setting, mode, fid, seconds, count, loader_workers(tool, workers), note)
            if tool == "torchmetrics" and size > 299:
                row.note = "; ".join(filter(None, [note, "downscaling: no ganeval mode matches antialias=True"]))
            rows.append(row)
            if tool == "ganeval":
                ganeval_rows[mode] = row
            if note:
                log(f"[{kind}] {tool}: {note}")

    for row in rows:
        reference = ganeval_rows.get(row.mode)
        if row.tool == "ganeval" or reference is None or row.fid is None or reference.fid is None:
            continue
        if row.tool == "torchmetrics" and size > 299:
            continue
        row.ganeval_fid, row.ganeval_seconds = reference.fid, reference.seconds
        row.speed_ratio = row.seconds / reference.seconds
        row.rel_fid_diff = abs(row.fid - reference.fid) / abs(reference.fid)
        row.agrees = row.rel_fid_diff <= AGREEMENT

    metadata = {
        "kind": kind, "images_per_folder": images, "batch_size": batch_size, "workers": workers, "seed": seed,
        "device": _device_name(device),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "weights_digest": weights.digest, "versions": _versions(tools),
        "notes": notes,
    }
    return rows, metadata


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return str(device)


def _versions(tools) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"torch": torch.__version__}
    for tool in tools:
        try:
            found[DISTRIBUTION[tool]] = version(DISTRIBUTION[tool])
        except PackageNotFoundError:
            pass
    return found


# ---------------------------------------------------------------- report


def format_table(rows: list[Row]) -> str:
    header = ("kind", "tool", "mode", "FID", "seconds", "images/s", "workers", "peer s / ganeval s",
              "rel. FID diff", "check")
    lines = []
    for row in rows:
        check = "" if row.agrees is None else ("ok" if row.agrees else f"DISAGREES (> {AGREEMENT:g})")
        lines.append((
            row.kind, row.tool, row.mode,
            "failed" if row.fid is None else f"{row.fid:.6f}",
            "" if row.seconds is None else f"{row.seconds:.2f}",
            "" if row.images_per_s is None else f"{row.images_per_s:.2f}",
            row.workers,
            "" if row.speed_ratio is None else f"{row.speed_ratio:.2f}",
            "" if row.rel_fid_diff is None else f"{row.rel_fid_diff:.2e}",
            check,
        ))
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="images per folder (default 200)")
    parser.add_argument("--kind", choices=[*KINDS, "both"], default="png64",
                        help="64x64 PNG, 256x256 JPEG (quality 90), or both (default png64)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--batch-size", type=int, default=50, help="images per batch, every tool (default 50)")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding workers for ganeval, pytorch-fid and clean-fid (default: ganeval's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image crops and noise (default 0)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write images and exported weights here (a new folder) instead of a temporary one")
    parser.add_argument("--device", default="cpu",
                        help="where every tool runs: cpu (default) or cuda[:N], the same GPU for all")
    parser.add_argument("--verbose", action="store_true", help="show the tools' own output and warnings")
    parser.add_argument("--json", type=Path, default=None, help="also write rows and metadata to this JSON file")
    args = parser.parse_args(argv)
    if args.images < 2:
        parser.error("--images must be at least 2 (a covariance needs two images)")
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = [tool for tool in tools if tool not in TOOLS]
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {','.join(TOOLS)}")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists; give a new folder")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    kinds = list(KINDS) if args.kind == "both" else [args.kind]
    all_rows, runs = [], []
    for kind in kinds:
        root = None if args.keep is None else args.keep / kind
        rows, metadata = run_benchmark(args.images, kind, tools, args.batch_size, args.workers, args.seed,
                                       root, args.verbose, log, device=args.device)
        all_rows += rows
        runs.append(metadata)

    first = runs[0]
    print(f"device {first['device']}, {first['images_per_folder']} images per folder, batch {first['batch_size']}, "
          f"{first['torch_threads']} torch threads, {first['cpu_count']} CPUs, {first['platform']}")
    print("versions: " + ", ".join(f"{name} {v}" for name, v in first["versions"].items()))
    print(f"one weights file for all (network digest {first['weights_digest'][:16]}...); seconds = call to FID "
          "number, model load, decoding and statistics included, imports not")
    for note in dict.fromkeys(note for run in runs for note in run["notes"]):
        print(f"note: {note}")
    print(f"matching modes (same mode column) must agree to {AGREEMENT:g} relative FID; "
          "torchmetrics = its default antialias=True, torchmetrics-tf1 = antialias=False")
    print()
    print(format_table(all_rows))
    noted = [row for row in all_rows if row.note]
    if noted:
        print()
    for row in noted:
        print(f"{row.kind} {row.tool}: {row.note}")
    compared = [row for row in all_rows if row.agrees is not None]
    bad = [row for row in compared if not row.agrees]
    failed = [row for row in all_rows if row.fid is None]
    print(f"\nmatching modes must agree to {AGREEMENT:g} relative FID: "
          + ("all agree" if compared and not bad else f"{len(bad)} of {len(compared)} rows disagree"
             if compared else "nothing compared"))
    if args.json is not None:
        record = {"runs": runs, "rows": [dict(asdict(row), images_per_s=row.images_per_s) for row in all_rows],
                  "agreement": AGREEMENT}
        args.json.write_text(json.dumps(record, indent=2))
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
