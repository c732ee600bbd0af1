"""The driver's class-data archive (AppCDS): Spark's classes loaded once, mapped by every start.

A Spark driver loads and verifies some 15,000 classes from Spark's jars before its first query,
and every task process of the scheduler path, every command that starts Spark and every test
module pays it again (issue 19: "Spark start-up as a share of the night"). The JVM can map
them from an archive written by an earlier run instead (JDK class-data sharing, dynamic
archive). Measured on 2 cores: a driver that starts, writes a small Delta table and reads it
back took 21-22 CPU s and 15 s without an archive, 16-18 CPU s and 11-12 s with it.

The archive is only valid for the Java binary and the exact Spark jars it was written with;
the JVM checks both when it maps it and runs without it (a warning in the Spark log) when they
differ. Its name carries a digest of both, so a new Java or Spark gets a new archive; nothing
here ever changes what a query computes. `govlake class-archive` writes it (make test and make
bench run it first; a deployment runs it once per machine, like fetching the jars).
Imports nothing of govlake at module level: govlake.spark asks it for the driver's option, and
the command hands `build` the function that starts a driver.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

FOLDER = "govlake-cds"
# The JVM maps the archive only when Java and the class path are those it was written with; a
# mismatch is logged as a warning, never an error (-Xshare:auto, the default).
USE_OPTION = "-XX:SharedArchiveFile={path}"
WRITE_OPTION = "-XX:ArchiveClassesAtExit={path}"


def java_binary() -> Path:
    """The `java` that Spark's launcher runs: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(found or "java").resolve()


def spark_jars() -> Path:
    """The folder of Spark's own jars: the driver's class path (SPARK_HOME or pyspark's)."""
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home()) / "jars"


def _digest(java: Path, jars: Path) -> str:
    """Of the Java binary and every jar of the class path, by path, size and time: the JVM
    checks the class path's entries by their paths too."""
    parts = [str(java), *_stamp(java), str(jars)]
    for jar in sorted(jars.glob("*.jar")):
        parts += [jar.name, *_stamp(jar)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _stamp(path: Path) -> tuple[str, str]:
    stat = path.stat()
    return str(stat.st_size), str(stat.st_mtime_ns)


def archive_path(cfg: Settings, folder: Path | None = None) -> Path:
    """Where this machine's archive for the current Java and Spark jars is (or will be): in
    the project's jar cache unless `folder` is given."""
    folder = folder or Path(cfg.ivy_dir) / FOLDER
    return folder / f"driver-{_digest(java_binary(), spark_jars())}.jsa"


def driver_options(cfg: Settings) -> str:
    """The driver's JVM option that maps the archive, or '' when none was written yet."""
    path = archive_path(cfg)
    return USE_OPTION.format(path=path) if path.is_file() else ""


def fits(archive: Path, class_path: str) -> bool:
    """Whether the JVM maps `archive` with `class_path`: -Xshare:on fails instead of falling
    back, so this is the JVM's own check, the one a driver start makes."""
    command = [str(java_binary()), "-Xshare:on", USE_OPTION.format(path=archive)]
    done = subprocess.run(
        [*command, "-cp", class_path, "-version"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


def exercise(spark: SparkSession, folder: Path) -> None:
    """The kinds of work a night task does, so that their classes are in the archive: Delta
    create, MERGE, history and read, CSV in GBK and JSON lines, a join, a window, a shuffle."""
    from delta.tables import DeltaTable

    path = str(folder / "table")
    rows = spark.range(5000).selectExpr(
        "id", "cast(id % 7 as string) as k", "sha2(cast(id as string), 256) as h"
    )
    rows.write.format("delta").partitionBy("k").save(path)
    changed = rows.where("id < 100").selectExpr("id", "k", "upper(h) as h")
    target = DeltaTable.forPath(spark, path).alias("t")
    merge = target.merge(changed.alias("s"), "t.id = s.id and t.k = s.k")
    merge.whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
    spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    table = spark.read.format("delta").load(path)
    table.groupBy("k").count().join(table.select("k").distinct(), "k").collect()
    rows.write.option("encoding", "GBK").option("header", True).csv(str(folder / "csv"))
    spark.read.option("encoding", "GBK").option("header", True).csv(str(folder / "csv")).count()
    rows.write.json(str(folder / "json"))
    spark.read.json(str(folder / "json")).createOrReplaceTempView("lines")
    spark.sql("SELECT k, row_number() OVER (PARTITION BY k ORDER BY id) n FROM lines").collect()


def build(
    cfg: Settings, start: Callable[[str], SparkSession], folder: Path | None = None
) -> Path | None:
    """Write the archive for this Java and these jars unless it exists, with a driver that
    `start(java_options)` starts in a new JVM; its path, or None when this JVM wrote no archive
    that fits (drivers then start without one)."""
    path = archive_path(cfg, folder)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(path.parent)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="govlake-cds-") as work:
        class_path = _run_and_exit(start(WRITE_OPTION.format(path=partial)), Path(work))
    if not partial.is_file() or not fits(partial, class_path):
        partial.unlink(missing_ok=True)
        return None
    for old in path.parent.glob("driver-*.jsa"):
        old.unlink()  # archives of an earlier Java or Spark: never mapped again
    partial.replace(path)
    return path


def remove_abandoned(folder: Path) -> list[Path]:
    """Delete the partial archives (each about 200 MB) of writers that no longer run, as a
    writer interrupted before its rename leaves them; a running writer's file is kept."""
    removed = []
    for partial in folder.glob("driver-*.*.tmp"):
        pid = partial.suffixes[-2].lstrip(".")
        if pid.isdigit() and not _running(int(pid)):
            partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _run_and_exit(spark: SparkSession, work: Path) -> str:
    """Exercise the driver, stop it and wait for its JVM to exit (it does when its standard
    input ends), which writes the archive. The driver's class path."""
    class_path = spark.sparkContext._jvm.java.lang.System.getProperty("java.class.path")
    exercise(spark, work)
    process = spark.sparkContext._gateway.proc
    spark.stop()
    process.stdin.close()
    process.wait(timeout=600)
    return class_path
