"""The nightly landing check: which ods tables landed for a night, before libraries build."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.settings import settings
from govlake.sources import load_sources
from govlake.spark import register_table
from jobs import ops

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LANDING = "nightly_landing"
LANDED = ("success", "unchanged", "registered")


def summarize(logical_date: dt.date, run_id: str, spark: SparkSession | None = None) -> dict:
    """Latest run of every configured table for the night, recorded in ops.nightly_landing."""
    from govlake.spark import get_spark

    cfg = settings()
    spark = spark or get_spark(cfg)
    expected = [s.ods_table(t) for s in load_sources() for t in s.tables]
    latest = ops.latest_runs(spark, cfg, logical_date)
    records = [_landing(name, latest.get(name), logical_date, run_id) for name in expected]
    df = spark.createDataFrame(records, LANDING_SCHEMA)
    path = cfg.table_path("ops", LANDING)
    ops.retry_concurrent(
        lambda: (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"batch_date = DATE'{logical_date}'")
            .save(str(path))
        )
    )
    register_table(spark, "ops", LANDING, path)
    landed = [r["ods_table"] for r in records if r["landed"]]
    return {
        "batch_date": str(logical_date),
        "landed": landed,
        "missing": [r["ods_table"] for r in records if not r["landed"]],
        "rows_written": sum(r["rows_written"] or 0 for r in records),
    }


LANDING_SCHEMA = (
    "batch_date date, ods_table string, landed boolean, status string, "
    "rows_written long, load_run_id string, nightly_run_id string"
)


def _landing(name: str, run, day: dt.date, run_id: str) -> dict:
    status = run["status"] if run else "not loaded"
    return {
        "batch_date": day,
        "ods_table": name,
        "landed": status in LANDED,
        "status": status,
        "rows_written": run["rows_written"] if run else None,
        "load_run_id": run["run_id"] if run else None,
        "nightly_run_id": run_id,
    }
