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


# The four steps before the workbooks read what the night's DAGs wrote and each writes only
# its own table: they run at once, since each is mostly small Spark jobs whose time is the
# driver's fixed overhead and waiting (one after another they were most of the task's time).
STEPS_AT_ONCE = 4


def publish_feedback(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str) -> dict:
    """Score the night, track its problems, find duplicate collection, write the workbooks.
    Every step replaces the night's slice of its table (the problems MERGE counts a night
    once), so a task retried after one step failed leaves each table as one run would."""
    from concurrent.futures import ThreadPoolExecutor

    from jobs.feedback.discovered import write_discovered
    from jobs.feedback.duplicates import write_duplicates
    from jobs.feedback.problems import track_problems
    from jobs.feedback.scores import write_scores
    from jobs.feedback.workbooks import write_workbooks

    steps = {
        "scores": write_scores,
        "problems": track_problems,
        "duplicates": write_duplicates,
        "discovered": write_discovered,
    }
    with ThreadPoolExecutor(STEPS_AT_ONCE, thread_name_prefix="feedback") as pool:
        started = {k: pool.submit(step, spark, cfg, run_date, run_id) for k, step in steps.items()}
    done = {name: future.result() for name, future in started.items()}  # the first error raises
    duplicates, discovered = done["duplicates"], done["discovered"]
    files = write_workbooks(spark, cfg, run_date, run_id, duplicates, discovered)
    return {
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "scores": done["scores"],
        "problems": done["problems"],
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
