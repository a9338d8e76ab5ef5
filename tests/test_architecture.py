"""The import graph of ``src/fakescope`` has no circles, and the model registry never imports the
weights catalogue (issue 23).

The graph is read from the source with :mod:`ast`, not by importing anything: every ``import`` and
``from … import`` counts, at module level and inside functions and methods alike (a lazy import
still ties two modules together), relative imports resolved against the importing module. A
``from pkg import name`` where ``pkg/name.py`` (or ``pkg/name/``) exists is an import of that
submodule; otherwise it is an import of ``pkg``. Imports under ``if TYPE_CHECKING:`` never run and
are left out. Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``; those implied
parent edges are not drawn (every package would otherwise be a circle with its own modules).

Run as a script to print the graph's circles for another tree::

    python tests/test_architecture.py /path/to/src/fakescope
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "fakescope"


def _module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, wherever it is, except under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """``{module: {modules of the same package it imports}}`` for every module under ``package_dir``."""
    root = package_dir.resolve()
    top = root.name
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)

    def within(name: str) -> str | None:
        """``name`` or its longest prefix that is a module of ours."""
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name == top or a.name.startswith(top + ".")]
            else:
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    pkg = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    pkg = node.module or ""
                if pkg != top and not pkg.startswith(top + "."):
                    continue
                targets = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names]
            for target in targets:
                found = within(target)
                if found is not None and found != module:
                    graph[module].add(found)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each as one
    circle through some of its modules, sorted; ``[]`` when the graph has no circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:  # recursion is fine: the graph is a few hundred modules
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted((_one_circle(graph, c) for c in components), key=lambda c: (len(c), c))


def _one_circle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest circle through the component's first module (breadth-first), closed at both ends;
    the component's size is appended when it is larger than that circle."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    circle = [start, *reversed(path[:-1]), start]
                    extra = len(members) - (len(circle) - 1)
                    return circle + ([f"(+{extra} more modules in the same knot)"] if extra else [])
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # pragma: no cover - a strongly connected component always has a circle


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


# ------------------------------------------------------------------------------------------ tests


def test_the_graph_reads_lazy_relative_and_submodule_imports():
    graph = import_graph()
    # package __init__ → its submodules, from-imports of submodules, function-level imports
    assert "fakescope.models._registry" in graph["fakescope.models"]
    assert "fakescope.cli.analyze" in graph["fakescope.cli"]
    assert any(m.startswith("fakescope.pipeline") for m in graph["fakescope.cli.analyze"])
    assert len(graph) > 100


def test_no_import_circles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles in src/fakescope:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_model_registry_does_not_know_the_weights_catalogue():
    graph = import_graph()
    models = [m for m in graph if m == "fakescope.models" or m.startswith("fakescope.models.")]
    bad = {m: sorted(w for w in graph[m] if w.startswith("fakescope.catalogue")) for m in models}
    assert not {m: w for m, w in bad.items() if w}, bad
    reached = set().union(*(_reachable(graph, m) for m in models))
    assert not {m for m in reached if m == "fakescope.catalogue" or m.startswith("fakescope.catalogue.")}


# --------------------------------------------------------------- the model registry's source hook


class _Source:
    """A model source with one model, ``extra``: mesoinception4's metadata under another name."""

    def __init__(self):
        self.created = []

    def info(self, name):
        import dataclasses

        from fakescope.models import get_model_info

        return dataclasses.replace(get_model_info("mesoinception4"), name=name) if name == "extra" else None

    def names(self):
        return ["extra"]

    def create(self, name, weights="default", **kwargs):
        self.created.append((name, weights))
        return "a model"


def test_registered_model_sources_are_models(monkeypatch):
    from fakescope.errors import WeightsError
    from fakescope.models import (
        _registry,
        create_model,
        get_model_info,
        has_usable_weights,
        list_runnable_models,
        register_model_source,
    )

    monkeypatch.setattr(_registry, "_SOURCES", [])
    monkeypatch.setattr(_registry, "_entry_points_loaded", True)
    assert "extra" not in list_runnable_models() and not has_usable_weights("extra")
    source = _Source()
    assert register_model_source(source) is source and register_model_source(source) is source  # once
    assert _registry.model_sources() == (source,)
    assert list_runnable_models().count("extra") == 1 and has_usable_weights("extra")
    assert get_model_info("extra").name == "extra"
    assert create_model("extra", weights="installed") == "a model" and source.created == [("extra", "installed")]
    with pytest.raises(WeightsError, match="--checkpoint applies to an architecture"):
        create_model("extra", checkpoint_path="x.pth")
    with pytest.raises(TypeError):
        register_model_source(object())


def test_model_sources_load_from_entry_points_once(monkeypatch):
    from fakescope.models import _registry

    source = _Source()

    class _EP:
        name, value = "extra", "somewhere:SOURCE"

        def load(self):
            return source

    class _Broken(_EP):
        name = "broken"

        def load(self):
            raise ImportError("no such module")

    calls = []
    monkeypatch.setattr(_registry, "_SOURCES", [])
    monkeypatch.setattr(_registry, "_entry_points_loaded", False)
    monkeypatch.setattr(_registry, "entry_points", lambda group: calls.append(group) or [_Broken(), _EP()])
    assert _registry.model_sources() == (source,) and _registry.model_sources() == (source,)
    assert calls == ["fakescope.model_sources"]  # read once; a broken plugin is skipped with a warning


def test_the_catalogue_is_a_model_source_once_imported():
    import fakescope.catalogue
    from fakescope.catalogue.source import SOURCE
    from fakescope.models import model_sources

    assert any(s is SOURCE for s in model_sources()), fakescope.catalogue
    # and pyproject.toml declares it as an entry point (for installs where nothing imports the catalogue)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((PACKAGE_DIR.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, _, attr = project["entry-points"]["fakescope.model_sources"]["catalogue"].partition(":")
    assert getattr(__import__(module, fromlist=[attr]), attr) is SOURCE


if __name__ == "__main__":  # pragma: no cover
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGE_DIR
    circles = find_cycles(import_graph(where))
    for c in circles:
        print(" → ".join(c))
    print(f"{len(circles)} circle(s) in {where}")
    sys.exit(1 if circles else 0)
