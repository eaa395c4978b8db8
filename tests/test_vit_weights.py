"""Resolving, downloading and checking the ViT weights files, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from ganeval.core.errors import GanevalError
from ganeval.extractors.dinov2 import DINOV2_VITL14
from ganeval.extractors.vit_weights import PublishedFile, resolve_vit_weights


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An http.server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port_url() -> str:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    httpd.server_close()
    return f"http://127.0.0.1:{port}/weights.pth"


def test_unpublished_hash_is_recorded_at_first_download_and_checked_after(server, tmp_path, monkeypatch):
    import io

    import torch

    root, base = server
    buffer = io.BytesIO()
    torch.save({"weight": torch.arange(1000.0)}, buffer)  # what is recorded must read as a state dict
    payload = buffer.getvalue()
    (root / "w.pth").write_bytes(payload)
    cache = tmp_path / "cache"
    monkeypatch.setenv(DINOV2_VITL14.url_env, f"{base}/w.pth")
    first = resolve_vit_weights(DINOV2_VITL14, directory=cache)
    digest = hashlib.sha256(payload).hexdigest()
    assert first.origin == f"download {base}/w.pth" and first.sha256_source == "recorded"
    assert first.file_sha256 == digest and first.path.read_bytes() == payload
    record = cache / "dinov2_vitl14_pretrain.pth.sha256"
    assert record.read_text().split()[0] == digest
    assert not list(cache.glob("*.part"))

    second = resolve_vit_weights(DINOV2_VITL14, directory=cache, download=False)
    assert second.origin == "cache" and second.file_sha256 == digest

    first.path.write_bytes(payload + b"changed")
    with pytest.raises(GanevalError, match="differs from .* recorded at its first download") as err:
        resolve_vit_weights(DINOV2_VITL14, directory=cache)
    assert "\n" not in str(err.value)


def test_published_hash_is_checked(server, tmp_path):
    root, base = server
    payload = b"clip weights stand-in"
    digest = hashlib.sha256(payload).hexdigest()
    (root / digest).mkdir()
    (root / digest / "M.pt").write_bytes(payload)
    spec = PublishedFile("clip-test", "M.pt", f"{base}/{digest}/M.pt", digest, "GANEVAL_TEST_UNUSED_URL")
    got = resolve_vit_weights(spec, directory=tmp_path / "cache")
    assert got.sha256_source == "published" and got.file_sha256 == digest
    assert resolve_vit_weights(spec, directory=tmp_path / "cache", download=False).origin == "cache"

    wrong = PublishedFile("clip-test", "M.pt", f"{base}/{digest}/M.pt", "0" * 64, "GANEVAL_TEST_UNUSED_URL")
    with pytest.raises(GanevalError, match="corrupted"):
        resolve_vit_weights(wrong, directory=tmp_path / "other")
    assert not (tmp_path / "other" / "M.pt").exists() and not list((tmp_path / "other").glob("*.part"))
    with pytest.raises(GanevalError, match="not the published"):
        resolve_vit_weights(wrong, directory=tmp_path / "cache")  # a cached file that is not the published one


def test_offline_is_one_clear_line(tmp_path):
    with pytest.raises(GanevalError) as err:
        resolve_vit_weights(DINOV2_VITL14, url=_closed_port_url(), directory=tmp_path)
    message = str(err.value)
    assert "\n" not in message and "download of http://127.0.0.1" in message
    # Spelled as --help spells it (the network's key); the extractor name is accepted too (below).
    assert "--weights dinov2=PATH" in message and DINOV2_VITL14.url in message and "vitl14=PATH" not in message
    with pytest.raises(GanevalError, match="no dinov2-vitl14 weights found: download"):
        resolve_vit_weights(DINOV2_VITL14, directory=tmp_path, download=False)


def test_missing_http_file_is_one_line(server, tmp_path):
    _, base = server
    with pytest.raises(GanevalError, match="HTTP Error 404") as err:
        resolve_vit_weights(DINOV2_VITL14, url=f"{base}/nothing.pth", directory=tmp_path)
    assert "\n" not in str(err.value)


def test_given_path(tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"x")
    got = resolve_vit_weights(DINOV2_VITL14, path)
    assert got.origin == "--weights" and got.file_sha256 == hashlib.sha256(b"x").hexdigest()
    with pytest.raises(GanevalError, match=r"no such weights file .*\(given as --weights dinov2=PATH\)"):
        resolve_vit_weights(DINOV2_VITL14, tmp_path / "absent.pth")


def test_both_spellings_of_the_encoder_weights_option_are_accepted_and_shown_one_way():
    from ganeval.extractors.clip import CLIP_VITB32, CLIP_VITL14_336
    from ganeval.extractors.registry import parse_weights
    from ganeval.extractors.vit_weights import weights_option

    for key, name in (("dinov2", "dinov2-vitl14"), ("clip", "clip-vitl14-336"), ("clip_vitb32", "clip-vitb32")):
        assert parse_weights([f"{key}=a.pth"]) == parse_weights([f"{name}=a.pth"]) == {key: "a.pth"}
    assert [weights_option(spec) for spec in (DINOV2_VITL14, CLIP_VITL14_336, CLIP_VITB32)] == [
        "--weights dinov2=PATH", "--weights clip=PATH", "--weights clip_vitb32=PATH"]
    with pytest.raises(GanevalError, match="given twice for dinov2"):
        parse_weights(["dinov2=a.pth", "dinov2-vitl14=b.pth"])


def test_extractors_download_through_the_cache(server, tmp_path, monkeypatch):
    """weights=None: the extractors look in the cache, then download (URL from the environment)."""
    import torch

    from ganeval.extractors.clip import CLIP_VITB32, ClipB32Extractor
    from ganeval.extractors.dinov2 import DinoV2Extractor, DinoV2ViT

    root, base = server
    torch.save(DinoV2ViT(dim=64, depth=1, heads=4).state_dict(), root / "small.pth")
    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(DINOV2_VITL14.url_env, f"{base}/small.pth")
    # Downloaded, then refused by the loader: it is not a ViT-L/14, so it is neither kept nor recorded
    # (a later genuine download must not be refused as "changed").
    with pytest.raises(GanevalError, match="not DINOv2 ViT-L/14 weights.*not kept and its hash not recorded"):
        DinoV2Extractor(device="cpu")
    assert not (tmp_path / "cache" / "dinov2_vitl14_pretrain.pth.sha256").exists()
    assert not (tmp_path / "cache" / "dinov2_vitl14_pretrain.pth").exists()
    # OpenAI's published sha256 is checked on download: another file never reaches the cache.
    monkeypatch.setenv(CLIP_VITB32.url_env, f"{base}/small.pth")
    with pytest.raises(GanevalError, match="corrupted"):
        ClipB32Extractor(device="cpu")
    assert not (tmp_path / "cache" / CLIP_VITB32.file_name).exists()


@pytest.mark.parametrize("body", [b"<html><body>429 Too Many Requests</body></html>", b"PK\x03\x04 cut short"])
def test_a_download_that_is_not_weights_is_neither_kept_nor_recorded(server, tmp_path, monkeypatch, body):
    """Issue 23: an HTML page answered a DINOv2 download, stayed cached with its sha256 recorded,
    and the later genuine download was refused as "changed"."""
    import io

    import torch

    root, base = server
    (root / "w.pth").write_bytes(body)
    cache = tmp_path / "cache"
    monkeypatch.setenv(DINOV2_VITL14.url_env, f"{base}/w.pth")
    with pytest.raises(GanevalError, match="not kept and its hash not recorded") as err:
        resolve_vit_weights(DINOV2_VITL14, directory=cache)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in cache.iterdir()) == []  # no file, no .sha256, no .part
    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(4)}, buffer)
    (root / "w.pth").write_bytes(buffer.getvalue())  # the genuine file, later
    got = resolve_vit_weights(DINOV2_VITL14, directory=cache)
    assert got.file_sha256 == hashlib.sha256(buffer.getvalue()).hexdigest() and got.sha256_source == "recorded"


def test_a_file_placed_by_hand_that_is_not_weights_is_not_recorded(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / DINOV2_VITL14.file_name).write_bytes(b"<html>oops</html>")
    with pytest.raises(GanevalError, match="its hash was not recorded"):
        resolve_vit_weights(DINOV2_VITL14, directory=cache, download=False)
    assert (cache / DINOV2_VITL14.file_name).exists()  # the user's file: left alone
    assert not (cache / (DINOV2_VITL14.file_name + ".sha256")).exists()
