"""Concurrency on one lakehouse: an analyst reading a table being loaded, two runs of one load
at once, and a library build while its input is reloaded. Delta's conflict rules decide."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from jobs.ingest import load_table

DAY = dt.date(2026, 11, 25)
# The two contents of the day's file that the loads alternate between: level and row count.
BATCHES = {"A": 300, "B": 500}


def ratings(n: int, level: str) -> list[tuple[str, str]]:
    return [(f"9142070000000{i:04d}X", level) for i in range(n)]


def write_ratings(path, level: str) -> None:
    lines = ["纳税人识别号,信用级别", *[f"{u},{v}" for u, v in ratings(BATCHES[level], level)]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def test_an_analyst_queries_the_table_a_load_is_writing(spark, tax_source, tmp_path):
    """The analyst's Spark reads ods.conc__credit_rating while this process reloads the same
    day of it again and again (A: 300 rows, B: 500, each load one Delta commit replacing the
    day): the analyst sees one whole version, never a mix of the two or the day missing."""
    csv = tax_source("conc", ratings(BATCHES["A"], "A"), DAY)
    assert load_table("conc", "credit_rating", DAY, "run-0", spark)["rows_written"] == 300

    query = "SELECT credit_level, count(*) AS n FROM ods.conc__credit_rating GROUP BY credit_level"
    analyst = subprocess.Popen(
        [sys.executable, "-m", "govlake.cli", "sql", query, "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loads = 0
    # Keep loading until the analyst has answered, so its query runs while a load is under way.
    while analyst.poll() is None and loads < 30:
        level = "B" if loads % 2 == 0 else "A"
        write_ratings(csv, level)
        loaded = load_table("conc", "credit_rating", DAY, f"run-{loads + 1}", spark)
        assert loaded["rows_written"] == BATCHES[level] and loaded["balanced"], loaded
        loads += 1
    out, err = analyst.communicate(timeout=300)

    assert analyst.returncode == 0, err[-2000:]
    seen = json.loads(out)
    assert seen in ([{"credit_level": "A", "n": 300}], [{"credit_level": "B", "n": 500}]), seen
    assert loads < 30, "the analyst did not answer while the loads ran"
    assert not (tmp_path / "metastore_db").exists()


@pytest.mark.parametrize("existing", [False, True], ids=["new-table", "existing-table"])
def test_two_runs_of_the_same_load_for_the_same_date_at_once(spark, cfg, tax_source, existing):
    """Two triggers of the same source DAG for the same night (Airflow allows it by hand): both
    loads replace the same partition at once, by delta-rs (a small batch, Table.replace). When
    the table exists, the conflict check makes the later commit retry; when it is new, the
    later creation finds it created and replaces in it. Both runs end balanced and the day
    holds each row once."""
    from concurrent.futures import ThreadPoolExecutor

    from govlake.lakehouse import Table
    from jobs.ops import latest_runs

    system = f"twice_{int(existing)}"
    csv = tax_source(system, ratings(BATCHES["A" if existing else "B"], "A"), DAY)
    if existing:
        assert load_table(system, "credit_rating", DAY, "w", spark)["rows_written"] == 300
        write_ratings(csv, "B")
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(lambda r: load_table(system, "credit_rating", DAY, r, spark), ["x", "y"])
        )
    for run in runs:
        assert run["status"] in ("success", "unchanged") and run["balanced"], run
        assert run["rows_written"] == 500, run
    table = Table.parse(f"ods.{system}__credit_rating")
    day = table.read(spark, cfg).where(f"_batch_date = DATE'{DAY}'")
    assert day.count() == 500 and day.select("taxpayer_id").distinct().count() == 500
    assert latest_runs(spark, cfg, DAY)[table.qualified]["status"] != "abandoned"
    writes = table.history(spark, cfg).where("operation = 'WRITE'").orderBy("version").collect()
    assert all("delta-rs" in (w["engineInfo"] or "") for w in writes), writes
    # One creation: the other run's found the table created (never a second CREATE's commit).
    assert [w["operationParameters"].get("mode") for w in writes].count("ErrorIfExists") == 1


@pytest.fixture()
def people(source_dir, tmp_path, monkeypatch):
    """test_library's two-department library, declared for this module."""
    from test_library import People, declare_people

    lib = People("conc_people", "conc_police", "conc_hrss", tmp_path)
    return declare_people(lib, source_dir, tmp_path, monkeypatch)


def test_a_library_build_while_its_input_is_reloaded(spark, cfg, people):
    """The police input of the library is reloaded (alternating two deliveries of 6 and 7
    rows) while the library builds: the build reads one ods version, and the rows it counts
    in (standardized + quarantined) are exactly that version's rows of the batch, counted
    here by delta-rs at the version it recorded."""
    import threading

    from deltalake import DeltaTable
    from test_library import ENROLMENT, RESIDENTS, rid

    from govlake.lakehouse import Table

    people.deliver(spark, DAY, RESIDENTS, ENROLMENT)
    extra = [*RESIDENTS, f"7,{rid('42070219770707123')},新人,1,19770707,2026-01-03"]
    resident = people.folder / people.police / f"resident_{DAY:%Y%m%d}.csv"
    done = threading.Event()
    reloads = []

    def reload():
        while not done.is_set() and len(reloads) < 20:
            rows = extra if len(reloads) % 2 == 0 else RESIDENTS
            resident.write_text("\n".join(rows) + "\n", encoding="utf-8")
            reloads.append(load_table(people.police, "resident", DAY, f"re-{len(reloads)}", spark))

    loader = threading.Thread(target=reload)
    loader.start()
    try:
        built = people.build(spark, DAY, "build-during-reload", full=True)
    finally:
        done.set()
        loader.join()
    assert reloads and all(r["balanced"] for r in reloads)
    police = next(i for i in built["inputs"] if i["input"] == "police")
    ods = Table.parse(f"ods.{people.police}__resident")
    record = (
        spark.table("ops.library_runs")
        .where("run_id = 'build-during-reload' AND input = 'police'")
        .first()
    )
    at = DeltaTable(ods.location(cfg), version=record["ods_version"]).to_pyarrow_table()
    assert police["rows_in"] == at.num_rows in (len(RESIDENTS) - 1, len(extra) - 1), police
    assert record["rows_in"] == record["standardized"] + record["quarantined"]
