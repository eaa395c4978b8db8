"""Checking a user's ``--device`` before any work: one line instead of torch's RuntimeError."""

from __future__ import annotations

import torch

from ganeval.core.errors import GanevalError


def check_device(spec: str | None) -> str | None:
    """Return ``spec`` when this machine has that device; else a one-line GanevalError saying what to use."""
    if spec is None:
        return None
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise GanevalError(f"--device {spec!r}: not a torch device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanevalError(f"--device {spec}: no CUDA GPU is usable here (torch {torch.__version__}, "
                               "torch.cuda.is_available() is False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanevalError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                               f"numbered 0..{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise GanevalError(f"--device {spec}: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise GanevalError(f"--device {spec}: ganeval runs on cpu, cuda or mps, not {device.type}")
    return spec
