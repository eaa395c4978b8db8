"""The options of a run, as three frozen, validated objects built in one place.

    ExtractorOptions  which networks and how: feature spaces, weights, conventions, mode,
                      precision, backend, compile, device (their digest keys the extractor cache)
    RunOptions        how images are read: batch size, workers, prefetch, decode, subset, skip-bad,
                      features kept, per class, checkpoint/resume, process group
    MetricOptions     the metrics' parameters: bootstrap, FID∞, KID subsets, k, IS splits, seed, ...

:func:`options_from_keywords` is the one place that turns the friendly keyword calls of the public
API (``compute_stats(src, mode="clean", batch_size=100)``) into these objects; an unknown keyword
is refused, never ignored. Light: no torch, so the command line checks options before loading it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ganeval.core.choices import BACKENDS, CMMD_ESTIMATORS, DECODES, MODES, PRECISIONS
from ganeval.core.errors import GanevalError

__all__ = ["ExtractorOptions", "RunOptions", "MetricOptions", "options_from_keywords", "OPTION_NAMES"]


def _frozen_mapping(value) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in dict(value).items()))


@dataclass(frozen=True)
class ExtractorOptions:
    """Which networks compute which feature spaces, and how.

    ``features``: space names (None: what the metrics need, or pool3,spatial for ``compute_stats``);
    ``mode``: Inception's preprocessing (None: a loaded stats file's, else tf1); ``weights`` and
    ``convention``: {network key: path / convention} (``ganeval.extractors.registry.parse_weights``
    and ``parse_conventions`` accept the CLI's ``NAME=VALUE`` forms); ``precision``, ``backend``,
    ``compile``, ``device`` apply to every network.
    """

    features: tuple[str, ...] | None = None
    mode: str | None = None
    weights: tuple[tuple[str, Any], ...] = ()
    convention: tuple[tuple[str, str], ...] = ()
    precision: str = "fp32"
    backend: str = "auto"
    compile: bool = False
    device: str | None = None
    allow_unknown_weights: bool = False

    def __post_init__(self):
        from ganeval.core import networks as registry  # the table of networks and spaces (no torch)

        set_ = object.__setattr__
        if self.features is not None:
            set_(self, "features", registry.parse_spaces(self.features))
        if self.mode is not None and self.mode not in MODES:
            raise GanevalError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.precision not in PRECISIONS:
            raise GanevalError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.backend not in BACKENDS:
            raise GanevalError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        weights = self.weights if isinstance(self.weights, Mapping) else (
            dict(self.weights) if self._pairs(self.weights) else registry.parse_weights(self.weights))
        conventions = self.convention if isinstance(self.convention, Mapping) else (
            dict(self.convention) if self._pairs(self.convention) else registry.parse_conventions(self.convention))
        set_(self, "weights", _frozen_mapping(registry.parse_weights(dict(weights)) if weights else {}))
        set_(self, "convention", _frozen_mapping(registry.parse_conventions(dict(conventions)) if conventions else {}))
        if self.device is not None:
            set_(self, "device", str(self.device))

    @staticmethod
    def _pairs(value) -> bool:
        return isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value)

    @property
    def weights_by_network(self) -> dict[str, Any]:
        return dict(self.weights)

    @property
    def conventions(self) -> dict[str, str]:
        return dict(self.convention)

    def with_(self, **changes) -> "ExtractorOptions":
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """sha256 of every field: the key of the extractor cache (two equal digests, one network)."""
        text = json.dumps([(f.name, getattr(self, f.name)) for f in fields(self)], default=str, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunOptions:
    """How a source is read into statistics (see ``ganeval.compute_stats`` for each field)."""

    batch_size: int = 50
    workers: int | None = None
    prefetch: int | None = None
    pack: bool | None = None
    decode: str = "cpu"
    max_images: int | None = None
    seed: int = 0
    skip_bad: bool = False
    max_pixels: int | None = None
    save_features: Any = False
    per_class: bool = False
    checkpoint: Any = None
    checkpoint_every: int = 100
    resume: bool = False
    keep_checkpoint: bool = False
    distributed: bool | None = None

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise GanevalError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.checkpoint is not None and self.checkpoint_every < 1:
            raise GanevalError(f"--checkpoint-every must be at least 1, got {self.checkpoint_every}")
        if self.decode not in DECODES:
            raise GanevalError(f"unknown decode {self.decode!r}; choose one of {', '.join(DECODES)}")
        for name in ("workers", "prefetch"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise GanevalError(f"--{name} must be 0 or more, got {value}")
        if self.max_images is not None and self.max_images < 1:
            raise GanevalError(f"--max-images must be at least 1, got {self.max_images}")
        if isinstance(self.save_features, (list, set, frozenset)):
            object.__setattr__(self, "save_features", tuple(self.save_features))
        if isinstance(self.checkpoint, Path):
            object.__setattr__(self, "checkpoint", str(self.checkpoint))


@dataclass(frozen=True)
class MetricOptions:
    """The parameters of the metrics (docs/metrics.md): bootstrap resamples and confidence of FID,
    FID∞ and its number of sizes, KID subsets, k of precision/recall and of density/coverage, IS
    splits, the seed of every random choice, the CMMD estimator; ``params`` holds the parameters of
    metrics registered later, as {metric name: {parameter: value}}."""

    bootstrap: int = 0
    confidence: float = 0.95
    fid_inf: bool = False
    fid_inf_points: int = 15
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    k_pr: int = 3
    k_dc: int = 5
    is_splits: int = 10
    seed: int = 0
    cmmd_estimator: str = "biased"
    allow_mismatch: bool = False
    params: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self):
        if self.cmmd_estimator not in CMMD_ESTIMATORS:
            raise GanevalError(f"unknown CMMD estimator {self.cmmd_estimator!r}; choose biased or unbiased")
        for name, low in (("bootstrap", 0), ("kid_subsets", 1), ("kid_subset_size", 2), ("k_pr", 1), ("k_dc", 1),
                          ("is_splits", 1), ("fid_inf_points", 2)):
            if getattr(self, name) < low:
                raise GanevalError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if not 0 < self.confidence < 1:
            raise GanevalError(f"confidence must be between 0 and 1, got {self.confidence}")
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", _frozen_mapping(
                {k: _frozen_mapping(v) if isinstance(v, Mapping) else v for k, v in self.params.items()}))

    def params_of(self, metric: str) -> dict[str, Any]:
        """The parameters given for the registered metric ``metric`` ({} when none)."""
        value = dict(self.params).get(metric, ())
        return dict(value)


# Keyword names of the public API → (options class, field). ``metric_seed`` is MetricOptions.seed;
# ``seed`` is the seed of the --max-images subset (RunOptions.seed).
_RENAMED = {"metric_seed": (MetricOptions, "seed")}
OPTION_NAMES: dict[str, tuple[type, str]] = {
    **{f.name: (ExtractorOptions, f.name) for f in fields(ExtractorOptions)},
    **{f.name: (RunOptions, f.name) for f in fields(RunOptions)},
    **{f.name: (MetricOptions, f.name) for f in fields(MetricOptions) if f.name != "seed"},
    **_RENAMED,
}


def options_from_keywords(keywords: Mapping[str, Any], *, allowed: tuple[type, ...] = (
        ExtractorOptions, RunOptions, MetricOptions), base: Mapping[type, Any] | None = None) -> dict[type, Any]:
    """{options class: instance} from keyword arguments, each keyword to its class (:data:`OPTION_NAMES`).

    A keyword that is no option of a class in ``allowed`` is refused in one line. None values mean
    "not given" (the field's default). ``base``: instances to start from (their fields overridden).
    """
    chosen: dict[type, dict[str, Any]] = {cls: {} for cls in allowed}
    unknown = []
    for name, value in keywords.items():
        target = OPTION_NAMES.get(name)
        if target is None or target[0] not in chosen:
            unknown.append(name)
        elif value is not None:
            chosen[target[0]][target[1]] = value
    if unknown:
        known = sorted(n for n, (cls, _) in OPTION_NAMES.items() if cls in allowed)
        raise GanevalError(f"unknown option(s) {', '.join(sorted(unknown))}; the options here are {', '.join(known)}")
    base = base or {}
    return {cls: dataclasses.replace(base[cls], **values) if cls in base else cls(**values)
            for cls, values in chosen.items()}
