"""Progress bars (tqdm, on stderr) for the command line, the Python API and FIDCallback.

A ``progress`` argument of the API accepts:

* ``None`` (default): a bar when stderr is a terminal or a Jupyter kernel (rank 0 only under torchrun);
* ``True`` / ``False``: always / never a bar;
* a callable ``f(n)``: called with the number of images added after each batch, no bar;
* a :class:`Progress` (what the command line passes, with its own label).

The bar counts images (:func:`images_in`: a batch of N images counts N, whether it is a tensor
[N, C, H, W], a list of N images or an ``(images, labels)`` pair), and shows the total, percentage
and ETA when the number of images is known (folders, zips, arrays, lists of tensors,
``max_images`` for generators). A phase label such as "loading Inception network..." is shown
only while a network is really being built: :meth:`Progress.phase` names the phase, and the
builders (``ganeval.api.compute.get_inception``/``get_encoder``, which build each network once per
process) show it through :func:`announce_loading` on a cache miss only.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterable, Iterator

from tqdm import tqdm


def interactive() -> bool:
    """True when stderr is a terminal (or a Jupyter kernel's) and this is rank 0 of a torchrun job."""
    stream = sys.stderr
    if stream is None or os.environ.get("RANK", "0") != "0":
        return False
    return stream.isatty() or type(stream).__module__.startswith("ipykernel")


def _terminal_size() -> tuple[int, int]:
    try:
        return tuple(os.get_terminal_size(sys.stderr.fileno()))
    except (AttributeError, OSError, ValueError):
        return (0, 0)


def images_in(batch) -> int:
    """How many images ``batch`` holds: N for a tensor/array [N, C, H, W] (1 for one image [C, H, W]),
    for a list of N images, and for an ``(images, labels)`` pair (what FIDCallback's batches are)."""
    if isinstance(batch, tuple) and len(batch) == 2 and hasattr(batch[0], "shape"):
        batch = batch[0]  # (images, labels): len() would be 2 whatever the batch size
    shape = getattr(batch, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) == 4 else 1
    return len(batch)


# The bar and phase text of the innermost Progress.phase block, which announce_loading() shows.
_ANNOUNCED: ContextVar[tuple["Progress", str] | None] = ContextVar("ganeval_progress_phase", default=None)


class Progress:
    """One tqdm bar: ``phase(text)`` while preparing, ``track(batches, total)`` while counting images.

    label: text before the bar; enabled: None follows :func:`interactive`; callback: ``f(n)``
    also called after each batch (works with the bar off).
    """

    def __init__(self, label: str | None = None, *, enabled: bool | None = None,
                 callback: Callable[[int], None] | None = None, unit: str = "img"):
        self.label = label
        self.enabled = interactive() if enabled is None else bool(enabled)
        self.callback = callback
        self.unit = unit
        self._bar: tqdm | None = None

    def _open(self, bar_format: str | None = None) -> tqdm | None:
        if self._bar is None and self.enabled:
            # A terminal that reports a size of 0 (some containers' ptys) would get no bar at all.
            sized = _terminal_size() != (0, 0)
            self._bar = tqdm(desc=self.label, unit=self.unit, file=sys.stderr, dynamic_ncols=sized,
                             ncols=None if sized else 80, nrows=None if sized else 24, leave=True,
                             bar_format=bar_format)
        return self._bar

    @contextmanager
    def phase(self, text: str, *, only_when_loading: bool = False) -> Iterator[None]:
        """Name the phase ``text`` (e.g. "loading Inception network...") of the block.

        Shown in place of the bar at once, or with ``only_when_loading`` only if
        :func:`announce_loading` is called inside the block, i.e. when a network is really built (a
        network taken from the per-process cache then shows nothing).
        """
        token = _ANNOUNCED.set((self, text))
        try:
            if not only_when_loading:
                self.show(text)
            yield
        except BaseException:
            self.close()
            raise
        finally:
            _ANNOUNCED.reset(token)

    def show(self, text: str) -> None:
        """Show ``text`` in place of the bar (until :meth:`track` starts counting)."""
        shown = text.replace("{", "{{").replace("}", "}}")
        bar_format = "{desc}: " + shown if self.label else shown
        bar = self._open(bar_format)
        if bar is not None and bar.bar_format != bar_format:
            bar.bar_format = bar_format
            bar.refresh()

    def track(self, batches: Iterable, total: int | None = None,
              count: Callable[[object], int] = images_in) -> Iterator:
        """Yield ``batches``, counting each batch's images (``count(batch)``, default
        :func:`images_in`) once the caller is done with it.

        The clock (rate, ETA) starts here, after any phase; the bar is closed at the end or on an error.
        """
        bar = self._open()
        if bar is not None:
            bar.bar_format = None
            bar.reset(total=total)
        try:
            for batch in batches:
                yield batch
                self(count(batch))
        finally:
            self.close()

    def __call__(self, n: int) -> None:
        """Count ``n`` more images."""
        if self.callback is not None:
            self.callback(n)
        bar = self._open()
        if bar is not None:
            bar.update(n)

    def close(self) -> None:
        """End the bar's line (it stays on screen with its final count)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def announce_loading() -> None:
    """Show the phase named by the innermost :meth:`Progress.phase` block, if any: the network
    builders call this just before they really build a network (a cache miss), never on a hit."""
    announced = _ANNOUNCED.get()
    if announced is not None:
        bar, text = announced
        bar.show(text)


def as_progress(progress, label: str | None = None) -> Progress:
    """The :class:`Progress` for an API ``progress`` argument (see the module docstring)."""
    if isinstance(progress, Progress):
        return progress
    if progress is None or isinstance(progress, bool):
        return Progress(label, enabled=progress)
    if callable(progress):
        return Progress(label, enabled=False, callback=progress)
    from ganeval.core.errors import GanevalError

    raise GanevalError(f"progress must be None, True, False, a callable f(n) or a ganeval.api.progress.Progress, "
                       f"got {type(progress).__name__}")


def images_to_read(source, batch_size: int, rank: int = 0, world: int = 1, start_batch: int = 0) -> int | None:
    """How many images ``source`` (an ImageSource) will yield to this rank, or None when unknown."""
    from ganeval.io.sources import rank_batches

    if source.shardable and source.count is not None:
        return sum(len(r) for r in rank_batches(source.count, batch_size, rank, world)[start_batch:])
    limit = None if getattr(source, "default_limited", False) else getattr(source, "max_images", None)
    if limit is not None and world > 1:
        limit = limit // world + (1 if rank < limit % world else 0)
    items = getattr(source, "items", None)
    known = None
    if isinstance(items, (list, tuple)) and all(hasattr(item, "shape") for item in items):
        known = sum(item.shape[0] if len(item.shape) == 4 else 1 for item in items)
    if known is None:
        return limit
    return known if limit is None else min(known, limit)
