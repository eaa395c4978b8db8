"""Progress bars: totals and phase label from the API, silence on request or off a terminal, the
callable form, and the command line's bar on a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
from ganeval.core.errors import GanevalError
from ganeval.io.sources import open_source
from ganeval.api.progress import Progress, announce_loading, images_in, images_to_read
from ganeval_train.data import load_digits

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """12 real digits, uint8 [12, 32, 32, 3]."""
    return np.repeat(load_digits().images[:12].permute(0, 2, 3, 1).numpy(), 3, axis=3)


def test_api_bar_has_total_percentage_and_the_loading_phase(digits, capsys):
    from ganeval.api.compute import clear_extractor_cache

    clear_extractor_cache()  # another test of this process may have built the network already
    ganeval.compute_stats(digits, mode="tf1", batch_size=5, workers=0, progress=True)
    err = capsys.readouterr().err
    assert "features: loading Inception network..." in err
    assert "12/12" in err and "100%" in err and "img/s" in err
    for shown in ("5/12", "10/12"):  # counted batch by batch
        assert shown in err

    # The network is built once per process: the second run says nothing about loading it.
    ganeval.compute_stats(digits, mode="tf1", batch_size=5, workers=0, progress=True)
    err = capsys.readouterr().err
    assert "loading" not in err and "12/12" in err and "100%" in err


def test_images_in_counts_images_not_the_parts_of_a_batch():
    images = torch.zeros(5, 3, 8, 8, dtype=torch.uint8)
    assert images_in(images) == 5
    assert images_in(np.zeros((7, 8, 8, 3), np.uint8)) == 7
    assert images_in([images[0], images[1], images[2]]) == 3  # a list of [C, H, W] images
    assert images_in((images, None)) == 5  # FIDCallback's (images, labels) pairs: not len() == 2
    assert images_in((images, ["a"] * 5)) == 5
    assert images_in(images[0]) == 1


def test_phase_only_when_loading_shows_nothing_unless_a_network_is_built(capsys):
    bar = Progress("x", enabled=True)
    with bar.phase("loading Inception network...", only_when_loading=True):
        pass  # a cache hit: nothing built
    assert "loading" not in capsys.readouterr().err
    with bar.phase("loading Inception network...", only_when_loading=True):
        announce_loading()  # what get_inception does on a cache miss
    bar.close()
    assert "x: loading Inception network..." in capsys.readouterr().err
    announce_loading()  # outside any phase: nothing to show, no error
    assert capsys.readouterr().err == ""


def test_generator_total_comes_from_max_images(digits, capsys):
    def batches():
        while True:  # endless: max_images ends it and gives the bar its total
            yield digits[:4].transpose(0, 3, 1, 2)

    ganeval.compute_stats(batches, max_images=7, batch_size=5, workers=0, progress=True)
    err = capsys.readouterr().err
    assert "7/7" in err and "100%" in err


def test_silent_when_asked_or_off_a_terminal_and_the_callable_form(digits, capsys):
    counts = []
    ganeval.compute_stats(digits, batch_size=5, workers=0, progress=counts.append)
    assert counts == [5, 5, 2]
    ganeval.compute_stats(digits, batch_size=5, workers=0, progress=False)
    ganeval.compute_stats(digits, batch_size=5, workers=0)  # default: stderr is not a terminal here
    assert capsys.readouterr().err == ""
    with pytest.raises(GanevalError, match="progress must be"):
        ganeval.compute_stats(digits, progress="yes")


def test_images_to_read_knows_each_ranks_share(digits):
    array = open_source(np.zeros((23, 8, 8, 3), np.uint8))
    assert images_to_read(array, 5) == 23
    assert images_to_read(array, 5, rank=0, world=2) == 13  # batches 0, 2, 4 (5 + 5 + 3)
    assert images_to_read(array, 5, rank=1, world=2) == 10
    assert images_to_read(array, 5, rank=0, world=2, start_batch=1) == 8  # resumed after one batch
    assert images_to_read(open_source([digits[:3].transpose(0, 3, 1, 2), digits[0].T]), 5) == 4
    assert images_to_read(open_source(iter([]), max_images=9), 5, rank=1, world=2) == 4
    assert images_to_read(open_source(iter([])), 5) is None


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_command_line_bar_on_a_terminal_and_none_when_piped(digits, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(digits[:6]):
        Image.fromarray(image).save(folder / f"{i}.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ganeval", "stats", "images", "-o", "a.h5", "--batch-size", "4"]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    start = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    shown = read_all(leader)
    os.close(leader)
    assert child.wait(timeout=300) == 0, shown
    assert time.perf_counter() - start < 300
    assert "stats images: loading Inception network..." in shown
    assert "4/6" in shown and "6/6" in shown and "100%" in shown

    piped = subprocess.run([*command[:-3], "b.h5"], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "%|" not in piped.stderr and "loading" not in piped.stderr and "6 images" in piped.stderr
