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
