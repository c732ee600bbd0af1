"""End to end: `govlake demo` at a small size, through real Airflow DAG runs, twice.

The first night runs on a Spark standalone cluster started here (settings row test-cluster: the
cluster-local row, a master and two workers by govlake.cluster, tuned for a few rows per table
as the test row tunes local), the rerun in local mode (the test row): the rerun
finding every table unchanged is the proof that both profiles give the same tables (issue 18),
and the first night's event log shows executors on both workers doing its work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from govlake.settings import PROJECT_ROOT

PERSONS = 1500


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


def demo_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "GOVLAKE_LAKEHOUSE": str(home / "lakehouse"),
        "GOVLAKE_SOURCES": str(home / "sources"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "COLUMNS": "200",
    }
    env.pop("GOVLAKE_SOURCES_DIR", None)
    return env


def run_demo(
    home: Path, extra_env: dict[str, str] | None = None, report: Path | None = None
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "govlake.cli", "demo", "--persons", str(PERSONS)]
    command += ["--report", str(report)] if report else []
    env = demo_env(home) | (extra_env or {})
    # Generous: a night of 35 DAGs at a load average above 10 on 2 cores took over 15 minutes.
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)


def cluster_night(home: Path) -> tuple[subprocess.CompletedProcess, list[dict], list[dict]]:
    """The demo on the cluster row of the suite (test-cluster): a master and two workers on
    free ports, the night's one application on them. Returns the run, the workers and each
    executor's finished tasks."""
    from govlake.cluster import LocalCluster, application_logs, executor_work, free_port
    from govlake.settings import load_settings

    cfg = load_settings("test-cluster").model_copy(
        update={
            "spark_master": f"spark://127.0.0.1:{free_port('127.0.0.1')}",
            "spark_event_log": str(home / "spark-events"),
        }
    )
    with LocalCluster(cfg, home / "cluster") as cluster:
        env = cluster.client_env() | {
            "GOVLAKE_ENV": "test-cluster",
            "GOVLAKE_SPARK_EVENT_LOG": cfg.spark_event_log,
        }
        done = run_demo(home, env)
        state = cluster.state()
        work = [executor_work(log, state["workers"]) for log in application_logs(cfg, state, 0)]
    return done, state["workers"], [row for rows in work for row in rows]


# What a user or the data office runs after a night; none of it asked for raw data.
OUTPUT_COMMANDS = (
    ("sources",),
    ("quality",),
    ("conflicts",),
    ("share", "list"),
    ("open", "list"),
    ("sandbox", "releases"),
    ("quality", "feedback", "--department", "市税务局"),
)


def command_outputs(home: Path) -> dict[str, str]:
    outputs = {}
    for args in OUTPUT_COMMANDS:
        command = [sys.executable, "-m", "govlake.cli", *args]
        done = subprocess.run(command, env=demo_env(home), capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        outputs[f"govlake {' '.join(args)}"] = done.stdout + done.stderr
    return outputs


def assert_nothing_leaks(spark, home: Path, outputs: dict[str, str]) -> None:
    """Issue 17 item 4: no identity number, representative's number or sole trader's USCC of
    the base libraries appears outside the graded stores (tests/leaks.py says which those are):
    not in a file, a non-graded Delta table, nor any command's output."""
    import leaks

    from govlake.settings import settings

    identifiers = leaks.personal_identifiers(spark, home / "lakehouse")
    assert len(identifiers) > PERSONS  # residents and sole traders: the check has something to find
    assert leaks.file_leaks(home, identifiers, artifacts=settings().ivy_dir / "jars") == {}
    assert leaks.table_leaks(spark, home, identifiers) == {}
    assert leaks.text_leaks(outputs | command_outputs(home), identifiers) == {}


def assert_report_lists_the_night(report: dict, first_stdout: str) -> None:
    """`govlake demo --report`: every DAG the first night printed, each a success, in local mode."""
    printed = re.findall(r"^\[\d+/\d+\] (\S+): ", first_stdout, flags=re.M)
    assert report["ok"] is True and report["persons"] == PERSONS
    assert report["env"] == "test" and report["spark_master"].startswith("local[")
    assert [d["dag_id"] for d in report["dags"]] == printed and len(printed) > 30
    assert {d["state"] for d in report["dags"]} == {"success"}
    assert all(d["seconds"] > 0 for d in report["dags"])


def latest_runs(spark, home: Path) -> dict[str, dict]:
    runs = spark.read.format("delta").load(str(home / "lakehouse" / "ops" / "load_runs"))
    latest: dict[str, dict] = {}
    for row in runs.orderBy("finished_at").collect():
        latest[row["ods_table"]] = row.asDict()
    return latest


def library_runs(spark, home: Path) -> list[dict]:
    runs = spark.read.format("delta").load(str(home / "lakehouse" / "ops" / "library_runs"))
    return [r.asDict() for r in runs.orderBy("finished_at").collect()]


def assert_libraries_match_ground_truth(spark, home: Path) -> None:
    """Every row the generator broke is quarantined, every conflict it planted is recorded,
    and nothing else: compared row by row with defects.jsonl."""
    from govlake.libraries import load_libraries
    from govlake.sample import truth
    from govlake.sample.manifest import read_defect_rows
    from govlake.settings import settings

    cfg = settings().model_copy(
        update={"lakehouse": home / "lakehouse", "sources_root": home / "sources"}
    )
    defects = read_defect_rows(cfg.sources_root)
    planted = 0
    for lib in load_libraries():
        quarantined = truth.expected_quarantine(spark, cfg, lib, defects)
        assert truth.recorded_quarantine(spark, cfg, lib) == quarantined, lib.library
        conflicting = truth.expected_conflicts(spark, cfg, lib, defects)
        assert truth.recorded_conflicts(spark, cfg, lib) == conflicting, lib.library
        planted += len(quarantined) + len(conflicting)
    assert planted > 10


def assert_ledger_published(spark, home: Path) -> None:
    """The night ends with the catalog, quality results, department workbooks and the site."""
    lake = home / "lakehouse"
    resources = spark.read.format("delta").load(str(lake / "catalog/resources"))
    entries = list((PROJECT_ROOT / "conf" / "catalog").glob("*.yaml"))
    assert resources.where("is_current").count() == len(entries)
    results = spark.read.format("delta").load(str(lake / "quality/results"))
    validated = {r["table"] for r in results.select("table").distinct().collect()}
    assert {"ods.psb_hukou__hj_resident", "base.population"} <= validated
    workbooks = list((lake / "feedback").glob("*/*.xlsx"))
    assert "市公安局.xlsx" in {w.name for w in workbooks}
    assert (lake / "quality/data_docs/index.html").exists()
    assert (lake / "site/index.html").exists()
    assert_workbooks_match_manifest(spark, home)


def assert_warehouses_served(spark, home: Path) -> dict:
    """Issue 16: each application's warehouse holds its approved columns of the current rows its
    draw selects, masked as its principal sees them (govlake.masking's Python mask, the oracle),
    one approved request per draw, a delivery per table; the site lists the requests."""
    from govlake.masking import mask_value

    lake = home / "lakehouse"
    requests = spark.read.format("delta").load(str(lake / "share/requests")).collect()
    assert sorted((r["principal"], r["state"], r["delivery"]) for r in requests) == [
        ("city_governance_app", "approved", "warehouse"),
        ("health_app", "approved", "warehouse"),
    ]
    base = spark.read.format("delta").load(str(lake / "base/population")).where("_is_current")
    city = spark.read.format("delta").load(str(lake / "app_city_governance/base__population"))
    expected = base.where("division = '420704'").select("id_number", "name", "division")
    assert city.count() == expected.count() > 0 and set(city.columns) == set(expected.columns)
    masked = {mask_value("resident_id", r["id_number"]) for r in expected.collect()}
    assert {r["id_number"] for r in city.collect()} == masked
    health = spark.read.format("delta").load(str(lake / "app_health/base__population"))
    assert health.count() == base.count()
    deliveries = spark.read.format("delta").load(str(lake / "share/deliveries"))
    assert {r["state"] for r in deliveries.collect()} == {"delivered"}
    page = (lake / "site" / "requests.html").read_text(encoding="utf-8")
    assert all(r["request_id"] in page for r in requests)
    return {r["request_id"]: r["state"] for r in requests}


def assert_sandbox_released(spark, home: Path) -> str:
    """Issue 16: one noisy release of residents per district, ε spent once, exported; each
    released count near the true one (Laplace noise at ε 0.5), no group below k."""
    import csv

    lake = home / "lakehouse"
    releases = spark.read.format("delta").load(str(lake / "share/sandbox_releases")).collect()
    assert len(releases) == 1 and releases[0]["epsilon"] == 0.5
    base = spark.read.format("delta").load(str(lake / "base/population")).where("_is_current")
    truth = {r["division"]: r["count"] for r in base.groupBy("division").count().collect()}
    path = lake / "exports/sandbox/health_study" / f"{releases[0]['release_id']}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        released = {r["division"]: float(r["persons"]) for r in csv.DictReader(handle)}
    assert released and set(released) <= set(truth)
    assert all(abs(released[d] - truth[d]) <= 40 for d in released), (released, truth)
    return releases[0]["release_id"]


def assert_workbooks_match_manifest(spark, home: Path) -> None:
    """Per department, table and defect kind, the problems fed back equal the planted ones."""
    import datetime as dt

    from govlake.settings import settings
    from jobs.feedback.truth import actual_problems, compare, expected_problems

    cfg = settings().model_copy(update={"lakehouse": home / "lakehouse"})
    manifest = json.loads((home / "sources" / "manifest.json").read_text("utf-8"))
    night = dt.date.fromisoformat(manifest["logical_date"])
    rows = compare(expected_problems(manifest), actual_problems(spark, cfg, night))
    assert len(rows) > 10
    assert all(r["agrees"] for r in rows), [r for r in rows if not r["agrees"]]


def analyst_queries() -> dict[str, str]:
    """The analyst queries of libraries/themes/README.md by name (`<!-- query: name -->`)."""
    text = (PROJECT_ROOT / "libraries" / "themes" / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- query: (\w+) -->.*?```sql\n(.*?)```", text, re.S))


def on_views(sql: str, views: dict[str, str]) -> str:
    """The query with each theme table it names read from a view instead (sqlglot rewrite)."""
    import sqlglot
    from sqlglot import exp

    def bind(node):
        if isinstance(node, exp.Table) and f"{node.db}.{node.name}" in views:
            bound = exp.to_table(views[f"{node.db}.{node.name}"])
            bound.set("alias", node.args.get("alias"))
            return bound
        return node

    return sqlglot.parse_one(sql, read="spark").transform(bind).sql(dialect="spark")


def theme_versions(spark, home: Path) -> dict[str, int]:
    from govlake.themes import load_themes

    out = {}
    for theme in load_themes():
        path = home / "lakehouse" / "theme" / theme.theme
        history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg({"version": "max"})
        out[theme.table] = history.first()[0]
    return out


def assert_themes_match_generator(spark, home: Path) -> None:
    """Four README analyst queries, run on the demo's theme tables, give the answers the
    generator knows from its own records (govlake.sample.theme_truth), over the persons it wrote
    without a defect in any table (what becomes of a broken row is checked above)."""
    import datetime as dt

    from govlake.sample import theme_truth
    from govlake.themes import get_theme
    from jobs.theme import runnable_sql, view_name

    manifest = json.loads((home / "sources" / "manifest.json").read_text("utf-8"))
    truth = theme_truth.social_security_truth(home / "sources")
    assert len(truth) > manifest["persons"] * 0.8  # few persons are left out
    ids = spark.createDataFrame([(p.id_number,) for p in truth], "id_number string")
    lake = home / "lakehouse" / "theme"
    views = {}
    for name in ("social_security", "person_profile"):
        rows = spark.read.format("delta").load(str(lake / name))
        assert rows.join(ids, "id_number", "left_semi").count() == len(truth), name
        rows.join(ids, "id_number", "left_semi").createOrReplaceTempView(f"clean_{name}")
        views[f"theme.{name}"] = f"clean_{name}"
    # Coverage reads the per-district model: that model's SQL, run over the same persons.
    by_district = get_theme("social_security_by_district")
    spark.table("clean_social_security").createOrReplaceTempView(view_name("theme.social_security"))
    night = dt.date.fromisoformat(manifest["logical_date"])
    spark.sql(runnable_sql(by_district, night)).createOrReplaceTempView("clean_by_district")
    views["theme.social_security_by_district"] = "clean_by_district"

    def answer(name: str) -> list:
        return [r.asDict() for r in spark.sql(on_views(analyst_queries()[name], views)).collect()]

    coverage = {r.pop("division"): r for r in answer("coverage")}
    for row in coverage.values():  # a double or a decimal, as Spark types the division
        share = row["pension_coverage"]
        row["pension_coverage"] = None if share is None else float(share)
    assert coverage == theme_truth.coverage_by_district(truth)
    gap = {r["division"]: r["persons"] for r in answer("working_age_gap")}
    assert gap == theme_truth.working_age_gap_by_district(truth) and sum(gap.values()) > 10
    medical = {r["division"]: r["persons"] for r in answer("medical_not_social")}
    assert medical == theme_truth.medical_not_social_by_district(truth)
    assert sum(medical.values()) > 10
    after_death = {(r["id_number"], r["death_date"]) for r in answer("after_death")}
    assert after_death == {(p.id_number, p.death_date) for p in truth if p.enrolled_after_death}


@pytest.mark.slow
def test_demo_collects_every_source_balanced_and_reruns_unchanged(spark, demo_home):
    first, workers, executors = cluster_night(demo_home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # The night ran on the cluster: executors on both workers finished tasks, none failed.
    assert len(workers) == 2
    assert {e["worker"] for e in executors if e["tasks"] > 0} == {w["id"] for w in workers}
    assert all(e["failed"] == 0 for e in executors), executors
    assert "balanced" in first.stdout and "NOT balanced" not in first.stdout
    runs = latest_runs(spark, demo_home)
    manifest = json.loads((demo_home / "sources" / "manifest.json").read_text("utf-8"))
    for system, tables in manifest["sources"].items():
        for table, truth in tables.items():
            run = runs[f"ods.{system}__{table}"]
            if run["mode"] == "logical":
                # Never copied: the rows validated in place are read, nothing is written.
                assert run["status"] == "registered" and run["source_rows"] == truth["rows"]
                assert run["balance"] == "n/a (logical, not copied)" and run["balanced"] is None
                assert run["rows_read"] == truth["rows"] and run["rows_written"] is None
                continue
            assert run["status"] == "success" and run["balanced"]
            # A two-row .xls header's group row, and a form's title row above its header
            # (the 一套表 workbook), are read and dropped as titles (not data).
            above = (1 if truth["path"].endswith(".xls") else 0) + truth.get("title_rows", 0)
            assert (run["rows_dropped"] or 0) == above, (system, table)
            assert run["rows_read"] == truth["rows"] + above, (system, table)
            assert run["rows_rejected"] == truth["defects"].get("unparseable_row", 0)
    copied = [r for r in runs.values() if r["mode"] == "physical"]
    assert sum(r["rows_rejected"] for r in copied) > 0, "the sample has unparseable rows"
    landing = spark.read.format("delta").load(str(demo_home / "lakehouse/ops/nightly_landing"))
    assert landing.where("landed").count() == len(runs)
    builds = library_runs(spark, demo_home)
    assert {b["library"] for b in builds} == {
        "population",
        "legal_entity",
        "certificate",
        "natural_resources",
        "economy",
    }
    assert all(b["balanced"] and b["keys"] > 0 for b in builds)
    assert sum(b["quarantined"] for b in builds) > 0 and "Base libraries" in first.stdout
    assert_libraries_match_ground_truth(spark, demo_home)
    events = spark.read.format("delta").load(str(demo_home / "lakehouse/lineage/events"))
    kinds = {(r["job_name"], r["event_type"]) for r in events.collect()}
    assert {k for j, k in kinds if j == "base__population.build_population"} == {
        "START",
        "COMPLETE",
    }
    assert {j for j, k in kinds if k == "START"} == {j for j, k in kinds if k == "COMPLETE"}
    assert "vs the generator's defects.jsonl: agree" in first.stdout
    assert_ledger_published(spark, demo_home)
    assert "Theme libraries" in first.stdout
    assert_themes_match_generator(spark, demo_home)
    themes = theme_versions(spark, demo_home)
    requests = assert_warehouses_served(spark, demo_home)
    release = assert_sandbox_released(spark, demo_home)

    report_file = demo_home / "second-night.json"
    second = run_demo(demo_home, report=report_file)  # local mode: the cluster's tables, unchanged
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert_report_lists_the_night(json.loads(report_file.read_text()), first.stdout)
    assert all(b["changed_keys"] == 0 for b in library_runs(spark, demo_home)[-len(builds) :])
    again = latest_runs(spark, demo_home)
    for name, run in again.items():
        assert run["status"] in ("unchanged", "registered"), name
        assert run["rows_written"] == runs[name]["rows_written"]
        assert run["delta_version"] == runs[name]["delta_version"]
    assert theme_versions(spark, demo_home) == themes  # a rerun night commits nothing
    assert assert_warehouses_served(spark, demo_home) == requests  # nothing filed twice
    assert assert_sandbox_released(spark, demo_home) == release  # ε not spent again
    demo_outputs = {"first demo": first.stdout + first.stderr}
    assert_nothing_leaks(spark, demo_home, demo_outputs | {"second": second.stdout + second.stderr})
