"""DAGs parse cleanly, lightly and offline, one per source; run_dag runs dag.test end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from govlake.libraries import load_libraries
from govlake.settings import PROJECT_ROOT, settings
from govlake.sources import SOURCES_DIR, load_sources

DAGS = PROJECT_ROOT / "dags"
PREFIX = {"physical": "load", "logical": "register"}

# Lookups made while parsing are recorded here and raise, so a DAG file that reads a
# connection or variable at top level fails the test whichever way it asks.
RAISING_SECRETS = '''
LOOKUPS = []


class RaisingBackend:
    """Duck-typed secrets backend: Airflow imports it while airflow.configuration is loading."""

    def _set_connection_class(self, connection_class):
        pass

    def get_config(self, key):
        return None

    def get_conn_value(self, conn_id):
        LOOKUPS.append(f"connection {conn_id}")
        raise RuntimeError(f"connection {conn_id} looked up while parsing")

    def get_connection(self, conn_id):
        return self.get_conn_value(conn_id)

    def get_variable(self, key):
        LOOKUPS.append(f"variable {key}")
        raise RuntimeError(f"variable {key} looked up while parsing")
'''

# Runs in a fresh interpreter so sys.modules shows exactly what parsing the DAG folder imports.
PARSE = r"""
import json, sys
from pathlib import Path
from unittest import mock

import pendulum
import raising_secrets
from airflow.sdk.execution_time import context as sdk_context
from airflow.models.connection import Connection
from airflow.models.variable import Variable


def forbid(what):
    def lookup(*args, **kwargs):
        raising_secrets.LOOKUPS.append(f"{what} {args} {kwargs}")
        raise RuntimeError(f"{what} called while parsing")
    return lookup


patches = [
    mock.patch.object(sdk_context, "_get_connection", forbid("sdk connection")),
    mock.patch.object(sdk_context, "_get_variable", forbid("sdk variable")),
    mock.patch.object(Connection, "get_connection_from_secrets", forbid("connection")),
    mock.patch.object(Variable, "get", forbid("variable")),
]
for p in patches:
    p.start()

from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction

bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in ("pyspark", "pandas") if m in sys.modules)


def schedule(dag):
    table = dag.timetable
    if getattr(table, "asset_condition", None) is not None:
        cond = table.asset_condition
        return {"kind": type(cond).__name__, "assets": sorted(a.name for a in cond.objects)}
    tz = getattr(table.timezone, "name", str(table.timezone))
    first = coerce_to_core_timetable(table).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(pendulum.datetime(2026, 11, 27, tz=tz), None, True),
    )
    return {
        "kind": type(table).__name__, "cron": table.expression, "timezone": tz,
        "run_after": first.run_after.in_timezone(tz).isoformat(),
        "logical_date": first.logical_date.in_timezone(tz).isoformat(),
    }


dags = {
    dag_id: {
        "tasks": sorted(dag.task_ids),
        "outlets": {t.task_id: [[a.name, a.uri] for a in t.outlets] for t in dag.tasks},
        "retries": sorted({t.retries for t in dag.tasks}),
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "doc_md": dag.doc_md,
        "schedule": schedule(dag),
    }
    for dag_id, dag in bag.dags.items()
}
print(json.dumps({
    "import_errors": {Path(k).name: v for k, v in bag.import_errors.items()},
    "heavy": heavy,
    "lookups": raising_secrets.LOOKUPS,
    "dags": dags,
}))
"""

CARELESS_DAG = """
import contextlib

import pandas
from airflow.sdk import BaseHook, Variable, dag  # DagBag skips files without "dag"

with contextlib.suppress(Exception):
    BaseHook.get_connection("ezhou_psb_hukou")
with contextlib.suppress(Exception):
    Variable.get("threshold")
"""

TINY_DAGS = """
from airflow.sdk import Asset, dag, task

from govlake.orchestration import record_landing, run_date

TINY = Asset(name="ods.tiny__t", uri="x-govlake://ods/tiny__t")


@dag(dag_id="tiny", schedule=None, catchup=False)
def tiny():
    @task(outlets=[TINY])
    def count(**context):
        day = run_date(context, "Asia/Shanghai")
        counts = {"rows_written": 3, "day": day.isoformat()}
        record_landing(context, TINY, day, counts)
        return counts

    count()


@dag(dag_id="broken", schedule=None, catchup=False, default_args={"retries": 0})
def broken():
    @task
    def boom():
        from govlake.errors import SourceError

        raise SourceError("department DB refused", source="tiny", fix="start it")

    boom()


tiny()
broken()
"""


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("airflow_home")


def _copy_sources(target: Path) -> Path:
    shutil.copytree(SOURCES_DIR, target)
    return target


def _add_copy_of_psb_hukou(sources: Path) -> None:
    config = yaml.safe_load((sources / "psb_hukou.yaml").read_text(encoding="utf-8"))
    config["system"] = "psb_hukou_copy"
    text = yaml.safe_dump(config, allow_unicode=True)
    (sources / "psb_hukou_copy.yaml").write_text(text, encoding="utf-8")


def _unknown_mode(sources: Path) -> None:
    path = sources / "psb_hukou.yaml"
    text = path.read_text(encoding="utf-8").replace("mode: physical", "mode: hybrid")
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def reports(airflow_home, tmp_path_factory) -> dict[str, dict]:
    """Parse four DAG-folder/sources cases at once, each in a fresh interpreter (JSON reports)."""
    from govlake.orchestration import airflow_env

    work = tmp_path_factory.mktemp("parse")
    (work / "raising_secrets.py").write_text(RAISING_SECRETS)
    careless = work / "careless_dags"
    careless.mkdir()
    (careless / "careless.py").write_text(textwrap.dedent(CARELESS_DAG))
    added = _copy_sources(work / "added")
    _add_copy_of_psb_hukou(added)
    bad = _copy_sources(work / "bad_mode")
    _unknown_mode(bad)
    cases = {
        "project": (DAGS, None),
        "careless": (careless, None),
        "added": (DAGS, added),
        "bad_mode": (DAGS, bad),
    }
    base = {
        **os.environ,
        **airflow_env(settings().model_copy(update={"airflow_home": airflow_home})),
        "PYTHONPATH": str(work),
        "AIRFLOW__SECRETS__BACKEND": "raising_secrets.RaisingBackend",
    }
    base.pop("GOVLAKE_SOURCES_DIR", None)
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", PARSE, str(dags)],
            env={**base, "GOVLAKE_SOURCES_DIR": str(sources)} if sources else base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (dags, sources) in cases.items()
    }
    results = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}: {err[-3000:]}"
        results[name] = {**json.loads(out.strip().splitlines()[-1]), "sources": cases[name][1]}
    return results


@pytest.fixture(scope="module")
def project(reports) -> dict:
    return reports["project"]


def test_dag_files_import_without_errors(project):
    assert project["import_errors"] == {}


LIBRARIES = load_libraries()


def test_one_dag_per_source_file_plus_nightly_and_libraries(project):
    files = sorted(SOURCES_DIR.glob("*.yaml"))
    libraries = {f"{lib.database}__{lib.library}" for lib in LIBRARIES}
    nightly = {"ezhou_nightly", "ezhou_ledger"}
    expected = {f"ods__{path.stem}" for path in files} | nightly | libraries
    assert set(project["dags"]) == expected
    assert len(project["dags"]) == len(files) + len(nightly) + len(LIBRARIES)


def test_each_library_waits_for_its_ods_inputs(project):
    for lib in LIBRARIES:
        dag = project["dags"][f"{lib.database}__{lib.library}"]
        inputs = {source.table for source in lib.inputs.values()}
        inputs |= {f"base.{other}" for other in lib.links}
        assert dag["schedule"] == {"kind": "AssetAll", "assets": sorted(inputs)}
        assert dag["outlets"] == {
            f"build_{lib.library}": [[lib.table, f"x-govlake://base/{lib.library}"]]
        }


def test_ledger_runs_after_every_library_catalog_first_site_last(project):
    from jobs.ledger import STEPS

    ledger = project["dags"]["ezhou_ledger"]
    assert ledger["schedule"] == {
        "kind": "AssetAll",
        "assets": sorted(lib.table for lib in LIBRARIES),
    }
    assert ledger["tasks"] == sorted(step.task_id for step in STEPS)
    assert [s.task_id for s in STEPS][0] == "publish_catalog"
    assert [s.task_id for s in STEPS][-1] == "build_site"
    assert ledger["outlets"]["publish_catalog"][0] == [
        "catalog.resources",
        "x-govlake://catalog/resources",
    ]


def test_one_task_per_table_with_its_ods_asset(project):
    for source in load_sources():
        dag = project["dags"][f"ods__{source.system}"]
        names = {f"{PREFIX[source.mode]}_{t.name}": t for t in source.tables}
        assert dag["tasks"] == sorted(names)
        for task_id, table in names.items():
            ods = source.ods_table(table)
            uri = "x-govlake://" + ods.replace(".", "/", 1)
            assert dag["outlets"][task_id] == [[ods, uri]]
        assert dag["tags"] == sorted([source.department, source.mode])
        assert dag["retries"] == [settings().task_retries]
        for text in (
            source.department,
            source.information_system,
            *map(source.ods_table, source.tables),
        ):
            assert text in dag["doc_md"]


def test_schedules_are_source_crons_in_shanghai_and_load_the_previous_day(project):
    for source in load_sources():
        dag = project["dags"][f"ods__{source.system}"]
        assert dag["catchup"] is False
        schedule = dag["schedule"]
        assert schedule["kind"] == "CronTriggerTimetable"
        assert (schedule["cron"], schedule["timezone"]) == (source.schedule, "Asia/Shanghai")
        # The run that fires in the night of the 27th loads the 26th.
        assert schedule["run_after"].startswith("2026-11-27T")
        assert schedule["logical_date"].startswith("2026-11-26T")
        assert schedule["run_after"].endswith("+08:00")


def test_nightly_waits_for_every_ods_asset(project):
    nightly = project["dags"]["ezhou_nightly"]
    produced = {
        outlet[0]
        for dag_id, dag in project["dags"].items()
        if dag_id.startswith("ods__")
        for outlets in dag["outlets"].values()
        for outlet in outlets
    }
    assert nightly["schedule"] == {"kind": "AssetAll", "assets": sorted(produced)}
    assert nightly["tasks"] == ["summarize_landing"]
    assert "issue 3" in nightly["doc_md"]


def test_parsing_imports_no_spark_or_pandas_and_looks_nothing_up(project):
    assert project["heavy"] == []
    assert project["lookups"] == []


def test_the_parse_check_catches_heavy_imports_and_lookups(reports):
    careless = reports["careless"]
    assert careless["heavy"] == ["pandas"]
    assert [lookup.split()[:2] for lookup in careless["lookups"]] == [
        ["sdk", "connection"],
        ["sdk", "variable"],
    ]


def test_a_new_source_file_adds_a_dag(reports):
    added = reports["added"]
    assert added["import_errors"] == {}
    assert len(added["dags"]) == len(list(SOURCES_DIR.glob("*.yaml"))) + 3 + len(LIBRARIES)
    assert added["dags"]["ods__psb_hukou_copy"]["tasks"] == [
        "load_hj_household",
        "load_hj_resident",
    ]
    assert "ods.psb_hukou_copy__hj_resident" in added["dags"]["ezhou_nightly"]["schedule"]["assets"]


def test_an_unknown_mode_is_an_import_error_naming_file_and_field(reports):
    bad = reports["bad_mode"]
    error = bad["import_errors"]["ezhou_sources.py"]
    assert str(bad["sources"] / "psb_hukou.yaml") in error
    assert "field 'mode'" in error
    assert "'hybrid' is not allowed" in error


def test_run_date_is_the_local_day_as_a_plain_date():
    import pendulum

    from govlake.orchestration import run_date

    # 01:00 in Ezhou is still the previous day in UTC, which is what ds would say.
    logical = pendulum.datetime(2026, 11, 26, 1, tz="Asia/Shanghai").in_timezone("UTC")
    day = run_date({"logical_date": logical}, "Asia/Shanghai")
    assert day == dt.date(2026, 11, 26) and type(day) is dt.date
    manual = {"logical_date": None, "dag_run": SimpleNamespace(run_after=logical)}
    assert run_date(manual, "Asia/Shanghai") == dt.date(2026, 11, 25), "the last complete day"


def test_an_asset_triggered_nightly_takes_its_day_from_the_events():
    import pendulum

    from govlake.orchestration import landing_date

    events = {
        "ods.a__x": [SimpleNamespace(extra={"logical_date": "2026-11-25"})],
        "ods.b__y": [SimpleNamespace(extra={"logical_date": "2026-11-26"})],
    }
    run_after = pendulum.datetime(2026, 11, 27, 3, 5, tz="Asia/Shanghai")
    context = {
        "logical_date": None,
        "triggering_asset_events": events,
        "dag_run": SimpleNamespace(run_after=run_after),
    }
    assert landing_date(context, "Asia/Shanghai") == dt.date(2026, 11, 26)
    assert landing_date({**context, "triggering_asset_events": {}}, "Asia/Shanghai") == (
        dt.date(2026, 11, 26)
    )


@pytest.fixture
def tiny_airflow(airflow_home, tmp_path):
    """Airflow of this process pointed at a throw-away DAG folder; os.environ restored after."""
    from govlake import orchestration

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tiny.py").write_text(textwrap.dedent(TINY_DAGS))
    saved = dict(os.environ)
    cfg = settings().model_copy(update={"airflow_home": airflow_home})
    ready = orchestration.prepare_airflow(cfg, dags_folder=dags)
    yield ready
    os.environ.clear()
    os.environ.update(saved)
    orchestration._active.clear()


@pytest.mark.slow
def test_run_dag_runs_dag_test_in_process_and_reruns_the_same_day(tiny_airflow):
    from airflow.models.dagrun import DagRun

    from govlake.orchestration import run_dag

    assert tiny_airflow.dag_ids == ["broken", "tiny"]
    first = run_dag("tiny", dt.date(2026, 11, 26))
    assert first.succeeded
    assert first.tasks["count"].state == "success"
    assert first.tasks["count"].xcom == {"rows_written": 3, "day": "2026-11-26"}

    again = run_dag("tiny", dt.date(2026, 11, 26))
    assert again.succeeded and again.run_id != first.run_id
    assert again.tasks["count"].xcom == first.tasks["count"].xcom
    assert [run.run_id for run in DagRun.find(dag_id="tiny")] == [again.run_id]


@pytest.mark.slow
def test_run_dag_reports_the_failing_task_and_its_error(tiny_airflow):
    from govlake.orchestration import run_dag

    outcome = run_dag("broken", dt.date(2026, 11, 26))
    assert outcome.state == "failed"
    assert outcome.tasks["boom"].state == "failed"
    assert "source tiny: department DB refused" in outcome.tasks["boom"].error
    assert outcome.log_file.exists()
