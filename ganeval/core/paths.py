"""Where ganeval keeps what it downloads or derives (weights, reference statistics, ONNX graphs)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_CACHE", "cache_dir"]

ENV_CACHE = "GANEVAL_CACHE"


def cache_dir() -> Path:
    """``$GANEVAL_CACHE``, else ``$XDG_CACHE_HOME/ganeval``, else ``~/.cache/ganeval``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "ganeval"
    return Path.home() / ".cache" / "ganeval"
