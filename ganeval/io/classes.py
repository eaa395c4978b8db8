"""Per-class statistics: class sizes checked as soon as they are known (issue 23).

Every class needs at least 2 images (a covariance). For a folder, a zip or an array with labels
the sizes are known from the listing, before any image is decoded: :func:`check_listed_class_sizes`
refuses a too-small class there, not after the whole extraction. With ``--skip-bad`` or a
stream of (images, labels) they are known only at the end: :func:`check_class_sizes`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ganeval.core.errors import GanevalError
from ganeval.io.names import escape_name

MIN_CLASS_IMAGES = 2


def listed_class_sizes(source) -> Counter | None:
    """{label: images} of a labelled source whose labels are known before reading, else None."""
    if not getattr(source, "labelled", False):
        return None
    names = getattr(source, "names", None)
    if names is not None:  # folders and zips: the class is the first folder of the relative path
        return Counter(name.split("/", 1)[0] for name in names)
    labels, indices = getattr(source, "labels", None), getattr(source, "indices", None)
    if labels is not None and indices is not None:  # arrays: the labels of the images taken
        return Counter(str(v) for v in np.asarray(labels)[np.asarray(indices)].tolist())
    return None


def _refuse_small(sizes: dict, description: str, when: str) -> None:
    small = sorted((label, n) for label, n in sizes.items() if n < MIN_CLASS_IMAGES)
    if small:
        label, n = small[0]
        more = f" (and {len(small) - 1} more such class(es))" if len(small) > 1 else ""
        raise GanevalError(f"{description}: class {escape_name(label)!r} has {n} image{'s' if n != 1 else ''}{more}"
                           f"{when}; per-class statistics need at least {MIN_CLASS_IMAGES} images in every class; "
                           "add images or remove the class")


def check_listed_class_sizes(source) -> None:
    """Refuse, before any work, a class of fewer than 2 images in a source whose labels are listed."""
    sizes = listed_class_sizes(source)
    if sizes is not None:
        _refuse_small(sizes, getattr(source, "description", "the source"), "")


def check_class_sizes(stats, description: str) -> None:
    """Refuse per-class statistics (``stats.classes``) with a class of fewer than 2 images (after the work)."""
    classes = getattr(stats, "classes", None)
    if classes:
        _refuse_small({label: s.count for label, s in classes.items()}, description,
                      " after undecodable images were skipped")
