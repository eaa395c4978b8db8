"""The reference registry and its downloader, against a real HTTP server on 127.0.0.1.

The server (http.server.ThreadingHTTPServer, port 0) serves bytes made in each test,
answers Range requests with 206, logs every request's Range header, and can be told to
close the connection after part of a file (an interrupted download). The registry is
pointed at it with a registry argument or with $GANEVAL_REF_MIRROR; nothing inside
ganeval is patched.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import socket
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ganeval.cli.commands import main
from ganeval.core.errors import GanevalError
from ganeval.extractors.preprocess import MODES
from ganeval.io.references import (ENV_MIRROR, REGISTRY, ReferenceEntry, download_file, fetch_reference,
                                   get_reference, load_reference, recorded_sha256, register_file)
from ganeval.core.stats import load_stats


class FileServer:
    """Serves ``files`` (path → bytes); ``cut_after[path] = n`` closes the connection after n bytes once."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.ignore_range = False
        self.delay = 0.0
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                time.sleep(server.delay)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                cut = server.cut_after.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANEVAL_CACHE", str(folder))
    monkeypatch.delenv(ENV_MIRROR, raising=False)
    return folder


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(server, path, sha256=None, name="test/blob"):
    return ReferenceEntry(name=name, url=server.base + path, sha256=sha256, mode="tf1", kind="npz",
                          spaces=("pool3",), metrics=("fid",), description="test file", count=10)


PAYLOAD = bytes(range(256)) * 4000  # 1 MB


def test_download_success(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    path, digest = download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD and digest == _sha(PAYLOAD)
    assert not (tmp_path / "a.bin.part").exists()
    assert server.requests == [("/a.bin", None)]


def test_a_target_that_is_not_a_regular_file_is_not_replaced(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    os.mkfifo(tmp_path / "a.bin")
    with pytest.raises(GanevalError) as info:
        download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD))
    assert str(info.value) == (f"{tmp_path / 'a.bin'}: exists and is not a regular file; remove it and run the "
                               "command again (the download is kept in a.bin.part)")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "a.bin").st_mode)
    assert (tmp_path / "a.bin.part").read_bytes() == PAYLOAD


def test_hash_mismatch_removes_the_file(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    wrong = _sha(b"something else")
    with pytest.raises(GanevalError) as info:
        download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=wrong)
    message = str(info.value)
    assert f"download of {server.base}/a.bin is corrupted" in message and wrong in message
    assert "bad file was removed" in message and "\n" not in message
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    half = len(PAYLOAD) // 2
    server.cut_after["/a.bin"] = half
    target = tmp_path / "a.bin"
    with pytest.raises(GanevalError, match=f"interrupted after {half} of {len(PAYLOAD)} bytes.*again to resume"):
        download_file(server.base + "/a.bin", target, sha256=_sha(PAYLOAD))
    assert not target.exists()
    assert (tmp_path / "a.bin.part").read_bytes() == PAYLOAD[:half]
    path, digest = download_file(server.base + "/a.bin", target, sha256=_sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD and digest == _sha(PAYLOAD)
    assert server.requests == [("/a.bin", None), ("/a.bin", f"bytes={half}-")]
    assert not (tmp_path / "a.bin.part").exists()


def test_resume_when_the_server_ignores_range_starts_over(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(b"stale bytes from elsewhere")
    server.ignore_range = True
    path, _ = download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert server.requests[0][1] == "bytes=26-"


def test_complete_partial_file_is_finished_without_refetching(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)  # the process died between the last byte and the rename
    path, _ = download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD and server.requests == [("/a.bin", f"bytes={len(PAYLOAD)}-")]


def test_concurrent_downloads_of_one_file_fetch_it_once(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    server.delay = 0.3
    results = []

    def fetch():
        results.append(download_file(server.base + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD)))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1] and results[0][0].read_bytes() == PAYLOAD
    assert len(server.requests) == 1


def test_hash_recorded_at_first_download_and_checked_after(server, cache):
    server.files["/blob.npz"] = PAYLOAD
    entry = _entry(server, "/blob.npz")
    path, digest = fetch_reference(entry)
    assert path == cache / "refs" / "test" / "blob.npz" and path.read_bytes() == PAYLOAD
    assert recorded_sha256(path) == _sha(PAYLOAD) == digest
    assert fetch_reference(entry) == (path, digest)  # checked against the record, not fetched again
    assert len(server.requests) == 1

    path.write_bytes(PAYLOAD[:-1] + b"x")  # the cached copy changes
    with pytest.raises(GanevalError, match="blob.npz: its sha256 .* differs from the sha256 recorded at first "
                                           "download .*the file changed"):
        fetch_reference(entry)

    path.unlink()  # downloaded again, but the publisher's file changed since the first download
    server.files["/blob.npz"] = PAYLOAD + b"new"
    with pytest.raises(GanevalError, match="does not match the sha256 recorded at first download.*changed since"):
        fetch_reference(entry)
    assert not path.exists() and not path.with_name("blob.npz.part").exists()
    server.files["/blob.npz"] = PAYLOAD  # the original again: accepted
    assert fetch_reference(entry)[0].read_bytes() == PAYLOAD


def test_an_unreadable_first_download_is_not_recorded(server, cache, tmp_path, pool3):
    whole = tmp_path / "whole.npz"
    np.savez(whole, mu=pool3[0], sigma=pool3[1])
    server.files["/blob.npz"] = whole.read_bytes()[:100_000]  # cut short, as if the length had been unknown
    entry = _entry(server, "/blob.npz")
    with pytest.raises(GanevalError, match="blob.npz: unreadable .npz file.*not kept and its hash not recorded"):
        load_reference(entry)
    target = cache / "refs" / "test" / "blob.npz"
    assert not target.exists() and recorded_sha256(target) is None
    server.files["/blob.npz"] = whole.read_bytes()
    ref = load_reference(entry)
    np.testing.assert_array_equal(ref.spaces["pool3"][1], pool3[1])
    assert ref.count == 10 and recorded_sha256(target) == _sha(whole.read_bytes())


def test_published_hash_is_checked(server, cache):
    server.files["/blob.npz"] = PAYLOAD
    with pytest.raises(GanevalError, match="does not match the published sha256"):
        fetch_reference(_entry(server, "/blob.npz", sha256=_sha(b"other")))
    path, _ = fetch_reference(_entry(server, "/blob.npz", sha256=_sha(PAYLOAD)))
    assert recorded_sha256(path) is None  # nothing to record when the hash is published


def test_offline_names_the_url_and_the_manual_route(cache):
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    entry = ReferenceEntry("test/blob", f"http://127.0.0.1:{port}/blob.npz", None, "tf1", "npz", ("pool3",),
                           ("fid",), "test file", 10)
    with pytest.raises(GanevalError) as info:
        fetch_reference(entry, timeout=5)
    message = str(info.value)
    assert f"cannot download http://127.0.0.1:{port}/blob.npz" in message
    assert "`ganeval ref get test/blob --file PATH`" in message and "\n" not in message


def test_http_error_is_one_line(server, cache):
    with pytest.raises(GanevalError, match="cannot download .*/missing.npz: HTTP 404"):
        fetch_reference(_entry(server, "/missing.npz"))


def test_register_a_local_copy(server, cache, tmp_path):
    local = tmp_path / "copy.npz"
    local.write_bytes(PAYLOAD)
    published = _entry(server, "/blob.npz", sha256=_sha(b"other"))
    with pytest.raises(GanevalError, match="copy.npz: its sha256 .* does not match the published sha256"):
        register_file(published, local)
    path, digest = register_file(_entry(server, "/blob.npz"), local)  # no published hash: recorded now
    assert path.read_bytes() == PAYLOAD and recorded_sha256(path) == digest
    other = tmp_path / "other.npz"
    other.write_bytes(PAYLOAD + b"!")
    with pytest.raises(GanevalError, match="other.npz: its sha256 .* sha256 recorded at first download"):
        register_file(_entry(server, "/blob.npz"), other)
    assert server.requests == []


# ----------------------------------------------------------------------------------------------- the real registry


def _moments(d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, d))
    sigma = x.T @ x / 29
    return rng.standard_normal(d), (sigma + sigma.T) / 2


@pytest.fixture(scope="module")
def pool3():
    return _moments(2048, 0)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_registry_entries():
    for name in ("ttur/cifar10-train", "cleanfid/cifar10-train-clean", "cleanfid/cifar10-train-legacy-tensorflow",
                 "adm/imagenet64", "adm/imagenet128", "adm/imagenet256", "adm/imagenet512", "adm/lsun-bedroom",
                 "edm2/img512", "edm2/img64", "edm/cifar10-32x32"):
        assert name in REGISTRY
    for entry in REGISTRY.values():
        assert entry.mode in MODES and entry.kind in ("npz", "adm", "edm2") and entry.metrics and entry.description
        assert entry.url.startswith(("http://", "https://"))
        assert entry.sha256 is None or re.fullmatch("[0-9a-f]{64}", entry.sha256)
        assert entry.spaces[0] == "pool3"
    assert REGISTRY["cleanfid/cifar10-train-clean"].url == \
        "https://www.cs.cmu.edu/~clean-fid/stats/cifar10_clean_train_32.npz"
    assert REGISTRY["adm/imagenet256"].url == ("https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
                                                "ref_batches/imagenet/256/VIRTUAL_imagenet256_labeled.npz")
    assert REGISTRY["edm2/img512"].url == "https://nvlabs-fi-cdn.nvidia.com/edm2/dataset-refs/img512.pkl"


def test_cli_ref_list(capsys):
    code, out, _ = run(["ref", "list"], capsys)
    assert code == 0 and len(out.splitlines()) == len(REGISTRY)
    assert re.search(r"^ttur/cifar10-train +tf1 +fid +TTUR", out, re.M)
    code, out, _ = run(["ref", "list", "--json"], capsys)
    records = json.loads(out)
    assert code == 0 and [r["name"] for r in records] == list(REGISTRY)
    assert records[0].keys() >= {"name", "url", "sha256", "mode", "metrics", "description", "size"}


@pytest.mark.slow
def test_cli_ref_get_through_a_mirror(server, cache, monkeypatch, capsys, tmp_path, pool3):
    buffer = tmp_path / "ttur.npz"
    np.savez(buffer, mu=pool3[0], sigma=pool3[1])
    server.files["/mirror/ttur/fid_stats_cifar10_train.npz"] = buffer.read_bytes()
    monkeypatch.setenv(ENV_MIRROR, server.base + "/mirror/")
    code, out, err = run(["ref", "get", "ttur/cifar10-train"], capsys)
    assert code == 0, err
    path = out.strip()
    assert path == str(cache / "refs" / "ttur" / "cifar10-train.h5")
    stats = load_stats(path)
    assert stats.count == 50_000 and stats.provenance["mode"] == "tf1"
    assert stats.provenance["reference_name"] == "ttur/cifar10-train"
    assert stats.provenance["count_source"].startswith("size of that set per the TTUR README")
    assert stats.provenance["reference_url"] == REGISTRY["ttur/cifar10-train"].url
    np.testing.assert_array_equal(stats.mu, pool3[0])
    np.testing.assert_array_equal(stats.sigma, pool3[1])
    converted_at = os.stat(path).st_mtime_ns
    code, out, _ = run(["ref", "get", "ttur/cifar10-train"], capsys)  # cached, hash-checked, not fetched
    assert code == 0 and out.strip() == path and len(server.requests) == 1
    assert os.stat(path).st_mtime_ns == converted_at  # the converted file is reused too
    code, out, _ = run(["ref", "get", "ttur/cifar10-train", "--count", "60000", "-q"], capsys)
    assert code == 0 and load_stats(out.strip()).count == 60_000
    assert load_stats(path).provenance["count_source"] == "stated by the user (--count)"
    code, out, _ = run(["ref", "get", "ttur/cifar10-train"], capsys)
    assert code == 0 and load_stats(out.strip()).count == 50_000 and len(server.requests) == 1


def test_cli_ref_get_file_registers_a_local_copy(cache, capsys, tmp_path, pool3):
    spatial = _moments(2023, 1)
    local = tmp_path / "VIRTUAL_imagenet256_labeled.npz"
    images = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    np.savez(local, arr_0=images, arr_1=np.arange(4), mu=pool3[0], sigma=pool3[1], mu_s=spatial[0],
             sigma_s=spatial[1])
    code, out, err = run(["ref", "get", "adm/imagenet256", "--file", str(local)], capsys)
    assert code == 0, err
    stats = load_stats(out.strip())
    assert stats.count == 1_281_167 and stats.provenance["mode"] == "tf1"
    np.testing.assert_array_equal(stats.sigma, pool3[1])
    ref = load_reference("adm/imagenet256")  # the cached copy, with every space
    assert set(ref.spaces) == {"pool3", "spatial"} and ref.images is None
    np.testing.assert_array_equal(ref.spaces["spatial"][1], spatial[1])
    code, _, err = run(["ref", "get", "adm/imagenet256", "--file", str(tmp_path / "nothing.npz")], capsys)
    assert code == 1 and "nothing.npz: no such file" in err


def test_edm2_reference_through_a_mirror(server, cache, tmp_path, pool3):
    dinov2 = _moments(1024, 2)
    payload = pickle.dumps({"num_images": 1_281_167, "fid": {"mu": pool3[0], "sigma": pool3[1]},
                            "fd_dinov2": {"mu": dinov2[0], "sigma": dinov2[1]}})
    server.files["/edm2/img64.pkl"] = payload
    path = get_reference("edm2/img64", mirror=server.base)
    stats = load_stats(path)
    assert stats.count == 1_281_167 and stats.provenance["mode"] == "nvidia"
    assert stats.provenance["reference_spaces_not_in_this_file"] == "" and stats["dinov2"].provenance["mode"] == "edm2"
    assert recorded_sha256(cache / "refs" / "edm2" / "img64.pkl") == _sha(payload)
    ref = load_reference("edm2/img64", mirror=server.base)
    assert ref.comparable_spaces == ["pool3", "dinov2"]


def test_docs_list_every_entry():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "reference-statistics.md").read_text()
    for entry in REGISTRY.values():
        assert f"| `{entry.name}` | `{entry.mode}` | {', '.join(entry.metrics)} | {entry.description} |" in text
