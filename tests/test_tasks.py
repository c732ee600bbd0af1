"""govlake.tasks.execute: one declaration gives a task its day, its lineage run and the landing
record on each outlet event, whichever job it runs."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import replace
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


def asks_spark_twice(label: str, day: dt.date, run_id: str) -> dict:
    """A job: gets its session twice, as a job and a helper it calls may."""
    from govlake.spark import get_spark

    get_spark()
    get_spark()
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


def test_a_task_whose_job_does_not_size_its_work_is_evaluated_by_the_rows_it_reads(
    spark, cfg, evaluation_modes, monkeypatch
):
    """A ledger step or an application refresh compiles or not by the rows of the tables it
    declares it reads, chosen once when its job first gets the session (the threshold rule is
    Settings.compiles, pinned in test_spark.py, here set at the rows counted by Spark). No
    declared input is an unknown size, which compiles; a job that sizes its own work (a load,
    a library, a theme) and a job that never starts Spark are left alone."""
    from govlake.settings import Settings

    read = Table("ops", "tiny_read")
    read.write(spark.range(40), "overwrite", cfg=cfg)
    rows = read.read(spark, cfg).count()
    monkeypatch.setattr(Settings, "compiles", lambda self, n: n is None or n >= rows)
    task = replace(declared("asks_spark_twice"), inputs=(read,))

    execute(task, context())
    assert evaluation_modes == [True]
    read.write(spark.range(rows - 1), "overwrite", cfg=cfg)
    execute(task, context())
    assert evaluation_modes == [True, False]
    execute(replace(task, inputs=()), context())
    assert evaluation_modes == [True, False, True]
    execute(replace(task, sizes_itself=True), context())
    execute(replace(declared("counted"), inputs=(read,)), context())
    assert evaluation_modes == [True, False, True]


@pytest.mark.parametrize(
    "kind", ["load", "library", "theme", "logical source", "ledger", "app", "landing"]
)
def test_only_loads_libraries_and_themes_size_their_own_work(kind):
    """Each declared task of the night either sizes its own work or is sized by its inputs."""
    from govlake.tasks import all_tasks

    found = [t for t in all_tasks() if _kind(t) == kind]
    assert found, kind
    assert {t.sizes_itself for t in found} == {kind in ("load", "library", "theme")}


def _kind(task: Task) -> str:
    prefixes = {"load_": "load", "register_": "logical source", "theme__": "theme"}
    prefixes |= {"app__": "app", "ezhou_ledger": "ledger", "ezhou_nightly": "landing"}
    prefixes |= {"base__": "library"}
    name = task.task_id if task.dag_id.startswith("ods__") else task.dag_id
    return next((k for p, k in prefixes.items() if name.startswith(p)), "other")
