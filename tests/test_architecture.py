"""The layout's rules, read from the code's imports: layers point down, no cycles, small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_TOP_LEVEL_MODULES = 15


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """Every import between the relay's modules, those made only for type checking included."""
    return grimp.build_graph("relay", "schemas", cache_dir=None)


def test_architecture_layers_point_down() -> None:
    """The import contract in setup.cfg, checked by import-linter's own command (in a process of its own, as
    it sets up logging for the whole process)."""
    lint = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config", "setup.cfg",
                           "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-1000:]
    assert "1 kept, 0 broken" in lint.stdout


def test_architecture_has_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = [sorted(component) for component in _strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def test_architecture_schemas_import_only_plain_models(graph: grimp.ImportGraph) -> None:
    modules = graph.find_children("schemas") | {"schemas"}
    imported = {name for module in modules for name in graph.find_modules_directly_imported_by(module)}
    from_relay = {name for name in imported if name.startswith("relay")}
    assert from_relay <= {"relay.models"}


def test_architecture_modules_stay_small() -> None:
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
             for folder in ("relay", "schemas") for path in (ROOT / folder).rglob("*.py")}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_architecture_top_of_relay_is_the_frame() -> None:
    top = [path.name for path in (ROOT / "relay").glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's strongly connected components of the module import graph, iteratively."""
    edges = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components
