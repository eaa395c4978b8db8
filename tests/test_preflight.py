"""Issue 22, item 1: every user mistake is answered with its one line before torch is imported.

All the mistakes run through ``ganeval.cli.commands.main`` in ONE fresh interpreter (tests/preflight_probe.py
is not needed: the script is inline), which records, after each command, its exit code, its stderr
and whether ``torch`` is in ``sys.modules``: the first command that imported torch would show it,
and no later one can hide it. The library keeps the same checks (the API runs without the command
line): the last tests compare its messages with the preflight's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import contextlib, importlib.abc, io, json, sys


class RefuseTorch(importlib.abc.MetaPathFinder):
    # Every import of torch fails and is noted, so that one command that reaches for torch is named
    # and the commands after it still start without torch.
    attempts = 0

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            RefuseTorch.attempts += 1
            raise ImportError("torch import refused by the preflight test")
        return None


sys.meta_path.insert(0, RefuseTorch())
from ganeval.cli.commands import main

results = []
for argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    before = RefuseTorch.attempts
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as stop:
            code = stop.code
        except BaseException as other:  # the refused import, or anything else: recorded, not raised
            code = repr(other)
    results.append({"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                    "torch": RefuseTorch.attempts > before or "torch" in sys.modules})
print(json.dumps(results))
"""


def _write_images(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _stats_file(path: Path, **provenance) -> Path:
    from ganeval.core.stats import save_stats
    from ganeval.core.stats import FeatureStats

    base = {"extractor": "inception-v3-tf-2015-12-05/pool3", "weights_sha256": "a" * 64, "mode": "tf1",
            "precision": "fp32"}
    rng = np.random.default_rng(0)
    features = rng.standard_normal((5, 4))
    stats = FeatureStats.from_moments(5, features.mean(0), np.cov(features, rowvar=False),
                                      {**base, **provenance})
    save_stats(stats, path)
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Files for every mistake: folders of 0, 1 and 3 images, a text file, an image-less zip, a
    one-image .npz, and stats files that differ in mode, precision or weights."""
    root = tmp_path_factory.mktemp("preflight")
    paths = {
        "empty": root / "empty",
        "one": _write_images(root / "one", 1),
        "three": _write_images(root / "three", 3),
        "text": root / "notes.txt",
        "zip": root / "texts.zip",
        "npz": root / "one.npz",
        "tf1": _stats_file(root / "tf1.h5"),
        "clean": _stats_file(root / "clean.h5", mode="clean"),
        "bf16": _stats_file(root / "bf16.h5", precision="bf16"),
        "other_weights": _stats_file(root / "other.h5", weights_sha256="b" * 64),
        "dinov2": _stats_file(root / "dinov2.h5", extractor="dinov2-vitl14/dinov2", mode="dgm-eval"),
        "missing": root / "missing",
        "report_file": root / "report.html",  # a file where the report's folder should go
    }
    paths["empty"].mkdir()
    paths["text"].write_text("not an image\n")
    paths["report_file"].write_text("<html></html>\n")
    with zipfile.ZipFile(paths["zip"], "w") as archive:
        archive.writestr("readme.txt", "no images here")
    np.savez(paths["npz"], images=np.zeros((1, 8, 8, 3), np.uint8))
    return {"root": root, **{k: str(v) for k, v in paths.items()}}


def _mistakes(c) -> list[tuple[list[str], int, str]]:
    """(argv, exit code, a piece of the one line) for every mistake the issue lists, per command."""
    out = os.path.join(c["root"], "out.h5")
    return [
        # a wrong path, an empty folder, one image, a non-image file: every command that reads sources
        (["stats", c["missing"], "-o", out], 1, f"{c['missing']}: no such file or folder"),
        (["stats", c["empty"], "-o", out], 1, "folder is empty"),
        (["stats", c["one"], "-o", out], 1, "only one image to compute statistics from"),
        (["stats", c["text"], "-o", out], 1, "not an image source"),
        (["stats", c["zip"], "-o", out], 1, "zip archive has no image files"),
        (["stats", c["npz"], "-o", out], 1, "only one image to compute statistics from"),
        (["fid", c["three"], c["missing"]], 1, "no such file or folder"),
        (["fid", c["tf1"], c["one"]], 1, "only one image"),
        (["eval", c["empty"], c["three"]], 1, "folder is empty"),
        (["kid", c["three"], c["text"]], 1, "not an image source"),
        (["prdc", c["missing"] + ".h5", c["three"]], 1, "missing.h5: no such file"),
        (["sfid", c["three"], c["one"]], 1, "only one image"),
        (["is", c["empty"]], 1, "folder is empty"),
        (["report", c["three"], c["one"], "-o", os.path.join(c["root"], "rep")], 1, "only one image"),
        # an unwritable or bad output location
        (["stats", c["three"], "-o", os.path.join(c["missing"], "out.h5")], 1, "does not exist; create it first"),
        (["stats", c["three"], "-o", c["empty"]], 2, "is a directory"),
        (["stats", c["npz"], "-o", c["npz"]], 1, "the output is the same file as the input"),
        (["stats", c["three"], "-o", "/proc/ganeval-preflight.h5"], 1, "cannot write in folder /proc"),
        (["fid", c["three"], c["three"], "--save-stats", os.path.join(c["missing"], "s.h5")], 1, "create it first"),
        (["report", c["tf1"], c["three"], "-o", c["report_file"]], 2, "is a file"),
        (["report", c["tf1"], c["three"], "-o", c["three"]], 1, "the report folder is or contains the input"),
        (["report", c["tf1"], c["three"], "-o", c["one"]], 1, "is not empty and holds no index.html"),
        (["merge", c["tf1"], c["clean"], "-o", os.path.join(c["missing"], "m.h5")], 1, "differ in mode"),
        (["merge", c["tf1"], c["bf16"], "-o", c["tf1"]], 1, "differ in precision"),
        (["export-stats", c["tf1"], "-o", os.path.join(c["missing"], "x.npz")], 1, "create it first"),
        (["export-stats", c["tf1"], "-o", os.path.join(c["root"], "x.txt")], 1, "files end in .npz"),
        (["export-stats", c["tf1"], "-o", c["missing"], "--format", "clean-fid", "--name", "a"], 1,
         "not a folder; create it first"),
        (["export-stats", c["tf1"], "-o", str(c["root"]), "--format", "clean-fid", "--name", "a_b"], 1,
         "use letters, digits and '-' only"),
        (["import-stats", c["missing"] + ".npz", "-o", out, "--mode", "tf1", "--network", "unknown"], 1,
         "missing.npz: no such file"),
        # a typo in a metric name, bad option values
        (["eval", c["three"], c["three"], "--metrics", "fdi"], 1, "unknown metric(s) fdi"),
        (["eval", c["tf1"], c["clean"], "--metrics", "fid,kdi"], 1, "unknown metric(s) kdi"),
        (["eval", c["three"], c["three"], "--features", "pool4"], 1, "unknown feature space(s) pool4"),
        (["fid", c["three"], c["three"], "--convention", "dinov2=edm3"], 1, "has no convention 'edm3'"),
        (["fid", c["three"], c["three"], "--mode", "tf2"], 2, "Invalid value for '--mode'"),
        (["fid", c["three"], c["tf1"], "--weights", c["missing"] + ".pt"], 1,
         f"{c['missing']}.pt: weights file not found (from --weights)"),
        (["stats", c["three"], "-o", out, "--batch-size", "0"], 2, "Invalid value for '--batch-size'"),
        (["ref", "get", "cifar-10-tarin"], 1, "no reference statistics named 'cifar-10-tarin'"),
        (["ref", "get", "ttur/cifar10-train", "--file", c["missing"] + ".npz"], 1, "missing.npz: no such file"),
        # stats files: not one, or not comparable with each other or with the images' settings
        (["fid", c["text"] + ".h5", c["three"]], 1, "no such file"),
        (["export-stats", c["text"], "-o", os.path.join(c["root"], "x.npz")], 1, "not a ganeval stats file"),
        (["merge", c["tf1"], c["text"], "-o", os.path.join(c["root"], "m.h5")], 1, "not a ganeval stats file"),
        (["fid", c["tf1"], c["clean"]], 1, f"{c['tf1']} and {c['clean']} differ in mode (tf1 vs clean)"),
        (["eval", c["tf1"], c["bf16"]], 1, "differ in precision (fp32 vs bf16)"),
        (["kid", c["tf1"], c["other_weights"]], 1, "differ in weights_sha256"),
        (["fid", c["tf1"], c["three"], "--mode", "clean"], 1,
         f"{c['tf1']} and the features these settings compute differ in mode (tf1 vs clean)"),
        (["fid", c["bf16"], c["three"]], 1, "differ in precision (bf16 vs fp32)"),
        (["fid", c["tf1"], c["three"], "--precision", "fp16"], 1, "differ in precision (fp32 vs fp16)"),
        (["eval", c["dinov2"], c["three"], "--metrics", "fd_dinov2", "--convention", "dinov2=edm2"], 1,
         "differ in mode (dgm-eval vs edm2)"),
    ]


def _run_probe(argvs: list[list[str]]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANEVAL_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_mistake_is_one_line_before_torch_is_imported(case):
    mistakes = _mistakes(case)
    results = _run_probe([argv for argv, _, _ in mistakes])
    wrong = []
    for (argv, code, piece), result in zip(mistakes, results):
        lines = result["stderr"].splitlines()
        if not (result["code"] == code and result["stdout"] == "" and len(lines) == 1
                and lines[0].startswith("ganeval: error: ") and piece in lines[0]):
            wrong.append(f"ganeval {' '.join(argv)}: expected exit {code} and one line with {piece!r}, got {result}")
        elif result["torch"]:
            wrong.append(f"ganeval {' '.join(argv)}: torch was imported before the mistake was answered")
    assert not wrong, "\n".join(wrong)
    assert not os.path.exists(os.path.join(case["root"], "out.h5"))  # nothing written


def test_a_right_command_reaches_for_torch(case):
    """The probe can fail: a command that passes every check goes on to import torch (refused there)."""
    (result,) = _run_probe([["export-stats", case["tf1"], "-o", os.path.join(case["root"], "ok.npz")]])
    assert result["torch"] and result["code"] != 0, result


@pytest.mark.parametrize("name", ["missing", "empty", "one", "text", "zip", "npz"])
def test_the_library_says_the_same_about_sources(case, name):
    """The API (no command line) refuses the same sources with the same line."""
    from ganeval import api
    from ganeval.core.errors import GanevalError
    from ganeval.io.preflight import check_image_source

    with pytest.raises(GanevalError) as early:
        check_image_source(case[name])
    with pytest.raises(GanevalError) as late:
        api.compute_stats(case[name], device="cpu", workers=0)
    assert str(early.value) == str(late.value)


def test_the_library_says_the_same_about_stats_files(case):
    from ganeval.core.errors import GanevalError
    from ganeval.api.evaluate import evaluate
    from ganeval.io.preflight import stats_provenance
    from ganeval.api.preflight import check_sides
    from ganeval.core.stats import load_stats

    for bad in (case["text"], case["missing"] + ".h5", case["empty"]):
        with pytest.raises(GanevalError) as early:
            stats_provenance(bad)
        with pytest.raises(GanevalError) as late:
            load_stats(bad)
        assert str(early.value) == str(late.value)
    for other in ("clean", "bf16", "other_weights"):
        sides = (case["tf1"], case[other])
        with pytest.raises(GanevalError) as early:
            check_sides(sides, metrics=("fid",))
        with pytest.raises(GanevalError) as late:
            evaluate(*sides, ("fid",), names=sides)
        assert str(early.value) == str(late.value)
    check_sides((case["tf1"], case["clean"]), metrics=("fid",), allow_mismatch=True)  # allowed: no error


def test_the_library_says_the_same_about_a_missing_weights_file(case):
    from ganeval.core.errors import GanevalError
    from ganeval.extractors.weights import resolve_weights
    from ganeval.api.preflight import check_inception_weights_path

    missing = case["missing"] + ".pt"
    with pytest.raises(GanevalError) as early:
        check_inception_weights_path(missing)
    with pytest.raises(GanevalError) as late:
        resolve_weights(missing)
    assert str(early.value) == str(late.value)
