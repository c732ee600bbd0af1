"""The lakehouse's own Spark functions, written in Java (jobs/jvm) and compiled on this machine.

The ID number, USCC and certificate checks sum weights over every character; as Spark
expressions that took string copies or an interpreted lambda per character and stayed at
1-20x python-stdnum (issue 19). As Java functions they run in the code Spark generates for
the query. The jar is compiled by the JDK's `javac` against Spark's own jars, once per
version of the sources, into the project's jar cache; `govlake.spark` puts it on every
session's class path and `function()` registers a function in the session that uses it.
Imports nothing of govlake but errors at module level (govlake.spark imports it).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError

if TYPE_CHECKING:
    from govlake.settings import Settings

SOURCES = Path(__file__).resolve().parent.parent / "jobs" / "jvm"
FOLDER = "govlake-functions"
JAVA_RELEASE = "17"
# name in SQL -> its class; each returns a string (a reason code, NULL when valid)
FUNCTIONS = {
    "govlake_ric_reason": "govlake.checks.RicReason",
    "govlake_uscc_reason": "govlake.checks.UsccReason",
    "govlake_cert_reason": "govlake.checks.CertReason",
}


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def jar_path(cfg: Settings) -> Path:
    """Where the jar of the current sources is (or will be): named by their digest, so an
    edited source gets a new jar and a running process keeps the one it started with."""
    digest = hashlib.sha256(JAVA_RELEASE.encode())
    for source in _sources():
        digest.update(source.relative_to(SOURCES).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return Path(cfg.ivy_dir) / FOLDER / f"functions-{digest.hexdigest()[:16]}.jar"


def ensure_jar(cfg: Settings) -> Path:
    """The jar of the current sources, compiled first when this machine has none; written
    whole or not at all, so two processes starting at once never read half a jar."""
    jar = jar_path(cfg)
    if jar.is_file():
        return jar
    from govlake.class_archive import java_binary, spark_jars

    # The compiler beside the `java` Spark's launcher runs (JAVA_HOME's, else PATH's).
    javac = java_binary().with_name("javac")
    if not javac.is_file():
        raise GovlakeError(
            "javac (the Java compiler) was not found: the lakehouse's identifier checks are "
            "Java functions compiled on first use.",
            file=str(SOURCES),
            fix="install a JDK 17 or 21 (on Debian: apt-get install openjdk-17-jdk-headless), "
            "not only a JRE, or set JAVA_HOME to one.",
        )
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="govlake-functions-", dir=jar.parent) as work:
        classes = Path(work) / "classes"
        _compile(javac, spark_jars(), classes)
        partial = Path(work) / jar.name
        _write_jar(classes, partial)
        partial.replace(jar)
    return jar


def _compile(javac: Path, spark_jars: Path, classes: Path) -> None:
    command = [str(javac), "--release", JAVA_RELEASE, "-encoding", "UTF-8", "-nowarn"]
    command += ["-cp", f"{spark_jars}/*", "-d", str(classes), *map(str, _sources())]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GovlakeError(
            f"javac could not compile the lakehouse's Spark functions: {done.stderr.strip()}",
            file=str(SOURCES),
            fix="correct the Java source javac names above (it compiles against Spark's jars "
            f"in {spark_jars}).",
        )


def _write_jar(classes: Path, jar: Path) -> None:
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        for path in sorted(classes.rglob("*.class")):
            out.write(path, path.relative_to(classes).as_posix())


def function(name: str) -> str:
    """`name`, registered in the active Spark session (a no-op when it already is there)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise GovlakeError(
            f"the Spark function {name} needs a running Spark session",
            fix="start one with govlake.spark.get_spark() before building the check.",
        )
    from pyspark.sql.types import StringType

    class_name = FUNCTIONS[name]
    try:
        spark.udf.registerJavaFunction(name, class_name, StringType())
    except Exception as exc:
        raise GovlakeError(
            f"the Spark function {name} ({class_name}) could not be registered: {exc}",
            file=str(SOURCES),
            fix="start Spark with govlake.spark.get_spark(), which puts the lakehouse's "
            "function jar on the class path (or add it to spark.jars yourself).",
        ) from None
    return name
