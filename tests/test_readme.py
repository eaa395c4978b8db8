"""Every ```bash and ```python block of README.md runs as written (doc-test style), so they stay true.

The blocks run in README order in one temporary folder, as a reader would run them, with
`ganeval` meaning `python -m ganeval` from this checkout. The folder holds `dataset/` and
`samples/`: 20 PNG images of 32×32 each, made here. Each command of a bash block is one test,
each python block one test. What does not run as written is listed by name below, with why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[1]
README = CHECKOUT / "README.md"

#: README commands this test does not run: CI runs them itself (.ci/run runs install.sh, then the suite).
NOT_RUN = {
    "bash install.sh": "CI's .ci/run runs it before the test suite",
    "python -m pytest -q": "the test suite itself (this test is part of it)",
}
#: README text replaced by a smaller size, so that the block fits a 2-core CI machine (README → here).
SMALLER = {
    "num_samples=5000": "num_samples=10",
}
NUM_IMAGES = 20
SIZE = 32


def readme_items() -> list[tuple[str, int, str]]:
    """(language, README line number, code): one item per bash command, one per python block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    items, language, start, block = [], None, 0, []
    for number, line in enumerate(lines, start=1):
        if language is None:
            opening = re.fullmatch(r"```(\w*)\s*", line)
            if opening:
                language, start, block = opening.group(1) or "text", number, []
            continue
        if line.strip() != "```":
            block.append(line)
            continue
        if language == "python":
            items.append(("python", start + 1, "\n".join(block) + "\n"))
        elif language == "bash":
            pending, first = "", 0
            for offset, text in enumerate(block, start=start + 1):
                if not pending and (not text.strip() or text.lstrip().startswith("#")):
                    continue
                first = first if pending else offset
                if text.rstrip().endswith("\\"):
                    pending += text.rstrip()[:-1] + " "
                    continue
                items.append(("bash", first, pending + text))
                pending = ""
        language = None
    assert language is None, f"README.md: the code block opened at line {start} is not closed"
    return items


def _command(code: str) -> str:
    """A bash line without its trailing comment, whitespace normalised."""
    return " ".join(code.split("#", 1)[0].split())


ITEMS = readme_items()
#: Indices of the ITEMS this test runs: all but the commands named in NOT_RUN.
RUN = [index for index, (language, _, code) in enumerate(ITEMS)
       if not (language == "bash" and _command(code) in NOT_RUN)]


def _item_id(item: tuple[str, int, str]) -> str:
    language, line, code = item
    return f"{language}-L{line}-{_command(code)[:40]}" if language == "bash" else f"python-L{line}"


def _make_images(folder: Path, seed: int, blur: bool) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(NUM_IMAGES):
        # Smooth colour fields (a 4×4 grid upsampled) with noise; `samples/` is a noisier set.
        coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)
        image = np.kron(coarse, np.ones((SIZE // 4, SIZE // 4, 1)))
        image += rng.normal(0, 40 if blur else 10, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"{index:03d}.png")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    _make_images(folder / "dataset", seed=0, blur=False)
    _make_images(folder / "samples", seed=1, blur=True)
    return folder


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, PYTHON=sys.executable)


def _smaller(code: str) -> str:
    for readme_text, here in SMALLER.items():
        code = code.replace(readme_text, here)
    return code


_results: dict[int, subprocess.CompletedProcess] = {}


def _run(index: int, workdir: Path) -> subprocess.CompletedProcess:
    """Run README item ``index``, after every earlier item that runs (each once), in ``workdir``."""
    for earlier in range(index + 1):
        if earlier in _results or earlier not in RUN:
            continue
        language, line, code = ITEMS[earlier]
        code = _smaller(code)
        if language == "bash":
            script = 'set -euo pipefail\nganeval() { "$PYTHON" -m ganeval "$@"; }\n' + code + "\n"
            argv = ["bash", "-c", script]
        else:
            script_path = workdir / f"readme_line_{line}.py"
            script_path.write_text(code, encoding="utf-8")
            argv = [sys.executable, str(script_path)]
        _results[earlier] = subprocess.run(argv, cwd=workdir, env=_environment(), capture_output=True, text=True,
                                           timeout=1800)
    return _results[index]


def test_readme_has_the_blocks_and_the_lists_are_current():
    commands = {_command(code) for language, _, code in ITEMS if language == "bash"}
    for everyday in ("ganeval demo", "ganeval stats dataset/ -o real.h5", "ganeval fid real.h5 samples/",
                     "ganeval eval real.h5 samples/ --metrics fid,kid,prdc"):
        assert everyday in commands, f"README.md lost `{everyday}`"
    assert sum(language == "python" for language, _, _ in ITEMS) >= 2
    for name in NOT_RUN:
        assert name in commands, f"NOT_RUN names `{name}`, which README.md no longer has"
    text = README.read_text(encoding="utf-8")
    for readme_text in SMALLER:
        assert readme_text in text, f"SMALLER replaces `{readme_text}`, which README.md no longer has"
    assert len(text.splitlines()) <= 150, "README.md is a quick start: at most ~150 lines; move the rest to docs/"


def test_links_in_readme_and_docs_resolve():
    pages = [README, *sorted((CHECKOUT / "docs").glob("*.md"))]
    assert len(pages) > 1
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # links outside code only
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (page.parent / target).is_file(), f"{page.name} links to {target}, which does not exist"


@pytest.mark.parametrize("index", RUN, ids=[_item_id(ITEMS[index]) for index in RUN])
def test_readme_block_runs(index, workdir):
    language, line, code = ITEMS[index]
    done = _run(index, workdir)
    assert done.returncode == 0, (
        f"README.md line {line} ({language}) failed with exit status {done.returncode}:\n{code}\n"
        f"--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}")
