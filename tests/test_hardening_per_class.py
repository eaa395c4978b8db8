"""Issue 23, class 6 (and the one-image leftover of class 9): per-class data never gives a silently
wrong result, class sizes are checked as soon as they are known, and a refusal leaves nothing behind."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

import ganeval
from _hardening import assert_one_error, digest_tree, run
from ganeval import api


def _folder(root, sizes: dict, seed=0):
    rng = np.random.default_rng(seed)
    for label, n in sizes.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def per_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("pc")
    _folder(root / "images", {"a": 3, "b": 3, "c": 2})
    ganeval.compute_stats(str(root / "images"), per_class=True, progress=False, batch_size=2, save_features=True,
                          checkpoint=str(root / "pc.h5.partial"), checkpoint_every=1,
                          keep_checkpoint=True).save(root / "pc.h5")
    return root


@pytest.fixture
def no_work(monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("the networks were loaded before the refusal")

    monkeypatch.setattr(api, "get_extractor", started)


def _relabel(h5, group, label):
    h5[group].attrs["label"] = json.dumps(label)


@pytest.mark.slow
def test_duplicate_class_labels_in_a_stats_file_are_refused(per_class, tmp_path, capsys):
    """The reported case: two /classes groups with one label, one class silently dropped."""
    evil = tmp_path / "dup.h5"
    shutil.copy(per_class / "pc.h5", evil)
    with h5py.File(evil, "r+") as h5:
        _relabel(h5, "classes/00002", "a")
    for argv in (["fid", evil, per_class / "pc.h5", "--per-class"],
                 ["fid", per_class / "pc.h5", evil, "--per-class"],
                 ["eval", evil, per_class / "pc.h5", "--metrics", "fid"]):
        code, _, err = run(argv, capsys)
        assert_one_error(code, err, evil, "'a'", "two class groups")


def test_duplicate_class_labels_in_a_checkpoint_are_refused(per_class, tmp_path, capsys):
    shutil.copytree(per_class / "images", tmp_path / "images")
    partial = tmp_path / "pc.h5.partial"
    shutil.copy(per_class / "pc.h5.partial", partial)
    with h5py.File(partial, "r+") as h5:
        _relabel(h5, "classes/00001", "a")
    code, _, err = run(["stats", tmp_path / "images", "-o", tmp_path / "pc.h5", "--per-class", "--resume",
                        "--batch-size", "2", "--checkpoint-every", "1"], capsys)
    assert_one_error(code, err, "pc.h5.partial", "same label")
    assert not (tmp_path / "pc.h5").exists()


@pytest.mark.parametrize("kind", ["folder", "zip", "npz"])
def test_a_one_image_class_is_refused_before_any_work(tmp_path, capsys, no_work, kind):
    images = _folder(tmp_path / "images", {"big": 3, "lonely": 1})
    source = images
    if kind == "zip":
        source = tmp_path / "images.zip"
        shutil.make_archive(str(source.with_suffix("")), "zip", images)
    elif kind == "npz":
        source = tmp_path / "images.npz"
        np.savez(source, images=np.zeros((4, 32, 32, 3), np.uint8), labels=np.array([0, 0, 0, 7]))
    before = digest_tree(tmp_path)
    code, _, err = run(["stats", source, "-o", tmp_path / "out.h5", "--per-class"], capsys)
    assert_one_error(code, err, "'lonely'" if kind != "npz" else "'7'", "1 image", "at least 2")
    assert digest_tree(tmp_path) == before  # no out.h5, no out.h5.partial, no lock


def test_a_class_that_shrinks_to_one_image_is_refused_naming_it_and_leaves_no_checkpoint(tmp_path, capsys):
    images = _folder(tmp_path / "images", {"a": 3, "b": 2})
    (images / "b" / "1.png").write_bytes(b"not a png")
    before = digest_tree(tmp_path)
    code, _, err = run(["stats", images, "-o", tmp_path / "out.h5", "--per-class", "--skip-bad",
                        "--checkpoint-every", "1", "--batch-size", "2"], capsys)
    assert_one_error(code, err, "'b'", "1 image", "skipped")
    assert digest_tree(tmp_path) == before


@pytest.mark.parametrize("count", [0, 1])
def test_too_few_images_leave_no_partial(tmp_path, capsys, count):
    images = _folder(tmp_path / "images", {"x": count}) / "x"
    if count == 0:
        (images / "broken.png").write_bytes(b"not a png")
    before = digest_tree(tmp_path)
    code, _, err = run(["stats", images, "-o", tmp_path / "out.h5", "--checkpoint-every", "1", "--skip-bad"], capsys)
    assert_one_error(code, err, "at least 2 images")
    assert digest_tree(tmp_path) == before
