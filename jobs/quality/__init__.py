"""Data quality (issue 4): GX suites per table, policies per rule, results kept in Delta.

Entry points: `validate(...)` for any task that writes a table, the hooks `check_load` (ods
load, before the Delta write), `check_library` (base library, before the MERGE) and
`check_logical` (a table queried in place), and `build_data_docs(cfg)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from jobs.quality.batch import Batch
from jobs.quality.engine import Outcome, QualityError, validate
from jobs.quality.gx_run import build_data_docs
from jobs.quality.results import unchecked
from jobs.quality.suites import find_suite, load_suite

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "Batch",
    "Outcome",
    "QualityError",
    "build_data_docs",
    "check_library",
    "check_load",
    "check_logical",
    "check_theme",
    "find_suite",
    "load_suite",
    "validate",
]


def check_load(spark: SparkSession, ctx, rows: DataFrame, run) -> Outcome:
    """Hook of jobs.ingest: validate an ods batch before it is written and set
    run.rows_quarantined. The outcome's rows are the ones to write; call its settle() after the
    write, as its results are appended meanwhile. Tables without a suite are written as they are."""
    from pyspark.sql import functions as F

    suite = find_suite(ctx.ods_table)
    if suite is None:
        run.rows_quarantined = 0
        return Outcome(rows)
    has_line = "_source_row" in rows.columns
    by_line = (
        F.when(
            F.col("_source_row").isNotNull(),
            F.concat_ws(":", F.col("_source_file"), F.col("_source_row").cast("string")),
        )
        if has_line
        else None
    )
    batch = Batch(
        table=ctx.ods_table,
        run_id=ctx.run_id,
        run_date=ctx.day,
        key_columns=ctx.spec.ods_primary_key,
        system=ctx.source.system,
        department=ctx.source.department,
        source_row=by_line,
    )
    outcome = validate(spark, ctx.cfg, suite, rows, batch, defer_writes=True)
    run.rows_quarantined = outcome.quarantined
    return outcome


def check_logical(spark: SparkSession, cfg, source, spec, df: DataFrame, run) -> Outcome | None:
    """Hook of jobs.logical: validate a table queried in place (逻辑接入) with its suite.

    Nothing is copied, so nothing can be held back: a quarantine rule's rows are recorded and
    fed back to the department like a warning's, while fail rules and the threshold fail the
    night's task. `df`: the table's rows, persisted by the caller, which also counts them."""
    table = source.ods_table(spec)
    suite = find_suite(table)
    if suite is None:
        return None
    batch = Batch(
        table=table,
        run_id=run.run_id,
        run_date=run.batch_date,
        key_columns=list(spec.primary_key),
        system=source.system,
        department=source.department,
    )
    return validate(spark, cfg, suite, df, batch)


def check_library(spark: SparkSession, ctx, rows: DataFrame, rebuilt=None) -> Outcome:
    """Hook of jobs.library: validate the built rows of a base library before the MERGE (call
    the outcome's settle() after it: the results are appended meanwhile).

    Invalid keys were already quarantined by the build (quarantine.<library>); this checks
    the rows as they will be published, and names the department that supplied each value.
    `rebuilt` (an incremental night's keys, column `key`): only their rows are checked; the
    other keys' rows and last failures are folded into the results (results.Unchecked)."""
    from pyspark.sql import functions as F

    lib = ctx.library
    suite = find_suite(lib.table)
    if suite is None:
        return Outcome(rows)

    def department(column: str):
        if column in lib.attributes:
            return F.col("provenance")[column]["department"]
        return F.lit(None).cast("string")

    batch = Batch(
        table=lib.table,
        run_id=ctx.run_id,
        run_date=ctx.day,
        key_columns=lib.all_key_columns,
        row_department=department,
    )
    if rebuilt is not None:
        batch.unchecked = _unchecked(spark, ctx, suite, rebuilt)
    return validate(spark, ctx.cfg, suite, rows, batch, defer_writes=True)


def check_theme(spark: SparkSession, cfg, theme, rows: DataFrame, run_id: str, day) -> Outcome:
    """Hook of jobs.theme: validate a theme's rows before they are merged (call the outcome's
    settle() after). A theme row is computed, not delivered, so a rule may warn or fail but not
    quarantine: leaving a person out of 一人一档 would hide the problem, not fix it."""
    from govlake.errors import ConfigError

    suite = find_suite(theme.table)
    if suite is None:
        return Outcome(rows)
    held = suite.rules("quarantine")
    if held:
        raise ConfigError(
            f"rule '{held[0].name}' of {theme.table} has policy quarantine; a theme's rows are "
            "computed from its inputs, so none is kept out.",
            file=str(suite.file_path),
            row=held[0].line,
            fix="use warn (record the rows) or fail (stop the build); correct the model or the "
            "input the rows come from.",
        )
    batch = Batch(
        table=theme.table,
        run_id=run_id,
        run_date=day,
        key_columns=list(theme.key),
        department=theme.owner,
    )
    return validate(spark, cfg, suite, rows, batch, defer_writes=True)


def _unchecked(spark: SparkSession, ctx, suite, rebuilt):
    from pyspark.sql import functions as F

    lib = ctx.library
    current = Table.parse(lib.table).read_if_exists(spark, ctx.cfg)
    if current is None:
        return None
    if "_is_current" in current.columns:
        # A retired key is not published as current, so a full build would not check it either.
        current = current.where("_is_current")
    keys = lib.all_key_columns
    columns = sorted({c for rule in suite.expectations for c in rule.columns} - set(keys))
    key = lib.key
    if len(keys) > 1:
        # A composite key as the build and the failed rows write it: parts joined by "|".
        key = "_library_key"
        joined = F.concat_ws("|", *[F.col(c).cast("string") for c in keys])
        current = current.withColumn(key, joined)
    current = current.select(key, *[c for c in columns if c in current.columns])
    return unchecked(spark, ctx.cfg, lib.table, current, key, rebuilt)
