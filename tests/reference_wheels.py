"""Reference implementations that cannot be pip-installed next to ganeval, used from their wheel.

Meta's DINOv2 code on PyPI, ``dinov2==0.0.1.dev2`` (April 2023, the code torch.hub served
when dgm-eval's and EDM2's numbers were made), declares ``torch==2.0.0``, ``torchvision==0.15.0``,
``xformers==0.0.18`` and ``cuml-cu11``: installing it (even with ``--no-deps``) would replace
torch or break ``pip check``. Its model code needs only torch (xformers is optional), and a
pure-Python wheel is a zip archive that Python imports from directly. So the tests fetch the
pinned wheel with pip's own client (``pip download --no-deps``, no installation), check its
sha256 against the pin below, and import ``dinov2`` from the wheel file. Set
``GANEVAL_DINOV2_WHEEL=/path/to/dinov2-0.0.1.dev2-py3-none-any.whl`` to use a local copy.
A missing or different wheel fails the test (it does not skip).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

from ganeval.extractors.weights import cache_dir

DINOV2_PIN = "dinov2==0.0.1.dev2"
DINOV2_WHEEL = "dinov2-0.0.1.dev2-py3-none-any.whl"
DINOV2_WHEEL_SHA256 = "d23754838b9d415233e1df1d5c2bf8f418d0e6654390f271ba46be389a5652cb"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dinov2_wheel() -> Path:
    if os.environ.get("GANEVAL_DINOV2_WHEEL"):
        wheel = Path(os.environ["GANEVAL_DINOV2_WHEEL"])
    else:
        folder = cache_dir() / "test-wheels"
        wheel = folder / DINOV2_WHEEL
        if not wheel.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                 "--dest", str(folder), DINOV2_PIN],
                capture_output=True, text=True,
            )
            assert wheel.is_file(), f"could not fetch {DINOV2_PIN} with pip download: {result.stderr[-500:]}"
    digest = _sha256(wheel)
    assert digest == DINOV2_WHEEL_SHA256, f"{wheel}: sha256 {digest} is not the pinned {DINOV2_WHEEL_SHA256}"
    return wheel


def import_meta_dinov2():
    """Meta's ``dinov2.models.vision_transformer`` and ``dinov2.layers``, imported from the pinned wheel."""
    wheel = str(dinov2_wheel())
    if wheel not in sys.path:
        sys.path.insert(0, wheel)
    for name in [n for n in sys.modules if n == "dinov2" or n.startswith("dinov2.")]:
        if not str(getattr(sys.modules[name], "__file__", "")).startswith(wheel):
            del sys.modules[name]
    vits = importlib.import_module("dinov2.models.vision_transformer")
    layers = importlib.import_module("dinov2.layers")
    assert vits.__file__.startswith(wheel), f"dinov2 imported from {vits.__file__}, not from {wheel}"
    return vits, layers
