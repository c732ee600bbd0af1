"""Writing what a library build made: the standardized layer, quarantine, conflicts, the
library itself (MERGE of changed keys, retirement of keys no input states any more) and the
run record. Every table and schema comes from govlake.owned / govlake.lakehouse."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from govlake import cpu, owned
from govlake.lakehouse import Table, retry_concurrent
from jobs.library.context import KEY, BuildContext, joined_key, same_key, split_key
from jobs.library.incremental import Plan, keys_changed_by, replace_keys, tonight_keys
from jobs.library.read import fingerprint, fingerprints
from jobs.library.steps import standardized_rows
from jobs.standardize import column_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# A new findings or standardized table gets deletion vectors: an incremental night's MERGE
# then marks the replaced rows instead of rewriting every file that holds one.
NEW_TABLE = {"delta.enableDeletionVectors": "true"}


def shaped(df: DataFrame, declared: owned.Owned) -> DataFrame:
    """`df` as the declared table holds it: its columns, in order, of the declared types."""
    from pyspark.sql import functions as F

    schema = df.sparkSession.createDataFrame([], declared.schema).schema
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"rows for {declared.name} lack the declared columns {missing}")
    return df.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in schema.fields])


def std_declared(ctx: BuildContext, name: str) -> owned.Owned:
    """The declaration of std.<library>__<input>, from the library's attribute types."""
    lib = ctx.library
    columns = {lib.key: "string"} | {k: column_type(t) for k, t in lib.key_columns.items()}
    columns |= {a: column_type(lib.attributes[a].type) for a in lib.inputs[name].columns}
    return owned.standardized(lib.library, name, columns)


def publish_standardized(
    spark: SparkSession, ctx: BuildContext, plan: Plan, name: str, checked
) -> int | None:
    """std.<library>__<input>: rewritten in a full build (only when its rows changed); on an
    incremental night the keys this input changed are replaced (its rows depend on no other
    input). A full build returns the table's rows as counted on the written side (below)."""
    declared = std_declared(ctx, name)
    table, lib = declared.table, ctx.library
    rows = shaped(standardized_rows(ctx, ctx.library.inputs[name], checked), declared)
    if not plan.incremental:
        current = table.read_if_exists(spark, ctx.cfg)
        if current is not None:
            both = fingerprints({"kept": current, "new": rows})
            if both["kept"] == both["new"]:
                return fingerprint_rows(both["kept"])  # counted in the table as it stands
        options = {"overwriteSchema": "true", **({} if current is not None else NEW_TABLE)}
        table.write(rows, "overwrite", options=options, cfg=ctx.cfg)
        # Delta's count of the rows this overwrite committed (the std table belongs to this
        # library's build alone): the written side, counted without reading it back.
        written = table.last_metrics(spark, ctx.cfg).get("numOutputRows")
        return written if written is not None else table_count(spark, ctx, table)
    if name not in plan.changed_inputs:
        return None
    markers = keys_changed_by(plan, name, KEY).select(*split_key(lib))
    rows = rows.join(markers, lib.all_key_columns, "left_semi")
    replace_keys(spark, ctx, table, rows, markers, same_key(lib))
    table.register(spark, ctx.cfg)
    return None


def fingerprint_rows(fingerprinted: str) -> int:
    """The row count of a read.fingerprint."""
    return int(fingerprinted.split(":", 1)[0])


def standardized_counts(spark: SparkSession, ctx: BuildContext, plan: Plan, names) -> dict:
    """Per input of `names`, its rows in its std table after the build, counted there (of
    tonight's keys on an incremental night): the balance's `standardized`, independent of the
    rows read. One Spark job for all of them (one scan per table, the changed keys broadcast
    once), where a count per input cost a job, a broadcast and a log replay each."""
    from pyspark.sql import functions as F

    parts = []
    for name in names:
        rows = std_declared(ctx, name).table.read_if_exists(spark, ctx.cfg)
        if rows is None:
            continue
        if plan.incremental:
            keys = tonight_keys(plan, ctx.library, name)
            rows = rows.withColumn(KEY, joined_key(ctx.library)).join(keys, KEY, "left_semi")
        parts.append(rows.select(F.lit(name).alias("_input")))
    counted = {}
    if parts:
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        counted = {
            r["_input"]: r["n"]
            for r in union.groupBy("_input").count().withColumnRenamed("count", "n").collect()
        }
    return {name: counted.get(name, 0) for name in names}


def publish_findings(spark, ctx: BuildContext, plan: Plan, quarantined, conflict_rows) -> int:
    """quarantine.<library> and this library's base.conflicts rows: the whole slice replaced in
    a full build. Otherwise the conflicts of the changed keys are replaced, and the quarantined
    rows of the keys (and keyless rows) each input changed. Returns the library's conflicts."""
    from pyspark.sql import functions as F

    lib = ctx.library.library
    quarantine, conflicts = owned.quarantine(lib), owned.CONFLICTS
    quarantined = shaped(quarantined, quarantine)
    conflict_rows = shaped(conflict_rows, conflicts)
    if not plan.incremental:
        replace_slice(spark, ctx, quarantined, quarantine.table, ("run_id", "quarantined_at"))
        return replace_slice(spark, ctx, conflict_rows, conflicts.table, ("run_id",))
    markers = plan.changes.where(F.col("_input").isNotNull()).select(
        F.col(KEY).alias("key_value"), F.col("_input").alias("input")
    )

    # Both tables are small next to the library: rewriting the library's slice (only when it
    # changed) costs less than a MERGE's fixed overhead.
    def same_row(df: DataFrame):
        return (df["input"] == markers["input"]) & df["key_value"].eqNullSafe(markers["key_value"])

    current = current_slice(spark, ctx, quarantine.table, quarantined)
    rows = current.join(markers, same_row(current), "left_anti").unionByName(
        quarantined.join(markers, same_row(quarantined), "left_semi")
    )
    replace_slice(spark, ctx, rows, quarantine.table, ("run_id", "quarantined_at"))
    keys = plan.keys.select(F.col(KEY).alias("key"))
    current = current_slice(spark, ctx, conflicts.table, conflict_rows)
    rows = current.join(keys, "key", "left_anti").unionByName(conflict_rows)
    return replace_slice(spark, ctx, rows, conflicts.table, ("run_id",))


def current_slice(spark: SparkSession, ctx: BuildContext, table: Table, like: DataFrame):
    """This library's rows of a shared findings table (none yet: an empty frame shaped `like`),
    checkpointed, as the same table is then overwritten with a slice derived from them."""
    from pyspark.sql import functions as F

    df = table.read_if_exists(spark, ctx.cfg)
    if df is None:
        return spark.createDataFrame([], like.schema)
    return df.where(F.col("library") == ctx.library.library).localCheckpoint()


def replace_slice(spark, ctx: BuildContext, df: DataFrame, table: Table, ignore: tuple) -> int:
    """Replace this library's rows of a shared table, unless they are already the same.
    Returns the slice's rows after it (the slice is `df`, written in one commit)."""
    from pyspark.sql import functions as F

    library = ctx.library.library
    content = [c for c in df.columns if c not in ignore]
    # Persisted: the fingerprint and the write would otherwise each derive the rows again
    # (the conflicts are the end of the resolve steps: a dozen Spark jobs each time).
    df = df.persist()
    try:
        current = table.read_if_exists(spark, ctx.cfg)
        if current is None:
            wanted = fingerprint(df.select(*content))
        else:
            mine = current.where(F.col("library") == library)
            both = fingerprints({"wanted": df.select(*content), "mine": mine.select(*content)})
            wanted = both["wanted"]
            if both["mine"] == wanted:
                return fingerprint_rows(wanted)
        options = {"replaceWhere": f"library = '{library}'", "mergeSchema": "true"}
        options |= NEW_TABLE if current is None else {}
        table.write(df, "overwrite", options=options, cfg=ctx.cfg)
    finally:
        df.unpersist()
    return fingerprint_rows(wanted)


def merge_changed(spark, ctx: BuildContext, plan: Plan, rows, registered) -> tuple[int, int, int]:
    """MERGE the keys whose row changed, and retire the current keys (of tonight's keys on an
    incremental night) that no input which adds keys has a row for any more: `_is_current`
    false, `_retired_on` tonight. Returns (Delta version, changed keys, retired keys)."""
    from pyspark.sql import functions as F

    lib = ctx.library
    table = Table.parse(lib.table)
    stamp = {
        "_batch_date": F.lit(ctx.day).cast("date"),
        "_run_id": F.lit(ctx.run_id),
        "_updated_at": F.lit(ctx.started_at).cast("timestamp"),
    }
    stamped = rows.withColumns(
        {**stamp, "_is_current": F.lit(True), "_retired_on": F.lit(None).cast("date")}
    )
    target = table.read_if_exists(spark, ctx.cfg)
    if target is None:
        # Deletion vectors let a MERGE mark the old version of a changed row instead of
        # rewriting every file that holds one: a 1% night rewrites ~1% of the rows.
        options = {"delta.enableChangeDataFeed": "true", **NEW_TABLE}
        table.write(stamped, "append", options=options, cfg=ctx.cfg)
        return table.version(spark, ctx.cfg), rows.count(), 0
    current = target.where(F.col("_is_current")) if "_is_current" in target.columns else target
    if set(stamped.columns) - set(target.columns):
        # A newly declared column: every row gains it, so every key is rewritten.
        changed = stamped
    else:
        keyed = [*lib.all_key_columns, "_row_hash"]
        changed = stamped.join(current.select(*keyed), keyed, "left_anti")
    scope = (
        current.join(plan.keys.select(*split_key(lib)), lib.all_key_columns, "left_semi")
        if plan.incremental
        else current
    )
    gone = scope.join(registered, lib.all_key_columns, "left_anti").withColumns(
        {**stamp, "_is_current": F.lit(False), "_retired_on": F.lit(ctx.day).cast("date")}
    )
    return _merge(spark, ctx, table, changed.persist(), gone.localCheckpoint())


def _merge(spark, ctx: BuildContext, table: Table, changed, gone) -> tuple[int, int, int]:
    """One MERGE by key: changed rows updated or inserted, retired rows updated in place."""
    counts = (changed.count(), gone.count())
    if any(counts):
        source = changed.unionByName(gone, allowMissingColumns=True)

        def merge() -> None:
            (
                table.delta(spark, ctx.cfg)
                .alias("t")
                .merge(source.alias("s"), same_key(ctx.library))
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )

        retry_concurrent(merge)
    changed.unpersist()
    return table.version(spark, ctx.cfg), *counts


def current_keys(spark: SparkSession, ctx: BuildContext) -> int:
    """The library's current (not retired) keys."""
    from pyspark.sql import functions as F

    rows = Table.parse(ctx.library.table).read_if_exists(spark, ctx.cfg)
    if rows is None:
        return 0
    return (
        rows.where(F.col("_is_current")).count() if "_is_current" in rows.columns else rows.count()
    )


def record_build(spark: SparkSession, ctx: BuildContext, plan: Plan, balance, totals) -> dict:
    """Append one ops.library_runs row per input: rows in = standardized + quarantined, the
    ods versions the next build starts from, and the build's wall and CPU seconds so far.
    Returns those two figures."""
    finished = dt.datetime.now()
    # What this build cost, for the next night's choice of full or incremental (choice.py):
    # wall seconds, and CPU seconds, which the machine's load does not inflate (govlake.cpu).
    cost = {
        "build_seconds": time.monotonic() - plan.began,
        "build_cpu_seconds": cpu.cpu_seconds(spark, plan.cpu_began) if plan.cpu_began else None,
    }
    rows = [
        {
            "run_id": ctx.run_id,
            "library": ctx.library.library,
            "batch_date": ctx.day,
            **b,
            "balanced": balanced(b),
            **totals,
            "finished_at": finished,
            "build_mode": plan.mode,
            "build_reason": plan.reason,
            "config_hash": plan.config_hash,
            "link_versions": plan.links,
            "ods_fingerprint": plan.fingerprints.get(b["input"]),
            "current_standardized": current_standardized(spark, ctx, plan, b["input"]),
            **cost,
        }
        for b in balance
    ]
    df = spark.createDataFrame(rows, owned.LIBRARY_RUNS.schema)
    owned.LIBRARY_RUNS.table.write(df, "append", options={"mergeSchema": "true"}, cfg=ctx.cfg)
    return cost


def current_standardized(spark: SparkSession, ctx: BuildContext, plan: Plan, name: str) -> int:
    """Rows of the input's std table now: known from the full build's write, else counted."""
    known = plan.std_rows.get(name)
    if known is not None:
        return known
    return table_count(spark, ctx, std_declared(ctx, name).table)


def balanced(counts: dict) -> bool:
    """Every row read was either written to the standardized layer or quarantined."""
    return counts["rows_in"] == counts["standardized"] + counts["quarantined"]


def table_count(spark: SparkSession, ctx: BuildContext, table: Table) -> int:
    """Rows of a table (answered from the Delta log's statistics); 0 when it does not exist."""
    rows = table.read_if_exists(spark, ctx.cfg)
    return 0 if rows is None else rows.count()
