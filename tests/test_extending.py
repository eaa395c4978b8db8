"""Users' own encoders and metrics, registered from outside the package (docs/extending.md).

A plugin module written here registers a tiny torch network as an extractor (space ``tiny``) and
a metric (``mean_shift``); the test computes statistics, saves and reloads them, evaluates through
the API and through `ganeval eval` in another process (GANEVAL_PLUGINS), checks that both give the
same record, and that statistics of other weights are refused before any image is read.
Independent reference: the same network applied here to the decoded images, moments in numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
from ganeval.core.errors import GanevalError
from ganeval.extractors import registry as networks
from ganeval.metrics import registry as metrics
from ganeval.metrics.frechet import frechet_distance

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
import numpy as np
import torch
import ganeval



class Tiny(ganeval.ModuleExtractor):
    """A 2x2 average pool of the [0, 1] pixels, then a fixed linear map to 6 dimensions."""

    name = "tiny-net"
    dims = {"tiny": 6}

    def __init__(self, device=None, **options):
        super().__init__(device=device, **options)
        generator = torch.Generator().manual_seed(SEED)
        self.module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 6))
        with torch.no_grad():
            for p in self.module.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))

    def features(self, images):
        return {"tiny": self.module(images.float() / 255)}


ganeval.register_extractor(Tiny, replace=True)


@ganeval.register_metric("mean_shift", any_space=True, replace=True)
def mean_shift(data):
    """Euclidean distance between the two means."""
    return float(np.linalg.norm(data.a.mu - data.b.mu))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin module on sys.path, imported; unregistered afterwards."""
    (tmp_path / "tinyplugin.py").write_text(PLUGIN.replace("SEED", "0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tinyplugin", None)
    import tinyplugin

    yield tinyplugin
    sys.modules.pop("tinyplugin", None)
    sys.modules.pop("tinyplugin_other", None)
    metrics.unregister_metric("mean_shift")
    for table in (networks.NETWORKS, ):
        table.pop("tiny", None)
    networks.SPACE_NETWORK.pop("tiny", None)
    for alias in ("tiny", "tiny-net"):
        networks._ALIASES.pop(alias, None)


def _folder(path: Path, seed: int, n: int = 12) -> Path:
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(path / f"{i:02d}.png")
    return path


def _direct_features(plugin, folder: Path) -> np.ndarray:
    net = plugin.Tiny().module
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in sorted(folder.glob("*.png"))])
    with torch.no_grad():
        return net(x.float() / 255).double().numpy()


def test_own_extractor_and_metric_through_api_file_and_cli(plugin, tmp_path):
    a, b = _folder(tmp_path / "a", 1), _folder(tmp_path / "b", 2)
    stats = ganeval.compute_stats(str(a), features="tiny", save_features=True, progress=False)
    assert list(stats.spaces) == ["tiny"] and stats["tiny"].provenance["extractor"] == "tiny-net/tiny"
    stats.save(tmp_path / "a.h5")
    ganeval.compute_stats(str(b), features="tiny", save_features=True, progress=False).save(tmp_path / "b.h5")
    reloaded = ganeval.load_statistics(tmp_path / "a.h5", with_features=True)
    np.testing.assert_array_equal(reloaded["tiny"].features, stats["tiny"].features)

    fa, fb = _direct_features(plugin, a), _direct_features(plugin, b)
    expected_fd = frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    result = ganeval.evaluate(str(tmp_path / "a.h5"), str(b), "fid:tiny,mean_shift:tiny,kid:tiny",
                              kid_subset_size=6, kid_subsets=5)
    assert abs(result["fid:tiny"] - expected_fd) <= 1e-6 * expected_fd
    assert abs(result["mean_shift:tiny"] - np.linalg.norm(fa.mean(0) - fb.mean(0))) <= 1e-6

    # The command line in another process, with the plugin named by GANEVAL_PLUGINS: the same record.
    files = [str(tmp_path / "a.h5"), str(tmp_path / "b.h5")]
    api_record = ganeval.evaluate(*files, "fid:tiny,mean_shift:tiny", names=tuple(files)).to_dict()
    env = {**os.environ, "GANEVAL_PLUGINS": "tinyplugin",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "ganeval", "eval", *files, "--metrics", "fid:tiny,mean_shift:tiny",
                           "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    cli_record = json.loads(done.stdout)
    for record in (api_record, cli_record):
        record.pop("timings"), record.pop("seconds")
        for side in record["provenance"].values():
            side["spaces"]["tiny"].pop("file", None)
    assert cli_record == api_record
    text = subprocess.run([sys.executable, "-m", "ganeval", "eval", *files, "--metrics", "mean_shift:tiny"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert text.stdout.split() == ["mean_shift:tiny", f"{api_record['mean_shift:tiny']:.6f}"]


def test_statistics_of_other_weights_are_refused_before_any_image_is_read(plugin, tmp_path):
    ganeval.compute_stats(str(_folder(tmp_path / "a", 1)), features="tiny", progress=False).save(tmp_path / "a.h5")
    (tmp_path / "tinyplugin_other.py").write_text(PLUGIN.replace("SEED", "1"))  # the same network, other weights
    import tinyplugin_other  # noqa: F401  (registers it again)

    read = []

    def images():
        read.append(1)
        yield torch.zeros(2, 3, 8, 8, dtype=torch.uint8)

    with pytest.raises(GanevalError, match="weights_sha256"):
        ganeval.evaluate(str(tmp_path / "a.h5"), images, "fid:tiny")
    assert read == []


def test_registration_errors_are_one_line(plugin):
    with pytest.raises(GanevalError, match="already registered"):
        ganeval.register_metric("mean_shift", lambda data: 0.0)
    with pytest.raises(GanevalError, match="already names a network"):
        ganeval.register_extractor(plugin.Tiny)
    with pytest.raises(GanevalError, match="unknown metric"):
        ganeval.evaluate(np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8), "mean_shift:nowhere")
