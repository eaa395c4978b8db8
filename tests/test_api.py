"""The Python API with the real network: in-memory images, generator functions, files agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
from ganeval.cli.demo import lfw_photographs

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test


@pytest.fixture(scope="module")
def photos():
    """8 real LFW photographs as float RGB tensors in [0, 1], [8, 3, 25, 25]."""
    gray = torch.from_numpy(lfw_photographs()[[0, 1, 2, 3, 100, 101, 102, 103]]).float() / 255
    return gray[:, None].expand(-1, 3, -1, -1).contiguous()


def test_in_memory_floats_equal_saved_pngs(photos, tmp_path):
    """update(float images) gives the same statistics as the same images written as PNGs."""
    for i, image in enumerate(photos):
        array = image.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(array).save(tmp_path / f"{i}.png")
    extractor = ganeval.get_inception()
    in_memory = ganeval.FeatureStats(extractor=extractor)
    in_memory.update(photos[:5])
    in_memory.update(list(ganeval.open_source(photos[5:]).batches(8))[0])
    from_files = ganeval.compute_stats(str(tmp_path), workers=0, batch_size=3)
    assert in_memory.count == from_files.count == 8
    np.testing.assert_allclose(in_memory.mu, from_files.mu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(in_memory.sigma, from_files.sigma, rtol=0, atol=1e-6)
    assert in_memory.provenance["weights_sha256"] == from_files.provenance["weights_sha256"]


def test_fid_of_generator_function_against_stats_object(photos):
    def generate():
        yield photos[:4]
        yield photos[4:]

    real = ganeval.compute_stats(photos, batch_size=8)
    assert real.provenance["source"] == "<tensor>"
    assert abs(ganeval.fid(real, generate)) <= 1e-6
    flipped = ganeval.fid(real, photos.flip(-1))
    assert flipped > 0 and flipped == pytest.approx(ganeval.fid(photos.flip(-1), real), rel=1e-10)


def test_extractor_on_its_own(photos):
    extractor = ganeval.InceptionExtractor(mode="nvidia", device="cpu")
    uint8 = photos[:2].mul(255).round().to(torch.uint8)
    features = extractor(uint8)
    assert features.shape == (2, 2048) and features.dtype == torch.float32
    mixed = extractor([uint8[0], torch.zeros(3, 40, 30, dtype=torch.uint8), uint8[1]])
    torch.testing.assert_close(mixed[[0, 2]], features, rtol=0, atol=1e-5)
    assert extractor.provenance["mode"] == "nvidia" and extractor.provenance["feature_dim"] == 2048


def test_exact_fp32_turns_cudnn_tf32_off_and_restores_settings():
    """On GPUs cuDNN's default TF32 moved features by 3.4e-2 (docs/speed-and-accuracy.md, GPU table); fp32 must be IEEE."""
    from ganeval.extractors.execution import exact_fp32

    cudnn = torch.backends.cudnn
    before = (cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic, cudnn.enabled)
    with exact_fp32():
        assert cudnn.allow_tf32 is False
        assert (cudnn.benchmark, cudnn.deterministic, cudnn.enabled) == before[1:]
    assert (cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic, cudnn.enabled) == before


def test_api_fid_refuses_a_mode_mismatch_before_reading_images(tmp_path):
    """ganeval.fid(stats, images) checks the stats against the extractor before any image is read."""
    import ganeval
    from ganeval.core.errors import GanevalError

    real = ganeval.compute_stats(np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
                                 mode="clean", features=("pool3",), progress=False)
    real.save(tmp_path / "clean.h5")
    folder = tmp_path / "unreadable"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"not a png")  # reading it would raise BadImageError instead
    with pytest.raises(GanevalError, match="differ in mode"):
        ganeval.fid(str(tmp_path / "clean.h5"), str(folder), mode="tf1")
