"""The real scheduler path: scheduler, dag-processor and api-server run ods__tax_credit.

dag.test() (the demo and most tests) skips the scheduler, the executor, the Execution API
and asset-triggered scheduling. Here a manual run triggered from the CLI goes through all of
them in subprocesses, lands its Delta table for the run's logical date, and its asset event
makes the scheduler create an ezhou_nightly run, which summarises the same day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from airflow_services import AirflowServices

from govlake.settings import PROJECT_ROOT

PERSONS = 300
DAY = dt.date(2026, 11, 26)
LOGICAL_DATE = "2026-11-26T00:00:00+08:00"
DAG_ID = "ods__tax_credit"
NIGHTLY = "ezhou_nightly"
TABLE = "tax_credit__credit_rating"


def far_schedule(source_yaml: str) -> str:
    """The source with its daily run 12 hours away: a DAG unpaused within a tenth of a day
    after its cron time gets that run scheduled at once (Airflow's CronTriggerTimetable),
    which would race the manual run this test checks."""
    hour = (dt.datetime.now(dt.UTC).hour + 8 + 12) % 24  # Asia/Shanghai, half a day on
    return re.sub(r'(?m)^schedule: ".*"$', f'schedule: "0 {hour} * * *"', source_yaml)


@pytest.fixture()
def airflow_services(tmp_path: Path):
    """Sample sources for one file source, a migrated home and the running components."""
    from govlake.sample import DefectRates, generate_sources

    conf = tmp_path / "conf_sources"
    conf.mkdir()
    (tmp_path / "no_themes").mkdir()
    text = (PROJECT_ROOT / "conf" / "sources" / "tax_credit.yaml").read_text(encoding="utf-8")
    (conf / "tax_credit.yaml").write_text(far_schedule(text), encoding="utf-8")
    services = AirflowServices(
        tmp_path / "airflow",
        {
            "GOVLAKE_SOURCES_DIR": str(conf),
            # A one-source world has no theme models (theirs read other sources).
            "GOVLAKE_THEMES_DIR": str(tmp_path / "no_themes"),
            "GOVLAKE_SOURCES": str(tmp_path / "sources"),
            "GOVLAKE_LAKEHOUSE": str(tmp_path / "lakehouse"),
        },
    )
    # A few unparseable rows, so the count below proves the rejects were split off.
    rates = DefectRates.load()
    rates = dataclasses.replace(
        rates, tables={"tax_credit.credit_rating": {"unparseable_row": 0.25}}
    )
    with ThreadPoolExecutor(1) as pool:
        migrated = pool.submit(services.migrate)  # a subprocess, while the sources are written
        services.manifest = generate_sources(tmp_path / "sources", PERSONS, DAY, rates=rates)
        migrated.result()
    try:
        services.start()
        yield services
    finally:
        services.stop()


@pytest.mark.slow
def test_scheduler_runs_the_source_dag_and_the_asset_triggered_nightly(airflow_services, request):
    services = airflow_services
    started = time.monotonic()
    marks: dict[str, float] = {}
    try:
        services.wait_for(
            "the dag-processor to serialize both DAGs and the api-server to answer",
            lambda: {DAG_ID, NIGHTLY} <= services.serialized_dags() and services.api_healthy(),
            timeout=120,
        )
        marks["components up"] = time.monotonic() - started
        # Trigger while still paused (the run waits queued) and unpause both DAGs meanwhile:
        # two CLI interpreters in parallel instead of one after the other.
        with ThreadPoolExecutor(1) as pool:
            unpaused = pool.submit(
                services.airflow,
                *("dags", "unpause", "-y", "--treat-dag-id-as-regex", f"^({DAG_ID}|{NIGHTLY})$"),
            )
            services.airflow("dags", "trigger", DAG_ID, "--logical-date", LOGICAL_DATE)
            unpaused.result()
        paused = {r["dag_id"]: r["is_paused"] for r in services.query("SELECT * FROM dag")}
        assert (paused[DAG_ID], paused[NIGHTLY]) == (0, 0), paused
        marks["triggered"] = time.monotonic() - started

        # The session's Spark starts while the scheduler runs the load.
        spark = request.getfixturevalue("spark")
        run = services.wait_for_run(DAG_ID, timeout=240)
        marks["ods run finished"] = time.monotonic() - started
        assert run["state"] == "success", run
        runs = services.dag_runs(DAG_ID)
        assert [(r["run_type"], r["triggered_by"]) for r in runs] == [("manual", "CLI")], runs
        # Stored in UTC: 2026-11-25 16:00, the 26th in Asia/Shanghai.
        assert run["logical_date"].startswith("2026-11-25 16:00:00"), run

        # The load's asset event alone makes the scheduler queue the nightly (no schedule,
        # no trigger); Airflow 3 gives asset-triggered runs no logical date.
        (created,) = services.wait_for(
            f"the asset-triggered run of {NIGHTLY}", lambda: services.dag_runs(NIGHTLY), 30
        )
        assert (created["run_type"], created["triggered_by"]) == ("asset_triggered", "ASSET")
        assert created["logical_date"] is None, created

        truth = services.manifest.table("tax_credit", "credit_rating")
        unparseable = truth["defects"]["unparseable_row"]
        assert unparseable > 0
        path = Path(services.env["GOVLAKE_LAKEHOUSE"]) / "ods" / TABLE
        assert (path / "_delta_log").is_dir(), f"no Delta table at {path}"
        table = spark.read.format("delta").load(str(path))
        assert table.count() == truth["rows"] - unparseable
        assert {r["_batch_date"] for r in table.select("_batch_date").distinct().collect()} == {DAY}

        (event,) = [e for e in services.asset_events() if e["source_dag_id"] == DAG_ID]
        assert event["name"] == f"ods.{TABLE}"
        assert event["extra"]["logical_date"] == DAY.isoformat()
        assert event["extra"]["rows_rejected"] == unparseable

        nightly = services.wait_for_run(NIGHTLY, timeout=180)
        marks["nightly finished"] = time.monotonic() - started
        assert nightly["state"] == "success", nightly
        landing = spark.read.format("delta").load(
            str(Path(services.env["GOVLAKE_LAKEHOUSE"]) / "ops" / "nightly_landing")
        )
        rows = [r.asDict() for r in landing.collect()]
        assert [(r["batch_date"], r["ods_table"], r["landed"]) for r in rows] == [
            (DAY, f"ods.{TABLE}", True)
        ], rows
        # The declared output of the landing check is its outlet: the report's event names
        # the day it took from the triggering event; no DAG is scheduled on it.
        (report,) = [e for e in services.asset_events() if e["source_dag_id"] == NIGHTLY]
        assert report["name"] == "ops.nightly_landing"
        assert report["extra"]["logical_date"] == DAY.isoformat()
    except BaseException:
        print(services.report())
        raise
    finally:
        print("timings (s from components start):", {k: round(v, 1) for k, v in marks.items()})
