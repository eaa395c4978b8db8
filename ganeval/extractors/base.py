"""The one interface every network sits behind, and a base class for users' own encoders.

An extractor turns uint8 RGB images into float32 features, one array per named feature space:

    spaces            tuple of space names it computes, e.g. ("pool3", "spatial")
    space_dims        {space: dimension}
    provenance        what made the features (extractor name, weights digest, convention "mode",
                      precision): stored with every statistic; its compatibility keys
                      (``ganeval.core.stats.COMPATIBILITY_KEYS``) are checked before two are compared
    space_provenance(space)   the provenance of one space's statistics ("extractor": "<name>/<space>")
    extract(images)   uint8 [N, 3, H, W] tensor (or a list of [3, H, W]) → {space: float32 [N, d]}
    device            where it runs

Inception, DINOv2 and the CLIP models are :class:`Extractor` subclasses. A user's own network
subclasses :class:`ModuleExtractor` and is registered with ``ganeval.register_extractor``
(docs/extending.md); its spaces then work everywhere a built-in space does.
"""

from __future__ import annotations

import abc
import hashlib
from typing import Any

__all__ = ["Extractor", "ModuleExtractor", "module_digest"]


class Extractor(abc.ABC):
    """The declared interface (see the module docstring)."""

    name: str
    spaces: tuple[str, ...]

    @property
    @abc.abstractmethod
    def space_dims(self) -> dict[str, int]:
        """{space: dimension} of what :meth:`extract` returns."""

    @property
    @abc.abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What made the features (see the module docstring)."""

    def space_provenance(self, space: str) -> dict[str, Any]:
        """The provenance of one space's statistics: extractor ``<name>/<space>`` and its feature_dim."""
        from ganeval.core.errors import GanevalError

        if space not in self.space_dims:
            raise GanevalError(f"{self.name} computes {', '.join(self.spaces)}, not {space!r}")
        provenance = {k: v for k, v in self.provenance.items() if not isinstance(v, dict)}
        return {**provenance, "extractor": f"{self.name}/{space}", "feature_dim": self.space_dims[space]}

    @abc.abstractmethod
    def extract(self, images) -> dict:
        """uint8 images → {space: float32 [N, d]}."""

    def __call__(self, images):
        """The first space's features."""
        return self.extract(images)[self.spaces[0]]


def module_digest(module) -> str:
    """sha256 over a torch module's state dict (names, dtypes, shapes, bytes): its weights' identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(-1).view(__import__("torch").uint8).numpy().tobytes())
    return digest.hexdigest()


class ModuleExtractor(Extractor):
    """Base of a user's encoder: set ``name`` (e.g. "my-resnet18") and ``dims`` ({space: d}); build the
    network in ``__init__`` as ``self.module`` (after calling ``super().__init__(device=device)``);
    implement :meth:`features`. Runs under ``torch.inference_mode`` at fp32; the weights digest
    is :func:`module_digest` of ``self.module`` unless :meth:`weights_digest` says otherwise.

    ``register_extractor`` calls the class with ``weights``, ``convention``, ``device``,
    ``precision``, ``backend`` and ``compile``; this base keeps ``device`` and ``weights`` and refuses
    what it cannot honour (other precisions, ONNX Runtime, compile) in one line.
    """

    dims: dict[str, int]
    conventions: tuple[str, ...] = ()
    module = None

    def __init__(self, weights=None, convention: str | None = None, device=None, *, precision: str = "fp32",
                 backend: str = "auto", compile: bool = False, **_):
        import torch

        from ganeval.core.devices import check_device
        from ganeval.core.errors import GanevalError

        if precision != "fp32" or backend not in ("auto", "torch") or compile:
            raise GanevalError(f"{self.name}: a registered extractor runs with torch at fp32; drop --precision, "
                               "--backend and --compile")
        self.weights = weights
        self.convention = convention or (self.conventions[0] if self.conventions else "default")
        self.device = torch.device(check_device(device) or "cpu")
        self.spaces = tuple(self.dims)

    @property
    def space_dims(self) -> dict[str, int]:
        return dict(self.dims)

    def weights_digest(self) -> str:
        """The identity of the weights (compared before two statistics are)."""
        from ganeval.core.errors import GanevalError

        if self.module is None:
            raise GanevalError(f"{self.name}: set self.module (or override weights_digest) in __init__")
        return module_digest(self.module)

    @property
    def provenance(self) -> dict[str, Any]:
        return {"extractor": self.name, "weights_sha256": self.weights_digest(), "mode": self.convention,
                "precision": "fp32", "backend": "torch"}

    @abc.abstractmethod
    def features(self, images) -> dict:
        """uint8 [N, 3, H, W] on ``self.device`` → {space: float [N, d]} for every space in ``dims``."""

    def extract(self, images) -> dict:
        import torch

        from ganeval.extractors.execution import exact_fp32
        from ganeval.extractors.preprocess import to_uint8_batch

        batch = to_uint8_batch(images) if isinstance(images, torch.Tensor) else torch.stack(
            [to_uint8_batch(image)[0] for image in images])
        with torch.inference_mode(), exact_fp32():
            out = self.features(batch.to(self.device))
        return {space: out[space].float().reshape(len(batch), -1) for space in self.spaces}
