"""End to end: `govlake demo` at a small size, through real Airflow DAG runs, twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govlake.settings import PROJECT_ROOT

PERSONS = 1500


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


def run_demo(home: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GOVLAKE_LAKEHOUSE": str(home / "lakehouse"),
        "GOVLAKE_SOURCES": str(home / "sources"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "COLUMNS": "200",
    }
    env.pop("GOVLAKE_SOURCES_DIR", None)
    command = [sys.executable, "-m", "govlake.cli", "demo", "--persons", str(PERSONS)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


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


@pytest.mark.slow
def test_demo_collects_every_source_balanced_and_reruns_unchanged(spark, demo_home):
    first = run_demo(demo_home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
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
            assert run["rows_read"] == truth["rows"], (system, table)
            assert run["rows_rejected"] == truth["defects"].get("unparseable_row", 0)
    copied = [r for r in runs.values() if r["mode"] == "physical"]
    assert sum(r["rows_rejected"] for r in copied) > 0, "the sample has unparseable rows"
    landing = spark.read.format("delta").load(str(demo_home / "lakehouse/ops/nightly_landing"))
    assert landing.where("landed").count() == len(runs)
    builds = library_runs(spark, demo_home)
    assert {b["library"] for b in builds} == {"population", "legal_entity", "certificate"}
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

    second = run_demo(demo_home)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert all(b["changed_keys"] == 0 for b in library_runs(spark, demo_home)[-len(builds) :])
    again = latest_runs(spark, demo_home)
    for name, run in again.items():
        assert run["status"] in ("unchanged", "registered"), name
        assert run["rows_written"] == runs[name]["rows_written"]
        assert run["delta_version"] == runs[name]["delta_version"]
