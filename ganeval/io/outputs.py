"""Rules for every file ganeval writes, checked before any work (docs/bad-input.md).

* An output may not be one of the inputs (same resolved path or same inode).
* An output that already exists must be a regular file (a folder, device, FIFO or socket
  is refused: the atomic rename would replace it).
* The output's folder must exist and take a new file: :func:`probe_writable` creates and
  removes a temporary there.
* One writer per output: :func:`output_lock` holds an OS lock on ``.NAME.lock`` next to the
  output (with the owner's pid in it, for the message) while a run writes it.
* Temporaries of our own exact naming (``.NAME.<pid>-<random>.tmp``, see
  ``ganeval.io.atomic``) left by a killed run are removed by :func:`clean_stale_temporaries`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from pathlib import Path
from typing import Iterable, Iterator

import ganeval.core.interrupts as interrupts
from ganeval.core.errors import GanevalError
from ganeval.io.names import escape_name

#: Temporaries without a pid (written by ganeval before 0.1.1) are stale after this long.
OLD_TEMPORARY_AGE_S = 3600
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, inputs: Iterable = (), *, what: str = "output") -> Path:
    """Refuse ``path`` as an output when it is an input, not a regular file, or in a missing folder."""
    path = Path(path)
    shown = escape_name(path)
    for source in inputs:
        if source is not None and isinstance(source, (str, os.PathLike)) and _same_file(path, Path(source)):
            raise GanevalError(f"{shown}: the {what} is the same file as the input {escape_name(source)}; "
                               "writing it would destroy the input; choose another output name")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as err:  # a symlink loop, a path through a file, ...
        raise GanevalError(f"{shown}: cannot use as the {what} ({err.strerror}); choose another output name") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise GanevalError(f"{shown}: already exists and is {kind}, which the {what} would replace; "
                           "name a new or regular file")
    if not path.parent.is_dir():
        raise GanevalError(f"{shown}: folder {escape_name(path.parent)} does not exist; create it first")
    return path


def check_distinct_outputs(paths: Iterable, *, option: str) -> None:
    """Refuse the same output named twice (e.g. ``--save-stats s.h5 --save-stats s.h5``)."""
    seen: list[Path] = []
    for path in map(Path, paths):
        for earlier in seen:
            if _same_file(path, earlier):
                raise GanevalError(f"{escape_name(path)}: {option} names the same file twice, so one result would "
                                   "overwrite the other; give one file per source")
        seen.append(path)


def temporary_prefix(path: Path) -> str:
    """Prefix of this process's temporaries next to ``path``: ``.NAME.<pid>-``."""
    return f".{path.name}.{os.getpid()}-"


def probe_writable(path) -> None:
    """Create, write, fsync and remove a temporary next to ``path``: fail now, not after the work."""
    import tempfile

    path = Path(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise GanevalError(f"{escape_name(path)}: cannot write in folder {escape_name(path.parent)} "
                           f"({err.strerror or err}); fix its permissions or choose another folder") from None
    try:
        os.write(fd, b"ganeval write probe\n")
        os.fsync(fd)
    except OSError as err:
        raise GanevalError(f"{escape_name(path)}: cannot write in folder {escape_name(path.parent)} "
                           f"({err.strerror or err}); free space or choose another folder") from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def prepare_output(path, inputs: Iterable = (), *, what: str = "output") -> Path:
    """:func:`check_output` then :func:`probe_writable`: everything checked before the work."""
    path = check_output(path, inputs, what=what)
    probe_writable(path)
    return path


def lock_path(path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(path) -> Iterator[Path]:
    """Hold the write lock of output ``path``; a live owner makes this a one-line error naming its pid."""
    target = lock_path(path)
    while True:
        try:
            fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise GanevalError(f"{escape_name(target)}: cannot create the lock file of {escape_name(path)} "
                               f"({err.strerror}); choose a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise GanevalError(f"{escape_name(target)}: cannot lock ({err.strerror})") from None
            raise GanevalError(f"{escape_name(path)}: another ganeval run (pid {owner}) is writing this output "
                               "right now; wait for it to finish or stop it, or choose another output") from None
        # The previous owner may have removed the file between our open and our lock: retry on the new one.
        try:
            same = os.stat(target).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = os.pread(fd, 64, 0)
    if previous and not re.fullmatch(rb"\d+\n?", previous):  # someone's own file of that name: leave it be
        os.close(fd)
        raise GanevalError(f"{escape_name(target)}: exists and is not a ganeval lock file, yet ganeval locks "
                           f"{escape_name(path)} under that name; move it away")
    interrupts.remove_on_forced_exit(target)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield target
    finally:
        with contextlib.suppress(OSError):
            os.unlink(target)
        interrupts.forget(target)
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(path) -> list[Path]:
    """Remove temporaries that a killed run left next to output ``path`` (or its checkpoints); return them.

    Only files named exactly as ``ganeval.io.atomic`` names them for ``path`` or for its
    checkpoints ``NAME.partial`` / ``NAME.partial-rank{r}of{W}`` are touched:
    ``.NAME.<pid>-<8 chars>.tmp`` whose pid is not alive, and pid-less ``.NAME.<8 chars>.tmp``
    (older ganeval) older than an hour. Call it while holding :func:`output_lock`, so that no
    other ganeval run writes them.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}(?:\.partial(?:-rank\d+of\d+)?)?\.(?:(\d+)-)?[a-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        pid = match.group(1)
        if pid is not None:
            stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
        else:
            stale = now - entry.stat(follow_symlinks=False).st_mtime > OLD_TEMPORARY_AGE_S
        if stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def write_failed(path, err: BaseException, *, checkpoint_note: str = "") -> GanevalError:
    """The one-line error for a result that could not be written after the work was done."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    code = re.search(r"errno = (\d+)", reason)
    if code:  # HDF5's own messages span lines and name our temporary file: the OS's words say it all
        reason = os.strerror(int(code[1]))
    reason = " ".join(reason.split())
    return GanevalError(f"{escape_name(path)}: could not write the result ({reason}); the computed statistics "
                        f"were not saved{checkpoint_note}")
