"""The package's layers (docs/README.md, issue 18 point 5): no import cycle, and each room imports
only the rooms below it.

The import graph is read from the source (module-level and function-level imports alike, since a
lazy import is still an arrow between two layers), so it sees imports that a test run never
executes. The rules name package prefixes, not files, so they keep holding when modules move
between packages (e.g. ``ganeval/stats.py`` into ``ganeval/core/``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ganeval"

# Room rules: (room prefix, prefixes it must not import, why). A prefix matches the module itself
# and everything below it.
FRONT_ENDS = ("ganeval.cli", "ganeval.callback", "ganeval.report")
FORBIDDEN = [
    ("ganeval.core", ("ganeval.extractors", "ganeval.metrics", "ganeval.api", *FRONT_ENDS),
     "the core is shared by every room: it imports none of them (only the plain stats-file format of io)"),
    ("ganeval.io", ("ganeval.extractors", "ganeval.metrics", "ganeval.api", *FRONT_ENDS),
     "io reads and writes files: it may import the core, never a network, a metric or a front end"),
    ("ganeval.extractors", ("ganeval.metrics", "ganeval.api", *FRONT_ENDS),
     "an extractor turns images into features: it knows no metric, no orchestration, no front end"),
    ("ganeval.api", FRONT_ENDS, "the orchestration returns results; the front ends render them"),
    ("ganeval", ("ganeval_train",), "the training package uses ganeval, never the reverse"),
]
CORE = ("ganeval.core",)
"""The core room: ``ganeval/core/``."""
METRICS = "ganeval.metrics"
METRICS_MAY_IMPORT = ("ganeval.metrics", *CORE)
"""The metric math imports only the core and, outside the package, the standard library and
:data:`METRICS_THIRD_PARTY`."""
METRICS_THIRD_PARTY = {"numpy", "scipy", "torch", "sklearn"}  # sklearn: C_T's exact PCA and k-means (issue 19)
KNOWN_CROSSINGS: dict = {}
"""Wall crossings known and not yet mended, each with what mends it. The test fails when one of them
is gone, so that the entry goes too."""


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported_names(module: str, path: Path):
    """(absolute name imported, line) for every import statement anywhere in the file.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule or a name)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _import_graph() -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """({module: {imported ganeval module: "file:line"}}, {module: top-level names of other imports})."""
    modules = _modules()
    edges: dict[str, dict[str, str]] = {name: {} for name in modules}
    external: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for name, line in _imported_names(module, path):
            if name.split(".")[0] != "ganeval":
                external[module].add(name.split(".")[0])
                continue
            target = name
            while target not in modules:  # a name inside a module: the module that holds it
                target = target.rpartition(".")[0]
            if target != module:
                edges[module].setdefault(target, f"{path.relative_to(ROOT)}:{line}")
    return edges, external


def _strongly_connected(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (each one is a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges)))
    try:
        for node in sorted(edges):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_graph_reader_sees_lazy_relative_and_from_imports(tmp_path, monkeypatch):
    """The reader itself: a cycle made only of a function-level import and a relative import is found."""
    package = tmp_path / "ganeval"
    (package / "io").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "io" / "__init__.py").write_text("")
    (package / "stats.py").write_text("def load():\n    from ganeval.io import statsfile\n")
    (package / "io" / "statsfile.py").write_text("from ..stats import load\nfrom . import helpers\n")
    (package / "io" / "helpers.py").write_text("import numpy\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    edges, external = _import_graph()
    assert edges["ganeval.stats"] == {"ganeval.io": "ganeval/stats.py:2", "ganeval.io.statsfile": "ganeval/stats.py:2"}
    assert set(edges["ganeval.io.statsfile"]) == {"ganeval.stats", "ganeval.io", "ganeval.io.helpers"}
    assert external["ganeval.io.helpers"] == {"numpy"}
    assert _strongly_connected(edges) == [["ganeval.io.statsfile", "ganeval.stats"]]


def test_no_import_cycle():
    edges, _ = _import_graph()
    cycles = _strongly_connected(edges)
    shown = [f"{a} -> {b} ({where})" for component in cycles for a in component
             for b, where in sorted(edges[a].items()) if b in component]
    assert not cycles, "import cycles in ganeval/ (edges inside each cycle):\n  " + "\n  ".join(shown)


def _wall_crossings(edges: dict[str, dict[str, str]], external: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a room rule, as "module -> imported (file:line): why"."""
    broken = []
    for room, forbidden, why in FORBIDDEN:
        for module, targets in sorted(edges.items()):
            if _under(module, room):
                broken += [f"{module} -> {target} ({where}): {why}" for target, where in sorted(targets.items())
                           if any(_under(target, prefix) for prefix in forbidden)]
        # Another top-level package (ganeval_train) is among the external names.
        broken += [f"{module} -> {name}: {why}" for module, names in sorted(external.items())
                   if _under(module, room) for name in sorted(names) if name in forbidden]
    for module, targets in sorted(edges.items()):
        if _under(module, METRICS):
            broken += [f"{module} -> {target} ({where}): the metric math imports only the core"
                       for target, where in sorted(targets.items())
                       if not any(_under(target, prefix) for prefix in METRICS_MAY_IMPORT)
                       and (module, target) not in KNOWN_CROSSINGS]
            broken += [f"{module} -> {name}: the metric math needs only numpy, scipy, torch and sklearn"
                       for name in sorted(external[module])
                       if name not in METRICS_THIRD_PARTY and name not in sys.stdlib_module_names]
    return broken


def test_rooms_import_only_the_rooms_below_them():
    broken = _wall_crossings(*_import_graph())
    assert not broken, "imports across the rooms' walls:\n  " + "\n  ".join(broken)


def test_every_known_crossing_is_still_there():
    edges, _ = _import_graph()
    mended = [f"{module} -> {target}" for module, target in KNOWN_CROSSINGS if target not in edges.get(module, {})]
    assert not mended, "mended, so remove them from KNOWN_CROSSINGS: " + ", ".join(mended)


def test_the_rules_catch_what_they_forbid():
    """The rules bite: an io module importing an extractor, a metric importing the CLI, ganeval importing
    ganeval_train and a metric importing pandas are each reported; the allowed imports are not."""
    edges = {"ganeval.io.sources": {"ganeval.extractors.preprocess": "x:1", "ganeval.core.images": "x:2"},
             "ganeval.metrics.kid": {"ganeval.cli": "y:2", "ganeval.core.errors": "y:1"},
             "ganeval.api": {"ganeval.extractors": "z:1"}}
    external = {"ganeval.io.sources": {"torch"}, "ganeval.metrics.kid": {"pandas", "numpy", "math"},
                "ganeval.api": {"ganeval_train"}}
    broken = _wall_crossings(edges, external)
    assert [line.split(":")[0] for line in broken] == [
        "ganeval.io.sources -> ganeval.extractors.preprocess (x", "ganeval.api -> ganeval_train",
        "ganeval.metrics.kid -> ganeval.cli (y", "ganeval.metrics.kid -> pandas"]


_IMPORT_EACH_ALONE = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "ganeval" or m.startswith("ganeval.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def test_every_module_imports_alone():
    """Each module imports first, on its own (a cycle or a missing import shows up only in some orders).

    One interpreter imports them one after another, forgetting every ganeval module in between
    (torch, numpy, ... stay loaded: they are not what is tested, and reloading them would take minutes)."""
    names = [name for name in _modules() if name != "ganeval.__main__"]  # __main__ runs the CLI
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE, json.dumps(names)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "modules that fail to import alone:\n" + "\n".join(
        f"{name}:\n{text}" for name, text in failures.items())
    assert len(names) > 50  # the walk found the package
