"""The nightly refresh of one application warehouse (一应用一数仓, conf/apps/<name>.yaml).

Every draw is checked and planned first (govlake.warehouse.plan: never more than approved;
values masked and rows filtered by governed access for the application's principal); only then
is anything written. A table whose grant ended is emptied (zero rows, schema kept). Each table
gets one share.deliveries row per night; a rerun of a night with the same inputs writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.owned import SHARE_DELIVERIES, SHARE_REQUESTS
from govlake.settings import settings
from govlake.warehouse.config import App, get_app
from govlake.warehouse.plan import EMPTIED, Step, plan_app

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.access import AccessControl
    from govlake.settings import Settings

SKIP, RECORD, WRITE = "skip", "record", "write"


def decide(step: Step, source_version: int | None, last: dict | None, night: dt.date) -> str:
    """Pure: write the table, only record the night (inputs unchanged since the last delivery),
    or skip (the same night already recorded with the same inputs: no commit at all)."""
    same = last is not None and (
        last["plan_hash"],
        last["state"],
        last["reason"],
        last["source_version"] if step.sql else None,
    ) == (step.plan_hash, step.state, step.reason, source_version if step.sql else None)
    if not same:
        return WRITE
    return SKIP if last["night"] == night else RECORD


def last_deliveries(spark: SparkSession, cfg: Settings, app: str) -> dict[str, dict]:
    """The latest share.deliveries row per warehouse table of the application."""
    df = SHARE_DELIVERIES.table.read_if_exists(spark, cfg)
    if df is None:
        return {}
    rows = df.where(df.app == app).orderBy("recorded_at").collect()
    return {r.warehouse_table: r.asDict() for r in rows}


def fill(spark: SparkSession, cfg: Settings, step: Step) -> int:
    """Overwrite the warehouse table with the planned rows, or with none (schema kept) when the
    grant ended; the rows now in it."""
    table = step.target
    if step.sql is not None:
        step.draw.source.register(spark, cfg)  # the planned SQL names it
        rows = spark.sql(step.sql)
    elif table.exists(spark, cfg):
        rows = table.read(spark, cfg).limit(0)
    else:
        return 0  # never delivered: nothing to empty
    table.write(rows, "overwrite", options={"overwriteSchema": "true"}, cfg=cfg)
    return table.read(spark, cfg).count()


def record(step: Step, night, run_id, source_version, rows, version, now) -> dict:
    return {
        "app": step.app,
        "night": night,
        "run_id": run_id,
        "warehouse_table": str(step.target),
        "source_table": step.draw.table,
        "request_id": step.request_id,
        "columns": list(step.draw.columns),
        "row_filter": step.draw.row_filter,
        "source_version": source_version if step.sql else None,
        "warehouse_version": version,
        "rows": rows,
        "state": step.state,
        "reason": step.reason,
        "plan_hash": step.plan_hash,
        "recorded_at": now,
    }


def refresh(
    spark: SparkSession, cfg: Settings, app: App, ac: AccessControl, night: dt.date, run_id: str
) -> dict:
    """Check and plan every draw, then fill or empty each table and record the night."""
    df = SHARE_REQUESTS.table.read_if_exists(spark, cfg)
    requests = [] if df is None else [r.asDict() for r in df.collect()]
    steps = plan_app(app, ac, requests, night)  # refuses before anything is written
    last = last_deliveries(spark, cfg, app.name)
    from zoneinfo import ZoneInfo

    now = dt.datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)  # city time, as share.*
    records, outcome = [], {}
    for step in steps:
        source_version = step.draw.source.version(spark, cfg) if step.sql else None
        before = last.get(str(step.target))
        action = decide(step, source_version, before, night)
        outcome[str(step.target)] = f"{step.state} ({action})"
        if action == SKIP:
            continue
        if action == WRITE:
            rows = fill(spark, cfg, step)
        else:
            rows = before["rows"]
        version = step.target.version(spark, cfg)
        records.append(record(step, night, run_id, source_version, rows, version, now))
    if records:
        frame = spark.createDataFrame(records, SHARE_DELIVERIES.schema)
        SHARE_DELIVERIES.table.write(frame, "append", options=SHARE_DELIVERIES.properties, cfg=cfg)
    emptied = sum(1 for s in steps if s.state == EMPTIED)
    return {
        "app": app.name,
        "tables": len(steps),
        "recorded": len(records),
        "emptied": emptied,
        "outcome": "; ".join(f"{t}: {o}" for t, o in outcome.items()),
    }


def refresh_app(
    name: str, logical_date: dt.date, run_id: str | None = None, spark=None, ac=None
) -> dict:
    """The task's job: refresh one application's warehouse for a night."""
    from govlake.access import AccessControl
    from govlake.catalog import assert_publishable
    from govlake.spark import get_spark

    cfg = settings()
    app = get_app(name)
    for table in app.outputs:
        assert_publishable(str(table))  # 退回纠正: no entry passing review, no delivery
    named = {str(t) for t in (*app.inputs, *app.outputs)}
    spark = spark or get_spark(cfg, tables=named | {SHARE_REQUESTS.name, SHARE_DELIVERIES.name})
    ac = ac or AccessControl.load(cfg, spark=spark)
    return refresh(spark, cfg, app, ac, logical_date, run_id or f"manual__{logical_date}")
