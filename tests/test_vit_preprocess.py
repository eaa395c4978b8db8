"""Each ViT input convention against the reference transform called directly (PIL, torchvision, torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as TF
from PIL import Image

from ganeval.core.errors import GanevalError
from ganeval.extractors.vit_preprocess import CONVENTIONS, preprocess_vit
from vit_testing import smooth_images

IMAGENET = (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
SIZES = [(200, 264), (331, 250), (224, 224), (64, 64), (513, 512), (339, 336)]  # 339 - 336 = 3: floor != round


def _pil(image):
    return Image.fromarray(image.permute(1, 2, 0).numpy(), "RGB")


def _dgm_eval(image):  # layer6ai-labs/dgm-eval DINOv2Encoder.transform, clean_resize=False
    x = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])(_pil(image))
    return TF.Normalize(*IMAGENET)(x)


def _edm2(image):  # NVlabs/edm2 DINOv2Detector, resize_mode='torch'
    x = F.interpolate(image[None].to(torch.float32), size=(224, 224), mode="bicubic", antialias=True)
    x = x.to(torch.float32) / 255
    x = x - torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32).reshape(1, -1, 1, 1)
    return (x / torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32).reshape(1, -1, 1, 1))[0]


def _cmmd(image):  # google-research cmmd io_util._center_crop_and_resize, / 255.0, CLIP normalisation
    im = _pil(image)
    w, h = im.size
    l = min(w, h)
    top, left = (h - l) // 2, (w - l) // 2
    im = im.crop((left, top, left + l, top + l)).resize((336, 336), resample=Image.BICUBIC)
    x = np.asarray(im).astype(np.float32) / 255.0
    x = (x - np.array(CLIP[0], dtype=np.float32)) / np.array(CLIP[1], dtype=np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)


def _clip_fid(image):  # clean-fid img_preprocess_clip + ResizeDataset (ToTensor()*255) + CLIP_fx (/255, Normalize)
    crop = TF.Compose([TF.Resize(224, interpolation=TF.InterpolationMode.BICUBIC), TF.CenterCrop(224)])
    arr = np.asarray(crop(_pil(image).convert("RGB"))).clip(0, 255).astype(np.uint8)
    x = TF.ToTensor()(np.array(arr)) * 255
    return TF.Normalize(*CLIP)(x / 255.0)


REFERENCES = {"dgm-eval": _dgm_eval, "edm2": _edm2, "cmmd": _cmmd, "clip-fid": _clip_fid}


@pytest.mark.parametrize("convention", list(REFERENCES))
def test_matches_reference_transform(convention):
    images = [smooth_images(1, h, w, seed=i)[0] for i, (h, w) in enumerate(SIZES)]
    ours = preprocess_vit(images, convention)
    size = CONVENTIONS[convention].size
    assert ours.shape == (len(images), 3, size, size) and ours.dtype == torch.float32
    for i, image in enumerate(images):
        reference = REFERENCES[convention](image)
        error = (ours[i] - reference).abs().max().item()
        assert error == 0.0, f"{convention} {SIZES[i]}: max difference {error:.2e}"


def test_edm2_batch_equals_per_image():
    batch = smooth_images(3, 150, 190, seed=9)
    together = preprocess_vit(batch, "edm2")
    alone = torch.stack([_edm2(im) for im in batch])
    assert (together - alone).abs().max().item() <= 1e-6


def test_conventions_differ():
    """On the same images the conventions give different inputs (measured, in docs/encoders.md)."""
    images = smooth_images(2, 200, 264, seed=10)
    dgm, edm = preprocess_vit(images, "dgm-eval"), preprocess_vit(images, "edm2")
    assert (dgm - edm).abs().max().item() > 1e-3


def test_cmmd_crop_is_floored_not_rounded():
    """cmmd crops at (h - l) // 2; torchvision's CenterCrop at round((h - l) / 2): they differ at 339 x 336."""
    image = smooth_images(1, 339, 336, seed=11)[0]
    crop = TF.CenterCrop(336)(_pil(image)).resize((336, 336), resample=Image.BICUBIC)
    rounded = (torch.from_numpy(np.asarray(crop).astype(np.float32) / 255.0).permute(2, 0, 1)
               - torch.tensor(CLIP[0]).view(3, 1, 1)) / torch.tensor(CLIP[1]).view(3, 1, 1)
    ours = preprocess_vit([image], "cmmd")[0]
    assert torch.equal(ours, _cmmd(image))
    assert (ours - rounded).abs().max().item() > 1e-2


def test_bad_input():
    with pytest.raises(GanevalError, match="unknown convention"):
        preprocess_vit(smooth_images(1, 8, 8), "bilinear")
    with pytest.raises(GanevalError, match="uint8"):
        preprocess_vit(torch.zeros(1, 3, 8, 8), "cmmd")
    with pytest.raises(GanevalError, match="no images"):
        preprocess_vit([], "cmmd")
