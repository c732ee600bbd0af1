"""The nightly ledger (一本账): what runs once the base libraries are built.

Each step is a govlake.tasks.Task, one Airflow task of dags/ezhou_ledger.py with its own lineage
run: the catalog is published from the tables as they stand tonight (and a failing review stops
nothing already built, it only returns the entry), then later steps read what it published.
"""

from __future__ import annotations

import datetime as dt

from govlake.tasks import Task, tables


def _session():
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    return get_spark(cfg), cfg


def catalog(day: dt.date, run_id: str) -> dict:
    from govlake.catalog import publish_catalog

    return publish_catalog(*_session(), day, run_id)


def feedback(day: dt.date, run_id: str) -> dict:
    from jobs.feedback import publish_feedback

    return publish_feedback(*_session(), day, run_id)


def data_docs(day: dt.date, run_id: str) -> dict:
    from govlake.settings import settings
    from jobs.quality import build_data_docs

    return {"data_docs": str(build_data_docs(settings()))}


def site(day: dt.date, run_id: str) -> dict:
    from govlake.site import build_site

    return {"site": str(build_site(*_session()) / "index.html")}


def _step(task_id: str, job: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Task:
    job = f"jobs.ledger:{job}"
    return Task("ezhou_ledger", task_id, job, inputs=tables(*inputs), outputs=tables(*outputs))


CATALOG_TABLES = ("catalog.resources", "catalog.items", "catalog.systems", "catalog.registrations")

QUALITY_INPUTS = ("quality.results", "quality.failed_rows", "ops.rejected_rows", "base.conflicts")
QUALITY_OUTPUTS = ("quality.scores", "quality.problems", "quality.duplicate_collection")

STEPS = (
    _step("publish_catalog", "catalog", ("ops.load_runs",), CATALOG_TABLES),
    _step("publish_feedback", "feedback", QUALITY_INPUTS, QUALITY_OUTPUTS),
    _step("build_data_docs", "data_docs", ("quality.results",), ()),
    _step("build_site", "site", (*CATALOG_TABLES, "quality.scores", "lineage.column_edges"), ()),
)
