"""Column lineage as declared in configuration, not guessed from code.

Sources (conf/sources) say which department system column lands in which ods column;
libraries (libraries/) say which ods column supplies which library attribute, through the
standardized std.<library>__<input> table the build writes. Together they answer "where does
base.population.marital_status come from" without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from govlake.libraries import Library
from govlake.sources import SourceSystem
from govlake.themes import DIALECT, Theme
from govlake.warehouse.config import App


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


def logical_sql(dbtable: str) -> str:
    """The query Spark's JDBC source sends for a logical table (dbtable may be a subquery)."""
    return f"SELECT * FROM {dbtable}"


def library_edges(library: Library) -> list[ColumnEdge]:
    """A library build's column lineage, layer by layer as the build writes it: each ods input
    -> its standardized std.<library>__<input> -> the library attribute (authority first) and
    the base.conflicts values; rows breaking a blocking rule -> quarantine.<library>."""
    edges: set[ColumnEdge] = set()
    for name in library.inputs:
        edges |= std_edges(library, name)
        edges |= quarantine_edges(library, name)
        std = library.std_table(name)
        for key in library.all_key_columns:
            if key == library.key or key in library.inputs[name].key_columns:
                edges.add(ColumnEdge(library.table, key, std, key, "key"))
                edges.add(ColumnEdge(CONFLICTS, "key", std, key, "key"))
    for attribute, declared in library.attributes.items():
        for rank, input_name in enumerate(declared.sources):
            std = library.std_table(input_name)
            how = "authoritative" if rank == 0 else f"fallback {rank}"
            edges.add(ColumnEdge(library.table, attribute, std, attribute, how))
            stated = f"{library.library}.{attribute} as each department states it"
            edges.add(ColumnEdge(CONFLICTS, "value", std, attribute, stated))
            chosen = f"{library.library}.{attribute} as the library takes it"
            edges.add(ColumnEdge(CONFLICTS, "winner_value", std, attribute, chosen))
            if declared.derived_from_key:
                derived = f"{library.library}.{attribute} {declared.derived_from_key}"
                edges.add(ColumnEdge(CONFLICTS, "winner_value", std, library.key, derived))
    return sorted(edges)


CONFLICTS = "base.conflicts"


def std_edges(library: Library, input_name: str) -> set[ColumnEdge]:
    """ods input -> std.<library>__<input>: the key and each attribute standardized (typed,
    coded, mapped), the statement time copied."""
    spec = library.inputs[input_name]
    std = library.std_table(input_name)
    edges = {ColumnEdge(std, library.key, spec.table, spec.key, "key")}
    for part, column in spec.key_columns.items():
        how = f"key, standardized {library.key_columns[part]}"
        edges.add(ColumnEdge(std, part, spec.table, column, how))
    for attribute, column in spec.columns.items():
        declared = library.attributes[attribute]
        how = f"standardized {declared.type}"
        if declared.codes:
            how += f", codes {declared.codes}"
        if attribute in spec.values:
            how += " + code mapping"
        edges.add(ColumnEdge(std, attribute, spec.table, column, how))
    if spec.as_of:
        edges.add(ColumnEdge(std, "as_of", spec.table, spec.as_of, "copy"))
    return edges


def quarantine_edges(library: Library, input_name: str) -> set[ColumnEdge]:
    """ods input -> quarantine.<library>: a blocked row's key and its raw values."""
    spec = library.inputs[input_name]
    target = library.quarantine_table
    edges = {ColumnEdge(target, "key_value", spec.table, spec.key, "key of a blocked row")}
    for column in (spec.key, *spec.columns.values()):
        edges.add(ColumnEdge(target, "raw", spec.table, column, "raw value of a blocked row"))
    return edges


def all_library_edges(libraries: list[Library]) -> list[ColumnEdge]:
    return sorted({e for lib in libraries for e in library_edges(lib)})


def theme_edges(theme: Theme) -> list[ColumnEdge]:
    """A theme's column lineage from its SQL (sqlglot.lineage): each output column -> every
    column of an input table its value is computed from, through CTEs and subqueries."""
    # A pure function of the model's name and SQL text, asked for by every build, app refresh
    # and catalog review of a night; sqlglot's lineage costs a quarter of a second per model.
    key = (theme.table, theme.sql)
    if key not in _EDGES:
        _EDGES[key] = tuple(_lineage_edges(theme.table, theme.parsed.tree))
    return list(_EDGES[key])


_EDGES: dict[tuple[str, str], tuple[ColumnEdge, ...]] = {}


def _lineage_edges(table_name: str, parsed_tree) -> list[ColumnEdge]:
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    tree = qualify(
        parsed_tree.copy(),
        dialect=DIALECT,
        validate_qualify_columns=False,
        quote_identifiers=False,
    )
    edges: set[ColumnEdge] = set()
    for column, node in lineage(None, tree, schema={}, dialect=DIALECT, copy=False).items():
        how = _expression_text(node)
        for leaf in node.walk():
            if isinstance(leaf.expression, exp.Table) and leaf.expression.db:
                table = f"{leaf.expression.db}.{leaf.expression.name}".lower()
                source_column = leaf.name.rpartition(".")[2]
                edges.add(ColumnEdge(table_name, column, table, source_column, how))
    return sorted(edges)


def _expression_text(node) -> str:
    """How the output column is computed, as the SQL says it (shortened for the catalog)."""
    text = node.expression.sql(dialect=DIALECT)
    return "sql: " + (text if len(text) <= 200 else text[:197] + "...")


def all_theme_edges(themes: list[Theme]) -> list[ColumnEdge]:
    return sorted({e for theme in themes for e in theme_edges(theme)})


def app_edges(app: App) -> list[ColumnEdge]:
    """An application warehouse's column lineage (一应用一数仓): each delivered column from the
    same column of the table it is drawn from (masked by the principal's grade, rows filtered);
    the library's own edges carry it on to the department column."""
    return sorted(
        ColumnEdge(
            str(app.target(draw)),
            column,
            draw.table,
            column,
            f"delivered to {app.principal}: masked by its grade; rows "
            f"{draw.row_filter or 'all granted'}",
        )
        for draw in app.draws
        for column in draw.columns
    )


def all_app_edges(apps: list[App]) -> list[ColumnEdge]:
    return sorted({e for app in apps for e in app_edges(app)})
