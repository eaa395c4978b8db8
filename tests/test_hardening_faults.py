"""Issue 10: faults from outside (a killed decoding worker, Ctrl-C at start-up, torchrun) and the
ONNX graph cache, which must prove it holds our network before it is used.
"""

from __future__ import annotations

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

ENV = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def test_killed_decoding_worker_is_one_line(tmp_path):
    write_pngs(tmp_path / "src", 40, size=16)
    run = subprocess.Popen([sys.executable, "-m", "ganeval", "stats", str(tmp_path / "src"), "-o",
                            str(tmp_path / "s.h5"), "--workers", "1", "--batch-size", "2", "--device", "cpu"],
                           env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    killed = None
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        children = _children(run.pid)
        if children:
            killed = children[0]
            os.kill(killed, signal.SIGKILL)  # as the out-of-memory killer does
        time.sleep(0.05)
    _, err = run.communicate(timeout=240)
    assert killed is not None, err
    assert_one_error(run.returncode, err, "decoding worker process died", str(killed))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize("delay", [0.4, 2.0])
def test_ctrl_c_during_start_up(tmp_path, delay):
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8, 3), np.uint8))
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
                                          {**key, "network_digest": "cd" * 32})}
    assert len(names) == 5


class _OtherNetwork(torch.nn.Module):
    """A valid graph with the same inputs and outputs as ours, and wrong features."""

    def forward(self, x):
        return x.mean(dim=(2, 3)).repeat(1, 683)[:, :2048]


def test_a_different_valid_graph_in_the_cache_is_replaced(tmp_path, monkeypatch, capfd):
    import io

    from ganeval.extractors.inception_extractor import InceptionExtractor
    from ganeval.extractors.onnx_backend import sidecar_path

    from ganeval.extractors.weights import resolve_weights

    monkeypatch.setenv("GANEVAL_WEIGHTS", str(resolve_weights().path))
    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path))
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    reference = InceptionExtractor(device="cpu", backend="torch")(images)
    first = InceptionExtractor(device="cpu", backend="onnxruntime")
    cached = first._forward.cache_path
    assert cached.is_file() and sidecar_path(cached).is_file()
    buffer = io.BytesIO()
    torch.onnx.export(_OtherNetwork(), (torch.zeros(1, 3, 299, 299),), buffer, dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["features"],
                      dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
    cached.write_bytes(buffer.getvalue())  # a stale or foreign graph under our file name
    capfd.readouterr()
    again = InceptionExtractor(device="cpu", backend="onnxruntime")
    assert "exporting it again" in capfd.readouterr().err
    assert (again(images) - reference).abs().max().item() <= 1e-3
    assert cached.read_bytes() != buffer.getvalue()
