"""How a network runs: numeric precision, backend (PyTorch or ONNX Runtime) and torch.compile.

One set of rules for every extractor (Inception, DINOv2, CLIP), so ``--precision``,
``--backend`` and ``--compile`` mean the same thing for each network of a run:

* ``precision`` (:data:`~ganeval.core.choices.PRECISIONS`): ``fp32`` is IEEE fp32 and the default
  (cuDNN TF32 off, float32 matmul precision "highest", whatever the caller's process set);
  ``tf32`` (CUDA only), ``bf16`` and ``fp16`` (autocast) are opt-in, recorded in provenance,
  and statistics of different precisions refuse to be compared (``stats.COMPATIBILITY_KEYS``).
* ``backend`` (:data:`~ganeval.core.choices.BACKENDS`): ``torch``; ``onnxruntime`` (CPU, fp32, no
  compile; :mod:`ganeval.extractors.onnx_backend`); ``auto``: ONNX Runtime for fp32 on the CPU
  where the network is measured faster there (``onnx_by_default``), else torch.
* ``compile``: ``torch.compile`` the network (torch backend; a one-off compilation first).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganeval.core.choices import BACKENDS, PRECISIONS
from ganeval.core.errors import GanevalError
from ganeval.extractors.onnx_backend import OnnxRuntimeNetwork, onnxruntime_available, onnxruntime_version

__all__ = ["NetworkRunner", "OneOutput", "check_options", "check_precision", "choose_backend", "precision_context",
           "exact_fp32"]


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` when it is known and runs on ``device``; else one GanevalError line."""
    if precision not in PRECISIONS:
        raise GanevalError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "tf32" and device.type != "cuda":
        raise GanevalError("--precision tf32 needs a CUDA GPU (TF32 is a tensor-core format); "
                           "on the CPU use fp32 (exact) or bf16 (a preview)")
    return precision


def choose_backend(backend: str, device: torch.device, precision: str, compile: bool, *,
                   onnx_by_default: bool) -> str:
    """"torch" or "onnxruntime" for these settings (see the module docstring); refusals are one line."""
    if backend not in BACKENDS:
        raise GanevalError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        fits = onnx_by_default and device.type == "cpu" and precision == "fp32" and not compile
        return "onnxruntime" if fits and onnxruntime_available() else "torch"
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise GanevalError(f"--backend onnxruntime runs on the CPU only, not {device}; use --backend torch")
        if precision != "fp32" or compile:
            raise GanevalError("--backend onnxruntime is fp32 only and has no --compile; "
                               "use --backend torch for --precision/--compile")
    return backend


def check_options(device: torch.device, precision: str, backend: str, compile: bool, *,
                  onnx_by_default: bool) -> tuple[str, str]:
    """(precision, backend) for these settings, or one GanevalError line: what an extractor calls
    before it loads weights, so that a bad option is refused in no time."""
    precision = check_precision(precision, device)
    return precision, choose_backend(backend, device, precision, compile, onnx_by_default=onnx_by_default)


class _Settings:
    """Set cuDNN's TF32 flag and the float32 matmul precision for a block, then restore both."""

    def __init__(self, tf32: bool):
        self.tf32 = tf32

    def __enter__(self):
        self._matmul = torch.get_float32_matmul_precision()
        self._cudnn = torch.backends.cudnn.flags(
            enabled=torch.backends.cudnn.enabled, benchmark=torch.backends.cudnn.benchmark,
            deterministic=torch.backends.cudnn.deterministic, allow_tf32=self.tf32)
        self._cudnn.__enter__()
        torch.set_float32_matmul_precision("high" if self.tf32 else "highest")
        return self

    def __exit__(self, *exc):
        torch.set_float32_matmul_precision(self._matmul)
        return self._cudnn.__exit__(*exc)


def exact_fp32() -> _Settings:
    """Context that keeps fp32 convolutions and matrix products in IEEE fp32.

    PyTorch lets cuDNN use TF32 for fp32 convolutions by default (10-bit mantissa on Ampere and
    newer GPUs), which changed Inception features in the third decimal; and a training script's
    ``torch.set_float32_matmul_precision("high")`` lets every ViT matmul use TF32 (or bf16 on
    some CPUs). "fp32" in provenance must mean IEEE fp32, so both are switched off inside and
    restored after; the other cuDNN settings are kept as they are.
    """
    return _Settings(tf32=False)


def precision_context(precision: str, device: torch.device):
    """The autocast / TF32 context that runs a network at ``precision``."""
    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    if precision == "tf32":
        return _Settings(tf32=True)
    return exact_fp32()


class NetworkRunner:
    """``graph`` (an ``nn.Module``: float32 [N, *input_shape] → a tuple of [N, d], one per name in
    ``outputs``) run at ``precision`` on ``backend``; calls return float32 tensors.

    ``name`` and ``digest`` (the network's weights digest) and ``variant`` (anything else that
    shapes the graph, e.g. DINOv2's position-embedding interpolation) key the ONNX cache.
    ``memory_format``: the layout of the graph and of its inputs under torch (channels-last
    convolutions are faster for Inception on the CPU).
    """

    def __init__(self, graph: nn.Module, *, name: str, digest: str, outputs: tuple[str, ...],
                 input_shape: tuple[int, ...], device: torch.device, precision: str = "fp32",
                 backend: str = "auto", compile: bool = False, onnx_by_default: bool = False,
                 variant: str = "", memory_format: torch.memory_format = torch.contiguous_format):
        self.device = torch.device(device)
        self.precision, self.backend = check_options(self.device, precision, backend, compile,
                                                     onnx_by_default=onnx_by_default)
        self.compiled = bool(compile)
        self.outputs = tuple(outputs)
        self.onnx: OnnxRuntimeNetwork | None = None
        if self.backend == "onnxruntime":
            self.onnx = OnnxRuntimeNetwork(graph, digest, self.outputs, name=name, input_shape=input_shape,
                                           variant=variant)
            self.memory_format = torch.contiguous_format
            return
        self.memory_format = memory_format
        self.graph = graph.to(memory_format=memory_format)
        self._forward = torch.compile(self.graph) if compile else self.graph

    def __call__(self, x: Tensor) -> tuple[Tensor, ...]:
        """x: float32 [N, *input_shape] on the runner's device → float32 [N, d] per output."""
        if self.onnx is not None:
            return self.onnx(x)
        x = x.contiguous(memory_format=self.memory_format)
        with precision_context(self.precision, self.device):
            return tuple(out.float() for out in self._forward(x))

    @property
    def description(self) -> str:
        """E.g. "onnxruntime 1.23.2 cpu" or "torch 2.14.1 cpu channels-last compiled" (informative, not checked)."""
        if self.onnx is not None:
            return f"onnxruntime {onnxruntime_version()} cpu"
        parts = [f"torch {torch.__version__.split('+')[0]}", self.device.type]
        if self.memory_format == torch.channels_last:
            parts.append("channels-last")
        if self.compiled:
            parts.append("compiled")
        return " ".join(parts)

    @property
    def provenance(self) -> dict[str, Any]:
        return {"precision": self.precision, "backend": self.description}


class OneOutput(nn.Module):
    """A module with one output as a runner's graph: ``forward(x)`` → ``(module(x),)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> tuple[Tensor]:
        return (self.module(x),)
