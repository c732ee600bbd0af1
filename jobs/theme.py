"""Build a theme library (主题库): run its SQL model on Spark and write theme.<name>.

Each table the SQL names is bound, for the run, to a temporary view of what a reader should
see of it, and the SQL (parsed once by sqlglot) is rewritten to read those views:

- `base.<library>`: the current rows only (`_is_current = true`), so a retired key never
  reaches a theme;
- `ods.<system>__<table>` of a physical source: its current rows (the latest batch of a
  snapshot source, the newest version per primary key of an incremental one), as a library
  build reads them;
- `ods.…` of a logical source: the department table itself, registered over JDBC in place;
- `theme.<name>`: the theme table as it is.

The result must have one row per key (else nothing is written). Each row carries `_row_hash`,
a hash of its values; only rows whose hash is new, and the keys that disappeared, are merged
into the Delta table (change data feed on), so a rerun on the same inputs makes no commit.

Before any of that, jobs.theme_plan decides the night: nothing to compute when no input moved
since the last build (on the same night, for a model reading current_date()); only the keys the
changed input rows name (per-key, from the change data feed) when every moved input has a route
to the key (govlake.theme_keys), and, on another night, the keys whose date expressions take
another value (govlake.theme_dates); else all of it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.lakehouse import Table, commit_metadata, retry_concurrent
from govlake.settings import Settings, settings
from govlake.sources import load_sources
from govlake.theme_dates import date_literal
from govlake.themes import DIALECT, Theme, get_theme
from jobs.theme_plan import KEY, Plan, plan_build, scoped_to_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.theme_cost import Laps

ROW_HASH = "_row_hash"
NEW_TABLE = {"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "true"}


def view_name(table: str) -> str:
    """The run's view of an input: `base.population` -> `theme_input__base__population`."""
    return "theme_input__" + table.replace(".", "__")


def input_frame(spark: SparkSession, cfg: Settings, table: str, theme: Theme) -> DataFrame:
    """What the model reads of one input (see the module docstring)."""

    parsed = Table.parse(table)
    if parsed.database == "ods" and is_logical(table):
        from jobs.logical import register_referenced

        register_referenced(spark, cfg, {table})
        return spark.table(table)
    if not parsed.exists(spark, cfg):
        raise GovlakeError(
            f"input {table} of theme {theme.theme} does not exist yet.",
            file=str(theme.sql_path),
            row=theme.parsed.tables.get(table),
            fix="build or load it first (the theme's DAG waits for its inputs' Assets).",
        )
    from jobs.library.read import current_of

    return current_of(spark, cfg, table)


def is_logical(table: str) -> bool:
    return any(s.mode == "logical" and table in map(s.ods_table, s.tables) for s in load_sources())


def runnable_sql(theme: Theme, night: dt.date) -> str:
    """The model's SQL reading the run's views instead of the tables it names, on the night's day.

    `current_date()` is the night's logical date, so an age or a duration computed by a model
    does not move when a night is rerun on a later day (a rerun changes nothing).
    """
    return bound_sql(theme, theme.parsed.tree, night)


def bound_sql(theme: Theme, tree, night: dt.date) -> str:
    """A query over the model's tables (the model itself, or one the plan derives from it) as
    Spark SQL reading the run's views, with the current_date() left in it bound to `night`."""
    from sqlglot import exp

    def bind(node):
        if isinstance(node, exp.CurrentDate):
            return date_literal(night)
        if isinstance(node, exp.Table) and node.db:
            name = f"{node.db}.{node.name}".lower()
            if name in theme.parsed.tables:
                bound = exp.to_table(view_name(name))
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                bound.set("alias", alias)
                return bound
        return node

    return tree.copy().transform(bind).sql(dialect=DIALECT)


def register_inputs(spark: SparkSession, cfg: Settings, theme: Theme, keys=None) -> None:
    """Each input's view (input_frame) under the name the bound SQL reads (view_name); with
    `keys` (a per-key night), the inputs cut to the rows that name them (scoped_to_keys)."""
    frames = {table: input_frame(spark, cfg, table, theme) for table in theme.inputs}
    if keys is not None:
        frames = scoped_to_keys(theme, frames, keys)
    for table, frame in frames.items():
        frame.createOrReplaceTempView(view_name(table))


def result(
    spark: SparkSession, cfg: Settings, theme: Theme, night: dt.date, keys=None
) -> DataFrame:
    """The model's rows for a night: inputs bound to views, the SQL run; with `keys`, the
    model reads only what those keys need (the caller still keeps only those keys)."""
    register_inputs(spark, cfg, theme, keys)
    with spark_errors(theme):
        return spark.sql(runnable_sql(theme, night))


@contextmanager
def spark_errors(theme: Theme) -> Iterator[None]:
    """A Spark error while planning or running the model, as one line naming the model."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JJavaError) as exc:
        from govlake.errors import summarize_java_error

        raise GovlakeError(
            f"theme {theme.theme}: Spark refuses the SQL: {summarize_java_error(exc)}; "
            f"{theme.table} is left as it was.",
            file=str(theme.sql_path),
            fix="correct the model (a column the input does not have? a value to TRY_CAST?); "
            "try it with `govlake sql`.",
        ) from None


def check_key(df: DataFrame, theme: Theme) -> None:
    """One row per key, and no key part NULL; else an error naming a few offending keys."""
    from pyspark.sql import functions as F

    key = theme.key
    null_key = F.greatest(*[F.col(k).isNull() for k in key]) if len(key) > 1 else None
    null_key = null_key if null_key is not None else F.col(key[0]).isNull()
    counts = df.groupBy(*key).agg(F.count(F.lit(1)).alias("_rows"))
    bad = counts.where((F.col("_rows") > 1) | null_key).limit(5).collect()
    if bad:
        shown = ", ".join(
            f"{'/'.join(str(row[k]) for k in key)} ({row['_rows']} rows)" for row in bad
        )
        raise GovlakeError(
            f"theme {theme.theme}: the key ({', '.join(key)}) is not unique or is NULL in the "
            f"result, e.g. {shown}; theme.{theme.theme} is left as it was.",
            file=str(theme.sql_path),
            fix="make the SELECT return one row per key (aggregate, or join on the whole key), "
            f"or correct `key` in {theme.file_path}.",
        )


def hashed(df: DataFrame) -> DataFrame:
    """The rows with `_row_hash`: a hash of every value, to tell a changed row from an equal one."""
    from pyspark.sql import functions as F

    return df.withColumn(ROW_HASH, F.sha2(F.to_json(F.struct(*df.columns)), 256))


def shape(df: DataFrame) -> list[tuple[str, str]]:
    """Column names and types, nullability aside (Delta stores every column nullable)."""
    return [(f.name, f.dataType.simpleString()) for f in df.schema]


def write_changes(
    spark: SparkSession,
    cfg: Settings,
    theme: Theme,
    rows: DataFrame,
    check: Callable,
    plan: Plan,
    laps: Laps,
) -> dict:
    """Merge the changed and vanished keys (of `plan.keys` only, on a per-key night); no commit
    when nothing changed. `check(rows)` validates the rows (jobs.quality) when there is
    something to write: it may raise, and then nothing is written. Each commit keeps the plan's
    state (what the build read) for the next night's plan. Returns counts; `laps` times the
    diff apart from the validation and MERGE."""
    from pyspark.sql import functions as F

    table = Table.parse(theme.table)
    current = table.read_if_exists(spark, cfg)
    state = json.dumps(plan.state)  # "theme_build" first: last_metadata finds it by prefix
    if current is None or shape(current) != shape(rows):
        # New, or a column added, dropped or retyped: every row is written, in one commit.
        mode, options = ("created", NEW_TABLE) if current is None else ("rewritten (schema)", {})
        with check(rows).settling(), commit_metadata(spark, state):
            table.write(rows, "overwrite", options={**options, "overwriteSchema": "true"}, cfg=cfg)
        return {"changed_keys": rows.count(), "removed_keys": 0, "mode": mode}
    key = theme.key
    if plan.keys is not None:
        current = current.join(plan.keys.withColumnRenamed(KEY, key[0]), key, "left_semi")
    # One pass over both sides: per key, whether it is new or changed (hash differs) or gone.
    old = current.select(*key, F.col(ROW_HASH).alias("_old_hash"))
    diff = rows.select(*key, ROW_HASH).join(old, key, "full_outer")
    diff = diff.where(~F.col(ROW_HASH).eqNullSafe(F.col("_old_hash"))).localCheckpoint()
    counts = (
        diff.agg(
            F.count_if(F.col(ROW_HASH).isNotNull()).alias("changed_keys"),
            F.count_if(F.col(ROW_HASH).isNull()).alias("removed_keys"),
        )
        .first()
        .asDict()
    )
    laps.lap("diff")
    if not counts["changed_keys"] and not counts["removed_keys"]:
        return {**counts, "mode": "unchanged (no commit)"}
    counts["mode"] = "merged"
    changed = rows.join(diff.where(F.col(ROW_HASH).isNotNull()).select(*key), key, "left_semi")
    gone = diff.where(F.col(ROW_HASH).isNull()).select(*key)
    source = changed.withColumn("_delete", F.lit(False)).unionByName(
        gone.withColumn("_delete", F.lit(True)), allowMissingColumns=True
    )
    values = {c: f"s.`{c}`" for c in rows.columns}
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)

    def merge() -> None:
        (
            table.delta(spark, cfg)
            .alias("t")
            .merge(source.alias("s"), condition)
            .whenMatchedDelete(condition="s._delete")
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition="NOT s._delete", values=values)
            .execute()
        )

    with check(rows).settling(), commit_metadata(spark, state):
        retry_concurrent(merge)
    return counts


def plan_for(spark: SparkSession, cfg: Settings, theme: Theme, night: dt.date) -> Plan:
    """Tonight's plan (jobs.theme_plan), with the views the model reads."""

    def view(table: str) -> DataFrame:
        return input_frame(spark, cfg, table, theme)

    def logical(table: str) -> bool:
        return Table.parse(table).database == "ods" and is_logical(table)

    def run(tree) -> DataFrame:
        register_inputs(spark, cfg, theme)
        with spark_errors(theme):
            return spark.sql(bound_sql(theme, tree, night))

    return plan_build(spark, cfg, theme, night, view, logical, run)


def build(
    spark: SparkSession, cfg: Settings, theme: Theme, night: dt.date, run_id: str | None = None
) -> dict:
    """Plan, run the model (for the plan's keys only, on a per-key night), check its key and
    its suite, write what changed; the table stays as it was on error."""
    from govlake.spark import evaluating_by_rows
    from jobs import theme_cost

    clock, laps = theme_cost.Clock(spark), theme_cost.Laps()
    run_id = run_id or f"manual__{theme.theme}__{night}"
    # A theme over few rows costs more to compile than to evaluate (Settings.compile_from_rows).
    inputs = [Table.parse(name) for name in theme.inputs]
    with evaluating_by_rows(spark, inputs, cfg):
        plan = plan_for(spark, cfg, theme, night)
        laps.lap("plan")
        if plan.mode == "unchanged":
            counts = {"changed_keys": 0, "removed_keys": 0, "mode": "unchanged (no commit)"}
        else:
            counts = compute_and_write(spark, cfg, theme, night, run_id, plan, laps)
        built = summary(spark, cfg, theme, plan, counts)
    laps.lap("summary")
    built["phase_seconds"] = laps.seconds
    # Recorded after the summary: the next night's choice of per key or full compares costs.
    theme_cost.record(spark, cfg, built, night, run_id, clock)
    return built


def compute_and_write(
    spark: SparkSession,
    cfg: Settings,
    theme: Theme,
    night: dt.date,
    run_id: str,
    plan: Plan,
    laps: Laps,
) -> dict:
    """Run the model for the plan (its keys only on a per-key night), check, write; counts.
    `laps` times the model (run and cached by the key check) apart from the write."""
    from jobs import quality

    table = Table.parse(theme.table)
    rows = hashed(result(spark, cfg, theme, night, plan.keys))
    if plan.keys is not None and shape(rows) != shape(table.read(spark, cfg)):
        # An input's column changed type under an unchanged model: every key is recomputed.
        plan.keys.unpersist()
        plan.mode, plan.keys, plan.reason = "full", None, "the result's columns changed"
        rows = hashed(result(spark, cfg, theme, night))
    if plan.keys is not None:
        rows = rows.join(plan.keys.withColumnRenamed(KEY, theme.key[0]), theme.key, "left_semi")
    rows = rows.persist()

    def check(df: DataFrame):
        return quality.check_theme(spark, cfg, theme, df.drop(ROW_HASH), run_id, night)

    try:
        with spark_errors(theme):
            check_key(rows, theme)
            laps.lap("model")
            counts = write_changes(spark, cfg, theme, rows, check, plan, laps)
            laps.lap("write")
    finally:
        rows.unpersist()
        if plan.keys is not None:
            plan.keys.unpersist()
    if table.exists(spark, cfg):
        table.register(spark, cfg)
    return counts


def summary(spark: SparkSession, cfg: Settings, theme: Theme, plan: Plan, counts: dict) -> dict:
    table = Table.parse(theme.table)
    built = table.read_if_exists(spark, cfg)
    return {
        "theme": theme.table,
        "rows": built.count() if built is not None else 0,
        **counts,
        "build": plan.mode,
        "delta_version": table.version(spark, cfg),
        "refresh": theme.refresh.rule,
        "reason": plan.reason,
    }


def build_theme(name: str, logical_date: dt.date, run_id: str | None = None, spark=None) -> dict:
    """The task's job: build one theme for a night, once its catalog entry passes review."""
    from govlake.catalog import assert_publishable
    from govlake.spark import get_spark

    cfg = settings()
    theme = get_theme(name)
    assert_publishable(theme.table)  # 退回纠正: no entry passing review, no write
    return build(spark or get_spark(cfg), cfg, theme, logical_date, run_id)
