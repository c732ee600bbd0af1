"""DAGs parse cleanly, lightly and offline, file by file; their Asset edges are the README's
night diagram; run_dag runs dag.test end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
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
from govlake.themes import load_themes
from govlake.warehouse.config import load_apps

DAGS = PROJECT_ROOT / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))
# Parses a DAG folder file by file in a fresh interpreter; see its docstring.
PROBE = Path(__file__).with_name("dag_parse_probe.py")
PREFIX = {"physical": "load", "logical": "register"}

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
    """Parse four DAG-folder/sources cases at once, each in a fresh interpreter (JSON reports
    per DAG file)."""
    from govlake.orchestration import airflow_env

    work = tmp_path_factory.mktemp("parse")
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
    # The probe's folder first, then whatever made this worktree's code importable here.
    path = os.pathsep.join(filter(None, [str(PROBE.parent), os.environ.get("PYTHONPATH")]))
    base = {
        **os.environ,
        **airflow_env(settings().model_copy(update={"airflow_home": airflow_home})),
        "PYTHONPATH": path,
        "AIRFLOW__SECRETS__BACKEND": "dag_parse_probe.RaisingBackend",
    }
    base.pop("GOVLAKE_SOURCES_DIR", None)
    running = {
        name: subprocess.Popen(
            [sys.executable, str(PROBE), str(dags)],
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
        files = json.loads(out.strip().splitlines()[-1])
        results[name] = {"files": files, **merged(files), "sources": cases[name][1]}
    return results


def merged(files: dict[str, dict]) -> dict:
    """The reports of a folder's files as one: all DAGs, import errors, heavy modules, lookups."""
    return {
        "dags": {k: v for report in files.values() for k, v in report["dags"].items()},
        "import_errors": {k: v for r in files.values() for k, v in r["import_errors"].items()},
        "heavy": sorted({m for report in files.values() for m in report["heavy"]}),
        "lookups": [lookup for report in files.values() for lookup in report["lookups"]],
    }


@pytest.fixture(scope="module")
def project(reports) -> dict:
    return reports["project"]


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_imports_without_errors_and_defines_dags(project, dag_file):
    report = project["files"][dag_file]
    assert report["import_errors"] == {}
    assert report["dags"], f"{dag_file} defines no DAG"


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_imports_no_spark_or_pandas_and_looks_nothing_up(project, dag_file):
    report = project["files"][dag_file]
    assert report["heavy"] == []
    assert report["lookups"] == []


LIBRARIES = load_libraries()
THEMES = load_themes()
APPS = load_apps()


def test_one_dag_per_source_file_plus_nightly_libraries_themes_and_apps(project):
    files = sorted(SOURCES_DIR.glob("*.yaml"))
    libraries = {f"{lib.database}__{lib.library}" for lib in LIBRARIES}
    themes = {f"theme__{theme.theme}" for theme in THEMES}
    apps = {f"app__{app.name}" for app in APPS}
    nightly = {"ezhou_nightly", "ezhou_ledger"}
    expected = {f"ods__{path.stem}" for path in files} | nightly | libraries | themes | apps
    assert set(project["dags"]) == expected
    assert len(project["dags"]) == len(files) + len(nightly) + len(LIBRARIES) + len(THEMES) + len(
        APPS
    )


def test_each_theme_waits_for_the_tables_its_sql_names_and_writes_its_table(project):
    for theme in THEMES:
        dag = project["dags"][f"theme__{theme.theme}"]
        assert dag["schedule"] == {"kind": "AssetAll", "assets": theme.inputs}
        assert dag["outlets"] == {f"build_{theme.theme}": [_asset(theme.table)]}
    by_district = project["dags"]["theme__social_security_by_district"]
    assert by_district["schedule"]["assets"] == ["theme.social_security"]


def _asset(table: str) -> list[str]:
    return [table, "x-govlake://" + table.replace(".", "/", 1)]


def test_each_app_waits_for_the_tables_it_draws_and_writes_its_warehouse(project):
    assert len(APPS) >= 2, "the demo serves at least two applications"
    for app in APPS:
        dag = project["dags"][f"app__{app.name}"]
        drawn = sorted({d.table for d in app.draws})
        assert dag["schedule"] == {"kind": "AssetAll", "assets": drawn}
        written = [f"app_{app.name}.{d.table.replace('.', '__')}" for d in app.draws]
        assert dag["outlets"] == {
            f"refresh_{app.name}": [_asset(t) for t in [*written, "share.deliveries"]]
        }


def test_each_library_waits_for_its_inputs_and_declares_every_table_it_writes(project):
    for lib in LIBRARIES:
        dag = project["dags"][f"{lib.database}__{lib.library}"]
        inputs = {source.table for source in lib.inputs.values()}
        inputs |= {f"base.{other}" for other in lib.links}
        assert dag["schedule"] == {"kind": "AssetAll", "assets": sorted(inputs)}
        std = [f"std.{lib.library}__{name}" for name in sorted(lib.inputs)]
        written = [lib.table, *std, f"quarantine.{lib.library}", "base.conflicts"]
        assert dag["outlets"] == {f"build_{lib.library}": [_asset(t) for t in written]}


def test_ledger_runs_after_every_library_catalog_first_site_last(project):
    from govlake.tasks import ledger_steps

    steps = ledger_steps()
    ledger = project["dags"]["ezhou_ledger"]
    assert ledger["schedule"] == {
        "kind": "AssetAll",
        "assets": sorted(lib.table for lib in LIBRARIES),
    }
    assert ledger["tasks"] == sorted(step.task_id for step in steps)
    assert [s.task_id for s in steps][0] == "publish_catalog"
    assert [s.task_id for s in steps][-1] == "build_site"
    assert ledger["outlets"]["publish_catalog"][0] == _asset("catalog.resources")


def test_one_task_per_table_with_its_ods_asset(project):
    for source in load_sources():
        dag = project["dags"][f"ods__{source.system}"]
        names = {f"{PREFIX[source.mode]}_{t.name}": t for t in source.tables}
        assert dag["tasks"] == sorted(names)
        for task_id, table in names.items():
            assert dag["outlets"][task_id] == [_asset(source.ods_table(table))]
        assert dag["tags"] == sorted([source.department, source.mode])
        assert dag["retries"] == [settings().task_retries]
        for text in (
            source.department,
            source.information_system,
            *map(source.ods_table, source.tables),
        ):
            assert text in dag["doc_md"]


def test_schedules_are_source_crons_in_the_city_time_zone_and_load_the_previous_day(project):
    assert settings().timezone == "Asia/Shanghai"
    for source in load_sources():
        dag = project["dags"][f"ods__{source.system}"]
        assert dag["catchup"] is False
        schedule = dag["schedule"]
        assert schedule["kind"] == "CronTriggerTimetable"
        assert (schedule["cron"], schedule["timezone"]) == (source.schedule, settings().timezone)
        # The run that fires in the night of the 27th loads the 26th; a monthly delivery's run
        # (ndrc_credit_list on the 1st) loads the day before it fires too.
        fires = dt.datetime.fromisoformat(schedule["run_after"])
        loads = dt.datetime.fromisoformat(schedule["logical_date"])
        if source.schedule.split()[2:] == ["*", "*", "*"]:
            assert schedule["run_after"].startswith("2026-11-27T")
        assert loads.date() == fires.date() - dt.timedelta(days=1)
        assert schedule["run_after"].endswith("+08:00")


def test_a_source_takes_the_city_time_zone_from_the_settings(monkeypatch):
    from govlake.sources import SourceSystem

    source = load_sources()[0]
    raw = source.model_dump(exclude={"timezone"})
    monkeypatch.setattr("govlake.sources.settings", lambda: SimpleNamespace(timezone="Asia/Urumqi"))
    assert SourceSystem(**raw).timezone == "Asia/Urumqi"
    assert SourceSystem(**raw, timezone="Asia/Harbin").timezone == "Asia/Harbin"


def test_nightly_waits_for_every_ods_asset_and_writes_its_report(project):
    nightly = project["dags"]["ezhou_nightly"]
    produced = {
        outlet[0]
        for dag_id, dag in project["dags"].items()
        if dag_id.startswith("ods__")
        for outlets in dag["outlets"].values()
        for outlet in outlets
    }
    assert nightly["schedule"] == {"kind": "AssetAll", "assets": sorted(produced)}
    assert nightly["outlets"] == {"summarize_landing": [_asset("ops.nightly_landing")]}
    assert "no DAG waits for" in nightly["doc_md"]


def asset_edges(dags: dict[str, dict]) -> set[tuple[str, str, str]]:
    """(producer DAG, consumer DAG, asset): a DAG writes the asset another is scheduled on."""
    producers: dict[str, set[str]] = {}
    for dag_id, dag in dags.items():
        for outlets in dag["outlets"].values():
            for name, _uri in outlets:
                producers.setdefault(name, set()).add(dag_id)
    return {
        (producer, dag_id, asset)
        for dag_id, dag in dags.items()
        for asset in dag["schedule"].get("assets", [])
        for producer in producers.get(asset, ())
    }


def drawn_as(producer: str, consumer: str) -> tuple[str, str]:
    """How the README draws an edge: ods DAGs as one node, library DAGs and theme DAGs as one
    node each except where one library (or theme) waits for another."""
    link = any(producer.startswith(p) and consumer.startswith(p) for p in ("base__", "theme__"))
    groups = {"base__": "base__<library>", "theme__": "theme__<model>", "app__": "app__<name>"}

    def node(dag_id: str) -> str:
        if dag_id.startswith("ods__"):
            return "ods__<system>"
        group = next((g for p, g in groups.items() if dag_id.startswith(p)), None)
        return group if group and not link else dag_id

    return node(producer), node(consumer)


ARROW = re.compile(r"^\s*(\S+)\s+──►\s+(\S+)(?:\s+on\s+([a-z]+\.[a-z_]+))?")


def readme_night() -> list[tuple[str, str, str | None]]:
    """The arrows of the README's night diagram: (from DAG, to DAG, the asset it names)."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The night, end to end", 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```", 2)[1]
    return [m.groups() for line in diagram.splitlines() if (m := ARROW.match(line))]


def test_the_readme_night_diagram_draws_the_asset_edges_of_the_dags(project):
    edges = asset_edges(project["dags"])
    drawn = readme_night()
    assert {(a, b) for a, b, _ in drawn} == {drawn_as(p, c) for p, c, _ in edges}
    # Where the README names one asset between two named DAGs, the DAGs agree.
    for a, b, asset in drawn:
        if asset and "<" not in a + b:
            assert (a, b, asset) in edges
    # ezhou_nightly gates nothing: no DAG is scheduled on what it writes.
    assert not [e for e in edges if e[0] == "ezhou_nightly"]


def test_every_declared_task_names_a_job_and_description_that_take_its_arguments(project):
    import inspect

    from govlake.tasks import all_tasks, resolve

    tasks = all_tasks()
    declared = {(t.dag_id, t.task_id) for t in tasks}
    parsed = {(d, task) for d, dag in project["dags"].items() for task in dag["tasks"]}
    assert declared == parsed, "every Airflow task comes from a declaration, and only from one"
    for task in tasks:
        inspect.signature(resolve(task.job)).bind(*task.args, dt.date(2026, 11, 26), "run")
        if task.describe:
            inspect.signature(resolve(task.describe)).bind(None, *task.args)


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
    expected = len(list(SOURCES_DIR.glob("*.yaml"))) + 3 + len(LIBRARIES) + len(THEMES) + len(APPS)
    assert len(added["dags"]) == expected
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
