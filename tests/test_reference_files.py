"""Reading reference statistics published by other tools: ADM batches, EDM2 pickles, mu/sigma .npz.

Every file is built here in the publisher's layout (checked against their code: ADM's
evaluations/evaluator.py, EDM2's calculate_metrics.py), with random statistics of the real
dimensions (pool3 2048, spatial 2023, DINOv2 1024).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from ganeval.core.errors import GanevalError
from ganeval.io.reference_files import (ReferenceStats, detect_reference_kind, read_adm_batch, read_edm2_pickle,
                                        read_npz_stats, read_reference, to_stats_file)
from ganeval.core.stats import load_stats


def _moments(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, d))
    mu = rng.standard_normal(d)
    sigma = x.T @ x / 39
    return mu, (sigma + sigma.T) / 2


@pytest.fixture(scope="module")
def spaces():
    return {"pool3": _moments(2048, 1), "spatial": _moments(2023, 2), "dinov2": _moments(1024, 3)}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), rng.integers(0, 1000, 6).astype(np.int64)


@pytest.fixture(scope="module")
def adm_file(tmp_path_factory, spaces, images):
    path = tmp_path_factory.mktemp("adm") / "VIRTUAL_test_labeled.npz"
    (mu, sigma), (mu_s, sigma_s) = spaces["pool3"], spaces["spatial"]
    np.savez(path, arr_0=images[0], arr_1=images[1], mu=mu, sigma=sigma, mu_s=mu_s, sigma_s=sigma_s)
    return path


def _edm2_dict(spaces, num_images=1234):
    # calculate_metrics.py: r.stats = dict(num_images=...); r.stats[metric] = dict(mu=..., sigma=...)
    return {"num_images": num_images,
            "fid": {"mu": spaces["pool3"][0], "sigma": spaces["pool3"][1]},
            "fd_dinov2": {"mu": spaces["dinov2"][0], "sigma": spaces["dinov2"][1]}}


def test_adm_reference_batch_reads_statistics_without_images(adm_file, spaces, images):
    ref = read_adm_batch(adm_file)
    assert isinstance(ref, ReferenceStats)
    assert ref.mode == "tf1" and ref.count is None and ref.images is None and ref.labels is None
    assert list(ref.spaces) == ["pool3", "spatial"]
    for name in ("pool3", "spatial"):
        mu, sigma = ref.spaces[name]
        assert mu.dtype == np.float64 and sigma.dtype == np.float64
        np.testing.assert_array_equal(mu, spaces[name][0])
        np.testing.assert_array_equal(sigma, spaces[name][1])
    assert ref.provenance["batch_images"] == 6 and ref.provenance["image_shape"] == [8, 8, 3]
    assert ref.provenance["has_labels"] is True
    ref.load_images()
    np.testing.assert_array_equal(ref.images, images[0])
    np.testing.assert_array_equal(ref.labels, images[1])
    with_images = read_adm_batch(adm_file, images=True)
    assert with_images.images.dtype == np.uint8 and with_images.images.shape == (6, 8, 8, 3)
    # numpy.savez stores members uncompressed, as the evaluator's ~10 GB batches are: mapped, not loaded.
    assert isinstance(with_images.images, np.memmap)


def test_adm_images_are_read_only_when_asked(tmp_path, spaces):
    # arr_0 has a valid header but its data is cut short: statistics read fine, the images do not.
    path = tmp_path / "lazy.npz"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros((1000, 64, 64, 3), dtype=np.uint8))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("arr_0.npy", buffer.getvalue()[:4096])
        for name, array in (("mu", spaces["pool3"][0]), ("sigma", spaces["pool3"][1])):
            member = io.BytesIO()
            np.lib.format.write_array(member, array)
            archive.writestr(f"{name}.npy", member.getvalue())
    ref = read_adm_batch(path)
    assert ref.provenance["batch_images"] == 1000 and list(ref.spaces) == ["pool3"]
    with pytest.raises(GanevalError, match="lazy.npz"):
        ref.load_images()


def test_adm_sample_batch_holds_images_only(tmp_path, images):
    path = tmp_path / "samples.npz"
    np.savez(path, arr_0=images[0])
    ref = read_reference(path)
    assert ref.spaces == {} and ref.count == 6 and ref.mode == "tf1"
    with pytest.raises(GanevalError, match="holds no pool3 statistics.*ganeval stats"):
        to_stats_file(ref, tmp_path / "out.h5")


def test_adm_batch_object_arrays_and_bad_layouts_are_refused(tmp_path, spaces, images):
    objects = tmp_path / "objects.npz"
    np.savez(objects, arr_0=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(GanevalError, match="objects.npz.*pickled Python objects"):
        read_adm_batch(objects)
    floats = tmp_path / "floats.npz"
    np.savez(floats, arr_0=images[0].astype(np.float32))
    with pytest.raises(GanevalError, match=r"floats.npz: 'arr_0' is float32 \[6, 8, 8, 3\]; .*uint8"):
        read_adm_batch(floats)
    lonely = tmp_path / "lonely.npz"
    np.savez(lonely, arr_0=images[0], mu_s=spaces["spatial"][0])
    with pytest.raises(GanevalError, match="lonely.npz: holds mu_s without its partner"):
        read_adm_batch(lonely)
    small = tmp_path / "small.npz"
    np.savez(small, arr_0=images[0], mu=np.zeros(8), sigma=np.eye(8))
    with pytest.raises(GanevalError, match=r"small.npz: 'mu'/'sigma' mu has shape \(8,\).*\[2048\]"):
        read_adm_batch(small)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_edm2_pickle_reads_fid_and_keeps_dinov2(tmp_path, spaces, protocol):
    path = tmp_path / "img512.pkl"
    with open(path, "wb") as handle:
        pickle.dump(_edm2_dict(spaces), handle, protocol=protocol)
    assert detect_reference_kind(path) == "edm2"
    ref = read_reference(path)
    assert ref.mode == "nvidia" and ref.count == 1234
    assert set(ref.spaces) == {"pool3", "dinov2"} and ref.comparable_spaces == ["pool3", "dinov2"]
    np.testing.assert_array_equal(ref.spaces["pool3"][0], spaces["pool3"][0])
    np.testing.assert_array_equal(ref.spaces["pool3"][1], spaces["pool3"][1])
    np.testing.assert_array_equal(ref.spaces["dinov2"][1], spaces["dinov2"][1])
    assert "not_comparable" not in ref.provenance
    assert ref.space("pool3")[0] is ref.spaces["pool3"][0]
    assert ref.space("dinov2")[0] is ref.spaces["dinov2"][0]


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Builtin:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_malicious_pickle_is_refused_without_running(tmp_path, spaces):
    marker = tmp_path / "marker"
    plain = tmp_path / "evil.pkl"
    with open(plain, "wb") as handle:
        pickle.dump(_RunsACommand(marker), handle)
    nested = tmp_path / "nested.pkl"
    payload = _edm2_dict(spaces)
    payload["fid"]["extra"] = _RunsACommand(marker)
    with open(nested, "wb") as handle:
        pickle.dump(payload, handle, protocol=4)
    for path in (plain, nested):
        with pytest.raises(GanevalError) as info:
            read_edm2_pickle(path)
        message = str(info.value)
        assert message.startswith(f"{path}: refused to unpickle") and "system" in message
        assert "nothing in it was run" in message and "\n" not in message
    assert not marker.exists()
    # The test's own pickle, loaded by the plain unpickler, does run the command: the refusal above is real.
    pickle.loads(plain.read_bytes())
    assert marker.exists()
    eval_pickle = tmp_path / "eval.pkl"
    with open(eval_pickle, "wb") as handle:
        pickle.dump(_Builtin(), handle)
    with pytest.raises(GanevalError, match="references builtins.eval"):
        read_edm2_pickle(eval_pickle)
    own_class = tmp_path / "own.pkl"
    with open(own_class, "wb") as handle:
        pickle.dump({"fid": {"mu": ReferenceStats({}, None, "tf1")}}, handle)
    with pytest.raises(GanevalError, match="references ganeval.io.reference_files.ReferenceStats"):
        read_edm2_pickle(own_class)


def test_pickled_object_arrays_and_bad_content_are_refused(tmp_path, spaces):
    objects = tmp_path / "objects.pkl"
    with open(objects, "wb") as handle:
        pickle.dump({"fid": {"mu": np.array([1, 2], dtype=object), "sigma": np.eye(2)}}, handle)
    with pytest.raises(GanevalError, match="objects.pkl: unreadable pickle.*object dtype"):
        read_edm2_pickle(objects)
    not_dict = tmp_path / "list.pkl"
    with open(not_dict, "wb") as handle:
        pickle.dump([1, 2], handle)
    with pytest.raises(GanevalError, match="list.pkl: holds a list"):
        read_edm2_pickle(not_dict)
    wrong = tmp_path / "wrong.pkl"
    with open(wrong, "wb") as handle:
        # protocol 2 spells the array bytes as _codecs.encode(str, 'latin1'): read, then refused for its shape
        pickle.dump({"num_images": 10, "fid": {"mu": np.zeros(3), "sigma": np.eye(3)}}, handle, protocol=2)
    with pytest.raises(GanevalError, match=r"wrong.pkl: 'fid' mu has shape \(3,\)"):
        read_edm2_pickle(wrong)
    numpy1 = tmp_path / "numpy1.pkl"  # numpy 1.x names the module numpy.core (numpy 2: numpy._core)
    data = pickle.dumps({"num_images": 10, "fid": {"mu": np.zeros(3), "sigma": np.eye(3)}}, protocol=2)
    assert b"cnumpy._core.multiarray\n_reconstruct" in data
    numpy1.write_bytes(data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    with pytest.raises(GanevalError, match=r"numpy1.pkl: 'fid' mu has shape \(3,\)"):
        read_edm2_pickle(numpy1)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps(_edm2_dict(spaces))[:5000])
    with pytest.raises(GanevalError, match="truncated.pkl: unreadable pickle"):
        read_edm2_pickle(truncated)


def test_ttur_and_cleanfid_npz(tmp_path, spaces):
    mu, sigma = spaces["pool3"]
    ttur = tmp_path / "fid_stats_cifar10_train.npz"
    np.savez(ttur, mu=mu, sigma=sigma)
    assert detect_reference_kind(ttur) == "npz"
    with pytest.raises(GanevalError, match="does not record its resize; pass --mode"):
        read_reference(ttur)
    ref = read_reference(ttur, mode="tf1", count=50000)
    assert ref.mode == "tf1" and ref.count == 50000 and list(ref.spaces) == ["pool3"]
    np.testing.assert_array_equal(ref.spaces["pool3"][1], sigma)
    cleanfid = tmp_path / "cifar10_legacy_tensorflow_train_32.npz"
    np.savez(cleanfid, mu=mu.astype(np.float32), sigma=sigma)
    assert read_npz_stats(cleanfid).mode == "nvidia"
    with pytest.raises(GanevalError, match="clean-fid file name says mode legacy_tensorflow"):
        read_npz_stats(cleanfid, mode="clean")
    feats = tmp_path / "afhq_cat_clean_train_512_kid.npz"
    features = np.random.default_rng(5).standard_normal((7, 2048)).astype(np.float32)
    np.savez(feats, feats=features)
    ref = read_npz_stats(feats)
    assert ref.count == 7 and ref.mode == "clean"
    np.testing.assert_allclose(ref.spaces["pool3"][0], features.astype(np.float64).mean(0), atol=1e-12)
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu=np.array([object()], dtype=object), sigma=sigma)
    with pytest.raises(GanevalError, match="bad.npz: array 'mu' holds pickled Python objects"):
        read_npz_stats(bad, mode="tf1")


def test_detect_kind(tmp_path, adm_file, spaces):
    assert detect_reference_kind(adm_file) == "adm"
    h5 = tmp_path / "x.h5"
    to_stats_file(read_adm_batch(adm_file), h5, count=100)
    assert detect_reference_kind(h5) == "stats"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world")
    with pytest.raises(GanevalError, match="junk.bin: not a reference file"):
        detect_reference_kind(junk)
    other = tmp_path / "other.npz"
    np.savez(other, something=np.zeros(3))
    with pytest.raises(GanevalError, match=r"other.npz: .npz holds \['something'\]"):
        detect_reference_kind(other)
    with pytest.raises(GanevalError, match="missing.npz: no such file"):
        detect_reference_kind(tmp_path / "missing.npz")


def test_to_stats_file_writes_pool3_exactly(tmp_path, adm_file, spaces):
    ref = read_adm_batch(adm_file)
    with pytest.raises(GanevalError, match="does not record how many images.*--count"):
        to_stats_file(ref, tmp_path / "no-count.h5")
    out = to_stats_file(ref, tmp_path / "adm.h5", count=1_281_167, name="adm/test")
    stats = load_stats(out)
    assert stats.count == 1_281_167
    np.testing.assert_array_equal(stats.mu, spaces["pool3"][0])
    np.testing.assert_array_equal(stats.sigma, spaces["pool3"][1])
    assert stats.provenance["mode"] == "tf1" and stats.provenance["reference_name"] == "adm/test"
    assert stats.provenance["reference_spaces"] == "pool3,spatial"
    assert stats.provenance["reference_spaces_not_in_this_file"] == ""
    assert stats.provenance["weights_known"]
    np.testing.assert_array_equal(stats["spatial"].mu, spaces["spatial"][0])  # mu_s/sigma_s, as the sFID space
    np.testing.assert_array_equal(stats["spatial"].sigma, spaces["spatial"][1])
    assert stats["spatial"].provenance["extractor"].endswith("/spatial")

    edm2 = tmp_path / "img.pkl"
    with open(edm2, "wb") as handle:
        pickle.dump(_edm2_dict(spaces, 50_000), handle)
    stats = load_stats(to_stats_file(read_edm2_pickle(edm2), tmp_path / "edm2.h5"))
    assert stats.count == 50_000 and stats.provenance["mode"] == "nvidia"
    np.testing.assert_array_equal(stats.sigma, spaces["pool3"][1])
    # EDM2's fd_dinov2 as the dinov2 space of DinoV2Extractor(convention="edm2") with Meta's official weights.
    dinov2 = stats["dinov2"]
    np.testing.assert_array_equal(dinov2.sigma, spaces["dinov2"][1])
    assert dinov2.provenance["extractor"] == "dinov2-vitl14/dinov2" and dinov2.provenance["mode"] == "edm2"
    assert dinov2.provenance["weights_sha256"] == "dinov2-vitl14-official" and dinov2.provenance["feature_dim"] == 1024
