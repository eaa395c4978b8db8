"""``make_report(A, B, out_dir)``: metrics, random samples and the memorisation check as an HTML page.

A is the reference (real) side, B the generated one. Each side is an image source that can be
read twice (folder, .zip, .npy/.npz, array, tensor, list of tensors) or a stats file. Features
are computed once per side; the images shown are decoded again, by position, from the source.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

import ganeval.api.compute as api
import ganeval.api.evaluate as evaluation
from ganeval.core.errors import GanevalError
from ganeval.core.options import ExtractorOptions, RunOptions, options_from_keywords
from ganeval.io.sources import open_source
from ganeval.report.html import Page, Pair, render
from ganeval.report.neighbours import MemorisationCheck, memorisation_check
from ganeval.report.output import ReportOutput, prepare_report_output
from ganeval.report.plots import plot_neighbour_distances, require_matplotlib
from ganeval.core.stats import FeatureStats, Statistics

__all__ = ["make_report", "DEFINITION_HTML"]

PAGE = "index.html"
IMAGES = "img"
THUMB_MAX = 160  # thumbnails larger than this many pixels a side are scaled down

DEFINITION_HTML = (
    "<b>Definition.</b> In the 2048-d pool3 feature space (Euclidean distance), each real image "
    "<code>r</code> has its own nearest-neighbour distance <code>ρ(r)</code> = distance to the nearest "
    "<i>other</i> real image. Each generated image <code>g</code> has a nearest real image <code>n(g)</code> "
    "at distance <code>d(g)</code>. The <b>memorisation fraction</b> is the share of generated images with "
    "<code>d(g) &lt; ρ(n(g))</code>: closer to that real image than any other real image is. A copy of a "
    "real image has <code>d = 0</code> and always counts. The median variant compares every "
    "<code>d(g)</code> with one threshold, the median of <code>ρ</code> over the real set. Neither is 0 for "
    "a model that never copies: to read them, make the same report with held-out real images as B."
)


@dataclass
class _Side:
    label: str
    name: str
    stats: FeatureStats
    source: object | None  # the re-readable image source, None for a stats file


def _describe(obj) -> str:
    return evaluation.side_name(obj)  # a path as given, or a statistics object's recorded file/source


def _is_stats(obj) -> bool:
    return isinstance(obj, Statistics) or api.is_statistics(obj)


def _check_rereadable(obj, label: str) -> None:
    if isinstance(obj, (str, Path, np.ndarray, torch.Tensor, list, tuple)):
        return
    raise GanevalError(f"{label}: the report reads the images twice (features, then the ones shown); give a "
                       "folder, .zip, .npy/.npz, an array, a tensor or a list of tensors, not a "
                       f"{type(obj).__name__}")


def read_images_at(source, rows, *, max_images=None, seed=0, skip_bad=False, batch_size=50) -> dict:
    """The decoded images at feature ``rows`` (undecodable files skipped when ``skip_bad``), as
    {row: (uint8 [H, W, 3] numpy, name)}: the file's name in its folder/zip, else "#position".
    Reads the source in order and stops after the last row wanted."""
    wanted = set(int(r) for r in rows)
    found: dict[int, tuple[np.ndarray, str]] = {}
    if not wanted:
        return found
    last, row = max(wanted), 0
    image_source = open_source(source, max_images=max_images, seed=seed)
    names = getattr(image_source, "names", None)
    for batch in image_source.batches(batch_size, workers=0, skip_bad=skip_bad):
        skipped = set(image_source.skipped_positions)
        positions = [p for p in image_source.positions if p not in skipped]  # source position of each row
        for image in batch:
            if row in wanted:
                position = positions[row]
                found[row] = (image.permute(1, 2, 0).cpu().numpy(),
                              names[position] if names is not None else f"#{position}")
            row += 1
        if row > last:
            break
    if len(found) != len(wanted):
        raise GanevalError(f"{image_source.description}: holds {row} images now, fewer than its features; "
                           "did it change since?")
    return found


def _save_thumbnail(image: np.ndarray, path: Path) -> None:
    picture = Image.fromarray(image)
    if max(picture.size) > THUMB_MAX:
        picture.thumbnail((THUMB_MAX, THUMB_MAX), Image.Resampling.LANCZOS)
    picture.save(path)


def _pair(check: MemorisationCheck, j: int, paths: dict, labels: dict) -> Pair:
    i = int(check.generated_nn_index[j])
    return Pair(paths["B"].get(j, ""), paths["A"].get(i, ""), labels["B"].get(j, f"row {j}"),
                labels["A"].get(i, f"row {i}"), float(check.generated_nn_distance[j]),
                float(check.neighbour_radius[j]), bool(check.closer[j]))


def _metric_rows(result: dict, sides, check: MemorisationCheck | None) -> list[tuple[str, str, str]]:
    a, b = sides
    rows = [("Images", f"{a.stats.count:,} A · {b.stats.count:,} B", "how many images each side's numbers rest on"),
            ("FID", f"{result['fid']:.6f}", "Fréchet distance of the pool3 Gaussians; lower is closer, 0 = same "
                                         "statistics (biased upwards at small N)")]
    if "kid" in result:
        k = result["kid"]
        if k["subset_size"] >= min(a.stats.count, b.stats.count):
            rows.append(("KID", f"{k['mean']:.6g}", "unbiased squared MMD, cubic kernel, 0 = same distribution; "
                         f"over all {k['subset_size']} images, so no spread (that needs more images than the "
                         "subset size)"))
        else:
            rows.append(("KID", f"{k['mean']:.6g} ± {k['std']:.6g}",
                         f"unbiased squared MMD, cubic kernel, 0 = same distribution; mean ± std over "
                         f"{k['subsets']} subsets of {k['subset_size']}"))
    if "prdc" in result:
        p = result["prdc"]
        rows += [("Precision", f"{p['precision']:.6f}", f"share of B inside A's manifold (k = {p['k_pr']}): fidelity"),
                 ("Recall", f"{p['recall']:.6f}", f"share of A inside B's manifold (k = {p['k_pr']}): diversity"),
                 ("Density", f"{p['density']:.6f}",
                  f"how many A-neighbourhoods hold each B image, / k (k = {p['k_dc']}); ≈1 when B is like A"),
                 ("Coverage", f"{p['coverage']:.6f}", f"share of A images whose neighbourhood holds a B image "
                                                      f"(k = {p['k_dc']})")]
    if "authpct" in result:
        rows.append(("Authenticity (AuthPct)", f"{result['authpct']:.6f}",
                     "% of B whose nearest A image lies closer to another A image than to it (Alaa et al. 2022, as "
                     "dgm-eval); 100 = no B image sits inside an A image's neighbourhood"))
    if check is not None:
        rows += [("Memorisation fraction", f"{check.fraction:.3f}",
                  "share of B whose nearest A image is closer than that image's own nearest A neighbour "
                  "(definition below)"),
                 ("… median variant", f"{check.fraction_below_median:.3f}",
                  f"share of B closer to A than the median A-to-A neighbour distance "
                  f"({check.median_real_nn_distance:.2f})")]
    return rows


def make_report(a, b, out_dir, *, samples: int = 32, pairs: int = 20, sample_seed: int = 0,
                allow_mismatch: bool = False, progress: Callable[[str], Callable[[int], None]] | None = None,
                **options) -> dict:
    """Write ``out_dir/index.html`` (and its images in ``out_dir/img``) comparing A (real) with B (generated).

    ``samples``: random images shown per side; ``pairs``: generated images nearest to a real image
    shown with their neighbour; ``sample_seed`` picks the random images. ``options`` go to
    :func:`ganeval.compute_stats` (mode, weights, device, batch_size, max_images, seed, skip_bad, ...).
    ``progress(label)`` may return a per-side progress callback (called with images added).
    Returns the page path, the metrics, the memorisation numbers and the notes on what was not shown.
    """
    start = time.perf_counter()
    require_matplotlib()  # before any image is read
    if samples < 0 or pairs < 0:
        raise GanevalError("--samples and --pairs must be 0 or more")
    # The output rules of every writing command, before any work (ganeval.report.output).
    with prepare_report_output(out_dir, inputs=(a, b)) as output:
        return _make_report_into(output, a, b, start=start, samples=samples, pairs=pairs, sample_seed=sample_seed,
                                 allow_mismatch=allow_mismatch, progress=progress, **options)


def _make_report_into(output: ReportOutput, a, b, *, start: float, samples: int, pairs: int, sample_seed: int,
                      allow_mismatch: bool, progress, **options) -> dict:
    """:func:`make_report`'s work, its files written into ``output``'s staging area and committed at the end."""
    inputs = {"A": a, "B": b}
    for label, obj in inputs.items():
        if not _is_stats(obj):
            _check_rereadable(obj, label)
    loaded = {label: (api.load_statistics(obj, with_features=True) if isinstance(obj, (str, Path)) and _is_stats(obj)
                      else obj) for label, obj in inputs.items()}
    given = options_from_keywords(options, allowed=(ExtractorOptions, RunOptions))
    extractor_options = evaluation.adopt_settings(list(loaded.values()), given[ExtractorOptions], ())
    run_options = given[RunOptions]

    sides = []
    for label, obj in loaded.items():
        callback = progress(f"report {label} {_describe(inputs[label])}") if progress else None
        try:
            stats = evaluation.load_side(obj, need_features=False, progress=callback,
                                         extractor_options=extractor_options, run_options=run_options)
        finally:
            if hasattr(callback, "close"):
                callback.close()
        sides.append(_Side(label, _describe(inputs[label]), stats, None if _is_stats(obj) else inputs[label]))
    side_a, side_b = sides

    notes = []
    for side in sides:
        if side.source is None:
            shows = ("the real images beside the generated ones of the memorisation check" if side.label == "A"
                     else "the generated images of the memorisation check")
            notes.append(f"{side.label} ({side.name}) is a statistics file, which holds no images: its random "
                         f"samples and {shows} need the images of {side.label} (pass its folder, .zip or .npy/.npz).")
        if side.stats.features is None:
            notes.append(f"{side.label} ({side.name}) holds no raw features: KID, precision/recall/density/coverage "
                         f"and the memorisation check need them (`ganeval stats SOURCE -o FILE --save-features`, "
                         f"or pass the images).")
    both_features = side_a.stats.features is not None and side_b.stats.features is not None
    metrics = ["fid"]
    if both_features:
        metrics.append("kid")
        if min(side_a.stats.count, side_b.stats.count) > 5:
            metrics += ["prdc", "authpct"]
        else:
            notes.append("precision/recall/density/coverage need more than 5 images per side.")
    subset = min(1000, side_a.stats.count, side_b.stats.count)
    result = evaluation.evaluate(side_a.stats, side_b.stats, metrics, kid_subset_size=subset,
                                 allow_mismatch=allow_mismatch, device=extractor_options.device,
                                 names=(side_a.name, side_b.name)).to_dict()
    check = memorisation_check(side_a.stats.features, side_b.stats.features,
                               device=extractor_options.device) if both_features else None

    # Which images to show: random samples of each side, the pairs most like copies and the farthest pairs.
    rng = np.random.default_rng(sample_seed)
    shown = {s.label: np.sort(rng.choice(s.stats.count, min(samples, s.stats.count), replace=False))
             for s in sides}
    closest = farthest = np.array([], dtype=int)
    if check is not None:
        count = min(pairs, side_b.stats.count)
        closest = check.most_like_copies(count)
        farthest = check.farthest(count)
    wanted = {label: set(indices.tolist()) for label, indices in shown.items()}
    wanted["B"] |= set(closest.tolist()) | set(farthest.tolist())
    if check is not None:
        wanted["A"] |= set(check.generated_nn_index[np.concatenate([closest, farthest])].tolist())
    images_dir = output.images_dir  # a staging folder, put in place by output.commit
    paths: dict[str, dict[int, str]] = {"A": {}, "B": {}}
    labels: dict[str, dict[int, str]] = {"A": {}, "B": {}}
    sizes = []
    read_options = dict(max_images=run_options.max_images, seed=run_options.seed, skip_bad=run_options.skip_bad)
    for side in sides:
        if side.source is None:
            continue
        images = read_images_at(side.source, wanted[side.label], batch_size=run_options.batch_size,
                                **read_options)
        for row, (image, source_name) in images.items():
            name = f"{side.label.lower()}_{row:06d}.png"
            _save_thumbnail(image, images_dir / name)
            paths[side.label][row] = f"{IMAGES}/{name}"
            labels[side.label][row] = source_name
            sizes.append(max(image.shape[:2]))

    page = Page(
        title=f"ganeval report: {side_a.name} vs {side_b.name}",
        subtitle=(f"A (reference, real) = {side_a.name} · B (generated) = {side_b.name} · "
                  f"mode {result.get('mode')} · "
                  f"made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"),
        metrics=_metric_rows(result, sides, check),
        notes=notes,
        thumb_px=96 if sizes and max(sizes) >= 96 else 72,  # small images scaled up (pixelated), large ones down
        pixelated=bool(sizes) and max(sizes) < 72,
    )
    for side in sides:
        page.samples[side.label] = (side.name, [paths[side.label][i] for i in shown[side.label].tolist()
                                                if i in paths[side.label]],
                                    "no images: this side is a statistics file" if side.source is None
                                    else "none asked for (--samples 0)")
    if check is not None:
        histogram = plot_neighbour_distances(check.real_nn_distance, check.generated_nn_distance,
                                             images_dir / "distances.png")
        page.memorisation = {
            "numbers": [(f"{check.fraction:.1%}", "memorisation fraction: d(g) < ρ(n(g))"),
                        (f"{check.fraction_below_median:.1%}", "median variant: d(g) < median ρ"),
                        (f"{check.median_real_nn_distance:.2f}", "median ρ (A to nearest other A)"),
                        (f"{np.median(check.generated_nn_distance):.2f}", "median d (B to nearest A)")],
            "definition": DEFINITION_HTML,
            "histogram": f"{IMAGES}/{histogram.name}",
            "pairs": [_pair(check, int(j), paths, labels) for j in closest],
            "far_pairs": [_pair(check, int(j), paths, labels) for j in farthest],
        }
        if side_a.source is None or side_b.source is None:
            page.memorisation_note = "The pairs are listed without pictures: a side is a statistics file (see above)."
    else:
        page.memorisation_note = ("Not computed: it needs the raw features of both sides (see the notes at the "
                                  "top).")
    for side in sides:
        prov = side.stats.provenance
        page.provenance += [(f"{side.label} source", prov.get("source", prov.get("file", side.name))),
                            (f"{side.label} fingerprint", prov.get("source_fingerprint", "—"))]
    page.provenance += [("weights sha256", str(result.get("weights_sha256"))),
                        ("ganeval", _version()), ("seconds", f"{time.perf_counter() - start:.1f}")]

    html_path = output.path / PAGE
    summary = {"page": str(html_path), "metrics": result, "notes": notes,
               "memorisation": check.summary() if check is not None else None}
    output.commit({PAGE: render(page), "report.json": json.dumps(summary, indent=2, default=float) + "\n"})
    return summary


def _version() -> str:
    from ganeval import __version__

    return __version__
