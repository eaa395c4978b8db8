"""Issue 23, class 2: ganeval reads only datasets stored inside an HDF5 file itself.

External raw storage, external links, virtual datasets and soft links that leave their group are
refused in one line naming the dataset, at every place that opens HDF5: stats files (`fid`, `eval`,
`export-stats`, per-class groups, `ref get`'s served conversion via load_stats) and `stats --resume`
checkpoints. A broken link is one line. Nothing is written, nothing is read from the other file.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

import ganeval
from _hardening import assert_one_error, digest_tree, run
from ganeval.core.errors import GanevalError
from ganeval.io.checkpoint import checkpoint_count
from ganeval.io.statsfile import has_features
from ganeval.core.stats import load_stats

SECRET = b"top secret: the bytes of an unrelated local file\n" * 400


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real stats file with features, a per-class stats file, a stats --resume checkpoint, and a secret."""
    root = tmp_path_factory.mktemp("h5")
    rng = np.random.default_rng(0)
    (root / "classes" / "a").mkdir(parents=True)
    (root / "classes" / "b").mkdir(parents=True)
    from PIL import Image

    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "classes" / "ab"[i % 2] / f"{i}.png")
    np.save(root / "x.npy", rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
    ganeval.compute_stats(str(root / "x.npy"), device="cpu", batch_size=2, save_features=True, progress=False,
                          checkpoint=str(root / "s.h5.partial"), checkpoint_every=1,
                          keep_checkpoint=True).save(root / "s.h5")
    ganeval.compute_stats(str(root / "classes"), device="cpu", per_class=True, progress=False).save(root / "pc.h5")
    (root / "secret.txt").write_bytes(SECRET)
    return root


def _replace(h5, name, make):
    del h5[name]
    make(h5, name)


def _external_storage(secret):
    return lambda h5, name: h5.create_dataset(name, shape=(2048,), dtype="<f8", external=[(str(secret), 0, 2048 * 8)])


def _external_link(other):
    return lambda h5, name: h5.__setitem__(name, h5py.ExternalLink(str(other), name))


def _virtual(missing):
    def make(h5, name):
        layout = h5py.VirtualLayout(shape=(2048,), dtype="<f8")
        layout[:] = h5py.VirtualSource(str(missing), "mu", shape=(2048,))
        h5.create_virtual_dataset(name, layout, fillvalue=0)
    return make


def _soft_outside(h5, name):
    h5["elsewhere/mu"] = np.zeros(2048)
    h5[name] = h5py.SoftLink("/elsewhere/mu")


def _soft_broken(h5, name):
    h5[name] = h5py.SoftLink(name + "_gone")


def _soft_relative_escape(h5, name):
    h5["elsewhere/mu"] = np.zeros(2048)
    h5[name] = h5py.SoftLink("../elsewhere/mu")


KINDS = {
    "external storage": (lambda root: _external_storage(root / "secret.txt"), "external file"),
    "external link": (lambda root: _external_link(root / "other.h5"), "external link"),
    "virtual dataset": (lambda root: _virtual(root / "missing.h5"), "virtual dataset"),
    "soft link outside its group": (lambda root: _soft_outside, "soft link"),
    "relative soft link outside": (lambda root: _soft_relative_escape, "soft link"),
    "broken soft link": (lambda root: _soft_broken, "broken soft link"),
}


def _poison(files, tmp_path, source, dataset, kind):
    target = tmp_path / f"evil-{source}"
    shutil.copy(files / source, target)
    shutil.copy(files / "s.h5", tmp_path / "other.h5")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    make, words = KINDS[kind]
    with h5py.File(target, "r+") as h5:
        _replace(h5, dataset, make(tmp_path))
    return target, words


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dataset", ["pool3/mu", "pool3/features"])
def test_stats_file_reading_elsewhere_is_refused_naming_the_dataset(files, tmp_path, capsys, kind, dataset):
    if dataset == "pool3/features" and kind in ("virtual dataset", "external storage"):
        dataset = "pool3/sigma"  # shapes differ: the same kinds aimed at another dataset
    evil, words = _poison(files, tmp_path, "s.h5", dataset, kind)
    before = digest_tree(tmp_path)
    with pytest.raises(GanevalError) as err:
        load_stats(evil, with_features=True)
    assert f"'/{dataset}'" in str(err.value) and words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(GanevalError):
        has_features(evil)
    code, _, err = run(["export-stats", evil, "-o", tmp_path / "out.npz"], capsys)
    assert_one_error(code, err, evil, f"/{dataset}", words)
    code, _, err = run(["fid", evil, files / "s.h5"], capsys)
    assert_one_error(code, err, evil, f"/{dataset}")
    code, _, err = run(["eval", evil, files / "s.h5", "--metrics", "fid"], capsys)
    assert_one_error(code, err, evil, f"/{dataset}")
    assert digest_tree(tmp_path) == before  # nothing written (no out.npz), nothing changed


@pytest.mark.parametrize("kind", list(KINDS))
def test_per_class_group_reading_elsewhere_is_refused(files, tmp_path, capsys, kind):
    evil, words = _poison(files, tmp_path, "pc.h5", "classes/00001/pool3/mu", kind)
    code, _, err = run(["fid", evil, files / "pc.h5", "--per-class"], capsys)
    assert_one_error(code, err, evil, "/classes/00001/pool3/mu", words)


def test_soft_link_to_another_class_is_refused(files, tmp_path, capsys):
    """/classes/00001/pool3 -> /classes/00000/pool3 would duplicate a class's statistics silently."""
    evil = tmp_path / "evil.h5"
    shutil.copy(files / "pc.h5", evil)
    with h5py.File(evil, "r+") as h5:
        del h5["classes/00001/pool3"]
        h5["classes/00001/pool3"] = h5py.SoftLink("/classes/00000/pool3")
    code, _, err = run(["fid", evil, files / "pc.h5", "--per-class"], capsys)
    assert_one_error(code, err, evil, "/classes/00001/pool3", "soft link")


def test_soft_link_inside_its_group_and_hard_link_cycles_are_fine(files, tmp_path):
    good = tmp_path / "good.h5"
    shutil.copy(files / "s.h5", good)
    with h5py.File(good, "r+") as h5:
        h5["pool3/mu_stored"] = h5["pool3/mu"][()]
        del h5["pool3/mu"]
        h5["pool3/mu"] = h5py.SoftLink("/pool3/mu_stored")
        h5["pool3/loop"] = h5["pool3"]  # a hard link to its own group: a cycle the walk must end
    assert np.array_equal(load_stats(good).mu, load_stats(files / "s.h5").mu)


def test_secret_bytes_never_reach_an_output(files, tmp_path, capsys):
    """The reported case: export-stats copied secret.txt's bytes into its .npz, with exit 0."""
    evil, _ = _poison(files, tmp_path, "s.h5", "pool3/mu", "external storage")
    code, _, _ = run(["export-stats", evil, "-o", tmp_path / "out.npz"], capsys)
    assert code == 1 and not (tmp_path / "out.npz").exists()
    assert not any(SECRET[:40] in p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != "secret.txt")


def test_too_many_objects_is_one_line_not_a_hang(files, tmp_path, monkeypatch):
    import ganeval.io.h5safe as h5safe

    monkeypatch.setattr(h5safe, "MAX_LINKS", 5)
    with pytest.raises(GanevalError, match="more than 5 HDF5 objects"):
        load_stats(files / "pc.h5")


@pytest.mark.parametrize("kind", ["external storage", "external link", "virtual dataset", "soft link outside its group",
                                  "broken soft link"])
def test_resume_checkpoint_reading_elsewhere_is_refused(files, tmp_path, capsys, kind):
    shutil.copy(files / "x.npy", tmp_path / "x.npy")
    partial = tmp_path / "s.h5.partial"
    shutil.copy(files / "s.h5.partial", partial)
    shutil.copy(files / "s.h5", tmp_path / "other.h5")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    make, words = KINDS[kind]
    with h5py.File(partial, "r+") as h5:
        _replace(h5, "pool3/mean", make(tmp_path))
    with pytest.raises(GanevalError, match="/pool3/mean"):
        checkpoint_count(partial)
    code, _, err = run(["stats", tmp_path / "x.npy", "-o", tmp_path / "s.h5", "--resume", "--batch-size", "2",
                        "--save-features"], capsys)
    assert_one_error(code, err, "s.h5.partial", "/pool3/mean", words)
    assert not (tmp_path / "s.h5").exists()
