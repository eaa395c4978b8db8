"""DINOv2 ViT-L/14 features (``dinov2-vitl14``): the CLS token after the final LayerNorm, 1024-d.

The network is ganeval's own module, written against Meta's architecture description and
checked number for number against Meta's code (PyPI ``dinov2==0.0.1.dev2``) on random weights
in the official layout (tests/test_dinov2.py). It reads Meta's checkpoint
``dinov2_vitl14_pretrain.pth`` as it is (same tensor names; ``mask_token`` is unused at
inference). Architecture: 14×14 patches, width 1024, 24 blocks of 16 heads, MLP ratio 4 with
exact GELU, LayerScale, LayerNorm eps 1e-6, trained at 518 px (37×37 position embeddings).

**Position embeddings.** A 224×224 input has a 16×16 patch grid, so the 37×37 embeddings are
resized bicubically (no antialias). Meta's code has done this two ways:

* ``offset`` (default): ``F.interpolate(scale_factor=(16 + 0.1) / 37)``, the "+0.1 kludge" of
  the original release, still the default of the torch.hub models (``interpolate_offset=0.1``)
  after the 2024 rewrite (commit e1277af). With a scale factor given, PyTorch maps output
  pixels with that factor, not with 16/37, so this is *not* the same as resizing to 16×16.
  dgm-eval and EDM2 both load ``dinov2_vitl14`` from torch.hub, so their published FD_DINOv2
  numbers used this.
* ``size``: ``F.interpolate(size=(16, 16))``, what Meta's code does with ``interpolate_offset=0``
  and what timm's DINOv2 models do. Measured on random weights: see docs/encoders.md.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganeval.core.identity import DINOV2_NAME, DINOV2_OFFICIAL_WEIGHTS, DINOV2_OFFSET_INTERPOLATION, DINOV2_OUTPUT
from ganeval.core.errors import GanevalError
from ganeval.extractors.vit_extractor import ViTExtractor
from ganeval.extractors.vit_weights import PublishedFile, read_state_dict, tensor_digest

__all__ = ["DINOV2_VITL14", "DinoV2ViT", "DinoV2Extractor", "load_dinov2", "POS_EMBED_MODES"]

DINOV2_VITL14 = PublishedFile(
    name="dinov2-vitl14",
    file_name="dinov2_vitl14_pretrain.pth",
    url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    sha256=None,  # Meta publishes none: recorded at the first download (ganeval.extractors.vit_weights)
    url_env="GANEVAL_DINOV2_URL",
)

POS_EMBED_MODES = ("offset", "size")
OFFICIAL_WEIGHTS = DINOV2_OFFICIAL_WEIGHTS
"""``weights_sha256`` of the ``dinov2`` space when the weights are Meta's file from the cache or a
download (checked against the sha256 recorded at its first download), and of EDM2's published
FD_DINOv2 statistics, which used that file through torch.hub: Meta publishes no hash, so the
file's digest is not known in advance (docs/encoders.md, "Comparing with EDM2's numbers")."""


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Module()
        self.ls1.gamma = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)
        self.ls2 = nn.Module()
        self.ls2.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.attn.proj(y.transpose(1, 2).reshape(b, n, c)) * self.ls1.gamma
        h = self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
        return x + h * self.ls2.gamma


class DinoV2ViT(nn.Module):
    """DINOv2 ViT (Meta's tensor names) → CLS token after the final norm [N, dim]."""

    def __init__(self, dim: int = 1024, depth: int = 24, heads: int = 16, patch: int = 14, grid: int = 37,
                 pos_embed: str = "offset"):
        super().__init__()
        if pos_embed not in POS_EMBED_MODES:
            raise GanevalError(f"unknown position-embedding interpolation {pos_embed!r}; choose offset or size")
        self.patch, self.grid, self.pos_embed_mode = patch, grid, pos_embed
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._pos_cache: dict[tuple, Tensor] = {}

    def position_embedding(self, h0: int, w0: int) -> Tensor:
        """[1, 1 + h0*w0, dim] position embeddings for an h0×w0 patch grid."""
        if (h0, w0) == (self.grid, self.grid):
            return self.pos_embed
        key = (h0, w0, self.pos_embed.device, self.pos_embed.dtype, self.pos_embed._version)
        if key not in self._pos_cache:
            pos = self.pos_embed.float()
            dim = pos.shape[-1]
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, dim).permute(0, 3, 1, 2)
            if self.pos_embed_mode == "offset":
                # Meta: dims 2 and 3 of this tensor are (w0, h0) of the image's (w, h) = its dims 2, 3.
                scale = (float(h0 + 0.1) / self.grid, float(w0 + 0.1) / self.grid)
                grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
            else:
                grid = F.interpolate(grid, size=(h0, w0), mode="bicubic", antialias=False)
            if tuple(grid.shape[-2:]) != (h0, w0):
                raise AssertionError(f"position grid {tuple(grid.shape[-2:])} != {(h0, w0)}")
            patches = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, dim)
            self._pos_cache = {key: torch.cat((pos[:, :1], patches), dim=1).to(self.pos_embed.dtype)}
        return self._pos_cache[key]

    def forward(self, x: Tensor) -> Tensor:
        h0, w0 = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.position_embedding(h0, w0)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])


def load_dinov2(path, pos_embed: str = "offset") -> tuple[DinoV2ViT, dict[str, Tensor]]:
    """Build the ViT-L/14 from Meta's checkpoint layout (strict: names and shapes must match)."""
    state = read_state_dict(path, "DINOv2")
    state = {k[len("teacher.backbone."):] if k.startswith("teacher.backbone.") else k: v for k, v in state.items()}
    with torch.device("meta"):
        model = DinoV2ViT(pos_embed=pos_embed)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    wrong = [name for name in expected if name in state and tuple(state[name].shape) != expected[name]]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise GanevalError(
            f"{path}: not DINOv2 ViT-L/14 weights ({len(missing)} tensors missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} of another shape, e.g. {example!r})"
        )
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, assign=True)
    return model.eval().requires_grad_(False), state


class DinoV2Extractor(ViTExtractor):
    """``dinov2-vitl14``: uint8 RGB images → {"dinov2": float32 [N, 1024]} (CLS after the final norm).

    ``weights``: a path (``--weights dinov2=PATH``) or None (cache → download of Meta's URL).
    ``convention``: ``dgm-eval`` (default) or ``edm2`` (see :mod:`ganeval.extractors.vit_preprocess`).
    ``pos_embed``: ``offset`` (default, what both conventions' published numbers used) or ``size``.
    Other options: :class:`~ganeval.extractors.vit_extractor.ViTExtractor`.
    """

    name = DINOV2_NAME
    spaces = ("dinov2",)
    space_dims = {"dinov2": 1024}
    published = DINOV2_VITL14
    conventions = ("dgm-eval", "edm2")

    def __init__(self, weights=None, convention: str = "dgm-eval", device=None, *, pos_embed: str = "offset",
                 **options):
        if pos_embed not in POS_EMBED_MODES:  # before the weights are read
            raise GanevalError(f"unknown position-embedding interpolation {pos_embed!r}; choose offset or size")
        super().__init__(weights, convention, device, pos_embed=pos_embed, **options)

    def load(self, path, *, pos_embed: str = "offset") -> tuple[DinoV2ViT, str]:
        model, state = load_dinov2(path, pos_embed=pos_embed)
        digest = tensor_digest(state, keep=lambda name: name != "mask_token")
        grid = self.convention.size // model.patch
        with torch.no_grad():
            model.position_embedding(grid, grid)  # resized once, a constant of the graph from here on
        return model, digest

    @property
    def graph_variant(self) -> str:
        return f"pos_embed {self.model.pos_embed_mode}"

    def network_provenance(self) -> dict[str, Any]:
        return {
            "pos_embed_interpolation": (
                DINOV2_OFFSET_INTERPOLATION if self.model.pos_embed_mode == "offset"
                else "bicubic 37x37->16x16, size=(16,16)"
            ),
            "output": DINOV2_OUTPUT,
        }

    @property
    def official_weights(self) -> bool:
        """Whether the weights are Meta's file found in the cache or downloaded (trusted on first download)."""
        return self.weights.sha256_source == "recorded"

    def space_provenance(self, space: str) -> dict[str, Any]:
        """:attr:`provenance` of the ``dinov2`` space's statistics (extractor ``dinov2-vitl14/dinov2``,
        feature_dim); ``weights_sha256`` is :data:`OFFICIAL_WEIGHTS` for Meta's file (see there)."""
        provenance = {**super().space_provenance(space), "weights_tensor_sha256": self.digest}
        if self.official_weights:
            provenance["weights_sha256"] = OFFICIAL_WEIGHTS
        return provenance
