"""血缘分析: where a column comes from (upstream) and what breaks if it changes (downstream).

Walks column edges recursively: the edges declared by the current configuration
(conf/sources, libraries/) plus those recorded by runs in lineage.column_edges, down to the
department system's own column.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.lakehouse import may_hold_tables
from govlake.libraries import load_libraries
from govlake.owned import COLUMN_EDGES
from govlake.settings import settings
from govlake.sources import SourceSystem, load_sources
from govlake.themes import themes_or_error
from govlake.warehouse.config import load_apps
from lineage.declared import (
    ColumnEdge,
    all_app_edges,
    all_library_edges,
    all_theme_edges,
    ods_edges,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Node = tuple[str, str]


def declared_edges() -> list[ColumnEdge]:
    """Edges of the current configuration: department column -> ods column -> library ->
    theme (the column lineage of each theme model's SQL)."""
    libraries = load_libraries()
    used: dict[str, set[str]] = defaultdict(set)
    for library in libraries:
        for spec in library.inputs.values():
            used[spec.table] |= {spec.key, *spec.columns.values()}
    themes = all_theme_edges(themes_or_error()[0])  # a broken model: its own DAG says why
    for edge in themes:
        used[edge.source_table].add(edge.source_column)
    edges = all_library_edges(libraries) + themes + all_app_edges(load_apps())
    for source in load_sources():
        for spec in source.tables:
            # Without reading the table, the ods columns known are the renamed ones, the key
            # and those a library reads; recorded edges add the rest.
            columns = {*spec.columns.values(), *spec.ods_primary_key}
            columns |= used[source.ods_table(spec)]
            edges += ods_edges(source, spec.name, sorted(columns))
    return edges


def recorded_edges(spark: SparkSession | None = None) -> list[ColumnEdge]:
    """Edges of the latest recorded run of each target table, if any run recorded them."""
    cfg = settings()
    if not may_hold_tables([COLUMN_EDGES.table.database], cfg):
        return []  # no lineage table at all: answered without starting Spark
    from govlake.spark import get_spark

    spark = spark or get_spark(cfg, tables={COLUMN_EDGES.name})
    recorded = COLUMN_EDGES.table.read_if_exists(spark, cfg)
    if recorded is None:
        return []
    recorded.createOrReplaceTempView("recorded_column_edges")
    rows = spark.sql(
        "SELECT DISTINCT target_table, target_column, source_table, source_column, transformation "
        "FROM (SELECT *, max(recorded_at) OVER (PARTITION BY target_table) AS latest "
        "FROM recorded_column_edges) WHERE recorded_at = latest"
    ).collect()
    return [ColumnEdge(*row) for row in rows]


def all_edges(recorded: bool = True, spark: SparkSession | None = None) -> list[ColumnEdge]:
    edges = set(declared_edges())
    if recorded:
        edges |= set(recorded_edges(spark))
    return sorted(edges)


def upstream(
    table: str, column: str | None = None, edges: list[ColumnEdge] | None = None
) -> list[ColumnEdge]:
    """Every edge on the way from `table[.column]` back to the department systems."""
    return _walk(table, column, all_edges() if edges is None else edges, forward=False)


def downstream(
    table: str, column: str | None = None, edges: list[ColumnEdge] | None = None
) -> list[ColumnEdge]:
    """Every edge from `table[.column]` to the tables built from it (what breaks if it changes)."""
    return _walk(table, column, all_edges() if edges is None else edges, forward=True)


def _walk(table: str, column: str | None, edges: list[ColumnEdge], forward: bool):
    index = index_edges(edges, forward)
    start = [(table, column)] if column else sorted(k for k in index if k[0] == table)
    if not start or (column and not _known(table, column, edges)):
        what = f"{table}.{column}" if column else table
        raise GovlakeError(
            f"no lineage is known for '{what}'.",
            fix="name a table as db.table (or system:<system>.<table>) and a column it has; "
            "`govlake tables` lists the tables.",
        )
    seen: set[ColumnEdge] = set()
    found: list[ColumnEdge] = []
    queue: deque[Node] = deque(start)
    while queue:
        for edge in index.get(queue.popleft(), []):
            if edge not in seen:
                seen.add(edge)
                found.append(edge)
                queue.append(_next(edge, forward))
    return found


def index_edges(edges: list[ColumnEdge], forward: bool) -> dict[Node, list[ColumnEdge]]:
    """Edges by the node they leave from: source when walking downstream, else target."""
    index: dict[Node, list[ColumnEdge]] = defaultdict(list)
    for e in sorted(set(edges)):
        key = (e.source_table, e.source_column) if forward else (e.target_table, e.target_column)
        index[key].append(e)
    return dict(index)


def _next(edge: ColumnEdge, forward: bool) -> Node:
    if forward:
        return (edge.target_table, edge.target_column)
    return (edge.source_table, edge.source_column)


def _known(table: str, column: str, edges: list[ColumnEdge]) -> bool:
    return any(
        (e.target_table, e.target_column) == (table, column)
        or (e.source_table, e.source_column) == (table, column)
        for e in edges
    )


def source_system(dataset: str) -> SourceSystem | None:
    """The department system behind `system:<system>.<table>`, else None."""
    if not dataset.startswith("system:"):
        return None
    system = dataset.removeprefix("system:").split(".", 1)[0]
    return next((s for s in load_sources() if s.system == system), None)


def split_target(text: str) -> tuple[str, str | None]:
    """'base.population.marital_status' -> ('base.population', 'marital_status')."""
    prefix = "system:" if text.startswith("system:") else ""
    parts = text.removeprefix(prefix).split(".", 2)
    if len(parts) < 2:
        raise GovlakeError(
            f"'{text}' is not a table name.",
            fix="write db.table[.column], e.g. base.population.marital_status.",
        )
    return prefix + ".".join(parts[:2]), (parts[2] if len(parts) == 3 else None)
