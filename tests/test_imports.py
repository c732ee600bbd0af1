"""The project's own modules import each other without a cycle.

Imports inside functions count: a lazy import hides a cycle from Python at import time, not from
the design (govlake.cli and its sub-CLIs imported each other that way). Imports under
`if TYPE_CHECKING:` do not run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("govlake", "jobs", "lineage", "dags")


def project_modules(root: Path = PROJECT) -> dict[str, Path]:
    """Dotted name -> file of every Python module under the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith(
        "TYPE_CHECKING"
    )


def _imports(nodes):
    """Every import statement among `nodes`, at any depth, except those only for type checkers."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _type_checking_only(node):
            yield from _imports(node.orelse)
        else:
            yield from _imports(ast.iter_child_nodes(node))


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module a dotted name lands in (`govlake.cli.main` -> `govlake.cli`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (top level and inside functions)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for node in _imports([ast.parse(path.read_text(encoding="utf-8"), str(path))]):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                origin = _absolute(node, module, path.name == "__init__.py")
                # `from pkg import mod` imports the module pkg.mod; `from mod import f` mod.
                names = [f"{origin}.{alias.name}" for alias in node.names]
            targets |= {t for t in (_resolve(n, modules) for n in names) if t}
        graph[module] = targets - {module}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Modules imported from `start` directly or not (`start` itself only through a cycle)."""
    seen: set[str] = set()
    frontier = set(graph.get(start, ()))
    while frontier:
        seen |= frontier
        frontier = {t for node in frontier for t in graph.get(node, ())} - seen
    return seen


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Groups of modules that import each other, directly or not (each module in one group)."""
    reach = {node: _reachable(graph, node) for node in graph}
    groups: list[set[str]] = []
    for node in sorted(graph):
        if node in reach[node] and not any(node in g for g in groups):
            groups.append({other for other in reach[node] if node in reach.get(other, ())})
    return groups


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle (a -> b -> ... -> a) per group of modules that import each other."""
    return [_cycle_in(group, graph) for group in tangles(graph)]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest way from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not a cycle")


def test_no_import_cycle_between_project_modules():
    graph = import_graph(project_modules())
    found = [
        f"{' -> '.join(_cycle_in(group, graph))}   (all in the loop: {', '.join(sorted(group))})"
        for group in tangles(graph)
    ]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    """A cycle made only by a lazy import is found; one made by a TYPE_CHECKING import is not."""
    package = tmp_path / "govlake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("from govlake import feature\n")
    (package / "feature.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from govlake.typed import T\n"
        "def run():\n    from govlake.cli import console\n"
    )
    (package / "typed.py").write_text("import govlake.feature\n")
    graph = import_graph(project_modules(tmp_path))
    assert graph["govlake.feature"] == {"govlake.cli"}
    assert graph["govlake.typed"] == {"govlake.feature"}
    assert cycles(graph) == [["govlake.cli", "govlake.feature", "govlake.cli"]]


# The layers of govlake/README.md and dags/README.md: the core imports nothing above it; DAG
# files import the core and the task declarations, never a job (jobs import Spark).
CORE = (
    "govlake.settings",
    "govlake.errors",
    "govlake.conffile",
    "govlake.lakehouse",
    "govlake.objectstore",
    "govlake.connections",
    "govlake.owned",
    "govlake.sources",
    "govlake.libraries",
    "govlake.themes",
    "govlake.masking",
    "govlake.spark",
    "govlake.class_archive",
    "govlake.jvm_functions",
    "govlake.console",
)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that break the layering: core -> anything but core, dags -> jobs or lineage."""
    wrong = []
    for module, targets in sorted(graph.items()):
        if module in CORE:
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t not in CORE]
        elif module.startswith("dags"):
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t.startswith(("jobs", "lin"))]
        elif module.startswith("govlake.access"):
            # Governed access is called by the endpoint and the CLI; it runs no job or DAG.
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t.startswith(("jobs", "dags"))]
            # Governed access applies share's grants by reading share.requests, not its code.
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t.startswith("govlake.share")]
        elif module in ("govlake.sandbox.config", "govlake.sandbox.rules"):
            # Governed access imports the sandbox rules: they may not import it back.
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t.startswith("govlake.access")]
        elif module.startswith(("govlake.share", "govlake.sandbox")):
            # The request workflow sits on governed access and the catalog; it runs no job or DAG.
            wrong += [f"{module} -> {t}" for t in sorted(targets) if t.startswith(("jobs", "dags"))]
    return wrong


def test_the_core_imports_nothing_above_it_and_dags_import_no_job():
    wrong = upward_imports(import_graph(project_modules()))
    assert not wrong, "imports against the layering of govlake/README.md:\n" + "\n".join(wrong)


def test_the_layering_check_finds_an_upward_import():
    graph = {"govlake.settings": {"jobs.ingest"}, "dags.x": {"jobs.ingest", "govlake.tasks"}}
    assert upward_imports(graph) == ["dags.x -> jobs.ingest", "govlake.settings -> jobs.ingest"]
    graph = {"govlake.access.control": {"govlake.share.workflow"}, "govlake.share.cli": {"jobs.x"}}
    assert upward_imports(graph) == [
        "govlake.access.control -> govlake.share.workflow",
        "govlake.share.cli -> jobs.x",
    ]
