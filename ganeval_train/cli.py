"""The `ganeval-train` command line: `train`, `sample`, `export-data` and `ppl`.

Exit codes: 0 success, 1 a user-fixable problem (one line on stderr), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path

import click

from ganeval.cli.commands import CommandGroup, run_click
from ganeval_train.choices import MODEL_NAMES, PRESET_NAMES


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganeval", prog_name="ganeval-train")
def cli():
    """Train reference GANs (DCGAN, WGAN-GP, cGAN, StyleGAN-lite) and write samples ganeval reads."""


@cli.command(short_help="Train a reference GAN into a run directory.")
@click.argument("model", type=click.Choice(MODEL_NAMES))
@click.option("--dataset", default="digits", show_default=True,
              help="digits (offline), mnist, fashion-mnist, cifar10, celeba, or an image folder/zip (class = sub-folder).")
@click.option("--steps", type=click.IntRange(min=0), default=2000, show_default=True, help="Generator updates in total.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory, e.g. runs/NAME.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of initialisation, data order and training noise (FID samples use seed + 1000).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint (bit-for-bit on CPU).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="small", show_default=True,
              help="small: 32x32 for a CPU; large: 64x64 for a GPU.")
@click.option("--batch-size", type=click.IntRange(min=2), default=None, help="Override the preset's batch size.")
@click.option("--resolution", type=int, default=None, help="Override the preset's resolution (28, 32, 64, ...).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Write the resumable checkpoint every K steps (and at the end).")
@click.option("--sample-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Write a PNG grid of fixed-noise samples every K steps.")
@click.option("--fid-every", type=click.IntRange(min=1), default=None, help="FID every K steps (needs --real-stats).")
@click.option("--real-stats", type=click.Path(dir_okay=False), default=None,
              help="ganeval statistics (.h5) of the real data, e.g. from `ganeval stats`.")
@click.option("--fid-samples", type=click.IntRange(min=2), default=1000, show_default=True,
              help="Generated images per FID evaluation.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder of torchvision datasets (default ./data).")
@click.option("--download", is_flag=True, help="Let torchvision download the dataset.")
@click.option("--max-images", type=click.IntRange(min=1), default=None, help="Use only the first N training images.")
@click.option("--device", default=None, help="torch device (default cuda if present).")
@click.option("--log-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Progress line every K steps when stderr is not a terminal.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr.")
def train(model, dataset, steps, out, seed, resume, preset, batch_size, resolution, checkpoint_every, sample_every,
          fid_every, real_stats, fid_samples, data_root, download, max_images, device, log_every, quiet):
    """Train MODEL, writing checkpoints, sample grids, losses.csv (and fid.csv/fid.png) into --out."""
    from ganeval_train.train import TrainOptions, train as run_training

    summary = run_training(TrainOptions(
        model=model, out=Path(out), dataset=dataset, steps=steps, seed=seed, resume=resume, preset=preset,
        overrides={"batch_size": batch_size, "resolution": resolution}, checkpoint_every=checkpoint_every,
        sample_every=sample_every, fid_every=fid_every, real_stats=Path(real_stats) if real_stats else None,
        fid_samples=fid_samples, data_root=Path(data_root) if data_root else None, download=download,
        max_images=max_images, device=device, log_every=log_every, quiet=quiet))
    if not quiet:
        fids = ", ".join(f"{s}: {v:.2f}" for s, v in summary["fid_history"])
        click.echo(f"{out}: {summary['steps']} steps, {summary['train_seconds']:.1f} s training"
                   + (f"; FID by step {fids}" if fids else ""), err=True)


@cli.command(short_help="Write samples of a trained model for ganeval.")
@click.argument("run", type=click.Path(exists=True))
@click.option("-n", "count", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Number of samples to write.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Folder of PNGs (--format png) or .npz file (--format npz); must not exist yet.")
@click.option("--class", "class_index", type=click.IntRange(min=0), default=None,
              help="cGAN: only this class, into a plain folder (default: all classes in turn, one sub-folder each).")
@click.option("--classes", default=None,
              help="cGAN: only these classes in turn, comma-separated names, e.g. 0,1,2 (one sub-folder each).")
@click.option("--truncation", type=float, default=None, help="StyleGAN-lite truncation psi (1 = none).")
@click.option("--format", "fmt", type=click.Choice(["png", "npz"]), default="png", show_default=True,
              help="png: one file per sample in a folder; npz: one uint8 array [N, H, W, C] under 'images'.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents (and labels, noise).")
@click.option("--batch-size", type=click.IntRange(min=1), default=250, show_default=True,
              help="Samples generated per batch.")
@click.option("--device", default=None, help="torch device (default cuda if present).")
def sample(run, count, output, class_index, classes, truncation, fmt, seed, batch_size, device):
    """Write N samples of the model trained in RUN (a run directory or checkpoint) for ganeval.

    A cGAN writes one sub-folder per class (OUT/CLASS/NNNNNN.png; sample i has class i mod K), ready
    for `ganeval fid real.h5 OUT/ --per-class`.
    """
    from ganeval_train.sample import write_samples

    path = write_samples(run, count, output, class_index=class_index, classes=classes, truncation=truncation,
                         fmt=fmt, seed=seed, batch_size=batch_size, device=device)
    click.echo(f"{path}: {count} images", err=True)


@cli.command("export-data", short_help="Write a training dataset as PNGs, one sub-folder per class.")
@click.argument("dataset")
@click.argument("output", type=click.Path())
@click.option("--resolution", type=int, default=32, show_default=True,
              help="Size the images are resized to (as for training; the small preset trains at 32).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="Convert to 1 (gray) or 3 (RGB) channels (default: as the dataset is).")
@click.option("--classes", default=None, help="Only these classes, comma-separated names, e.g. 0,1,2.")
@click.option("--per-class", type=click.IntRange(min=1), default=None,
              help="At most the first N images of each class.")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Use only the first N images of the dataset.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder of torchvision datasets (default ./data).")
@click.option("--download", is_flag=True, help="Let torchvision download the dataset.")
def export_data(dataset, output, resolution, channels, classes, per_class, max_images, data_root, download):
    """Write DATASET (digits, a torchvision name, an image folder/zip) into OUTPUT/CLASS/INDEX.png.

    The real side of a per-class FID:

      ganeval-train export-data digits real/ && ganeval stats real/ -o real.h5 --per-class
    """
    from ganeval_train.export import export_dataset

    path, count, k = export_dataset(dataset, output, resolution=resolution,
                                    channels=int(channels) if channels else None, classes=classes,
                                    per_class=per_class, max_images=max_images,
                                    data_root=Path(data_root) if data_root else None, download=download)
    click.echo(f"{path}: {count} images in {k} class folders", err=True)


@cli.command(short_help="Perceptual path length of a StyleGAN-lite run.")
@click.argument("run", type=click.Path(exists=True))
@click.option("--vgg16", "backbone", required=True, type=click.Path(),
              help="VGG16 backbone weights: torchvision's ImageNet file (vgg16-397923af.pth) or a whole LPIPS "
                   "state dict.")
@click.option("--lpips-linear", "linear", default=None, type=click.Path(),
              help="LPIPS-VGG16 linear layers (lpips' weights/v0.1/vgg.pth or torch-fidelity's "
                   "weights-vgg16-lpips.pth); default: the installed lpips package's file.")
@click.option("-n", "num_samples", type=click.IntRange(min=2), default=50000, show_default=True,
              help="Number of paths.")
@click.option("--space", type=click.Choice(["w", "z"]), default="w", show_default=True,
              help="w: lerp of mapping(z); z: slerp of z.")
@click.option("--sampling", type=click.Choice(["end", "full"]), default="end", show_default=True,
              help="end: t = 0; full: t uniform in [0, 1).")
@click.option("--crop", is_flag=True, help="StyleGAN's face crop before LPIPS.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Paths per batch (two images each).")
@click.option("--device", default=None, help="torch device (default cuda if present).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record on stdout.")
def ppl(run, backbone, linear, num_samples, space, sampling, crop, seed, batch_size, device, as_json):
    """Perceptual path length of the StyleGAN-lite generator trained in RUN (docs/metrics.md, PPL):
    LPIPS-VGG16 distance of images ε = 1e-4 apart on random paths, / ε², 1st-99th percentile mean."""
    import json

    import torch

    from ganeval.core.errors import GanevalError
    from ganeval.metrics.lpips import lpips_vgg16
    from ganeval.metrics.ppl import stylegan_lite_ppl
    from ganeval_train.train import load_model

    if linear is None:
        from importlib.util import find_spec

        spec = find_spec("lpips")
        if spec is None or spec.origin is None:
            raise GanevalError("--lpips-linear not given and the lpips package is not installed; pass the LPIPS "
                               "linear weights file (lpips' weights/v0.1/vgg.pth) or pip install lpips")
        linear = Path(spec.origin).parent / "weights" / "v0.1" / "vgg.pth"
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, _ = load_model(run, device=device)
    if model.name != "stylegan-lite":
        raise GanevalError(f"{run}: PPL needs a stylegan-lite run (a mapping network), this run is {model.name}")
    lpips = lpips_vgg16(backbone, linear, device=device)
    result = stylegan_lite_ppl(model.sampling_generator().eval(), lpips, space=space, sampling=sampling, crop=crop,
                               num_samples=num_samples, seed=seed, batch_size=batch_size, device=device)
    name = f"ppl_{space}{sampling}"
    if as_json:
        click.echo(json.dumps({name: {"mean": result.mean, "std": result.std, "kept": result.num_kept,
                                      "samples": num_samples, "crop": crop, "seed": seed}}))
    else:
        click.echo(f"{name} {result.mean:.6g} ± {result.std:.4g} ({result.num_kept} of {num_samples} paths "
                   "between the 1st and 99th percentiles)")


def main(argv=None) -> None:
    """Console entry point of `ganeval-train`."""
    run_click(cli, "ganeval-train", argv)


if __name__ == "__main__":
    main()
