"""Where ``ganeval report -o DIR`` writes: the output rules of every writing command (docs/bad-input.md).

A report folder holds exactly the files the report names: ``index.html``, ``report.json`` and
``img/`` with ``a_NNNNNN.png``, ``b_NNNNNN.png`` and ``distances.png``. Before any work,
:func:`prepare_report_output`:

* refuses a folder that is, contains or lies inside an input (the report would otherwise write
  images into an image source, or replace a folder of the user's photos);
* refuses a folder that holds anything but an earlier report's files (so nothing else is ever
  deleted or replaced), and any of those names that is a symbolic link or not a regular file /
  folder (nothing is written through a link);
* takes the output lock and checks that the folder (or, for a new folder, its parent) takes a file.

The report is then written to staging names and put in place at the end
(:meth:`ReportOutput.commit`): a new folder appears whole, by one rename; an earlier report keeps
its files until the new page, JSON and images are complete. A failure or Ctrl-C leaves the
earlier report as it was and removes the staging files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import ganeval.core.interrupts as interrupts
from ganeval.core.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval.io.names import escape_name
from ganeval.io.outputs import clean_stale_temporaries, output_lock, probe_writable

PAGE, JSON, IMAGES = "index.html", "report.json", "img"
_OWN_IMAGE = re.compile(r"(?:[ab]_\d{6}|distances)\.png")


def _resolved(path) -> Path:
    return Path(os.path.realpath(path))


def _contains(folder: Path, other: Path) -> bool:
    """True when ``other`` is ``folder`` or lies inside it (both resolved)."""
    return other == folder or folder in other.parents


def _check_inputs(out_dir: Path, inputs) -> None:
    target = _resolved(out_dir)
    for source in inputs:
        if not isinstance(source, (str, os.PathLike)):
            continue  # arrays, tensors: nothing on disk to protect
        source_path = _resolved(source)
        if _contains(target, source_path):
            raise GanevalError(f"{escape_name(out_dir)}: the report folder is or contains the input "
                               f"{escape_name(source)}; writing the report there could replace it; choose a new "
                               "folder for -o")
        if _contains(source_path, target):
            raise GanevalError(f"{escape_name(out_dir)}: the report folder lies inside the input "
                               f"{escape_name(source)}; its images would become part of that input; choose a "
                               "folder outside it for -o")


def _check_existing(out_dir: Path) -> None:
    """An existing folder must hold only an earlier report's files, none of them a link."""
    shown = escape_name(out_dir)
    entries = {entry.name: entry for entry in os.scandir(out_dir)}
    hidden_ours = re.compile(rf"\.(?:{re.escape(PAGE)}|{re.escape(JSON)}|{IMAGES})\..+\.tmp|\.{IMAGES}\.old\..+\.tmp")
    foreign = sorted(name for name in entries if name not in (PAGE, JSON, IMAGES) and not hidden_ours.fullmatch(name))
    if entries and PAGE not in entries:
        raise GanevalError(f"{shown}: is not empty and holds no {PAGE}; give a new or an earlier report's folder")
    if foreign:
        raise GanevalError(f"{shown}: holds {escape_name(foreign[0])}, which no report writes; the report replaces "
                           "only its own files: give a new folder, or move that file out")
    for name, entry in entries.items():
        if name not in (PAGE, JSON, IMAGES):
            continue
        mode = os.lstat(entry.path).st_mode
        if stat.S_ISLNK(mode):
            raise GanevalError(f"{escape_name(entry.path)}: is a symbolic link; the report never writes through a "
                               "link (it would replace the link's target); remove it or choose a new folder")
        if name == IMAGES and not stat.S_ISDIR(mode) or name != IMAGES and not stat.S_ISREG(mode):
            raise GanevalError(f"{escape_name(entry.path)}: is not the {'folder' if name == IMAGES else 'file'} an "
                               "earlier report wrote; choose a new folder")
    images = out_dir / IMAGES
    if images.is_dir():
        for entry in os.scandir(images):
            if not _OWN_IMAGE.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                raise GanevalError(f"{escape_name(entry.path)}: is not an image an earlier report wrote; the report "
                                   "replaces only its own files: give a new folder, or move it out")


class ReportOutput:
    """The staging area of one report run (module docstring). ``images_dir``: where thumbnails go."""

    def __init__(self, out_dir: Path, given: Path | None = None):
        self.out_dir = out_dir
        self.path = given or out_dir  # as the user named it (out_dir is resolved when that is a link)
        self.fresh = not out_dir.exists()
        if self.fresh:  # the whole folder is staged next to it and renamed into place at the end
            self.staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}-", suffix=".tmp",
                                                 dir=out_dir.parent))
        else:  # only img/ is staged; index.html and report.json are replaced atomically
            self.staging = Path(tempfile.mkdtemp(prefix=f".{IMAGES}.{os.getpid()}-", suffix=".tmp", dir=out_dir))
        interrupts.remove_on_forced_exit(self.staging, folder=True)
        self.images_dir = self.staging / IMAGES if self.fresh else self.staging
        self.images_dir.mkdir(exist_ok=True)

    def commit(self, files: dict[str, str]) -> Path:
        """Put the staged report in place with ``files`` ({name: text}); returns the page path."""
        if self.fresh:
            for name, text in files.items():
                (self.staging / name).write_text(text, encoding="utf-8")
            os.chmod(self.staging, 0o777 & ~_umask())  # mkdtemp makes 0700; give what mkdir would have
            if self.out_dir.exists():  # someone made it meanwhile: never merge into or replace it
                raise GanevalError(f"{escape_name(self.out_dir)}: appeared while the report was made; run it again")
            os.rename(self.staging, self.out_dir)
            interrupts.forget(self.staging)
            return self.out_dir / PAGE
        images = self.out_dir / IMAGES
        old = None
        if images.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{IMAGES}.old.{os.getpid()}-", suffix=".tmp", dir=self.out_dir))
            os.rename(images, old / IMAGES)
        os.chmod(self.staging, 0o777 & ~_umask())
        os.rename(self.staging, images)
        interrupts.forget(self.staging)
        for name, text in files.items():
            with atomic_write(self.out_dir / name) as tmp_name:
                Path(tmp_name).write_text(text, encoding="utf-8")
        if old is not None:
            _remove_own_images(old / IMAGES)
            with contextlib.suppress(OSError):
                os.rmdir(old)
        return self.out_dir / PAGE

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        interrupts.forget(self.staging)


def _remove_own_images(folder: Path) -> None:
    """Remove what an earlier report wrote in ``folder`` (only those names), then the folder if empty."""
    for entry in os.scandir(folder):
        if _OWN_IMAGE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_report_output(out_dir, inputs=()) -> tuple[Path, os.stat_result | None]:
    """Check ``out_dir`` against the rules (module docstring) and probe that it takes a file, taking
    nothing (no torch either: the command line runs it before loading the networks). Returns the
    folder to write (a link resolved) and its ``os.stat`` (None when it is new)."""
    out_dir = Path(out_dir)
    shown = escape_name(out_dir)
    try:
        info = os.lstat(out_dir)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise GanevalError(f"{shown}: cannot use as the report folder ({err.strerror}); choose another") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        out_dir = _resolved(out_dir)  # a link to a folder names that folder: check and write the real one
        try:
            info = os.stat(out_dir)
        except OSError:
            raise GanevalError(f"{shown}: is a symbolic link that leads nowhere; choose a real folder") from None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise GanevalError(f"{shown}: exists and is not a folder")
    if not out_dir.parent.is_dir():
        raise GanevalError(f"{shown}: folder {escape_name(out_dir.parent)} does not exist; create it first")
    _check_inputs(out_dir, inputs)
    if info is not None:
        _check_existing(out_dir)
    # The writability probe: into the folder itself when it exists, else into its parent.
    probe_writable(out_dir / PAGE if info is not None else out_dir)
    return out_dir, info


@contextlib.contextmanager
def prepare_report_output(out_dir, inputs=()):
    """Check ``out_dir`` against the rules (module docstring), lock it, and yield its :class:`ReportOutput`.

    Leaves no staging file behind when the body fails or is interrupted.
    """
    given = Path(out_dir)
    out_dir, info = check_report_output(out_dir, inputs)
    with output_lock(out_dir):
        clean_stale_temporaries(out_dir)
        _clean_stale_staging(out_dir.parent, rf"\.{re.escape(out_dir.name)}")
        if info is not None:
            _clean_stale_staging(out_dir, rf"\.{IMAGES}(?:\.old)?")
        output = ReportOutput(out_dir, Path(given))
        try:
            yield output
        except BaseException:
            output.discard()
            raise


def _clean_stale_staging(folder: Path, prefix: str) -> None:
    """Staging folders ``PREFIX.<pid>-<8 chars>.tmp`` in ``folder`` of a killed run (dead pid): remove them."""
    from ganeval.io.outputs import _pid_alive

    pattern = re.compile(rf"{prefix}\.(\d+)-[a-z0-9_]{{8}}\.tmp")
    for entry in os.scandir(folder):
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and not _pid_alive(int(match[1])):
            shutil.rmtree(entry.path, ignore_errors=True)

