"""Multi-process statistics (a real 2-process gloo group on loopback) and resumable runs.

Reference: the same sources computed in this single process. Features of an image are
bit-identical across batch compositions on this CPU but not across thread counts (1 vs 2
threads differ by ~2e-6), so the reference runs with one thread, as each rank (and torchrun,
which sets OMP_NUM_THREADS=1) does. Ranks read whole batches of the same composition as the
single process, so each image's features are bit-identical (checked), and mu/sigma differ only
by the order in which float64 partial sums are folded: the 1e-10 relative bound applies.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

import ganeval
from ganeval.cli.commands import main
from ganeval.cli.demo import lfw_photographs
from ganeval.api.distributed import combine_stats
from ganeval.io.checkpoint import checkpoint_count

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

BATCH = 5
N_GOOD = 23  # + 1 undecodable file: 24 entries, 5 global batches (5, 5, 5, 5, 4), odd count
EXACT = 1e-10  # relative bound when every image's features are bit-identical
FID_REL = 1e-6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def generated(rank: int, photos: np.ndarray):
    """What 'rank' generates in the generator scenario: 5 images in chunks of 3 and 2, float [0, 1]."""
    own = torch.from_numpy(photos[100 + 5 * rank: 105 + 5 * rank]).float().div(255)[:, None].expand(-1, 3, -1, -1)

    def generate():
        yield own[:3]
        yield own[3:]
    return generate


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A folder of 23 real photographs + 1 corrupt PNG, a .npy of 3 others, and single-process references."""
    root = tmp_path_factory.mktemp("dist")
    photos = lfw_photographs()
    folder = root / "images"
    folder.mkdir()
    order = np.stack([np.arange(100), np.arange(100, 200)], axis=1).reshape(-1)[:N_GOOD]
    for i, index in enumerate(order):
        Image.fromarray(photos[index]).save(folder / f"{i + (i >= 11):03d}.png")
    (folder / "011.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # global position 11, in batch 2
    np.save(root / "small.npy", photos[[150, 151, 152]])
    options = dict(batch_size=BATCH, workers=0, skip_bad=True, device="cpu")
    with one_thread():
        ref = {
            "folder": ganeval.compute_stats(str(folder), save_features=True, **options),
            "small": ganeval.compute_stats(str(root / "small.npy"), batch_size=4, device="cpu"),
            # Ranks generate 5 and then 4 images (max_images=9 shared); one batch each, as here.
            "generated": ganeval.compute_stats(
                torch.cat([*generated(0, photos)(), *generated(1, photos)()])[:9], batch_size=5, device="cpu"),
        }
    ref["folder"].save(root / "folder_ref.h5")
    ref["small"].save(root / "small_ref.h5")
    return root, folder, ref


def hand_features(rank: int) -> np.ndarray:
    """Rank's own feature vectors for the combine_stats check: float32 [7 + 3·rank, 16], offset 100."""
    return (np.random.default_rng(rank).normal(size=(7 + 3 * rank, 16)) + 100).astype(np.float32)


def _worker(rank: int, world: int, port: int, root: str, results: str) -> None:
    """One rank: joins a gloo group itself (as a DDP training script would) and runs the scenarios."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    root = Path(root)
    photos = lfw_photographs()
    out = {}

    def keep(name, stats):
        out[name] = dict(count=stats.count, mu=stats.mu, sigma=stats.sigma, features=stats.features,
                         fingerprint=stats.provenance["source_fingerprint"],
                         skipped=stats.provenance["skipped_files"])

    options = dict(batch_size=BATCH, workers=0, skip_bad=True, device="cpu")
    keep("folder", ganeval.compute_stats(str(root / "images"), save_features=True, **options))
    keep("small", ganeval.compute_stats(str(root / "small.npy"), batch_size=4, device="cpu"))  # rank 1: nothing
    keep("generated", ganeval.compute_stats(generated(rank, photos), batch_size=5, max_images=9, device="cpu"))

    # Interrupted after 2 batches on each rank (checkpoint after every batch), then resumed.
    class Stop(Exception):
        pass

    seen = []

    def stop_after_two(n):
        seen.append(n)
        if len(seen) == 2:
            raise Stop
    with contextlib.suppress(Stop):
        ganeval.compute_stats(str(root / "images"), save_features=True, progress=stop_after_two,
                              checkpoint=root / "run.partial", checkpoint_every=1, **options)
    out["partial_files"] = sorted(p.name for p in root.glob("run.partial*"))
    dist.barrier()
    keep("resumed", ganeval.compute_stats(str(root / "images"), save_features=True, checkpoint=root / "run.partial",
                                          checkpoint_every=1, resume=True, **options))
    dist.barrier()
    out["partial_files_after"] = sorted(p.name for p in root.glob("run.partial*"))

    # The CLI `fid` under the group: every rank computes, only rank 0 prints.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exit_info:
        main(["fid", str(root / "folder_ref.h5"), str(root / "small.npy"),
              "--batch-size", "4", "--device", "cpu", "-q"])
    out["fid_exit"], out["fid_stdout"] = exit_info.value.code, printed.getvalue()
    # combine_stats: hand-accumulated statistics (as a training-loop callback keeps), 7 and 10 rows.
    own = hand_features(rank)
    by_hand = ganeval.FeatureStats(keep_features=True)
    by_hand.add_features(own[:4])
    by_hand.add_features(own[4:])
    combined = combine_stats(by_hand)
    out["combined"] = dict(count=combined.count, mu=combined.mu, sigma=combined.sigma, features=combined.features)
    out["still_initialised"] = dist.is_initialized()  # ganeval must not destroy the caller's group
    with open(Path(results) / f"rank{rank}.pkl", "wb") as handle:
        pickle.dump(out, handle)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(data, tmp_path_factory):
    root, _, _ = data
    results = tmp_path_factory.mktemp("results")
    mp.spawn(_worker, args=(2, free_port(), str(root), str(results)), nprocs=2, join=True)
    return [pickle.loads((results / f"rank{r}.pkl").read_bytes()) for r in range(2)]


def rel_diff(a, b) -> float:
    """max |a − b| / max |b|: the relative difference used for the bounds."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def assert_matches(got: dict, ref, bound=EXACT):
    assert got["count"] == ref.count
    assert rel_diff(got["mu"], ref.mu) <= bound
    assert rel_diff(got["sigma"], ref.sigma) <= bound
    assert got["fingerprint"] == ref.provenance["source_fingerprint"]


@pytest.mark.parametrize("name", ["folder", "small", "generated"])
def test_two_ranks_match_single_process(two_ranks, data, name):
    _, _, ref = data
    for rank_result in two_ranks:
        assert_matches(rank_result[name], ref[name])
    # Every rank holds the same combined result, bit for bit.
    assert np.array_equal(two_ranks[0][name]["sigma"], two_ranks[1][name]["sigma"])


def test_features_and_skipped_files_come_back_in_source_order(two_ranks, data):
    _, folder, ref = data
    got = two_ranks[0]["folder"]
    assert got["count"] == N_GOOD and got["skipped"] == [str(folder / "011.png")]
    # Bit-identical per-image features: what makes the 1e-10 bound (not 1e-6) the one that holds.
    assert np.array_equal(got["features"], ref["folder"].features)
    # And mu/sigma against a plain float64 formula over those features.
    feats = ref["folder"].features.astype(np.float64)
    assert rel_diff(got["mu"], feats.mean(axis=0)) <= EXACT
    assert rel_diff(got["sigma"], np.cov(feats, rowvar=False)) <= EXACT


def test_fid_of_multi_process_stats(two_ranks, data):
    _, _, ref = data
    single = ganeval.fid_from_stats(ref["folder"], ref["small"])
    multi = ganeval.frechet_distance(two_ranks[0]["folder"]["mu"], two_ranks[0]["folder"]["sigma"],
                                     two_ranks[0]["small"]["mu"], two_ranks[0]["small"]["sigma"])
    assert abs(multi - single) <= FID_REL * single
    assert two_ranks[0]["fid_exit"] == two_ranks[1]["fid_exit"] == 0
    assert abs(float(two_ranks[0]["fid_stdout"]) - single) <= 1e-6 * single + 5e-7  # printed with 6 decimals
    assert two_ranks[1]["fid_stdout"] == ""  # only rank 0 prints
    assert two_ranks[0]["still_initialised"] and two_ranks[1]["still_initialised"]


def test_combine_stats_against_numpy(two_ranks):
    everything = np.concatenate([hand_features(0), hand_features(1)]).astype(np.float64)
    for result in two_ranks:
        got = result["combined"]
        assert got["count"] == 17
        assert rel_diff(got["mu"], everything.mean(axis=0)) <= 1e-12
        assert rel_diff(got["sigma"], np.cov(everything, rowvar=False)) <= 1e-12
        assert np.array_equal(got["features"], everything.astype(np.float32))


def test_resume_under_a_group_is_bit_identical(two_ranks):
    for result in two_ranks:
        assert result["partial_files"] == ["run.partial-rank0of2", "run.partial-rank1of2"]
        assert result["partial_files_after"] == []
        for key in ("mu", "sigma", "features"):
            assert np.array_equal(result["resumed"][key], result["folder"][key])
        assert result["resumed"]["fingerprint"] == result["folder"]["fingerprint"]


def test_torchrun_cli_matches_single_process(data, tmp_path):
    _, folder, ref = data
    output = tmp_path / "real.h5"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               "-m", "ganeval", "stats", str(folder), "-o", str(output),
               "--batch-size", str(BATCH), "--workers", "0", "--skip-bad", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.h5"]  # no checkpoints or temp files left
    assert done.stderr.count("real.h5: 23 images") == 1  # the summary comes from rank 0 only
    stats = ganeval.FeatureStats.load(output)
    with h5py.File(output) as h5:
        fingerprint = h5.attrs["source_fingerprint"]
    assert stats.count == ref["folder"].count
    assert rel_diff(stats.mu, ref["folder"].mu) <= EXACT and rel_diff(stats.sigma, ref["folder"].sigma) <= EXACT
    assert fingerprint == ref["folder"].provenance["source_fingerprint"]


def test_cli_resume_after_sigkill(data, tmp_path, capsys):
    _, folder, ref = data
    output = tmp_path / "real.h5"
    partial = tmp_path / "real.h5.partial"
    args = ["stats", str(folder), "-o", str(output), "--batch-size", str(BATCH), "--workers", "0", "--skip-bad",
            "--checkpoint-every", "1", "--device", "cpu", "-q"]
    run = subprocess.Popen([sys.executable, "-m", "ganeval", *args],
                           env=dict(os.environ, OMP_NUM_THREADS="1"), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not partial.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, run.stderr.read()
    assert not output.exists()
    done_before = checkpoint_count(partial)
    assert 0 < done_before < N_GOOD

    def cli(extra):
        with pytest.raises(SystemExit) as exit_info:
            main(args + extra)
        return exit_info.value.code, capsys.readouterr().err

    code, err = cli([])  # an existing checkpoint is not silently overwritten
    assert code == 1 and "pass --resume" in err and "real.h5.partial" in err
    code, err = cli(["--resume", "--batch-size", "4"])  # other settings: refused, one line
    assert code == 1 and "batch_size=5" in err and err.count("\n") == 1
    assert partial.exists() and not output.exists()
    with one_thread():
        code, err = cli(["--resume"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.h5"]  # checkpoint removed after writing
    resumed = ganeval.FeatureStats.load(output)
    assert resumed.count == ref["folder"].count
    assert np.array_equal(resumed.mu, ref["folder"].mu) and np.array_equal(resumed.sigma, ref["folder"].sigma)
    with h5py.File(output) as h5:
        assert h5.attrs["source_fingerprint"] == ref["folder"].provenance["source_fingerprint"]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_batches_partition_the_single_process_batches(world):
    from ganeval.io.sources import rank_batches

    for count in range(0, 31):
        for batch_size in range(1, 7):
            single = [list(r) for r in rank_batches(count, batch_size)]
            shares = [[list(r) for r in rank_batches(count, batch_size, rank, world)] for rank in range(world)]
            every_batch = sorted(b for share in shares for b in share)
            assert every_batch == single  # the same batches: none lost, none twice, same compositions
            assert sorted(i for b in every_batch for i in b) == list(range(count))


def test_checkpoint_refusals_before_any_work(data, tmp_path):
    _, folder, _ = data
    tensor = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ganeval.GanevalError, match="cannot be repositioned"):
        ganeval.compute_stats(tensor, checkpoint=tmp_path / "x.partial", device="cpu")
    (tmp_path / "x.partial-rank0of4").write_bytes(b"")
    with pytest.raises(ganeval.GanevalError, match=r"x.partial-rank0of4: checkpoint of a run with 4 process"):
        ganeval.compute_stats(str(folder), checkpoint=tmp_path / "x.partial", resume=True, device="cpu")
    with pytest.raises(ganeval.GanevalError, match="does not exist"):
        ganeval.compute_stats(str(folder), checkpoint=tmp_path / "no" / "x.partial", device="cpu")
