"""The report page: one self-contained HTML file (inline CSS, no scripts) next to its images."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

CSS = """
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1d2329; background: #f4f5f7;
       margin: 0; padding: 24px 28px 48px; }
main { max-width: 1140px; margin: 0 auto; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 30px 0 10px; border-bottom: 2px solid #d5d9de; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 8px; }
h3.far { margin-top: 18px; }
.sub { color: #56606b; margin: 0 0 16px; word-break: break-all; }
.card { background: #fff; border: 1px solid #dde1e5; border-radius: 8px; padding: 14px 18px; margin-bottom: 14px; }
table.metrics { border-collapse: collapse; width: 100%; background: #fff; }
table.metrics th, table.metrics td { text-align: left; padding: 7px 12px; border-bottom: 1px solid #e3e6e9;
                                     vertical-align: top; }
table.metrics th { background: #eef1f4; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; }
table.metrics td.value { font: 600 16px/1.3 "DejaVu Sans Mono", Menlo, monospace; white-space: nowrap; }
table.metrics td.meaning { color: #4a545e; font-size: 14px; }
.notes { background: #fff8e1; border: 1px solid #f0d58a; border-radius: 8px; padding: 10px 18px; }
.notes li { margin: 4px 0; }
.sides { display: flex; gap: 16px; }
.sides > .card { flex: 1 1 0; min-width: 0; }
.grid { display: flex; flex-wrap: wrap; gap: 4px; }
.grid img, .pair img { width: var(--thumb); height: var(--thumb); object-fit: contain; background: #e9ecef;
                       display: block; }
.pixelated img { image-rendering: pixelated; }
.missing { color: #6b5200; font-style: italic; }
.placeholder { width: var(--thumb); height: var(--thumb); display: flex; align-items: center; justify-content: center;
               background: #eceff2; color: #6b5200; font-size: 11px; font-style: italic; }
.numbers { display: flex; gap: 14px; flex-wrap: wrap; margin: 6px 0 12px; }
.number { background: #fff; border: 1px solid #dde1e5; border-radius: 8px; padding: 8px 14px; }
.number b { display: block; font: 700 22px/1.2 "DejaVu Sans Mono", Menlo, monospace; }
.number span { color: #56606b; font-size: 13px; }
.definition { font-size: 14px; color: #2f3840; }
.definition code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
.pairs { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px; }
.pair { background: #fff; border: 2px solid #dde1e5; border-radius: 8px; padding: 8px; }
.pair.closer { border-color: #c0392b; background: #fdf1ef; }
.pair .images { display: flex; gap: 6px; justify-content: center; }
.pair .label { font-size: 11px; color: #56606b; text-align: center; width: var(--thumb); overflow: hidden;
               text-overflow: ellipsis; white-space: nowrap; }
.pair .caption { font: 12px/1.35 "DejaVu Sans Mono", Menlo, monospace; text-align: center; margin-top: 4px; }
.figure img { max-width: 100%; display: block; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; font-size: 13px; }
dl.provenance dt { font-weight: 600; }
dl.provenance dd { margin: 0; word-break: break-all; color: #3c4650; }
"""


@dataclass
class Pair:
    """One generated image beside its nearest real image."""

    generated: str            # relative path of the generated thumbnail, or "" without images
    real: str                 # relative path of the real thumbnail, or "" without images
    generated_name: str       # the generated image's file name (or position)
    real_name: str
    distance: float           # d_j
    radius: float             # ρ(r_n(j))
    closer: bool


@dataclass
class Page:
    """Everything the page shows; paths are relative to the page."""

    title: str
    subtitle: str
    metrics: list[tuple[str, str, str]]                     # (name, value, what it means)
    notes: list[str] = field(default_factory=list)           # what could not be shown, and why
    samples: dict[str, tuple[str, list[str], str]] = field(default_factory=dict)  # label -> (name, paths, note)
    memorisation: dict | None = None                         # numbers, definition, histogram, pairs
    memorisation_note: str = ""
    provenance: list[tuple[str, str]] = field(default_factory=list)
    thumb_px: int = 72
    pixelated: bool = True


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _img(path: str, alt: str) -> str:
    return f'<img src="{_e(path)}" alt="{_e(alt)}" title="{_e(alt)}">'


def _metric_table(rows) -> str:
    body = "".join(f'<tr><td>{_e(n)}</td><td class="value">{_e(v)}</td><td class="meaning">{_e(m)}</td></tr>'
                   for n, v, m in rows)
    return ('<table class="metrics"><thead><tr><th>Metric</th><th>Value</th><th>What it says</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _samples(page: Page) -> str:
    cards = []
    for label, (name, paths, note) in page.samples.items():
        inner = ('<div class="grid">' + "".join(_img(p, f"{label} image") for p in paths) + "</div>"
                 if paths else f'<p class="missing">{_e(note)}</p>')
        heading = f"{len(paths)} random images" if paths else "no images"
        cards.append(f'<div class="card"><h3>{_e(label)}: {heading}</h3>'
                     f'<p class="sub">{_e(name)}</p>{inner}</div>')
    return '<div class="sides">' + "".join(cards) + "</div>"


def _pair(pair: Pair) -> str:
    def side(path: str, text: str) -> str:
        shown = _img(path, text) if path else '<div class="placeholder">no image</div>'
        return f'<div>{shown}<div class="label" title="{_e(text)}">{_e(text)}</div></div>'

    ratio = pair.distance / pair.radius if pair.radius > 0 else (0.0 if pair.distance == 0 else float("inf"))
    verdict = "closer than ρ" if pair.closer else "not closer"
    return (f'<div class="pair{" closer" if pair.closer else ""}"><div class="images">'
            f'{side(pair.generated, f"B {pair.generated_name}")}'
            f'{side(pair.real, f"A {pair.real_name}")}</div>'
            f'<div class="caption">d = {pair.distance:.2f} · ρ = {pair.radius:.2f}<br>'
            f"d/ρ = {ratio:.3f} · {verdict}</div></div>")


def _memorisation(page: Page) -> str:
    m = page.memorisation
    if m is None:
        return f'<p class="missing">{_e(page.memorisation_note)}</p>'
    numbers = "".join(f'<div class="number"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in m["numbers"])
    figure = (f'<div class="card figure">{_img(m["histogram"], "distance histograms")}</div>'
              if m.get("histogram") else "")
    pairs_block = ""
    if m["pairs"]:
        pairs_block += (f'<h3>The {len(m["pairs"])} generated images most like copies, ranked by the memorisation '
                        "score d(g)/ρ(n(g)) that AuthPct compares with 1 (B left, its nearest A image right; red: "
                        "closer than that A image's own nearest A neighbour)</h3>"
                        f'<div class="pairs">{"".join(_pair(p) for p in m["pairs"])}</div>')
    if m.get("far_pairs"):
        pairs_block += (f'<h3 class="far">The {len(m["far_pairs"])} generated images farthest from every real image '
                        "(the least like any A image), each beside its nearest A image</h3>"
                        f'<div class="pairs">{"".join(_pair(p) for p in m["far_pairs"])}</div>')
    note = f'<p class="missing">{_e(page.memorisation_note)}</p>' if page.memorisation_note else ""
    return (f'<div class="numbers">{numbers}</div><div class="card definition">{m["definition"]}</div>'
            f"{figure}{note}{pairs_block}")


def render(page: Page) -> str:
    """The HTML text of ``page``."""
    notes = ("<div class=\"notes\"><b>Not shown</b><ul>" + "".join(f"<li>{_e(n)}</li>" for n in page.notes)
             + "</ul></div>") if page.notes else ""
    provenance = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in page.provenance)
    classes = "pixelated" if page.pixelated else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(page.title)}</title>
<style>{CSS}</style></head>
<body class="{classes}" style="--thumb: {page.thumb_px}px"><main>
<h1>{_e(page.title)}</h1>
<p class="sub">{_e(page.subtitle)}</p>
{notes}
<h2>Metrics</h2>
{_metric_table(page.metrics)}
<h2>Random samples</h2>
{_samples(page)}
<h2>Memorisation check</h2>
{_memorisation(page)}
<h2>Provenance</h2>
<div class="card"><dl class="provenance">{provenance}</dl></div>
</main></body></html>
"""
