"""What names the networks, weights and conventions behind a statistic: plain constants, no torch.

The extractors compute with these and the file readers (``ganeval.io``) write them into the
provenance of statistics they import, so both rooms take them from here and a reference file
read without any network says exactly what an extractor would have said.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INCEPTION_NAME", "INCEPTION_SPACES", "TF_INCEPTION_DIGEST", "DINOV2_NAME", "DINOV2_OFFICIAL_WEIGHTS",
           "DINOV2_OFFSET_INTERPOLATION", "DINOV2_OUTPUT", "Convention", "CONVENTIONS",
           "IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD", "SHARED_KEYS"]

# ------------------------------------------------------------------------------------------ provenance

SHARED_KEYS = ("source", "source_fingerprint", "created", "skipped_files", "max_images", "seed", "merged_from", "file")
"""Provenance keys that describe the image set rather than one feature space (stored once per file)."""

# ------------------------------------------------------------------------------------------ TF Inception

INCEPTION_NAME = "inception-v3-tf-2015-12-05"
"""The TF Inception network every FID uses; a space's extractor is ``f"{INCEPTION_NAME}/{space}"``."""

INCEPTION_SPACES: dict[str, tuple[int, str]] = {
    # name: (dimension, the TF graph tensor it reproduces)
    "pool3": (2048, "pool_3:0"),
    "spatial": (17 * 17 * 7, "mixed_6/conv:0[..., :7] flattened (h, w, c)"),  # 2023: ADM's first 7 channels
    "logits": (1008, "softmax/logits:0 (pool3 · W + b)"),  # TF's ImageNet head: 1000 classes + 8 unused
}
"""The feature spaces one forward pass of the TF Inception network can return."""

TF_INCEPTION_DIGEST = "deccd6fb5dfaf6fb60cd4a71a72d6a2a531a1ff8326596e96e168f308ab5eb84"
"""Digest of the TF Inception network's tensors (``ganeval.extractors.weights.network_digest``),
whatever file layout holds them: the ``weights_sha256`` of every statistic made with them."""

# ------------------------------------------------------------------------------------------ DINOv2

DINOV2_NAME = "dinov2-vitl14"
DINOV2_OFFICIAL_WEIGHTS = "dinov2-vitl14-official"
"""``weights_sha256`` recorded for Meta's official DINOv2 ViT-L/14 file (whose bytes vary by download route)."""
DINOV2_OFFSET_INTERPOLATION = "bicubic 37x37->16x16, scale_factor (16+0.1)/37 (Meta interpolate_offset=0.1)"
"""``pos_embed_interpolation`` of DINOv2 with offset position embeddings (what EDM2 and dgm-eval ran)."""
DINOV2_OUTPUT = "CLS token after the final LayerNorm, not normalised"

# ------------------------------------------------------------------------------------------ ViT conventions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Convention:
    """How one published tool feeds images to a ViT: input ``size`` (pixels), ``resize`` method,
    normalisation ``mean``/``std`` (of [0, 1] values), whether features are L2-normalised."""

    name: str
    size: int
    resize: str  # "pil-bicubic", "torch-bicubic-antialias", "center-crop+pil-bicubic", "short-side+center-crop"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    l2_normalize: bool
    reference: str


CONVENTIONS: dict[str, Convention] = {
    "dgm-eval": Convention("dgm-eval", 224, "pil-bicubic", IMAGENET_MEAN, IMAGENET_STD, False,
                           "layer6ai-labs/dgm-eval (Stein et al. 2023), DINOv2Encoder.transform"),
    "edm2": Convention("edm2", 224, "torch-bicubic-antialias", IMAGENET_MEAN, IMAGENET_STD, False,
                       "NVlabs/edm2 calculate_metrics.py DINOv2Detector (resize_mode='torch')"),
    "cmmd": Convention("cmmd", 336, "center-crop+pil-bicubic", CLIP_MEAN, CLIP_STD, True,
                       "google-research/google-research cmmd (Jayasumana et al. 2024)"),
    "clip-fid": Convention("clip-fid", 224, "short-side+center-crop", CLIP_MEAN, CLIP_STD, False,
                           "GaParmar/clean-fid clip_features.py (CLIP ViT-B/32 FID)"),
}
"""The ViT preprocessing conventions by name (``ganeval.extractors.vit_preprocess`` implements them)."""
