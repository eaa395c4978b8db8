"""Stats interchange (pytorch-fid/TTUR and clean-fid .npz), exact shard merging, and the
metric commands end to end on real photographs with the real Inception weights."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import torch

import ganeval
from ganeval.cli.commands import main
from ganeval.cli.demo import write_demo_images
from ganeval.core.errors import GanevalError
from ganeval.extractors.weights import TF_INCEPTION_DIGEST, export_state_dict, load_state_dict, resolve_weights
from ganeval.io.interchange import export_cleanfid, export_npz, import_npz, merge_stats
from ganeval.core.stats import load_stats
from ganeval.metrics.frechet import frechet_distance
from ganeval.metrics.inception_score import inception_score
from ganeval.metrics.kid import kid
from ganeval.metrics.prdc import prdc
from ganeval.core.stats import FeatureStats

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out: seconds per test

PROVENANCE = {"extractor": "test", "weights_sha256": "w" * 64, "mode": "tf1", "precision": "fp32", "feature_dim": 16}


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def features(n, d=16, seed=0, offset=50.0):
    rng = np.random.default_rng(seed)
    return offset + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))


def stats_of(x, **provenance):
    stats = FeatureStats(x.shape[1], provenance={**PROVENANCE, **provenance}, keep_features=True)
    for start in range(0, len(x), 13):
        stats.add_features(torch.from_numpy(x[start:start + 13]))
    return stats


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


# ---------------------------------------------------------------- npz import / export


def test_npz_round_trips_are_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3000, 2048)).astype(np.float32)[:, :64] @ rng.normal(size=(64, 2048))
    mu, sigma = a.mean(axis=0), np.cov(a, rowvar=False)
    np.savez_compressed(tmp_path / "ref.npz", mu=mu, sigma=sigma)
    stats = import_npz(tmp_path / "ref.npz", mode="pytorch-fid", network="tf-inception", count=3000)
    stats.save(tmp_path / "ref.h5")
    with h5py.File(tmp_path / "ref.h5") as h5:
        assert np.array_equal(h5["pool3/mu"][()], mu) and np.array_equal(h5["pool3/sigma"][()], sigma)
        assert h5["pool3"].attrs["imported_from"] == str((tmp_path / "ref.npz").resolve())
        assert len(h5["pool3"].attrs["imported_file_sha256"]) == 64 and h5["pool3"].attrs["weights_sha256"] == TF_INCEPTION_DIGEST
    export_npz(tmp_path / "ref.h5", tmp_path / "back.npz")
    with np.load(tmp_path / "back.npz") as back:
        assert np.array_equal(back["mu"], mu) and np.array_equal(back["sigma"], sigma)
        assert back["sigma"].dtype == np.float64
    # ganeval → npz → ganeval keeps the stored datasets bit for bit too.
    stats_of(features(40)).save(tmp_path / "ours.h5")
    export_npz(tmp_path / "ours.h5", tmp_path / "ours.npz")
    import_npz(tmp_path / "ours.npz", mode="tf1", network="unknown", count=40).save(tmp_path / "again.h5")
    with h5py.File(tmp_path / "ours.h5") as h1, h5py.File(tmp_path / "again.h5") as h2:
        assert np.array_equal(h1["pool3/mu"][()], h2["pool3/mu"][()]) and np.array_equal(h1["pool3/sigma"][()], h2["pool3/sigma"][()])


def test_cleanfid_files_import_and_export(tmp_path):
    x = features(30, d=2048, seed=2).astype(np.float32)
    stats = stats_of(x, extractor="inception-v3-tf-2015-12-05/pool3", mode="clean", feature_dim=2048)
    stats.save(tmp_path / "mine.h5")
    written = export_cleanfid(tmp_path / "mine.h5", tmp_path, "faces")
    assert [p.name for p in written] == ["faces_clean_custom_na.npz", "faces_clean_custom_na_kid.npz"]
    with np.load(written[1]) as kid_file:
        assert np.array_equal(kid_file["feats"], x)
    # The KID file carries the features: import rebuilds exact moments from them.
    imported = import_npz(written[1], mode="clean", network="tf-inception")
    assert imported.count == 30 and np.array_equal(imported.features, x)
    assert relative(imported.sigma, np.cov(x.astype(np.float64), rowvar=False)) < 1e-12
    with pytest.raises(GanevalError, match="says mode legacy_tensorflow.*--mode nvidia"):
        np.savez(tmp_path / "x_legacy_tensorflow_custom_na.npz", mu=np.zeros(2048), sigma=np.eye(2048))
        import_npz(tmp_path / "x_legacy_tensorflow_custom_na.npz", mode="clean", network="tf-inception", count=5)
    with pytest.raises(GanevalError, match="no mode with ganeval's 'tf1'"):
        stats_of(x, mode="tf1", feature_dim=2048).save(tmp_path / "tf1.h5")
        export_cleanfid(tmp_path / "tf1.h5", tmp_path, "faces")


def test_import_refuses_bad_files_and_missing_declarations(tmp_path):
    np.savez(tmp_path / "ok.npz", mu=np.zeros(4), sigma=np.eye(4))
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    np.savez(tmp_path / "asym.npz", mu=np.zeros(2), sigma=np.array([[1.0, 0.5], [0.0, 1.0]]))
    (tmp_path / "text.npz").write_text("hello")
    cases = [("ok.npz", dict(count=None), "--count"), ("other.npz", dict(count=3), "expected 'mu' and 'sigma'"),
             ("asym.npz", dict(count=3), "not symmetric"), ("text.npz", dict(count=3), "not an .npz"),
             ("ok.npz", dict(count=10, network="tf-inception"), "2048-d")]
    for name, options, expected in cases:
        options = {"network": "unknown", **options}
        with pytest.raises(GanevalError, match=expected) as info:
            import_npz(tmp_path / name, mode="tf1", **options)
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------- merge


def test_merging_halves_equals_the_whole(tmp_path):
    x = features(301, seed=3)
    stats_of(x[:120]).save(tmp_path / "a.h5")
    stats_of(x[120:]).save(tmp_path / "b.h5")
    merged = merge_stats([tmp_path / "a.h5", tmp_path / "b.h5"])
    merged.save(tmp_path / "all.h5")
    whole = load_stats(tmp_path / "all.h5", with_features=True)
    assert whole.count == 301
    assert relative(whole.mu, x.mean(axis=0)) < 1e-10
    assert relative(whole.sigma, np.cov(x, rowvar=False)) < 1e-10
    assert np.array_equal(whole.features, x.astype(np.float32))
    record = whole.provenance["merged_from"]
    assert [r["count"] for r in record] == [120, 181] and record[0]["file"].endswith("a.h5")


def test_merge_refuses_different_provenance_and_repeats(tmp_path):
    stats_of(features(20, seed=4), source_fingerprint="sha256:a").save(tmp_path / "a.h5")
    stats_of(features(20, seed=5), mode="clean", source_fingerprint="sha256:b").save(tmp_path / "clean.h5")
    stats_of(features(20, seed=6), weights_sha256="x" * 64, source_fingerprint="sha256:c").save(tmp_path / "w.h5")
    with pytest.raises(GanevalError, match="differ in mode"):
        merge_stats([tmp_path / "a.h5", tmp_path / "clean.h5"])
    with pytest.raises(GanevalError, match="differ in weights_sha256"):
        merge_stats([tmp_path / "a.h5", tmp_path / "w.h5"])
    with pytest.raises(GanevalError, match="same images"):
        merge_stats([tmp_path / "a.h5", tmp_path / "a.h5"])


# ---------------------------------------------------------------- CLI end to end, real images and weights


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """12 real photos and their perturbed copies as PNGs, plus two 6-image shards of the real ones;
    stats with features of each computed once through the CLI."""
    root = tmp_path_factory.mktemp("photos")
    real, perturbed = write_demo_images(root, 12)
    for i, part in enumerate(("shard1", "shard2")):
        (root / part).mkdir()
        for png in sorted(real.glob("*.png"))[i * 6:(i + 1) * 6]:
            (root / part / png.name).write_bytes(png.read_bytes())
    for folder in ("real", "perturbed", "shard1", "shard2"):
        with pytest.raises(SystemExit) as info:
            main(["stats", str(root / folder), "-o", str(root / f"{folder}.h5"), "--save-features", "--workers", "0",
                  "-q"])
        assert info.value.code == 0
    return root


def stored_features(path):
    with h5py.File(path) as h5:
        return h5["pool3/features"][()].astype(np.float64)


def test_eval_reports_every_metric_from_stored_features(photos, capsys):
    real_h5, fake_h5 = photos / "real.h5", photos / "perturbed.h5"
    code, out, err = run(["eval", str(real_h5), str(fake_h5), "--metrics", "fid,kid,prdc", "--json",
                          "--kid-subset-size", "10", "--kid-subsets", "10", "--bootstrap", "2", "--fid-inf",
                          "--fid-inf-points", "3"], capsys)
    assert code == 0, err
    report = json.loads(out)
    a, b = stored_features(real_h5), stored_features(fake_h5)
    fid = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert report["fid"] == pytest.approx(fid, rel=1e-9)
    expected_kid = kid(a, b, num_subsets=10, subset_size=10, seed=0)
    assert (report["kid"]["mean"], report["kid"]["std"]) == pytest.approx((expected_kid.mean, expected_kid.std),
                                                                         rel=1e-12)
    expected = prdc(a, b)
    assert report["prdc"]["precision"] == expected.precision and report["prdc"]["coverage"] == expected.coverage
    assert report["fid_bootstrap"]["low"] <= report["fid"] <= report["fid_bootstrap"]["high"]
    assert len(report["fid_inf"]["counts"]) == 3 and math.isfinite(report["fid_inf"]["value"])
    # From the images themselves (features computed once), as text; compared with the stored features.
    code, out, err = run(["eval", str(photos / "shard1"), str(photos / "shard2"), "--metrics", "fid,kid",
                          "--kid-subsets", "10", "--workers", "0", "-q"], capsys)
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    s1, s2 = stored_features(photos / "shard1.h5"), stored_features(photos / "shard2.h5")
    shard_fid = frechet_distance(s1.mean(0), np.cov(s1, rowvar=False), s2.mean(0), np.cov(s2, rowvar=False))
    shard_kid = kid(s1, s2, num_subsets=10, seed=0)
    assert float(lines["fid"]) == pytest.approx(shard_fid, rel=1e-6)  # printed with 6 decimals
    image_report = ganeval.evaluate(photos / "shard1", photos / "shard2", metrics="fid,kid", kid_subsets=10,
                                    workers=0)
    assert image_report["fid"] == pytest.approx(shard_fid, rel=1e-9)  # same images, same batches: same features
    assert image_report["kid"]["mean"] == pytest.approx(shard_kid.mean, rel=1e-9)
    assert "no uncertainty estimate" in lines["kid"]  # 6 images a side: every subset of 1000 is all of them
    code, out, err = run(["prdc", str(real_h5), str(fake_h5)], capsys)
    assert code == 0 and f"precision  {expected.precision:.6f}" in out
    code, out, err = run(["kid", str(real_h5), str(fake_h5), "--json", "--kid-subset-size", "10",
                          "--kid-subsets", "10"], capsys)
    assert code == 0 and json.loads(out)["kid"]["mean"] == pytest.approx(expected_kid.mean, rel=1e-12)
    # The Python API gives the same record.
    api_report = ganeval.evaluate(real_h5, str(fake_h5), metrics="fid,prdc")
    assert api_report["fid"] == report["fid"] and api_report["prdc"] == report["prdc"]


def test_metric_commands_explain_missing_features(photos, tmp_path, capsys):
    load_stats(photos / "real.h5").save(tmp_path / "nofeat.h5")
    code, out, err = run(["kid", str(tmp_path / "nofeat.h5"), str(photos / "perturbed.h5")], capsys)
    assert code == 1 and "--save-features" in err and "nofeat.h5" in err and err.count("\n") == 1


def test_cli_merge_of_real_shards_equals_one_run(photos, tmp_path, capsys):
    code, out, err = run(["merge", str(photos / "shard1.h5"), str(photos / "shard2.h5"), "-o",
                          str(tmp_path / "all.h5")], capsys)
    assert code == 0, err
    merged = load_stats(tmp_path / "all.h5")
    both = np.concatenate([stored_features(photos / "shard1.h5"), stored_features(photos / "shard2.h5")])
    assert merged.count == 12
    assert relative(merged.mu, both.mean(0)) < 1e-10 and relative(merged.sigma, np.cov(both, rowvar=False)) < 1e-10
    whole = load_stats(photos / "real.h5")  # one run over the same 12 images, in other batches
    assert relative(merged.mu, whole.mu) < 1e-5 and relative(merged.sigma, whole.sigma) < 1e-4
    assert {r["source"] for r in merged.provenance["merged_from"]} == {str((photos / s).resolve())
                                                                       for s in ("shard1", "shard2")}
    code, out, err = run(["merge", str(photos / "shard1.h5"), str(photos / "perturbed.h5"), "-o",
                          str(tmp_path / "mixed.h5")], capsys)
    assert code == 0  # shards of different folders but identical settings merge
    load_stats(photos / "shard2.h5")  # untouched


def test_cli_import_export_and_fid_mode_check(photos, tmp_path, capsys):
    code, out, err = run(["export-stats", str(photos / "real.h5"), "-o", str(tmp_path / "real.npz")], capsys)
    assert code == 0, err
    code, out, err = run(["import-stats", str(tmp_path / "real.npz"), "-o", str(tmp_path / "declared.h5"),
                          "--mode", "tf1", "--network", "tf-inception", "--count", "12"], capsys)
    assert code == 0, err
    code, out, err = run(["fid", str(tmp_path / "declared.h5"), str(photos / "perturbed.h5")], capsys)
    assert code == 0, err
    code, expected, err = run(["fid", str(photos / "real.h5"), str(photos / "perturbed.h5")], capsys)
    assert float(out) == float(expected)
    # Declared with another mode: fid refuses, naming the mode; --allow-mismatch overrides.
    code, out, err = run(["import-stats", str(tmp_path / "real.npz"), "-o", str(tmp_path / "clean.h5"),
                          "--mode", "clean", "--network", "tf-inception", "--count", "12"], capsys)
    assert code == 0
    code, out, err = run(["fid", str(tmp_path / "clean.h5"), str(photos / "perturbed.h5")], capsys)
    assert code == 1 and "differ in mode" in err
    code, out, err = run(["import-stats", str(tmp_path / "real.npz"), "-o", str(tmp_path / "x.h5"),
                          "--network", "tf-inception", "--count", "12"], capsys)
    assert code == 2 and "--mode" in err and not (tmp_path / "x.h5").exists()
    # The .npz given where a stats file belongs points to the import command.
    with pytest.raises(GanevalError, match="ganeval import-stats"):
        load_stats(tmp_path / "real.npz")


def test_inception_score_needs_a_logits_head(photos, tmp_path, capsys):
    code, out, err = run(["is", str(photos / "real.h5")], capsys)
    assert code == 1 and "no logits head" in err and "pt_inception-2015-12-05-6726825d.pth" in err

    state = dict(load_state_dict(resolve_weights()))
    generator = torch.Generator().manual_seed(0)
    state["output.weight"] = 0.05 * torch.randn(1008, 2048, generator=generator)
    state["output.bias"] = 0.1 * torch.randn(1008, generator=generator)
    weights = tmp_path / "pt_inception_random_head.pth"
    torch.save(export_state_dict(state, "pytorch-fid"), weights)
    code, out, err = run(["is", str(photos / "real.h5"), str(photos / "perturbed"), "--weights", str(weights),
                          "--splits", "4", "--json", "--workers", "0", "-q"], capsys)
    assert code == 0, err
    records = json.loads(out)
    w, bias = state["output.weight"].double().numpy(), state["output.bias"].double().numpy()
    for record, h5 in zip(records, ("real.h5", "perturbed.h5")):
        logits = stored_features(photos / h5) @ w.T + bias  # independent: float64 head on stored features
        expected = inception_score(logits, splits=4)
        assert record["mean"] == pytest.approx(expected.mean, rel=1e-7)  # float32 head vs float64
        assert record["std"] == pytest.approx(expected.std, rel=1e-4, abs=1e-8)
        assert 1.0 < record["mean"] < 1008
