"""Option choices and defaults that the command line shows without importing torch.

The modules that use them (preprocess, inception_extractor, sources) import them from here,
so `ganeval --help` stays fast and the choices have one definition.
"""

from __future__ import annotations

import os

MODES = ("tf1", "nvidia", "pytorch-fid", "clean")
DEFAULT_MODE = "tf1"

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
"""fp32 is exact and the default; the others are opt-in previews whose measured effect on FID
is stated in README ("Precision"). Statistics record the precision and refuse to be compared
with statistics of another precision."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest image read (pixels) unless --max-pixels says otherwise: Pillow's own MAX_IMAGE_PIXELS
(tests/test_hardening_inputs.py checks that they agree)."""

DECODES = ("cpu", "gpu")
"""JPEG decoding: cpu (PIL, the reference pixels) or gpu (nvjpeg on the CUDA device, opt-in; docs/gpu.md)."""

SAVED_FEATURES_DEFAULT = "auto"
"""What every command that writes statistics computed from images (``stats -o``, ``fid --save-stats``,
``demo``) keeps of the raw features unless --save-features/--no-save-features says otherwise:
"auto" keeps them for sets of up to ``ganeval.api.compute.AUTO_FEATURES_LIMIT`` (50,000) images, so the
file serves KID, PRDC, IS and the bootstrap as well as FID."""


def saved_features(choice: bool | None):
    """The ``save_features`` of ``compute_stats`` for statistics a command writes: the user's
    --save-features (True) / --no-save-features (False), else :data:`SAVED_FEATURES_DEFAULT`."""
    return SAVED_FEATURES_DEFAULT if choice is None else bool(choice)


BACKENDS = ("auto", "torch", "onnxruntime")
"""auto: ONNX Runtime for fp32 on the CPU when installed (fastest exact CPU path), else torch."""

CMMD_ESTIMATORS = ("biased", "unbiased")
"""CMMD's MMD² estimator: biased (google-research/cmmd's, the default) or unbiased (docs/encoders.md)."""


def default_workers() -> int:
    """Decoding processes used when the caller does not say: up to 4, never more than the cores."""
    return min(4, os.cpu_count() or 1)


def parse_names(text, allowed, what: str = "feature space") -> tuple[str, ...]:
    """'a,b' or a sequence → checked tuple of names from ``allowed``, lower-cased, order kept, no repeats."""
    from ganeval.core.errors import GanevalError

    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise GanevalError(f"unknown {what}(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(allowed)}")
    return tuple(dict.fromkeys(names))
