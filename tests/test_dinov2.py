"""DINOv2 ViT-L/14 (``dinov2-vitl14``) against Meta's code (dinov2==0.0.1.dev2) on random weights.

The real weights cannot be downloaded here, so a ViT-L/14 built by Meta's code (the torch.hub
configuration: img_size 518, patch 14, LayerScale, MLP FFN) gets random weights, is saved in
Meta's checkpoint layout, and both Meta's model and ganeval's loader read that file. Both full
pipelines (the conventions' own transforms + Meta's network; ganeval's extractor) run on the
same uint8 images. Tolerance: 1e-5 max abs on features of magnitude ~1-4 (fp32, CPU).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as TF
from PIL import Image

from ganeval.core.errors import GanevalError
from ganeval.extractors.dinov2 import DINOV2_VITL14, DinoV2Extractor, DinoV2ViT, load_dinov2
from ganeval.extractors.onnx_backend import onnxruntime_available
from reference_wheels import import_meta_dinov2
from vit_testing import randomise_, smooth_images

TOL = 1e-5


@pytest.fixture(scope="module")
def meta():
    return import_meta_dinov2()


def _meta_vitl14(meta):
    vits, layers = meta
    # dinov2/hub/backbones.py's dinov2_vitl14: vit_large(img_size=518, patch_size=14, init_values=1.0,
    # ffn_layer="mlp", block_chunks=0); 0.0.1.dev2 has no hub module, so the same call by hand.
    return vits.vit_large(patch_size=14, img_size=518, init_values=1.0, ffn_layer="mlp", block_chunks=0).eval()


@pytest.fixture(scope="module")
def dinov2_case(meta, tmp_path_factory):
    """(weights file, images, reference features per convention) — Meta's network on Meta's layout."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 on the shared 2-core CI machine
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vitl14_pretrain.pth"
    model = _meta_vitl14(meta)
    torch.save(randomise_(model.state_dict(), seed=1), path)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))  # the reference reads the file
    images = smooth_images(2, 200, 264, seed=2)  # not square: dgm-eval and edm2 do not keep the aspect
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    # dgm-eval's DINOv2Encoder.transform (clean_resize False) on the PIL image its loader makes.
    dgm = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])
    x_dgm = torch.stack([TF.Normalize(mean, std)(dgm(Image.fromarray(im.permute(1, 2, 0).numpy(), "RGB")))
                         for im in images])
    # EDM2's DINOv2Detector (resize_mode='torch').
    x = F.interpolate(images.to(torch.float32), size=(224, 224), mode="bicubic", antialias=True) / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).reshape(1, -1, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).reshape(1, -1, 1, 1)
    with torch.no_grad():
        reference = {"dgm-eval": model(x_dgm), "edm2": model(x)}
    del model
    yield path, images, reference
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("convention", ["dgm-eval", "edm2"])
def test_features_match_meta_dinov2(dinov2_case, convention):
    path, images, reference = dinov2_case
    extractor = DinoV2Extractor(weights=path, convention=convention, device="cpu")
    features = extractor.extract(images)
    assert set(features) == {"dinov2"}
    ours = features["dinov2"]
    assert ours.dtype == torch.float32 and ours.shape == (2, 1024)
    error = (ours - reference[convention]).abs().max().item()
    print(f"dinov2-vitl14 {convention}: max |ours - Meta| = {error:.2e} (features max {reference[convention].abs().max():.2f})")
    assert error <= TOL
    # The two conventions differ measurably on the same images (else the test could not tell them apart).
    other = reference["edm2" if convention == "dgm-eval" else "dgm-eval"]
    assert (ours - other).abs().max().item() > 100 * TOL
    # A list of differently sized images gives the same features as the batch.
    as_list = extractor.extract([images[0], images[1, :, :190, :250]])["dinov2"]
    assert (as_list[0] - ours[0]).abs().max().item() <= 1e-6

    prov = extractor.provenance
    assert prov["extractor"] == "dinov2-vitl14" and prov["mode"] == convention and prov["precision"] == "fp32"
    assert prov["weights_origin"] == "--weights" and len(prov["weights_sha256"]) == 64
    assert prov["weights_file_sha256"] != prov["weights_sha256"]
    assert "0.1" in prov["pos_embed_interpolation"]


@pytest.mark.slow
@pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime/onnx not installed")
def test_onnxruntime_backend_matches_meta(dinov2_case, tmp_path, monkeypatch):
    """--backend onnxruntime on the full ViT-L/14: the exported graph, whose position embeddings are
    resized once and stored as a constant, against Meta's network (same tolerance)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    # An unwritable cache: the 1.2 GB graph is exported in memory, not written (tests/test_vit_execution.py
    # checks the cache on a small network).
    monkeypatch.setenv("GANEVAL_CACHE", str(blocker / "cache"))
    path, images, reference = dinov2_case
    extractor = DinoV2Extractor(weights=path, convention="edm2", device="cpu", backend="onnxruntime")
    assert extractor.provenance["backend"].startswith("onnxruntime ")
    assert extractor.runner.onnx.cache_key["variant"] == "pos_embed offset"
    error = (extractor.extract(images)["dinov2"] - reference["edm2"]).abs().max().item()
    print(f"dinov2-vitl14 edm2, ONNX Runtime: max |ours - Meta| = {error:.2e}")
    assert error <= TOL


def _meta_small(meta, dim=64):
    vits, layers = meta
    model = vits.DinoVisionTransformer(
        img_size=518, patch_size=14, embed_dim=dim, depth=1, num_heads=4, init_values=1.0, block_chunks=0,
        block_fn=functools.partial(layers.NestedTensorBlock, attn_class=layers.MemEffAttention),
    )
    model.load_state_dict(randomise_(model.state_dict(), seed=3))
    return model.eval()


@pytest.mark.parametrize("size", [(224, 224), (224, 280), (518, 518), (98, 70)])
def test_offset_position_embedding_is_metas(meta, size):
    """The 'offset' interpolation is exactly Meta's interpolate_pos_encoding (also for non-square grids)."""
    reference = _meta_small(meta)
    ours = DinoV2ViT(dim=64, depth=1, heads=4, pos_embed="offset")
    ours.load_state_dict(reference.state_dict())
    h, w = size
    tokens = torch.zeros(1, 1 + (h // 14) * (w // 14), 64)
    with torch.no_grad():
        expected = reference.interpolate_pos_encoding(tokens, h, w)
        got = ours.position_embedding(h // 14, w // 14)
        assert torch.equal(got, expected)
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(4))
        assert (ours(x) - reference(x)).abs().max().item() <= 1e-5


def test_size_position_embedding_is_timms_resample(meta):
    """'size' is F.interpolate(size=...) (Meta's interpolate_offset=0; timm's resample_abs_pos_embed, no antialias)."""
    from timm.layers import resample_abs_pos_embed

    reference = _meta_small(meta)
    ours = DinoV2ViT(dim=64, depth=1, heads=4, pos_embed="size")
    ours.load_state_dict(reference.state_dict())
    expected = resample_abs_pos_embed(reference.pos_embed.detach(), new_size=(16, 20), num_prefix_tokens=1,
                                      interpolation="bicubic", antialias=False)
    assert torch.equal(ours.position_embedding(16, 20).detach(), expected)
    offset = DinoV2ViT(dim=64, depth=1, heads=4, pos_embed="offset")
    offset.load_state_dict(reference.state_dict())
    # The two interpolations differ (by construction of PyTorch's scale-factor mapping).
    assert (offset.position_embedding(16, 16) - ours.position_embedding(16, 16)).abs().max().item() > 1e-3


def test_loader_refuses_other_networks(tmp_path):
    small = DinoV2ViT(dim=64, depth=1, heads=4)
    path = tmp_path / "small.pth"
    torch.save(small.state_dict(), path)
    with pytest.raises(GanevalError, match="not DINOv2 ViT-L/14 weights"):
        load_dinov2(path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(GanevalError, match="not a readable DINOv2 weights file"):
        load_dinov2(garbage)
    with pytest.raises(GanevalError, match="no such weights file"):
        DinoV2Extractor(weights=tmp_path / "missing.pth")
    with pytest.raises(GanevalError, match="unknown dinov2-vitl14 convention"):
        DinoV2Extractor(weights=path, convention="cmmd")


def test_published_file_is_metas():
    assert DINOV2_VITL14.url == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
    assert DINOV2_VITL14.sha256 is None  # none published: recorded at the first download
