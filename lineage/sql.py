"""Column lineage of SQL-defined tables, read from the SQL itself with sqlglot.

Used for logical connections (逻辑接入: the query Spark sends to the department database) and
for SQL views: each output column is traced through subqueries and CTEs to the table columns
it is computed from.
"""

from __future__ import annotations

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

from govlake.errors import GovlakeError
from lineage.declared import ColumnEdge

Schema = dict[str, dict[str, str]]


def column_lineage(
    sql: str, schema: Schema, target: str | None = None, dialect: str = "spark"
) -> list[ColumnEdge]:
    """Edges from every output column of `sql` to the table columns it reads.

    `schema` maps table name -> {column: type}, so `*` expands to real columns; the target is
    the view of a CREATE VIEW, else `target`. Transformation is 'copy', 'rename' or the
    expression's SQL.
    """
    statement = _parse(sql, dialect)
    if isinstance(statement, exp.Create):
        target = target or statement.this.sql(dialect)
        statement = statement.expression
    if not isinstance(statement, exp.Query):
        raise GovlakeError(f"only a query or CREATE VIEW has column lineage, not: {sql[:80]}")
    nested = _nested(schema)
    try:
        query = qualify(statement.copy(), schema=nested, dialect=dialect)
    except SqlglotError as exc:
        raise GovlakeError(
            f"cannot resolve the columns of the query ({exc}): {sql[:120]}",
            fix="pass the schema of every table the query reads.",
        ) from None
    edges = set()
    for column in query.named_selects:
        node = lineage(column, query, schema=nested, dialect=dialect, copy=False)
        how = _transformation(column, _written(statement, column) or node.expression, dialect)
        for leaf in node.walk():
            if isinstance(leaf.expression, exp.Table) and leaf is not node:
                table = _table_name(leaf.expression)
                source_column = exp.to_column(leaf.name).name
                edges.add(ColumnEdge(target or "query", column, table, source_column, how))
    return sorted(edges)


def _parse(sql: str, dialect: str) -> exp.Expression:
    try:
        return parse_one(sql, read=dialect)
    except SqlglotError as exc:
        raise GovlakeError(f"the SQL does not parse ({exc}): {sql[:120]}") from None


def _nested(schema: Schema) -> dict:
    """{'ods.t': cols} as sqlglot wants it, {'ods': {'t': cols}}; plain names stay flat."""
    nested: dict = {}
    for name, columns in schema.items():
        *parents, table = name.split(".")
        level = nested
        for part in parents:
            level = level.setdefault(part, {})
        level[table] = columns
    return nested


def _written(statement: exp.Query, column: str) -> exp.Expression | None:
    """The output column as the author wrote it (first SELECT of a union), for its description."""
    select = statement
    while isinstance(select, exp.SetOperation):
        select = select.left
    if not isinstance(select, exp.Select):
        return None
    return next((e for e in select.expressions if e.alias_or_name == column), None)


def _table_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _transformation(column: str, expression: exp.Expression, dialect: str) -> str:
    """'copy' for the same column, 'rename' for an alias of a column, else the expression."""
    inner = expression.this if isinstance(expression, exp.Alias) else expression
    if isinstance(inner, exp.Column):
        return "copy" if inner.name == column else "rename"
    return inner.sql(dialect)
