"""govlake.tasks.execute: one declaration gives a task its day, its lineage run and the landing
record on each outlet event, whichever job it runs."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from types import SimpleNamespace

import pendulum
import pytest

from govlake.lakehouse import Table
from govlake.tasks import Task, execute

CALLS: list[tuple] = []


def counted(label: str, day: dt.date, run_id: str) -> dict:
    """A job: records how it was called and returns counts with one nested value."""
    CALLS.append((label, day, run_id))
    return {"label": label, "rows_written": 2, "missing": None, "inputs": [{"rows_in": 2}]}


def names_tables(label: str, day: dt.date, run_id: str) -> dict:
    """A job: records which tables its session names, as a job gets its session."""
    from govlake.lakehouse import named_tables
    from govlake.spark import get_spark

    CALLS.append((label, named_tables(get_spark(), {"ops", "base"})))
    return {}


def refused(label: str, day: dt.date, run_id: str) -> dict:
    raise RuntimeError(f"{label}: the department refused")


def declared(job: str) -> Task:
    return Task(
        dag_id="tiny_dag",
        task_id=f"tiny_{job}",
        job=f"test_tasks:{job}",
        args=("night",),
        inputs=(Table("ops", "load_runs"),),
        outputs=(Table("ops", "tiny_a"), Table("ops", "tiny_b")),
        upstream=("system:tiny.t",),
    )


def context() -> dict:
    # 01:00 in the city on the 26th is still the 25th in UTC.
    logical = pendulum.datetime(2026, 11, 26, 1, tz="Asia/Shanghai").in_timezone("UTC")
    return {
        "run_id": "manual__tiny",
        "logical_date": logical,
        "outlet_events": defaultdict(lambda: SimpleNamespace(extra=None)),
    }


def events(cfg, job: str) -> list[dict]:
    folder = cfg.lakehouse / "lineage" / "events" / "_openlineage"
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return [e for e in found if e["job"]["name"] == job]


def test_execute_runs_the_job_for_the_local_day_traced_and_records_every_outlet(spark, cfg):
    task, ctx = declared("counted"), context()
    result = execute(task, ctx)
    assert CALLS[-1] == ("night", dt.date(2026, 11, 26), "manual__tiny")
    assert result == {"label": "night", "rows_written": 2, "missing": None}, "plain values only"
    for table in task.outputs:
        extra = ctx["outlet_events"][table.asset()].extra
        assert extra == {
            "label": "night",
            "rows_written": 2,
            "logical_date": "2026-11-26",
            "run_id": "manual__tiny",
        }
    start, complete = events(cfg, "tiny_dag.tiny_counted")[-2:]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert [d["name"] for d in complete["inputs"]] == ["system:tiny.t", "ops.load_runs"]
    assert [d["name"] for d in complete["outputs"]] == ["ops.tiny_a", "ops.tiny_b"]


def test_a_failing_job_emits_fail_and_records_no_landing(spark, cfg):
    task, ctx = declared("refused"), context()
    with pytest.raises(RuntimeError, match="night: the department refused"):
        execute(task, ctx)
    assert events(cfg, "tiny_dag.tiny_refused")[-1]["eventType"] == "FAIL"
    assert ctx["outlet_events"] == {}


def test_a_tasks_session_names_only_the_tables_it_declares(spark, cfg):
    """A task on the scheduler path is a new process: naming every table of the lakehouse cost
    it seconds. Inside execute, get_spark() names the task's inputs and outputs only."""
    declared_output, other = Table("ops", "tiny_a"), Table("base", "tiny_other")
    for table in (declared_output, other):
        table.write(spark.createDataFrame([(1,)], "n int"), "overwrite", cfg=cfg)
        spark.sql(f"DROP TABLE {table.qualified}")  # files kept: named with a LOCATION
    execute(declared("names_tables"), context())
    label, named = CALLS[-1]
    assert label == "night" and declared_output.qualified in named
    assert other.qualified not in named, named
    from govlake.lakehouse import named_tables
    from govlake.spark import get_spark

    # Outside a task (an analyst's session, the endpoint) every table is named again.
    assert other.qualified in named_tables(get_spark(cfg), {"base"})
