"""The table of networks and the feature spaces each computes, open to users' own (``register_extractor``).

Pure data and parsing, no torch: the options, the metric registry and the command line read it
before any network loads. ``ganeval.extractors.registry`` re-exports it with the ExtractorSet that
runs several networks as one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ganeval.core.choices import parse_names
from ganeval.core.errors import GanevalError

__all__ = ["Network", "NETWORKS", "SPACE_NETWORK", "parse_spaces", "network_of", "networks_for",
           "split_by_network", "parse_weights", "parse_conventions", "register_extractor",
           "encoder_spaces", "load_plugins"]


@dataclass(frozen=True)
class Network:
    """A network: ``key`` (options, messages), ``name`` (its extractor name in provenance),
    ``spaces`` it computes, ``factory`` ("module:Class"), ``conventions`` (first = default;
    empty for Inception, whose preprocessing is ``--mode``)."""

    key: str
    name: str
    spaces: tuple[str, ...]
    factory: Any  # "module:Class", or a callable (a class registered by a user)
    conventions: tuple[str, ...] = ()

    @property
    def default_convention(self) -> str | None:
        return self.conventions[0] if self.conventions else None

    def build(self, **options):
        if callable(self.factory):
            return self.factory(**options)
        module, cls = self.factory.split(":")
        return getattr(importlib.import_module(module), cls)(**options)


NETWORKS: dict[str, Network] = {network.key: network for network in (
    Network("inception", "inception-v3-tf-2015-12-05", ("pool3", "spatial", "logits"),
            "ganeval.extractors.inception_extractor:InceptionExtractor"),
    Network("dinov2", "dinov2-vitl14", ("dinov2",), "ganeval.extractors.dinov2:DinoV2Extractor",
            ("dgm-eval", "edm2")),
    Network("clip", "clip-vitl14-336", ("clip",), "ganeval.extractors.clip:ClipExtractor", ("cmmd",)),
    Network("clip_vitb32", "clip-vitb32", ("clip_vitb32",), "ganeval.extractors.clip:ClipB32Extractor",
            ("clip-fid",)),
)}
SPACE_NETWORK = {space: network.key for network in NETWORKS.values() for space in network.spaces}
"""Feature space → the key of the network that computes it."""
ENCODER_SPACES = tuple(space for space, key in SPACE_NETWORK.items() if key != "inception")
"""The spaces of the built-in encoders (DINOv2, CLIP); :func:`encoder_spaces` includes users' own."""
_ALIASES = {**{n.key: n.key for n in NETWORKS.values()}, **{n.name: n.key for n in NETWORKS.values()},
            **{space: key for space, key in SPACE_NETWORK.items()}}


def encoder_spaces() -> tuple[str, ...]:
    """Every space not computed by Inception: the built-in encoders' and those registered since."""
    return tuple(space for space, key in SPACE_NETWORK.items() if key != "inception")


def register_extractor(factory, *, key: str | None = None, spaces=None, name: str | None = None,
                       conventions=None, replace: bool = False) -> Network:
    """Make a network available by name: its spaces then work in ``compute_stats(features=...)``,
    ``--features``, ``fid:SPACE``-style metrics and stats files.

    ``factory``: an :class:`~ganeval.extractors.base.Extractor` class (or a callable taking
    ``weights``, ``convention``, ``device``, ``precision``, ``backend``, ``compile``); ``key``: the
    network's option name (default: its first space); ``spaces``: its space names (default: the
    class's ``dims``); ``name``: its extractor name in provenance (default: the class's ``name``);
    ``conventions``: preprocessing conventions, the first the default. Returns the entry.
    """
    spaces = tuple(spaces or getattr(factory, "dims", None) or getattr(factory, "spaces", ()) or ())
    name = name or getattr(factory, "name", None)
    conventions = tuple(conventions if conventions is not None else getattr(factory, "conventions", ()) or ())
    if not spaces or not name:
        raise GanevalError("register_extractor needs the network's spaces and name (class attributes dims and name)")
    key = str(key or spaces[0]).strip().lower()
    network = Network(key, str(name), spaces, factory, conventions)
    taken = [s for s in (key, network.name, *spaces) if s in _ALIASES and _ALIASES[s] != key]
    if (taken or key in NETWORKS) and not replace:
        raise GanevalError(f"register_extractor: {', '.join(taken or [key])} already names a network; pick other "
                           "names or replace=True")
    if key == "inception":
        raise GanevalError("register_extractor: the Inception network cannot be replaced")
    NETWORKS[key] = network
    for space in spaces:
        SPACE_NETWORK[space] = key
    _ALIASES.update({key: key, network.name: key, **{space: key for space in spaces}})
    return network


def parse_spaces(features) -> tuple[str, ...]:
    """'pool3,dinov2' or a sequence → checked tuple of space names, order kept, no repeats."""
    return parse_names(features, tuple(SPACE_NETWORK))


def network_of(name: str) -> Network:
    """The network named by a key, a space or an extractor name ("dinov2", "dinov2-vitl14", "pool3")."""
    key = _ALIASES.get(str(name).strip().lower())
    if key is None:
        raise GanevalError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)} "
                           f"(or {', '.join(n.name for n in NETWORKS.values())})")
    return NETWORKS[key]


def split_by_network(spaces) -> dict[str, tuple[str, ...]]:
    """{network key: its spaces among ``spaces``}, in the order the networks first appear."""
    out: dict[str, list[str]] = {}
    for space in parse_spaces(spaces):
        out.setdefault(SPACE_NETWORK[space], []).append(space)
    return {key: tuple(names) for key, names in out.items()}


def networks_for(spaces) -> tuple[str, ...]:
    return tuple(split_by_network(spaces))


def _key_value(text: str) -> tuple[str | None, str]:
    """"dinov2=PATH" → ("dinov2", "PATH") when the part before "=" names a network; else (None, text)."""
    if "=" in text:
        name, value = text.split("=", 1)
        if name.strip().lower() in _ALIASES:
            return _ALIASES[name.strip().lower()], value
    return None, text


def parse_weights(weights) -> dict[str, Any]:
    """``weights`` as {network key: path}: None → {}; a path → {"inception": path}; a dict keyed by
    any network name; or a sequence of "NAME=PATH" / "PATH" (the CLI's repeatable --weights)."""
    if weights is None:
        return {}
    if isinstance(weights, dict):
        return {network_of(name).key: path for name, path in weights.items() if path is not None}
    items = [weights] if not isinstance(weights, (list, tuple)) else list(weights)
    out: dict[str, Any] = {}
    for item in items:
        key, path = _key_value(item) if isinstance(item, str) else (None, item)
        key = key or "inception"
        if key in out:
            raise GanevalError(f"--weights given twice for {key} ({out[key]} and {path}); give it once")
        out[key] = path
    return out


def parse_conventions(convention) -> dict[str, str]:
    """``convention`` as {network key: convention}: None → {}; "edm2" (the network that has it);
    a dict; or a sequence of "NAME=CONVENTION" / "CONVENTION" (the CLI's repeatable --convention)."""
    if convention is None:
        return {}
    if isinstance(convention, dict):
        items = [(network_of(name).key, value) for name, value in convention.items() if value is not None]
    else:
        items = [_key_value(text) for text in ([convention] if isinstance(convention, str) else convention)]
    out: dict[str, str] = {}
    for key, value in items:
        value = value.strip().lower()
        if key is None:
            owners = [n.key for n in NETWORKS.values() if value in n.conventions]
            if len(owners) != 1:
                known = ", ".join(f"{n.key}={c}" for n in NETWORKS.values() for c in n.conventions)
                raise GanevalError(f"unknown convention {value!r}; choose from {known}")
            key = owners[0]
        network = NETWORKS[key]
        if value not in network.conventions:
            raise GanevalError(f"{network.name} has no convention {value!r}; choose one of "
                               f"{', '.join(network.conventions) or '(none: Inception uses --mode)'}")
        if out.get(key, value) != value:
            raise GanevalError(f"--convention given twice for {key} ({out[key]} and {value}); give it once")
        out[key] = value
    return out


def load_plugins(names=None) -> list[str]:
    """Import the modules that register users' extractors and metrics: ``names`` (a list or a
    comma-separated string), else env ``GANEVAL_PLUGINS``, plus every ``ganeval.plugins`` entry point
    of the installed packages. Returns the modules imported. A module that cannot be imported is
    one line naming it."""
    import os
    from importlib.metadata import entry_points

    text = names if names is not None else os.environ.get("GANEVAL_PLUGINS", "")
    wanted = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    loaded = []
    for module in wanted:
        if module in _PLUGINS:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise GanevalError(f"plugin {module!r} (GANEVAL_PLUGINS) could not be imported: {err}") from None
        _PLUGINS.add(module)
        loaded.append(module)
    for point in entry_points(group="ganeval.plugins"):
        if point.value not in _PLUGINS:
            point.load()
            _PLUGINS.add(point.value)
            loaded.append(point.value)
    return loaded


_PLUGINS: set[str] = set()
