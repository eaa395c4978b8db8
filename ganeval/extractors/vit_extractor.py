"""What the ViT extractors (DINOv2, CLIP) share: weights, convention, batching and how the network runs.

A subclass names its network (``name``, ``spaces``, ``space_dims``, ``published``,
``conventions``) and says how to load its weights (:meth:`ViTExtractor.load`), what its
features are (:meth:`ViTExtractor.postprocess`) and what its provenance adds
(:meth:`ViTExtractor.network_provenance`). Precision, backend and compile follow the rules of
:mod:`ganeval.extractors.execution`; ONNX Runtime is opt-in for the ViTs (``--backend
onnxruntime``): PyTorch's CPU matrix products are already as fast (docs/encoders.md, "Speed").
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor, nn

from ganeval.core.devices import check_device
from ganeval.core.errors import GanevalError
from ganeval.extractors.base import Extractor
from ganeval.extractors.execution import NetworkRunner, OneOutput, check_options
from ganeval.extractors.vit_preprocess import CONVENTIONS, as_image_list, preprocess_vit
from ganeval.extractors.vit_weights import PublishedFile, forget_download, resolve_vit_weights

__all__ = ["ViTExtractor"]


class ViTExtractor(Extractor):
    """uint8 RGB images → {space: float32 [N, d]} through one ViT.

    ``weights``: a path (``--weights NAME=PATH``) or None (cache → download of the official URL).
    ``convention``: one of the subclass's ``conventions`` (None: the first).
    ``precision``, ``backend``, ``compile``: as for every extractor (:mod:`ganeval.extractors.execution`).
    ``batch_size``: images per forward pass.
    """

    name: str
    spaces: tuple[str, ...]
    space_dims: dict[str, int]
    published: PublishedFile
    conventions: tuple[str, ...]
    onnx_by_default = False

    def __init__(self, weights=None, convention: str | None = None, device=None, *, batch_size: int = 32,
                 precision: str = "fp32", backend: str = "auto", compile: bool = False, url: str | None = None,
                 download: bool = True, **network_options):
        convention = convention or self.conventions[0]
        if convention not in self.conventions:
            raise GanevalError(f"unknown {self.name} convention {convention!r}; choose one of {', '.join(self.conventions)}")
        self.convention = CONVENTIONS[convention]
        self.device = torch.device(check_device(device) or ("cuda" if torch.cuda.is_available() else "cpu"))
        check_options(self.device, precision, backend, compile, onnx_by_default=self.onnx_by_default)
        self.batch_size = int(batch_size)
        self.weights = resolve_vit_weights(self.published, weights, url=url, download=download)
        try:
            self.model, self.digest = self.load(self.weights.path, **network_options)
        except GanevalError as err:
            if self.weights.origin.startswith("download") and self.weights.sha256_source == "recorded":
                # Just downloaded, no published hash, and not this network: neither kept nor recorded, so
                # that a later genuine download is not refused as "changed".
                forget_download(self.weights.path)
                raise GanevalError(f"{err}; the download was not kept and its hash not recorded") from None
            raise
        self.model = self.model.to(self.device)
        size = self.convention.size
        self.runner = NetworkRunner(
            OneOutput(self.model), name=self.name, digest=self.digest, outputs=self.spaces, input_shape=(3, size, size),
            device=self.device, precision=precision, backend=backend, compile=compile,
            onnx_by_default=self.onnx_by_default, variant=self.graph_variant)

    @abc.abstractmethod
    def load(self, path, **network_options) -> tuple[nn.Module, str]:
        """(the network in eval mode, float32 on the CPU; its weights digest) from the file at ``path``."""

    @property
    def graph_variant(self) -> str:
        """What else than the weights and input size shapes the network's graph (keys the ONNX cache)."""
        return ""

    def postprocess(self, features: Tensor) -> Tensor:
        """The network's output float32 [N, d] → the space's features (e.g. L2-normalised)."""
        return features

    def network_provenance(self) -> dict[str, Any]:
        """What this network adds to the provenance (position embeddings, output)."""
        return {}

    @property
    def precision(self) -> str:
        return self.runner.precision

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def provenance(self) -> dict[str, Any]:
        """What made the features: stored with every statistic, checked before comparing two."""
        return {
            "extractor": self.name,
            "space_dims": dict(self.space_dims),
            "weights_sha256": self.digest,
            "weights_file_sha256": self.weights.file_sha256,
            "weights_file": str(self.weights.path),
            "weights_origin": self.weights.origin,
            "weights_sha256_source": self.weights.sha256_source,
            "mode": self.convention.name,
            "resize": self.convention.resize,
            "input_size": self.convention.size,
            **self.runner.provenance,
            **self.network_provenance(),
        }

    def space_provenance(self, space: str) -> dict[str, Any]:
        """:attr:`provenance` of one space's statistics (extractor ``<name>/<space>``, feature_dim)."""
        if space not in self.space_dims:
            raise GanevalError(f"{self.name} computes {', '.join(self.spaces)}, not {space!r}")
        provenance = {**self.provenance, "extractor": f"{self.name}/{space}", "feature_dim": self.space_dims[space]}
        del provenance["space_dims"]  # a dict, which a stats file's attributes cannot hold; feature_dim says it
        return provenance

    @torch.inference_mode()
    def extract(self, images) -> dict[str, Tensor]:
        """images: a uint8 tensor [N, 3, H, W] or a list of [3, H, W] (sizes may differ) → {space: float32 [N, d]}."""
        images = as_image_list(images)
        (space,) = self.spaces
        out = []
        for start in range(0, len(images), self.batch_size):
            x = preprocess_vit(images[start:start + self.batch_size], self.convention, self.device)
            (features,) = self.runner(x)
            out.append(self.postprocess(features))
        return {space: torch.cat(out) if out else torch.empty(0, self.space_dims[space], device=self.device)}
