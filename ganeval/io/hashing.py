"""The sha256 of a file: the one implementation behind weights checks, downloads and reference files."""

from __future__ import annotations

import hashlib

__all__ = ["file_sha256"]

_CHUNK = 1 << 20  # 1 MiB reads: constant memory for files of any size


def file_sha256(path) -> str:
    """sha256 (hex) of the bytes of the file at ``path``; OSError when it cannot be read."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()
