"""FID inside a training loop, without writing images.

    import ganeval
    fid_cb = ganeval.FIDCallback("real.h5", generator=G, sample=lambda G, n: G(torch.randn(n, 64)),
                                 value_range=(-1, 1), num_samples=5000, every=1000)
    for step in range(steps):
        ...                                  # one training step
        fid_cb(step)                         # FID at steps 0, 1000, 2000, ...; None otherwise

Given the module (``generator=G``), the callback samples under ``torch.no_grad()`` with every
submodule in eval mode and puts each submodule's ``training`` flag back afterwards, so BatchNorm
running statistics and the rest of the state dict are left as they were. The bare-function form
``FIDCallback(real, lambda n: G(torch.randn(n, 64)))`` still works, but then the model runs in
whatever mode it is in: a generator in train mode has its BatchNorm running statistics updated by
the FID batches. The sampling function's use of the global RNG (``torch.randn``) is its own; pass it
a ``torch.Generator`` of its own to leave the training RNG stream untouched.

The callback is single-process and only calls the public API (``inception_for``,
``FeatureStats``, ``fid_from_stats``).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from ganeval.errors import GanevalError
from ganeval.extractors.preprocess import to_uint8_batch
from ganeval.progress import as_progress
from ganeval.stats import FeatureStats, StatsSet, check_compatible, space_of

VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))


class FIDCallback:
    """Periodic FID of a generator against precomputed real statistics.

    real_stats: a ganeval statistics file (.h5) or a FeatureStats.
    generator, sample: the generator module and ``sample(generator, n) -> images``; sampling runs in
        eval mode under ``torch.no_grad()`` and every submodule's mode is restored afterwards.
    generate: instead of generator/sample, a bare ``generate(n) -> images``, run under
        ``torch.no_grad()`` only: it must put the model in eval mode itself (BatchNorm pitfall, above).
    Images: a tensor [n, C, H, W] (C = 1 or 3), uint8 in 0..255 or float in ``value_range``, requested
        until ``num_samples`` images are collected (extra images in the last batch are dropped).
    value_range: (0, 1) (default) or (-1, 1) for float images, e.g. tanh output; floats are mapped to
        [0, 1] and quantised exactly as a saved PNG (``floor(255 x + 0.5)``), so the FID equals
        ``ganeval fid`` on the same images written to disk. Values out of range are an error.
    num_samples: generated images per evaluation (>= 2; thousands for a meaningful value).
    every: evaluate when ``step % every == 0``.
    batch_size: images requested from ``generate`` per call.
    mode, weights, device: Inception settings; ``mode`` defaults to the real statistics' mode.
    precision: "fp32" (exact) or an opt-in preview ("bf16", ...); defaults to the real statistics' precision.
    progress: None (a tqdm bar "FID step N" when stderr is a terminal), False, True or a callable ``f(n)``.

    ``history`` is the list of (step, fid) computed so far, ``last`` the latest FID (or None).
    """

    def __init__(self, real_stats, generate: Callable[[int], torch.Tensor] | None = None, num_samples: int = 10000,
                 every: int = 1000, *, generator: torch.nn.Module | None = None,
                 sample: Callable[[torch.nn.Module, int], torch.Tensor] | None = None,
                 value_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 50,
                 mode: str | None = None, weights=None, device=None, allow_unknown_weights: bool = False,
                 precision: str | None = None, progress=None):
        from ganeval.api import stats_of

        _check_sampling(generate, generator, sample)

        if isinstance(real_stats, (str, Path)) and not Path(real_stats).is_file():
            raise GanevalError(f"{real_stats}: real statistics file not found; create it with `ganeval stats`")
        self.real = stats_of(real_stats) if isinstance(real_stats, (str, Path)) else real_stats
        if not isinstance(self.real, (FeatureStats, StatsSet)):
            raise GanevalError("real_stats must be a statistics file (.h5), a ganeval.StatsSet or a FeatureStats")
        if tuple(float(v) for v in value_range) not in VALUE_RANGES:
            raise GanevalError(f"value_range must be (0, 1) or (-1, 1), got {value_range}")
        if num_samples < 2:
            raise GanevalError(f"num_samples must be at least 2 (thousands for a meaningful FID), got {num_samples}")
        if every < 1 or batch_size < 1:
            raise GanevalError(f"every and batch_size must be at least 1, got {every} and {batch_size}")
        self.generate, self.generator, self.sample = generate, generator, sample
        self.progress = progress
        self.num_samples = num_samples
        self.every = every
        self.value_range = tuple(float(v) for v in value_range)
        self.batch_size = batch_size
        self.mode = mode or self.real.provenance.get("mode")
        self.inception_options = dict(weights=weights, device=device, allow_unknown_weights=allow_unknown_weights,
                                      precision=precision or self.real.provenance.get("precision", "fp32"))
        self.history: list[tuple[int, float]] = []

    @property
    def last(self) -> float | None:
        return self.history[-1][1] if self.history else None

    def __call__(self, step: int) -> float | None:
        """FID if ``step`` is a multiple of ``every`` (appended to ``history``), else None."""
        return self.compute(step) if step % self.every == 0 else None

    def compute(self, step: int | None = None) -> float:
        """Generate ``num_samples`` images, compute their statistics and the FID; record (step, fid)."""
        from ganeval.api import fid_from_stats, inception_for

        options = dict(self.inception_options, features=("pool3",))  # FID needs pool3 alone
        if self.mode is not None:
            options["mode"] = self.mode
        bar = as_progress(self.progress, "FID" if step is None else f"FID step {step}")
        with bar.phase("loading Inception network..."):
            extractor = inception_for(options)
        # Before any image is generated: real statistics made with other settings are refused.
        check_compatible(space_of(self.real, "pool3").provenance, extractor.space_provenance("pool3"),
                         "real statistics", "the features these settings compute")
        fake = FeatureStats(extractor=extractor)
        for images in bar.track(self._batches(), total=self.num_samples):
            fake.update(images)
        value = fid_from_stats(self.real, fake, names=("real statistics", "generated images"))
        self.history.append((step if step is not None else len(self.history), value))
        return value

    def _batches(self) -> Iterator[torch.Tensor]:
        """uint8 batches of generated images, ``num_samples`` in all, sampled in eval mode without gradients."""
        produced = 0
        while produced < self.num_samples:
            want = min(self.batch_size, self.num_samples - produced)
            with torch.no_grad(), eval_mode(self.generator):
                images = self.generate(want) if self.generate is not None else self.sample(self.generator, want)
            if images.shape[0] < 1:
                raise GanevalError("the sampling function returned no images")
            images = self._to_uint8(images[:want])
            produced += images.shape[0]
            yield images

    def _to_uint8(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 as is; floats from ``value_range`` -> [0, 1] -> uint8 [N, 3, H, W] like a PNG."""
        images = torch.as_tensor(images).detach()
        if images.dtype.is_floating_point and self.value_range == (-1.0, 1.0):
            images = (images.float() + 1.0) / 2.0
        return to_uint8_batch(images, "generated images")


@contextmanager
def eval_mode(module: torch.nn.Module | None):
    """Every submodule of ``module`` in eval mode during the block, each one's own flag restored after."""
    if module is None:
        yield
        return
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def _check_sampling(generate, generator, sample) -> None:
    """Exactly one way to sample: ``generate(n)``, or ``generator`` with ``sample(generator, n)``."""
    example = "generator=G, sample=lambda G, n: G(torch.randn(n, 64))"
    if isinstance(generate, torch.nn.Module):
        raise GanevalError(f"pass the generator module as {example}, so that it is sampled in eval mode")
    if generate is not None and (generator is not None or sample is not None):
        raise GanevalError(f"give either generate(n) or {example}, not both")
    if generate is None and (generator is None or sample is None):
        raise GanevalError(f"FIDCallback needs {example} (or a function generate(n))")
    if generator is not None and not isinstance(generator, torch.nn.Module):
        raise GanevalError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
    if not callable(generate if generate is not None else sample):
        raise GanevalError("the sampling function is not callable")
