"""benchmarks.night: how a night's processes, phases and bytes are counted for the sizing note."""

from __future__ import annotations

import os

import pytest

from benchmarks.night import (
    compared,
    databases_bytes,
    night_command,
    pair_order,
    phases,
    role_of,
    task_seconds,
)

JAVA = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -cp /x/jars/* -Xmx1536M"


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (
            f"{JAVA} org.apache.spark.executor.CoarseGrainedExecutorBackend --driver-url x",
            "executor",
        ),
        (f"{JAVA} org.apache.spark.deploy.SparkSubmit pyspark-shell", "driver JVM"),
        (f"{JAVA} org.apache.spark.deploy.master.Master --host 127.0.0.1", "master+workers"),
        (f"{JAVA} org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7177", "master+workers"),
        ("/work/main/.venv/bin/python -m govlake.cli demo", "python"),
        ("/usr/bin/sqlite3", "other"),
    ],
)
def test_each_process_is_sized_in_its_role(cmdline, role):
    assert role_of(cmdline.split()) == role


def test_phases_add_up_to_the_wall_time_with_the_rest_outside_dags():
    night = {
        "seconds": 100.0,
        "dags": [
            {"dag_id": "ods__psb_hukou", "seconds": 20.0},
            {"dag_id": "ods__nhc_vital", "seconds": 10.0},
            {"dag_id": "ezhou_nightly", "seconds": 5.0},
            {"dag_id": "base__population", "seconds": 30.0},
            {"dag_id": "theme__credit", "seconds": 8.0},
            {"dag_id": "app__pension_check", "seconds": 4.0},
            {"dag_id": "ezhou_ledger", "seconds": 3.0},
        ],
    }
    assert phases(night) == {
        "ods": 30.0,
        "libraries": 30.0,
        "themes": 8.0,
        "apps": 4.0,
        "nightly+ledger": 8.0,
        "outside DAGs": 20.0,
    }


def test_bytes_are_counted_per_database_folder(tmp_path):
    (tmp_path / "ods" / "t" / "_delta_log").mkdir(parents=True)
    (tmp_path / "ods" / "t" / "part-0.parquet").write_bytes(b"x" * 300)
    (tmp_path / "ods" / "t" / "_delta_log" / "0.json").write_bytes(b"y" * 20)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "p.parquet").write_bytes(b"z" * 7)
    assert databases_bytes(tmp_path) == {"base": 7, "ods": 320}
    assert databases_bytes(tmp_path / "missing") == {}


def test_a_profile_with_local_workers_runs_inside_the_cluster_it_starts(tmp_path):
    local = night_command("local", 10, tmp_path / "r.json")
    cluster = night_command("cluster-local", 10, tmp_path / "r.json")
    assert local[1:4] == ["-m", "govlake.cli", "demo"] and "--report" in local
    assert cluster[1:5] == ["-m", "govlake.cluster", "run", "--"] and cluster[5:] == local


def test_pairs_of_nights_put_each_side_first_in_half_of_them():
    assert pair_order(1) == ["base", "head"]
    assert pair_order(2) == ["base", "head", "head", "base"]
    assert pair_order(3)[4:] == ["base", "head"]


def _night(side: str, wall: float, ods: float) -> dict:
    return {"side": side, "seconds": wall, "dags": [{"dag_id": "ods__x", "seconds": ods}]}


def test_a_comparison_is_the_mean_of_each_side_and_heads_over_bases():
    nights = [_night("base", 100, 40), _night("head", 90, 30), _night("head", 110, 34),
              _night("base", 120, 44)]  # fmt: skip
    c = compared(nights)
    assert c["nights"] == 4
    assert (c["base"]["wall"], c["head"]["wall"], c["ratio"]["wall"]) == (110.0, 100.0, 0.909)
    assert (c["base"]["ods"], c["head"]["ods"], c["ratio"]["ods"]) == (42.0, 32.0, 0.762)
    assert c["ratio"]["themes"] is None  # no theme ran on either side


def test_a_baseline_runs_from_its_own_worktree_with_this_checkouts_cache(tmp_path, monkeypatch):
    import subprocess

    import benchmarks.night as night

    repo = tmp_path / "repo"
    (repo / ".cache").mkdir(parents=True)
    (repo / "code.py").write_text("WHICH = 'old'\n")

    def git(*args: str) -> str:
        ident = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
        done = subprocess.run(["git", *ident, *args], cwd=repo, check=True, capture_output=True)
        return done.stdout.decode().strip()

    git("init", "-q")
    git("add", "code.py")
    git("commit", "-qm", "old")
    old = git("rev-parse", "HEAD")
    (repo / "code.py").write_text("WHICH = 'new'\n")
    git("commit", "-qam", "new")
    monkeypatch.setattr(night, "PROJECT_ROOT", repo)
    monkeypatch.setattr(night, "WORK", tmp_path / "work")

    folder, commit = night.baseline_checkout("HEAD~1")
    assert commit == old and (folder / "code.py").read_text() == "WHICH = 'old'\n"
    assert (folder / ".cache").resolve() == (repo / ".cache").resolve()
    assert night.baseline_checkout(old) == (folder, old)  # made once, then reused
    env = night.code_of(folder)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(folder)
    assert env["GOVLAKE_HOME"] == str(folder)
    with pytest.raises(SystemExit, match="no-such-rev"):
        night.baseline_checkout("no-such-rev")


def test_task_seconds_come_from_the_nights_airflow_database(tmp_path):
    import sqlite3

    database = tmp_path / "airflow.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE task_instance (dag_id, task_id, state, duration)")
        db.executemany("INSERT INTO task_instance VALUES (?, ?, ?, ?)", [
            ("ods__x", "load_a", "success", 4.04), ("ods__x", "load_b", "failed", 1.0),
            ("base__p", "build_p", "success", 30.26),
        ])  # fmt: skip
    assert task_seconds(database) == [
        {"dag_id": "base__p", "task_id": "build_p", "seconds": 30.3},
        {"dag_id": "ods__x", "task_id": "load_a", "seconds": 4.0},
    ]
    assert task_seconds(tmp_path / "none.db") == []  # PostgreSQL-backed rows keep none here
