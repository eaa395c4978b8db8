"""Finding, downloading and checking the weights files of the ViT encoders (DINOv2, CLIP).

Search order, as for the Inception weights (:mod:`ganeval.extractors.weights`):
``weights=PATH`` (the CLI's ``--weights NAME=PATH``, NAME the network's key ``dinov2``, ``clip``,
``clip_vitb32`` or its extractor name) → the file's name in
:func:`~ganeval.extractors.weights.cache_dir` → a download of the official URL into
that cache → one :class:`~ganeval.core.errors.GanevalError` line saying what to do.

Two kinds of published files:

* a file whose publisher gives its sha256 (OpenAI CLIP: the URL's last folder *is*
  the sha256): every download and every cached copy is checked against it;
* a file without a published hash (DINOv2 on ``dl.fbaipublicfiles.com``): the sha256
  of the first download is written next to it in ``<file>.sha256`` and every later
  use of the cached file is checked against that record (a changed file is refused).

A file is identified twice, as the Inception weights are: ``file_sha256`` (its
bytes) and :func:`tensor_digest` (its tensors as float32, whatever the container:
a TorchScript archive and a plain ``torch.save`` of the same tensors give one digest).
"""

from __future__ import annotations


import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import Tensor

from ganeval.core.errors import GanevalError, one_line
from ganeval.extractors.weights import cache_dir, is_torchscript_archive, tensor_digest
from ganeval.io import download as _download
from ganeval.io.hashing import file_sha256

__all__ = [
    "PublishedFile",
    "ViTWeights",
    "resolve_vit_weights",
    "download_file",
    "file_sha256",
    "read_state_dict",
    "tensor_digest",
]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class PublishedFile:
    """An official weights file: ``name`` (for messages and ``--weights NAME=PATH``),
    ``file_name`` (in the cache), ``url``, ``sha256`` (published, or None), and
    ``url_env``: the environment variable that replaces ``url`` (mirrors, tests)."""

    name: str
    file_name: str
    url: str
    sha256: str | None
    url_env: str


@dataclass(frozen=True)
class ViTWeights:
    """A resolved weights file. ``origin``: "--weights", "cache" or "download <url>";
    ``sha256_source``: "published" (checked against the publisher's hash), "recorded"
    (checked against the sha256 recorded at the first download), or "unchecked"
    (a file given by the user, which is identified but not compared with anything)."""

    path: Path
    file_sha256: str
    origin: str
    sha256_source: str


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def resolve_vit_weights(
    spec: PublishedFile,
    path: PathLike | None = None,
    *,
    url: str | None = None,
    directory: PathLike | None = None,
    download: bool = True,
    timeout: float = 60.0,
) -> ViTWeights:
    """Find (or download) and check ``spec``'s file. ``url`` (else ``$<spec.url_env>``,
    else ``spec.url``) is where a missing file is downloaded from; ``directory`` defaults
    to :func:`cache_dir`. Every failure is a one-line :class:`GanevalError`."""
    if path is not None:
        given = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        if not given.is_file():
            raise GanevalError(f"{given}: no such weights file for {spec.name} (given as {weights_option(spec)})")
        digest = file_sha256(given)
        if spec.sha256 is not None and digest != spec.sha256:
            # A local copy may be a converted container of the same network: identified, not refused.
            return ViTWeights(given, digest, "--weights", "unchecked")
        return ViTWeights(given, digest, "--weights", "published" if spec.sha256 else "unchecked")

    folder = Path(directory) if directory is not None else cache_dir()
    cached = folder / spec.file_name
    if cached.is_file():
        return ViTWeights(cached, _check_cached(spec, cached), "cache", "published" if spec.sha256 else "recorded")

    source = url or os.environ.get(spec.url_env) or spec.url
    failure = ""
    if download:
        try:
            target = download_file(spec, source, folder, timeout=timeout)
        except _download.DownloadFailed as err:
            cause = err.cause if err.cause is not None else err
            failure = f" (download of {source} failed: {one_line(cause)})"
        else:
            return ViTWeights(target, file_sha256(target) if spec.sha256 is None else spec.sha256,
                              f"download {source}", "published" if spec.sha256 else "recorded")
    raise GanevalError(
        f"no {spec.name} weights found{failure}: download {spec.url} into {folder}, "
        f"or pass {weights_option(spec)}"
    )


def weights_option(spec: PublishedFile) -> str:
    """The option as messages spell it, the way ``--help`` does: ``--weights dinov2=PATH`` (the
    network's key; its extractor name, ``dinov2-vitl14=PATH``, is accepted as well)."""
    from ganeval.extractors.registry import network_of

    try:
        key = network_of(spec.name).key
    except GanevalError:  # a file of no registered network (tests): its own name
        key = spec.name
    return f"--weights {key}=PATH"


def _check_cached(spec: PublishedFile, cached: Path) -> str:
    digest = file_sha256(cached)
    if spec.sha256 is not None:
        if digest != spec.sha256:
            raise GanevalError(
                f"{cached}: sha256 {digest} is not the published {spec.sha256} of {spec.file_name}; "
                "delete the file to download it again"
            )
        return digest
    record = _sidecar(cached)
    if not record.is_file():
        # Placed there by hand: record it now, as a download would have, once it proves to be weights.
        _validate_unrecorded(spec, cached, f"{cached}", downloaded=False)
        _download.record_sha256(cached, digest)
        return digest
    recorded = record.read_text().split()[0] if record.read_text().split() else ""
    if digest != recorded:
        raise GanevalError(
            f"{cached}: sha256 {digest} differs from {recorded} recorded at its first download ({record}); "
            "the file changed: delete both files to download it again"
        )
    return digest


def download_file(spec: PublishedFile, url: str, directory: PathLike, *, timeout: float = 60.0) -> Path:
    """Download ``url`` into ``directory/spec.file_name`` with :func:`ganeval.io.download.download_file`
    (through ``<file>.part``, renamed into place only when complete and, for a published hash,
    matching). A file without a published hash gets its sha256 recorded in ``<file>.sha256``.
    A failed download raises :class:`~ganeval.io.download.DownloadFailed`."""
    target = Path(directory) / spec.file_name
    try:
        target, received = _download.download_file(url, target, sha256=spec.sha256, timeout=timeout)
    except _download.DownloadCorrupted as err:
        raise GanevalError(
            f"download of {url} is corrupted: sha256 {err.digest} is not the published {spec.sha256}"
        ) from None
    if spec.sha256 is None:
        # No published hash: what is recorded must first prove to be weights (an HTML error page or a
        # cut-off body recorded here would later make the genuine file look "changed").
        _validate_unrecorded(spec, target, f"the download of {url}")
        _download.record_sha256(target, received)
    return target


def forget_download(path: Path) -> None:
    """Remove a downloaded weights file and its recorded sha256 (it failed validation)."""
    Path(path).unlink(missing_ok=True)
    _sidecar(Path(path)).unlink(missing_ok=True)


def _validate_unrecorded(spec: PublishedFile, path: Path, what: str, *, downloaded: bool = True) -> None:
    """Refuse in one line unless ``path`` reads as a state dict of tensors; a download that does not
    is removed (a file placed by hand is left to its owner), and no hash is recorded either way."""
    try:
        read_state_dict(path, spec.name)
    except GanevalError as err:
        reason = str(err).split(": ", 1)[-1]
        if downloaded:
            path.unlink(missing_ok=True)
            raise GanevalError(f"{what} is not {spec.name} weights ({reason}); it was not kept and its hash not "
                               f"recorded; try again, or download {spec.url} by hand") from None
        raise GanevalError(f"{what}: is not {spec.name} weights ({reason}); its hash was not recorded; replace it "
                           f"with {spec.url}") from None


def read_state_dict(path: PathLike, what: str) -> dict[str, Tensor]:
    """Tensors of a ``torch.save`` state dict or of a TorchScript archive (OpenAI's CLIP
    files are TorchScript), on the CPU in their stored dtype."""
    path = Path(path)
    try:
        if is_torchscript_archive(path):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch reports damaged archives with many exception types
        raise GanevalError(f"{path}: not a readable {what} weights file ({one_line(err)[:200]})") from err
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise GanevalError(f"{path}: not a {what} weights file (expected a state dict of tensors)")
    return dict(raw)
