"""The nightly ledger (一本账): what runs once the base libraries are built.

Each function is the job of one step declared in govlake.tasks (`ledger_steps`), one Airflow
task of dags/ezhou_ledger.py with its own lineage run: the catalog is published from the tables
as they stand tonight (and a failing review stops nothing already built, it only returns the
entry), then later steps read what it published.
"""

from __future__ import annotations

import datetime as dt


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


def open_data(day: dt.date, run_id: str) -> dict:
    from jobs.open_data import export_open_data

    return {"open_data": export_open_data(*_session())}


def site(day: dt.date, run_id: str) -> dict:
    from govlake.site import build_site

    return {"site": str(build_site(*_session()) / "index.html")}


def compact(day: dt.date, run_id: str) -> dict:
    """Compact the record tables' small files (no data changes, so no Spark and no asset)."""
    from govlake.lakehouse import compact_without_jvm
    from govlake.owned import RECORD_TABLES
    from govlake.settings import settings

    cfg = settings()
    return {"compacted": [compact_without_jvm(owned.table, cfg) for owned in RECORD_TABLES]}
