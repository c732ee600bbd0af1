"""The lakehouse Spark session: Delta, JDBC drivers from Maven Central, tables by name.

Each session names the lakehouse's tables (govlake.lakehouse) in its own in-memory catalog, so
there is no shared metastore to lock: two Spark processes (two Airflow tasks, or a load and an
analyst) work side by side.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from govlake import class_archive, jvm_functions
from govlake.errors import GovlakeError
from govlake.lakehouse import Table, register_all, rows_estimate_without_jvm
from govlake.objectstore import hadoop_options, hadoop_secrets, uri_scheme
from govlake.settings import (
    PROJECT_ROOT,
    SCHEME_EXCLUDES,
    SCHEME_PACKAGES,
    SPARK_PACKAGES,
    Settings,
    settings,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# The throughput collector instead of G1 (the JVM's default) for the driver and executors:
# nights and tests are batch work on few cores, where G1's concurrent threads and barriers cost
# CPU that no pause goal repays. Measured on 2 cores (issue 19): tests/test_library.py 359 ->
# 334 s, tests/test_economy.py 170 / 151 -> 161 / 134 s.
JVM_GC = "-XX:+UseParallelGC"
# The JIT's optimizing compiler (C2) takes a method three times later than by default: after
# the interpreted expressions, the JIT was about 40% of a night JVM's CPU (benchmarks/README.md,
# eighth profile), most of it C2 compiling Spark's and Delta's own code for a few calls; what
# stays hot is still compiled. Measured on 2 cores: tests/test_economy.py 136 -> 125 s.
JVM_JIT = (
    "-XX:Tier4InvocationThreshold=15000 -XX:Tier4MinInvocationThreshold=2000 "
    "-XX:Tier4CompileThreshold=45000 -XX:Tier4BackEdgeThreshold=120000"
)


def spark_conf(cfg: Settings) -> dict[str, str]:
    """Spark properties of the lakehouse, also written out for spark-sql / pyspark users
    (no secrets: the object store's keys are added by get_spark alone)."""
    return {
        **_storage_conf(cfg),
        "spark.master": cfg.spark_master,
        "spark.driver.memory": cfg.driver_memory,
        "spark.jars.ivy": str(cfg.ivy_dir),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(cfg.lakehouse),
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.adaptive.enabled": str(cfg.adaptive_execution).lower(),
        "spark.sql.session.timeZone": cfg.timezone,
        **code_generation_conf(cfg.code_generation),
        # JDBC TEXT columns arrive as VARCHAR(0); keep them plain strings.
        "spark.sql.legacy.charVarcharAsString": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Department exports come in GBK / GB18030; Spark 4 only allows UTF-x without this.
        "spark.sql.legacy.javaCharsets": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        # With a session time zone other than UTC, Delta 4.4 rebuilds a small table's whole file
        # list from its log after every commit to check its own .crc bookkeeping (not the data):
        # 2 extra Spark jobs and 0.4-1.5 s per commit (Checksum.validateFileListAgainstCRC).
        # Checkpoints still run the check. Internal flag: tests/test_spark.py pins its effect.
        "spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled": "false",
        # upper() with the JVM's case mappings (Spark 3 behaviour): ICU's (SPARK-48681) differ
        # only in rare cases, none in our identifiers and codes, and loading ICU costs every
        # process ~2 s on its first upper() (the first validation's identifier checks).
        "spark.sql.icu.caseMappings.enabled": "false",
        # A library that declares a new attribute gains the column on its next MERGE.
        "spark.databricks.delta.schema.autoMerge.enabled": "true",
        # PySpark records the Python call site of every Column operation for error messages, at
        # 10 extra JVM round trips each: validating the largest table built its rule expressions
        # in ~7,500 calls instead of ~3,400. Our errors name the source, file and row themselves.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # On a cluster (ignored by local[n]): each executor's size, and how many the night
        # holds; spark.cores.max caps it on a standalone cluster that others share.
        "spark.executor.memory": cfg.executor_memory,
        "spark.executor.cores": str(cfg.executor_cores),
        "spark.executor.instances": str(cfg.executor_instances),
        "spark.cores.max": str(cfg.executor_cores * cfg.executor_instances),
        **_event_log(cfg),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.level=ERROR {JVM_GC} {JVM_JIT}",
        "spark.executor.extraJavaOptions": f"{JVM_GC} {JVM_JIT}",
    }


def _storage_conf(cfg: Settings) -> dict[str, str]:
    """The jars of the tables root's scheme (hadoop-aws only for s3a://) and S3A's options."""
    scheme = uri_scheme(cfg.tables_uri or "")
    conf = {"spark.jars.packages": ",".join((*SPARK_PACKAGES, *SCHEME_PACKAGES.get(scheme, ())))}
    if SCHEME_EXCLUDES.get(scheme):
        conf["spark.jars.excludes"] = ",".join(SCHEME_EXCLUDES[scheme])
    return {**conf, **hadoop_options(cfg)}


def code_generation_conf(compiled: bool) -> dict[str, str]:
    """Whole-stage code generation and compiled projections (Spark's defaults), or neither: the
    same plans evaluated interpreted, without compiling Java for each query. The factory mode
    is an internal Spark flag; tests/test_spark.py pins that it still stops compiling."""
    return {
        "spark.sql.codegen.wholeStage": str(compiled).lower(),
        "spark.sql.codegen.factoryMode": "FALLBACK" if compiled else "NO_CODEGEN",
    }


_EVALUATION = threading.Lock()
# Holders inside `evaluating` now, and the session's own values they replaced.
_evaluation: dict = {"holders": 0, "saved": {}}


@contextmanager
def evaluating(spark: SparkSession, compiled: bool) -> Iterator[None]:
    """Queries started inside compile Java (`compiled`) or evaluate interpreted, whatever the
    session's setting; it is restored when the last overlapping holder leaves.

    Both ways compute the same rows; only speed differs (a batch of a few thousand rows spends
    more compiling than evaluating). The setting is the session's, so holders in other threads
    that overlap run with the mode set last."""
    conf = code_generation_conf(compiled)
    with _EVALUATION:
        if not _evaluation["holders"]:
            _evaluation["saved"] = {key: spark.conf.get(key, None) for key in conf}
        _evaluation["holders"] += 1
        for key, value in conf.items():
            spark.conf.set(key, value)
    try:
        yield
    finally:
        with _EVALUATION:
            _evaluation["holders"] -= 1
            if not _evaluation["holders"]:
                _restore(spark, _evaluation["saved"])


def evaluating_by_rows(spark: SparkSession, tables: Iterable[Table], cfg: Settings):
    """`evaluating`, compiled or not by how many rows `tables` hold now (Settings.compiles, the
    rows from their logs' statistics); no tables is an unknown size, which compiles."""
    tables = tuple(tables)
    rows = rows_estimate_without_jvm(tables, cfg) if tables else None
    return evaluating(spark, cfg.compiles(rows))


def _restore(spark: SparkSession, saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def _event_log(cfg: Settings) -> dict[str, str]:
    """Event log properties: every application's jobs, stages and tasks per executor, for the
    history server (and for proving where a cluster's tasks ran)."""
    if not cfg.spark_event_log:
        return {}
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": cfg.spark_event_log,
        # zstd (Spark 4's default codec; govlake.cluster reads it with `zstandard`): the local
        # 100k night wrote 570 MB of plain JSON, and the log grows with the tasks of the night.
        "spark.eventLog.compress": "true",
        "spark.eventLog.compression.codec": "zstd",
    }


# The tables a running task names in its session: its declared inputs and outputs (set by
# govlake.tasks.execute). A task on the scheduler path is a new process, and naming all 86
# tables of the demo's lakehouse cost it about 4 s of a 22 s unchanged load (issue 19); jobs
# read their tables by path, and name what they write as they write it.
_TASK_TABLES: ContextVar[frozenset[str] | None] = ContextVar("govlake_task_tables", default=None)


@contextmanager
def naming_only(tables: Iterable[object]) -> Iterator[None]:
    """Inside, `get_spark()` without `tables` names only these tables (a task's declared
    inputs and outputs) instead of every table of the lakehouse."""
    token = _TASK_TABLES.set(frozenset(map(str, tables)))
    try:
        yield
    finally:
        _TASK_TABLES.reset(token)


# Inside `evaluated_by_size`: the tables whose rows choose the mode, and the open `evaluating`
# (entered by the first `get_spark`, so a step that never starts Spark never opens a log).
_TASK_SIZED: ContextVar[dict | None] = ContextVar("govlake_task_sized", default=None)


@contextmanager
def evaluated_by_size(tables: Iterable[Table]) -> Iterator[None]:
    """Inside, the session `get_spark` returns evaluates compiled or interpreted by how many
    rows `tables` hold (Settings.compiles): for a task whose job does not size its own work,
    sized by the tables it declares it reads. The session's mode is back on leaving."""
    held = {"tables": tuple(tables), "stack": ExitStack()}
    token = _TASK_SIZED.set(held)
    try:
        with held["stack"]:
            yield
    finally:
        _TASK_SIZED.reset(token)


def _evaluate_task_by_size(spark: SparkSession, cfg: Settings) -> None:
    held = _TASK_SIZED.get()
    if held is None or held.get("entered"):
        return
    held["entered"] = True
    held["stack"].enter_context(evaluating_by_rows(spark, held["tables"], cfg))


def get_spark(
    cfg: Settings | None = None,
    app_name: str = "govlake",
    tables: set[str] | None = None,
    java_options: str | None = None,
) -> SparkSession:
    """The process's Spark session with the lakehouse tables (or just `tables`, or inside
    `naming_only` its tables) named. A new driver maps the class archive when there is one,
    or takes `java_options` instead (the archive's writer)."""
    from pyspark.sql import SparkSession

    cfg = cfg or settings()
    if tables is None:
        tables = _TASK_TABLES.get()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    starting = not _jvm_running()  # else getOrCreate returns the running session
    if starting:
        check_master(cfg)
    if cfg.spark_event_log and "://" not in cfg.spark_event_log:
        Path(cfg.spark_event_log).mkdir(parents=True, exist_ok=True)  # Spark needs it to exist
    builder = SparkSession.builder.appName(app_name)
    conf = spark_conf(cfg)
    if not starting and _evaluation["holders"]:
        # getOrCreate applies the builder's SQL settings to the running session: inside
        # `evaluating`, a job that asks for the session again would undo the chosen mode.
        conf = {k: v for k, v in conf.items() if k not in code_generation_conf(True)}
    submit_args = None
    if starting:
        conf, submit_args = with_functions_jar(with_resolved_jars(conf, cfg), cfg)
        extra = class_archive.driver_options(cfg) if java_options is None else java_options
        conf["spark.driver.extraJavaOptions"] += f" {extra}" if extra else ""
    # The keys are read before the JVM starts: a missing one fails here, naming where to put it.
    for key, value in {**conf, **hadoop_secrets(cfg)}.items():
        builder = builder.config(key, value)
    log = cfg.lakehouse.parent / "logs" / "spark.log"
    try:
        with jvm_output_to(log), _launched_with(submit_args):
            spark = builder.getOrCreate()
    except Exception as exc:
        raise GovlakeError(
            f"Spark did not start ({type(exc).__name__}); its log says: {_log_tail(log)}",
            file=str(log),
            fix="check that Java 17 or 21 is installed (java -version) and that Maven Central "
            "is reachable the first time, when the Delta and JDBC jars are downloaded into "
            f"{cfg.ivy_dir}.",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    if starting and "spark.jars.packages" in conf:
        jars = spark.sparkContext.getConf().get("spark.jars", "").split(",")
        ours = jvm_functions.jar_path(cfg).name
        remember_resolved_jars(conf, ",".join(j for j in jars if not j.endswith(ours)), cfg)
    register_all(spark, cfg, tables)
    _evaluate_task_by_size(spark, cfg)
    return spark


# -- the jars Ivy resolved, reused -----------------------------------------------------------
# Ivy resolves `spark.jars.packages` against its cache at every JVM start: about 1.5 s of the
# 8-9 s a driver takes to start here, paid by every task process of the scheduler path and
# every command that starts Spark (issue 19). Once resolved, the same packages give the same
# jars: later starts pass them as `spark.jars`, which Spark puts on the same class path.


def _resolved_file(conf: dict[str, str], cfg: Settings) -> Path:
    """Where the jars resolved for exactly these packages, excludes and Ivy folder are kept."""
    import hashlib

    asked = "|".join(conf.get(k, "") for k in ("spark.jars.packages", "spark.jars.excludes"))
    digest = hashlib.sha256(f"{asked}|{cfg.ivy_dir}".encode()).hexdigest()[:16]
    return Path(cfg.ivy_dir) / "govlake-resolved" / f"{digest}.txt"


def with_resolved_jars(conf: dict[str, str], cfg: Settings) -> dict[str, str]:
    """`conf` with its packages replaced by the jars Ivy resolved for them at an earlier start,
    when that list is kept and every jar in it still exists; else `conf` unchanged (Ivy
    resolves, downloading what is missing)."""
    kept = _resolved_file(conf, cfg)
    if "spark.jars.packages" not in conf or not kept.is_file():
        return conf
    jars = [j for j in kept.read_text(encoding="utf-8").strip().split(",") if j]
    if not jars or not all(Path(j.removeprefix("file:")).is_file() for j in jars):
        return conf
    out = {k: v for k, v in conf.items() if k not in ("spark.jars.packages", "spark.jars.excludes")}
    return {**out, "spark.jars": ",".join(jars)}


def with_functions_jar(conf: dict[str, str], cfg: Settings) -> tuple[dict[str, str], str]:
    """`conf` and the spark-submit arguments of a new driver with the lakehouse's own Spark
    functions (govlake.jvm_functions) on its class path, compiled first if need be.

    When Ivy is still to resolve the packages, spark-submit merges their jars into `spark.jars`,
    and a `spark.jars` in the session's conf would replace that merged list (PySpark sets it
    after the launch): the driver would lack them on a cluster's executors and the list would
    never be kept. So then the jar goes to spark-submit as `--jars` instead."""
    import shlex

    jar = str(jvm_functions.ensure_jar(cfg))
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell")
    if "spark.jars.packages" in conf:
        return conf, f"--jars {shlex.quote(jar)} {submit}"
    jars = [j for j in conf.get("spark.jars", "").split(",") if j]
    return {**conf, "spark.jars": ",".join([*jars, jar])}, submit


@contextmanager
def _launched_with(submit_args: str | None) -> Iterator[None]:
    """PYSPARK_SUBMIT_ARGS (what PySpark passes to spark-submit) while a driver starts."""
    if submit_args is None:
        yield
        return
    saved = os.environ.get("PYSPARK_SUBMIT_ARGS")
    os.environ["PYSPARK_SUBMIT_ARGS"] = submit_args
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
        else:
            os.environ["PYSPARK_SUBMIT_ARGS"] = saved


def remember_resolved_jars(conf: dict[str, str], jars: str, cfg: Settings) -> None:
    """Keep the jars a start with `conf`'s packages resolved (Spark's `spark.jars` after it),
    written whole or not at all, so a process reading it never sees half a list."""
    listed = [j for j in jars.split(",") if j]
    if not listed:
        return
    kept = _resolved_file(conf, cfg)
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(",".join(listed), encoding="utf-8")
    partial.replace(kept)


def check_master(cfg: Settings) -> None:
    """A standalone master (spark://host:port[,host:port]) that does not answer fails at once,
    named, instead of after Spark's registration retries ("All masters are unresponsive")."""
    if not cfg.spark_master.startswith("spark://"):
        return
    errors = []
    for address in cfg.spark_master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            return
        except (OSError, ValueError) as exc:
            errors.append(f"{address}: {getattr(exc, 'strerror', None) or exc}")
    raise GovlakeError(
        f"the Spark master {cfg.spark_master} does not answer ({'; '.join(errors)}).",
        file=str(PROJECT_ROOT / "conf" / "settings.yaml"),
        fix="start the cluster (on this machine: `make cluster-demo`, or `python -m "
        "govlake.cluster run -- <command>`), or correct spark_master of environment "
        f"'{cfg.env}' (GOVLAKE_SPARK_MASTER overrides it).",
    )


@contextmanager
def jvm_output_to(log: Path):
    """Send the JVM's console output (Ivy resolution, log4j) to a file while it starts.

    The JVM inherits the file descriptors at launch, so its later logs go there too, while
    Python's own stdout and stderr are restored for the user's output.
    """
    if os.environ.get("GOVLAKE_SPARK_CONSOLE") or _jvm_running():
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    saved = [os.dup(1), os.dup(2)]
    with log.open("ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _log_tail(log: Path) -> str:
    if not log.exists():
        return "(no log)"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    hits = [x.strip() for x in lines if any(k in x for k in ("ERROR", "Exception", "UNRESOLVED"))]
    return " | ".join(hits[-3:]) or "(nothing marked as an error)"


def _jvm_running() -> bool:
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None
