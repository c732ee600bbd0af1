"""The Spark session's settings that the nightly runs depend on for their cost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


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
    calls. If the setting stops applying, this fails. Py4J's own releases of garbage-collected
    Java objects may go down the same connection at any moment and are not counted."""
    from py4j.clientserver import ClientServerConnection
    from py4j.protocol import MEMORY_COMMAND_NAME
    from pyspark.sql import functions as F

    column = F.col("x")
    sent = []
    send = ClientServerConnection.send_command

    def counted(self, command):
        if not command.startswith(MEMORY_COMMAND_NAME):
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


def compiled_classes(spark) -> int:
    """How many classes Spark's code generator has compiled in this JVM (its own metric)."""
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics
    return metrics.METRIC_COMPILATION_TIME().getCount()


def test_the_test_rows_evaluate_queries_without_compiling_them(spark):
    """`code_generation: false` (the test rows) runs a new query without compiling any Java;
    the same query in a session with the local row's setting compiles. If Spark stops honouring
    the internal factory-mode flag, the first count moves and this fails."""
    import uuid

    from govlake.settings import load_settings
    from govlake.spark import spark_conf

    salt = uuid.uuid4().int % 1_000_003  # a query no earlier test compiled
    # No aggregate: a hash aggregate still compiles one small row joiner per shape (cached).
    query = f"SELECT id * {salt} + length(cast(id AS string)) AS s FROM range(50) WHERE id % 7 > 2"
    expected = [i * salt + len(str(i)) for i in range(50) if i % 7 > 2]
    before = compiled_classes(spark)
    assert [r["s"] for r in spark.sql(query).collect()] == expected
    assert compiled_classes(spark) == before
    compiling = spark.newSession()
    local = spark_conf(load_settings("local"))
    for key in ("spark.sql.codegen.wholeStage", "spark.sql.codegen.factoryMode"):
        compiling.conf.set(key, local[key])
    assert [r["s"] for r in compiling.sql(query).collect()] == expected
    assert compiled_classes(spark) > before


def test_evaluating_compiles_inside_and_restores_the_sessions_mode(spark):
    """`evaluating(spark, True)` compiles a new query in the test row's interpreted session;
    once the last of two overlapping holders leaves, the session's own mode is back and a new
    query compiles nothing again."""
    import uuid

    from govlake.spark import evaluating

    keys = ("spark.sql.codegen.wholeStage", "spark.sql.codegen.factoryMode")
    own = {key: spark.conf.get(key) for key in keys}
    assert own == {keys[0]: "false", keys[1]: "NO_CODEGEN"}

    def new_query() -> list[int]:
        salt = uuid.uuid4().int % 1_000_003
        sql = f"SELECT id * {salt} + length(cast(id AS string)) AS s FROM range(9) WHERE id > 2"
        return [r["s"] for r in spark.sql(sql).collect()]

    before = compiled_classes(spark)
    with evaluating(spark, False):
        with evaluating(spark, True):  # overlapping: the mode set last holds
            compiled = new_query()
            assert compiled_classes(spark) > before
        assert {key: spark.conf.get(key) for key in keys} != own  # one holder still inside
    assert {key: spark.conf.get(key) for key in keys} == own
    before = compiled_classes(spark)
    assert len(new_query()) == len(compiled) == 6
    assert compiled_classes(spark) == before


def test_asking_for_the_session_inside_evaluating_keeps_the_mode_it_chose(spark):
    """getOrCreate applies the builder's SQL settings to the running session: a job that gets
    its session again inside `evaluating` (a helper calling get_spark) must not undo the mode,
    and the session's own is back once the holder leaves."""
    from govlake.spark import code_generation_conf, evaluating, get_spark

    keys = tuple(code_generation_conf(True))
    own = {key: spark.conf.get(key) for key in keys}
    with evaluating(spark, True):
        assert get_spark() is spark
        assert {key: spark.conf.get(key) for key in keys} == code_generation_conf(True) != own
    assert {key: spark.conf.get(key) for key in keys} == own


def test_work_over_few_rows_is_evaluated_interpreted():
    """Below compile_from_rows a load, a library or a theme evaluates interpreted even where the
    row compiles, and an unknown size compiles; a row that never compiles (the test rows) never
    does, whatever the size."""
    from govlake.settings import load_settings

    local = load_settings("local")
    assert local.code_generation and local.compile_from_rows == 100_000
    assert not local.compiles(99_999)
    assert local.compiles(100_000)
    assert local.compiles(None)
    assert not load_settings("test").compiles(10_000_000)
    assert not load_settings("test").compiles(None)


def test_the_driver_jvm_collects_with_the_throughput_collector(spark):
    """The GC option reaches the running driver JVM (asked through its management beans), not
    only the conf dictionary: G1's collectors are named "G1 ...", the throughput one's "PS ..."."""
    jvm = spark.sparkContext._jvm
    beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    names = {beans.get(i).getName() for i in range(beans.size())}
    assert names == {"PS Scavenge", "PS MarkSweep"}, names


def test_the_driver_jvm_takes_methods_to_c2_later(spark):
    """The JIT thresholds reach the running driver JVM (asked through its HotSpot diagnostic
    bean): C2 takes a method after 15,000 calls, not the JVM's default 5,000."""
    jvm = spark.sparkContext._jvm
    bean_class = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(bean_class)
    assert bean.getVMOption("Tier4InvocationThreshold").getValue() == "15000"
    assert bean.getVMOption("Tier4BackEdgeThreshold").getValue() == "120000"


def test_the_driver_maps_this_machines_class_archive(spark, cfg):
    """The running driver maps the class archive of this Java and these Spark jars (written
    by make test, or by conftest when missing): the archive is among its mapped files."""
    from govlake.class_archive import archive_path

    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    mapped = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8")
    assert str(archive_path(cfg)) in mapped


def test_the_jvm_maps_an_archive_only_with_the_class_path_it_was_written_with(spark, cfg):
    """The JVM's own check (-Xshare:on), the one every driver start makes: the archive fits the
    driver's class path, and not that class path in another order."""
    from govlake.class_archive import archive_path, fits

    class_path = spark.sparkContext._jvm.java.lang.System.getProperty("java.class.path")
    assert fits(archive_path(cfg), class_path)
    assert not fits(archive_path(cfg), ":".join(reversed(class_path.split(":"))))


def test_an_archive_is_named_by_the_jars_it_was_written_for(tmp_path, cfg):
    """A changed jar (a Spark upgrade) or the same jars in another folder (another virtual
    environment) give another archive name, so a driver is never offered an archive that does
    not fit; with no archive written, a driver starts without one."""
    from govlake.class_archive import archive_path, driver_options

    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "spark-core.jar").write_bytes(b"PK")
    before = archive_path(cfg, tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("govlake.class_archive.spark_jars", lambda: jars)
        first = archive_path(cfg, tmp_path)
        (jars / "spark-core.jar").write_bytes(b"PK-upgraded")
        assert archive_path(cfg, tmp_path) != first
        upgraded = archive_path(cfg, tmp_path)
        copy = shutil.copytree(jars, tmp_path / "other-venv-jars")  # same names, sizes, times
        patch.setattr("govlake.class_archive.spark_jars", lambda: copy)
        assert archive_path(cfg, tmp_path) != upgraded
    assert archive_path(cfg, tmp_path) == before
    cfg = cfg.model_copy(update={"ivy_dir": tmp_path / "ivy"})
    assert driver_options(cfg) == ""
    archive_path(cfg).parent.mkdir(parents=True)
    archive_path(cfg).write_bytes(b"")
    assert driver_options(cfg) == f"-XX:SharedArchiveFile={archive_path(cfg)}"


def test_a_partial_archive_of_a_writer_that_stopped_is_removed(tmp_path):
    """A writer interrupted before its rename leaves a partial archive of about 200 MB: the
    next writer deletes it, but not the file of a writer still running (this process)."""
    from govlake.class_archive import remove_abandoned

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    abandoned = tmp_path / f"driver-0123456789abcdef.{ended.stdout.strip()}.tmp"
    running = tmp_path / f"driver-0123456789abcdef.{os.getpid()}.tmp"
    kept = tmp_path / "driver-0123456789abcdef.jsa"
    for path in (abandoned, running, kept):
        path.write_bytes(b"")
    assert remove_abandoned(tmp_path) == [abandoned]
    assert sorted(tmp_path.iterdir()) == sorted([running, kept])


def test_jars_resolved_once_are_reused_while_every_jar_exists(tmp_path, cfg):
    """Ivy resolution costs every driver start about 1.5 s: once the packages are resolved,
    their jars are passed as spark.jars; a changed package list or a missing jar resolves
    again."""
    from govlake.spark import remember_resolved_jars, with_resolved_jars

    cfg = cfg.model_copy(update={"ivy_dir": tmp_path / "ivy"})
    conf = {"spark.jars.packages": "g:a:1", "spark.jars.excludes": "g:x", "spark.master": "local"}
    assert with_resolved_jars(conf, cfg) == conf  # nothing resolved yet
    jars = [tmp_path / "g_a-1.jar", tmp_path / "g_b-2.jar"]
    for jar in jars:
        jar.write_bytes(b"PK")
    remember_resolved_jars(conf, ",".join(f"file://{j}" for j in jars), cfg)
    assert with_resolved_jars(conf, cfg) == {
        "spark.master": "local",
        "spark.jars": f"file://{jars[0]},file://{jars[1]}",
    }
    assert with_resolved_jars({**conf, "spark.jars.packages": "g:a:2"}, cfg)["spark.jars.packages"]
    jars[1].unlink()
    assert with_resolved_jars(conf, cfg) == conf  # a jar went missing: Ivy resolves again
    assert not list((tmp_path / "ivy").rglob("*.tmp"))


def test_the_functions_jar_never_replaces_the_jars_ivy_resolves(cfg, monkeypatch):
    """A first start (packages still to resolve) passes the lakehouse's function jar to
    spark-submit as --jars: a spark.jars in the conf would replace the list spark-submit merges
    with the resolved packages (a cluster's executors lacked Delta, and the list was never
    kept). A start from the kept jars adds it to spark.jars."""
    from govlake.jvm_functions import ensure_jar
    from govlake.spark import with_functions_jar

    jar = str(ensure_jar(cfg))
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    first = {"spark.jars.packages": "g:a:1", "spark.master": "local"}
    assert with_functions_jar(first, cfg) == (first, f"--jars {jar} pyspark-shell")
    kept = {"spark.jars": "file:///a.jar,file:///b.jar", "spark.master": "local"}
    conf, submit = with_functions_jar(kept, cfg)
    assert conf == {**kept, "spark.jars": f"file:///a.jar,file:///b.jar,{jar}"}
    assert submit == "pyspark-shell"
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 2g pyspark-shell")
    assert with_functions_jar(first, cfg)[1] == f"--jars {jar} --driver-memory 2g pyspark-shell"


def test_the_running_session_kept_the_jars_it_started_with(spark, cfg):
    """The session of this run started with the lakehouse's packages (resolved by Ivy) or with
    the jars kept from an earlier start; either way the list for the next start is kept, and
    it is the session's own class path of Delta (and the lakehouse's function jar)."""
    from govlake.jvm_functions import jar_path
    from govlake.spark import spark_conf, with_resolved_jars

    reused = with_resolved_jars(spark_conf(cfg), cfg)
    assert "spark.jars.packages" not in reused
    jars = reused["spark.jars"].split(",")
    assert any("delta-spark" in j for j in jars)
    session = set(spark.sparkContext.getConf().get("spark.jars").split(","))
    # The lakehouse's own functions are added at every start, never kept as resolved.
    ours = {j for j in session if j.endswith(jar_path(cfg).name)}
    assert len(ours) == 1
    assert set(jars) == session - ours
