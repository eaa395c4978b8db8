"""The training loop: checkpoints, fixed-noise sample grids, loss and FID logs, exact resume.

A run directory holds:
    checkpoint.pt      models, optimisers, step, RNG and data-order state (written atomically)
    losses.csv         step and the model's losses for every training step
    fid.csv, fid.png   FID by step (with --fid-every and --real-stats; fid.png needs ganeval[plots]); a cGAN
                       with per-class real statistics (`ganeval stats --per-class`) also logs intra_fid
                       and fid_class_<label> for every class
    grids/step_NNNNNN.png   64 fixed-noise samples every ``sample_every`` steps

``resume=True`` continues from checkpoint.pt: on the CPU with the same seed the following
steps reproduce the losses of an uninterrupted run bit for bit (log rows written after the
checkpoint by a killed run are dropped first).
"""

from __future__ import annotations

import csv
import json
import pickle
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from ganeval.core.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval_train.data import load_dataset, to_model_range, to_unit_range
from ganeval_train.models import MODELS, GANModel, build_model, model_from_config

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


# ------------------------------------------------------------------ data order


class BatchSampler:
    """Shuffled epochs of indices from its own torch.Generator; its whole state is saved in checkpoints."""

    def __init__(self, size: int, batch_size: int, seed: int):
        if size < batch_size:
            raise GanevalError(f"the dataset has {size} images, fewer than the batch size {batch_size}")
        self.size, self.batch_size = size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(size, generator=self.generator)
        self.position = 0

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:  # drop the incomplete tail, reshuffle
            self.order = torch.randperm(self.size, generator=self.generator)
            self.position = 0
        indices = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return indices

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"].clone(), int(state["position"])


# ------------------------------------------------------------------ sampling helpers


class SampleStream:
    """Batches of samples in [-1, 1] from fixed seeds: restart() replays the same latents, labels and noise.

    Uses its own CPU generator, never the global RNG, so evaluating does not change training.
    Conditional models: sample i of the stream has class ``classes[i % len(classes)]`` (default
    all classes 0..K-1 in turn), or ``class_index`` for every sample; ``stream(n, labels)`` uses the
    given int64 class indices instead (what ``FIDCallback(per_class=True)`` passes).
    """

    def __init__(self, model: GANModel, seed: int, class_index: int | None = None, truncation: float | None = None,
                 classes: list[int] | None = None):
        self.model, self.seed, self.class_index, self.truncation = model, seed, class_index, truncation
        self.classes = list(classes) if classes is not None else None
        self.restart()

    def restart(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)
        self.produced = 0

    def labels_for(self, n: int) -> torch.Tensor | None:
        """The class indices (int64 [n], CPU) of the next ``n`` samples; None for unconditional models."""
        if not self.model.conditional:
            return None
        if self.class_index is not None:
            return torch.full((n,), self.class_index, dtype=torch.int64)
        position = torch.arange(self.produced, self.produced + n)
        if self.classes is None:
            return position % self.model.config.num_classes
        return torch.as_tensor(self.classes, dtype=torch.int64)[position % len(self.classes)]

    def __call__(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        model = self.model
        z = model.sample_latents(n, self.generator)
        if labels is None:
            labels = self.labels_for(n)
        elif not model.conditional:
            raise GanevalError(f"{model.name} is not conditional: it takes no class labels")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.int64).to(model.device)
        self.produced += n
        kwargs = {"truncation": self.truncation} if self.truncation is not None else {}
        if model.name == "stylegan-lite":
            kwargs["noise_generator"] = self.generator
        return model.generate(z, labels, **kwargs)


def save_grid(model: GANModel, path: Path, seed: int) -> None:
    """64 (cGAN: 8 per class) fixed-seed samples as one PNG grid; each cGAN column is one class."""
    stream = SampleStream(model, seed)
    if model.conditional:
        k = model.config.num_classes
        images, nrow = stream(8 * k), k
    else:
        images, nrow = stream(64), 8
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(to_unit_range(images.cpu()), nrow=nrow, padding=2, pad_value=1.0), path)


def plot_fid(history: list[tuple[int, float]], path: Path, num_samples: int | None = None) -> bool:
    """FID by step as a matplotlib PNG (grid, labels, sample count in the title); False without matplotlib."""
    from ganeval.report.plots import have_matplotlib, plot_metrics_over_steps

    if not history or not have_matplotlib():
        return False
    plot_metrics_over_steps([s for s, _ in history], {"FID": [v for _, v in history]}, path,
                            num_samples=num_samples, title="FID during training")
    return True


# ------------------------------------------------------------------ logs


def _truncate_csv(path: Path, before_step: int) -> None:
    """Keep the header and the rows whose step < before_step (rows after a checkpoint are replayed)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) < before_step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


class CsvLog:
    def __init__(self, path: Path):
        self.path = path
        self.columns: list[str] | None = None
        if path.exists() and path.stat().st_size:
            with open(path, newline="") as f:
                self.columns = next(csv.reader(f), None)

    def write(self, row: dict) -> None:
        new = self.columns is None
        if new:
            self.columns = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.columns)
            writer.writerow([_fmt(row.get(c, "")) for c in self.columns])


def _fmt(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class ProgressLine:
    """Step, losses and last FID on stderr: one updating line on a terminal, else a line every ``every`` steps."""

    def __init__(self, total: int, every: int = 100, quiet: bool = False):
        self.total, self.every, self.quiet = total, every, quiet
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.first_step: int | None = None

    def show(self, step: int, losses: dict, last_fid: float | None, force: bool = False) -> None:
        if self.quiet:
            return
        if self.first_step is None:  # the rate counts training steps only, from the first one shown
            self.first_step, self.start = step - 1, time.perf_counter()
        if not (self.tty or force or step % self.every == 0):
            return
        done = step - self.first_step
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        loss_text = " ".join(f"{k} {v:.3f}" for k, v in losses.items() if k.startswith("loss"))
        fid_text = f" fid {last_fid:.2f}" if last_fid is not None else ""
        line = f"[{bar}] step {step}/{self.total} {loss_text}{fid_text} {rate:.1f} it/s"
        sys.stderr.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def fid_started(self, step: int, num_samples: int) -> None:
        """Make the FID phase visible: end the step line (the FID bar follows) or log a line."""
        if self.quiet:
            return
        if self.tty:
            if self.first_step is not None:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"step {step}: FID of {num_samples} samples...\n")
        sys.stderr.flush()

    def fid_done(self, step: int, value: float, seconds: float) -> None:
        if not self.quiet and not self.tty:
            sys.stderr.write(f"step {step}: fid {value:.2f} ({seconds:.1f} s)\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


# ------------------------------------------------------------------ checkpoints


def _plain_fid_history(history) -> list[list]:
    """FIDRecords as plain lists ``[step, fid, per_class or None, intra_fid or None]``: what
    ``torch.load(weights_only=True)`` reads back (it refuses every class but tensors and builtins)."""
    def plain(record):
        per_class, intra = getattr(record, "per_class", None), getattr(record, "intra_fid", None)
        return [int(record[0]), float(record[1]),
                None if per_class is None else {str(k): float(v) for k, v in per_class.items()},
                None if intra is None else float(intra)]

    return [plain(record) for record in history]


def _fid_records(rows) -> list:
    from ganeval.callback import FIDRecord

    # FIDRecords themselves in checkpoints written before the history was stored as plain lists.
    return [row if isinstance(row, FIDRecord) else FIDRecord(*row) for row in rows]


def save_checkpoint(path: Path, payload: dict) -> None:
    """torch.save to a temporary file in the same folder, then an atomic rename.

    The payload holds only tensors, builtins and dicts/lists of them, so that
    :func:`load_checkpoint` can read it with ``weights_only=True`` (no code runs from a checkpoint).
    """
    payload = dict(payload, fid_history=_plain_fid_history(payload.get("fid_history", [])))
    with atomic_write(path) as tmp_name:
        torch.save(payload, tmp_name)


def load_checkpoint(path: Path) -> dict:
    """The checkpoint dict at ``path``, read with ``weights_only=True``: a pickle that names any
    global beyond tensors and builtins (a payload that would run code) is refused in one line, unrun."""
    if not path.is_file():
        raise GanevalError(f"{path}: no checkpoint here; train first with `ganeval-train train ... --out {path.parent}`")
    from ganeval.callback import FIDRecord

    try:
        # FIDRecord (a tuple with two attributes, nothing run) is allowed for checkpoints of earlier versions.
        with torch.serialization.safe_globals([FIDRecord]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused a global: never run it
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"it names the global {found[1]}" if found else "it holds more than tensors and plain data"
        raise GanevalError(f"{path}: refused: {what}, which could run code on loading; only load checkpoints "
                           "that ganeval-train wrote") from None
    except Exception as exc:  # truncated or foreign file
        raise GanevalError(f"{path}: not a readable ganeval-train checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise GanevalError(f"{path}: not a ganeval-train checkpoint (format {CHECKPOINT_FORMAT})")
    payload["fid_history"] = _fid_records(payload.get("fid_history") or [])
    return payload


def class_names_of(payload: dict) -> tuple[str, ...]:
    """The class names of a conditional run's classes 0..K-1 (sub-folder names; ``str(i)`` by default).

    Checkpoints written before class names were recorded get ``str(i)``.
    """
    k = int(payload["config"].get("num_classes") or 0)
    names = tuple(str(n) for n in payload.get("class_names") or ())
    return names if len(names) == k else tuple(str(i) for i in range(k))


def load_model(run_dir, device=None) -> tuple[GANModel, dict]:
    """The model of a run directory (or checkpoint file), weights restored, on ``device``."""
    path = Path(run_dir)
    path = path / CHECKPOINT if path.is_dir() else path
    payload = load_checkpoint(path)
    model = model_from_config(payload["model_name"], payload["config"])
    model.load_training_state(payload["training_state"])
    return model.to(device or "cpu"), payload


# ------------------------------------------------------------------ the loop


@dataclass
class TrainOptions:
    model: str
    out: Path
    dataset: str = "digits"
    steps: int = 2000
    seed: int = 0
    resume: bool = False
    preset: str = "small"
    overrides: dict = field(default_factory=dict)
    checkpoint_every: int = 500
    sample_every: int = 500
    fid_every: int | None = None
    real_stats: Path | None = None
    fid_samples: int = 1000
    fid_batch_size: int = 50
    data_root: Path | None = None
    download: bool = False
    max_images: int | None = None
    device: str | None = None
    log_every: int = 100
    quiet: bool = False


def _capture_rng(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(options: TrainOptions) -> dict:
    """Train (or resume) a run; returns a summary dict (steps, seconds, FID history, paths)."""
    opts = options
    out = Path(opts.out)
    ckpt_path = out / CHECKPOINT
    if opts.model not in MODELS:
        raise GanevalError(f"unknown model {opts.model!r}; choose one of {', '.join(MODELS)}")
    if opts.fid_every is not None and opts.real_stats is None:
        raise GanevalError("--fid-every needs --real-stats REAL.h5 (make it with `ganeval stats DATASET -o REAL.h5`)")
    if ckpt_path.exists() and not opts.resume:
        raise GanevalError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    if opts.resume and not ckpt_path.exists():
        raise GanevalError(f"{ckpt_path}: nothing to resume; start the run without --resume")
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    payload = load_checkpoint(ckpt_path) if opts.resume else None
    if payload is not None and payload["model_name"] != opts.model:
        raise GanevalError(f"{ckpt_path}: holds a {payload['model_name']} run, not {opts.model}")

    # Data: its resolution and channels come from the model config (default from the preset).
    torch.manual_seed(opts.seed)
    if payload is None:
        config_values = {**_preset_values(opts), **{k: v for k, v in opts.overrides.items() if v is not None}}
        _check_resolution_option(config_values["resolution"])
    else:
        config_values = payload["config"]
    # Every input is read and checked before anything is written into the run folder.
    real = None
    if opts.fid_every is not None:
        from ganeval.api.compute import load_statistics

        real = load_statistics(opts.real_stats) if Path(opts.real_stats).is_file() else opts.real_stats
    data = load_dataset(payload["dataset"] if payload else opts.dataset, resolution=config_values["resolution"],
                        channels=config_values["channels"] if payload else None, data_root=opts.data_root,
                        download=opts.download, max_images=opts.max_images)
    if payload is None:
        config_values.update(channels=data.channels)
        if MODELS[opts.model].conditional:
            if data.num_classes < 2:
                raise GanevalError(f"dataset {opts.dataset}: cgan needs class labels (sub-folders), found {data.num_classes} class")
            config_values.update(num_classes=data.num_classes)
        torch.manual_seed(opts.seed)
        model = build_model(opts.model, opts.preset, **config_values).to(device)
    else:
        model = model_from_config(opts.model, payload["config"]).to(device)
        model.load_training_state(payload["training_state"])
    cfg = model.config
    class_names = class_names_of(payload) if payload is not None else (
        tuple(data.class_names) if model.conditional else ())
    images = data.images.to(device)
    labels = data.labels.to(device)
    sampler = BatchSampler(len(data), cfg.batch_size, opts.seed + 1)

    def next_batch():
        idx = sampler.next_indices().to(device)
        return to_model_range(images[idx]), labels[idx]

    out.mkdir(parents=True, exist_ok=True)
    start_step, train_seconds, fid_history = 0, 0.0, []
    if payload is not None:
        start_step = payload["step"]
        train_seconds = payload["train_seconds"]
        fid_history = [x for x in payload.get("fid_history", []) if x[0] < start_step]
        sampler.load_state_dict(payload["sampler"])
        _restore_rng(payload["rng"], device)
        for name in ("losses.csv", "fid.csv"):
            _truncate_csv(out / name, start_step)
    else:
        for name in ("losses.csv", "fid.csv"):
            (out / name).unlink(missing_ok=True)
        (out / "config.json").write_text(json.dumps(
            {"model": opts.model, "preset": opts.preset, "dataset": data.name, "seed": opts.seed,
             "config": cfg.to_dict(), **({"class_names": list(class_names)} if model.conditional else {})},
            indent=2) + "\n")
        torch.manual_seed(opts.seed + 3)  # the training RNG stream, independent of initialisation

    fid_callback = fid_stream = None
    if opts.fid_every is not None:
        from ganeval.callback import FIDCallback

        # A cGAN against per-class real statistics: per-class FIDs and intra-FID as well (fid.csv).
        per_class = model.conditional and bool(getattr(real, "classes", None))
        fid_stream = SampleStream(model, seed=opts.seed + 1000)
        fid_callback = FIDCallback(real, fid_stream, num_samples=opts.fid_samples, every=opts.fid_every,
                                   value_range=(-1, 1), batch_size=opts.fid_batch_size,
                                   device=device if device.type == "cuda" else None,
                                   progress=False if opts.quiet else None, per_class=per_class,
                                   classes=class_names if per_class else None)
        fid_callback.history = list(fid_history)
        from ganeval.report.plots import missing_matplotlib_note

        note = missing_matplotlib_note("fid.png")
        if note and not opts.quiet:
            print(note, file=sys.stderr)
    losses_log, fid_log = CsvLog(out / "losses.csv"), CsvLog(out / "fid.csv")
    progress = ProgressLine(opts.steps, opts.log_every, opts.quiet)
    grid_seed = opts.seed + 2000

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT, "model_name": opts.model, "config": cfg.to_dict(), "preset": opts.preset,
            "dataset": payload["dataset"] if payload else opts.dataset, "seed": opts.seed, "step": step,
            "class_names": list(class_names),
            "training_state": model.training_state(), "sampler": sampler.state_dict(),
            "rng": _capture_rng(device), "train_seconds": train_seconds,
            "fid_history": fid_callback.history if fid_callback else [],
        })

    def evaluate(step: int) -> None:
        if fid_callback is not None and (step % opts.fid_every == 0 or step == opts.steps):
            fid_stream.restart()
            progress.fid_started(step, opts.fid_samples)
            fid_start = time.perf_counter()
            value = fid_callback.compute(step)
            progress.fid_done(step, value, time.perf_counter() - fid_start)
            record = fid_callback.history[-1]
            per_class_columns = {}
            if record.per_class is not None:
                per_class_columns = {"intra_fid": record.intra_fid,
                                     **{f"fid_class_{label}": v for label, v in record.per_class.items()}}
            fid_log.write({"step": step, "fid": value, **per_class_columns, "num_samples": opts.fid_samples})
            plot_fid(fid_callback.history, out / "fid.png", opts.fid_samples)
        if step % opts.sample_every == 0 or step == opts.steps:
            save_grid(model, out / "grids" / f"step_{step:06d}.png", grid_seed)

    losses: dict = {}
    step = start_step
    try:
        while True:
            evaluate(step)
            if step != start_step and (step % opts.checkpoint_every == 0 or step == opts.steps):
                checkpoint(step)
            if step >= opts.steps:
                break
            t0 = time.perf_counter()
            model.train()
            losses = model.train_step(next_batch, step)
            train_seconds += time.perf_counter() - t0
            bad = [k for k, v in losses.items() if not torch.isfinite(torch.tensor(v))]
            if bad:
                raise GanevalError(f"step {step}: loss {bad[0]} is not finite; lower the learning rate or "
                                   f"resume from the last checkpoint in {out}")
            losses_log.write({"step": step, **losses})
            step += 1
            progress.show(step, losses, fid_callback.last if fid_callback else None, force=step == opts.steps)
    finally:
        progress.close()
    if start_step == opts.steps and start_step != 0:
        checkpoint(step)
    return {"steps": step, "train_seconds": train_seconds, "fid_history": fid_callback.history if fid_callback else [],
            "out": str(out), "grid": str(out / "grids" / f"step_{step:06d}.png")}


def _check_resolution_option(resolution) -> None:
    """``--resolution`` as the models accept it, refused in one line before any work."""
    from ganeval_train.models.base import check_resolution

    try:
        valid = isinstance(resolution, int) and resolution > 0 and check_resolution(resolution) is not None
    except (ValueError, ArithmeticError):
        valid = False
    if not valid:
        raise GanevalError(f"--resolution {resolution}: not a size the models build; use 28 or a power of two >= 8 "
                           "(32 for the small preset, 64 for the large)")


def _preset_values(opts: TrainOptions) -> dict:
    from ganeval_train.models import PRESETS

    if opts.preset not in PRESETS:
        raise GanevalError(f"unknown preset {opts.preset!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[opts.preset][opts.model])
