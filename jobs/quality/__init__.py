"""Data quality (issue 4): GX suites per table, policies per rule, results kept in Delta.

Entry points: `validate(...)` for any task that writes a table, the hooks `check_load` (ods
load, before the Delta write) and `check_library` (base library, before the MERGE), and
`build_data_docs(cfg)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.quality.engine import Batch, Outcome, QualityError, validate
from jobs.quality.gx_run import build_data_docs
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


def check_library(spark: SparkSession, ctx, rows: DataFrame, rebuilt=None) -> Outcome:
    """Hook of jobs.library: validate the built rows of a base library before the MERGE (call
    the outcome's settle() after it: the results are appended meanwhile).

    Invalid keys were already quarantined by the build (quarantine.<library>); this checks
    the rows as they will be published, and names the department that supplied each value.
    `rebuilt` (an incremental night's keys, column `key`): only their rows were checked, so
    the last failures of every other key still stand and are carried into this validation."""
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
        key_columns=[lib.key],
        row_department=department,
    )
    outcome = validate(spark, ctx.cfg, suite, rows, batch, defer_writes=True)
    if rebuilt is not None:
        from jobs.quality.results import carry_failures

        carry_failures(spark, ctx.cfg, batch, outcome.validated_at, rebuilt)
    return outcome
