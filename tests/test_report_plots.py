"""matplotlib figures: the training curve (fid.png of ganeval-train) and, without matplotlib, one clear line."""

from __future__ import annotations

import pytest

import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from ganeval.report.plots import INSTALL_HINT, plot_metrics_over_steps, plot_neighbour_distances
from ganeval_train.train import plot_fid

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test


def ink(path) -> float:
    """Share of pixels that are not white."""
    pixels = np.asarray(Image.open(path).convert("L"))
    return float((pixels < 250).mean())


def test_fid_png_of_training_is_a_matplotlib_figure(tmp_path):
    history = [(0, 310.5), (50, 180.2), (100, 120.0), (150, 131.7)]
    assert plot_fid(history, tmp_path / "fid.png", num_samples=1000) is True
    picture = Image.open(tmp_path / "fid.png")
    assert picture.format == "PNG" and picture.size == (640, 400)  # 6.4 x 4.0 in at 100 dpi
    assert 0.02 < ink(tmp_path / "fid.png") < 0.5
    assert plot_fid([], tmp_path / "empty.png") is False and not (tmp_path / "empty.png").exists()


def test_several_metrics_share_the_step_axis(tmp_path):
    path = plot_metrics_over_steps([0, 10, 20], {"FID": [50.0, 30.0, None], "KID": [0.05, 0.02, 0.01]},
                                   tmp_path / "metrics.png", num_samples=500)
    assert Image.open(path).size == (640, 580)
    plot_neighbour_distances(np.array([1.0, 2.0, 2.5]), np.array([0.0, 1.5]), tmp_path / "hist.png")
    assert ink(tmp_path / "hist.png") > 0.02


def test_without_matplotlib_one_line_says_how_to_install_it(tmp_path):
    """A Python in which ``import matplotlib`` fails, as on an install without the [plots] extra."""
    for side in ("a", "b"):  # two images each, never read: matplotlib is refused first
        (tmp_path / side).mkdir()
        for i in range(2):
            (tmp_path / side / f"{i}.png").write_bytes(b"not read")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None  # makes `import matplotlib` raise ImportError
        from ganeval_train.train import plot_fid
        from ganeval.report.plots import missing_matplotlib_note
        assert plot_fid([(0, 1.0)], {str(tmp_path / 'fid.png')!r}) is False
        print(missing_matplotlib_note("fid.png"))
        from ganeval.cli.commands import main
        main(["report", {str(tmp_path / 'a')!r}, {str(tmp_path / 'b')!r}, "-o", {str(tmp_path / 'out')!r}])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == f"note: fid.png is not drawn: matplotlib is not installed ({INSTALL_HINT})"
    assert result.stderr.strip() == f"ganeval: error: plots need matplotlib, which is not installed: {INSTALL_HINT}"
    assert not (tmp_path / "fid.png").exists() and not (tmp_path / "out").exists()


def test_a_training_run_with_fid_draws_fid_png(tmp_path, one_thread):
    """ganeval-train with --fid-every: fid.csv and the matplotlib fid.png (real weights, 2 x 6 samples)."""
    import ganeval
    from ganeval.cli.demo import colour_photo_crops
    from ganeval_train.train import TrainOptions, train

    ganeval.compute_stats(colour_photo_crops(8, 32), workers=0).save(tmp_path / "real.h5")
    summary = train(TrainOptions(model="dcgan", out=tmp_path / "run", steps=2, fid_every=2, fid_samples=6,
                                 real_stats=tmp_path / "real.h5", sample_every=100, quiet=True,
                                 overrides={"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16}))
    assert [step for step, _ in summary["fid_history"]] == [0, 2]
    picture = Image.open(tmp_path / "run" / "fid.png")
    assert picture.format == "PNG" and picture.size == (640, 400)
    assert ink(tmp_path / "run" / "fid.png") > 0.02
