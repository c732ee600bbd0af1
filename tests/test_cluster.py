"""The cluster-local settings row and its guard (the night on the cluster: tests/test_demo_e2e.py).

The end-to-end test runs the demo's first night on a standalone master and two workers
(govlake.cluster) and checks, from the event log, executors on both workers; here the checks
that need no cluster: a master that is down is named at once, and every settings row names
every field.
"""

from __future__ import annotations

import pytest


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


def test_a_master_answering_an_empty_body_while_starting_is_waited_for(monkeypatch, tmp_path):
    """The master's /json answered once with an empty body (JSONDecodeError) while its web UI
    started: the start waits for it as for a refused connection, instead of failing."""
    import json

    from govlake.cluster import LocalCluster
    from govlake.settings import load_settings

    answers = iter([OSError("refused"), json.JSONDecodeError("Expecting value", "", 0)])

    def workers(self):
        answer = next(answers, None)
        if answer is not None:
            raise answer
        return [{"id": "w1", "state": "ALIVE"}, {"id": "w2", "state": "ALIVE"}]

    monkeypatch.setattr(LocalCluster, "workers", workers)
    monkeypatch.setattr("govlake.cluster.time.sleep", lambda _: None)
    cluster = LocalCluster(load_settings("cluster-local"), tmp_path)
    cluster._wait_for_workers()  # returns once both workers are listed
    assert next(answers, "drained") == "drained"


def test_event_logs_are_read_compressed_or_plain(tmp_path):
    """The session writes zstd event logs (govlake.spark); the cluster's work is read from them
    frame by frame, as from the plain JSON lines of an older log, and an executor on another
    host:port than a worker's web UI is still listed."""
    import json

    import zstandard

    from govlake.cluster import executor_work

    events = [
        {
            "Event": "SparkListenerExecutorAdded",
            "Executor ID": "0",
            "Executor Info": {
                "Host": "127.0.0.1",
                "Total Cores": 1,
                "Log Urls": {"stdout": "http://127.0.0.1:8091/logPage/?appId=a&executorId=0"},
            },
        },
        {"Event": "SparkListenerTaskEnd", "Task Info": {"Executor ID": "0", "Failed": False}},
        {"Event": "SparkListenerTaskEnd", "Task Info": {"Executor ID": "0", "Failed": True}},
        {"Event": "SparkListenerTaskEnd", "Task Info": {"Executor ID": "driver", "Failed": False}},
    ]
    lines = [json.dumps(e) + "\n" for e in events]
    workers = [{"id": "worker-1", "webuiaddress": "http://127.0.0.1:8091"}]
    expected = [{"executor": "0", "worker": "worker-1", "cores": 1, "tasks": 1, "failed": 1}]
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.mkdir(), packed.mkdir()
    (plain / "events_1_app").write_text("".join(lines[:2]), encoding="utf-8")
    (plain / "events_2_app").write_text("".join(lines[2:]), encoding="utf-8")
    # Two files, the second of two zstd frames: a rolled log written in several flushes.
    compress = zstandard.ZstdCompressor().compress
    (packed / "events_1_app.zstd").write_bytes(compress("".join(lines[:2]).encode()))
    (packed / "events_2_app.zstd").write_bytes(
        compress(lines[2].encode()) + compress(lines[3].encode())
    )
    assert executor_work(plain, workers) == expected
    assert executor_work(packed, workers) == expected
