"""The one result of an evaluation, which the command line, the callback and the report render.

``ganeval.evaluate()`` returns an :class:`Evaluation`; ``ganeval eval --json`` prints its
``to_dict()``, the text output and the report page format the same values. It reads like the
record it stands for: ``result["fid"]``, ``result["kid"]["mean"]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Side", "Evaluation", "jsonable"]


def jsonable(value):
    """``value`` with numpy scalars/arrays, paths and tuples made JSON types (NaN stays a float)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    return str(value)


@dataclass(frozen=True)
class Side:
    """One side of an evaluation: its ``name`` (as given: a path, or the type of an in-memory object),
    the number of images behind its statistics, and the provenance of each feature space used."""

    name: str
    count: int
    provenance: dict[str, dict[str, Any]]

    def to_dict(self) -> dict:
        return {"name": self.name, "count": self.count, "spaces": jsonable(self.provenance)}


@dataclass
class Evaluation(Mapping):
    """Every metric of one evaluation of B (generated) against A (reference).

    ``metrics``: {metric name: float or dict} in the order computed (``fid``, ``kid`` → {mean, std,
    subsets, subset_size, std_is_uncertainty}, ``prdc`` → {precision, recall, density, coverage, k_pr,
    k_dc}, ``per_class`` / ``intra_fid``, ...; docs/metrics.md); ``sides``: (A, B) as :class:`Side`;
    ``warnings``: sentences about numbers that mean less than they seem (few images, whole-set KID
    subsets, preview precisions); ``notes``: what was left out and why; ``timings``: seconds per stage.
    """

    metrics: dict[str, Any]
    sides: tuple[Side, Side]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    suite: str | None = None
    statistics: tuple = field(default=(), repr=False, compare=False)
    """The two sides' StatsSets (computed or loaded), e.g. to save those computed from images."""

    def to_dict(self) -> dict:
        """The stable JSON record: sides' names and counts, the Inception mode and weights digest (when
        pool3 is used), each encoder space's extractor/convention/weights, every value, warnings,
        notes, each side's provenance, timings (``seconds`` is their total)."""
        a, b = self.sides
        record: dict[str, Any] = {"a": a.name, "b": b.name, "count_a": a.count, "count_b": b.count}
        if self.suite:
            record["suite"] = self.suite
        pool3 = a.provenance.get("pool3")
        if pool3 is not None:
            record.update(mode=pool3.get("mode"), weights_sha256=pool3.get("weights_sha256"),
                          precision=pool3.get("precision"))
        encoders = {space: {key: prov.get(key) for key in ("extractor", "mode", "weights_sha256")}
                    for space, prov in a.provenance.items() if space not in ("pool3", "spatial", "logits")}
        if encoders:
            record["spaces"] = encoders
        record.update(jsonable(self.metrics))
        record.update(warnings=list(self.warnings), notes=list(self.notes),
                      provenance={"a": a.to_dict(), "b": b.to_dict()},
                      timings=dict(self.timings), seconds=self.timings.get("total"))
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=True)

    # Read like the record.
    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def value(self, metric: str) -> float:
        """The headline number of ``metric``: the value itself, KID's mean, FID∞'s value."""
        value = self.metrics[metric]
        if isinstance(value, Mapping):
            for key in ("mean", "value"):
                if key in value:
                    return float(value[key])
            raise KeyError(f"{metric} has no single headline number; read result[{metric!r}]")
        return float(value)

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in self.metrics.values() if isinstance(v, float))
