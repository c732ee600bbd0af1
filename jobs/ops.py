"""Operations tables: every load run, its balance and watermark, and every rejected row."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from govlake.owned import DROPPED_ROWS, LOAD_RUNS, REJECTED_ROWS, Owned
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

COMMITTED = ("success", "unchanged")


@dataclass
class LoadRun:
    """One row of ops.load_runs: what a load read, wrote and rejected, and whether it balanced."""

    run_id: str
    source_system: str
    department: str
    table_name: str
    ods_table: str
    mode: str
    batch_date: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "running"
    rows_read: int | None = None
    rows_written: int | None = None
    rows_rejected: int | None = None
    balanced: bool | None = None
    source_rows: int | None = None
    delta_version: int | None = None
    watermark_low: str | None = None
    watermark_high: str | None = None
    fingerprint: str | None = None
    location: str | None = None
    error: str | None = None
    schema_change: str | None = None
    rows_quarantined: int | None = None  # removed by a quality rule with policy quarantine
    rows_null_watermark: int | None = None  # left unread: their watermark is NULL
    balance: str | None = None  # govlake.owned: BALANCED, UNBALANCED or NOT_COPIED
    rows_dropped: int | None = None  # not data: a title above the header, a listed total row
    notes: str | None = None  # e.g. an empty delivery, or why rows were dropped


def begin_run(system: str, table: str, day: dt.date, run_id: str | None, mode: str):
    """The configured source and table, checked for the job's mode, and its run record."""
    import uuid

    from govlake.errors import GovlakeError
    from govlake.sources import get_table

    source, spec = get_table(system, table)
    if source.mode != mode:
        job = (
            "jobs.ingest.load_table" if source.mode == "physical" else "jobs.logical.register_table"
        )
        raise GovlakeError(
            f"'{system}' is a {source.mode} source, not {mode}.",
            source=system,
            fix=f"use {job}, or change 'mode' in {source.file_path}.",
        )
    run = LoadRun(
        run_id=run_id or f"manual__{uuid.uuid4()}",
        source_system=system,
        department=source.department,
        table_name=table,
        ods_table=source.ods_table(spec),
        mode=mode,
        batch_date=day,
        started_at=dt.datetime.now(),
    )
    return source, spec, run


def _write(df: DataFrame, cfg: Settings, owned: Owned, mode: str, where: str | None) -> None:
    # mergeSchema: a table written before a column was declared gains it on the next write.
    options = {"mergeSchema": "true", **({"replaceWhere": where} if where else {})}
    owned.table.write(df, mode, options=options, cfg=cfg)


def record_run(spark: SparkSession, cfg: Settings, run: LoadRun) -> None:
    """Append the run's record; load_runs is append-only, so concurrent tasks never conflict."""
    df = spark.createDataFrame([asdict(run)], LOAD_RUNS.schema)
    _write(df, cfg, LOAD_RUNS, "append", None)


def _batch(run: LoadRun) -> str:
    return (
        f"source_system = '{run.source_system}' AND table_name = '{run.table_name}' "
        f"AND batch_date = DATE'{run.batch_date}'"
    )


def replace_rejects(spark: SparkSession, cfg: Settings, rejects: DataFrame, run: LoadRun) -> None:
    """Replace this table's rejected rows for the batch (a rerun must not duplicate them)."""
    _write(rejects, cfg, REJECTED_ROWS, "overwrite", _batch(run))


def replace_dropped(spark: SparkSession, cfg: Settings, dropped: DataFrame, run: LoadRun) -> None:
    """Replace this table's dropped rows (titles, totals) for the batch."""
    _write(dropped, cfg, DROPPED_ROWS, "overwrite", _batch(run))


def count_rejects(spark: SparkSession, cfg: Settings, run: LoadRun) -> int:
    return _count_batch(spark, cfg, REJECTED_ROWS, run)


def count_dropped(spark: SparkSession, cfg: Settings, run: LoadRun) -> int:
    return _count_batch(spark, cfg, DROPPED_ROWS, run)


def _count_batch(spark: SparkSession, cfg: Settings, owned: Owned, run: LoadRun) -> int:
    df = owned.table.read_if_exists(spark, cfg)
    if df is None:
        return 0
    return df.where(
        (df.source_system == run.source_system)
        & (df.table_name == run.table_name)
        & (df.batch_date == run.batch_date)
    ).count()


def load_runs(spark: SparkSession, cfg: Settings) -> DataFrame | None:
    return LOAD_RUNS.table.read_if_exists(spark, cfg)


def last_committed(spark: SparkSession, cfg: Settings, ods_table: str, day: dt.date, before: bool):
    """Latest committed run of a table for this batch date (or, with before, an earlier one)."""
    runs = load_runs(spark, cfg)
    if runs is None:
        return None
    from pyspark.sql import functions as F

    batch = F.col("batch_date") < F.lit(day) if before else F.col("batch_date") == F.lit(day)
    return (
        runs.where((F.col("ods_table") == ods_table) & batch & F.col("status").isin(*COMMITTED))
        .orderBy(F.col("batch_date").desc(), F.col("finished_at").desc())
        .first()
    )


def latest_runs(spark: SparkSession, cfg: Settings, day: dt.date | None = None) -> dict[str, dict]:
    """Latest run per ods table (of one batch date, if given), picked in Spark, not in Python."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = load_runs(spark, cfg)
    if runs is None:
        return {}
    if day is not None:
        runs = runs.where(F.col("batch_date") == F.lit(day))
    newest = Window.partitionBy("ods_table").orderBy(F.col("finished_at").desc())
    rows = runs.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
    return {r["ods_table"]: r.asDict() for r in rows.collect()}


LATEST_RUNS_SQL = """
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY ods_table ORDER BY finished_at DESC) AS _n
  FROM runs
) WHERE _n = 1
"""


def latest_runs_without_jvm(cfg: Settings) -> dict[str, dict]:
    """`latest_runs` read by delta-rs, for commands that must not start Spark."""
    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm(LATEST_RUNS_SQL, {"runs": LOAD_RUNS.table}, cfg) or []
    return {r["ods_table"]: {k: v for k, v in r.items() if k != "_n"} for r in rows}
