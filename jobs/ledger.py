"""The nightly ledger (一本账): what runs once the base libraries are built.

Each step is one Airflow task of dags/ezhou_ledger.py with its own lineage event: the catalog
is published from the tables as they stand tonight (and a failing review stops nothing already
built, it only returns the entry), then later steps read what the catalog published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LedgerStep:
    """One task of the ledger DAG: what it reads and writes, and the function that does it."""

    task_id: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    run: Callable[..., dict]


def _catalog(spark, cfg, day: dt.date, run_id: str) -> dict:
    from govlake.catalog import publish_catalog

    return publish_catalog(spark, cfg, day, run_id)


def _feedback(spark, cfg, day: dt.date, run_id: str) -> dict:
    from jobs.feedback import publish_feedback

    return publish_feedback(spark, cfg, day, run_id)


def _data_docs(spark, cfg, day: dt.date, run_id: str) -> dict:
    from jobs.quality import build_data_docs

    return {"data_docs": str(build_data_docs(cfg))}


def _site(spark, cfg, day: dt.date, run_id: str) -> dict:
    from govlake.site import build_site

    return {"site": str(build_site(spark, cfg) / "index.html")}


CATALOG_TABLES = ("catalog.resources", "catalog.items", "catalog.systems", "catalog.registrations")

QUALITY_INPUTS = ("quality.results", "quality.failed_rows", "ops.rejected_rows", "base.conflicts")
QUALITY_OUTPUTS = ("quality.scores", "quality.problems", "quality.duplicate_collection")

STEPS = (
    LedgerStep("publish_catalog", ("ops.load_runs",), CATALOG_TABLES, _catalog),
    LedgerStep("publish_feedback", QUALITY_INPUTS, QUALITY_OUTPUTS, _feedback),
    LedgerStep("build_data_docs", ("quality.results",), (), _data_docs),
    LedgerStep(
        "build_site", (*CATALOG_TABLES, "quality.scores", "lineage.column_edges"), (), _site
    ),
)


def run_step(step: LedgerStep, context: Mapping[str, Any], day: dt.date) -> dict:
    """Run one ledger step on the shared Spark session, inside its lineage event."""
    from govlake.settings import settings
    from govlake.spark import get_spark
    from lineage.emit import Dataset, task_run
    from lineage.hooks import _run_id, delta_fields, job_name

    cfg = settings()
    inputs = [Dataset(t) for t in step.inputs]
    outputs = [Dataset(t) for t in step.outputs]
    job = job_name(context, f"ezhou_ledger.{step.task_id}")
    with task_run(job, inputs, outputs, _run_id(context)) as run:
        result = run.complete(step.run(get_spark(cfg), cfg, day, context["run_id"]))
        for dataset in (*inputs, *outputs):
            dataset.fields = delta_fields(*dataset.name.split("."))
    return {k: v for k, v in result.items() if isinstance(v, str | int | float | bool)}
