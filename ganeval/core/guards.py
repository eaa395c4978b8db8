"""Warnings for results that look like numbers but mean little: FID of few images, KID whose
subsets are whole sets. Light (no torch): the command line and the API both use them."""

from __future__ import annotations

MIN_FID_IMAGES = 2048
"""Below this FID's upward bias dominates (it falls as N grows; the 2048-d covariance needs N > 2048
to be of full rank): such FIDs compare only with FIDs of the same N."""


def fid_size_warning(counts: dict[str, int]) -> str | None:
    """A warning when a side of an FID has fewer than MIN_FID_IMAGES images, else None."""
    small = [f"{n:,} in {name}" for name, n in counts.items() if n < MIN_FID_IMAGES]
    if not small:
        return None
    return (f"FID from few images ({', '.join(small)}) is biased upward and compares only with FIDs of the same "
            f"N; use at least {MIN_FID_IMAGES:,} images (50,000 is the convention)")


def kid_whole_sides(subset_size: int, counts: dict[str, int]) -> list[str]:
    """The sides every KID subset of ``subset_size`` rows holds whole (their spread is then no uncertainty)."""
    return [name for name, n in counts.items() if subset_size >= n]


def kid_subset_warning(requested: int, counts: dict[str, int]) -> str | None:
    """A warning when the KID subset size reaches a side's set size, else None."""
    used = min(requested, *counts.values())
    whole = kid_whole_sides(used, counts)
    if not whole:
        return None
    listed = " and ".join(f"the {counts[name]:,} images of {name}" for name in whole)
    return (f"KID subset size {requested:,} >= {listed}: every subset holds all of them, so the spread over "
            f"subsets is not an uncertainty; give more images or a --kid-subset-size below {min(counts.values()):,}")
