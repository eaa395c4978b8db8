"""Running under torch.distributed: the process group, rank helpers, and the exact reduction.

ganeval joins a process group in one of two ways:

* one already initialised by the caller (e.g. inside a DDP training loop) is used as it is
  and never destroyed;
* otherwise, when ``torchrun`` (or anything else) has set ``WORLD_SIZE`` > 1 together with
  ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, one is created from the environment: NCCL
  when the work runs on CUDA (each process on ``cuda:LOCAL_RANK``), gloo on the CPU. It is
  destroyed when the process exits.

Reduction: every rank sends its count, float64 mean [d] and scatter [d, d] to every other
(one broadcast per rank, so memory stays O(d²) however many ranks), and every rank folds
them in rank order on the CPU with the same Chan update that folds batches, so all ranks
hold bit-identical results. Per-item digests, skipped files and (optionally) features are
gathered with their global positions and put back in source order, which makes the
source fingerprint and the stored features equal to a single-process run's.
"""

from __future__ import annotations

import atexit
import os
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist

from ganeval.core.errors import GanevalError

_ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def env_world_size() -> int:
    """WORLD_SIZE from the environment (1 when unset)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise GanevalError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number; launch with torchrun") from None


def local_rank() -> int:
    """LOCAL_RANK from the environment (the GPU index on this node), else 0."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_active() -> bool:
    """True when this process is in an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """Number of processes in the group (1 without a process group)."""
    return dist.get_world_size() if is_active() else 1


def is_main_process() -> bool:
    """True on rank 0, and in a single process: the one that writes files and prints results."""
    return rank() == 0


def resolve_device(device=None) -> str | None:
    """The device this rank should use: ``None``/``"cuda"`` become ``cuda:LOCAL_RANK`` in a group
    on a machine with GPUs (a bare ``"cuda"`` would put every rank on GPU 0); others are kept."""
    if not is_active() and env_world_size() <= 1:
        return device
    if (device is None and torch.cuda.is_available()) or str(device) == "cuda":
        index = local_rank() if "LOCAL_RANK" in os.environ else torch.cuda.current_device()
        return f"cuda:{index}"
    return device


def init_from_env(device=None) -> bool:
    """Join the process group described by the environment, unless one is already initialised.

    Returns True when a group of more than one process is in use afterwards. ``device`` is the
    device the features will be computed on (None: cuda when present): NCCL for CUDA, gloo else.
    """
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if env_world_size() <= 1:
        return False
    missing = [key for key in _ENV_KEYS if key not in os.environ]
    if missing:
        raise GanevalError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} "
                           "not set; launch with torchrun (or set all of RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)")
    device = torch.device(resolve_device(device) or "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    atexit.register(_destroy_own_group)
    return dist.get_world_size() > 1


def _destroy_own_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """Where collective tensors must live: the CPU for gloo (also in mixed backends), else this GPU."""
    backend = str(dist.get_backend())
    if "gloo" in backend or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def any_rank_failed(error: BaseException | None) -> None:
    """Collective check: raise on every rank when any rank passes an error (avoids ranks waiting
    forever in a later collective). The failing rank re-raises its own error."""
    if not is_active():
        if error is not None:
            raise error
        return
    flags = torch.zeros(world_size(), dtype=torch.int64, device=_comm_device())
    flags[rank()] = 1 if error is not None else 0
    dist.all_reduce(flags)
    failed = [r for r in range(world_size()) if flags[r]]
    if not failed:
        return
    # The same refusal on every rank is printed once, by rank 0 (the CLI skips errors marked so).
    messages = all_gather_strings([str(error) if error is not None else ""])
    if error is None:
        error = GanevalError(f"rank(s) {', '.join(map(str, failed))} failed (see their messages); stopping")
        if rank() != 0 and 0 in failed:
            error.printed_by_rank0 = True
    elif rank() != 0 and messages[0] == messages[rank()]:
        error.printed_by_rank0 = True
    raise error


def all_gather_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Every rank's array (same dtype and trailing shape, any number of rows), in rank order."""
    array = np.ascontiguousarray(array)
    device = _comm_device()
    rows = torch.tensor([array.shape[0]], dtype=torch.int64, device=device)
    all_rows = [torch.zeros_like(rows) for _ in range(world_size())]
    dist.all_gather(all_rows, rows)
    all_rows = [int(r.item()) for r in all_rows]
    longest = max(max(all_rows), 1)  # no zero-size collectives
    padded = np.zeros((longest, *array.shape[1:]), dtype=array.dtype)
    padded[:array.shape[0]] = array
    mine = torch.from_numpy(padded).to(device)
    gathered = [torch.empty_like(mine) for _ in range(world_size())]
    dist.all_gather(gathered, mine)
    return [g[:n].cpu().numpy() for g, n in zip(gathered, all_rows)]


def all_gather_strings(strings: Sequence[str]) -> list[list[str]]:
    """Every rank's list of strings, in rank order (UTF-8 through byte arrays)."""
    encoded = "\n".join(strings).encode() if strings else b""
    parts = all_gather_arrays(np.frombuffer(encoded, dtype=np.uint8).copy())
    return [part.tobytes().decode().split("\n") if part.size else [] for part in parts]


def _fold_moments(stats):
    """A new FeatureStats holding every rank's count/mean/scatter folded in rank order (no features)."""
    from ganeval.core.stats import FeatureStats

    device = _comm_device()
    dims = torch.tensor([stats.dim or 0], dtype=torch.int64, device=device)
    dist.all_reduce(dims, op=dist.ReduceOp.MAX)
    dim = int(dims.item())
    combined = FeatureStats(dim, provenance=dict(stats.provenance), keep_features=stats.keep_features)
    combined.extractor = stats.extractor
    for src in range(world_size()):
        # One rank at a time: memory stays one d×d buffer, and every rank folds the same numbers in the same order.
        count = torch.tensor([stats.count if src == rank() else 0], dtype=torch.int64, device=device)
        dist.broadcast(count, src)
        n = int(count.item())
        if n == 0:
            continue
        if src == rank():
            mean, scatter = stats._mean.to(device), stats._scatter.to(device)
        else:
            mean = torch.empty(dim, dtype=torch.float64, device=device)
            scatter = torch.empty(dim, dim, dtype=torch.float64, device=device)
        dist.broadcast(mean, src)
        dist.broadcast(scatter, src)
        combined._fold(n, mean.cpu(), scatter.cpu())
    return combined


def combine_stats(stats):
    """Every rank's FeatureStats combined (exact parallel update, rank order), the same on every rank.

    For statistics accumulated by hand on each rank, e.g. by a training-loop callback in which
    each rank scores its own samples. Kept features are concatenated in rank order. All ranks
    must call it; without a process group ``stats`` is returned as it is.
    """
    if not is_active():
        return stats
    combined = _fold_moments(stats)
    if stats.keep_features:
        own = stats.features if stats.count else np.zeros((0, combined.dim), np.float32)
        combined._features = [np.concatenate(all_gather_arrays(own.astype(np.float32)))]
    return combined


def reduce_stats(stats, source):
    """Combine this rank's StatsSet and what its source read with every other rank's.

    ``stats``: this rank's StatsSet (float64 moments per feature space, features when kept);
    ``source``: this rank's ImageSource (digests, positions, skipped files). Returns ``(combined
    StatsSet, fingerprint, skipped file names)``, identical on every rank. Shardable sources are
    put back in global position order; iterables (each rank its own images) in rank order.
    """
    from ganeval.io.sources import combine_digests
    from ganeval.core.stats import StatsSet

    shardable = bool(source.shardable)
    offsets = None
    positions = np.asarray(source.positions, dtype=np.int64)
    digests = np.frombuffer(b"".join(source.digests), dtype=np.uint8).reshape(-1, 32)
    all_positions = all_gather_arrays(positions)
    all_digests = all_gather_arrays(digests)
    if not shardable:  # each rank's own images: order by (rank, local position)
        offsets = np.cumsum([0] + [len(p) for p in all_positions[:-1]])
        all_positions = [p + o for p, o in zip(all_positions, offsets)]
    flat_positions = np.concatenate(all_positions)
    flat_digests = [bytes(row) for row in np.concatenate(all_digests)]
    fingerprint = combine_digests(flat_positions.tolist(), flat_digests)

    skipped_names = all_gather_strings(source.skipped)
    skipped_positions = all_gather_arrays(np.asarray(source.skipped_positions, dtype=np.int64))
    if not shardable:
        skipped_positions = [p + o for p, o in zip(skipped_positions, offsets)]
    pairs = sorted(zip(np.concatenate(skipped_positions).tolist(), sum(skipped_names, [])), key=lambda t: t[0])
    skipped = [name for _, name in pairs]

    spaces = {}
    for space, space_stats in stats.spaces.items():  # the same order on every rank
        combined = spaces[space] = _fold_moments(space_stats)
        if space_stats.keep_features:
            features = space_stats.features if space_stats.count else np.zeros((0, combined.dim), np.float32)
            kept = np.setdiff1d(positions, np.asarray(source.skipped_positions, dtype=np.int64), assume_unique=True)
            all_features = all_gather_arrays(features.astype(np.float32))
            all_kept = all_gather_arrays(kept.astype(np.int64))
            if not shardable:
                all_kept = [k + o for k, o in zip(all_kept, offsets)]
            order = np.argsort(np.concatenate(all_kept), kind="stable")
            combined._features = [np.concatenate(all_features)[order]]
    classes = None
    if stats.classes is not None:  # every class any rank saw, in sorted order on every rank
        classes = {}
        for label in sorted(set(sum(all_gather_strings(sorted(stats.classes)), []))):
            own = stats.class_set(label)  # empty on ranks that saw none of this class
            classes[label] = StatsSet({space: _fold_moments(part) for space, part in own.spaces.items()},
                                      dict(own.shared))
    return StatsSet(spaces, dict(stats.shared), extractor=stats.extractor, classes=classes), fingerprint, skipped
