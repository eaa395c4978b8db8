"""The command line's checks of what it is given, before torch is imported (issue 22, item 1).

Above ``ganeval.io.preflight`` (files: sources, stats files, outputs) it knows the metrics and the
networks: which statistics a pair of arguments are, the metric names, and whether statistics given
are comparable with each other or with the images' --mode/--precision/--convention. No torch:
numpy and h5py only when such files are given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from ganeval.core.compatibility import check_compatible
from ganeval.core.errors import GanevalError
from ganeval.io.preflight import check_image_source, is_stats_file, stats_provenance


def is_statistics(obj) -> bool:
    """Whether ``obj`` names statistics rather than images: a ganeval .h5 file, or a published
    reference file holding statistics (an ADM reference batch with mu/sigma, an EDM2 .pkl, a
    TTUR/pytorch-fid/clean-fid .npz). An ADM sample batch (images only) is an image source."""
    if not isinstance(obj, (str, Path)):
        return False
    if is_stats_file(obj):
        return True
    path = Path(obj)
    if not (path.is_file() and path.suffix.lower() in (".npz", ".pkl")):
        return False
    from ganeval.io.reference_files import detect_reference_kind, read_adm_batch  # numpy, no torch

    try:
        kind = detect_reference_kind(path)
        return kind in ("edm2", "npz") or (kind == "adm" and bool(read_adm_batch(path).spaces))
    except GanevalError:
        return False


INCEPTION_SPACES = ("pool3", "spatial", "logits")
"""Spaces of the Inception network, whose provenance ``mode`` is the --mode (the encoders' is their convention)."""


def check_sides(sides: Sequence, *, metrics=None, mode: str | None = None, precision: str | None = None,
                conventions: Mapping[str, str] | None = None, max_images: int | None = None,
                allow_mismatch: bool = False) -> list[bool]:
    """Everything about a command's sources that can be known without torch, in the order the library
    checks it; returns which sides are statistics.

    Each image source exists and holds at least 2 images; each ganeval stats file is one; ``metrics``
    (text or names; None: eval's default set) are known names; two stats files agree on the
    compatibility keys of the spaces the metrics read; a stats file agrees with the encoders'
    ``conventions`` ({network key: convention} given, else the first stats file's, else the default),
    and with the ``mode`` (when given) and ``precision`` that images would be computed with.
    """
    from ganeval.metrics.registry import METRICS, parse_metrics, spaces_for

    names = parse_metrics(metrics) if metrics is not None else tuple(m.name for m in METRICS.values() if m.default)
    flags, provenances = [], []
    for side in sides:
        statistics = is_statistics(side)
        flags.append(statistics)
        if not statistics:
            check_image_source(side, max_images)
            provenances.append(None)
        elif is_stats_file(side):
            provenances.append(stats_provenance(side))
        else:  # a published reference file: read and checked by the library
            provenances.append(None)
    if allow_mismatch:
        return flags
    spaces = spaces_for(names)
    loaded = [(p, str(s)) for p, s in zip(provenances, sides) if p is not None]
    _check_conventions(loaded, spaces, conventions or {})
    if len(loaded) == 2:
        (a, name_a), (b, name_b) = loaded
        for space in spaces:
            if space in a and space in b:
                check_compatible(a[space], b[space], name_a, name_b)
    elif loaded and not all(flags):
        wanted = {"precision": precision} if precision else {}
        for provenance, name in loaded:
            for space in spaces:
                if space in provenance:
                    given = {**wanted, "mode": mode} if mode and space in INCEPTION_SPACES else wanted
                    check_compatible(provenance[space], given, name, "the features these settings compute")
    return flags


def check_inception_weights_path(path) -> None:
    """A --weights file given for Inception exists (the message of ``ganeval.extractors.weights``;
    the encoders' files are checked when their network is built)."""
    if path is None:
        return
    given = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if not given.exists():
        raise GanevalError(f"{given}: weights file not found (from --weights)")



def _check_conventions(loaded: list[tuple[dict, str]], spaces: Sequence[str], given: Mapping[str, str]) -> None:
    """Each stats file's encoder spaces were made with the convention the images would be (as
    ``ganeval.api.evaluate.prepare_extraction`` checks them, first)."""
    from ganeval.core import networks  # the table of networks (no torch)

    for provenance, name in loaded:
        for space in spaces:
            network = networks.NETWORKS[networks.SPACE_NETWORK[space]]
            if not network.conventions or space not in provenance:
                continue
            adopted = [p[space].get("mode") for p, _ in loaded if space in p]
            wanted = given.get(network.key) or next((c for c in adopted if c in network.conventions),
                                                    network.default_convention)
            check_compatible(provenance[space], {"mode": wanted}, name, "the features these settings compute")
