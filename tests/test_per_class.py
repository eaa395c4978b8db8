"""Per-class statistics and intra-FID: labelled sources, the stats file's class groups, resume,
and the CLI, each class's FID checked against plain statistics of that class alone (real weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ganeval.api.compute import compute_stats, fid_from_stats
from ganeval.core.errors import GanevalError
from ganeval.api.evaluate import per_class_fid
from ganeval.core.stats import StatsSet
from cli_testing import run_cli

CLASSES = ("2", "10", "cat")
PER_CLASS = 5

pytestmark = pytest.mark.slow


def _class_images(label: str, seed: int) -> np.ndarray:
    """PER_CLASS uint8 [32, 32, 3] images: a class-specific colour pattern plus per-image noise."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(abs(hash(label)) % 2**32).integers(0, 256, (1, 8, 8, 3))
    pattern = np.kron(base, np.ones((1, 4, 4, 1)))
    return np.clip(pattern + rng.integers(-40, 41, (PER_CLASS, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("per-class")
    for side, seed in (("real", 0), ("fake", 100)):
        for k, label in enumerate(CLASSES):
            folder = root / side / label
            folder.mkdir(parents=True)
            for i, image in enumerate(_class_images(label, seed + k)):
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def real_and_fake(folders):
    return (compute_stats(str(folders / "real"), per_class=True, batch_size=4),
            compute_stats(str(folders / "fake"), per_class=True, batch_size=4))


def test_each_class_fid_equals_the_fid_of_that_class_alone(folders, real_and_fake):
    real, fake = real_and_fake
    assert sorted(real.classes) == sorted(CLASSES) and real.count == len(CLASSES) * PER_CLASS
    result = per_class_fid(real, fake, names=("real", "fake"))
    assert list(result["per_class"]) == ["2", "10", "cat"]  # numeric labels by value
    for label in CLASSES:
        alone = fid_from_stats(compute_stats(str(folders / "real" / label), features=("pool3",)),
                               compute_stats(str(folders / "fake" / label), features=("pool3",)))
        assert abs(result["per_class"][label] - alone) <= 1e-9 * max(alone, 1.0)
    assert result["intra_fid"] == pytest.approx(np.mean(list(result["per_class"].values())), rel=1e-15)
    # Whole-set statistics are unchanged by per-class bookkeeping.
    plain = compute_stats(str(folders / "real"), batch_size=4)
    assert np.array_equal(plain.mu, real.mu) and np.array_equal(plain.sigma, real.sigma)


def test_class_statistics_round_trip_through_the_file(tmp_path, real_and_fake):
    real, _ = real_and_fake
    real.save(tmp_path / "real.h5")
    loaded = StatsSet.load(tmp_path / "real.h5")
    assert sorted(loaded.classes) == sorted(CLASSES)
    for label in CLASSES:
        assert np.array_equal(loaded.classes[label].sigma, real.classes[label].sigma)
        assert loaded.classes[label].provenance["class"] == label


def test_labelled_arrays_and_iterables_give_the_same_classes(folders, real_and_fake):
    real, _ = real_and_fake
    images = np.concatenate([_class_images(label, k) for k, label in enumerate(CLASSES)])
    labels = np.repeat(np.array(CLASSES), PER_CLASS)
    from_array = compute_stats((images, labels), per_class=True, batch_size=4)
    pairs = [(images[i:i + 3].transpose(0, 3, 1, 2), labels[i:i + 3]) for i in range(0, len(images), 3)]
    from_pairs = compute_stats(iter(pairs), per_class=True, batch_size=4)
    for label in CLASSES:
        np.testing.assert_allclose(from_array.classes[label].mu, real.classes[label].mu, atol=1e-6)
        np.testing.assert_allclose(from_pairs.classes[label].mu, real.classes[label].mu, atol=1e-6)


def test_resumed_per_class_run_is_bit_identical(tmp_path, folders, real_and_fake):
    real, _ = real_and_fake
    checkpoint = tmp_path / "r.h5.partial"
    seen = []

    def stop_after_two_batches(n):
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compute_stats(str(folders / "real"), per_class=True, batch_size=4, checkpoint=checkpoint,
                      checkpoint_every=1, progress=stop_after_two_batches)
    resumed = compute_stats(str(folders / "real"), per_class=True, batch_size=4, checkpoint=checkpoint,
                            checkpoint_every=1, resume=True)
    for label in CLASSES:
        assert np.array_equal(resumed.classes[label].sigma, real.classes[label].sigma)
    assert np.array_equal(resumed.sigma, real.sigma)


def test_refusals_name_what_is_wrong(tmp_path, folders, real_and_fake):
    real, fake = real_and_fake
    fewer = StatsSet(dict(fake.spaces), classes={k: v for k, v in fake.classes.items() if k != "cat"})
    with pytest.raises(GanevalError, match=r"real only: cat"):
        per_class_fid(real, fewer, names=("real", "fake"))
    with pytest.raises(GanevalError, match=r"--per-class"):
        per_class_fid(real, compute_stats(str(folders / "fake"), features=("pool3",)), names=("real", "fake"))
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.fromarray(_class_images("x", 1)[0]).save(loose / "top.png")
    with pytest.raises(GanevalError, match="one sub-folder per class"):
        compute_stats(str(loose), per_class=True)


def test_cli_per_class_table_and_json(tmp_path, folders, real_and_fake, capsys):
    real, fake = real_and_fake
    made = run_cli(capsys, "stats", str(folders / "real"), "-o", str(tmp_path / "real.h5"), "--per-class", "-q")
    assert made.returncode == 0, made.stderr
    run = run_cli(capsys, "fid", str(tmp_path / "real.h5"), str(folders / "fake"), "--per-class", "--json", "-q")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    expected = per_class_fid(real, fake)
    assert set(record) >= {"per_class", "intra_fid", "fid"}
    for label in CLASSES:
        assert abs(record["per_class"][label] - expected["per_class"][label]) <= 1e-9 * expected["per_class"][label]
    text = run_cli(capsys, "fid", str(tmp_path / "real.h5"), str(folders / "fake"), "--per-class", "-q")
    assert text.returncode == 0 and "intra-FID" in text.stdout and "class cat" in text.stdout
    plain = run_cli(capsys, "stats", str(folders / "real"), "-o", str(tmp_path / "plain.h5"), "-q")
    assert plain.returncode == 0
    refused = run_cli(capsys, "fid", str(tmp_path / "plain.h5"), str(folders / "fake"), "--per-class")
    assert refused.returncode == 1 and "plain.h5" in refused.stderr and "--per-class" in refused.stderr
    assert "Traceback" not in refused.stderr
