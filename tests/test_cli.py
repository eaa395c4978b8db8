"""End to end through the command line, with the real Inception weights and real PNG files.

The FID printed by `ganeval fid` is checked against an independent computation: features
from the reference TorchScript network, and tr√(Σ1Σ2) as the nuclear norm of A1·A2ᵀ
(A = centred features), which holds for any rank and needs no matrix square root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.cli.commands import main
from ganeval.cli.demo import write_demo_images
from ganeval.extractors.preprocess import preprocess
from ganeval.extractors.weights import resolve_weights

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

N_IMAGES = 12


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    real, perturbed = write_demo_images(root, N_IMAGES)
    return root, real, perturbed


def run(argv, capsys):
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def reference_fid(folder_a: Path, folder_b: Path) -> float:
    """FID computed independently: TorchScript network, float64 numpy, nuclear-norm trace term."""
    network = torch.jit.load(str(resolve_weights().path), map_location="cpu").eval()

    def centred_features(folder):
        images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
        batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            feats = network(preprocess(batch, "tf1")).double().numpy()
        return feats.mean(axis=0), feats - feats.mean(axis=0)

    mu_a, a = centred_features(folder_a)
    mu_b, b = centred_features(folder_b)
    na, nb = len(a), len(b)
    trace_a = np.sum(a * a) / (na - 1)
    trace_b = np.sum(b * b) / (nb - 1)
    trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((na - 1) * (nb - 1))
    return float(np.sum((mu_a - mu_b) ** 2) + trace_a + trace_b - 2 * trace_sqrt)


def test_stats_then_fid_matches_independent_reference(demo_dirs, capsys):
    root, real, perturbed = demo_dirs
    stats_path = root / "real.h5"
    code, out, err = run(["stats", str(real), "-o", str(stats_path), "--workers", "0"], capsys)
    assert code == 0, err
    with h5py.File(stats_path) as h5:
        assert h5["pool3/mu"].shape == (2048,) and h5["pool3/sigma"].shape == (2048, 2048)
        assert h5.attrs["image_count"] == N_IMAGES and h5["pool3"].attrs["mode"] == "tf1"
        assert h5.attrs["source"] == str(real.resolve())
        assert h5.attrs["source_fingerprint"].startswith("sha256:")
        assert len(h5["pool3"].attrs["weights_sha256"]) == 64
    code, out, err = run(["fid", str(stats_path), str(perturbed), "--workers", "0"], capsys)
    assert code == 0, err
    value = float(out.strip())
    expected = reference_fid(real, perturbed)
    assert value > 1.0
    assert abs(value - expected) <= 1e-6 * expected, (value, expected)

    code, out, _ = run(["fid", str(stats_path), str(real), "--json", "--workers", "0"], capsys)
    record = json.loads(out)
    assert abs(record["fid"]) <= 1e-6
    assert record["count_a"] == record["count_b"] == N_IMAGES and record["mode"] == "tf1"
    assert {s["spaces"]["pool3"]["mode"] for s in record["provenance"].values()} == {"tf1"}


def test_fid_of_two_sources_saves_stats_on_request(demo_dirs, tmp_path, capsys):
    _, real, perturbed = demo_dirs
    keep = tmp_path / "perturbed.h5"
    code, out, err = run(["fid", str(real), str(perturbed), "--save-stats", str(keep),
                          "--max-images", "6", "--workers", "2"], capsys)
    assert code == 0, err
    with h5py.File(keep) as h5:  # the first source computed is A
        assert h5.attrs["image_count"] == 6 and h5.attrs["max_images"] == 6
    assert float(out) > 0


def test_mismatched_modes_are_refused_unless_allowed(demo_dirs, tmp_path, capsys):
    _, real, _ = demo_dirs
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run(["stats", str(real), "-o", str(a), "--workers", "0", "--max-images", "4", "--save-features"],
               capsys)[0] == 0
    with h5py.File(a) as h5:
        assert h5["pool3/features"].shape == (4, 2048) and h5["pool3/features"].dtype == np.float32
    assert run(["stats", str(real), "-o", str(b), "--mode", "clean", "--workers", "0", "--max-images", "4"],
               capsys)[0] == 0
    code, out, err = run(["fid", str(a), str(b)], capsys)
    assert code == 1 and out == "" and "differ in mode" in err and "--allow-mismatch" in err
    code, out, _ = run(["fid", str(a), str(b), "--allow-mismatch"], capsys)
    assert code == 0 and float(out) > 0


def test_bad_inputs_exit_non_zero_with_one_line_and_write_nothing(demo_dirs, tmp_path, capsys):
    _, real, _ = demo_dirs
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in sorted(real.glob("*.png"))[:3]:
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "zero.png").write_bytes(b"")
    out_path = tmp_path / "out.h5"
    (tmp_path / "empty").mkdir()
    np.savez(tmp_path / "theirs.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    cases = [
        (["stats", str(tmp_path / "missing"), "-o", str(out_path)], "missing"),
        (["stats", str(tmp_path / "empty"), "-o", str(out_path)], "empty"),
        (["stats", str(bad), "-o", str(out_path), "--workers", "0"], "zero.png"),
        (["fid", str(tmp_path / "theirs.npz"), str(real)], "theirs.npz"),
        (["fid", str(tmp_path / "nothing.h5"), str(real)], "nothing.h5"),
    ]
    for argv, named in cases:
        code, out, err = run(argv, capsys)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and named in lines[0], (argv, err)
        assert not out_path.exists()
    code, _, err = run(["stats", str(bad), "-o", str(out_path), "--workers", "0", "--skip-bad"], capsys)
    assert code == 0 and "skipped 1" in err
    with h5py.File(out_path) as h5:
        assert h5.attrs["image_count"] == 3
        assert json.loads(h5.attrs["skipped_files"]) == [str(bad / "zero.png")]


def test_console_script_help_and_weights(tmp_path):
    """The installed entry point works as a separate process; --help on every subcommand."""
    for sub in ([], ["stats"], ["fid"], ["weights"], ["demo"]):
        result = subprocess.run([sys.executable, "-m", "ganeval", *sub, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Usage:" in result.stdout, result.stderr
    result = subprocess.run([sys.executable, "-m", "ganeval", "weights"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34" in result.stdout
    result = subprocess.run([sys.executable, "-m", "ganeval", "fid", str(tmp_path / "x.h5"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "x.h5" in result.stderr
