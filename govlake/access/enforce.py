"""The one enforcement point: a statement is parsed (sqlglot, Spark dialect), checked and
rewritten so every table reference becomes its masked, row-filtered subquery, or refused.

Masked columns: the rewritten query can only ever see the masked value (the raw column exists
only inside the subquery that masks it), so WHERE/GROUP BY/JOIN/functions on a masked column
compute on the masked value and learn nothing more than the projection shows.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.schema import MappingSchema


class _CommandFallback(logging.Filter):
    """sqlglot warns each time it parses SHOW or ADD JAR as a plain command: expected here
    (metadata.py reads SHOW itself, the rest is refused), and it would flood the endpoint log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_CommandFallback())

MAX_STATEMENT_BYTES = 64 * 1024
TOO_DEEP = "the statement is nested too deeply to check; simplify it."

# Path-based and file-format "databases" of Spark SQL (delta.`/path`, parquet.`/path`, ...).
PATH_FORMATS = {"delta", "parquet", "csv", "json", "orc", "text", "avro", "binaryfile", "file"}

# Pure SQL functions an analyst may call (sqlglot's name for each). Anything else is refused:
# reflect/java_method, read_files, table_changes, input_file_name, UDFs, ...
ALLOWED_FUNCTIONS = frozenset(
    """
    COUNT SUM AVG MIN MAX STDDEV STDDEV_POP STDDEV_SAMP VARIANCE VARIANCE_POP COUNT_IF
    APPROX_DISTINCT APPROX_COUNT_DISTINCT PERCENTILE MEDIAN FIRST LAST ANY_VALUE
    ARRAY_AGG COLLECT_LIST COLLECT_SET
    ROW_NUMBER RANK DENSE_RANK NTILE LAG LEAD PERCENT_RANK CUME_DIST
    UPPER LOWER LENGTH CHAR_LENGTH SUBSTRING SUBSTR LEFT RIGHT CONCAT CONCAT_WS TRIM LTRIM
    RTRIM REPLACE LPAD RPAD REGEXP_EXTRACT REGEXP_REPLACE REGEXP_LIKE RLIKE STR_POSITION
    INSTR LOCATE REPEAT REVERSE SPLIT INITCAP FORMAT_NUMBER MD5 SHA SHA2 HASH
    YEAR MONTH DAY DAYOFWEEK QUARTER WEEKOFYEAR DATE_TRUNC TIMESTAMP_TRUNC TO_DATE
    TS_OR_DS_TO_DATE STR_TO_DATE STR_TO_TIME TIME_TO_STR DATE_FORMAT DATE_ADD DATE_SUB
    DATEDIFF DATE_DIFF TS_OR_DS_ADD ADD_MONTHS MONTHS_BETWEEN CURRENT_DATE
    CURRENT_TIMESTAMP LAST_DAY MAKE_DATE UNIX_TO_TIME TIME_TO_UNIX
    ABS ROUND FLOOR CEIL SQRT POW LN LOG EXP SIGN MOD GREATEST LEAST
    COALESCE IF NULLIF NVL NVL2 CAST TRY_CAST CASE IS_NAN
    ARRAY SIZE ARRAY_SIZE ARRAY_CONTAINS ELEMENT_AT MAP_KEYS MAP_VALUES STRUCT EXISTS
    JSON_FORMAT AND OR XOR APPROX_QUANTILE QUANTILE ARRAY_UNIQUE_AGG BROUND BTRIM CONTAINS
    DAY_OF_MONTH DAY_OF_WEEK DECODE_CASE ENDS_WITH STARTS_WITH EXTRACT HOUR MINUTE SECOND
    ISNULL ISNOTNULL NANVL NOW PAD PMOD POWER REGEXP_SPLIT STR_TO_UNIX TIME_STR_TO_TIME
    UNIX_TO_STR WEEK_OF_YEAR
    """.split()
)

FORBIDDEN_NODES = (
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Set,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
    exp.Into,
    exp.Use,
    exp.Describe,
    exp.TruncateTable,
    exp.LoadData,
)


class Refused(Exception):  # noqa: N818 - the name of the contract
    """The statement is not run: `reason` says what was refused and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Read:
    """A column a plan reads: its effective grade and the mask applied (None: shown raw)."""

    table: str
    column: str
    grade: str | None
    mask: str | None


@dataclass(frozen=True)
class Plan:
    """What runs instead of the statement: `sql` for Spark, and what it reads for the audit."""

    sql: str
    kind: str  # query | use | show | describe
    reads: tuple[Read, ...]
    filters: tuple[str, ...]
    fingerprint: str
    tables: tuple[str, ...] = ()
    # A sandbox principal's plan: its govlake.sandbox.rules.SandboxQuery (project, shape, ...).
    sandbox: object | None = None


def parse_one_statement(sql: str) -> exp.Expression:
    """The statement's syntax tree; too large, malformed or several statements is refused."""
    size = len(sql.encode("utf-8"))
    if size > MAX_STATEMENT_BYTES:
        raise Refused(
            f"the statement is {size} bytes, over the limit of {MAX_STATEMENT_BYTES}; "
            "send a shorter statement."
        )
    try:
        trees = [t for t in sqlglot.parse(sql, read="spark") if t is not None]
    except (ParseError, SqlglotError) as exc:
        raise Refused(f"malformed SQL: {_first_line(exc)}") from None
    except RecursionError:
        raise Refused(TOO_DEEP) from None
    if len(trees) != 1:
        raise Refused(f"send exactly one statement (got {len(trees)}).")
    return trees[0]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300]


def fingerprint(tree: exp.Expression) -> str:
    """sha256 of the normalised statement with every literal replaced by '?'."""
    tree = tree.copy()
    for lit in list(tree.find_all(exp.Literal)):
        lit.replace(exp.Placeholder())
    text = tree.sql(dialect="spark", normalize=True, comments=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint_text(sql: str) -> str:
    """The fingerprint of any statement text, also one that is refused before planning: the
    normalised tree's when it parses, else the raw text's."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="spark") if t is not None]
    except SqlglotError:
        trees = []
    if len(trees) == 1 and len(sql) <= MAX_STATEMENT_BYTES:
        return fingerprint(trees[0])
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def statement_kind(tree: exp.Expression) -> str:
    if isinstance(tree, exp.Use):
        return "use"
    if isinstance(tree, exp.Describe):
        return "describe"
    if isinstance(tree, exp.Command) and tree.name.upper() == "SHOW":
        return "show"
    if isinstance(tree, exp.Query):
        return "query"
    return tree.key


def check_read_only(tree: exp.Expression) -> None:
    """Only a query (SELECT, set operations, CTEs, subqueries): nothing that writes or
    configures."""
    if not isinstance(tree, exp.Query):
        what = tree.name.upper() if isinstance(tree, exp.Command) else tree.key.upper()
        raise Refused(f"{what} statements are refused: analysts may only run read-only queries.")
    for node in tree.walk():
        if isinstance(node, FORBIDDEN_NODES):
            raise Refused(f"{node.key.upper()} inside a query is refused (read-only access).")


def check_no_substitution(tree: exp.Expression, text: str) -> None:
    """Spark substitutes ${name} with configuration values, even inside string literals, and
    Delta reads `table@v3` as an old version: neither may reach Spark."""
    params = (exp.Parameter, exp.Placeholder, exp.SessionParameter)
    if "${" in text or any(isinstance(n, params) for n in tree.walk()):
        raise Refused(
            "variables and parameters (${...}, @name, ?) are refused: they reach Spark's "
            "configuration or a table's old versions (table@v0)."
        )


def function_name(node: exp.Func) -> str:
    return node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name().upper()


def check_functions(tree: exp.Expression) -> None:
    """Every function called is on the allow-list of pure SQL functions."""
    for node in tree.find_all(exp.Func):
        name = function_name(node)
        if name not in ALLOWED_FUNCTIONS:
            raise Refused(
                f"function {name.lower()} is refused: only pure SQL functions are allowed "
                "(nothing that reads files, other tables' history or reaches the JVM)."
            )


def cte_references(tree: exp.Expression) -> set[int]:
    """ids of the table nodes that name a CTE visible in their own scope (sqlglot's scopes):
    an unqualified name outside its CTE's scope is a real table to Spark, and is refused."""
    try:
        scopes = traverse_scope(tree)
    except SqlglotError as exc:
        raise Refused(f"cannot resolve the query's scopes: {_first_line(exc)}") from None
    return {
        id(table)
        for scope in scopes
        for table in scope.tables
        if not table.db and table.name in scope.cte_sources
    }


def check_tables(tree: exp.Expression, readable: set[str]) -> None:
    """Every table is a CTE or a readable catalog table named db.table, read at its current
    version, never a path or a table function."""
    ctes = cte_references(tree)
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            what = table.this.sql(dialect="spark")[:80]
            raise Refused(f"table function {what} is refused: read catalog tables by name.")
        if table.args.get("version") is not None:
            raise Refused(
                f"time travel (VERSION/TIMESTAMP AS OF) on {table.sql(dialect='spark')} is "
                "refused: only the current version is readable."
            )
        db, name = table.db.lower(), table.name.lower()
        if db in PATH_FORMATS or "/" in name or ":" in name:
            raise Refused(f"path-based read {table.sql(dialect='spark')} is refused.")
        if table.catalog and table.catalog.lower() != "spark_catalog":
            raise Refused(f"catalog {table.catalog} is refused: name tables as db.table.")
        if not db:
            if id(table) in ctes:
                continue
            raise Refused(f"table {name} is not qualified: name it as <database>.{name}.")
        if f"{db}.{name}" not in readable:
            raise Refused(f"table {db}.{name} is not granted to you (or does not exist).")


def qualified(tree: exp.Expression, schema: MappingSchema) -> exp.Expression:
    """Columns resolved against the principal's readable columns only; `*` expands to them."""
    try:
        return qualify(
            tree,
            schema=schema,
            dialect="spark",
            expand_stars=True,
            validate_qualify_columns=True,
            quote_identifiers=True,
        )
    except (OptimizeError, SqlglotError) as exc:
        raise Refused(
            f"{_first_line(exc)} (a column that is not granted to you is unknown here)."
        ) from None


def table_sources(tree: exp.Expression) -> list[tuple[exp.Column, str]]:
    """Each column reference that resolves to a catalog table, with that table's name."""
    found = []
    for scope in traverse_scope(tree):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table) and source.db:
                found.append((column, f"{source.db}.{source.name}".lower()))
    return found


def replace_tables(tree: exp.Expression, subqueries: dict[str, exp.Select]) -> None:
    """Each catalog table reference becomes `(masked, filtered subquery) AS alias`."""
    for table in list(tree.find_all(exp.Table)):
        if not table.db:
            continue
        name = f"{table.db}.{table.name}".lower()
        alias = table.alias or table.name
        sub = exp.Subquery(
            this=subqueries[name].copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))
        )
        table.replace(sub)


def check_rewritten(sql: str, allowed: frozenset[str]) -> None:
    """Defence in depth: the SQL handed to Spark, parsed again, reads catalog tables only inside
    the masked subqueries, and every other table name is a CTE of its scope."""
    tree = sqlglot.parse_one(sql, read="spark")
    ctes = cte_references(tree)
    for table in tree.find_all(exp.Table):
        if table.db:
            select = table.find_ancestor(exp.Select)
            if select is None or select.sql(dialect="spark") not in allowed:
                raise Refused(f"internal check: {table.sql(dialect='spark')} escaped the masks.")
        elif id(table) not in ctes:
            raise Refused(f"internal check: table {table.name} is not a CTE of its scope.")


def strip_hints(tree: exp.Expression) -> None:
    """Join hints only steer Spark's planner; dropping them keeps their table names out of the
    checks and the rewrite."""
    for hint in list(tree.find_all(exp.Hint)):
        hint.pop()
