"""The nightly landing check: which ods tables landed for a night, before libraries build."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.owned import NIGHTLY_LANDING, NOT_COPIED, UNBALANCED
from govlake.settings import settings
from govlake.sources import load_sources
from jobs import ops

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LANDED = ("success", "unchanged", "registered")


def summarize(logical_date: dt.date, run_id: str, spark: SparkSession | None = None) -> dict:
    """Latest run of every configured table for the night, recorded in ops.nightly_landing."""
    from govlake.spark import get_spark

    cfg = settings()
    spark = spark or get_spark(cfg)
    expected = [s.ods_table(t) for s in load_sources() for t in s.tables]
    latest = ops.latest_runs(spark, cfg, logical_date)
    records = [_landing(name, latest.get(name), logical_date, run_id) for name in expected]
    df = spark.createDataFrame(records, NIGHTLY_LANDING.schema)
    options = {"replaceWhere": f"batch_date = DATE'{logical_date}'", "mergeSchema": "true"}
    NIGHTLY_LANDING.table.write(df, "overwrite", options=options, cfg=cfg)
    landed = [r["ods_table"] for r in records if r["landed"]]
    return {
        "batch_date": str(logical_date),
        "landed": landed,
        "missing": [r["ods_table"] for r in records if not r["landed"]],
        # Logical tables landed without a copy: their balance is n/a, not a failure.
        "not_copied": [r["ods_table"] for r in records if r["balance"] == NOT_COPIED],
        "rows_written": sum(r["rows_written"] or 0 for r in records),
    }


def _landing(name: str, run, day: dt.date, run_id: str) -> dict:
    status = run["status"] if run else "not loaded"
    balance = run.get("balance") if run else None
    return {
        "batch_date": day,
        "ods_table": name,
        # A load that does not balance fails; a logical table's n/a does not hold it back.
        "landed": status in LANDED and balance != UNBALANCED,
        "status": status,
        "rows_written": run["rows_written"] if run else None,
        "load_run_id": run["run_id"] if run else None,
        "nightly_run_id": run_id,
        "balance": balance,
    }
