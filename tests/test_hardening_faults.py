"""Issue 10: faults from outside (a killed decoding worker, Ctrl-C at start-up, torchrun) and the
ONNX graph cache, which must prove it holds our network before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _hardening import REPO, assert_one_error, write_pngs

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

ENV = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def _children(pid: int) -> list[int]:
    """Forked children of ``pid`` running ganeval itself (DataLoader workers keep the parent's command
    line), not the short-lived helpers start-up may spawn (e.g. ldconfig for a library look-up)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                if b"ganeval" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
            except OSError:
                pass
    return found


def test_killed_decoding_worker_is_one_line(tmp_path):
    # 200 images: the worker lives for seconds; every forked ganeval child seen is killed, as the
    # out-of-memory killer does, so the test does not depend on which child shows up first.
    write_pngs(tmp_path / "src", 200, size=16)
    run = subprocess.Popen([sys.executable, "-m", "ganeval", "stats", str(tmp_path / "src"), "-o",
                            str(tmp_path / "s.h5"), "--workers", "1", "--batch-size", "2", "--device", "cpu"],
                           env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    killed: list[int] = []
    while time.monotonic() < deadline and run.poll() is None:
        for child in _children(run.pid):
            if child not in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
                killed.append(child)
        time.sleep(0.05)
    _, err = run.communicate(timeout=240)
    assert killed, err
    assert_one_error(run.returncode, err, "decoding worker process died")
    assert any(str(pid) in err for pid in killed), (killed, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize("delay", [0.4, 2.0])
def test_ctrl_c_during_start_up(tmp_path, delay):
    # 200 images: seconds of work, so that the signal lands before the run could end on a fast machine.
    np.save(tmp_path / "x.npy", np.zeros((200, 8, 8, 3), np.uint8))
    run = subprocess.Popen([sys.executable, "-m", "ganeval", "stats", str(tmp_path / "x.npy"), "-o",
                            str(tmp_path / "s.h5"), "--device", "cpu"], env=ENV, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines() == ["ganeval: interrupted"], err
    assert not (tmp_path / "s.h5").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(args, timeout=240):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               "-m", "ganeval", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def test_torchrun_refusal_is_printed_once(tmp_path):
    """Refused on the command line (before the group forms) and after it formed (a live owner of the output)."""
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8, 3), np.uint8))
    done = _torchrun(["stats", str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.npy"), "--device", "cpu"])
    errors = [line for line in done.stderr.splitlines() if "ganeval: error:" in line]
    assert done.returncode != 0 and len(errors) == 1 and "same file" in errors[0], done.stderr

    output = tmp_path / "s.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ganeval.io.outputs import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(300)\n", str(output)],
        env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = _torchrun(["stats", str(tmp_path / "x.npy"), "-o", str(output), "--device", "cpu"])
    finally:
        holder.kill()
        holder.wait()
    errors = [line for line in done.stderr.splitlines() if "ganeval: error:" in line]
    assert done.returncode != 0 and len(errors) == 1 and f"pid {holder.pid}" in errors[0], done.stderr
    assert not output.exists()


def test_a_refusal_of_one_non_zero_rank_alone_is_printed_by_that_rank(monkeypatch, capsys):
    """Before the group forms a non-zero rank waits for rank 0 (which, failing too, prints the line while
    torchrun stops this rank); still running after the wait, it met a refusal of its own and prints it."""
    import ganeval.cli.commands as cli
    from ganeval.core.errors import GanevalError

    monkeypatch.setattr(cli, "RANK0_GRACE_SECONDS", 0.2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        cli.run_click(_refusing_group(GanevalError("/data/rank1.ckpt: damaged")), "ganeval", [])
    assert exit_info.value.code == 1 and time.monotonic() - start >= 0.2
    assert capsys.readouterr().err.splitlines() == ["ganeval: error: rank 1 of 2: /data/rank1.ckpt: damaged"]
    # A refusal rank 0 prints (every rank met it after the group formed): this rank stays silent.
    shared = GanevalError("the same on every rank")
    shared.printed_by_rank0 = True
    with pytest.raises(SystemExit):
        cli.run_click(_refusing_group(shared), "ganeval", [])
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit):
        cli.run_click(_refusing_group(GanevalError("rank 0's own")), "ganeval", [])
    assert capsys.readouterr().err.splitlines() == ["ganeval: error: rank 0's own"]


def _refusing_group(error):
    import click

    @click.group(invoke_without_command=True)
    def group():
        raise error

    return group


# ------------------------------------------------------------------ the ONNX graph cache


def test_cache_record_is_checked_on_every_load(tmp_path, capfd):
    from ganeval.extractors.onnx_backend import _read_cached, _write_cache, cache_key, cache_path, sidecar_path

    key = cache_key("ab" * 32, ("features",))
    path = tmp_path / "g.onnx"
    _write_cache(path, b"graph bytes", key)
    assert json.loads(sidecar_path(path).read_text()) == {"key": key,
                                                          "sha256": hashlib.sha256(b"graph bytes").hexdigest()}
    assert _read_cached(path, key) == b"graph bytes" and capfd.readouterr().err == ""
    for other, problem in [({**key, "onnx": "0.0.1"}, "other settings"), ({**key, "outputs": ["a", "b"]},
                                                                            "other settings")]:
        assert _read_cached(path, other) is None
        assert problem in capfd.readouterr().err
    path.write_bytes(b"another graph")
    assert _read_cached(path, key) is None
    assert capfd.readouterr().err.strip().splitlines() == [
        f"note: cached ONNX graph {path} does not match the sha256 recorded at export; exporting it again"]
    sidecar_path(path).unlink()
    assert _read_cached(path, key) is None and "no readable record" in capfd.readouterr().err
    # Every setting that shapes the graph names a different file.
    names = {cache_path(k).name for k in (key, {**key, "ganeval": "9"}, {**key, "torch": "9"}, {**key, "opset": 9},
                                          {**key, "network_digest": "cd" * 32}, {**key, "network": "dinov2-vitl14"},
                                          {**key, "input_shape": [3, 224, 224]}, {**key, "variant": "size"})}
    assert len(names) == 8
    assert cache_path(cache_key("ab" * 32, ("dinov2",), name="dinov2-vitl14")).name.startswith("dinov2-vitl14-abab")


class _Pool(torch.nn.Module):
    """A small stand-in for the network ([N, 3, 299, 299] -> [N, 2048]), so that export takes a moment."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return ((x.mean(dim=(2, 3)) * self.scale).repeat(1, 683)[:, :2048],)  # a graph: one tensor per output


def _onnx_bytes(network) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.onnx.export(network, (torch.zeros(1, 3, 299, 299),), buffer, dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["pool3"],
                      dynamic_axes={"images": {0: "batch"}, "pool3": {0: "batch"}})
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("forged_record", ["none", "older ganeval", "right key, other sha256"])
def test_a_different_valid_graph_in_the_cache_is_never_used(tmp_path, monkeypatch, capfd, forged_record):
    """A foreign graph with our inputs/outputs under our cache file name is replaced by a fresh export."""
    from ganeval.extractors.onnx_backend import OnnxRuntimeNetwork, cache_key, cache_path, sidecar_path

    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path))
    ours, foreign, digest = _Pool(2.0), _Pool(-5.0), "ef" * 32
    key = cache_key(digest, ("pool3",))
    cached = cache_path(key)
    cached.parent.mkdir(parents=True)
    foreign_graph = _onnx_bytes(foreign)
    cached.write_bytes(foreign_graph)
    if forged_record == "older ganeval":
        sidecar_path(cached).write_text(json.dumps({"key": {**key, "ganeval": "0.0.9"},
                                                    "sha256": hashlib.sha256(foreign_graph).hexdigest()}))
    elif forged_record == "right key, other sha256":
        sidecar_path(cached).write_text(json.dumps({"key": key, "sha256": "0" * 64}))
    capfd.readouterr()
    network = OnnxRuntimeNetwork(ours, digest)
    notes = capfd.readouterr().err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith(f"note: cached ONNX graph {cached} ") and \
        notes[0].endswith("; exporting it again"), notes
    x = torch.rand(2, 3, 299, 299)
    assert torch.allclose(network(x)[0], ours(x)[0].detach(), atol=1e-5)
    assert json.loads(sidecar_path(cached).read_text()) == {"key": key,
                                                            "sha256": hashlib.sha256(cached.read_bytes()).hexdigest()}
    capfd.readouterr()
    OnnxRuntimeNetwork(ours, digest)  # now vouched for: used silently
    assert capfd.readouterr().err == ""
