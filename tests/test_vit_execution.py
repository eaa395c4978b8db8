"""--precision, --backend and --compile on the ViT encoders (ganeval.extractors.execution).

A small CLIP image tower in OpenAI's layout (width 128, 2 blocks, patch 32, 7x7 grid, 512-d
projection: the shape checks of ``clip-vitb32`` pass, and it runs in milliseconds) goes through
``ClipB32Extractor``; references are the same extractor at fp32 on the torch backend, whose
numbers tests/test_clip.py checks against open_clip. Tolerances: ONNX Runtime and torch.compile
1e-5 max abs (fp32, other summation order); bf16 / fp16 must differ from fp32 (else the test
could not tell that autocast ran) and stay within 5e-2 / 5e-3 relative (their mantissas:
8 and 11 bits). DINOv2's graph (position embeddings resized once and baked in) is checked at
full size in tests/test_dinov2.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganeval.core.errors import GanevalError
from ganeval.extractors.clip import ClipB32Extractor, ClipVisual
from ganeval.extractors.execution import NetworkRunner, OneOutput, exact_fp32
from ganeval.extractors.onnx_backend import onnxruntime_available
from ganeval.core.stats import StatsSet, check_compatible
from cli_testing import run_cli
from vit_testing import randomise_, smooth_images

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

needs_onnxruntime = pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime/onnx not installed")


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    """(weights file of a small CLIP in OpenAI's layout, uint8 images [6, 3, 180, 240])."""
    with torch.device("meta"):
        shapes = {f"visual.{k}": v.shape for k, v in ClipVisual(128, 2, 32, 7, 512).state_dict().items()}
    path = tmp_path_factory.mktemp("clip") / "small-clip.pt"
    torch.save(randomise_({k: torch.empty(s) for k, s in shapes.items()}, seed=21), path)
    return path, smooth_images(6, 180, 240, seed=22)


@pytest.fixture(scope="module")
def fp32_features(small_clip):
    path, images = small_clip
    extractor = ClipB32Extractor(path, device="cpu", backend="torch", batch_size=4)
    assert extractor.provenance["precision"] == "fp32" and extractor.provenance["backend"].startswith("torch ")
    return extractor.extract(images)["clip_vitb32"]


def _max_abs(a, b) -> float:
    return (a - b).abs().max().item()


@needs_onnxruntime
def test_onnxruntime_matches_torch_and_its_graph_is_cached(small_clip, fp32_features, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path))
    path, images = small_clip
    extractor = ClipB32Extractor(path, device="cpu", backend="onnxruntime", batch_size=4)
    assert extractor.backend == "onnxruntime" and extractor.provenance["backend"].startswith("onnxruntime ")
    error = _max_abs(extractor.extract(images)["clip_vitb32"], fp32_features)
    print(f"small CLIP, ONNX Runtime vs torch: max abs {error:.1e}")
    assert error <= 1e-5
    cached = extractor.runner.onnx.cache_path
    assert cached.parent == tmp_path / "onnx" and cached.name.startswith("clip-vitb32-") and cached.is_file()
    capfd.readouterr()
    again = ClipB32Extractor(path, device="cpu", backend="onnxruntime")
    assert again.runner.onnx.cache_path == cached and capfd.readouterr().err == ""  # vouched for: used silently
    # "auto" keeps the ViTs on torch (ONNX Runtime is no faster for them: docs/encoders.md).
    assert ClipB32Extractor(path, device="cpu").backend == "torch"


@pytest.mark.parametrize("precision, ceiling", [("bf16", 5e-2), ("fp16", 5e-3)])
def test_autocast_precisions_run_and_are_recorded(small_clip, fp32_features, precision, ceiling):
    path, images = small_clip
    extractor = ClipB32Extractor(path, device="cpu", precision=precision, batch_size=4)
    features = extractor.extract(images)["clip_vitb32"]
    assert features.dtype == torch.float32
    relative = ((features - fp32_features).norm(dim=1) / fp32_features.norm(dim=1)).max().item()
    print(f"small CLIP, {precision} vs fp32: max relative L2 {relative:.1e}")
    assert 0 < relative <= ceiling
    provenance = extractor.space_provenance("clip_vitb32")
    assert provenance["precision"] == precision
    fp32 = ClipB32Extractor(path, device="cpu").space_provenance("clip_vitb32")
    with pytest.raises(GanevalError, match="precision"):
        check_compatible(provenance, fp32, "a.h5", "b.h5")


def test_compiled_vit_keeps_fp32_features(small_clip, fp32_features):
    torch._dynamo.reset()
    path, images = small_clip
    extractor = ClipB32Extractor(path, device="cpu", backend="torch", compile=True, batch_size=6)
    assert "compiled" in extractor.provenance["backend"]
    assert _max_abs(extractor.extract(images)["clip_vitb32"], fp32_features) <= 1e-5


def test_bad_options_are_refused_before_the_weights_are_read(tmp_path):
    missing = tmp_path / "no-such-weights.pt"
    for options, message in [({"precision": "tf32"}, "tf32 needs a CUDA GPU"),
                             ({"precision": "bf16", "backend": "onnxruntime"}, "fp32 only"),
                             ({"compile": True, "backend": "onnxruntime"}, "no --compile"),
                             ({"backend": "tensorrt"}, "unknown backend")]:
        with pytest.raises(GanevalError, match=message):
            ClipB32Extractor(missing, device="cpu", **options)
    with pytest.raises(GanevalError, match="no such weights file"):
        ClipB32Extractor(missing, device="cpu")


class _MatmulPrecisionProbe(torch.nn.Module):
    """Records the float32 matmul precision in force while it runs."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def forward(self, x):
        self.seen.append(torch.get_float32_matmul_precision())
        return x.flatten(1)


def test_fp32_means_ieee_matmuls_whatever_the_caller_set():
    """A training script's set_float32_matmul_precision("high") would let every ViT matmul use TF32."""
    before = torch.get_float32_matmul_precision()
    probe = _MatmulPrecisionProbe()
    runner = NetworkRunner(OneOutput(probe), name="probe", digest="0" * 64, outputs=("x",), input_shape=(3, 2, 2),
                           device=torch.device("cpu"), backend="torch")
    try:
        torch.set_float32_matmul_precision("high")
        runner(torch.zeros(1, 3, 2, 2))
        assert probe.seen == ["highest"] and torch.get_float32_matmul_precision() == "high"
        with exact_fp32():
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


def test_cli_precision_reaches_the_encoder_and_mismatches_are_refused(small_clip, tmp_path, capsys):
    """`ganeval stats --features clip_vitb32 --precision bf16` records bf16; comparing it with fp32
    statistics is refused with one line naming the file."""
    path, images = small_clip
    source = tmp_path / "images.npz"
    np.savez(source, images.permute(0, 2, 3, 1).numpy())
    outputs = {}
    for precision in ("fp32", "bf16"):
        outputs[precision] = tmp_path / f"{precision}.h5"
        made = run_cli(capsys, "stats", source, "-o", outputs[precision], "--features", "clip_vitb32",
                       "--weights", f"clip_vitb32={path}", "--precision", precision, "--quiet")
        assert made.returncode == 0, made.stderr
        assert StatsSet.load(outputs[precision])["clip_vitb32"].provenance["precision"] == precision
    refused = run_cli(capsys, "eval", outputs["bf16"], outputs["fp32"], "--metrics", "kid:clip_vitb32", "--json")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode != 0 and len(lines) == 1 and "precision" in lines[0] and "bf16.h5" in lines[0], lines
    # CMMD-style runs need no Inception space: KID on the CLIP space of two CLIP-only files.
    run = run_cli(capsys, "eval", outputs["bf16"], outputs["bf16"], "--metrics", "kid:clip_vitb32", "--json",
                  "--kid-subset-size", "3", "--kid-subsets", "2")
    assert run.returncode == 0, run.stderr
    assert "kid:clip_vitb32" in json.loads(run.stdout)
