"""The Spark session's settings that the nightly runs depend on for their cost."""

from __future__ import annotations


def test_a_small_append_commits_without_rebuilding_the_file_list(spark, tmp_path):
    """Delta forces a file-list check after every commit in a non-UTC session; govlake turns
    it off (govlake/spark.py). If a Delta upgrade renames the internal flag, this fails: each
    append would again run 2 extra jobs."""
    tracker = spark.sparkContext.statusTracker()
    rows = spark.createDataFrame([(1, "a")], "k int, v string")
    path = str(tmp_path / "t")
    rows.write.format("delta").save(path)
    spark.sparkContext.setJobGroup("append-probe", "one small append")
    try:
        rows.write.format("delta").mode("append").save(path)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert spark.conf.get("spark.sql.session.timeZone") != "UTC"
    assert len(tracker.getJobIdsForGroup("append-probe")) == 1
    assert spark.read.format("delta").load(path).count() == 2


def test_a_column_operation_is_one_jvm_call(spark, monkeypatch):
    """PySpark's call-site capture for DataFrame error context costs 10 extra JVM round trips
    per Column operation; govlake turns it off, so a suite's rules build in under half the
    calls. If the setting stops applying, this fails."""
    from py4j.clientserver import ClientServerConnection
    from pyspark.sql import functions as F

    column = F.col("x")
    sent = []
    send = ClientServerConnection.send_command

    def counted(self, command):
        sent.append(command)
        return send(self, command)

    monkeypatch.setattr(ClientServerConnection, "send_command", counted)
    column.isNull()
    assert len(sent) == 1, sent


def test_each_settings_row_decides_adaptive_execution(spark):
    """`adaptive_execution` of a settings row becomes spark.sql.adaptive.enabled: the test row
    turns it off (planning costs more than it saves on a few rows), the local row keeps Spark's
    default on. The running session is checked, not only the dictionary."""
    from govlake.settings import load_settings
    from govlake.spark import spark_conf

    assert spark.conf.get("spark.sql.adaptive.enabled") == "false"
    assert spark_conf(load_settings("test"))["spark.sql.adaptive.enabled"] == "false"
    assert spark_conf(load_settings("local"))["spark.sql.adaptive.enabled"] == "true"
