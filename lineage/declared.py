"""Column lineage as declared in configuration, not guessed from code.

Sources (conf/sources) say which department system column lands in which ods column;
libraries (libraries/) say which ods column supplies which library attribute. Together they
answer "where does base.population.marital_status come from" without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from govlake.libraries import Library
from govlake.sources import SourceSystem


@dataclass(frozen=True, order=True)
class ColumnEdge:
    """`target` is computed from `source`; tables are `db.name`, systems `system:<name>.<table>`."""

    target_table: str
    target_column: str
    source_table: str
    source_column: str
    transformation: str


def source_dataset(system: str, table: str) -> str:
    """The name of a department system's table as an upstream dataset (数据—系统)."""
    return f"system:{system}.{table}"


def ods_edges(source: SourceSystem, table: str, ods_columns: list[str]) -> list[ColumnEdge]:
    """Each ods column from its department column (renamed where the source file says so)."""
    spec = next(t for t in source.tables if t.name == table)
    renamed = {ods: src for src, ods in spec.columns.items()}
    target = f"ods.{source.system}__{table}"
    upstream = source_dataset(source.system, table)
    return [
        ColumnEdge(target, c, upstream, renamed.get(c, c), "rename" if c in renamed else "copy")
        for c in ods_columns
        if not c.startswith("_")
    ]


def library_edges(library: Library) -> list[ColumnEdge]:
    """Each library attribute from every input that may supply it, and the key from every input."""
    edges = {
        ColumnEdge(library.table, library.key, spec.table, spec.key, "key")
        for spec in library.inputs.values()
    }
    for attribute, declared in library.attributes.items():
        for rank, input_name in enumerate(declared.sources):
            spec = library.inputs[input_name]
            how = "authoritative" if rank == 0 else f"fallback {rank}"
            if attribute in spec.values:
                how += " + code mapping"
            edges.add(
                ColumnEdge(library.table, attribute, spec.table, spec.columns[attribute], how)
            )
    return sorted(edges)


def all_library_edges(libraries: list[Library]) -> list[ColumnEdge]:
    return sorted(e for lib in libraries for e in library_edges(lib))
