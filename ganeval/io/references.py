"""Published reference statistics by name: a registry, a resumable hash-checked downloader, conversion.

``ganeval ref get NAME`` downloads the published file into ``<cache>/refs/<provider>/``,
checks its sha256 and converts it into a ganeval stats file next to it (see
:func:`get_reference`). Where the publisher gives no sha256 (none of the sources below
does today), the hash is recorded at first download in ``<file>.sha256`` next to the
file and every later use is checked against it, so a file that changes afterwards is
refused.

Downloads go through :func:`ganeval.io.download.download_file`: to ``<file>.part``, resumed
with an HTTP Range request when a partial file is there; the file is renamed into place only
after its sha256 was checked.

Sources of the URLs (read from each project's code/README):

* TTUR (bioinf-jku/TTUR README, "Precalculated Statistics for FID"):
  ``http://bioinf.jku.at/research/ttur/ttur_stats/fid_stats_*.npz``; TF graph resize → ``tf1``.
* clean-fid (GaParmar/clean-fid ``cleanfid/features.py`` get_reference_statistics, README
  "Supported Precomputed Datasets"): ``https://www.cs.cmu.edu/~clean-fid/stats/
  {name}_{mode}_{split}_{res}.npz``; modes clean → ``clean``, legacy_tensorflow → ``nvidia``,
  legacy_pytorch → ``pytorch-fid`` (as ``ganeval import-stats``).
* ADM (openai/guided-diffusion ``evaluations/README.md``): ``https://openaipublic.blob.core.
  windows.net/diffusion/jul-2021/ref_batches/...``; ``tf1``; pool3 and spatial (sFID) statistics
  over the whole dataset plus 10,000 images (precision/recall).
* EDM2 (NVlabs/edm2 README and ``calculate_metrics.py``): ``https://nvlabs-fi-cdn.nvidia.com/
  edm2/dataset-refs/{img512,img64}.pkl``; ``nvidia``; pool3 (``fid``) and DINOv2 (``fd_dinov2``).
* EDM (NVlabs/edm README): ``https://nvlabs-fi-cdn.nvidia.com/edm/fid-refs/*.npz``; ``nvidia``.

A mirror (an organisation's copy, or a test server) replaces every publisher's host:
``$GANEVAL_REF_MIRROR`` (or ``mirror=``) set to ``BASE`` fetches ``BASE/<provider>/<file name>``,
e.g. ``BASE/ttur/fid_stats_cifar10_train.npz``; the hash rules stay the same.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from ganeval.core.paths import cache_dir
from ganeval.core.errors import GanevalError
from ganeval.io.atomic import atomic_write
from ganeval.io.download import download_file
from ganeval.io.download import record_sha256 as _record_sha256
from ganeval.io.download import recorded_sha256
from ganeval.io.hashing import file_sha256
from ganeval.io.names import escape_name

__all__ = ["ReferenceEntry", "REGISTRY", "ENV_MIRROR", "refs_dir", "entry_url", "lookup", "download_file",
           "fetch_reference", "register_file", "get_reference", "load_reference", "recorded_sha256", "entries"]

ENV_MIRROR = "GANEVAL_REF_MIRROR"


@dataclass(frozen=True)
class ReferenceEntry:
    """One published reference file."""

    name: str  # "<provider>/<set>", e.g. "ttur/cifar10-train"
    url: str
    sha256: str | None  # published sha256, else None (recorded at first download)
    mode: str  # ganeval preprocessing mode the statistics were made in
    kind: str  # reader: "npz" (mu/sigma), "adm" (ADM batch), "edm2" (EDM2 pickle)
    spaces: tuple[str, ...]  # feature spaces in the file
    metrics: tuple[str, ...]  # what it lets you compute
    description: str
    count: int | None = None  # images behind the statistics, when documented
    count_source: str = ""  # where the count comes from
    size: int | None = None  # expected file size in bytes, when published
    source: str = ""  # where the URL is documented

    @property
    def provider(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return self.name.split("/", 1)[1]

    def as_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "sha256": self.sha256, "mode": self.mode, "kind": self.kind,
                "spaces": list(self.spaces), "metrics": list(self.metrics), "description": self.description,
                "count": self.count, "count_source": self.count_source, "size": self.size, "source": self.source}


# ----------------------------------------------------------------------------------------------- the registry

_TTUR = "http://bioinf.jku.at/research/ttur/ttur_stats/"
_TTUR_SRC = "bioinf-jku/TTUR README.md, 'Precalculated Statistics for FID'"
_CLEANFID = "https://www.cs.cmu.edu/~clean-fid/stats/"
_CLEANFID_SRC = ("GaParmar/clean-fid cleanfid/features.py get_reference_statistics; "
                 "README 'Supported Precomputed Datasets'")
_ADM = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/"
_ADM_SRC = "openai/guided-diffusion evaluations/README.md"
_EDM2 = "https://nvlabs-fi-cdn.nvidia.com/edm2/dataset-refs/"
_EDM2_SRC = "NVlabs/edm2 README.md ('--ref=.../dataset-refs/img512.pkl'), calculate_metrics.py save_stats"
_EDM = "https://nvlabs-fi-cdn.nvidia.com/edm/fid-refs/"
_EDM_SRC = "NVlabs/edm README.md 'Calculating FID', fid.py ref"
_IMAGENET_TRAIN = 1_281_167


def _ttur(stem, file, count, what):
    return ReferenceEntry(f"ttur/{stem}", _TTUR + file, None, "tf1", "npz", ("pool3",), ("fid",),
                          f"TTUR (the original TF FID): {what}", count,
                          "size of that set per the TTUR README (the file does not record it)", None, _TTUR_SRC)


_TTUR_ENTRIES = [
    _ttur("cifar10-train", "fid_stats_cifar10_train.npz", 50_000, "CIFAR-10 train, all 50,000 images"),
    _ttur("celeba", "fid_stats_celeba.npz", 202_599, "cropped CelebA 64x64, all images"),
    _ttur("lsun-bedroom-train", "fid_stats_lsun_train.npz", 3_033_042, "LSUN bedroom, all training images"),
    _ttur("svhn-train", "fid_stats_svhn_train.npz", 73_257, "SVHN train, all images"),
    _ttur("imagenet-train", "fid_stats_imagenet_train.npz", _IMAGENET_TRAIN,
          "ImageNet train, all images (the README points to the 64x64 downsampled set)"),
    _ttur("imagenet-valid", "fid_stats_imagenet_valid.npz", 50_000,
          "ImageNet validation, all images (the README points to the 64x64 downsampled set)"),
]

# clean-fid: (name, split, resolutions, count, clean-fid modes, what), as in its README table.
_ALL_CLEANFID = ("clean", "legacy_tensorflow", "legacy_pytorch")
_CLEANFID_SETS = [
    ("cifar10", "train", (32,), 50_000, _ALL_CLEANFID, "CIFAR-10 train, 50,000 images"),
    ("cifar10", "test", (32,), 10_000, _ALL_CLEANFID, "CIFAR-10 test, 10,000 images"),
    ("ffhq", "trainval", (1024, 256), 50_000, _ALL_CLEANFID, "FFHQ {res}, 50,000 random train+val images"),
    ("ffhq", "trainval70k", (1024, 256), 70_000, _ALL_CLEANFID, "FFHQ {res}, all 70,000 images"),
    ("lsun_church", "train", (256,), 50_000, _ALL_CLEANFID, "LSUN church 256, 50,000 training images"),
    ("lsun_church", "trainfull", (256,), 126_227, ("clean",), "LSUN church 256, all 126,227 training images"),
    ("lsun_horse", "train", (256,), 50_000, _ALL_CLEANFID, "LSUN horse 256, 50,000 training images"),
    ("lsun_horse", "trainfull", (256,), 2_000_340, ("clean",), "LSUN horse 256, all 2,000,340 training images"),
    ("lsun_cat", "train", (256,), 50_000, _ALL_CLEANFID, "LSUN cat 256, 50,000 training images"),
    ("lsun_cat", "trainfull", (256,), 1_657_264, _ALL_CLEANFID, "LSUN cat 256, all 1,657,264 training images"),
    ("afhq_cat", "train", (512,), 5_153, _ALL_CLEANFID, "AFHQ cat 512 train, 5,153 images"),
    ("afhq_dog", "train", (512,), 4_739, _ALL_CLEANFID, "AFHQ dog 512 train, 4,739 images"),
    ("afhq_wild", "train", (512,), 4_738, _ALL_CLEANFID, "AFHQ wild 512 train, 4,738 images"),
    ("brecahad", "train", (512,), 1_944, _ALL_CLEANFID, "BreCaHAD 512 train, 1,944 images"),
    ("metfaces", "train", (1024,), 1_336, _ALL_CLEANFID, "MetFaces 1024 train, 1,336 images"),
    ("horse2zebra", "test", (256,), 140, _ALL_CLEANFID, "horse2zebra 256 test, 140 images"),
    ("cat2dog", "test", (256,), 500, _ALL_CLEANFID, "cat2dog 256 test, 500 images"),
]
_CLEANFID_MODE_NAMES = {"clean": ("clean", "clean"), "legacy_tensorflow": ("legacy-tensorflow", "nvidia"),
                        "legacy_pytorch": ("legacy-pytorch", "pytorch-fid")}


def _cleanfid_entries():
    for dataset, split, resolutions, count, modes, what in _CLEANFID_SETS:
        for res in resolutions:
            for mode in modes:
                label, ours = _CLEANFID_MODE_NAMES[mode]
                res_part = f"-{res}" if len(resolutions) > 1 else ""
                name = f"cleanfid/{dataset.replace('_', '-')}-{split}{res_part}-{label}"
                url = f"{_CLEANFID}{dataset}_{mode}_{split}_{res}.npz"
                yield ReferenceEntry(name, url, None, ours, "npz", ("pool3",), ("fid",),
                                     f"clean-fid {what.format(res=res)}, mode {mode}", count,
                                     "clean-fid README table (the file does not record it)", None, _CLEANFID_SRC)


def _adm(stem, path, what, count, labels):
    metrics = ("fid", "sfid", "precision", "recall")
    return ReferenceEntry(f"adm/{stem}", _ADM + path, None, "tf1", "adm", ("pool3", "spatial"), metrics,
                          f"ADM reference batch, {what}: FID/sFID statistics of the whole dataset + 10,000 images"
                          + (" with labels" if labels else ""), count,
                          "size of the whole training set (ADM README: 'statistics over the whole dataset'; "
                          "the file does not record it)", None, _ADM_SRC)


_ADM_ENTRIES = [
    _adm("imagenet64", "imagenet/64/VIRTUAL_imagenet64_labeled.npz", "ImageNet 64x64", _IMAGENET_TRAIN, True),
    _adm("imagenet128", "imagenet/128/VIRTUAL_imagenet128_labeled.npz", "ImageNet 128x128", _IMAGENET_TRAIN, True),
    _adm("imagenet256", "imagenet/256/VIRTUAL_imagenet256_labeled.npz", "ImageNet 256x256", _IMAGENET_TRAIN, True),
    _adm("imagenet512", "imagenet/512/VIRTUAL_imagenet512.npz", "ImageNet 512x512", _IMAGENET_TRAIN, False),
    _adm("lsun-bedroom", "lsun/bedroom/VIRTUAL_lsun_bedroom256.npz", "LSUN bedroom 256", 3_033_042, False),
    _adm("lsun-cat", "lsun/cat/VIRTUAL_lsun_cat256.npz", "LSUN cat 256", 1_657_264, False),
    _adm("lsun-horse", "lsun/horse/VIRTUAL_lsun_horse256.npz", "LSUN horse 256", 2_000_340, False),
]

_EDM2_ENTRIES = [
    ReferenceEntry("edm2/img512", _EDM2 + "img512.pkl", None, "nvidia", "edm2", ("pool3", "dinov2"),
                   ("fid", "fd_dinov2"), "EDM2 ImageNet 512x512 (center-crop-dhariwal) train: FID and FD_DINOv2 "
                   "statistics (FD_DINOv2: convention edm2, official weights)", None, "num_images in the file", None, _EDM2_SRC),
    ReferenceEntry("edm2/img64", _EDM2 + "img64.pkl", None, "nvidia", "edm2", ("pool3", "dinov2"),
                   ("fid", "fd_dinov2"), "EDM2 ImageNet 64x64 train: FID and FD_DINOv2 statistics (FD_DINOv2: "
                   "convention edm2, official weights)", None, "num_images in the file", None,
                   "NVlabs/edm2 README names the dataset-refs/ folder (and img512.pkl); img64.pkl, the reference of "
                   "its ImageNet-64 models, is the URL downstream projects use"),
]


def _edm(stem, what, count):
    return ReferenceEntry(f"edm/{stem}", f"{_EDM}{stem}.npz", None, "nvidia", "npz", ("pool3",), ("fid",),
                          f"EDM {what}", count,
                          "size of that dataset (EDM's fid.py ref uses every image; the file does not record it)"
                          if count else "", None, _EDM_SRC)


_EDM_ENTRIES = [
    _edm("cifar10-32x32", "CIFAR-10 32x32 train, all 50,000 images", 50_000),
    _edm("ffhq-64x64", "FFHQ 64x64, all 70,000 images", 70_000),
    _edm("afhqv2-64x64", "AFHQv2 64x64, all 15,803 images", 15_803),
    _edm("imagenet-64x64", "ImageNet 64x64 train (for EDM's ImageNet model)", _IMAGENET_TRAIN),
    _edm("imagenet-64x64-baseline", "ImageNet 64x64 as ADM's training data (for the ADM baseline model)", None),
]

REGISTRY: dict[str, ReferenceEntry] = {
    entry.name: entry
    for entry in [*_TTUR_ENTRIES, *_cleanfid_entries(), *_ADM_ENTRIES, *_EDM2_ENTRIES, *_EDM_ENTRIES]
}


# ----------------------------------------------------------------------------------------------- lookup


def lookup(name: str, registry: Mapping[str, ReferenceEntry] | None = None) -> ReferenceEntry:
    registry = REGISTRY if registry is None else registry
    if name in registry:
        return registry[name]
    close = [n for n in registry if name.lower() in n.lower()][:6]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `ganeval ref list` shows them all"
    raise GanevalError(f"no reference statistics named {name!r}{hint}")


def refs_dir(cache=None) -> Path:
    """``<cache>/refs`` (cache: ``$GANEVAL_CACHE``, ``$XDG_CACHE_HOME/ganeval`` or ``~/.cache/ganeval``)."""
    if cache is None:
        cache = cache_dir()
    return Path(cache) / "refs"


def entry_url(entry: ReferenceEntry, mirror: str | None = None) -> str:
    """The URL to fetch: the publisher's, or ``<mirror>/<provider>/<file name>`` (``mirror`` or $GANEVAL_REF_MIRROR)."""
    mirror = mirror if mirror is not None else os.environ.get(ENV_MIRROR) or None
    if mirror:
        return f"{mirror.rstrip('/')}/{entry.provider}/{entry.file_name}"
    return entry.url


def _paths(entry: ReferenceEntry, cache) -> tuple[Path, Path, Path]:
    folder = refs_dir(cache) / entry.provider
    target = folder / entry.file_name
    return target, target.with_name(target.name + ".sha256"), folder / f"{entry.stem}.h5"


def check_cache(entry: ReferenceEntry, cache=None) -> None:
    """Before any download or conversion: the cache folder of ``entry`` exists (made now) and takes a
    file, and the names the published file and its conversion go to are regular files or absent.
    Each problem is one line naming the folder and ``$GANEVAL_CACHE`` (not a traceback after the work)."""
    from ganeval.io.outputs import check_output, probe_writable

    target, record, converted = _paths(entry, cache)
    folder = target.parent
    hint = "set GANEVAL_CACHE to a writable folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GanevalError(f"{escape_name(folder)}: cannot use as the reference cache ({err.strerror or err}); "
                           f"{hint}") from None
    if not folder.is_dir():
        raise GanevalError(f"{escape_name(folder)}: cannot use as the reference cache (not a folder); {hint}")
    for path in (target, record, converted):
        try:
            check_output(path, what="cached file")
        except GanevalError as err:
            raise GanevalError(f"{err} (in the reference cache; move it away, or {hint})") from None
    try:
        probe_writable(converted)
    except GanevalError as err:
        raise GanevalError(f"{err} (the reference cache; or {hint})") from None


def _expected_sha256(entry: ReferenceEntry, target: Path) -> tuple[str | None, str]:
    if entry.sha256:
        return entry.sha256, "published sha256"
    return recorded_sha256(target), "sha256 recorded at first download"


def _verify_cached(entry: ReferenceEntry, target: Path) -> str:
    expected, origin = _expected_sha256(entry, target)
    digest = file_sha256(target)
    if expected is None:  # placed into the cache by hand: this is its first use
        _record_sha256(target, digest)
        return digest
    if digest != expected:
        raise GanevalError(f"{target}: its sha256 {digest} differs from the {origin} {expected}: the file changed; "
                           f"delete it (and {target.name}.sha256 if you trust the new one) and run "
                           f"`ganeval ref get {entry.name}` again")
    return digest


def fetch_reference(name_or_entry, *, cache=None, mirror: str | None = None,
                    registry: Mapping[str, ReferenceEntry] | None = None, timeout: float = 60.0,
                    progress: Callable[[int, int | None], None] | None = None) -> tuple[Path, str]:
    """The published file of a registry entry in the cache, downloaded if needed; (path, sha256), checked."""
    entry = name_or_entry if isinstance(name_or_entry, ReferenceEntry) else lookup(name_or_entry, registry)
    target, _, _ = _paths(entry, cache)
    if target.is_file():
        return target, _verify_cached(entry, target)
    expected, origin = _expected_sha256(entry, target)
    url = entry_url(entry, mirror)
    hint = f"download {url} by hand and register it with `ganeval ref get {entry.name} --file PATH`"
    if expected is not None and entry.sha256 is None:
        origin += " (the file at that URL changed since)"
    path, digest = download_file(url, target, sha256=expected, size=entry.size, timeout=timeout,
                                 progress=progress, manual_hint=hint, sha256_origin=origin)
    if expected is None:
        _record_sha256(path, digest)
    return path, digest


def register_file(name_or_entry, file, *, cache=None,
                  registry: Mapping[str, ReferenceEntry] | None = None) -> tuple[Path, str]:
    """Copy a local copy of a registry entry's file into the cache, hash-checked; (path, sha256).

    Checked against the published sha256, else the one recorded at an earlier download;
    with neither, its hash is recorded now and checked on every later use.
    """
    entry = name_or_entry if isinstance(name_or_entry, ReferenceEntry) else lookup(name_or_entry, registry)
    file = Path(file).expanduser()
    if not file.is_file():
        raise GanevalError(f"{file}: no such file (--file names your local copy of {entry.file_name})")
    target, _, _ = _paths(entry, cache)
    expected, origin = _expected_sha256(entry, target)
    digest = file_sha256(file)
    if expected is not None and digest != expected:
        raise GanevalError(f"{file}: its sha256 {digest} does not match the {origin} {expected} of {entry.name}; "
                           f"it is not the published {entry.file_name} (download it again from {entry.url})")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.is_file() and target.resolve() == file.resolve()):
        with atomic_write(target) as tmp:
            shutil.copyfile(file, tmp)
    if expected is None:
        _record_sha256(target, digest)
    return target, digest


def load_reference(name_or_entry, *, cache=None, mirror: str | None = None, file=None,
                   registry: Mapping[str, ReferenceEntry] | None = None, images: bool = False,
                   timeout: float = 60.0, progress=None):
    """The :class:`~ganeval.io.reference_files.ReferenceStats` of a registry entry (downloaded if needed)."""
    from ganeval.io.reference_files import read_adm_batch, read_edm2_pickle, read_npz_stats

    entry = name_or_entry if isinstance(name_or_entry, ReferenceEntry) else lookup(name_or_entry, registry)
    check_cache(entry, cache)
    target = _paths(entry, cache)[0]
    first_use = entry.sha256 is None and recorded_sha256(target) is None
    if file is not None:
        path, digest = register_file(entry, file, cache=cache)
    else:
        path, digest = fetch_reference(entry, cache=cache, mirror=mirror, timeout=timeout, progress=progress)
    try:
        if entry.kind == "adm":
            ref = read_adm_batch(path, images=images)
        elif entry.kind == "edm2":
            ref = read_edm2_pickle(path)
        else:
            ref = read_npz_stats(path, mode=entry.mode)
    except GanevalError as err:
        message = str(err)
        if file is not None:  # the user's file is what is wrong, not our copy of it
            message = message.replace(str(path), str(Path(file).expanduser())).replace("; download it again",
                                                                                      "; check that file")
        if first_use:  # never record the hash of a file that does not even read (e.g. cut short without a length)
            path.unlink(missing_ok=True)
            Path(str(path) + ".sha256").unlink(missing_ok=True)
            kept = "its copy in the cache" if file is not None else "the file"
            raise GanevalError(f"{message} ({kept} was not kept and its hash not recorded)") from None
        raise GanevalError(message) from None
    if ref.mode != entry.mode:
        raise GanevalError(f"{path}: read as mode {ref.mode}, but {entry.name} is registered as {entry.mode}")
    if ref.count is None and entry.count is not None:
        ref.count = entry.count
        ref.provenance["count_source"] = entry.count_source
    ref.provenance.update(reference_name=entry.name, url=entry.url, file_sha256=digest)
    return ref


def get_reference(name_or_entry, *, cache=None, mirror: str | None = None, file=None, count: int | None = None,
                  registry: Mapping[str, ReferenceEntry] | None = None, timeout: float = 60.0,
                  progress=None) -> Path:
    """Path of the ganeval stats file of a registry entry, downloading and converting as needed.

    The converted file ``<cache>/refs/<provider>/<set>.h5`` is reused while it was made
    from the same (hash-checked) source file with the same count; ``count`` overrides the
    documented image count.
    """
    entry = name_or_entry if isinstance(name_or_entry, ReferenceEntry) else lookup(name_or_entry, registry)
    ref = load_reference(entry, cache=cache, mirror=mirror, file=file, timeout=timeout, progress=progress)
    # Only now torch (through ganeval.core.stats): a wrong --file or a bad download is answered without it.
    from ganeval.io.reference_files import to_stats_file
    from ganeval.core.stats import load_stats

    _, _, converted = _paths(entry, cache)
    digest = ref.provenance["file_sha256"]
    wanted_count = count if count is not None else ref.count
    if converted.is_file() and wanted_count is not None:
        with contextlib.suppress(GanevalError):
            existing = load_stats(converted)  # validated; a damaged conversion is simply made again
            made_from = existing.provenance
            if (made_from.get("imported_file_sha256") == digest and made_from.get("reference_name") == entry.name
                    and existing.count == wanted_count):
                if _same_statistics(existing, ref, wanted_count):
                    return converted
                # Its attributes name our source, its numbers are not the source's: altered, never served.
                print(f"note: {escape_name(converted)}: the cached conversion does not hold the statistics of "
                      f"{entry.file_name} (sha256 {digest[:12]}...); converting it again", file=sys.stderr)
    return to_stats_file(ref, converted, count=count, name=entry.name, sha256=digest)


def _same_statistics(existing, ref, count: int) -> bool:
    """Whether a cached conversion holds exactly the statistics of ``ref`` (the hash-checked source
    file just read): every space's count, mu and sigma, bit for bit. Attributes can be copied; numbers
    that differ from the source's cannot pass."""
    from ganeval.io.reference_files import to_stats_set

    fresh = to_stats_set(ref, count=count)
    if set(existing.spaces) != set(fresh.spaces):
        return False
    return all(existing[space].count == fresh[space].count
               and np.array_equal(existing[space].mu, fresh[space].mu)
               and np.array_equal(existing[space].sigma, fresh[space].sigma) for space in fresh.spaces)


def entries(registry: Mapping[str, ReferenceEntry] | None = None) -> Iterable[ReferenceEntry]:
    return (REGISTRY if registry is None else registry).values()

