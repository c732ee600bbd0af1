"""Operations tables: every load run, its balance and watermark, and every rejected row."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from govlake.lakehouse import count_without_jvm
from govlake.owned import DROPPED_ROWS, LOAD_RUNS, REJECTED_ROWS, Owned
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

COMMITTED = ("success", "unchanged")
# A run is appended as RUNNING before it writes and again with its outcome after (issue 20
# item 12): a RUNNING row with no later row of the same run_id is a run that was killed (or is
# still going). Readers show it as ABANDONED, never as a success.
RUNNING, ABANDONED = "running", "abandoned"
# What one run's two rows share: an Airflow run id names every task of a DAG run and each retry.
ONE_RUN = ("run_id", "started_at", "ods_table", "batch_date")


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


def _replace(df: DataFrame, cfg: Settings, owned: Owned, run: LoadRun, rows: int) -> None:
    """Replace the batch's rows of a set-aside table with `df` (about `rows` rows)."""
    # mergeSchema: a table written before a column was declared gains it on the next write.
    options = {"mergeSchema": "true"}
    small = cfg.is_small(rows)
    owned.table.replace(df, _batch(run), small=small, options=options, cfg=cfg)


def record_run(spark: SparkSession, cfg: Settings, run: LoadRun) -> None:
    """Append the run's record; load_runs is append-only, so concurrent tasks never conflict.
    Written by delta-rs once the table exists (no Spark job: issue 19's fixed cost per load)."""
    LOAD_RUNS.append(spark, [asdict(run)], cfg)


@dataclass(frozen=True)
class History:
    """One table's run records, read once per load: the recovery check and the two committed
    runs a load compares against come from this list instead of three Spark jobs on load_runs."""

    rows: tuple = ()

    def abandoned(self, day: dt.date) -> list:
        """Runs of this night recorded as RUNNING with no outcome row (killed runs) that no run
        of the night has recovered yet: a run that started after one and committed has written
        the batch again and recorded it, so later reruns are unchanged again (idempotent)."""
        night = [r for r in self.rows if r.batch_date == day]
        ended = {(r.run_id, r.started_at) for r in night if r.status != RUNNING}
        committed = [r.started_at for r in night if r.status in COMMITTED]
        killed = [
            r
            for r in night
            if r.status == RUNNING
            and (r.run_id, r.started_at) not in ended
            and not any(later > r.started_at for later in committed)
        ]
        return sorted(killed, key=lambda r: r.started_at)

    def last_committed(self, day: dt.date, before: bool):
        """Latest committed run for this batch date (or, with before, an earlier one)."""
        found = [
            r
            for r in self.rows
            if r.status in COMMITTED and (r.batch_date < day if before else r.batch_date == day)
        ]
        latest = dt.datetime.min
        return max(found, key=lambda r: (r.batch_date, r.finished_at or latest), default=None)


def history(spark: SparkSession, cfg: Settings, ods_table: str) -> History:
    """Every run record of one ods table (a few rows per night: small), read by delta-rs: a
    Spark job here cost 1-3 s per load. The table's name is matched in Python, not in SQL."""
    from pyspark.sql import Row

    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm("SELECT * FROM runs", {"runs": LOAD_RUNS.table}, cfg) or []
    return History(tuple(Row(**r) for r in rows if r["ods_table"] == ods_table))


def start_run(spark: SparkSession, cfg: Settings, run: LoadRun, past: History) -> str | None:
    """Append the run as RUNNING before anything is written (one small Delta commit), so a
    killed run leaves a trace; returns a note naming the abandoned runs it recovers."""
    abandoned = past.abandoned(run.batch_date)
    record_run(spark, cfg, run)
    if not abandoned:
        return None
    named = ", ".join(f"{r.run_id} (started {r.started_at:%Y-%m-%d %H:%M:%S})" for r in abandoned)
    return (
        f"recovering abandoned run(s) {named}: started, never finished; this run replaces its batch"
    )


def _batch(run: LoadRun) -> dict[str, str | dt.date]:
    """The columns that name a run's batch in the set-aside tables."""
    return {
        "source_system": run.source_system,
        "table_name": run.table_name,
        "batch_date": run.batch_date,
    }


def replace_rejects(spark: SparkSession, cfg: Settings, rejects: DataFrame, run: LoadRun) -> None:
    """Replace this table's rejected rows for the batch (a rerun must not duplicate them)."""
    _replace(rejects, cfg, REJECTED_ROWS, run, run.rows_rejected)


def replace_dropped(spark: SparkSession, cfg: Settings, dropped: DataFrame, run: LoadRun) -> None:
    """Replace this table's dropped rows (titles, totals) for the batch."""
    _replace(dropped, cfg, DROPPED_ROWS, run, run.rows_dropped)


def count_rejects(spark: SparkSession, cfg: Settings, run: LoadRun) -> int:
    return _count_batch(spark, cfg, REJECTED_ROWS, run)


def count_dropped(spark: SparkSession, cfg: Settings, run: LoadRun) -> int:
    return _count_batch(spark, cfg, DROPPED_ROWS, run)


def _count_batch(spark: SparkSession, cfg: Settings, owned: Owned, run: LoadRun) -> int:
    """The batch's rows in a set-aside table, counted from its files by delta-rs (no Spark job)."""
    return count_without_jvm(owned.table, _batch(run), cfg)


def load_runs(spark: SparkSession, cfg: Settings) -> DataFrame | None:
    return LOAD_RUNS.table.read_if_exists(spark, cfg)


def outcomes(runs: DataFrame) -> DataFrame:
    """One row per run: its outcome row, or its RUNNING row (as ABANDONED) if it never ended."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    last = Window.partitionBy(*ONE_RUN).orderBy(F.col("finished_at").desc_nulls_last())
    one = runs.withColumn("_r", F.row_number().over(last)).where("_r = 1").drop("_r")
    unfinished = F.col("status") == RUNNING
    return one.withColumns(
        {
            "status": F.when(unfinished, F.lit(ABANDONED)).otherwise(F.col("status")),
            "error": F.when(unfinished, F.lit(UNFINISHED)).otherwise(F.col("error")),
        }
    )


UNFINISHED = "started, no outcome recorded: killed (abandoned), or still running"


def latest_runs(spark: SparkSession, cfg: Settings, day: dt.date | None = None) -> dict[str, dict]:
    """Latest run per ods table (of one batch date, if given), picked in Spark, not in Python.
    A run that started and never ended is the latest (as ABANDONED) until a newer run ends."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = load_runs(spark, cfg)
    if runs is None:
        return {}
    if day is not None:
        runs = runs.where(F.col("batch_date") == F.lit(day))
    ended = F.coalesce(F.col("finished_at"), F.col("started_at"))
    newest = Window.partitionBy("ods_table").orderBy(ended.desc())
    rows = outcomes(runs).withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
    return {r["ods_table"]: r.asDict() for r in rows.collect()}


LATEST_RUNS_SQL = f"""
SELECT * EXCEPT (_r, _n) FROM (
  SELECT *, row_number() OVER (
    PARTITION BY ods_table ORDER BY coalesce(finished_at, started_at) DESC) AS _n
  FROM (
    SELECT * EXCEPT (status, error),
      CASE WHEN status = '{RUNNING}' THEN '{ABANDONED}' ELSE status END AS status,
      CASE WHEN status = '{RUNNING}' THEN '{UNFINISHED}' ELSE error END AS error,
      row_number() OVER (
        PARTITION BY {", ".join(ONE_RUN)} ORDER BY finished_at DESC NULLS LAST) AS _r
    FROM runs
  ) WHERE _r = 1
) WHERE _n = 1
"""


def latest_runs_without_jvm(cfg: Settings) -> dict[str, dict]:
    """`latest_runs` read by delta-rs, for commands that must not start Spark."""
    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm(LATEST_RUNS_SQL, {"runs": LOAD_RUNS.table}, cfg) or []
    return {r["ods_table"]: r for r in rows}
