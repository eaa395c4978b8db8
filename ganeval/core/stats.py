"""FeatureStats: streaming float64 mean and covariance of feature vectors, and StatsSet: the
statistics of one image set, one FeatureStats per named feature space (pool3, spatial, ...).

Memory is O(d²) whatever the number of images: each batch is reduced to its count,
mean and centred scatter matrix, and folded into the running totals with Chan et al.'s
parallel update, which is also how two accumulators (shards, ranks) merge:

    n = nA + nB,  δ = meanB − meanA,  mean = meanA + δ·nB/n,
    M2 = M2A + M2B + δδᵀ·nA·nB/n,       covariance = M2 / (n − 1)

Centring each batch on its own mean avoids the cancellation of the raw-moment formula
(Σxxᵀ − n·μμᵀ) that loses digits when features have a large common offset.
"""

from __future__ import annotations

import abc
import datetime
from typing import Any

import numpy as np
import torch

from ganeval.core.identity import SHARED_KEYS
from ganeval.core.errors import GanevalError

# Provenance keys that must agree before two sets of statistics may be compared or merged, and their
# check: defined in a module without torch, so that the command line checks them before loading it.
from ganeval.core.compatibility import COMPATIBILITY_KEYS, check_compatible  # noqa: F401  (re-exported)


class Statistics(abc.ABC):
    """What every statistics object offers, so that no caller branches on which one it holds:
    ``spaces`` ({space: FeatureStats}), ``stats[space]`` (one line naming the file when missing),
    ``space in stats``, ``classes`` (per-class sets or None), ``shared`` provenance, ``count``,
    ``mu``/``sigma``/``features``/``provenance``/``dim`` of the primary space (pool3 when present),
    ``save(path)``, and :meth:`as_set`, the :class:`StatsSet` view."""

    @abc.abstractmethod
    def as_set(self) -> "StatsSet":
        """The :class:`StatsSet` view of these statistics."""

    @property
    def spaces(self) -> dict:
        return self.as_set().spaces

    @property
    def classes(self):
        return self.as_set().classes

    @property
    def shared(self) -> dict:
        return self.as_set().shared

    def __getitem__(self, space: str) -> "FeatureStats":
        return self.as_set()[space]

    def __contains__(self, space: str) -> bool:
        return space in self.as_set().spaces


class FeatureStats(Statistics):
    """Running count, mean (float64 [d]) and scatter (float64 [d, d]) of features.

    ``extractor`` (optional) turns images into features so that ``update(images)`` works;
    its ``provenance`` dict (extractor name, weights digest, mode, precision, dim) is copied
    into ``self.provenance``, which is saved with the statistics.
    """

    def __init__(self, dim: int | None = None, *, extractor=None, keep_features: bool = False,
                 provenance: dict[str, Any] | None = None):
        self.extractor = extractor
        self.provenance: dict[str, Any] = dict(extractor.provenance) if extractor is not None else {}
        self.provenance.update(provenance or {})
        self.dim = dim if dim is not None else self.provenance.get("feature_dim")
        self.count = 0
        self._mean: torch.Tensor | None = None  # float64 [d]
        self._scatter: torch.Tensor | None = None  # float64 [d, d], Σ (x − mean)(x − mean)ᵀ
        self.keep_features = keep_features
        self._features: list[np.ndarray] = []
        self._given_sigma: np.ndarray | None = None  # a covariance read from a file, reported bit for bit

    # ---------------------------------------------------------------- accumulation

    def update(self, images) -> torch.Tensor:
        """Add images (uint8, or float in [0, 1]; [N, C, H, W] or a list of [C, H, W]); returns their features.

        Needs an extractor (``FeatureStats(extractor=...)``, as ``ganeval.compute_stats`` builds).
        """
        if self.extractor is None:
            raise GanevalError("these statistics have no feature extractor attached; use add_features(features)")
        features = self.extractor(images)
        self.add_features(features)
        return features

    def add_features(self, features) -> None:
        """Add feature vectors: float tensor or array [N, d] (any device; reduced in float64 there)."""
        x = torch.as_tensor(features).detach()
        if x.ndim != 2 or x.shape[0] == 0:
            raise GanevalError(f"features must be a non-empty [N, d] array, got shape {tuple(x.shape)}")
        if self.dim is None:
            self.dim = int(x.shape[1])
        if x.shape[1] != self.dim:
            raise GanevalError(f"features have dimension {x.shape[1]}, these statistics have {self.dim}")
        if self.keep_features:
            self._features.append(x.float().cpu().numpy())
        x = x.to(torch.float64)
        batch_mean = x.mean(dim=0)
        centred = x - batch_mean
        if self.count == 0 or self._scatter.device != centred.device:
            self._fold(x.shape[0], batch_mean, centred.T @ centred)
            return
        # The batch's scatter goes straight into the running one (one GEMM with beta = 1, no
        # 2048x2048 temporaries): half the time of _fold's separate sum on this CPU.
        self._scatter.addmm_(centred.T, centred)
        self._fold(x.shape[0], batch_mean, None)

    def _fold(self, n_b: int, mean_b: torch.Tensor, scatter_b: torch.Tensor | None) -> None:
        """Chan et al.'s merge of a part with n_b vectors, mean mean_b [d] and scatter (sum of
        centred outer products) scatter_b [d, d], float64; scatter_b None: already added."""
        self._given_sigma = None
        if self.count == 0:
            self.count, self._mean, self._scatter = n_b, mean_b.clone(), scatter_b.clone()
            return
        mean_b = mean_b.to(self._mean.device)
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean += delta * (n_b / n)
        if scatter_b is not None:
            self._scatter += scatter_b.to(self._mean.device)
        self._scatter.addr_(delta, delta, alpha=n_a * n_b / n)
        self.count = n

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Fold ``other`` into ``self`` (exact up to rounding) and return ``self``.

        Refuses statistics made by a different extractor, weights, mode or precision.
        """
        check_compatible(self.provenance, other.provenance, "these statistics", "the other statistics")
        if other.count == 0:
            return self
        if self.dim is None:
            self.dim = other.dim
        if other.dim != self.dim:
            raise GanevalError(f"cannot merge statistics of dimension {other.dim} into dimension {self.dim}")
        self._fold(other.count, other._mean, other._scatter)
        if self.keep_features:
            self._features.extend(other._features)
        return self

    # ---------------------------------------------------------------- results

    @property
    def mu(self) -> np.ndarray:
        """Mean feature vector, float64 [d]."""
        self._require(1)
        return self._mean.cpu().numpy().copy()

    @property
    def sigma(self) -> np.ndarray:
        """Unbiased covariance (divides by n − 1, like numpy.cov), float64 [d, d]."""
        self._require(2)
        if self._given_sigma is not None:
            return self._given_sigma.copy()
        scatter = self._scatter.cpu().numpy()
        return (scatter + scatter.T) / (2.0 * (self.count - 1))  # symmetrise away rounding asymmetry

    @property
    def features(self) -> np.ndarray | None:
        """All added features, float32 [N, d], when created with ``keep_features=True``.

        One array, made once: the batches are joined on first access and the joined array replaces
        them, so every access (and every metric) shares the same memory. Treat it as read-only.
        """
        if not self.keep_features:
            return None
        if not self._features:
            return np.zeros((0, self.dim or 0), np.float32)
        # Features of a stats file are read on first use (ganeval.io.statsfile.StoredFeatures).
        self._features = [part.load() if hasattr(part, "load") else part for part in self._features]
        if len(self._features) > 1:
            self._features = [np.concatenate(self._features)]  # the parts are freed: one copy in memory
        return self._features[0]

    def attach_features(self, features) -> None:
        """Keep ``features`` (float32 [M, d]) as the raw features of these statistics, e.g. those of the
        image sample a published reference file stores beside its whole-dataset moments (M may differ
        from ``count``)."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise GanevalError(f"features of shape {features.shape} do not fit {self.dim}-d statistics")
        self.keep_features, self._features = True, [features]

    def _require(self, n: int) -> None:
        if self.count < n:
            raise GanevalError(f"statistics need at least {n} image(s), have {self.count}")

    @classmethod
    def from_moments(cls, count: int, mu, sigma, provenance: dict[str, Any] | None = None,
                     features: np.ndarray | None = None) -> "FeatureStats":
        """Rebuild statistics from a count, mean [d] and covariance [d, d] (e.g. read from a file).

        ``sigma`` is reported back bit for bit until more data is merged in (the scatter
        sigma·(n − 1) would round some entries by one unit in the last place on the way back).
        """
        given_sigma = np.array(sigma, dtype=np.float64)
        mu = torch.as_tensor(np.asarray(mu, dtype=np.float64))
        sigma = torch.as_tensor(given_sigma)
        stats = cls(int(mu.shape[0]), provenance=provenance, keep_features=features is not None)
        stats.count = int(count)
        stats._mean = mu.clone()
        stats._scatter = sigma * (count - 1)
        if features is not None:
            stats._features = [np.asarray(features, dtype=np.float32)]
        stats._given_sigma = given_sigma
        return stats

    # ---------------------------------------------------------------- files

    def save(self, path, *, overwrite: bool = True) -> None:
        """Write to an HDF5 stats file atomically, as a one-space file (see ``ganeval.io.statsfile``)."""
        as_stats_set(self).save(path, overwrite=overwrite)

    @classmethod
    def load(cls, path, space: str = "pool3") -> "FeatureStats":
        """Read one feature space of an HDF5 stats file (``StatsSet.load`` reads them all)."""
        return StatsSet.load(path)[space]

    def as_set(self) -> "StatsSet":
        """These statistics as a one-space set (the space named by the extractor's suffix, else pool3)."""
        extractor = str(self.provenance.get("extractor", ""))
        space = extractor.rsplit("/", 1)[-1] if "/" in extractor else "pool3"
        return StatsSet({space: self}, {k: v for k, v in self.provenance.items() if k in SHARED_KEYS})

    def __repr__(self) -> str:
        mode = self.provenance.get("mode", "?")
        return f"FeatureStats(count={self.count}, dim={self.dim}, mode={mode!r})"


class StatsSet(Statistics):
    """The statistics of one image set: one :class:`FeatureStats` per feature space, from one pass.

    ``spaces``: {space name: FeatureStats}, e.g. {"pool3": ..., "spatial": ...}. Each space's
    provenance is complete on its own (extractor, weights, mode, precision, dim, layer, source),
    so a single space can be compared, saved or merged without the set. ``shared`` holds what
    describes the image set rather than a space (source, fingerprint, created, skipped files:
    :data:`SHARED_KEYS`).

    ``count``, ``mu``, ``sigma``, ``features``, ``dim`` and ``provenance`` are the primary space's
    (pool3 when present): the statistics FID uses, so code written for one FeatureStats keeps working.
    """

    spaces = shared = classes = None  # instance attributes here (the base class's views are for FeatureStats)

    def __init__(self, spaces: dict[str, FeatureStats], shared: dict[str, Any] | None = None, *,
                 extractor=None, classes: dict[str, "StatsSet"] | None = None):
        if not spaces:
            raise GanevalError("a statistics set needs at least one feature space")
        self.spaces = dict(spaces)
        self.shared: dict[str, Any] = dict(shared or {})
        self.extractor = extractor
        self.classes = classes
        """Per-class statistics {class label: StatsSet of the class space(s)}, or None when not per class."""

    @classmethod
    def for_extractor(cls, extractor, *, keep_features=False, per_class: bool = False) -> "StatsSet":
        """Empty accumulators for every space of ``extractor`` (see ``InceptionExtractor.extract``).

        ``keep_features``: True/False for every space, or a collection of the space names whose raw
        features are kept. ``per_class``: also keep pool3 statistics per class label (see :meth:`update`).
        """
        keep = set(extractor.spaces) if keep_features is True else set(keep_features or ())
        return cls({space: FeatureStats(dim, provenance=extractor.space_provenance(space), keep_features=space in keep)
                    for space, dim in extractor.space_dims.items()}, extractor=extractor,
                   classes={} if per_class else None)

    # ---------------------------------------------------------------- accumulation

    def update(self, images, labels=None) -> dict:
        """Add images (as for ``FeatureStats.update``) to every space; returns {space: features}.

        ``labels``: one class label per image, for per-class statistics (sets made with ``per_class``).
        """
        if self.extractor is None:
            raise GanevalError("these statistics have no feature extractor attached; use add_features")
        features = self.extractor.extract(images)
        self.add_features(features, labels)
        return features

    def add_features(self, features: dict, labels=None) -> None:
        """Add {space: [N, d] features} (one batch of every space of this set), with their class labels."""
        for space, stats in self.spaces.items():
            stats.add_features(features[space])
        if self.classes is None:
            return
        if labels is None or len(labels) != len(features["pool3"]):
            raise GanevalError("per-class statistics need one class label per image")
        for label in dict.fromkeys(labels):
            rows = torch.tensor([i for i, other in enumerate(labels) if other == label])
            self.class_set(label).add_features({CLASS_SPACE: features[CLASS_SPACE][rows.to(features[CLASS_SPACE].device)]})

    def class_set(self, label: str) -> "StatsSet":
        """The statistics of class ``label``, created empty on first use."""
        label = str(label)
        if label not in self.classes:
            pool3 = self.spaces[CLASS_SPACE]
            self.classes[label] = StatsSet({CLASS_SPACE: FeatureStats(pool3.dim, provenance=dict(pool3.provenance))},
                                           {"class": label})
        return self.classes[label]

    def merge(self, other) -> "StatsSet":
        """Fold ``other`` (a StatsSet with the same spaces, or a FeatureStats of a one-space set)
        into ``self`` exactly; returns ``self``."""
        other = as_stats_set(other)
        missing = sorted(set(self.spaces) ^ set(other.spaces))
        if missing:
            raise GanevalError(f"cannot merge statistics with different feature spaces ({', '.join(missing)})")
        for space, stats in self.spaces.items():
            stats.merge(other.spaces[space])
        return self

    def annotate(self, **provenance) -> None:
        """Record shared provenance (source, fingerprint, ...) on the set, every space and every class."""
        self.shared.update(provenance)
        for stats in self.spaces.values():
            stats.provenance.update(provenance)
        for label, class_set in (self.classes or {}).items():
            for stats in class_set.spaces.values():
                stats.provenance.update(provenance, **{"class": label})

    # ---------------------------------------------------------------- access

    def __getitem__(self, space: str) -> FeatureStats:
        if space not in self.spaces:
            name = self.shared.get("file") or self.shared.get("source") or "these statistics"
            raise GanevalError(
                f"{name}: has no '{space}' features (it holds {', '.join(self.spaces)}); recompute it with "
                f"`ganeval stats SOURCE -o FILE --features {','.join(dict.fromkeys([*self.spaces, space]))}`")
        return self.spaces[space]

    def __contains__(self, space: str) -> bool:
        return space in self.spaces

    def as_set(self) -> "StatsSet":
        return self

    @property
    def primary(self) -> FeatureStats:
        """pool3 when present, else the first space."""
        return self.spaces.get("pool3") or next(iter(self.spaces.values()))

    @property
    def count(self) -> int:
        return self.primary.count

    @property
    def provenance(self) -> dict[str, Any]:
        """The primary space's provenance (which includes the shared part)."""
        return self.primary.provenance

    @property
    def dim(self) -> int | None:
        return self.primary.dim

    @property
    def mu(self) -> np.ndarray:
        """The primary space's mean, float64 [d]."""
        return self.primary.mu

    @property
    def sigma(self) -> np.ndarray:
        """The primary space's covariance, float64 [d, d]."""
        return self.primary.sigma

    @property
    def features(self) -> np.ndarray | None:
        """The primary space's raw features, float32 [N, d], when kept."""
        return self.primary.features

    @property
    def keep_features(self) -> bool:
        return self.primary.keep_features

    # ---------------------------------------------------------------- files

    def save(self, path, *, overwrite: bool = True) -> None:
        """Write every space to an HDF5 stats file (format 2) atomically (see ``ganeval.io.statsfile``)."""
        from ganeval.io.statsfile import write_stats_file  # h5py on first use only

        write_stats_file(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path, *, with_features: bool = False) -> "StatsSet":
        """Read an HDF5 stats file (format 1 or 2); any problem is a one-line GanevalError naming the file."""
        from ganeval.io.statsfile import read_stats_file  # h5py on first use only

        def space(moments) -> FeatureStats:  # stored features stay in the file until a metric reads them
            stats = FeatureStats.from_moments(moments.count, moments.mu, moments.sigma, moments.provenance)
            if moments.features is not None:
                stats.keep_features, stats._features = True, [moments.features]
            return stats

        contents = read_stats_file(path, with_features=with_features)
        classes = None if contents.classes is None else {
            label: cls({name: space(moments) for name, moments in spaces.items()}, {"class": label})
            for label, spaces in contents.classes.items()}
        return cls({name: space(moments) for name, moments in contents.spaces.items()}, contents.shared,
                   classes=classes)

    def __repr__(self) -> str:
        return f"StatsSet(count={self.count}, spaces={list(self.spaces)}, mode={self.primary.provenance.get('mode')!r})"


def as_stats_set(stats: Statistics) -> StatsSet:
    """The :class:`StatsSet` view of any statistics (``stats.as_set()``)."""
    return stats.as_set()


CLASS_SPACE = "pool3"
"""The feature space kept per class (intra-FID): 32 MiB of covariance per class at d = 2048."""


def load_stats(path, *, with_features: bool = False) -> StatsSet:
    """Read a stats file (format 1 or 2): :meth:`StatsSet.load`."""
    return StatsSet.load(path, with_features=with_features)


def save_stats(stats, path, *, overwrite: bool = True) -> None:
    """Write ``stats`` (a StatsSet, or one FeatureStats; count ≥ 2) to ``path`` atomically: :meth:`StatsSet.save`."""
    as_stats_set(stats).save(path, overwrite=overwrite)


def space_of(stats: Statistics, space: str) -> FeatureStats:
    """The ``space`` statistics of any statistics (``stats[space]``)."""
    return stats[space]


def utc_timestamp() -> str:
    """Current time, ISO 8601 in UTC, seconds resolution."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
