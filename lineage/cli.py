"""`govlake lineage <table>[.<column>] --upstream|--downstream` (血缘分析) as a tree."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from lineage.declared import ColumnEdge


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the `lineage` subcommand to the govlake CLI."""
    parser = add("lineage", cmd_lineage, "where a column comes from, or what breaks if it changes")
    parser.add_argument("target", help="db.table[.column], e.g. base.population.marital_status")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--upstream", action="store_true", help="trace to the sources (default)")
    direction.add_argument("--downstream", action="store_true", help="list what is built from it")
    parser.add_argument(
        "--declared-only", action="store_true", help="skip edges recorded in lineage.column_edges"
    )
    parser.add_argument("--json", action="store_true")


def cmd_lineage(args: argparse.Namespace) -> int:
    from govlake.console import console
    from lineage import query

    table, column = query.split_target(args.target)
    edges = query.all_edges(recorded=not args.declared_only)
    walk = query.downstream if args.downstream else query.upstream
    found = walk(table, column, edges)
    if args.json:
        print(json.dumps([e.__dict__ for e in found], ensure_ascii=False, indent=2))
        return 0
    console.print(render_tree(table, column, found, forward=args.downstream))
    return 0


def render_tree(table: str, column: str | None, edges: list[ColumnEdge], forward: bool):
    """A rich Tree from the start node along the edges, naming each department system."""
    from rich.tree import Tree

    from lineage.query import index_edges

    arrow = "downstream: what is built from it" if forward else "upstream: where it comes from"
    root = Tree(f"[bold]{table}{'.' + column if column else ''}[/]  [dim]({arrow})[/]")
    index = index_edges(edges, forward)
    starts = [(table, column)] if column else sorted(k for k in index if k[0] == table)
    for node in starts:
        branch = root.add(f"{node[0]}.{node[1]}") if not column else root
        _grow(branch, node, index, forward, {node})
    if not edges:
        root.add("[dim](nothing: no edges lead further)[/]")
    return root


def _grow(branch, node, index, forward: bool, path: set) -> None:
    # Two inputs may feed the same column (husband's and wife's side of one table): one line.
    ways: dict[tuple[str, str], list[str]] = {}
    for edge in index.get(node, []):
        end = (edge.target_table, edge.target_column)
        nxt = end if forward else (edge.source_table, edge.source_column)
        ways.setdefault(nxt, []).append(edge.transformation)
    for nxt, how in ways.items():
        child = branch.add(_label(nxt, "; ".join(dict.fromkeys(how))))
        if nxt not in path:
            _grow(child, nxt, index, forward, path | {nxt})


def _label(node: tuple[str, str], transformation: str) -> str:
    from rich.markup import escape

    from lineage.query import source_system

    text = f"{escape(node[0])}.{escape(node[1])}  [dim]({escape(transformation)})[/]"
    system = source_system(node[0])
    if system is not None:
        text += (
            f"  ← source system [bold]{system.system}[/]: {system.department} "
            f"{system.information_system} (department column '{node[1]}')"
        )
    library = _libraries().get(node[0])
    if library is not None:
        text += f"  ← attribute of library [bold]{library.title}[/] ({library.library})"
    elif node[0].startswith("std."):
        name, _, input_name = node[0].removeprefix("std.").partition("__")
        text += f"  ← standardized input [bold]{escape(input_name)}[/] of library {escape(name)}"
    return text


def _libraries() -> dict:
    from govlake.libraries import load_libraries

    return {lib.table: lib for lib in load_libraries()}
