"""Feedback to the providing departments (issue 4, items 5-7): quality scores, tracked problem
rows with a rectification workbook per department, and the duplicate-collection reports
(declared by the libraries, and found from the ods data).

Reads whichever of quality.results, quality.failed_rows, ops.rejected_rows, quarantine.<lib>,
base.conflicts, ops.load_runs and ops.library_runs exist; writes quality.scores,
quality.problems, quality.duplicate_collection, quality.discovered_duplicates and
<lakehouse>/feedback/<run_date>/ (each department's workbook lists both duplicate reports).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def publish_feedback(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str) -> dict:
    """Score the night, track its problems, find duplicate collection, write the workbooks."""
    from jobs.feedback.discovered import write_discovered
    from jobs.feedback.duplicates import write_duplicates
    from jobs.feedback.problems import track_problems
    from jobs.feedback.scores import write_scores
    from jobs.feedback.workbooks import write_workbooks

    scores = write_scores(spark, cfg, run_date, run_id)
    problems = track_problems(spark, cfg, run_date, run_id)
    duplicates = write_duplicates(spark, cfg, run_date, run_id)
    discovered = write_discovered(spark, cfg, run_date, run_id)
    files = write_workbooks(spark, cfg, run_date, run_id, duplicates, discovered)
    return {
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "scores": scores,
        "problems": problems,
        "workbooks": [str(p) for p in files],
        "duplicate_collection": len(duplicates),
        "discovered_duplicates": len(discovered),
    }


def run_feedback(logical_date: dt.date, run_id: str, spark: SparkSession | None = None) -> dict:
    """publish_feedback with the process's settings and Spark session (for Airflow tasks)."""
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    return publish_feedback(spark or get_spark(cfg), cfg, logical_date, run_id)
