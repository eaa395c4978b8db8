"""MiFID, Vendi, TopP&R, AuthPct and C_T through the registry: `ganeval eval --metrics ...` on small
statistics files with raw features (the JSON equals each pure function on the stored features), the
text lines, any feature space through the API (``vendi:dinov2``), parameters, and the error for
statistics without raw features."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

import ganeval.api.evaluate as ev
from ganeval.cli.commands import main
from ganeval.core.errors import GanevalError
from ganeval.metrics.memorisation import authenticity, data_copying_ct
from ganeval.metrics.mifid import mifid
from ganeval.metrics.topp_r import top_pr
from ganeval.metrics.vendi import vendi_score
from ganeval.core.stats import FeatureStats, StatsSet

PROVENANCE = {"extractor": "test", "weights_sha256": "w" * 64, "mode": "tf1", "precision": "fp32", "feature_dim": 16}
METRICS = "mifid,vendi,toppr,authpct,ct"


def _features(seed, n, d=16, copy_of=None):
    rng = np.random.default_rng(seed)
    centres = 6.0 * np.eye(3, d)
    x = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))
    if copy_of is not None:  # half of the rows are near-copies of the reference
        x[: n // 2] = copy_of[: n // 2] + 0.01 * rng.normal(size=(n // 2, d))
    return x.astype(np.float32)


def _stats(x, space="pool3", keep=True):
    mode = {"pool3": "tf1", "dinov2": "dgm-eval"}[space]  # each space's default convention
    stats = FeatureStats(x.shape[1], provenance={**PROVENANCE, "feature_dim": x.shape[1], "mode": mode},
                         keep_features=keep)
    stats.add_features(torch.from_numpy(x))
    return stats


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def sides():
    a = _features(0, 300)
    return a, _features(1, 260, copy_of=a)


@pytest.fixture()
def files(sides, tmp_path):
    paths = tmp_path / "a.h5", tmp_path / "b.h5"
    for x, path in zip(sides, paths):
        _stats(x).save(path)
    return [str(p) for p in paths]


def _stored(path):
    with h5py.File(path) as h5:
        return h5["pool3/features"][()]


def test_eval_json_equals_the_pure_functions(files, capsys):
    code, out, err = run(["eval", *files, "--metrics", METRICS, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    a, b = _stored(files[0]), _stored(files[1])
    assert report["mifid"]["value"] == mifid(a, b).mifid
    assert report["vendi"] == {"a": vendi_score(a), "b": vendi_score(b)}
    expected = top_pr(a, b)
    assert (report["toppr"]["top_precision"], report["toppr"]["top_recall"]) == (expected.precision, expected.recall)
    assert report["authpct"] == authenticity(a, b).authpct
    train, held_out = np.array_split(a, 2)
    assert report["ct"] == data_copying_ct(train, held_out, b, seed=0).ct
    assert report["authpct"] < 60 and report["ct"] < 0  # half of B copies A: memorisation shows


def test_eval_text_names_every_metric(files, capsys):
    code, out, err = run(["eval", *files, "--metrics", METRICS], capsys)
    assert code == 0, err
    for start in ("mifid ", "vendi ", "top_precision ", "top_recall ", "top_f1 ", "authpct ", "ct "):
        assert any(line.startswith(start) for line in out.splitlines()), (start, out)


def test_any_space_and_parameters_through_the_api(sides):
    a, b = sides
    x, y = a[:, :12] * 2.0, b[:, :12] * 2.0  # a second, 12-d "dinov2" space
    def stats_set(pool3, dinov2):
        return StatsSet({"pool3": _stats(pool3), "dinov2": _stats(dinov2, "dinov2")})
    report = ev.evaluate(stats_set(a, x), stats_set(b, y),
                         metrics="vendi:dinov2,authpct:dinov2,mifid:dinov2,mifid",
                         params={"mifid": {"cosine_distance_eps": 0.5}})
    assert report["vendi:dinov2"]["b"] == vendi_score(y)
    assert report["authpct:dinov2"] == authenticity(x, y).authpct
    assert report["mifid:dinov2"]["value"] == mifid(x, y, cosine_distance_eps=0.5).mifid
    assert report["mifid"]["value"] == mifid(a, b, cosine_distance_eps=0.5).mifid


def test_statistics_without_features_and_unknown_parameters_are_refused(sides, tmp_path, capsys):
    a, b = sides
    no_features = tmp_path / "plain.h5"
    _stats(a, keep=False).save(no_features)
    _stats(b).save(tmp_path / "b.h5")
    code, out, err = run(["eval", str(no_features), str(tmp_path / "b.h5"), "--metrics", "authpct"], capsys)
    assert code != 0 and "plain.h5" in err and "--save-features" in err and out == ""
    with pytest.raises(GanevalError, match="unknown parameter"):
        ev.evaluate(StatsSet({"pool3": _stats(a)}), StatsSet({"pool3": _stats(b)}), metrics="vendi",
                    params={"vendi": {"kernel": "rbf"}})
