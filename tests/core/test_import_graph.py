"""The package's import graph, built from the source: no module imports itself back through
others (imports under ``if TYPE_CHECKING:`` and inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Source folders and the package each one installs as.
SOURCES = {REPO / "imperium_exec": "imperium_exec", REPO / "widgets": "imperium_exec.widgets"}


def module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for folder, package in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports: ``from a.b import c`` is an edge to the
    module ``a.b.c`` when there is one, else to ``a.b``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
                elif target in modules:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_no_module_of_the_package_imports_itself_back() -> None:
    graph = package_graph()
    assert "imperium_exec.engine.execution_engine" in graph  # the sources were found
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def room_of(module: str) -> str:
    """The room a module lives in: ``top`` for the package's top level, else its package
    (a broker's own folder, ``widgets/desk`` and ``algos.names`` on their own)."""
    parts = module.split(".")[1:]
    if not parts or (len(parts) == 1 and parts[0] not in ROOMS):
        return "top"
    if parts[0] == "brokers" and len(parts) > 1 and parts[1] in ("kite", "paper"):
        return f"brokers/{parts[1]}"
    if parts[:2] == ["widgets", "desk"]:
        return "widgets/desk"
    if parts[:2] == ["algos", "names"]:
        return "algos.names"
    return parts[0]


#: What each room may import besides itself: the README's "what each may import".
ROOMS: dict[str, set[str]] = {
    "algos.names": set(),
    "events": {"top", "algos.names"},
    "costs": {"top", "events", "algos.names"},
    "algos": {"top", "algos.names", "costs", "brokers", "events"},
    "brokers": {"top", "algos.names", "events", "costs", "engine", "brokers/kite",
                "brokers/paper"},
    "brokers/kite": {"top", "algos.names", "events", "brokers", "engine"},
    "brokers/paper": {"top", "algos.names", "events", "brokers", "brokers/kite", "sim", "engine",
                      "costs"},
    "engine": {"top", "algos.names", "events", "algos", "costs", "baskets", "brokers",
               "recovery"},
    "sim": {"top", "algos.names", "events", "costs", "brokers"},
    "baskets": {"top", "algos.names", "events", "algos", "costs", "brokers", "engine"},
    "calibration": {"top", "algos.names", "events", "algos", "costs", "brokers"},
    "tca": {"top", "algos.names", "events", "whatif"},
    # The what-if replays on the production engine over the paper exchange, its market made
    # from the journal, with the paper exchange's impact or a calibration file's (and the
    # quality benchmark's no-limits, testing.quality_worlds).
    "whatif": {"top", "algos.names", "events", "algos", "costs", "brokers", "brokers/paper",
               "engine", "testing", "sim", "calibration"},
    "recovery": {"top", "algos.names", "events", "brokers"},
}


def test_each_room_imports_only_what_the_layout_allows() -> None:
    graph = package_graph()
    broken = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items() for target in targets
        if (room := room_of(module)) in ROOMS and room_of(target) != room
        and room_of(target) not in ROOMS[room])
    assert broken == []


def test_the_engine_never_imports_a_brokers_own_folder_nor_probes_the_broker() -> None:
    modules = module_files()
    engine = {name: path for name, path in modules.items()
              if name.startswith("imperium_exec.engine.")}
    graph = {name: imports_of(name, path, modules) for name, path in engine.items()}
    assert not [f"{m} imports {t}" for m, ts in graph.items() for t in ts
                if room_of(t) in ("brokers/kite", "brokers/paper", "sim")]
    probes = [f"{path.name}:{number}" for path in engine.values()
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if "getattr(" in line or "hasattr(" in line]
    assert probes == []
