"""FIDCallback's progress bar on a real pseudo-terminal: it counts images (its batches are
(images, labels) pairs), ends at its total, and announces the network load once per process."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import ganeval
from ganeval_train.data import load_digits

ROOT = Path(__file__).resolve().parent.parent

# A small real generator (linear layer + tanh), sampled twice by FIDCallback in a fresh process.
CHILD = r"""
import json, sys, time
import torch
import ganeval

torch.manual_seed(0)
G = torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 16, 16)))
callback = ganeval.FIDCallback(sys.argv[1], generator=G, sample=lambda G, n: G(torch.randn(n, 8)),
                               value_range=(-1, 1), num_samples=10, every=1, batch_size=4)
seconds = []
for step in range(2):
    start = time.perf_counter()
    callback(step)
    seconds.append(time.perf_counter() - start)
with open(sys.argv[2], "w") as out:
    json.dump({"seconds": seconds, "fids": [record.fid for record in callback.history]}, out)
"""


@pytest.fixture(scope="module")
def real_stats_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("callback-bar") / "real.h5"
    ganeval.compute_stats(load_digits().images[:12], mode="tf1", workers=0).save(path)
    return path


def run_on_a_terminal(command: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``command`` with stdout and stderr on a new 100x24 pseudo-terminal; (exit code, all it wrote)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return child.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def final_state(shown: str, label: str) -> str:
    """The last state the terminal shows of the bar labelled ``label`` (tqdm redraws it after each \\r)."""
    states = [part for part in re.split(r"[\r\n]", shown) if part.startswith(f"{label}:")]
    assert states, f"no bar {label!r} in {shown!r}"
    return states[-1]


@pytest.mark.slow  # a fresh process loads torch and the real-weight network: ~20 s on the shared machine
def test_callback_bar_counts_images_reaches_its_total_and_loads_once(real_stats_file, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    code, shown = run_on_a_terminal([sys.executable, str(script), str(real_stats_file), "out.json"], tmp_path)
    assert code == 0, shown
    for step in (0, 1):
        state = final_state(shown, f"FID step {step}")
        count = re.search(r"(\d+)/(\d+) \[(\d\d:\d\d)<(\d\d:\d\d), *([\d.]+)(img/s|s/img)\]", state)
        assert count is not None, state
        assert (int(count[1]), int(count[2])) == (10, 10), state  # 10 images, not 3 batches x 2
        assert "100%" in state and count[4] == "00:00", state  # done: no time left
        # A true rate: 10 images over the bar's own elapsed time (tqdm rounds it to whole seconds).
        rate = float(count[5]) if count[6] == "img/s" else 1 / float(count[5])
        minutes, secs = map(int, count[3].split(":"))
        assert 10 / rate == pytest.approx(60 * minutes + secs, abs=1.0), state
        for batch_end in ("4/10", "8/10"):  # counted batch by batch, 4 images at a time
            assert batch_end in shown
    # The network is built at the first call only, and reused by the second.
    assert shown.count("loading Inception network...") >= 1
    assert "FID step 0: loading Inception network..." in shown
    assert "FID step 1: loading" not in shown
    record = json.loads((tmp_path / "out.json").read_text())
    assert len(record["fids"]) == 2 and all(value > 0 for value in record["fids"])
    assert record["seconds"][1] < record["seconds"][0]  # no second network load
