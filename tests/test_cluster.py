"""A load of the night on a Spark standalone cluster started here (settings row cluster-local).

A master and two workers (govlake.cluster) run on free ports; `govlake load psb_hukou --table
hj_resident` (the job of the ods__psb_hukou DAG's load task) runs in its own process against
them, so its executors are JVMs on the workers reading the department's SQLite database over
JDBC (the driver shipped them the jars) and writing Delta. The test session's shared local
Spark stays untouched.

Checked against the sample generator's own output, not the code under test: every row of the
department table is in ods, once; and the application's event log shows executors on both
workers, each having finished tasks.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

PERSONS = 300
DAY = dt.date(2026, 11, 26)
SYSTEM = "psb_hukou"
TABLE, KEY = "hj_resident", "rec_id"  # conf/sources/psb_hukou.yaml


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster-local row on a free master port, its folders in the test's own home; the
    sample sources are written while the master and workers start."""
    from govlake.cluster import LocalCluster, free_port
    from govlake.sample import generate_sources
    from govlake.settings import load_settings

    home = tmp_path_factory.mktemp("cluster")
    cfg = load_settings("cluster-local").model_copy(
        update={
            "spark_master": f"spark://127.0.0.1:{free_port('127.0.0.1')}",
            "spark_event_log": str(home / "events"),
            "lakehouse": home / "lakehouse",
            "sources_root": home / "sources",
            "airflow_home": home / "airflow",
        }
    )
    with ThreadPoolExecutor(1) as pool:
        generated = pool.submit(generate_sources, cfg.sources_root, PERSONS, DAY)
        with LocalCluster(cfg, home / "cluster") as running:
            generated.result()
            yield running


def driver_env(cluster) -> dict[str, str]:
    cfg = cluster.cfg
    env = {
        **os.environ,
        **cluster.client_env(),
        "GOVLAKE_ENV": "cluster-local",
        "GOVLAKE_LAKEHOUSE": str(cfg.lakehouse),
        "GOVLAKE_SOURCES": str(cfg.sources_root),
        "GOVLAKE_SPARK_EVENT_LOG": cfg.spark_event_log,
        "AIRFLOW_HOME": str(cfg.airflow_home),
    }
    env.pop("GOVLAKE_SOURCES_DIR", None)
    return env


def source_keys(cluster) -> Counter:
    """The primary keys of the department table as the generator wrote them (its SQLite file)."""
    db = cluster.cfg.sources_root / f"{SYSTEM}.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return Counter(r[0] for r in conn.execute(f"SELECT {KEY} FROM {TABLE}"))


def ods_keys(cluster) -> Counter:
    from govlake.lakehouse import Table, query_without_jvm

    rows = query_without_jvm(
        f"SELECT {KEY} AS k, _batch_date FROM t",
        {"t": Table("ods", f"{SYSTEM}__{TABLE}")},
        cluster.cfg,
    )
    assert rows is not None, f"ods.{SYSTEM}__{TABLE} was not written"
    assert {r["_batch_date"] for r in rows} == {DAY}
    return Counter(r["k"] for r in rows)


@pytest.mark.slow
def test_a_load_on_the_cluster_lands_every_row_with_executors_on_both_workers(cluster):
    from govlake.cluster import application_logs, executor_work

    started = time.monotonic()
    command = [sys.executable, "-m", "govlake.cli", "load", SYSTEM, "--table", TABLE]
    command += ["--date", str(DAY)]
    # Generous: at a load average of 20 on 2 cores both psb_hukou tables took over 5 minutes.
    done = subprocess.run(
        command, env=driver_env(cluster), capture_output=True, text=True, timeout=900
    )
    print(f"govlake load on the cluster: {time.monotonic() - started:.1f}s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    expected = source_keys(cluster)
    assert sum(expected.values()) >= PERSONS  # every resident, and the planted duplicate
    assert ods_keys(cluster) == expected

    state = cluster.state()
    (app,) = state["completedapps"]
    assert app["state"] == "FINISHED", app
    (log,) = application_logs(cluster.cfg, state, since_ms=0)
    work = executor_work(log, state["workers"])
    print("executors:", work)
    workers = {w["id"] for w in state["workers"]}
    assert len(workers) == 2
    # Each worker ran an executor that finished tasks (the JDBC reads and Delta writes).
    assert {e["worker"] for e in work if e["tasks"] > 0} == workers, work
    assert all(e["failed"] == 0 for e in work), work


def test_a_master_that_is_down_is_named_before_spark_starts():
    """Issue 18's "master down at start": a clear message at once, not Spark's retries."""
    from govlake.cluster import free_port
    from govlake.errors import GovlakeError
    from govlake.settings import load_settings
    from govlake.spark import check_master

    master = f"spark://127.0.0.1:{free_port('127.0.0.1')}"
    cfg = load_settings("cluster-local").model_copy(update={"spark_master": master})
    with pytest.raises(GovlakeError, match=f"the Spark master {master} does not answer"):
        check_master(cfg)
    check_master(load_settings("local"))  # local[2]: nothing to reach


def test_every_settings_row_names_every_field():
    """Environments differ by one row: a field a row leaves out would silently take the class
    default there (e.g. a cluster row without executor sizing), so every row names them all."""
    from govlake.conffile import read_yaml
    from govlake.settings import PROJECT_ROOT, Settings, load_settings

    rows = read_yaml(PROJECT_ROOT / "conf" / "settings.yaml")
    fields = set(Settings.model_fields) - {"env"}
    assert {"local", "cluster-local", "cluster", "test"} <= set(rows)
    assert {env: sorted(fields - set(row)) for env, row in rows.items()} == dict.fromkeys(rows, [])
    for env in rows:
        load_settings(env)  # and each row is valid
