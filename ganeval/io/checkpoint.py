"""Resume checkpoints: the partial state of a long statistics run, written atomically.

A checkpoint (HDF5, next to the output: ``real.h5.partial``, or one file per rank
``real.h5.partial-rank3of8`` under a process group) holds

* one group per feature space (``/pool3``, ``/spatial``, ...) with ``count``, ``mean`` float64 [d],
  ``scatter`` float64 [d, d] (the exact accumulator state) and ``features`` float32 [count, d]
  when that space keeps its features;
* ``positions`` int64 [n] and ``digests`` uint8 [n, 32]: each item read so far (its position
  in the source and the sha256 of its content), for the source fingerprint;
* ``skipped_positions`` int64 and the attribute ``skipped_files`` (JSON): undecodable files;
* attributes ``batches_done`` (this rank's source batches consumed) and ``settings`` (JSON:
  extractor, weights, mode, precision, source identity, batch size, subset, rank/world).

Resuming restores all of this and continues at the next batch with the same batch
boundaries, so the final statistics are bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import torch

from ganeval.core.errors import GanevalError, one_line
from ganeval.io.atomic import atomic_write
from ganeval.io.h5safe import open_h5
from ganeval.io.names import escape_name

FORMAT_NAME = "ganeval-checkpoint"
FORMAT_VERSION = 2  # 1: one pool3 accumulator at the root (ganeval 0.1)


def checkpoint_path(base, rank: int = 0, world: int = 1) -> Path:
    """This rank's checkpoint file: ``base`` itself in a single process, ``base-rank{r}of{W}`` in a group."""
    base = Path(base)
    return base if world == 1 else base.with_name(f"{base.name}-rank{rank}of{world}")


def existing_checkpoints(base) -> dict[Path, int]:
    """Checkpoint files of ``base`` on disk, each with the world size that wrote it."""
    base = Path(base)
    found = {base: 1} if base.is_file() else {}
    if base.parent.is_dir():
        pattern = re.compile(re.escape(base.name) + r"-rank(\d+)of(\d+)$")
        for path in base.parent.iterdir():
            match = pattern.match(path.name)
            if match:
                found[path] = int(match.group(2))
    return found


def check_before_start(base, *, resume: bool, world: int) -> None:
    """Refuse to start when leftover checkpoints would be overwritten, or belong to another world size."""
    found = existing_checkpoints(base)
    if not found:
        return
    if not resume:
        first = sorted(found)[0]
        raise GanevalError(
            f"{first}: an interrupted run left this checkpoint; pass --resume (resume=True) to continue it, "
            "or delete it to start over"
        )
    other = sorted(p for p, w in found.items() if w != world)
    if other:
        raise GanevalError(
            f"{other[0]}: checkpoint of a run with {found[other[0]]} process(es), this run has {world}; "
            f"resume with the same number of processes, or delete the {Path(base).name}* checkpoints to start over"
        )


def open_checkpoint(base, stats, source, *, resume: bool, rank: int, world: int, run: dict) -> tuple[Path, dict]:
    """Check the checkpoint situation before a run and restore the state when resuming.

    Returns this rank's checkpoint path and the settings a checkpoint must match (the
    extractor's compatibility keys, the source identity, ``run`` and rank/world).
    """
    from ganeval.core.stats import COMPATIBILITY_KEYS

    if not source.shardable:
        raise GanevalError(f"{source.description}: checkpoints need a folder, zip or array source; "
                           "an iterable cannot be repositioned")
    own = checkpoint_path(base, rank, world)
    if not own.parent.is_dir():
        raise GanevalError(f"{own}: folder {own.parent} does not exist; create it first")
    check_before_start(base, resume=resume, world=world)
    settings = {f"{space}.{key}": space_stats.provenance.get(key)
                for space, space_stats in stats.spaces.items() for key in COMPATIBILITY_KEYS}
    settings.update(source.identity())
    settings.update(run, rank=rank, world=world)
    if resume and own.is_file():
        load_checkpoint(own, stats, source, settings)
    return own, settings


def save_checkpoint(path, stats, source, settings: dict) -> None:
    """Write the state of ``stats`` (StatsSet) and ``source`` (ImageSource) atomically to ``path``."""
    path = Path(path)
    try:
        _write_checkpoint(path, stats, source, settings)
    except (OSError, RuntimeError) as err:  # full disk, file size limit, read-only filesystem
        reason = getattr(err, "strerror", None) or one_line(err)
        raise GanevalError(f"{escape_name(path)}: could not write the checkpoint ({reason}); the run stopped and "
                           "the statistics were not saved; free space in its folder, or pass --checkpoint-every 0 "
                           "to run without checkpoints") from None


def _write_checkpoint(path: Path, stats, source, settings: dict) -> None:
    with atomic_write(path) as tmp_name:
        with h5py.File(tmp_name, "w") as h5:
            h5.attrs["format"] = FORMAT_NAME
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["settings"] = json.dumps(settings, sort_keys=True)
            h5.attrs["batches_done"] = int(source.batches_done)
            h5.attrs["images_read"] = int(source.images_read)
            h5.attrs["skipped_files"] = json.dumps(list(source.skipped))
            _write_state(h5, stats)
            for index, (label, class_set) in enumerate(sorted((stats.classes or {}).items())):
                group = h5.create_group(f"classes/{index:05d}")
                group.attrs["label"] = json.dumps(label)
                _write_state(group, class_set)
            h5.create_dataset("positions", data=np.asarray(source.positions, dtype=np.int64))
            h5.create_dataset("digests", data=np.frombuffer(b"".join(source.digests), np.uint8).reshape(-1, 32))
            h5.create_dataset("skipped_positions", data=np.asarray(source.skipped_positions, dtype=np.int64))
            h5.flush()


def load_checkpoint(path, stats, source, settings: dict) -> None:
    """Restore ``stats`` (a StatsSet) and ``source`` from ``path`` after checking that ``settings``
    match and that every array fits (a damaged or hand-edited checkpoint is one line)."""
    path = Path(path)
    try:
        with open_h5(path) as h5:
            if h5.attrs.get("format") != FORMAT_NAME:
                raise GanevalError(f"{escape_name(path)}: not a ganeval checkpoint; delete it to start over")
            if h5.attrs.get("format_version") != FORMAT_VERSION:
                raise GanevalError(f"{escape_name(path)}: checkpoint of another ganeval version; "
                                   "delete it to start over")
            saved = json.loads(h5.attrs["settings"])
            _check_settings(path, saved, settings)
            positions = h5["positions"][()].tolist()
            digests = [bytes(row) for row in h5["digests"][()]]
            skipped_positions = h5["skipped_positions"][()].tolist()
            skipped = json.loads(h5.attrs["skipped_files"])
            batches_done = int(h5.attrs["batches_done"])
            images_read = int(h5.attrs["images_read"])
            class_groups, labels = _class_groups(h5, path)
            parts = [(stats, h5)] + [(stats.class_set(label), group) for label, group in zip(labels, class_groups)]
            states = [(target, _read_state(node, target)) for target, node in parts]
    except GanevalError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as err:
        reason = one_line(err)
        raise GanevalError(f"{escape_name(path)}: unreadable checkpoint ({reason}); delete it to start over") from None
    for target, state in states:
        for space, (count, mean, scatter, features) in state.items():
            _check_state(path, count, mean, scatter, features, positions, digests, images_read,
                         target.spaces[space].dim)
    device = _stats_device(stats)
    for target, state in states:
        for space, (count, mean, scatter, features) in state.items():
            if count:
                space_stats = target.spaces[space]
                space_stats.count = count
                space_stats._mean = torch.from_numpy(mean).to(device)
                space_stats._scatter = torch.from_numpy(scatter).to(device)
                if space_stats.keep_features:
                    space_stats._features = [features]
    source.positions, source.digests = positions, digests
    source.skipped, source.skipped_positions = skipped, skipped_positions
    source.batches_done, source.images_read = batches_done, images_read


def _class_groups(h5, path) -> tuple[list, list]:
    """The per-class groups of a checkpoint and their labels; two groups with one label are refused
    (restoring both into one class would silently merge or drop one)."""
    class_groups = list(h5["classes"].values()) if "classes" in h5 else []
    labels = [json.loads(group.attrs["label"]) for group in class_groups]
    if len(set(map(str, labels))) != len(labels):
        raise GanevalError(f"{escape_name(path)}: two class groups have the same label (damaged or edited); "
                           "delete it to start over")
    return class_groups, labels


def _write_state(node, stats) -> None:
    """The accumulator state of every space of ``stats`` (a StatsSet) into groups of ``node``."""
    for space, space_stats in stats.spaces.items():
        group = node.create_group(space)
        group.create_dataset("count", data=np.int64(space_stats.count))
        if space_stats.count:
            group.create_dataset("mean", data=space_stats._mean.cpu().numpy())
            group.create_dataset("scatter", data=space_stats._scatter.cpu().numpy())
            if space_stats.keep_features:
                group.create_dataset("features", data=space_stats.features)


def _read_state(node, stats) -> dict:
    """What :func:`_write_state` wrote for each space of ``stats``: {space: (count, mean, scatter, features)}."""
    state = {}
    for space in stats.spaces:
        group = node[space]
        count = int(group["count"][()])
        state[space] = (count, group["mean"][()] if count else None, group["scatter"][()] if count else None,
                        group["features"][()] if "features" in group else None)
    return state


def _check_state(path: Path, count, mean, scatter, features, positions, digests, images_read, dim) -> None:
    """Refuse a checkpoint whose arrays do not fit together (damaged, or edited by hand)."""
    d = mean.shape[0] if count and getattr(mean, "ndim", 0) == 1 else None
    problems = []
    if count < 0 or len(positions) != len(digests) or images_read < count:
        problems.append(f"count {count}, {len(positions)} positions, {len(digests)} digests")
    if count and (d is None or getattr(scatter, "shape", None) != (d, d) or (dim is not None and d != dim)):
        problems.append(f"mean {getattr(mean, 'shape', None)}, scatter {getattr(scatter, 'shape', None)}")
    elif count and not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scatter))):
        problems.append("NaN or infinity in the sums")
    if features is not None and count and getattr(features, "shape", None) != (count, d):
        problems.append(f"features {getattr(features, 'shape', None)}")
    if problems:
        raise GanevalError(f"{escape_name(path)}: damaged checkpoint ({'; '.join(problems)}); delete it to start over")


def checkpoint_count(path) -> int:
    """Images already accumulated in a checkpoint (for messages); one-line error when it is unreadable.

    Only shapes are read, nothing large: a damaged file is refused before "resuming"."""
    try:
        with open_h5(path) as h5:
            counts = []
            for name, group in h5.items():
                if not isinstance(group, h5py.Group) or name == "classes":
                    continue
                count = int(group["count"][()])
                if count:
                    d = group["mean"].shape[0] if len(group["mean"].shape) == 1 else None
                    shapes_fit = (d is not None and group["scatter"].shape == (d, d)
                                  and h5["positions"].shape[:1] == h5["digests"].shape[:1]
                                  and ("features" not in group or group["features"].shape == (count, d)))
                    if not shapes_fit:
                        raise GanevalError(f"{escape_name(path)}: damaged checkpoint ({name}: mean "
                                           f"{group['mean'].shape}, scatter {group['scatter'].shape}); "
                                           "delete it to start over")
                counts.append(count)
            if not counts:
                raise KeyError("no feature space groups")
            _class_groups(h5, path)
            return max(counts)
    except GanevalError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        reason = one_line(err)
        raise GanevalError(f"{escape_name(path)}: unreadable checkpoint ({reason}); delete it to start over") from None


def _stats_device(stats) -> torch.device:
    extractor = stats.extractor
    return torch.device(getattr(extractor, "device", "cpu")) if extractor is not None else torch.device("cpu")


def _check_settings(path: Path, saved: dict, current: dict) -> None:
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise GanevalError(
                f"{path}: checkpoint was made with {key}={saved.get(key)!r}, this run has {current.get(key)!r}; "
                "resume with the same settings and source, or delete the checkpoint to start over"
            )


def remove_checkpoints(base) -> None:
    """Delete every checkpoint file of ``base`` (all ranks' when on a shared folder)."""
    for path in existing_checkpoints(base):
        path.unlink(missing_ok=True)
