"""Spark result columns on the HiveServer2 wire: type ids, and columnar row sets (protocol V6+).

Values that have no native wire column (date, timestamp, decimal, arrays, maps, structs) are
turned into strings by Spark itself, in the session's time zone, before they reach Python:
dates and timestamps as ISO text, decimals exactly, complex values as JSON. The column's
declared type stays the Spark type, so clients parse them as Hive's own server would send them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from TCLIService import ttypes as t

# Spark simpleString prefix -> (wire type, wire column kind, Spark expression to send it as).
_TYPES = {
    "boolean": (t.TTypeId.BOOLEAN_TYPE, "boolVal", None),
    "tinyint": (t.TTypeId.TINYINT_TYPE, "byteVal", None),
    "smallint": (t.TTypeId.SMALLINT_TYPE, "i16Val", None),
    "int": (t.TTypeId.INT_TYPE, "i32Val", None),
    "bigint": (t.TTypeId.BIGINT_TYPE, "i64Val", None),
    "float": (t.TTypeId.FLOAT_TYPE, "doubleVal", "CAST({} AS DOUBLE)"),
    "double": (t.TTypeId.DOUBLE_TYPE, "doubleVal", None),
    "string": (t.TTypeId.STRING_TYPE, "stringVal", None),
    "varchar": (t.TTypeId.STRING_TYPE, "stringVal", None),
    "char": (t.TTypeId.STRING_TYPE, "stringVal", None),
    "binary": (t.TTypeId.BINARY_TYPE, "binaryVal", None),
    "date": (t.TTypeId.DATE_TYPE, "stringVal", "CAST({} AS STRING)"),
    "timestamp": (
        t.TTypeId.TIMESTAMP_TYPE,
        "stringVal",
        "date_format({}, 'yyyy-MM-dd HH:mm:ss.SSSSSS')",
    ),
    "timestamp_ntz": (
        t.TTypeId.TIMESTAMP_TYPE,
        "stringVal",
        "date_format({}, 'yyyy-MM-dd HH:mm:ss.SSSSSS')",
    ),
    "decimal": (t.TTypeId.DECIMAL_TYPE, "stringVal", "CAST({} AS STRING)"),
    "array": (t.TTypeId.ARRAY_TYPE, "stringVal", "to_json({})"),
    "map": (t.TTypeId.MAP_TYPE, "stringVal", "to_json({})"),
    "struct": (t.TTypeId.STRUCT_TYPE, "stringVal", "to_json({})"),
    "void": (t.TTypeId.NULL_TYPE, "stringVal", "CAST({} AS STRING)"),
}
_COLUMN_CLASSES = {
    "boolVal": t.TBoolColumn,
    "byteVal": t.TByteColumn,
    "i16Val": t.TI16Column,
    "i32Val": t.TI32Column,
    "i64Val": t.TI64Column,
    "doubleVal": t.TDoubleColumn,
    "stringVal": t.TStringColumn,
    "binaryVal": t.TBinaryColumn,
}
_EMPTY = {"boolVal": False, "stringVal": "", "binaryVal": b"", "doubleVal": 0.0}


@dataclass(frozen=True)
class WireColumn:
    """One result column: its name, Spark type text, wire type and the Spark expression sent."""

    name: str
    spark_type: str
    type_id: int
    kind: str
    expression: str | None
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def of(cls, name: str, spark_type: str) -> WireColumn:
        base = spark_type.split("(")[0].split("<")[0].lower()
        type_id, kind, expression = _TYPES.get(base, _TYPES["string"])
        if base not in _TYPES:  # intervals, variants: their text form
            expression = "CAST({} AS STRING)"
        precision = scale = None
        if base == "decimal" and "(" in spark_type:
            precision, scale = (int(x) for x in spark_type.split("(")[1].rstrip(")").split(","))
        return cls(name, spark_type, type_id, kind, expression, precision, scale)

    def descriptor(self, position: int) -> t.TColumnDesc:
        qualifiers = None
        if self.precision is not None:
            qualifiers = t.TTypeQualifiers(
                {
                    "precision": t.TTypeQualifierValue(i32Value=self.precision),
                    "scale": t.TTypeQualifierValue(i32Value=self.scale),
                }
            )
        entry = t.TPrimitiveTypeEntry(type=self.type_id, typeQualifiers=qualifiers)
        return t.TColumnDesc(
            columnName=self.name,
            typeDesc=t.TTypeDesc(types=[t.TTypeEntry(primitiveEntry=entry)]),
            position=position,
            comment=None,
        )


def columns_of(df) -> list[WireColumn]:
    """The wire columns of a Spark DataFrame."""
    return [WireColumn.of(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def for_the_wire(df, columns: Sequence[WireColumn]):
    """The DataFrame with each column Spark turns into a wire value (same names, same order)."""
    if all(c.expression is None for c in columns):
        return df
    exprs = []
    for i, column in enumerate(columns):
        quoted = f"`{df.columns[i].replace('`', '``')}`"
        exprs.append(
            f"{column.expression.format(quoted)} AS {quoted}" if column.expression else quoted
        )
    return df.selectExpr(*exprs)


def schema_of(columns: Sequence[WireColumn]) -> t.TTableSchema:
    return t.TTableSchema(columns=[c.descriptor(i + 1) for i, c in enumerate(columns)])


def _nulls(values: list) -> bytes:
    """The null bitmap: bit i (least significant first within each byte) set for a null."""
    bitmap = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is None:
            bitmap[i // 8] |= 1 << (i % 8)
    return bytes(bitmap)


def row_set(columns: Sequence[WireColumn], rows: Sequence[Sequence], offset: int) -> t.TRowSet:
    """A columnar TRowSet of `rows` (tuples in column order) starting at row `offset`."""
    out = []
    for i, column in enumerate(columns):
        values = [row[i] for row in rows]
        empty = _EMPTY.get(column.kind, 0)
        cls = _COLUMN_CLASSES[column.kind]
        filled = [empty if v is None else v for v in values]
        out.append(t.TColumn(**{column.kind: cls(values=filled, nulls=_nulls(values))}))
    return t.TRowSet(startRowOffset=offset, rows=[], columns=out)
