"""benchmarks.night: how a night's processes, phases and bytes are counted for the sizing note."""

from __future__ import annotations

import pytest

from benchmarks.night import databases_bytes, night_command, phases, role_of

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
