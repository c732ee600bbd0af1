"""What a library build must find in the sample, from the generator's per-row ground truth.

defects.jsonl says which row of which source table carries which defect in which column. A
row that broke a blocking rule of a library input must be in quarantine.<library>; a
conflicting statement must show up in base.conflicts. These functions turn the ground truth
into the expected sets, so tests and the demo can compare them with what the build recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.libraries import Input, Library
from govlake.sources import get_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from govlake.settings import Settings

# Defect kinds that make a row break a blocking rule when they hit the input's key column.
KEY_BLOCKING = {
    "ric": {"invalid_id_checksum", "missing_required"},
    "uscc": {"invalid_uscc_checksum", "missing_required"},
    "cert": {"missing_required"},
    "unit_code": {"invalid_unit_code", "missing_required"},
}
# Defect kinds that make a required attribute missing or unparseable.
REQUIRED_BLOCKING = {"impossible_date", "missing_required"}
# Where the nth data row of a source lands: file line (_source_row) or generated key.
# xls: a two-row header; api: the nth record of a full read.
ROW_OFFSET = {"csv": 1, "xlsx": 1, "json": 0, "xls": 2, "api": 0}
SAME_DEPARTMENT = "newer statement of the same department"


def _system_table(source: Input) -> tuple[str, str]:
    """(system, table) of the department table an input reads: ods.<system>__<table>."""
    system, _, table = Table.parse(source.table).name.partition("__")
    return system, table


def _source_columns(source: Input) -> tuple[str, dict[str, list[str]]]:
    """The input's key and, per department column, the attributes it supplies (source names)."""
    system, table = _system_table(source)
    spec = get_table(system, table)[1]
    back = {ods: src for src, ods in spec.columns.items()}
    by_column: dict[str, list[str]] = {}
    for attribute, column in source.columns.items():
        by_column.setdefault(back.get(column, column), []).append(attribute)
    return back.get(source.key, source.key), by_column


def _key_part_columns(source: Input) -> set[str]:
    """The department columns of the further key parts an input maps (a year), source names."""
    system, table = _system_table(source)
    back = {ods: src for src, ods in get_table(system, table)[1].columns.items()}
    return {back.get(c, c) for c in source.key_columns.values()}


def blocking_defects(library: Library, name: str, defects: list[dict]) -> list[dict]:
    """Defect records of one input's table that break one of the library's blocking rules."""
    source = library.inputs[name]
    key, by_column = _source_columns(source)
    required = {
        column
        for column, attributes in by_column.items()
        if any(library.attributes[a].required for a in attributes)
    }
    # A further key part (a year) is required: missing, it names no key.
    required |= _key_part_columns(source)
    system, table = _system_table(source)
    hits = []
    for d in defects:
        if (d["system"], d["table"]) != (system, table):
            continue
        on_key = key in d["columns"] and d["kind"] in KEY_BLOCKING[library.key_type]
        on_required = bool(required & set(d["columns"])) and d["kind"] in REQUIRED_BLOCKING
        if on_key or on_required:
            hits.append(d)
    return hits


def compared(library: Library, attribute: str) -> bool:
    """Whether the build can see a conflict on the attribute: a second department states it,
    or the identity number encodes it. (A sole source is compared where another library
    quotes it, e.g. 市场监管's legal representative name in the population library.)"""
    declared = library.attributes[attribute]
    return len(declared.sources) > 1 or declared.derived_from_key is not None


def conflict_defects(library: Library, name: str, defects: list[dict]) -> list[tuple[dict, str]]:
    """(defect, attribute) for each conflicting statement one input carries into the library."""
    source = library.inputs[name]
    _, by_column = _source_columns(source)
    system, table = _system_table(source)
    return [
        (d, attribute)
        for d in defects
        if (d["system"], d["table"]) == (system, table) and d["kind"] == "conflicting_value"
        for column in d["columns"]
        for attribute in by_column.get(column, [])
        if compared(library, attribute)
    ]


def located(spark: SparkSession, cfg: Settings, source: Input, rows: list[int]) -> DataFrame:
    """The ods rows of the input (its filter applied) that were the given source data rows."""
    from pyspark.sql import functions as F

    system, table = _system_table(source)
    spec = get_table(system, table)[1]
    df = Table.parse(source.table).read(spark, cfg)
    if source.where:
        df = df.where(source.where)
    wanted = F.array(*[F.lit(r) for r in rows]) if rows else F.array().cast("array<long>")
    if spec.format:
        # A declared header row (a title above it) is where the data rows start after.
        offset = spec.header_row or ROW_OFFSET[spec.format]
        position = F.col("_source_row") - F.lit(offset)
    else:
        position = F.col(spec.ods_primary_key[0]).cast("long")
    return df.where(F.array_contains(wanted, position))


def generated_inputs(library: Library, generated: dict[str, dict]) -> set[str]:
    """The library's inputs that read a table the generator wrote (manifest.json `sources`):
    only these have ground truth. A department a user added has none, so its quarantined
    rows and the conflicts it takes part in cannot be checked against the generator."""
    return {
        name
        for name, source in library.inputs.items()
        if _system_table(source)[1] in generated.get(_system_table(source)[0], {})
    }


def without_inputs(recorded: set[tuple], skipped: set[str], columns: tuple[int, ...]) -> set[tuple]:
    """The recorded rows none of whose input columns (positions in each tuple) names one of
    the `skipped` inputs. (A conflict's winner may be no input at all: what the identity
    number encodes.)"""
    return {row for row in recorded if not any(row[i] in skipped for i in columns)}


def expected_quarantine(
    spark, cfg, library: Library, defects: list[dict], inputs: set[str] | None = None
) -> set[tuple[str, str]]:
    """(input, row reference) of every row the build must have quarantined (of `inputs`, or
    of every input), every input's rows in one Spark job."""
    from pyspark.sql import functions as F

    from jobs.library import row_reference
    from jobs.library.steps import union_all

    parts = []
    for name, source in library.inputs.items():
        if inputs is not None and name not in inputs:
            continue
        rows = [d["row"] for d in blocking_defects(library, name, defects)]
        df = located(spark, cfg, source, rows)
        ref = row_reference(df, source.table).alias("ref")
        parts.append(df.select(F.lit(name).alias("input"), ref))
    return {(r["input"], r["ref"]) for r in union_all(parts).collect()} if parts else set()


def expected_conflicts(
    spark, cfg, library: Library, defects: list[dict], inputs: set[str] | None = None
) -> set[tuple[str, str]]:
    """(key, attribute) of every statement the generator made conflicting, as the build sees
    it: the key standardized like the library's (of `inputs`, or of every input); one Spark
    job for all of them."""
    from pyspark.sql import functions as F

    from jobs.library.context import key_of
    from jobs.library.steps import union_all

    parts = []
    for name, source in library.inputs.items():
        if inputs is not None and name not in inputs:
            continue
        pairs = conflict_defects(library, name, defects)
        for attribute in sorted({a for _, a in pairs}):
            rows = [d["row"] for d, a in pairs if a == attribute]
            df = located(spark, cfg, source, rows)
            keys = df.select(key_of(library, source).alias("k"))
            if library.partial(name):
                keys = starting_with(spark, cfg, library, keys, name)
            parts.append(keys.select("k", F.lit(attribute).alias("a")))
    return {(r["k"], r["a"]) for r in union_all(parts).collect()} if parts else set()


def starting_with(spark, cfg, library: Library, prefixes: DataFrame, name: str) -> DataFrame:
    """The keys (`k`) the inputs which add keys state that start with one of `prefixes` (a
    parcel's units, an enterprise's years): where a statement of input `name` lands."""
    from pyspark.sql import functions as F

    from jobs.library.context import key_of, key_prefix

    found = []
    for source in library.inputs.values():
        if source.adds_keys:
            df = Table.parse(source.table).read(spark, cfg)
            df = df.where(source.where) if source.where else df
            found.append(df.select(key_of(library, source).alias("k")))
    keys = found[0]
    for more in found[1:]:
        keys = keys.unionByName(more)
    starts = keys.distinct().withColumn("p", key_prefix(library, name, F.col("k")))
    return starts.join(prefixes.select(F.col("k").alias("p")).distinct(), "p").select("k")


def recorded_conflicts(
    spark, cfg, library: Library, inputs: set[str] | None = None
) -> set[tuple[str, str]]:
    """(key, attribute) the build put in base.conflicts, other than a department's own updates
    (only statements between two of `inputs`, when given)."""
    conflicts = Table("base", "conflicts").read(spark, cfg)
    mine = conflicts.where(f"library = '{library.library}' AND reason <> '{SAME_DEPARTMENT}'")
    rows = mine.select("key", "attribute", "input", "winner_input").collect()
    recorded = {tuple(r) for r in rows}
    if inputs is not None:
        recorded = without_inputs(recorded, set(library.inputs) - inputs, (2, 3))
    return {(key, attribute) for key, attribute, _, _ in recorded}


def recorded_quarantine(
    spark, cfg, library: Library, inputs: set[str] | None = None
) -> set[tuple[str, str]]:
    """(input, row reference) of the rows in quarantine.<library> (of `inputs`, when given)."""
    quarantine = Table.parse(library.quarantine_table).read(spark, cfg)
    rows = quarantine.select("input", "row_ref").collect()
    recorded = {(r["input"], r["row_ref"]) for r in rows}
    if inputs is None:
        return recorded
    return without_inputs(recorded, set(library.inputs) - inputs, (0,))
