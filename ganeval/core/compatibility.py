"""Which statistics may be compared: the provenance keys that must agree, and their check.

Light (no torch, no numpy): ``ganeval.core.stats`` and the command line's checks before torch
(``ganeval.io.preflight``, ``ganeval.api.preflight``) use it.
"""

from __future__ import annotations

from ganeval.core.errors import GanevalError

COMPATIBILITY_KEYS = ("extractor", "weights_sha256", "mode", "precision", "feature_dim")
"""Provenance keys two statistics must agree on to be compared (``ganeval.core.stats`` re-exports them)."""


def check_compatible(a: dict, b: dict, name_a: str, name_b: str) -> None:
    """Raise GanevalError when two provenance dicts disagree on a compatibility key.

    A key missing on one side (statistics built by hand from features) is not a conflict.
    """
    for key in COMPATIBILITY_KEYS:
        if key in a and key in b and str(a[key]) != str(b[key]):
            raise GanevalError(
                f"{name_a} and {name_b} differ in {key} ({a[key]} vs {b[key]}): the numbers are not comparable; "
                "recompute one of them with matching settings, or pass --allow-mismatch"
            )
