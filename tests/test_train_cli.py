"""ganeval-train end to end on the embedded digits: exact --resume, sampling files ganeval reads,
data loading, and one-line errors."""

from __future__ import annotations

import csv
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
from ganeval_train.cli import main
from ganeval_train.data import load_dataset, load_digits, upsample_digits
from ganeval_train.train import TrainOptions, load_model, train

TINY = {"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16}


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def losses(run) -> list[list[str]]:
    with open(run / "losses.csv", newline="") as f:
        return list(csv.reader(f))


def run_cli(argv, capsys):
    """ganeval-train in this process: (exit code, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name,extra", [("dcgan", {}), ("stylegan-lite", {"w_dim": 16, "phase_steps": 2})])
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(name, extra, tmp_path):
    overrides = dict(TINY, **extra)
    common = dict(model=name, checkpoint_every=3, sample_every=100, seed=5, overrides=overrides, quiet=True)
    train(TrainOptions(out=tmp_path / "straight", steps=7, **common))

    train(TrainOptions(out=tmp_path / "killed", steps=3, **common))
    with open(tmp_path / "killed" / "losses.csv", "a") as f:  # a row logged after the checkpoint, then "killed"
        f.write("3,999.0,999.0\n")
    train(TrainOptions(out=tmp_path / "killed", steps=7, resume=True, **common))

    assert losses(tmp_path / "killed") == losses(tmp_path / "straight")
    assert len(losses(tmp_path / "straight")) == 8  # header + steps 0..6
    a, _ = load_model(tmp_path / "straight")
    b, _ = load_model(tmp_path / "killed")
    for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), key


def test_train_and_sample_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "runs" / "c"
    code, err = run_cli(["train", "cgan", "--steps", "2", "--out", str(run), "--batch-size", "8",
                         "--sample-every", "1", "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (run / "grids").iterdir()) == ["step_000000.png", "step_000001.png",
                                                                  "step_000002.png"]
    # N readable PNGs that ganeval reads directly, one sub-folder per class (sample i has class i mod 10).
    code, err = run_cli(["sample", str(run), "-n", "12", "-o", str(tmp_path / "png")], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [str(k) for k in range(10)]
    assert sorted(p.name for p in (tmp_path / "png" / "1").iterdir()) == ["000001.png", "000011.png"]
    files = sorted((tmp_path / "png").rglob("*.png"))
    assert len(files) == 12
    with Image.open(files[0]) as image:
        assert image.size == (32, 32)
    batches = list(ganeval.open_source(tmp_path / "png").batches(50, workers=0))
    assert sum(len(b) for b in batches) == 12 and batches[0][0].shape == (3, 32, 32)
    # One class, as an npz array.
    code, err = run_cli(["sample", str(run), "-n", "5", "-o", str(tmp_path / "three.npz"), "--format", "npz",
                         "--class", "3"], capsys)
    assert code == 0, err
    data = np.load(tmp_path / "three.npz")
    assert data["images"].shape == (5, 32, 32, 1) and data["images"].dtype == np.uint8
    assert data["labels"].tolist() == [3] * 5
    # The PNGs and the npz hold the same pixels for the same seed and class.
    code, _ = run_cli(["sample", str(run), "-n", "5", "-o", str(tmp_path / "three_png"), "--class", "3"], capsys)
    assert code == 0
    pixels = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "three_png").iterdir())])
    assert np.array_equal(pixels, data["images"][..., 0])


def test_stylegan_truncation_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "s"
    train(TrainOptions(model="stylegan-lite", out=run, steps=1, overrides=dict(TINY, w_dim=16), quiet=True))
    code, err = run_cli(["sample", str(run), "-n", "3", "-o", str(tmp_path / "t.npz"), "--format", "npz",
                         "--truncation", "0"], capsys)
    assert code == 0, err
    code, err = run_cli(["sample", str(run), "-n", "3", "-o", str(tmp_path / "u.npz"), "--format", "npz"], capsys)
    assert code == 0, err
    truncated = np.load(tmp_path / "t.npz")["images"].astype(int)
    free = np.load(tmp_path / "u.npz")["images"].astype(int)
    # psi = 0: one w for all samples; only the per-pixel noise (scales ~lr after one step) differs.
    spread_truncated = np.abs(truncated[0] - truncated[1]).mean()
    spread_free = np.abs(free[0] - free[1]).mean()
    assert np.abs(truncated[0] - truncated[1]).max() <= 8 and spread_truncated < 0.25 * spread_free


def test_one_line_errors_and_nothing_half_written(tmp_path, capsys):
    run = tmp_path / "r"
    code, err = run_cli(["train", "dcgan", "--out", str(run), "--resume", "--steps", "1"], capsys)
    assert code == 1 and "nothing to resume" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli(["train", "dcgan", "--out", str(run), "--fid-every", "5"], capsys)
    assert code == 1 and "--real-stats" in err
    code, err = run_cli(["train", "dcgan", "--out", str(run), "--dataset", str(tmp_path / "nope")], capsys)
    assert code == 1 and "no such dataset" in err
    code, err = run_cli(["sample", str(tmp_path), "-n", "2", "-o", str(tmp_path / "x")], capsys)
    assert code == 1 and "no checkpoint" in err and not (tmp_path / "x").exists()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    code, err = run_cli(["sample", str(tmp_path / "bad.pt"), "-n", "2", "-o", str(tmp_path / "y")], capsys)
    assert code == 1 and "bad.pt" in err and not (tmp_path / "y").exists()


def test_digits_are_upsampled_bilinearly_to_32x32():
    data = load_digits()
    assert data.images.shape == (1797, 1, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.shape == (1797,) and set(data.labels.tolist()) == set(range(10))
    # Bilinear with half-pixel centres: output pixel (4i + 1.5) of a 4x upsampling is the
    # source pixel i exactly (centre to centre); the pixel between two centres is their mean.
    raw = np.zeros((1, 8, 8))
    raw[0, 3, 3], raw[0, 3, 4] = 16, 8
    up = upsample_digits(raw)[0, 0].float()
    assert up.shape == (32, 32) and up.max() <= 255
    x = 255 / 16
    # column 4*3+1.5 -> 13.5 lies between output 13 and 14; check a point mid-way between centres instead
    centre_i = lambda i: 4 * i + 1.5  # noqa: E731
    y0 = int(centre_i(3) + 0.5)  # row 14: 0.125 past the centre of source row 3 (and col likewise)
    # hand bilinear at (row 14, col 14): source coords (3.125, 3.125) -> 0.875 * (0.875*16 + 0.125*8) * x
    expected = round(0.875 * (0.875 * 16 + 0.125 * 8) * x)
    assert up[y0, y0] == expected


def test_image_folder_and_zip_with_classes_from_sub_folders(tmp_path):
    for cls, value in (("cats", 50), ("dogs", 200)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((40, 40, 3), value + i, np.uint8)).save(tmp_path / "data" / cls / f"{i}.png")
    folder = load_dataset(str(tmp_path / "data"), resolution=32)
    assert folder.images.shape == (4, 3, 32, 32) and folder.num_classes == 2
    assert folder.labels.tolist() == [0, 0, 1, 1] and folder.images[2].float().mean() == 200
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        for path in sorted((tmp_path / "data").rglob("*.png")):
            archive.write(path, path.relative_to(tmp_path / "data").as_posix())
    zipped = load_dataset(str(tmp_path / "data.zip"), resolution=32, channels=1)
    assert zipped.images.shape == (4, 1, 32, 32) and zipped.labels.tolist() == [0, 0, 1, 1]


def test_missing_torchvision_dataset_is_one_clear_line(tmp_path, capsys):
    code, err = run_cli(["train", "dcgan", "--dataset", "mnist", "--data-root", str(tmp_path),
                         "--out", str(tmp_path / "run")], capsys)
    assert code == 1 and "--download" in err and str(tmp_path) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_fid_phase_is_visible_in_the_log(tmp_path, capsys):
    real = tmp_path / "real.h5"
    ganeval.compute_stats(load_digits().images[:10], workers=0).save(real)
    run = tmp_path / "run"
    code, err = run_cli(["train", "dcgan", "--out", str(run), "--steps", "2", "--batch-size", "8",
                         "--fid-every", "2", "--fid-samples", "10", "--real-stats", str(real)], capsys)
    assert code == 0, err
    lines = err.splitlines()
    for step in (0, 2):  # stderr is not a terminal here: a line when each FID starts and one with its value
        started = lines.index(f"step {step}: FID of 10 samples...")
        assert lines[started + 1].startswith(f"step {step}: fid ")
    assert "FID by step 0: " in err
