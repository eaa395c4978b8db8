"""OpenAI CLIP image embeddings against open_clip's OpenAI-layout model on random weights.

open_clip (pinned in the [test] extra) builds the model from an OpenAI state dict exactly as it
builds it from OpenAI's real files (``open_clip.load_openai_model``: TorchScript or plain state
dict, fp16 tensors cast to fp32). Random weights are written in OpenAI's layout, rounded to fp16
as OpenAI's files are; both loaders read the file; the reference pipeline is each convention's
own transform (transcribed from cmmd/io_util.py and clean-fid's clip_features.py, using PIL and
torchvision as they do) + open_clip's ``encode_image``. Tolerance 1e-5 max abs (fp32, CPU).
"""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torchvision.transforms as TF
from PIL import Image

from ganeval.core.errors import GanevalError
from ganeval.extractors.clip import CLIP_VITB32, CLIP_VITL14_336, ClipB32Extractor, ClipExtractor, load_clip_visual
from vit_testing import randomise_, save_torchscript_state, smooth_images

TOL = 1e-5
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def _openai_layout_weights(arch: str, seed: int) -> dict[str, torch.Tensor]:
    model = open_clip.create_model(arch, pretrained=None)  # OpenAI's tensor names (visual.*, transformer.*, ...)
    return randomise_(model.state_dict(), seed=seed, dtype=torch.float16)  # OpenAI's files are fp16


def _cmmd_reference_input(image: torch.Tensor) -> torch.Tensor:
    # google-research cmmd/io_util.py: _center_crop_and_resize, np.float32, / 255.0; scenic normalize_image.
    im = Image.fromarray(image.permute(1, 2, 0).numpy(), "RGB")
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
    x = np.asarray(im).astype(np.float32) / 255.0
    x = (x - CLIP_MEAN.astype(np.float32)) / CLIP_STD.astype(np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)


@pytest.fixture(scope="module")
def threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
def test_vitl14_336_cmmd_matches_open_clip(tmp_path, threads):
    path = tmp_path / "ViT-L-14-336px.pt"
    torch.save(_openai_layout_weights("ViT-L-14-336", seed=5), path)
    images = smooth_images(2, 300, 381, seed=6)  # odd crop offset: cmmd floors it
    reference_model = open_clip.load_openai_model(str(path), precision="fp32", device="cpu")
    x = torch.stack([_cmmd_reference_input(im) for im in images])
    with torch.no_grad():
        z = reference_model.encode_image(x)
    reference = z / z.norm(dim=-1, keepdim=True)
    del reference_model

    extractor = ClipExtractor(weights=path, convention="cmmd", device="cpu")
    out = extractor.extract(images)
    assert set(out) == {"clip"} and out["clip"].shape == (2, 768) and out["clip"].dtype == torch.float32
    error = (out["clip"] - reference).abs().max().item()
    print(f"clip-vitl14-336 cmmd: max |ours - open_clip| = {error:.2e} (unit-norm embeddings)")
    assert error <= TOL
    # Before the normalisation too (norm ~ tens on random weights), on the reference's own input.
    with torch.no_grad():
        raw = extractor.model(x[:1])
    raw_error = (raw - z[:1]).abs().max().item()
    print(f"clip-vitl14-336 projected, not normalised: max |ours - open_clip| = {raw_error:.2e} (max {z.abs().max():.2f})")
    assert raw_error <= TOL
    assert torch.allclose(out["clip"].norm(dim=-1), torch.ones(2), atol=1e-6)
    prov = extractor.provenance
    assert prov["extractor"] == "clip-vitl14-336" and prov["mode"] == "cmmd" and prov["precision"] == "fp32"
    assert prov["weights_origin"] == "--weights" and prov["weights_sha256_source"] == "unchecked"
    assert prov["weights_file_sha256"] != CLIP_VITL14_336.sha256


@pytest.mark.slow
def test_vitb32_clip_fid_from_torchscript_matches_open_clip(tmp_path, threads):
    """clean-fid's CLIP FID: ViT-B/32, Resize(224) + CenterCrop(224), encode_image not normalised;
    the weights file is a TorchScript archive, as OpenAI's are."""
    path = tmp_path / "ViT-B-32.pt"
    save_torchscript_state(_openai_layout_weights("ViT-B-32", seed=7), path)
    images = smooth_images(3, 180, 241, seed=8)
    reference_model = open_clip.load_openai_model(str(path), precision="fp32", device="cpu")
    resize = TF.Compose([TF.Resize(224, interpolation=TF.InterpolationMode.BICUBIC), TF.CenterCrop(224)])
    crops = [np.asarray(resize(Image.fromarray(im.permute(1, 2, 0).numpy()).convert("RGB"))).clip(0, 255).astype(np.uint8)
             for im in images]
    x = torch.stack([TF.ToTensor()(np.array(c)) * 255 for c in crops]) / 255.0
    x = TF.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))(x)
    with torch.no_grad():
        reference = reference_model.encode_image(x)
    extractor = ClipB32Extractor(weights=path, device="cpu")
    ours = extractor.extract(images)["clip_vitb32"]
    error = (ours - reference).abs().max().item()
    print(f"clip-vitb32 clip-fid: max |ours - open_clip| = {error:.2e} (features max {reference.abs().max():.2f})")
    assert ours.shape == (3, 512) and error <= TOL
    assert extractor.provenance["mode"] == "clip-fid"
    # The same tensors in a plain state dict give the same tensor digest (container-independent).
    plain = tmp_path / "plain.pt"
    torch.save(dict(torch.jit.load(str(path)).state_dict()), plain)
    assert ClipB32Extractor(weights=plain, device="cpu").provenance["weights_sha256"] == extractor.provenance["weights_sha256"]
    # A ViT-B/32 file is refused where ViT-L/14-336 is expected.
    with pytest.raises(GanevalError, match="not clip-vitl14-336"):
        ClipExtractor(weights=path, device="cpu")


def test_loader_refuses_non_clip(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"conv.weight": torch.zeros(2)}, path)
    with pytest.raises(GanevalError, match="not an OpenAI CLIP ViT weights file"):
        load_clip_visual(path)
    with pytest.raises(GanevalError, match="unknown clip-vitl14-336 convention"):
        ClipExtractor(weights=path, convention="dgm-eval")


def test_published_urls_carry_their_sha256():
    for spec in (CLIP_VITL14_336, CLIP_VITB32):
        assert spec.url.split("/")[-2] == spec.sha256 and spec.url.endswith("/" + spec.file_name)
        assert spec.url.startswith("https://openaipublic.azureedge.net/clip/models/")
