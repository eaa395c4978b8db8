"""`ganeval report` end to end: real weights, tiny image sets, the page opened in a real headless Chromium.

B holds three exact copies of A images, which the memorisation check must put first; the
fraction on the page is checked against the direct numpy formula on independently computed
features.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganeval
from ganeval.cli.commands import main
from ganeval.cli.demo import colour_photo_crops
from ganeval.core.errors import GanevalError
from ganeval.report import make_report

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

N, SIZE = 24, 32
COPIED = [5, 9, 17]  # B images 0, 1, 2 are copies of these A images
WINDOW = (1200, 1600)


class References(HTMLParser):
    """Every src/href of a page, and the page's text."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href") and value]

    def handle_data(self, data):
        self.text.append(data)


def parse_page(path: Path) -> References:
    parser = References()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def assert_self_contained(page: Path) -> References:
    """The page parses, and references only files that exist next to it (no server, no network)."""
    refs = parse_page(page)
    for link in refs.links:
        assert "://" not in link and not link.startswith("/"), link
        assert (page.parent / link).is_file(), f"{link} referenced but missing"
    return refs


def chromium_screenshot(page: Path, shot: Path, profile: Path) -> None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium not found: install.sh installs Debian's chromium (as root, where apt-get exists)"
    subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """A: a folder of 24 PNGs; B: a zip of 24 PNGs, the first three copies of A images."""
    root = tmp_path_factory.mktemp("report_images")
    real = colour_photo_crops(N, SIZE, seed=0)
    generated = colour_photo_crops(N, SIZE, seed=1)
    generated[:len(COPIED)] = real[COPIED]
    folder = root / "real"
    folder.mkdir()
    for i, image in enumerate(real):
        Image.fromarray(image).save(folder / f"real_{i:02d}.png")
    archive = root / "generated.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, image in enumerate(generated):
            png = root / "tmp.png"
            Image.fromarray(image).save(png)
            zf.write(png, f"gen_{i:02d}.png")
    return folder, archive


@pytest.fixture(scope="module")
def report(image_sets, tmp_path_factory):
    folder, archive = image_sets
    out = tmp_path_factory.mktemp("report") / "report"
    summary = make_report(folder, archive, out, samples=16, pairs=8, workers=0)
    return out, summary


def test_page_parses_and_references_only_files_that_exist(report, image_sets):
    out, summary = report
    page = out / "index.html"
    assert summary["page"] == str(page)
    refs = assert_self_contained(page)
    text = " ".join(refs.text)
    for heading in ("Metrics", "Random samples", "Memorisation check", "Provenance", "FID", "KID", "Precision",
                    "Coverage", "Memorisation fraction"):
        assert heading in text
    images = [link for link in refs.links if link.endswith(".png")]
    assert len([x for x in images if "/a_" in x]) >= 16 and len([x for x in images if "/b_" in x]) >= 16
    assert "img/distances.png" in images
    assert summary["notes"] == []
    written = json.loads((out / "report.json").read_text())
    assert written["memorisation"] == summary["memorisation"]
    # Sides labelled by their sources, as given (not the class name "StatsSet").
    assert (written["metrics"]["a"], written["metrics"]["b"]) == (str(image_sets[0]), str(image_sets[1]))
    # The thumbnails are the images themselves (32 px, not scaled).
    assert Image.open(out / images[0]).size == (SIZE, SIZE)


@pytest.fixture(scope="module")
def direct_stats(image_sets):
    """Features of both sides computed apart from the report, by the public API."""
    folder, archive = image_sets
    return tuple(ganeval.compute_stats(x, save_features=True, workers=0) for x in (folder, archive))


def test_copies_come_first_and_the_fraction_is_the_numpy_formula(report, direct_stats):
    out, summary = report
    stats_real, stats_gen = direct_stats
    real, gen = (s.features.astype(np.float64) for s in (stats_real, stats_gen))
    g_to_r = np.sqrt(((gen[:, None] - real[None]) ** 2).sum(-1))
    r_to_r = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    np.fill_diagonal(r_to_r, np.inf)
    rho, d, n = r_to_r.min(1), g_to_r.min(1), g_to_r.argmin(1)
    assert summary["memorisation"]["fraction"] == pytest.approx(np.mean(d < rho[n]), abs=1e-12)
    assert summary["memorisation"]["fraction_below_median"] == pytest.approx(np.mean(d < np.median(rho)), abs=1e-12)
    assert list(n[:3]) == COPIED and (d[:3] < 1e-3 * np.median(rho)).all()
    assert summary["metrics"]["fid"] == pytest.approx(ganeval.fid(stats_real, stats_gen), rel=1e-9)
    # On the page: the first three pairs are the copies, beside the real images they copy, flagged.
    html = (out / "index.html").read_text(encoding="utf-8")
    starts = [m for m in re.finditer(r'<div class="pair( closer)?">', html)]
    assert len(starts) == 16  # 8 closest, then 8 farthest
    found = set()
    for k in range(3):  # the copies, in any order: their distances are rounding noise
        pair = html[starts[k].start():starts[k + 1].start()]
        assert starts[k].group(1) == " closer" and "d = 0.00" in pair
        found |= {(j, i) for j, i in enumerate(COPIED)
                  if f"B gen_{j:02d}.png" in pair and f"A real_{i:02d}.png" in pair}
    assert found == {(0, 5), (1, 9), (2, 17)}


def test_headless_chromium_renders_a_readable_page(report, tmp_path):
    out, _ = report
    shot = tmp_path / "page.png"
    chromium_screenshot(out / "index.html", shot, tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    picture = Image.open(shot).convert("RGB")
    assert picture.size == WINDOW
    pixels = np.asarray(picture)
    background = np.array([0xF4, 0xF5, 0xF7])
    assert (np.abs(pixels.astype(int) - background).sum(-1) > 30).mean() > 0.15  # not an empty page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 2000  # photographs, not just text on a plain page
    # Dark text near the top: the title and the metric table were laid out.
    assert (pixels[:400].sum(-1) < 200).sum() > 2000


def test_stats_file_side_says_which_parts_need_images(report, image_sets, direct_stats, tmp_path, capsys):
    folder, archive = image_sets
    real = direct_stats[0]  # saved as mean and covariance only, without raw features
    ganeval.FeatureStats.from_moments(real.count, real.mu, real.sigma, dict(real.provenance)).save(tmp_path / "real.h5")
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "real.h5"), str(archive), "-o", str(out), "--workers", "0", "--samples", "8"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    assert captured.out.strip() == str(out / "index.html")
    assert "holds no images" in captured.err and "holds no raw features" in captured.err
    refs = assert_self_contained(out / "index.html")
    text = " ".join(refs.text)
    assert "A: no images" in text and "B: 8 random images" in text
    table = text.split("What it says")[1].split("Random samples")[0]
    assert "FID" in table and "KID" not in table and "Precision" not in table  # only FID without A's features
    assert "Not computed: it needs the raw features of both sides" in text
    assert json.loads((out / "report.json").read_text())["metrics"]["fid"] == pytest.approx(
        report[1]["metrics"]["fid"], rel=1e-9)


def test_refusals_come_before_any_work(image_sets, tmp_path, capsys):
    folder, archive = image_sets
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(folder), str(archive), "-o", str(busy)])
    assert exit_info.value.code == 1 and "holds no index.html" in capsys.readouterr().err
    with pytest.raises(GanevalError, match="reads the images twice"):
        make_report(folder, lambda: iter([]), tmp_path / "r")


def test_images_are_found_by_feature_row_when_bad_files_are_skipped(tmp_path):
    """With --skip-bad a feature row is the n-th decodable image, not the n-th file; names follow."""
    from ganeval.report.make import read_images_at

    images = colour_photo_crops(5, 8, seed=4)
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    (tmp_path / "1b.png").write_bytes(b"not a png")  # sorted between 1.png and 2.png
    found = read_images_at(tmp_path, [1, 2, 4], skip_bad=True, batch_size=2)
    assert {row: name for row, (_, name) in found.items()} == {1: "1.png", 2: "2.png", 4: "4.png"}
    for row, index in ((1, 1), (2, 2), (4, 4)):
        assert np.array_equal(found[row][0], images[index])
    with pytest.raises(GanevalError, match="fewer than its features"):
        read_images_at(tmp_path, [5], skip_bad=True)
