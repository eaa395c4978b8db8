"""The one HTTP downloader: resumable, hash-checked, atomic, locked.

Used by the reference statistics (:mod:`ganeval.io.references`) and by the weights files
(:mod:`ganeval.extractors.weights`, :mod:`ganeval.extractors.vit_weights`); each caller keeps
its own hash rules (a published sha256, or one recorded at first download in a
``<file>.sha256`` sidecar, see :func:`record_sha256`) and its own messages.

Downloads go to ``<file>.part`` and resume with an HTTP Range request when a partial file
is there; the file is renamed into place only after its sha256 was checked. Concurrent
downloads of one file wait for each other (``<file>.lock``, removed afterwards).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from ganeval.core.errors import GanevalError, one_line
from ganeval.io.atomic import atomic_write, replace_with
from ganeval.io.hashing import file_sha256

try:
    import fcntl
except ImportError:  # not on POSIX: no lock between concurrent downloads of one file
    fcntl = None

__all__ = ["DownloadFailed", "DownloadCorrupted", "download_file", "record_sha256", "recorded_sha256"]

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadFailed(GanevalError):
    """A download that did not complete (network, server, disk); ``cause`` is the underlying error, if any."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


class DownloadCorrupted(GanevalError):
    """A downloaded file whose sha256 ``digest`` does not match ``expected``; the file was removed."""

    def __init__(self, message: str, url: str, digest: str, expected: str):
        super().__init__(message)
        self.url, self.digest, self.expected = url, digest, expected


def record_sha256(path, digest: str) -> None:
    """Write ``<path>.sha256`` (``"<digest>  <name>"``), the sha256 recorded at first download."""
    path = Path(path)
    with atomic_write(Path(str(path) + ".sha256")) as tmp, open(tmp, "w") as handle:
        handle.write(f"{digest}  {path.name}\n")


def recorded_sha256(path) -> str | None:
    """The sha256 recorded at first download next to ``path`` (``<path>.sha256``), or None when there is none."""
    record = Path(str(path) + ".sha256")
    if not record.is_file():
        return None
    text = record.read_text().split()
    if not text or not _SHA256.fullmatch(text[0]):
        raise GanevalError(f"{record}: not a sha256 record; delete it and {Path(path).name} to download again")
    return text[0]


def _matches(digest: str, sha256: str | None) -> bool:
    # A published hash may be a prefix (torch.hub style file names); a full one must be equal.
    return sha256 is None or digest.startswith(sha256)


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if not match:
        return None, None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, and removed on release)."""
    if fcntl is None:
        yield
        return
    while True:
        handle = open(path, "a")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:  # the previous holder may have removed the file while this one waited: lock the new one
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def download_file(url: str, target, *, sha256: str | None = None, size: int | None = None, timeout: float = 60.0,
                  progress: Callable[[int, int | None], None] | None = None, manual_hint: str = "",
                  sha256_origin: str = "expected") -> tuple[Path, str]:
    """Download ``url`` to ``target`` through ``<target>.part``, resuming a partial file with HTTP Range.

    The sha256 of the whole file is checked against ``sha256`` (when given: a full hex
    digest or a published prefix; ``sha256_origin`` says where it comes from in the
    message) before the atomic rename into place; on a mismatch the bad file is removed
    and :class:`DownloadCorrupted` raised. Any other failure is a :class:`DownloadFailed`
    (``manual_hint`` says what to do instead). An interrupted download keeps the ``.part``
    file, and the next call resumes it. Returns (path, sha256). ``progress(done, total)`` is
    called as bytes arrive. Concurrent calls for one target wait for each other
    (``<target>.lock``), and a target already there is returned as it is when it matches
    ``sha256`` (any, without one).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with _file_lock(target.with_name(target.name + ".lock")):  # one downloader per file; the others wait
        try:
            if target.is_file():  # finished by another process while this one waited
                digest = file_sha256(target)
                if _matches(digest, sha256):
                    return target, digest
            return _download_locked(url, target, partial, sha256, size, timeout, progress, manual_hint,
                                    sha256_origin)
        finally:
            with contextlib.suppress(OSError):
                if partial.stat().st_size == 0:
                    partial.unlink()


def _download_locked(url, target, partial, sha256, size, timeout, progress, manual_hint,
                     sha256_origin) -> tuple[Path, str]:
    have = partial.stat().st_size if partial.exists() else 0
    hasher = hashlib.sha256()
    manual = manual_hint or f"download {url} by hand and register it with `ganeval ref get NAME --file PATH`"
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "ganeval"})  # ValueError: not a URL
        if have:
            request.add_header("Range", f"bytes={have}-")
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch: the partial file may be whole
            total = have
            response = None
        else:
            raise DownloadFailed(f"cannot download {url}: HTTP {err.code} {err.reason}; {manual}", err) from None
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadFailed(f"cannot download {url} ({one_line(reason)}): offline? {manual}", err) from None

    if response is not None:
        with response:
            status = response.status
            length = response.headers.get("Content-Length")
            if status == 206:
                start, total = _content_range_start(response.headers.get("Content-Range"))
                if start != have:
                    # A server that answers another range than asked: start again from zero.
                    raise DownloadFailed(f"cannot resume {url}: asked for bytes {have}- but the server sent "
                                         f"{response.headers.get('Content-Range')!r}; delete {partial} and try again")
                mode = "ab"
            else:  # 200: the whole file (the server ignored or does not support Range)
                have, mode = 0, "wb"
                total = int(length) if length is not None and length.isdigit() else None
            if status == 206 and total is None and length is not None and length.isdigit():
                total = have + int(length)
            if size is not None and total is not None and total != size:
                raise DownloadFailed(f"{url}: the server offers {total} bytes, but the published file has {size}; "
                                     f"check the mirror, or {manual}")
            if mode == "ab":
                with open(partial, "rb") as previous:
                    for chunk in iter(lambda: previous.read(_CHUNK), b""):
                        hasher.update(chunk)
            done = have
            try:
                with open(partial, mode) as out:
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        hasher.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                    out.flush()
                    os.fsync(out.fileno())
            except (http.client.HTTPException, socket.timeout, OSError) as err:
                raise DownloadFailed(f"download of {url} interrupted after {done} bytes ({one_line(err)}); "
                                     f"run the same command again to resume from {partial.name}", err) from None
            if total is not None and done < total:
                raise DownloadFailed(f"download of {url} interrupted after {done} of {total} bytes; "
                                     f"run the same command again to resume from {partial.name}")
    else:
        with open(partial, "rb") as previous:
            for chunk in iter(lambda: previous.read(_CHUNK), b""):
                hasher.update(chunk)

    digest = hasher.hexdigest()
    if not _matches(digest, sha256):
        partial.unlink(missing_ok=True)
        raise DownloadCorrupted(f"download of {url} is corrupted: sha256 {digest} does not match the {sha256_origin} "
                                f"{sha256}; "
                                "the bad file was removed; run the command again (or check the mirror)",
                                url, digest, sha256)
    try:
        replace_with(partial, target)  # fsynced as it was written
    except FileExistsError:
        raise DownloadFailed(f"{target}: exists and is not a regular file; remove it and run the command again "
                             f"(the download is kept in {partial.name})") from None
    return target, digest
