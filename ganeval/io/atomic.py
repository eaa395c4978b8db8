"""Atomic file writes: a reader never sees a partial file under the final name.

:func:`atomic_write` for a file written in one go; :func:`replace_with` for a file finished
elsewhere in the same folder (a resumable download's ``.part`` file). Both refuse to rename over
anything but a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import ganeval.core.interrupts as interrupts


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path) -> Iterator[str]:
    """Yield a temporary file name ``.NAME.<pid>-<random>.tmp`` in ``path``'s folder to write to.

    ``path`` must be a regular file or absent (FileExistsError otherwise). On a clean exit the
    file is fsynced and renamed over ``path``; on any exception,
    KeyboardInterrupt included, it is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    _check_replaceable(path)
    # The pid in the name lets a later run tell a dead writer's leftover (ganeval.io.outputs).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    interrupts.remove_on_forced_exit(tmp_name)  # removed even if a signal ends the process (ganeval.core.interrupts)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would have given
    try:
        yield tmp_name
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        replace_with(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    finally:
        interrupts.forget(tmp_name)


def replace_with(finished, path) -> None:
    """Rename the complete, fsynced file ``finished`` over ``path`` (same folder; a regular file or absent:
    FileExistsError otherwise)."""
    _check_replaceable(Path(path))
    os.replace(finished, path)


def _check_replaceable(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(path).st_mode):  # a rename would replace a device, FIFO, ...
            raise FileExistsError(errno.EEXIST, "exists and is not a regular file, which would be replaced", str(path))
