"""The night as production runs it: PostgreSQL, LocalExecutor, scheduler, dag-processor and
api-server as separate processes, started by the schedule and by Assets, never by dag.test().

Two department databases (户籍 of 市公安局, 社保 of 市人社局), whose credentials live only in
Airflow's connection store, are due two minutes ago, so the scheduler starts their DAGs itself
as scheduled runs, side by side. Their Assets make it create the nightly landing report and the
population library build (人口库, cut down to the two inputs these sources deliver). Every
task runs in the `spark` pool: the metadata DB's task start/end times show that no more Spark
tasks ran at once than the pool has slots, though the executor had a worker more. The loads
and the library are checked against the sample generator's ground truth. Kept to two rounds of
two Spark tasks (each task process starts its own Spark driver): the loads, then the report and
the library.

Two faults of issue 18 ride on the same night. Two schedulers share the metadata DB: each
task must still succeed exactly once, its tries never overlapping. While the first load runs,
the metadata DB is "restarted" (every connection of the components terminated, new ones
refused for DB_DOWN_SECONDS): Airflow 3.3's scheduler and dag-processor exit on it, and a task
whose API call fails then fails its try, so from then on the test restarts an exited component
as production's supervisor (systemd, Kubernetes) does. The night must complete with the same
results, every earlier try having failed during the outage (Airflow's retry ran the task).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from airflow_services import PARALLELISM, AirflowServices, private_database

from govlake.orchestration import SPARK_POOL, pool_args
from govlake.settings import PROJECT_ROOT, settings

PERSONS = 300
CITY = ZoneInfo("Asia/Shanghai")
# Per source, the one table the cut-down library reads, and the connection it is read through.
SOURCES = {"psb_hukou": "hj_resident", "hrss_social_insurance": "si_enrolment"}
CONNECTIONS = {"psb_hukou": "ezhou_psb_hukou", "hrss_social_insurance": "ezhou_hrss_si"}
NIGHTLY = "ezhou_nightly"
LIBRARY = "base__population"
# The population library's inputs these tables deliver (the others need four more sources).
LIBRARY_INPUTS = ("psb_resident", "hrss_pension")
DAG_FILES = ("ezhou_sources.py", "ezhou_nightly.py", "ezhou_libraries.py")
# Two schedulers on one metadata DB, as an HA deployment runs them (issue 18, faults).
SCHEDULERS = 2
# How long the metadata DB refuses connections in its mid-night "restart".
DB_DOWN_SECONDS = 10


def due_moment() -> dt.datetime:
    """A cron time two minutes ago in the city: a DAG first seen within a tenth of a day after
    its cron time gets that run at once (CronTriggerTimetable, catchup off)."""
    return (dt.datetime.now(CITY) - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)


def source_file(system: str, due: dt.datetime) -> dict:
    """conf/sources/<system>.yaml due at `due`, with only the table the library reads."""
    raw = yaml.safe_load((PROJECT_ROOT / "conf" / "sources" / f"{system}.yaml").read_text("utf-8"))
    raw["schedule"] = f"{due.minute} {due.hour} * * *"
    raw["tables"] = [t for t in raw["tables"] if t["name"] == SOURCES[system]]
    return raw


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def cut_library(tmp: Path) -> Path:
    """libraries/population.yaml with only LIBRARY_INPUTS and the attributes they supply, and
    the population's catalog entry and expectation suite cut the same way: the catalog review
    refuses to publish a library whose entry names columns it lacks or unconfigured sources,
    and a suite rule on a missing column fails the build."""
    raw = yaml.safe_load((PROJECT_ROOT / "libraries" / "population.yaml").read_text("utf-8"))
    full = set(raw["attributes"])
    raw["inputs"] = {k: v for k, v in raw["inputs"].items() if k in LIBRARY_INPUTS}
    attributes = {}
    for name, attribute in raw["attributes"].items():
        kept = [s for s in attribute["sources"] if s in LIBRARY_INPUTS]
        if kept:
            attributes[name] = {**attribute, "sources": kept}
    raw["attributes"] = attributes
    dropped = full - set(attributes)
    shutil.copytree(PROJECT_ROOT / "conf" / "catalog", tmp / "catalog")
    entry = yaml.safe_load((tmp / "catalog" / "population.yaml").read_text("utf-8"))
    entry["items"] = [i for i in entry["items"] if i["column"] not in dropped]
    entry["source_systems"] = list(SOURCES)
    write_yaml(tmp / "catalog" / "population.yaml", entry)
    shutil.copytree(PROJECT_ROOT / "expectations", tmp / "expectations")
    suite_path = tmp / "expectations" / "base" / "population.yml"
    suite = yaml.safe_load(suite_path.read_text("utf-8"))
    rules = suite["expectations"]
    suite["expectations"] = [r for r in rules if r["kwargs"].get("column") not in dropped]
    write_yaml(suite_path, suite)
    (tmp / "libraries").mkdir()
    return write_yaml(tmp / "libraries" / "population.yaml", raw)


def department_connections(sources: Path, departments: Path) -> Path:
    """Move the department databases out of sources_root (their default_url then finds
    nothing) and describe them as Airflow connections, for `airflow connections import`."""
    departments.mkdir()
    connections = {}
    for system, conn_id in CONNECTIONS.items():
        url = source_file(system, due_moment())["location"]["default_url"]
        default = url.split("{sources_root}/", 1)[1]
        moved = departments / default
        shutil.move(sources / default, moved)
        connections[conn_id] = {"conn_type": "sqlite", "host": "", "schema": str(moved)}
    path = departments / "connections.json"
    path.write_text(json.dumps(connections), encoding="utf-8")
    return path


@pytest.fixture()
def night(tmp_path: Path, pg_url: str):
    """Sources due now, a migrated PostgreSQL metadata DB with the pool and the connections,
    and the running components."""
    from govlake.sample import generate_sources

    due = due_moment()
    conf, dags = tmp_path / "conf_sources", tmp_path / "dags"
    conf.mkdir()
    dags.mkdir()
    (tmp_path / "no_themes").mkdir()
    for system in SOURCES:
        write_yaml(conf / f"{system}.yaml", source_file(system, due))
    for name in DAG_FILES:
        shutil.copy(PROJECT_ROOT / "dags" / name, dags / name)
    library = cut_library(tmp_path)
    with private_database(pg_url) as database:
        services = AirflowServices(
            tmp_path / "airflow",
            database,
            dags,
            {
                "GOVLAKE_SOURCES_DIR": str(conf),
                "GOVLAKE_LIBRARIES_DIR": str(library.parent),
                "GOVLAKE_CATALOG_DIR": str(tmp_path / "catalog"),
                "GOVLAKE_EXPECTATIONS_DIR": str(tmp_path / "expectations"),
                "GOVLAKE_THEMES_DIR": str(tmp_path / "no_themes"),
                "GOVLAKE_SOURCES": str(tmp_path / "sources"),
                "GOVLAKE_LAKEHOUSE": str(tmp_path / "lakehouse"),
                # As a deployment unpauses its DAGs once; here no CLI call is needed for it.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            },
            schedulers=SCHEDULERS,
        )
        services.admin_url = pg_url
        services.day = (due - dt.timedelta(days=1)).date()  # the day a due run loads
        services.library = library
        services.departments = tmp_path / "departments"
        with ThreadPoolExecutor(2) as pool:
            # A subprocess, while this thread writes the sample sources.
            migrated = pool.submit(services.migrate)
            services.manifest = generate_sources(tmp_path / "sources", PERSONS, services.day)
            connections = department_connections(tmp_path / "sources", services.departments)
            migrated.result()
            setup = [
                pool.submit(services.airflow, *pool_args(settings())),
                pool.submit(services.airflow, "connections", "import", str(connections)),
            ]
            for done in setup:
                done.result()
        try:
            services.start()
            yield services
        finally:
            services.stop()


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """Most intervals open at one moment (an end at the same instant as a start does not
    overlap it)."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.slow
@pytest.mark.postgres
def test_scheduler_runs_the_night_on_postgres_in_parallel_within_the_spark_pool(night, request):
    services = night
    started = time.monotonic()
    marks: dict[str, float] = {}
    ods_dags = [f"ods__{s}" for s in SOURCES]
    try:
        services.wait_for(
            "the dag-processor to serialize the DAGs and the api-server to answer",
            lambda: (
                {*ods_dags, NIGHTLY, LIBRARY} <= services.serialized_dags()
                and services.api_healthy()
            ),
            timeout=120,
        )
        marks["components up"] = time.monotonic() - started
        restart = restart_mid_night(services)
        marks["database restarted"] = time.monotonic() - started
        # The session's Spark starts while the scheduler runs the night.
        spark = request.getfixturevalue("spark")
        for dag_id in ods_dags:
            run = services.wait_for_run(dag_id, timeout=900)
            assert run["state"] == "success", run
            assert run["run_type"] == "scheduled", run  # by the cron, not by a trigger
        marks["sources loaded"] = time.monotonic() - started
        for dag_id in (NIGHTLY, LIBRARY):
            run = services.wait_for_run(dag_id, timeout=600)
            assert run["state"] == "success", run
            assert (run["run_type"], run["triggered_by"]) == ("asset_triggered", "ASSET"), run
        marks["library built"] = time.monotonic() - started

        assert_pool_bounded_the_spark_tasks(services)
        assert_each_task_succeeded_once_under_two_schedulers(services, restart)
        assert_components_reconnected(services, restart)
        assert_loads_match_the_manifest(spark, services)
        assert_library_matches_ground_truth(spark, services)
    except BaseException:
        print(services.report())
        raise
    finally:
        print("timings (s from components start):", {k: round(v, 1) for k, v in marks.items()})


def restart_mid_night(services: AirflowServices) -> dict:
    """Once a load task runs, the metadata DB goes away as in a PostgreSQL restart: every
    connection of the components terminated, new ones refused for DB_DOWN_SECONDS."""

    def a_task_running():
        return [ti for ti in services.task_instances() if ti["state"] == "running"]

    services.wait_for("a load task running", a_task_running, timeout=600)
    services.supervise()  # production's systemd/Kubernetes: an exited component is restarted
    terminated = services.restart_database(services.admin_url, DB_DOWN_SECONDS)
    return {"terminated": set(terminated), "back": dt.datetime.now(dt.UTC)}


def assert_each_task_succeeded_once_under_two_schedulers(
    services: AirflowServices, restart: dict
) -> None:
    """Both schedulers are up at the end and every task instance was queued by one of the
    night's scheduler jobs. Each task succeeded exactly once, its tries numbered 1, 2, ...
    never overlapped (no double scheduling), and every try before the successful one failed
    and had started before the metadata DB was back: a task whose call the api-server could
    not answer during the outage fails its try, and Airflow's retry (task_retries) runs it."""
    jobs = services.scheduler_jobs()  # a restarted scheduler is a new job
    assert len([j for j in jobs if j["state"] == "running"]) == SCHEDULERS, jobs
    queued_by = {ti["queued_by_job_id"] for ti in services.task_instances()}
    assert queued_by <= {j["id"] for j in jobs}, (queued_by, jobs)
    tries: dict[tuple[str, str], list[dict]] = {}
    for row in services.task_tries():
        tries.setdefault((row["dag_id"], row["task_id"]), []).append(row)
    assert len(tries) == 2 + 2, tries
    for task, rows in tries.items():
        assert [r["try_number"] for r in rows] == list(range(1, len(rows) + 1)), rows
        assert [r["state"] for r in rows] == ["failed"] * (len(rows) - 1) + ["success"], rows
        assert max_overlap([(r["start_date"], r["end_date"]) for r in rows]) == 1, rows
        assert all(r["start_date"] < restart["back"] for r in rows[:-1]), (task, rows, restart)
    print("tries per task:", {f"{d}.{t}": len(rows) for (d, t), rows in tries.items()})


def assert_components_reconnected(services: AirflowServices, restart: dict) -> None:
    """The restart hit live connections while a task ran; the components went on through new
    connections, those that exited restarted once by the supervisor (services.supervise)."""
    assert restart["terminated"], "the restart must terminate the components' connections"
    after = services.backends()
    assert after and not after & restart["terminated"], (after, restart)
    assert {n: p.poll() for n, p in services.processes.items()} == dict.fromkeys(
        services.processes
    ), "every component running"
    # Only the restart made a component exit: none was restarted twice (and before the
    # restart, unsupervised, an exit failed wait_for).
    names = [name for name, _, _ in services.restarts]
    assert len(names) == len(set(names)), services.restarts
    print("components restarted after the DB restart:", services.restarts)


def assert_pool_bounded_the_spark_tasks(services: AirflowServices) -> None:
    """Every task ran in the pool; at most its slots ran at once, and that many did."""
    slots = settings().spark_task_slots
    assert slots < PARALLELISM, "the executor must be able to run more than the pool allows"
    instances = services.task_instances()
    assert len(instances) == 2 + 2, instances  # two loads, the landing report, the library
    assert {(ti["state"], ti["pool"]) for ti in instances} == {("success", SPARK_POOL)}
    peak = max_overlap([(ti["start_date"], ti["end_date"]) for ti in instances])
    assert peak == slots, (peak, instances)


def assert_loads_match_the_manifest(spark, services: AirflowServices) -> None:
    """Each table read what the generator wrote, through the stored connection, and balanced;
    the landing report saw both."""
    lakehouse = Path(services.env["GOVLAKE_LAKEHOUSE"])
    records = spark.read.format("delta").load(str(lakehouse / "ops" / "load_runs"))
    # A run records itself `running` when it starts, then its outcome.
    runs = records.where("status <> 'running'").collect()
    by_table = {r["ods_table"]: r.asDict() for r in runs}
    expected = {
        f"ods.{system}__{table}": truth
        for system, table in SOURCES.items()
        for truth in [services.manifest.table(system, table)]
    }
    assert set(by_table) == set(expected) and len(runs) == len(expected), sorted(by_table)
    for name, truth in expected.items():
        run = by_table[name]
        assert (run["status"], run["balanced"], run["batch_date"]) == (
            "success",
            True,
            services.day,
        ), run
        assert run["rows_read"] == truth["rows"], name
        # Read where the stored connection points (the default_url's file is gone).
        assert str(services.departments) in run["location"], run
        assert run["rows_rejected"] == truth["defects"].get("unparseable_row", 0), name
    landing = spark.read.format("delta").load(str(lakehouse / "ops" / "nightly_landing"))
    assert {(r["ods_table"], r["landed"]) for r in landing.collect()} == {
        (name, True) for name in expected
    }


def assert_library_matches_ground_truth(spark, services: AirflowServices) -> None:
    """The asset-triggered build quarantined exactly the rows the generator broke and
    recorded exactly the conflicts it planted (row by row, from defects.jsonl)."""
    from govlake.libraries import load_library
    from govlake.sample import truth
    from govlake.sample.manifest import read_defect_rows

    cfg = settings().model_copy(
        update={
            "lakehouse": Path(services.env["GOVLAKE_LAKEHOUSE"]),
            "sources_root": Path(services.env["GOVLAKE_SOURCES"]),
        }
    )
    library = load_library(services.library)
    defects = read_defect_rows(cfg.sources_root)
    quarantined = truth.expected_quarantine(spark, cfg, library, defects)
    assert truth.recorded_quarantine(spark, cfg, library) == quarantined
    conflicting = truth.expected_conflicts(spark, cfg, library, defects)
    assert truth.recorded_conflicts(spark, cfg, library) == conflicting
    assert quarantined, "the sample breaks some residents' identity numbers"
    builds = spark.read.format("delta").load(str(cfg.lakehouse / "ops" / "library_runs"))
    rows = [b.asDict() for b in builds.collect()]  # one per input of the one build
    assert sorted((b["library"], b["input"]) for b in rows) == [
        ("population", name) for name in sorted(LIBRARY_INPUTS)
    ], rows
    assert all(b["balanced"] and b["keys"] > 0 for b in rows), rows
