"""One road: `ganeval fid/eval/kid/prdc/sfid/is --json` print exactly what the API returns on the
same inputs (timings aside), the text output and the report show the same digits, and the
options are objects validated once (issue 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import ganeval
from cli_testing import run_cli
from ganeval.core.options import ExtractorOptions, MetricOptions, RunOptions, options_from_keywords
from ganeval.core.errors import GanevalError
from ganeval.api.evaluate import evaluate, inception_score_of
from ganeval.core.stats import FeatureStats, StatsSet

INCEPTION = "inception-v3-tf-2015-12-05"


def _stats(seed: int, n: int = 40) -> StatsSet:
    """pool3 and spatial statistics of synthetic features, raw features kept, Inception provenance."""
    rng = np.random.default_rng(seed)
    spaces = {}
    for space, dim in (("pool3", 2048), ("spatial", 2023)):
        x = (rng.standard_normal((n, dim)) / np.sqrt(np.arange(1, dim + 1)) + 0.05 * seed).astype(np.float32)
        stats = FeatureStats(dim, keep_features=True, provenance={
            "extractor": f"{INCEPTION}/{space}", "mode": "tf1", "feature_dim": dim, "precision": "fp32",
            "weights_sha256": "synthetic"})
        stats.add_features(x)
        spaces[space] = stats
    return StatsSet(spaces)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-road")
    _stats(1).save(root / "a.h5")
    _stats(2).save(root / "b.h5")
    return str(root / "a.h5"), str(root / "b.h5")


def _without_timings(record: dict) -> dict:
    record = dict(record)
    record.pop("timings"), record.pop("seconds")
    return record


@pytest.mark.parametrize("command, metrics, options, keywords", [
    ("fid", ("fid",), [], {}),
    ("sfid", ("sfid",), [], {}),
    ("kid", ("kid",), ["--kid-subset-size", "15", "--kid-subsets", "7", "--metric-seed", "3"],
     dict(kid_subset_size=15, kid_subsets=7, metric_seed=3)),
    ("prdc", ("prdc",), ["--k", "2", "--dc-k", "4"], dict(k_pr=2, k_dc=4)),
    ("eval", None, ["--kid-subset-size", "15", "--bootstrap", "5", "--fid-inf", "--fid-inf-points", "3"],
     dict(kid_subset_size=15, bootstrap=5, fid_inf=True, fid_inf_points=3)),
    ("eval", ("fid", "kid", "prdc"), ["--metrics", "fid,kid,prdc", "--kid-subset-size", "40"],
     dict(kid_subset_size=40)),
])
@pytest.mark.slow
def test_cli_json_is_the_api_record(files, capsys, command, metrics, options, keywords):
    done = run_cli(capsys, command, *files, *options, "--json")
    assert done.returncode == 0, done.stderr
    api = evaluate(*files, metrics, names=files, **keywords).to_dict()
    assert _without_timings(json.loads(done.stdout)) == _without_timings(json.loads(json.dumps(api)))


@pytest.mark.slow
def test_text_output_has_the_record_digits(files, capsys):
    record = evaluate(*files, ("fid", "kid"), kid_subset_size=15).to_dict()
    text = run_cli(capsys, "eval", *files, "--metrics", "fid,kid", "--kid-subset-size", "15").stdout
    assert f"fid        {record['fid']:.6f}" in text.splitlines()
    assert f"{record['kid']['mean']:.6g} ± {record['kid']['std']:.6g}" in text
    assert run_cli(capsys, "fid", *files).stdout.strip() == f"{record['fid']:.6f}"


def test_warnings_and_uncertainty_are_data_in_both(files, capsys):
    record = json.loads(run_cli(capsys, "kid", *files, "--kid-subset-size", "100", "--json").stdout)
    assert record["kid"]["std_is_uncertainty"] is False  # every subset holds all 40 images of each side
    assert any("KID subset size" in w for w in record["warnings"])
    assert any("few images" in w for w in evaluate(*files, "fid").warnings)


@pytest.mark.slow
def test_report_shows_the_cli_digits(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from ganeval.report import make_report

    summary = make_report(*files, tmp_path / "report", progress=None)
    fid_text = run_cli(capsys, "fid", *files).stdout.strip()
    page = (tmp_path / "report" / "index.html").read_text()
    assert re.search(rf">\s*{re.escape(fid_text)}\s*<", page), fid_text
    assert f"{summary['metrics']['fid']:.6f}" == fid_text
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["metrics"]["a"] == files[0] and report["metrics"]["b"] == files[1]


@pytest.mark.slow
def test_inception_score_cli_is_the_api_record(files, tmp_path, capsys):
    import torch

    from ganeval.extractors.weights import export_state_dict, load_inception

    model, _ = load_inception(None)
    g = torch.Generator().manual_seed(0)
    head = {"output.weight": 0.05 * torch.randn(1008, 2048, generator=g), "output.bias": torch.zeros(1008)}
    weights = tmp_path / "head.pth"
    torch.save(export_state_dict(dict(model.state_dict(), **head), "pytorch-fid"), weights)
    done = run_cli(capsys, "is", files[1], "--weights", weights, "--splits", "4", "--json", "--allow-mismatch")
    assert done.returncode == 0, done.stderr
    api = inception_score_of(files[1], splits=4, weights=str(weights), allow_mismatch=True)
    assert json.loads(done.stdout) == {"source": files[1], **json.loads(json.dumps(api))}


def test_options_are_objects_built_in_one_place():
    built = options_from_keywords(dict(mode="clean", batch_size=7, kid_subsets=3, metric_seed=2, seed=5,
                                       features="pool3,dinov2", weights=["dinov2=/w.pth"]))
    ext, run, metric = built[ExtractorOptions], built[RunOptions], built[MetricOptions]
    assert ext.mode == "clean" and ext.features == ("pool3", "dinov2") and ext.weights_by_network == {"dinov2": "/w.pth"}
    assert run.batch_size == 7 and run.seed == 5 and metric.seed == 2 and metric.kid_subsets == 3
    assert ext.digest() == ExtractorOptions(mode="clean", features=("pool3", "dinov2"),
                                            weights={"dinov2": "/w.pth"}).digest()
    assert ext.digest() != ext.with_(precision="bf16").digest()
    with pytest.raises(GanevalError, match="unknown option.*batchsize"):
        options_from_keywords(dict(batchsize=3))
    with pytest.raises(GanevalError, match="unknown option"):
        ganeval.compute_stats(np.zeros((2, 8, 8, 3), np.uint8), kid_subsets=3)  # a metric option: not here
    for bad in (dict(precision="fp8"), dict(mode="tf2"), dict(backend="jax")):
        with pytest.raises(GanevalError):
            ExtractorOptions(**bad)
    with pytest.raises(GanevalError, match="batch-size"):
        RunOptions(batch_size=0)
    with pytest.raises(GanevalError, match="CMMD estimator"):
        MetricOptions(cmmd_estimator="median")


def test_both_sides_statistics_refuse_extraction_options(files, capsys):
    done = run_cli(capsys, "fid", *files, "--mode", "clean")
    assert done.returncode == 1 and "--mode" in done.stderr and "nothing is extracted" in done.stderr
    done = run_cli(capsys, "eval", *files, "--batch-size", "10", "--precision", "bf16", "--metrics", "fid")
    assert done.returncode == 1 and "--precision, --batch-size" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_refinements_are_options_not_metric_names(files):
    with pytest.raises(GanevalError, match="--fid-inf"):
        evaluate(*files, "fid_inf")
    with pytest.raises(GanevalError, match="refine FID"):
        evaluate(*files, "kid", bootstrap=3)


def test_adm_suite_of_stats_files_reads_the_head_without_building_the_network(files, tmp_path, monkeypatch):
    """`eval A.h5 B.h5 --suite adm --weights W`: the Inception Score's head is read from W alone (the
    network is not built: 0.4 GB less at any N), and it is the head the built network would use."""
    import sys

    import torch

    import ganeval.api.compute as compute
    from ganeval.extractors.inception_extractor import InceptionExtractor
    from ganeval.metrics.adm import adm_inception_score

    sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
    from outputs import _head_weights  # the golden file's weights: the default network plus a seeded head

    weights = _head_weights(tmp_path)
    built = InceptionExtractor(weights, device="cpu").network.output.weight.detach()

    def no_network(*args, **kwargs):
        raise AssertionError("the ADM suite of two stats files must not build the Inception network")

    monkeypatch.setattr(compute, "get_inception", no_network)
    result = evaluate(files[0], files[1], suite="adm", weights=str(weights))
    features_b = ganeval.load_statistics(files[1], with_features=True)["pool3"].features
    assert result["inception_score"] == adm_inception_score(features_b, built)
    assert torch.equal(compute.logits_head_of(ExtractorOptions(weights=str(weights))), built)
    from ganeval.extractors.weights import resolve_weights

    default = evaluate(files[0], files[1], suite="adm")  # IS omitted unless a head is cached for the default
    assert ("inception_score" in default.metrics) == resolve_weights(None).has_logits
    assert ("inception_score" in default["omitted"]) != resolve_weights(None).has_logits
