"""Metadata answers (GetSchemas, GetTables, GetColumns, ...) showing only what a principal reads.

They are the principal's own SHOW DATABASES, SHOW TABLES IN db and DESCRIBE db.table, planned by
the enforcement point like any statement and run by Spark: a listing cannot show more than those
statements would (an analyst's DESCRIBE describes the masked, filtered form of the table).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from govlake.serve.contract import AccessLike
from govlake.serve.wire import WireColumn

# JDBC java.sql.Types codes of the wire types (DatabaseMetaData.getColumns' DATA_TYPE).
_JDBC = {
    "boolean": 16, "tinyint": -6, "smallint": 5, "int": 4, "bigint": -5, "float": 6,
    "double": 8, "string": 12, "varchar": 12, "char": 1, "date": 91, "timestamp": 93,
    "timestamp_ntz": 93, "binary": -2, "decimal": 3, "array": 2003, "map": 2000,
    "struct": 2002, "void": 0,
}  # fmt: skip


def _cols(spec: str) -> list[WireColumn]:
    """Result columns from 'NAME:type NAME:type ...'."""
    return [WireColumn.of(*item.split(":")) for item in spec.split()]


CATALOG_COLUMNS = _cols("TABLE_CAT:string")
SCHEMA_COLUMNS = _cols("TABLE_SCHEM:string TABLE_CATALOG:string")
TABLE_TYPE_COLUMNS = _cols("TABLE_TYPE:string")
TABLE_COLUMNS = _cols(
    "TABLE_CAT:string TABLE_SCHEM:string TABLE_NAME:string TABLE_TYPE:string REMARKS:string"
)
COLUMN_COLUMNS = _cols(
    "TABLE_CAT:string TABLE_SCHEM:string TABLE_NAME:string COLUMN_NAME:string DATA_TYPE:int "
    "TYPE_NAME:string COLUMN_SIZE:int BUFFER_LENGTH:tinyint DECIMAL_DIGITS:int "
    "NUM_PREC_RADIX:int NULLABLE:int REMARKS:string COLUMN_DEF:string SQL_DATA_TYPE:int "
    "SQL_DATETIME_SUB:int CHAR_OCTET_LENGTH:int ORDINAL_POSITION:int IS_NULLABLE:string "
    "SCOPE_CATALOG:string SCOPE_SCHEMA:string SCOPE_TABLE:string SOURCE_DATA_TYPE:smallint "
    "IS_AUTO_INCREMENT:string"
)
TYPE_INFO_COLUMNS = _cols(
    "TYPE_NAME:string DATA_TYPE:int PRECISION:int LITERAL_PREFIX:string LITERAL_SUFFIX:string "
    "CREATE_PARAMS:string NULLABLE:smallint CASE_SENSITIVE:boolean SEARCHABLE:smallint "
    "UNSIGNED_ATTRIBUTE:boolean FIXED_PREC_SCALE:boolean AUTO_INCREMENT:boolean "
    "LOCAL_TYPE_NAME:string MINIMUM_SCALE:smallint MAXIMUM_SCALE:smallint SQL_DATA_TYPE:int "
    "SQL_DATETIME_SUB:int NUM_PREC_RADIX:int"
)


def pattern(text: str | None) -> re.Pattern:
    """A JDBC search pattern (% any run, _ one character; Hive clients also send *) as a regex."""
    if not text or text in ("%", "*"):
        return re.compile(".*", re.S)
    out = "".join(
        ".*" if ch in "%*" else "." if ch == "_" else re.escape(ch) for ch in text.lower()
    )
    return re.compile(out, re.S)


class Metadata:
    """The catalog as one principal sees it, through the enforcement point; cached."""

    def __init__(self, access: AccessLike, principal: Any):
        self.access, self.principal = access, principal
        self._cache: dict[str, list] = {}
        self._lock = threading.Lock()

    def _ask(self, spark, statement: str) -> list:
        """Rows of a metadata statement as planned for the principal; none if it is refused."""
        with self._lock:
            if statement in self._cache:
                return self._cache[statement]
        try:
            rows = [
                tuple(r)
                for r in spark.sql(self.access.plan(self.principal, statement).sql).collect()
            ]
        except Exception:  # refused, or gone since: nothing to list
            rows = []
        with self._lock:
            self._cache[statement] = rows
        return rows

    def visible_columns(self, spark, database: str, table: str) -> list[tuple[str, str]]:
        """(name, Spark type) of the table as DESCRIBE shows it to the principal."""
        columns = []
        for name, data_type, *_ in self._ask(spark, f"DESCRIBE `{database}`.`{table}`"):
            if not name or name.startswith("#"):
                break  # partition and detail sections follow the columns
            columns.append((name, data_type))
        return columns

    def _tables(self, session, schema: str | None, table: str | None):
        spark = session.spark
        schemas, names = pattern(schema), pattern(table)
        for (database,) in sorted(self._ask(spark, "SHOW DATABASES")):
            if not schemas.fullmatch(database.lower()):
                continue
            for _, name, temporary in sorted(self._ask(spark, f"SHOW TABLES IN `{database}`")):
                if not temporary and names.fullmatch(name.lower()):
                    yield database, name

    def catalogs(self, session):
        return CATALOG_COLUMNS, [("spark_catalog",)]

    def schemas(self, session, schema: str | None):
        wanted = pattern(schema)
        databases = sorted(d for (d,) in self._ask(session.spark, "SHOW DATABASES"))
        rows = [(d, "spark_catalog") for d in databases if wanted.fullmatch(d.lower())]
        return SCHEMA_COLUMNS, rows

    def tables(self, session, schema: str | None, table: str | None):
        rows = [
            ("spark_catalog", database, name, "TABLE", None)
            for database, name in self._tables(session, schema, table)
        ]
        return TABLE_COLUMNS, rows

    def table_types(self, session):
        return TABLE_TYPE_COLUMNS, [("TABLE",)]

    def columns(self, session, schema: str | None, table: str | None, column: str | None):
        wanted = pattern(column)
        rows = []
        for database, name in self._tables(session, schema, table):
            columns = self.visible_columns(session.spark, database, name)
            for position, (col, spark_type) in enumerate(columns, start=1):
                if wanted.fullmatch(col.lower()):
                    rows.append(_column_row(database, name, col, spark_type, position))
        return COLUMN_COLUMNS, rows

    def type_info(self, session):
        rows = [
            (name.upper(), code, None, None, None, None, 1, name == "string", 3, False,
             name == "decimal", False, None, 0, 0, None, None, 10)
            for name, code in _JDBC.items()
            if name not in ("varchar", "char", "timestamp_ntz")
        ]  # fmt: skip
        return TYPE_INFO_COLUMNS, rows


def _column_row(database: str, table: str, column: str, spark_type: str, position: int) -> tuple:
    wire = WireColumn.of(column, spark_type)
    base = spark_type.split("(")[0].split("<")[0].lower()
    return (
        "spark_catalog", database, table, column, _JDBC.get(base, 12), spark_type.upper(),
        wire.precision, None, wire.scale, 10, 1, None, None, None, None, None, position,
        "YES", None, None, None, None, "NO",
    )  # fmt: skip
