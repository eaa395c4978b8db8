"""Perceptual path length (PPL; Karras et al., "A Style-Based Generator Architecture for Generative
Adversarial Networks", CVPR 2019), as StyleGAN2-ADA (``metrics/perceptual_path_length.py``) and
torch-fidelity (``metric_ppl.py``) compute it:

    d_i = LPIPS(G(p(t_i)), G(p(t_i + ε))) / ε²,   ε = 1e-4,
    PPL = mean of the d_i between their 1st percentile (numpy "lower") and 99th ("higher"), ends kept,

for N random paths p from latent a_i to b_i. Choices (each a parameter):

* ``space="z"``: p interpolates the generator's input; ``space="w"``: a mapping network's output
  (``mapping(z)``), which ``synthesis`` renders. ``interpolation``: "slerp" (StyleGAN's great-circle
  interpolation of the normalised latents; its z-space default), "lerp" (its w-space default, and
  torch-fidelity's default in z).
* ``sampling="end"``: t = 0 (torch-fidelity's only mode; StyleGAN's ``*end``), ``"full"``: t ~ U[0, 1).
* ``crop=True``: StyleGAN's face crop of square images, rows 3/8–7/8 and columns 2/8–6/8; images
  larger than 256 are box-downsampled to 256 (StyleGAN2-ADA).
* images: ``pixels="uint8"`` (generator returns uint8 in [0, 255], torch-fidelity's convention) or
  ``pixels="[-1,1]"`` (float, mapped by (x + 1)·127.5 as StyleGAN; gray images are repeated to RGB);
  the LPIPS module's ``resize`` is torch-fidelity's ``ppl_sample_similarity_resize`` (64 there).

Random parts: a = ``RandomState(seed).randn(N, dim)``, then b from the same stream (float32), then
t (``rand(N)``, "full" only) — torch-fidelity's draws. StyleGAN2-ADA draws with torch on the GPU,
which no CPU code reproduces bit for bit; its protocol, not its stream, is what is matched.
With torch-fidelity's settings (``sampling="end", interpolation="lerp", pixels="uint8"``, LPIPS
``resize=64``) the result equals torch-fidelity's ``calculate_ppl`` (tests/test_lpips_ppl.py,
≤ 1e-5 relative). Distances are float64 from the float32 LPIPS value on.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ganeval.core.errors import GanevalError

__all__ = ["PPLResult", "perceptual_path_length", "interpolate", "filtered_mean", "stylegan_lite_ppl",
           "stylegan_lite_synthesis"]

EPSILON = 1e-4
SPACES = ("z", "w")
SAMPLINGS = ("end", "full")
INTERPOLATIONS = ("lerp", "slerp")
PIXELS = ("uint8", "[-1,1]")


class PPLResult(NamedTuple):
    mean: float
    std: float  # of the kept distances (ddof = 0, as torch-fidelity)
    num_kept: int
    distances: np.ndarray  # float64 [N]: every d_i, before the percentile filter


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def interpolate(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, mode: str) -> torch.Tensor:
    """Rows of ``a``, ``b`` [N, d] at fractions ``t`` [N]: "lerp" a + (b − a) t; "slerp" StyleGAN's slerp."""
    t = t[:, None]
    if mode == "lerp":
        return a + (b - a) * t
    a, b = _normalise(a), _normalise(b)
    cos = (a * b).sum(dim=-1, keepdim=True)
    angle = t * torch.acos(cos)
    direction = _normalise(b - cos * a)
    return _normalise(a * torch.cos(angle) + direction * torch.sin(angle))


def filtered_mean(distances: np.ndarray, lower: float | None = 1, upper: float | None = 99) -> tuple[float, float, int]:
    """(mean, std, count) of the distances within [lower percentile ("lower"), upper ("higher")]."""
    d = np.asarray(distances, dtype=np.float64)
    keep = np.ones(d.shape, dtype=bool)
    if lower is not None:
        keep &= d >= np.percentile(d, lower, method="lower")
    if upper is not None:
        keep &= d <= np.percentile(d, upper, method="higher")
    kept = d[keep]
    return float(kept.mean()), float(kept.std()), int(kept.size)


def _lpips_input(images: torch.Tensor, pixels: str, crop: bool) -> torch.Tensor:
    if images.ndim != 4:
        raise GanevalError(f"PPL: the generator must return images [N, C, H, W], got shape {list(images.shape)}")
    if pixels == "uint8":
        if images.dtype != torch.uint8:
            raise GanevalError(f"PPL with pixels='uint8': the generator returned {images.dtype}, not uint8 images")
    if crop:
        if images.shape[2] != images.shape[3]:
            raise GanevalError("PPL crop=True needs square images")
        c = images.shape[2] // 8
        images = images[:, :, c * 3: c * 7, c * 2: c * 6]
    if pixels == "[-1,1]":
        factor = images.shape[2] // 256
        if factor > 1:  # StyleGAN2-ADA: box-downsample large images to 256
            images = F.avg_pool2d(images.float(), factor)
        images = (images.float() + 1.0) * (255.0 / 2.0)
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    return images


def perceptual_path_length(synthesis: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, lpips, *,
                           num_samples: int = 50000, space: str = "z", mapping: Callable | None = None,
                           sampling: str = "end", interpolation: str | None = None, epsilon: float = EPSILON,
                           pixels: str = "[-1,1]", crop: bool = False, percentiles=(1, 99), seed: int = 0,
                           batch_size: int = 64, device=None) -> PPLResult:
    """PPL of a generator. ``synthesis`` maps latents [B, dim] (z, or w when ``space="w"``) to images;
    ``mapping`` (w-space only) maps z [B, latent_dim] to w. ``lpips``: a callable (images0, images1) →
    distances [B] (e.g. :func:`ganeval.metrics.lpips.lpips_vgg16`). See the module docstring."""
    if space not in SPACES or sampling not in SAMPLINGS or pixels not in PIXELS:
        raise GanevalError(f"PPL: space must be z or w, sampling end or full, pixels uint8 or [-1,1]; "
                           f"got {space!r}, {sampling!r}, {pixels!r}")
    interpolation = interpolation or ("slerp" if space == "z" else "lerp")
    if interpolation not in INTERPOLATIONS:
        raise GanevalError(f"PPL: interpolation must be lerp or slerp, got {interpolation!r}")
    if space == "w" and mapping is None:
        raise GanevalError("PPL in w-space needs the mapping network (z → w)")
    if not epsilon > 0 or num_samples < 2:
        raise GanevalError(f"PPL needs epsilon > 0 and at least 2 samples, got {epsilon} and {num_samples}")
    rng = np.random.RandomState(seed)
    z_start = torch.from_numpy(rng.randn(num_samples, latent_dim)).float()
    z_end = torch.from_numpy(rng.randn(num_samples, latent_dim)).float()
    t = torch.from_numpy(rng.rand(num_samples)).float() if sampling == "full" else torch.zeros(num_samples)
    distances = []
    with torch.no_grad():
        for begin in range(0, num_samples, batch_size):
            a, b, tb = (x[begin:begin + batch_size].to(device) for x in (z_start, z_end, t))
            if space == "w":
                a, b = mapping(a), mapping(b)
            p0 = interpolate(a, b, tb, interpolation)
            p1 = interpolate(a, b, tb + epsilon, interpolation)
            images = _lpips_input(synthesis(torch.cat((p0, p1))), pixels, crop)
            first, second = images.chunk(2)
            distances.append(lpips(first, second).double().cpu() / epsilon ** 2)
    d = torch.cat(distances).numpy()
    lower, upper = percentiles if percentiles is not None else (None, None)
    mean, std, kept = filtered_mean(d, lower, upper)
    return PPLResult(mean, std, kept, d)


def stylegan_lite_synthesis(generator, *, space: str = "w", noise_seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``synthesis`` for :func:`perceptual_path_length` of a StyleGAN-lite ``StyleGenerator``.

    It receives the two halves of a batch (path points at t and t + ε, w or z) and renders each half
    with a noise generator seeded ``noise_seed``, so both images of a pair get the same per-layer noise
    (StyleGAN2-ADA uses ``noise_mode="const"`` for the same reason). Images at full resolution, [-1, 1].
    """
    num_ws, resolution = generator.num_ws, generator.resolution

    def render_ws(w: torch.Tensor) -> torch.Tensor:
        noise = torch.Generator(device=w.device).manual_seed(noise_seed)
        images = generator.synthesis(w[:, None, :].repeat(1, num_ws, 1), noise)
        if images.shape[-1] != resolution:
            images = F.interpolate(images, size=(resolution, resolution), mode="nearest")
        return images

    def synthesis(points: torch.Tensor) -> torch.Tensor:
        w = points if space == "w" else generator.mapping(points)
        first, second = w.chunk(2)
        return torch.cat((render_ws(first), render_ws(second)))

    return synthesis


def stylegan_lite_ppl(generator, lpips, *, space: str = "w", noise_seed: int = 0, **options) -> PPLResult:
    """PPL of ``ganeval_train``'s StyleGAN-lite generator (``StyleGenerator``), w-space by default
    (lerp of w = mapping(z)); ``space="z"`` slerps z. ``options`` go to :func:`perceptual_path_length`."""
    z_dim = generator.mapping.layers[0].weight.shape[1]  # EqualLinear weight [out, in]
    return perceptual_path_length(stylegan_lite_synthesis(generator, space=space, noise_seed=noise_seed), z_dim,
                                  lpips, space=space, mapping=generator.mapping if space == "w" else None, **options)
