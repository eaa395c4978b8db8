"""Preprocessing modes against references computed independently (hand arithmetic,
plain float64 loops, torch and PIL called directly)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganeval.core.errors import GanevalError
from ganeval.extractors.preprocess import (
    DEFAULT_MODE,
    INPUT_SIZE,
    MODES,
    preprocess,
    tf1_resize_bilinear,
)

# (H, W) of random test images: upscaling, non-square, downscaling, one side already 299.
SIZES = [(32, 32), (64, 48), (500, 400), (299, 150)]


def random_images(n, h, w, seed=0):
    """uint8 [n, 3, h, w] uniform noise: neighbouring pixels differ a lot, so any
    sampling-position error shows up in the values."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=generator)


def to_0_255(normalised):
    """Undo (x - 128) / 128."""
    return normalised.double() * 128 + 128


def f32(value):
    return float(np.float32(value))


def tf1_source(i, in_size, out_size):
    # TF1 computes scale = in / out and i * scale in float32; products of two float32 are
    # exact in float64, so rounding once to float32 reproduces TF's value.
    return f32(i * f32(in_size / out_size))


def half_pixel_source(i, in_size, out_size):
    # torch: float32 scale * (i + 0.5) - 0.5, compiled as one fused multiply-add (a single
    # rounding; rounding twice moves coordinates by up to ~4e-6 px, ~1e-3 on 0..255 noise),
    # negative coordinates clamped to 0. In float64 the product and sum here are exact.
    return max(f32(f32(in_size / out_size) * (i + 0.5) - 0.5), 0.0)


def bilinear_loop_reference(image, out_h, out_w, source_fn):
    """float64 bilinear resize of one image, uint8 [C, H, W] -> float64 [C, out_h, out_w]
    0..255, written as a plain loop over output pixels."""
    channels, in_h, in_w = image.shape
    pixels = image.double().tolist()

    def taps(i, in_size, out_size):
        src = source_fn(i, in_size, out_size)
        lower = math.floor(src)
        return lower, min(lower + 1, in_size - 1), src - lower

    rows = [taps(i, in_h, out_h) for i in range(out_h)]
    cols = [taps(j, in_w, out_w) for j in range(out_w)]
    out = np.empty((channels, out_h, out_w))
    for c in range(channels):
        plane = pixels[c]
        for i, (y0, y1, wy) in enumerate(rows):
            top_row, bottom_row = plane[y0], plane[y1]
            for j, (x0, x1, wx) in enumerate(cols):
                top = top_row[x0] * (1 - wx) + top_row[x1] * wx
                bottom = bottom_row[x0] * (1 - wx) + bottom_row[x1] * wx
                out[c, i, j] = top * (1 - wy) + bottom * wy
    return out


def pil_bicubic_weights(in_size, out_size):
    """float64 [out_size, in_size] weights of PIL's bicubic resampling along one axis."""

    def keys_cubic(t, a=-0.5):
        t = abs(t)
        if t < 1:
            return ((a + 2) * t - (a + 3)) * t * t + 1
        if t < 2:
            return a * (((t - 5) * t + 8) * t - 4)
        return 0.0

    scale = in_size / out_size
    filter_scale = max(scale, 1.0)  # downscaling widens the kernel: antialiasing
    support = 2.0 * filter_scale
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = (i + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        stop = min(int(center + support + 0.5), in_size)
        for k in range(first, stop):
            weights[i, k] = keys_cubic((k - center + 0.5) / filter_scale)
        weights[i] /= weights[i].sum()
    return weights


def clean_reference(images, clip=True):
    """float64 [N, 3, 299, 299] 0..255 from uint8 [N, 3, H, W]: separable PIL-style bicubic."""
    h, w = images.shape[-2:]
    rows = pil_bicubic_weights(h, INPUT_SIZE)
    cols = pil_bicubic_weights(w, INPUT_SIZE)
    resized = rows @ images.double().numpy() @ cols.T
    return np.clip(resized, 0, 255) if clip else resized


# ---------------------------------------------------------------- tf1


def test_default_mode_is_tf1():
    assert DEFAULT_MODE == "tf1"
    assert MODES == ("tf1", "nvidia", "pytorch-fid", "clean")
    images = random_images(1, 40, 40)
    assert torch.equal(preprocess(images), preprocess(images, "tf1"))


def test_tf1_hand_worked_upscale_1x3_to_1x5():
    row = torch.tensor([[[[0.0, 30.0, 90.0]]]])
    # scale = 3/5 = 0.6, source x = 0, 0.6, 1.2, 1.8, 2.4
    # x=0.6: 0 + 0.6*(30-0) = 18;  x=1.2: 30 + 0.2*(90-30) = 42;  x=1.8: 30 + 0.8*60 = 78
    # x=2.4: floor 2, upper neighbour min(3, 2) = 2, so just 90
    expected = torch.tensor([[[[0.0, 18.0, 42.0, 78.0, 90.0]]]])
    out = tf1_resize_bilinear(row, 1, 5)
    assert torch.allclose(out, expected, atol=1e-4, rtol=0), f"max error {(out - expected).abs().max()}"


def test_tf1_hand_worked_upscale_2x2_to_4x4():
    square = torch.tensor([[[[0.0, 100.0], [200.0, 40.0]]]])
    # scale 0.5: source 0, 0.5, 1, 1.5 -> (lower, upper, weight) = (0,1,0) (0,1,.5) (1,1,0) (1,1,.5)
    # widths: row 0 -> [0, 50, 100, 100], row 1 -> [200, 120, 40, 40]
    # heights: rows 0, mean of both ([100, 85, 70, 70]), row 1, row 1 again
    # (no half-pixel offset: the last row/column repeat instead of the image being centred)
    expected = torch.tensor(
        [[[[0.0, 50.0, 100.0, 100.0],
           [100.0, 85.0, 70.0, 70.0],
           [200.0, 120.0, 40.0, 40.0],
           [200.0, 120.0, 40.0, 40.0]]]]
    )
    assert torch.equal(tf1_resize_bilinear(square, 4, 4), expected)


def test_tf1_hand_worked_downscale_1x5_to_1x2():
    row = torch.tensor([[[[10.0, 20.0, 30.0, 50.0, 90.0]]]])
    # scale 2.5: source 0 -> 10;  source 2.5 -> 30 + 0.5*(50-30) = 40 (pixels 1 and 4 skipped)
    assert torch.equal(tf1_resize_bilinear(row, 1, 2), torch.tensor([[[[10.0, 40.0]]]]))


@pytest.mark.parametrize("h,w", SIZES)
def test_tf1_matches_float64_loop(h, w):
    images = random_images(2, h, w, seed=h * 1000 + w)
    out = to_0_255(preprocess(images, "tf1"))
    for n in range(images.shape[0]):
        expected = bilinear_loop_reference(images[n], INPUT_SIZE, INPUT_SIZE, tf1_source)
        error = np.abs(out[n].numpy() - expected).max()
        assert error <= 1e-4, f"tf1 {h}x{w}: max error {error} on 0..255 > 1e-4"


def test_tf1_resize_bilinear_arbitrary_output_size():
    images = random_images(1, 23, 41, seed=3)
    out = tf1_resize_bilinear(images.float(), 57, 13)
    expected = bilinear_loop_reference(images[0], 57, 13, tf1_source)
    error = np.abs(out[0].double().numpy() - expected).max()
    assert out.dtype == torch.float32 and out.shape == (1, 3, 57, 13)
    assert error <= 1e-4, f"max error {error} on 0..255 > 1e-4"


def test_tf1_299_input_is_only_normalised():
    images = random_images(2, INPUT_SIZE, INPUT_SIZE)
    expected = (images.float() - 128) / 128
    assert torch.equal(preprocess(images, "tf1"), expected)  # exact, no tolerance


# ---------------------------------------------------------------- nvidia / pytorch-fid


@pytest.mark.parametrize("h,w", SIZES)
def test_nvidia_matches_torch_interpolate_and_float64_loop(h, w):
    images = random_images(2, h, w, seed=h * 1000 + w + 1)
    out = preprocess(images, "nvidia")

    direct = F.interpolate(images.float(), size=(299, 299), mode="bilinear", align_corners=False)
    assert torch.allclose(out, (direct - 128) / 128, atol=1e-6, rtol=0)

    resized = to_0_255(out)
    for n in range(images.shape[0]):
        expected = bilinear_loop_reference(images[n], INPUT_SIZE, INPUT_SIZE, half_pixel_source)
        error = np.abs(resized[n].numpy() - expected).max()
        assert error <= 1e-4, f"nvidia {h}x{w}: max error {error} on 0..255 > 1e-4"


@pytest.mark.parametrize("h,w", SIZES)
def test_pytorch_fid_matches_torch_interpolate(h, w):
    images = random_images(2, h, w, seed=h * 1000 + w + 2)
    out = preprocess(images, "pytorch-fid")
    direct = F.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False)
    assert torch.allclose(out, 2 * direct - 1, atol=1e-6, rtol=0)


@pytest.mark.parametrize("h,w", [(64, 48), (500, 400)])
def test_pytorch_fid_differs_from_nvidia_only_by_normalisation(h, w):
    images = random_images(2, h, w, seed=7)
    nvidia = preprocess(images, "nvidia").double()
    pytorch_fid = preprocess(images, "pytorch-fid").double()
    # nvidia: (x - 128) / 128; pytorch-fid: 2 * (x / 255) - 1, with x the same resized image
    renormalised = 2 * ((nvidia * 128 + 128) / 255) - 1
    error = (pytorch_fid - renormalised).abs().max().item()
    assert error <= 1e-6, f"max difference {error} > 1e-6 (float32 rounding only)"
    assert (pytorch_fid - nvidia).abs().max().item() > 1e-3  # the normalisations do differ


# ---------------------------------------------------------------- clean


@pytest.mark.parametrize("h,w", [(32, 32), (64, 48), (500, 400), (299, 150)])
def test_clean_matches_float64_pil_bicubic(h, w):
    images = random_images(2, h, w, seed=h * 1000 + w + 3)
    out = to_0_255(preprocess(images, "clean")).numpy()
    expected = clean_reference(images)
    error = np.abs(out - expected).max()
    assert error <= 1e-3, f"clean {h}x{w}: max error {error} on 0..255 > 1e-3"
    # Bicubic overshoots on noise, so the clip to [0, 255] is exercised here.
    unclipped = clean_reference(images, clip=False)
    assert unclipped.min() < 0 and unclipped.max() > 255


@pytest.mark.parametrize("h,w", [(32, 32), (500, 400)])
def test_clean_matches_pil_directly(h, w):
    images = random_images(1, h, w, seed=11)
    out = to_0_255(preprocess(images, "clean"))
    for c in range(3):
        plane = Image.fromarray(images[0, c].numpy().astype(np.float32))
        expected = np.asarray(plane.resize((299, 299), Image.Resampling.BICUBIC)).clip(0, 255)
        error = np.abs(out[0, c].numpy() - expected).max()
        assert error <= 1e-4, f"clean vs PIL {h}x{w}: max error {error} on 0..255 > 1e-4"


# ---------------------------------------------------------------- all modes


def test_all_modes_return_float32_299_on_input_device():
    images = random_images(3, 45, 70)
    for mode in MODES:
        out = preprocess(images, mode)
        assert out.dtype == torch.float32
        assert out.shape == (3, 3, INPUT_SIZE, INPUT_SIZE)
        assert out.device == images.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    images = random_images(2, 64, 48)
    for mode in MODES:
        on_gpu = preprocess(images.cuda(), mode)
        assert on_gpu.device.type == "cuda"
        error = (on_gpu.cpu() - preprocess(images, mode)).abs().max().item()
        assert error <= 1e-5, f"{mode}: cuda vs cpu max error {error} > 1e-5"


def test_modes_differ_on_resized_images():
    images = random_images(1, 64, 48, seed=5)
    resized = {mode: to_0_255(preprocess(images, mode)) for mode in ("tf1", "nvidia", "clean")}
    resized["pytorch-fid"] = (preprocess(images, "pytorch-fid").double() + 1) / 2 * 255
    distinct_pairs = [("tf1", "nvidia"), ("tf1", "clean"), ("nvidia", "clean"), ("tf1", "pytorch-fid")]
    for first, second in distinct_pairs:
        difference = (resized[first] - resized[second]).abs().max().item()
        assert difference > 1.0, f"{first} and {second} differ by only {difference} on 0..255"


def test_modes_agree_on_299_inputs():
    images = random_images(2, INPUT_SIZE, INPUT_SIZE, seed=9)
    tf1 = preprocess(images, "tf1")
    assert torch.equal(preprocess(images, "nvidia"), tf1)
    assert torch.equal(preprocess(images, "clean"), tf1)
    pytorch_fid = preprocess(images, "pytorch-fid")
    assert torch.allclose(pytorch_fid, 2 * (images.float() / 255) - 1, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- errors


def test_unknown_mode_lists_modes():
    with pytest.raises(GanevalError) as raised:
        preprocess(random_images(1, 8, 8), "bicubic")
    message = str(raised.value)
    assert "bicubic" in message and all(mode in message for mode in MODES)
    assert "\n" not in message


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.uint16])
def test_non_uint8_input_is_rejected(dtype):
    images = torch.zeros(1, 3, 8, 8, dtype=dtype)
    with pytest.raises(GanevalError, match="uint8"):
        preprocess(images)


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (1, 4, 8, 8), (3, 8, 8), (1, 8, 8, 3), (1, 3, 0, 8)])
def test_wrong_shape_is_rejected(shape):
    with pytest.raises(GanevalError, match="shape"):
        preprocess(torch.zeros(shape, dtype=torch.uint8))
