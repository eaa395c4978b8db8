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

Conditional generators (``per_class=True``, real statistics made with ``ganeval stats --per-class``):
the sampling function also receives the class labels, ``sample(G, n, labels)`` or
``generate(n, labels)``, and each evaluation records every class's FID and the intra-FID (their
mean) beside the overall FID:

    fid_cb = ganeval.FIDCallback("real.h5", generator=G, per_class=True, value_range=(-1, 1),
                                 sample=lambda G, n, labels: G(torch.randn(n, 64), labels))
    fid_cb(step); fid_cb.history[-1].per_class, fid_cb.history[-1].intra_fid

Labels: the real statistics' classes, K of them in class order (numeric labels by value); image j
of the ``num_samples`` gets class ``j mod K`` (so the counts differ by at most one, the first
``num_samples mod K`` classes having one more), and this list is then shuffled with
``torch.randperm(num_samples, generator=torch.Generator().manual_seed(label_seed))``: the same
labels at every evaluation. ``labels`` is an int64 tensor of the generator's class indices:
``int(label)`` when every class label is an integer (digits, ``ganeval-train`` samples), else the
label's position in the sorted names (torchvision ImageFolder's order); ``classes=[name of class 0,
name of class 1, ...]`` states the mapping explicitly. It lies on the generator's device (form
``generator=``) or on the CPU (form ``generate=``).

The callback is single-process and only calls the public API (``extractor_for``, ``StatsSet``,
``evaluate``, whose result it records).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from ganeval.core.options import ExtractorOptions, MetricOptions, options_from_keywords
from ganeval.metrics.registry import features_needed, parse_metrics, spaces_for
from ganeval.core.errors import GanevalError
from ganeval.extractors.preprocess import to_uint8_batch
from ganeval.api.progress import as_progress
from ganeval.core.stats import Statistics, StatsSet, check_compatible, space_of

VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))


class FIDRecord(tuple):
    """One evaluation in ``FIDCallback.history``: the pair ``(step, fid)``, plus, with
    ``per_class=True``, ``per_class`` ({class label: FID}) and ``intra_fid`` (their mean), else None,
    and ``metrics``: every metric asked for (``FIDCallback(metrics="fid,kid,prdc")``)."""

    def __new__(cls, step: int, fid: float, per_class: dict[str, float] | None = None,
                intra_fid: float | None = None, metrics: dict | None = None):
        record = super().__new__(cls, (step, fid))
        record.per_class, record.intra_fid = per_class, intra_fid
        record.metrics = metrics or {"fid": fid}
        """Every metric of this evaluation ({name: value}, as ``Evaluation.metrics``; FID alone by default)."""
        return record

    def __getnewargs__(self):
        return (self[0], self[1], self.per_class, self.intra_fid, self.metrics)

    @property
    def step(self) -> int:
        return self[0]

    @property
    def fid(self) -> float:
        return self[1]

    def __repr__(self) -> str:
        extra = f", intra_fid={self.intra_fid!r}" if self.per_class is not None else ""
        return f"FIDRecord(step={self[0]!r}, fid={self[1]!r}{extra})"


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
    metrics: besides FID, any registered metric in any feature space ("fid,kid,prdc", "vendi:clip",
        "fd_dinov2", "sfid", "is" with a head; ``ganeval.metrics.registry``), with ``metric_options``
        (``ganeval.MetricOptions``); each record's ``metrics`` holds them all. Every network the metrics'
        spaces need runs on the generated images (give their weights as for ``compute_stats``:
        ``weights={"clip": path}``); the real statistics must hold those spaces (``ganeval stats
        --features``), and KID/PRDC/MiFID/... their raw features (``--save-features``).
    every: evaluate when ``step % every == 0``.
    batch_size: images requested from ``generate`` per call.
    extractor_options or keywords (``mode``, ``weights``, ``device``, ``precision``, ...): the Inception
        settings (``ganeval.ExtractorOptions``); ``mode`` and ``precision`` default to the real statistics'.
    progress: None (a tqdm bar "FID step N" when stderr is a terminal), False, True or a callable ``f(n)``.
    per_class: for a conditional generator: ``sample(generator, n, labels)`` / ``generate(n, labels)``
        get the class labels (see the module's docstring), and each evaluation also computes every
        class's FID and the intra-FID; ``real_stats`` must hold per-class statistics.
    classes: with ``per_class``, the class label of each generator class index (class i is
        ``classes[i]``); default: ``int(label)`` for integer labels, else the sorted names' order.
    label_seed: with ``per_class``, the seed of the labels' order (the same at every evaluation).

    ``history`` is the list of :class:`FIDRecord` computed so far (``(step, fid)`` pairs; with
    ``per_class`` also ``.per_class`` and ``.intra_fid``); ``last`` is the latest overall FID (or None).
    """

    def __init__(self, real_stats, generate: Callable[[int], torch.Tensor] | None = None, num_samples: int = 10000,
                 every: int = 1000, *, generator: torch.nn.Module | None = None,
                 sample: Callable[[torch.nn.Module, int], torch.Tensor] | None = None,
                 value_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 50, progress=None,
                 per_class: bool = False, classes=None, label_seed: int = 0, metrics="fid",
                 metric_options: MetricOptions | None = None,
                 extractor_options: ExtractorOptions | None = None, **extractor_keywords):
        from ganeval.api.compute import load_statistics

        _check_sampling(generate, generator, sample)

        self.metrics = tuple(dict.fromkeys(("fid", *parse_metrics(metrics))))
        self.spaces = tuple(dict.fromkeys(("pool3", *spaces_for(self.metrics))))
        self.metric_options = metric_options or MetricOptions()
        if isinstance(real_stats, (str, Path)) and not Path(real_stats).is_file():
            raise GanevalError(f"{real_stats}: real statistics file not found; create it with `ganeval stats`")
        with_features = bool(features_needed(self.metrics, "a"))
        self.real = (load_statistics(real_stats, with_features=with_features) if isinstance(real_stats, (str, Path))
                     else real_stats)
        if not isinstance(self.real, Statistics):
            raise GanevalError("real_stats must be a statistics file (.h5), a ganeval.StatsSet or a FeatureStats")
        lacking = [space for space in self.spaces if space not in self.real.spaces]
        if lacking:
            name = real_stats if isinstance(real_stats, (str, Path)) else "the real statistics"
            raise GanevalError(f"{name}: holds no {', '.join(lacking)} features, which {','.join(self.metrics)} "
                               f"need{'s' if len(self.metrics) == 1 else ''}; recompute it with `ganeval stats SOURCE "
                               f"-o FILE --features {','.join(self.spaces)}`")
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
        options = options_from_keywords(extractor_keywords, allowed=(ExtractorOptions,),
                                        base={ExtractorOptions: extractor_options or ExtractorOptions()})
        options = options[ExtractorOptions]
        # The spaces the metrics read; the mode and precision default to the real statistics'.
        defaults = {"mode": options.mode or self.real.provenance.get("mode")}
        if extractor_options is None and extractor_keywords.get("precision") is None:
            defaults["precision"] = self.real.provenance.get("precision") or options.precision
        self.options = options.with_(features=self.spaces, **{k: v for k, v in defaults.items() if v})
        self.history: list[FIDRecord] = []
        self.per_class = bool(per_class)
        self.label_seed = int(label_seed)
        self.class_labels: list[str] | None = None
        self.class_indices: dict[str, int] | None = None
        if self.per_class:
            self._set_up_classes(real_stats, classes)
        elif classes is not None:
            raise GanevalError("classes= applies with per_class=True only")

    def _set_up_classes(self, real_stats, classes) -> None:
        """The real classes in class order and each one's generator class index (see the docstring)."""
        from ganeval.api.evaluate import class_order, require_classes

        name = str(real_stats) if isinstance(real_stats, (str, Path)) else "the real statistics"
        require_classes(self.real, name)
        self.real = self.real.as_set()
        labels = sorted(self.real.classes, key=class_order)
        if not labels:
            raise GanevalError(f"{name}: holds no classes; recompute it with `ganeval stats SOURCE -o FILE --per-class`")
        if classes is not None:
            names = [str(c) for c in classes]
            missing = [label for label in labels if label not in names]
            if missing:
                raise GanevalError(f"classes= lacks the real classes {', '.join(missing)}; "
                                   "give the label of every generator class index")
            indices = {label: names.index(label) for label in labels}
        elif all(label.lstrip("-").isdigit() for label in labels):
            indices = {label: int(label) for label in labels}
        else:
            indices = {label: i for i, label in enumerate(sorted(labels))}
        if self.num_samples < 2 * len(labels):
            raise GanevalError(f"per_class needs at least 2 images per class: num_samples >= {2 * len(labels)} "
                               f"for the {len(labels)} classes of {name}, got {self.num_samples}")
        self.class_labels, self.class_indices = labels, indices

    def sample_labels(self) -> list[str]:
        """The class label of each of the ``num_samples`` images, in generation order (see the docstring)."""
        k = len(self.class_labels)
        order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.label_seed))
        return [self.class_labels[int(j) % k] for j in order]

    @property
    def last(self) -> float | None:
        return self.history[-1][1] if self.history else None

    def __call__(self, step: int) -> float | None:
        """FID if ``step`` is a multiple of ``every`` (appended to ``history``), else None."""
        return self.compute(step) if step % self.every == 0 else None

    def compute(self, step: int | None = None) -> float:
        """Generate ``num_samples`` images, compute their statistics and the FID; record (step, fid)."""
        from ganeval.api.compute import extractor_for
        from ganeval.api.evaluate import evaluate

        options = self.options
        bar = as_progress(self.progress, "FID" if step is None else f"FID step {step}")
        networks = "Inception network" if self.spaces in (("pool3",), ("pool3", "spatial")) else "networks"
        with bar.phase(f"loading {networks}...", only_when_loading=True):  # once per process
            extractor = extractor_for(options)
        # Before any image is generated: real statistics made with other settings are refused.
        for space in self.spaces:
            check_compatible(space_of(self.real, space).provenance, extractor.space_provenance(space),
                             "real statistics", "the features these settings compute")
        names = ("real statistics", "generated images")
        step = step if step is not None else len(self.history)
        keep = bool(features_needed(self.metrics, "b"))
        fake = StatsSet.for_extractor(extractor, keep_features=keep, per_class=self.per_class)
        for images, labels in bar.track(self._batches(), total=self.num_samples):
            fake.update(images, labels=labels)
        metrics = (*self.metrics, "intra_fid") if self.per_class else self.metrics
        result = evaluate(self.real, fake, metrics, names=names, metric_options=self.metric_options,
                          device=options.device)
        per_class = result["per_class"] if self.per_class else None
        intra_fid = result["intra_fid"] if self.per_class else None
        self.history.append(FIDRecord(step, result.value("fid"), per_class, intra_fid, dict(result.metrics)))
        return result.value("fid")

    def _batches(self) -> Iterator[tuple[torch.Tensor, list[str] | None]]:
        """(uint8 images, their class labels or None) batches, ``num_samples`` images in all, sampled in
        eval mode without gradients."""
        produced = 0
        all_labels = self.sample_labels() if self.per_class else None
        device = torch.device("cpu")
        if self.generator is not None:
            device = next((p.device for p in self.generator.parameters()), device)
        while produced < self.num_samples:
            want = min(self.batch_size, self.num_samples - produced)
            args = (want,)
            labels = None
            if all_labels is not None:
                labels = all_labels[produced:produced + want]
                args = (want, torch.tensor([self.class_indices[c] for c in labels], dtype=torch.int64, device=device))
            with torch.no_grad(), eval_mode(self.generator):
                images = self.generate(*args) if self.generate is not None else self.sample(self.generator, *args)
            if images.shape[0] < (1 if labels is None else want):
                raise GanevalError("the sampling function returned no images" if images.shape[0] < 1 else
                                   f"the sampling function returned {images.shape[0]} images for {want} labels; "
                                   "with per_class it must return one image per label")
            images = self._to_uint8(images[:want])
            produced += images.shape[0]
            yield images, labels

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
