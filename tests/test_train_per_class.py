"""Per-class FID of a cGAN end to end (real weights): `ganeval-train export-data` and `sample` write
one sub-folder per class, `ganeval stats --per-class` / `ganeval fid --per-class` compare them, and
each class's FID equals plain `ganeval fid` on that class's folder pair; FIDCallback(per_class=True)
equals per-class statistics computed independently from the same generated images."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import ganeval
from ganeval.api.compute import load_statistics
from ganeval.cli.commands import main as ganeval_main
from ganeval.core.errors import GanevalError
from ganeval.api.evaluate import per_class_fid
from ganeval.core.stats import StatsSet
from ganeval_train.cli import main as train_main
from ganeval_train.models import build_model

CLASSES = ("0", "1", "2")
PER_CLASS = 5  # images per class on each side: 3 x 5 real + 3 x 5 generated
TINY = {"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16}

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def run(main, argv, capsys):
    """A click main in this process (the Inception network stays loaded): (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def exit_code(main, argv) -> int:
    try:
        main(argv)
        return 0
    except SystemExit as exc:
        return exc.code or 0


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Digits of classes 0, 1, 2 exported per class, and their per-class statistics file."""
    root = tmp_path_factory.mktemp("per-class-train")
    assert exit_code(train_main, ["export-data", "digits", str(root / "real"), "--classes", ",".join(CLASSES),
                                  "--per-class", str(PER_CLASS)]) == 0
    assert exit_code(ganeval_main, ["stats", str(root / "real"), "-o", str(root / "real.h5"), "--per-class",
                                    "--features", "pool3", "--workers", "0", "-q"]) == 0
    return root


def test_export_writes_the_training_images_one_folder_per_class(real):
    from PIL import Image

    from ganeval_train.data import load_digits

    data = load_digits()
    assert sorted(p.name for p in (real / "real").iterdir()) == list(CLASSES)
    for label in CLASSES:
        files = sorted((real / "real" / label).iterdir())
        rows = np.flatnonzero(data.labels.numpy() == int(label))[:PER_CLASS]
        assert [f.name for f in files] == [f"{i:06d}.png" for i in rows]
        for f, i in zip(files, rows):
            assert np.array_equal(np.asarray(Image.open(f)), data.images[i, 0].numpy())


def test_cgan_samples_per_class_and_the_cli_per_class_fid(real, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "cgan"
    code, _, err = run(train_main, ["train", "cgan", "--steps", "3", "--batch-size", "8", "--out", str(run_dir),
                                    "--sample-every", "100", "--quiet"], capsys)
    assert code == 0, err
    samples = tmp_path / "samples"
    code, _, err = run(train_main, ["sample", str(run_dir), "-n", str(PER_CLASS * len(CLASSES)), "-o", str(samples),
                                    "--classes", ",".join(CLASSES)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in samples.iterdir()) == list(CLASSES)
    assert sorted(p.name for p in (samples / "1").iterdir())[:2] == ["000001.png", "000004.png"]
    assert all(len(list((samples / c).iterdir())) == PER_CLASS for c in CLASSES)

    code, out, err = run(ganeval_main, ["fid", str(real / "real.h5"), str(samples), "--per-class", "--json",
                                        "--features", "pool3", "--workers", "0", "-q"], capsys)
    assert code == 0, err
    record = json.loads(out)
    assert list(record["per_class"]) == list(CLASSES)
    assert record["intra_fid"] == pytest.approx(np.mean(list(record["per_class"].values())), rel=1e-12)
    for label in CLASSES:  # the same number as plain `ganeval fid` on that class's two folders
        code, out, err = run(ganeval_main, ["fid", str(real / "real" / label), str(samples / label),
                                            "--features", "pool3", "--workers", "0", "-q"], capsys)
        assert code == 0, err
        alone = float(out.strip().splitlines()[-1])
        assert abs(record["per_class"][label] - alone) <= 1e-9 * alone, label


def tiny_conditional_generator():
    torch.manual_seed(0)
    return build_model("cgan", num_classes=10, **TINY).generator


def test_fid_callback_per_class_equals_per_class_stats_of_the_same_images(real):
    G = tiny_conditional_generator()
    G.train()  # the callback samples in eval mode and restores this
    noise = torch.Generator().manual_seed(1)
    seen = []

    def sample(G, n, labels):
        assert not G.training and labels.dtype == torch.int64
        images = G(torch.randn(n, TINY["z_dim"], generator=noise), labels)
        seen.append((images.clone(), labels.clone()))
        return images

    n = PER_CLASS * len(CLASSES)
    callback = ganeval.FIDCallback(real / "real.h5", generator=G, sample=sample, per_class=True,
                                   value_range=(-1, 1), num_samples=n, every=5, batch_size=6, label_seed=3)
    assert callback(7) is None
    value = callback(10)
    assert G.training and callback.last == value and callback.history == [(10, value)]
    record = callback.history[-1]
    assert record.step == 10 and list(record.per_class) == list(CLASSES)

    # The documented labels: j mod K over the classes, shuffled by randperm(n) seeded with label_seed.
    labels = torch.cat([lab for _, lab in seen])
    expected = torch.randperm(n, generator=torch.Generator().manual_seed(3)) % len(CLASSES)
    assert [len(lab) for _, lab in seen] == [6, 6, 3] and torch.equal(labels, expected)
    assert torch.bincount(labels).tolist() == [PER_CLASS] * len(CLASSES)

    # Independent route: quantise like a PNG (floor(255 x + 0.5) of x in [0, 1]) and compute
    # per-class statistics with compute_stats on (images, labels).
    images = torch.cat([img for img, _ in seen])
    uint8 = torch.floor(255 * ((images + 1) / 2).clamp(0, 1) + 0.5).to(torch.uint8).numpy()
    fake = ganeval.compute_stats((uint8, labels.numpy().astype(str)), per_class=True, features=("pool3",),
                                 batch_size=7, workers=0)
    real_stats = load_statistics(real / "real.h5")
    reference = per_class_fid(real_stats, fake)
    for label in CLASSES:
        assert abs(record.per_class[label] - reference["per_class"][label]) <= 1e-9 * reference["per_class"][label]
    assert record.intra_fid == pytest.approx(reference["intra_fid"], rel=1e-9)
    assert value == pytest.approx(ganeval.fid_from_stats(real_stats, fake), rel=1e-9)


def test_fid_callback_per_class_refusals(real, tmp_path):
    plain = tmp_path / "plain.h5"
    StatsSet(load_statistics(real / "real.h5").spaces).save(plain)  # the same statistics without classes
    G = tiny_conditional_generator()

    def generate(n, labels):
        return G(torch.randn(n, TINY["z_dim"]), labels)

    with pytest.raises(GanevalError, match=r"plain\.h5.*--per-class"):
        ganeval.FIDCallback(plain, generate, per_class=True, num_samples=6)
    with pytest.raises(GanevalError, match=r"num_samples >= 6"):
        ganeval.FIDCallback(real / "real.h5", generate, per_class=True, num_samples=5)
    with pytest.raises(GanevalError, match=r"lacks the real classes 2"):
        ganeval.FIDCallback(real / "real.h5", generate, per_class=True, num_samples=6, classes=["0", "1"])


def test_training_logs_per_class_fid_for_a_cgan(real, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _, err = run(train_main, ["train", "cgan", "--steps", "2", "--batch-size", "8", "--out", str(run_dir),
                                    "--fid-every", "2", "--fid-samples", "6", "--real-stats", str(real / "real.h5"),
                                    "--sample-every", "100", "--quiet"], capsys)
    assert code == 0, err
    with open(run_dir / "fid.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "2"]
    assert list(rows[0]) == ["step", "fid", "intra_fid", "fid_class_0", "fid_class_1", "fid_class_2", "num_samples"]
    for r in rows:
        per = [float(r[f"fid_class_{c}"]) for c in CLASSES]
        assert float(r["intra_fid"]) == pytest.approx(np.mean(per), rel=1e-12)


def test_folder_dataset_class_names_name_the_sample_folders(tmp_path, capsys):
    from PIL import Image

    for name, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), value + i, np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    run_dir = tmp_path / "run"
    code, _, err = run(train_main, ["train", "cgan", "--dataset", str(tmp_path / "data"), "--steps", "1",
                                    "--batch-size", "4", "--out", str(run_dir), "--quiet"], capsys)
    assert code == 0, err
    assert json.loads((run_dir / "config.json").read_text())["class_names"] == ["cats", "dogs"]
    code, _, err = run(train_main, ["sample", str(run_dir), "-n", "5", "-o", str(tmp_path / "s")], capsys)
    assert code == 0, err
    assert {p.name: sorted(f.name for f in p.iterdir()) for p in (tmp_path / "s").iterdir()} == {
        "cats": ["000000.png", "000002.png", "000004.png"], "dogs": ["000001.png", "000003.png"]}
    code, _, err = run(train_main, ["export-data", str(tmp_path / "data"), str(tmp_path / "e"), "--classes", "dogs"],
                       capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["dogs"] and len(list((tmp_path / "e" / "dogs").iterdir())) == 4


def test_one_line_errors_of_per_class_sampling_and_export(tmp_path, capsys):
    cgan, dcgan = tmp_path / "cgan", tmp_path / "dcgan"
    for model, out in (("cgan", cgan), ("dcgan", dcgan)):
        code, _, err = run(train_main, ["train", model, "--steps", "1", "--batch-size", "8", "--out", str(out),
                                        "--quiet"], capsys)
        assert code == 0, err
    cases = [
        (["sample", str(dcgan), "-n", "2", "-o", str(tmp_path / "a"), "--classes", "0,1"], "needs a conditional model"),
        (["sample", str(cgan), "-n", "2", "-o", str(tmp_path / "b"), "--classes", "0", "--class", "1"], "not both"),
        (["sample", str(cgan), "-n", "2", "-o", str(tmp_path / "c"), "--classes", "0,12"], "no class '12'"),
        (["export-data", "digits", str(tmp_path / "d"), "--classes", "x"], "no class 'x'"),
        (["export-data", "digits", str(tmp_path / "missing" / "e")], "does not exist"),
    ]
    for argv, message in cases:
        code, _, err = run(train_main, argv, capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err
    for name in "abcd":
        assert not (tmp_path / name).exists()
