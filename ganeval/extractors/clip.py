"""OpenAI CLIP image embeddings: ``clip-vitl14-336`` (CMMD) and ``clip-vitb32`` (clean-fid's CLIP FID).

The image tower is ganeval's own module reading OpenAI's published files as they are (a
TorchScript archive with fp16 weights; a plain state dict with the same names works too),
checked number for number against open_clip's OpenAI-layout model on random weights
(tests/test_clip.py). Architecture, read from the tensors' shapes as OpenAI's ``build_model``
does: a patch convolution without bias, class embedding, learned position embeddings,
``ln_pre``, residual blocks (``ln_1``, multi-head attention with ``in_proj``, ``ln_2``, MLP
``c_fc`` → QuickGELU → ``c_proj``), ``ln_post`` on the class token, ``@ proj``. LayerNorm eps
1e-5, computed in float32 (weights are cast from fp16 to fp32, as open_clip ``precision='fp32'``).

Outputs, per convention:

* ``cmmd``: the projected embedding L2-normalised (768-d for ViT-L/14), as CMMD's reference;
* ``clip-fid``: ``encode_image`` not normalised (512-d for ViT-B/32), as clean-fid.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganeval.core.errors import GanevalError
from ganeval.extractors.vit_extractor import ViTExtractor
from ganeval.extractors.vit_weights import PublishedFile, read_state_dict, tensor_digest

__all__ = ["CLIP_VITL14_336", "CLIP_VITB32", "ClipVisual", "ClipExtractor", "ClipB32Extractor", "load_clip_visual"]

_BASE = "https://openaipublic.azureedge.net/clip/models"
CLIP_VITL14_336 = PublishedFile(
    name="clip-vitl14-336",
    file_name="ViT-L-14-336px.pt",
    url=f"{_BASE}/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
    sha256="3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
    url_env="GANEVAL_CLIP_URL",
)
CLIP_VITB32 = PublishedFile(
    name="clip-vitb32",
    file_name="ViT-B-32.pt",
    url=f"{_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    url_env="GANEVAL_CLIP_B32_URL",
)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.Module()
        self.attn.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.attn.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.attn.out_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(width, 4 * width)
        self.mlp.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = F.linear(self.ln_1(x), self.attn.in_proj_weight, self.attn.in_proj_bias)
        qkv = qkv.reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.attn.out_proj(y.transpose(1, 2).reshape(b, n, c))
        h = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(h * torch.sigmoid(1.702 * h))  # QuickGELU


class ClipVisual(nn.Module):
    """OpenAI CLIP ViT image tower (``visual.*`` names without the prefix) → projected embedding."""

    def __init__(self, width: int, layers: int, patch: int, grid: int, embed_dim: int):
        super().__init__()
        self.patch, self.grid = patch, grid
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(_Block(width, width // 64) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed_dim))

    @property
    def image_size(self) -> int:
        return self.patch * self.grid

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise GanevalError(f"CLIP expects {self.image_size}x{self.image_size} inputs, got {tuple(x.shape[-2:])}")
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat((cls, x), dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        for block in self.transformer.resblocks:
            x = block(x)
        return self.ln_post(x[:, 0]) @ self.proj


def load_clip_visual(path) -> tuple[ClipVisual, dict[str, Tensor]]:
    """Build the image tower from an OpenAI CLIP file (TorchScript or state dict), float32."""
    state = read_state_dict(path, "CLIP")
    # Floating tensors only: integer bookkeeping a TorchScript export may carry is not part of the network.
    visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.") and v.is_floating_point()}
    if "proj" not in visual or "conv1.weight" not in visual or "positional_embedding" not in visual:
        raise GanevalError(f"{path}: not an OpenAI CLIP ViT weights file (no visual.proj / visual.conv1.weight)")
    width, _, patch, _ = visual["conv1.weight"].shape
    layers = len({k.split(".")[2] for k in visual if k.startswith("transformer.resblocks.")})
    grid = round((visual["positional_embedding"].shape[0] - 1) ** 0.5)
    embed_dim = visual["proj"].shape[1]
    with torch.device("meta"):
        model = ClipVisual(width, layers, patch, grid, embed_dim)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    bad = sorted(set(expected) ^ set(visual)) + [n for n in expected if n in visual and tuple(visual[n].shape) != expected[n]]
    if bad:
        raise GanevalError(f"{path}: not an OpenAI CLIP ViT weights file ({len(bad)} tensors differ, e.g. {bad[0]!r})")
    model.load_state_dict({k: v.to(torch.float32) for k, v in visual.items()}, assign=True)
    return model.eval().requires_grad_(False), state


class ClipExtractor(ViTExtractor):
    """``clip-vitl14-336``: uint8 RGB images → {"clip": float32 [N, 768]}, CMMD's embedding.

    ``weights``: a path (``--weights clip=PATH``; OpenAI's ``ViT-L-14-336px.pt``) or
    None (cache → download of OpenAI's URL, checked against the sha256 in it).
    ``convention``: ``cmmd`` (centre crop, PIL bicubic 336, L2-normalised).
    Other options: :class:`~ganeval.extractors.vit_extractor.ViTExtractor`.
    """

    name = "clip-vitl14-336"
    spaces = ("clip",)
    space_dims = {"clip": 768}
    published = CLIP_VITL14_336
    conventions = ("cmmd",)

    def load(self, path) -> tuple[ClipVisual, str]:
        model, state = load_clip_visual(path)
        (space,) = self.spaces
        if model.proj.shape[1] != self.space_dims[space] or model.image_size != self.convention.size:
            raise GanevalError(
                f"{path}: a CLIP ViT with {model.proj.shape[1]}-d embeddings at {model.image_size} px, "
                f"not {self.name} ({self.space_dims[space]}-d at {self.convention.size} px)"
            )
        return model, tensor_digest(state, keep=lambda name: name.startswith("visual."))

    def postprocess(self, features: Tensor) -> Tensor:
        return features / features.norm(dim=-1, keepdim=True) if self.convention.l2_normalize else features

    def network_provenance(self) -> dict[str, Any]:
        return {
            "pos_embed_interpolation": "none (native grid)",
            "output": "projected image embedding, " + ("L2-normalised" if self.convention.l2_normalize
                                                       else "not normalised (encode_image)"),
        }


class ClipB32Extractor(ClipExtractor):
    """``clip-vitb32``: clean-fid's CLIP FID features → {"clip_vitb32": float32 [N, 512]} (not normalised)."""

    name = "clip-vitb32"
    spaces = ("clip_vitb32",)
    space_dims = {"clip_vitb32": 512}
    published = CLIP_VITB32
    conventions = ("clip-fid",)
