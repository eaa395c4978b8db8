"""Feature extractors: network + weights + preprocessing, behind one small interface.

An extractor is called with uint8 images and returns float32 features; its
``provenance`` dict says exactly what made them (it is stored with every statistic).
``EXTRACTORS`` maps names to "module:Class" so that more networks can be added later;
classes are imported on first use, which keeps importing this package light.
"""

from __future__ import annotations

import importlib

EXTRACTORS = {"inception-v3-tf-2015-12-05/pool3": "ganeval.extractors.inception_extractor:InceptionExtractor"}
DEFAULT_EXTRACTOR = "inception-v3-tf-2015-12-05/pool3"


def get_extractor(name: str = DEFAULT_EXTRACTOR, **options):
    """Build the extractor registered under ``name`` (options go to its constructor)."""
    from ganeval.errors import GanevalError

    if name not in EXTRACTORS:
        raise GanevalError(f"unknown feature extractor {name!r}; known: {', '.join(EXTRACTORS)}")
    module, cls = EXTRACTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)
