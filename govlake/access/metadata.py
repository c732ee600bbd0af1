"""Metadata statements of analysts (USE, SHOW, DESCRIBE), answered from what the principal may
read only: SHOW lists granted databases, tables and columns as an inline VALUES query, DESCRIBE
describes the masked subquery; anything else (DESCRIBE HISTORY/DETAIL/EXTENDED, SHOW CREATE
TABLE, SHOW TBLPROPERTIES, ...) is refused, as it reveals paths, versions or properties."""

from __future__ import annotations

import fnmatch
import re

from sqlglot import exp

from govlake.access.enforce import Refused

_SHOW_DATABASES = re.compile(r"^(DATABASES|SCHEMAS|NAMESPACES)(?:\s+(?:LIKE\s+)?'([^']*)')?$", re.I)
_SHOW_TABLES = re.compile(
    r"^TABLES(?:\s+(?:IN|FROM)\s+`?(\w+)`?)?(?:\s+(?:LIKE\s+)?'([^']*)')?$", re.I
)
_SHOW_VIEWS = re.compile(r"^VIEWS(?:\s+(?:IN|FROM)\s+`?\w+`?)?(?:\s+(?:LIKE\s+)?'[^']*')?$", re.I)
_SHOW_COLUMNS = re.compile(
    r"^COLUMNS\s+(?:IN|FROM)\s+`?(\w+)`?\.`?(\w+)`?(?:\s+(?:IN|FROM)\s+`?(\w+)`?)?$", re.I
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _values(rows: list[tuple], names: tuple[str, ...], types: tuple[str, ...]) -> str:
    """An inline query with the columns Spark's own SHOW statement returns (empty if no row)."""
    if not rows:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in zip(names, types, strict=True))
        return f"SELECT {cols} WHERE FALSE"
    body = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    return f"SELECT * FROM VALUES {body} AS t({', '.join(names)})"


def _literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return _quote(str(value))


def _like(names: list[str], pattern: str | None) -> list[str]:
    """Spark's SHOW ... LIKE: '*' any characters, '|' alternatives, case-insensitive."""
    if not pattern:
        return names
    options = [p.strip().lower() for p in pattern.split("|")]
    return [n for n in names if any(fnmatch.fnmatchcase(n.lower(), o) for o in options)]


def plan_show(text: str, tables: dict[str, list[str]]) -> str:
    """SHOW DATABASES / TABLES / COLUMNS over `tables` (db.table -> readable columns)."""
    text = " ".join(text.split())
    databases = sorted({t.split(".")[0] for t in tables})
    if m := _SHOW_DATABASES.match(text):
        rows = [(d,) for d in _like(databases, m.group(2))]
        return _values(rows, ("namespace",), ("STRING",))
    if m := _SHOW_TABLES.match(text):
        db = m.group(1).lower() if m.group(1) else None
        names = sorted(t for t in tables if db is None or t.split(".")[0] == db)
        kept = set(_like([t.split(".")[1] for t in names], m.group(2)))
        rows = [(*t.split("."), False) for t in names if t.split(".")[1] in kept]
        return _values(
            rows, ("namespace", "tableName", "isTemporary"), ("STRING", "STRING", "BOOLEAN")
        )
    if _SHOW_VIEWS.match(text):  # analysts read tables only; BI tools ask for views too
        return _values([], ("namespace", "viewName", "isTemporary"), ("STRING",) * 2 + ("BOOLEAN",))
    if m := _SHOW_COLUMNS.match(text):
        db = (m.group(3) or m.group(1)).lower()
        table = f"{db}.{m.group(2).lower()}"
        if table not in tables:
            raise Refused(f"table {table} is not granted to you (or does not exist).")
        return _values([(c,) for c in tables[table]], ("col_name",), ("STRING",))
    raise Refused(
        f"SHOW {text.split(' ')[0].upper()} is refused: analysts may run SHOW DATABASES, "
        "SHOW TABLES [IN db], SHOW VIEWS and SHOW COLUMNS IN db.table."
    )


def plan_describe(tree: exp.Describe, readable: set[str]) -> str:
    """The db.table a plain DESCRIBE [TABLE] names; other forms are refused."""
    style = tree.args.get("style")
    if style or tree.args.get("partition") or tree.args.get("expressions"):
        what = str(style).upper() if style else "with options"
        raise Refused(
            f"DESCRIBE {what} is refused: it shows history, files or properties; "
            "analysts may run DESCRIBE db.table."
        )
    table = tree.this
    if not isinstance(table, exp.Table) or not table.db:
        raise Refused("DESCRIBE needs a table named <database>.<table>.")
    name = f"{table.db}.{table.name}".lower()
    if name not in readable:
        raise Refused(f"table {name} is not granted to you (or does not exist).")
    return name


def plan_use(tree: exp.Use, databases: set[str]) -> str:
    """USE of `default` (PyHive sends it on connect) or a database holding a readable table."""
    db = tree.this.name.lower() if tree.this else ""
    catalog = tree.this.db.lower() if tree.this else ""
    kind = tree.args.get("kind")
    bad_kind = kind is not None and kind.name.upper() not in ("DATABASE", "SCHEMA", "NAMESPACE")
    if bad_kind or catalog not in ("", "spark_catalog") or db not in databases | {"default"}:
        raise Refused(f"USE {db} is refused: no table of it is granted to you.")
    return f"USE `{db}`"
