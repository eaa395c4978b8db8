"""Guards: a warning for FID of few images, KID whose subsets are whole sets (no uncertainty then),
and generators given without max_images, read up to a stated limit."""

from __future__ import annotations

import itertools
import json
import warnings

import pytest
import torch

import ganeval
from ganeval.cli.commands import main as ganeval_main
from ganeval.io.sources import DEFAULT_ITERABLE_LIMIT, open_source
from ganeval_train.data import load_digits


@pytest.fixture(scope="module")
def stats_files(tmp_path_factory):
    """Real statistics with features: 8 digits (a.h5), 12 other digits (b.h5), 8 more (c.h5)."""
    root = tmp_path_factory.mktemp("guards")
    digits = load_digits().images
    ganeval.compute_stats(digits[:8], workers=0, save_features=True).save(root / "a.h5")
    ganeval.compute_stats(digits[100:112], workers=0, save_features=True).save(root / "b.h5")
    ganeval.compute_stats(digits[200:208], workers=0, save_features=True).save(root / "c.h5")
    return root / "a.h5", root / "b.h5", root / "c.h5"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        ganeval_main(argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_fid_of_few_images_warns_once_on_stderr(stats_files, capsys):
    a, b, _ = map(str, stats_files)
    code, out, err = run(["fid", a, b], capsys)
    assert code == 0 and float(out) > 0
    assert err.count("ganeval: warning:") == 1 and f"8 in {a}, 12 in {b}" in err and "2,048" in err
    code, out, err = run(["fid", a, b, "--quiet"], capsys)
    assert code == 0 and err == ""
    with pytest.warns(UserWarning, match="FID from few images"):
        ganeval.fid(a, b)


def test_kid_says_when_its_spread_is_not_an_uncertainty(stats_files, capsys):
    a, b, c = map(str, stats_files)
    code, out, err = run(["kid", a, c], capsys)  # subset size 1000 >= both sets of 8: every subset is everything
    assert code == 0 and "no uncertainty estimate" in out and "±" not in out
    assert "not an uncertainty" in err and "--kid-subset-size below 8" in err
    code, out, err = run(["kid", a, b], capsys)  # subsets of 8: all of a.h5, a sample of b.h5's 12
    assert code == 0 and f"not an uncertainty, every subset holds all of {a}" in out and "±" not in out
    assert f"the 8 images of {a}:" in err
    code, out, err = run(["kid", a, b, "--kid-subset-size", "4", "--json"], capsys)  # true subsets
    report = json.loads(out)
    assert code == 0 and report["kid"]["std_is_uncertainty"] is True and report["kid"]["std"] > 0
    assert [w for w in report["warnings"] if "KID" in w] == [] and "warning: KID" not in err
    code, out, err = run(["kid", a, b, "--json"], capsys)
    report = json.loads(out)
    assert report["kid"]["std_is_uncertainty"] is False and any("KID subset size" in w for w in report["warnings"])


def test_a_generator_without_max_images_stops_at_the_stated_limit():
    tiny = torch.zeros(500, 3, 2, 2, dtype=torch.uint8)
    endless = open_source(lambda: itertools.repeat(tiny))
    with pytest.warns(UserWarning, match=f"stopped at {DEFAULT_ITERABLE_LIMIT:,} images.*max_images"):
        assert sum(len(batch) for batch in endless.batches(5000)) == DEFAULT_ITERABLE_LIMIT == 50_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finite generator, max_images given, or a list: read whole, no warning
        assert sum(len(batch) for batch in open_source(lambda: iter([tiny, tiny])).batches(300)) == 1000
        assert sum(len(batch) for batch in open_source(lambda: itertools.repeat(tiny), max_images=60_000)
                   .batches(5000)) == 60_000
        assert sum(len(batch) for batch in open_source([tiny] * 101).batches(5000)) == 50_500
