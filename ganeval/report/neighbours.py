"""Nearest neighbours in feature space and the memorisation check of ``ganeval report``.

With real features r_1..r_N and generated features g_1..g_M (pool3, Euclidean distance):

* the real set's own nearest-neighbour distance of each real image:
  ρ(r_i) = min_{k ≠ i} ‖r_i − r_k‖;
* the nearest real neighbour of each generated image: n(j) = argmin_i ‖g_j − r_i‖, at distance
  d_j = ‖g_j − r_{n(j)}‖;
* the **memorisation fraction** = (1/M) · #{ j : d_j < ρ(r_{n(j)}) }: the share of generated
  images that lie closer to their nearest real image than any other real image does. A copy
  of a real image has d_j = 0 and always counts (unless that real image is itself duplicated
  in the real set, ρ = 0). This is the complement of the "authenticity" of Alaa et al.
  (ICML 2022, "How faithful is your synthetic data?").
* the **median variant** = (1/M) · #{ j : d_j < median_i ρ(r_i) }, one threshold for all.

Both fractions are not zero for a generator that never copies: fresh images of the real
distribution are sometimes closer to a real image than its own neighbours are. Compare with
the same report made with held-out real images as B.

Distances are exact (the float64 difference form, so a copy is at distance 0 and duplicates tie),
screened in row blocks by ``ganeval.metrics.neighbours`` (never the full M × N matrix at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganeval.core.errors import GanevalError
from ganeval.metrics.neighbours import nearest_neighbours as exact_nearest

__all__ = ["MemorisationCheck", "memorisation_check", "nearest_neighbours"]


def _checked(x, name: str):
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 2 or t.shape[0] < 1:
        raise GanevalError(f"{name} must be a non-empty [N, d] array, got shape {tuple(t.shape)}")
    return t


def nearest_neighbours(queries, references, *, exclude_self: bool = False, device=None,
                       block_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``queries`` [M, d]: its distance to, and index of, the nearest row of ``references`` [N, d].

    ``exclude_self``: queries and references are the same set; row i never matches itself
    (the set's own nearest-neighbour distance). Returns (float64 [M], int64 [M]) numpy arrays:
    ``ganeval.metrics.neighbours.nearest_neighbours`` (exact distances, ties to the lowest index).
    """
    distances, indices = exact_nearest(_checked(queries, "queries"), _checked(references, "references"),
                                       exclude_self=exclude_self, block_rows=block_rows, device=device)
    return distances.cpu().numpy(), indices.cpu().numpy()


@dataclass
class MemorisationCheck:
    """Nearest real neighbours of generated images (see the module docstring for the definitions)."""

    real_nn_distance: np.ndarray       # ρ(r_i), float64 [N]
    generated_nn_distance: np.ndarray  # d_j, float64 [M]
    generated_nn_index: np.ndarray     # n(j), int64 [M]

    @property
    def neighbour_radius(self) -> np.ndarray:
        """ρ(r_{n(j)}) for each generated image: the threshold its distance is compared with."""
        return self.real_nn_distance[self.generated_nn_index]

    @property
    def closer(self) -> np.ndarray:
        """bool [M]: d_j < ρ(r_{n(j)})."""
        return self.generated_nn_distance < self.neighbour_radius

    @property
    def fraction(self) -> float:
        """The memorisation fraction: mean of :attr:`closer`."""
        return float(self.closer.mean())

    @property
    def median_real_nn_distance(self) -> float:
        return float(np.median(self.real_nn_distance))

    @property
    def fraction_below_median(self) -> float:
        """(1/M) #{ j : d_j < median ρ }."""
        return float((self.generated_nn_distance < self.median_real_nn_distance).mean())

    @property
    def ratio(self) -> np.ndarray:
        """d_j / ρ(r_{n(j)}) (inf where ρ = 0 < d_j, 0 where both are 0): below 1 counts as closer."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.generated_nn_distance / self.neighbour_radius
        return np.where(self.generated_nn_distance == 0, 0.0, ratio)

    def closest(self, count: int) -> np.ndarray:
        """Indices of the ``count`` generated images nearest to a real image (smallest d_j first, ties by index)."""
        return np.argsort(self.generated_nn_distance, kind="stable")[:count]

    def most_like_copies(self, count: int) -> np.ndarray:
        """Indices of the ``count`` generated images ranked by the memorisation score :attr:`ratio`
        (d_j / ρ(r_{n(j)}), the quantity AuthPct and the memorisation fraction compare with 1),
        smallest first; ties by d_j, then by index."""
        order = np.lexsort((np.arange(self.ratio.shape[0]), self.generated_nn_distance, self.ratio))
        return order[:count]

    def farthest(self, count: int) -> np.ndarray:
        """Indices of the ``count`` generated images farthest from every real image (largest d_j first)."""
        return np.argsort(-self.generated_nn_distance, kind="stable")[:count]

    def summary(self) -> dict:
        """JSON-ready numbers."""
        return {"fraction": self.fraction, "fraction_below_median": self.fraction_below_median,
                "median_real_nn_distance": self.median_real_nn_distance,
                "median_generated_nn_distance": float(np.median(self.generated_nn_distance)),
                "count_real": int(self.real_nn_distance.shape[0]),
                "count_generated": int(self.generated_nn_distance.shape[0])}


def memorisation_check(real_features, generated_features, *, device=None) -> MemorisationCheck:
    """Nearest real neighbour of every generated feature and the real set's own 1-NN distances."""
    real = _checked(real_features, "real features")
    if real.shape[0] < 2:
        raise GanevalError("the memorisation check needs at least 2 real images")
    real_nn, _ = nearest_neighbours(real, real, exclude_self=True, device=device)
    gen_nn, gen_index = nearest_neighbours(generated_features, real, device=device)
    return MemorisationCheck(real_nn, gen_nn, gen_index)
