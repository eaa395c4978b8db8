"""Which network computes which feature space, and one extractor over several networks.

Every feature space belongs to one network (:data:`NETWORKS`):

==============  ========================  ===================  =====================
space           network (extractor name)  default convention   other conventions
==============  ========================  ===================  =====================
pool3, spatial  inception-v3-tf-2015-12-05  (``--mode``)
, logits
dinov2          dinov2-vitl14             dgm-eval             edm2
clip            clip-vitl14-336           cmmd
clip_vitb32     clip-vitb32               clip-fid
==============  ========================  ===================  =====================

:class:`ExtractorSet` holds one extractor per network a run needs and looks like one
``InceptionExtractor`` to ``StatsSet.for_extractor`` and ``compute_stats``: each batch of
images is decoded once and fed to every network.

Options per network are keyed by the network's key (``inception``, ``dinov2``, ``clip``,
``clip_vitb32``), which is also its space name, or by its extractor name
(``dinov2-vitl14``, ``clip-vitl14-336``, ``clip-vitb32``): ``--weights dinov2=PATH``,
``--convention dinov2=edm2``. A bare ``--weights PATH`` is the Inception weights, as before;
a bare ``--convention edm2`` goes to the one network that has that convention.
"""

from __future__ import annotations

from typing import Any

from ganeval.core.errors import GanevalError
from ganeval.core.networks import *  # noqa: F401,F403  (the table, re-exported)
from ganeval.core.networks import _ALIASES, _PLUGINS, NETWORKS, SPACE_NETWORK, parse_spaces  # noqa: F401
from ganeval.core.networks import __all__ as _table

__all__ = [*_table, "ExtractorSet", "inception_of"]


class ExtractorSet:
    """One extractor per network, seen as one: ``spaces``, ``space_dims``, ``space_provenance(space)``,
    ``extract(images)`` → {space: float32 [N, d]} over every network, ``device`` and ``provenance`` of
    the primary (first) network. Images are converted to uint8 once and the same tensors go to
    every network.

    ``members``: {network key: extractor}; ``spaces``: the spaces wanted, each computed by its
    network's member (which must list it in its own ``spaces``).
    """

    def __init__(self, members: dict[str, Any], spaces):
        if not members:
            raise GanevalError("an extractor set needs at least one network")
        self.members = dict(members)
        self.spaces = parse_spaces(spaces)
        for space in self.spaces:
            member = self.members.get(SPACE_NETWORK[space])
            if member is None or space not in member.spaces:
                raise GanevalError(f"no extractor for feature space {space!r} in this set")
        self.primary = next(iter(self.members.values()))

    @property
    def device(self):
        return self.primary.device

    @property
    def provenance(self) -> dict[str, Any]:
        return self.primary.provenance

    @property
    def name(self) -> str:
        return self.provenance["extractor"]

    @property
    def space_dims(self) -> dict[str, int]:
        return {space: self._member(space).space_dims[space] for space in self.spaces}

    def space_provenance(self, space: str) -> dict[str, Any]:
        return self._member(space).space_provenance(space)

    def _member(self, space: str):
        if space not in self.spaces:
            raise GanevalError(f"these settings compute {', '.join(self.spaces)}, not {space!r}")
        return self.members[SPACE_NETWORK[space]]

    def __call__(self, images):
        """The first space's features (as an InceptionExtractor returns pool3)."""
        return self.extract(images)[self.spaces[0]]

    def extract(self, images) -> dict:
        """images as for ``InceptionExtractor.extract``; returns {space: float32 [N, d]} for every space."""
        import torch

        from ganeval.extractors.preprocess import to_uint8_batch

        if isinstance(images, torch.Tensor):
            images = list(to_uint8_batch(images))
        else:
            images = [to_uint8_batch(image)[0] for image in images]
        out: dict = {}
        for key, member in self.members.items():
            features = member.extract(images)
            out.update({space: features[space] for space in self.spaces if SPACE_NETWORK[space] == key})
        return out


def inception_of(extractor):
    """The Inception member of an extractor (itself when it is one), or None."""
    if isinstance(extractor, ExtractorSet):
        return extractor.members.get("inception")
    return extractor if extractor is not None and "pool3" in getattr(extractor, "spaces", ()) else None
