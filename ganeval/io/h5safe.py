"""Open HDF5 files that ganeval reads (stats files, checkpoints) so that every byte comes from the file itself.

HDF5 can make a dataset read bytes from elsewhere: *external raw storage* (the data lives in
another file, named in the dataset's creation properties), *external links* (a name that opens
an object in another HDF5 file), *virtual datasets* (a mapping onto other files' datasets, with
fill values where a source is missing) and *soft links* (a name that points to another path in
the file). A hostile stats file used them to copy an unrelated file into an ``export-stats``
output, or to borrow another file's ``mu``. :func:`open_h5` walks the whole file's link
structure *before* anything is read and refuses, in one line naming the dataset:

* external links and broken soft links (nothing is opened through them);
* soft links whose target leaves the group that holds the link (``/pool3/mu -> /spatial/mu``,
  ``/classes/00001/pool3 -> /classes/00000/pool3``);
* datasets with external raw storage, and virtual datasets;
* datasets whose declared shape the file does not hold (never written: HDF5 would return fill
  values; or a declared size far beyond what any compression stores), before anything is allocated.

The walk is iterative and visits at most :data:`MAX_LINKS` links, so a file with millions of
groups or a cycle of hard links cannot hang it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from ganeval.core.errors import GanevalError, one_line
from ganeval.io.names import escape_name

MAX_COMPRESSION_RATIO = 1100
"""Largest declared/stored size of a chunked dataset: deflate cannot exceed ~1032:1, so a larger
ratio is a shape the file never wrote (its reader would allocate the declared size for fill values)."""
MAX_LINKS = 100_000
"""Most links walked in one file (a ganeval stats file has a few dozen; a per-class one ~10 per class)."""


def _refuse(path, name: str, what: str, fix: str) -> GanevalError:
    return GanevalError(f"{escape_name(path)}: {name} {what}; ganeval reads only data stored inside the file "
                        f"itself; {fix}")


def check_stored_inside(h5: h5py.File, path) -> None:
    """Raise a one-line GanevalError unless every object of ``h5`` is stored in ``h5`` itself (module doc)."""
    fix = "recompute the file with ganeval"
    pending = ["/"]
    seen_groups = set()
    walked = 0
    while pending:
        group_name = pending.pop()
        group = h5[group_name]
        key = group.id  # hard links may form cycles: visit each group once
        if key in seen_groups:
            continue
        seen_groups.add(key)
        for child in group:  # link names only: nothing is opened yet
            walked += 1
            if walked > MAX_LINKS:
                raise GanevalError(f"{escape_name(path)}: holds more than {MAX_LINKS:,} HDF5 objects, far more than "
                                   f"any ganeval file; {fix}")
            full = f"{group_name.rstrip('/')}/{child}"
            link = group.get(child, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise _refuse(path, f"'{full}'", f"is an external link to {escape_name(link.filename)}:{link.path}",
                              fix)
            if isinstance(link, h5py.SoftLink):
                target = link.path if link.path.startswith("/") else f"{group_name.rstrip('/')}/{link.path}"
                inside = group_name.rstrip("/") + "/"
                if not target.startswith(inside) or "/../" in f"{target}/" or "/./" in f"{target}/":
                    raise _refuse(path, f"'{full}'", f"is a soft link to {link.path}, outside its group {group_name}",
                                  fix)
                if group.get(child) is None:  # getting the target of a dangling link gives None
                    raise GanevalError(f"{escape_name(path)}: '{full}' is a broken soft link (to {link.path}), "
                                       f"damaged file; {fix}")
            try:
                kind = group.get(child, getclass=True)
            except (KeyError, OSError, RuntimeError) as err:
                reason = one_line(err)
                raise GanevalError(f"{escape_name(path)}: '{full}' cannot be opened ({reason}); {fix}") from None
            if kind is h5py.Group:
                pending.append(full)
            elif kind is h5py.Dataset:
                _check_dataset(group[child], path, full, fix)


def _check_dataset(dataset: h5py.Dataset, path, name: str, fix: str) -> None:
    plist = dataset.id.get_create_plist()
    if plist.get_external_count() > 0:
        raise _refuse(path, f"dataset '{name}'", "keeps its data in an external file "
                      f"({escape_name(plist.get_external(0)[0].decode('utf-8', 'surrogateescape'))})", fix)
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        raise _refuse(path, f"dataset '{name}'", "is a virtual dataset (its data is mapped from other files)", fix)
    _check_written(dataset, path, name, layout, fix)


def _check_written(dataset: h5py.Dataset, path, name: str, layout: int, fix: str) -> None:
    """Refuse a dataset whose declared shape its stored bytes cannot hold: never written (HDF5 would
    hand out fill values, zeros) or a declared size that would allocate far more than the file holds."""
    if dataset.dtype.kind == "O" or dataset.shape is None:  # variable-length strings: no fixed size
        return
    declared = int(np.prod(dataset.shape, dtype=np.float64)) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if layout == h5py.h5d.CONTIGUOUS:
        written = stored >= declared
    elif layout == h5py.h5d.CHUNKED:
        needed = 1
        for size, chunk in zip(dataset.shape, dataset.chunks):
            needed *= -(-size // chunk)
        written = dataset.id.get_num_chunks() >= needed and declared <= MAX_COMPRESSION_RATIO * stored + 2**20
    else:  # compact: the data lives in the object header (at most 64 KiB)
        written = True
    if not written:
        raise GanevalError(f"{escape_name(path)}: dataset '{name}' declares shape {dataset.shape} "
                           f"({declared:,} bytes) but the file stores {stored:,} bytes of it (never written, or "
                           f"damaged); {fix}")


@contextlib.contextmanager
def open_h5(path, *, damaged=None) -> Iterator[h5py.File]:
    """``h5py.File(path, "r")`` after :func:`check_stored_inside`; closed on exit.

    ``damaged(reason) -> GanevalError``, when given, turns an HDF5 error raised while opening or
    walking into the caller's own one-line message.
    """
    with h5py.File(Path(path), "r") as h5:
        try:
            check_stored_inside(h5, path)
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            if damaged is None:
                raise
            raise damaged(one_line(err)) from None
        yield h5
