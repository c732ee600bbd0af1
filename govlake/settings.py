"""Environment settings: one row of conf/settings.yaml, chosen once by GOVLAKE_ENV."""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from govlake.conffile import read_yaml
from govlake.errors import ConfigError

PROJECT_ROOT = Path(os.environ.get("GOVLAKE_HOME", Path(__file__).resolve().parent.parent))
SPARK_PACKAGES = (
    "io.delta:delta-spark_4.2_2.13:4.4.0",
    "org.xerial:sqlite-jdbc:3.54.1.0",
    "org.postgresql:postgresql:42.7.14",
)
# Jars a session adds only when its tables live under that URI scheme (tables_uri). For s3a://:
# Hadoop's S3A connector matching the wheel's Hadoop 3.5.0, with the AWS SDK v2 modules it calls
# instead of the 686 MB SDK bundle it declares (hadoop-aws-3.5.0.pom: bundle 2.35.4, excluded
# below); delta-spark's own hadoop-client 3.4.2 is excluded too, as Spark ships 3.5.0.
AWS_SDK = "2.35.4"
SCHEME_PACKAGES = {
    "s3a": (
        "org.apache.hadoop:hadoop-aws:3.5.0",
        f"software.amazon.awssdk:s3:{AWS_SDK}",
        f"software.amazon.awssdk:s3-transfer-manager:{AWS_SDK}",
        f"software.amazon.awssdk:sts:{AWS_SDK}",
        f"software.amazon.awssdk:apache-client:{AWS_SDK}",
        f"software.amazon.awssdk:netty-nio-client:{AWS_SDK}",
    ),
}
SCHEME_EXCLUDES = {
    "s3a": (
        "software.amazon.awssdk:bundle",
        "org.apache.hadoop:hadoop-client-api",
        "org.apache.hadoop:hadoop-client-runtime",
    ),
}

# An environment variable's name (airflow_db may name one instead of holding a URL).
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class Settings(BaseModel):
    """The settings that differ between environments (local laptop vs city cluster)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    lakehouse: Path
    sources_root: Path
    airflow_home: Path
    ivy_dir: Path
    spark_master: str
    driver_memory: str
    shuffle_partitions: int
    jdbc_partitions: int
    jdbc_fetchsize: int
    connect_attempts: int
    connect_backoff_seconds: float
    task_retries: int
    task_retry_delay_seconds: int
    demo_persons: int
    demo_logical_date: dt.date
    # The city's time zone: business days, schedules and the Spark session all use it.
    timezone: str = "Asia/Shanghai"
    # Where Delta tables live (s3a://bucket/prefix on a cluster); empty: the lakehouse folder.
    tables_uri: str | None = None
    # Spark's adaptive execution re-plans each query at run time: worth it on real volumes, a
    # second or so of planning per query on the few rows of a test.
    adaptive_execution: bool = True
    # Spark compiles Java for each query's stages and each projection (Janino, then the JIT):
    # worth it on real volumes; on a test's few rows that compiling was a third of the driver's
    # CPU (issue 19's JFR profile), so the test rows evaluate expressions interpreted instead.
    code_generation: bool = True
    # With code generation on, work over fewer rows than this (a load's batch, a library's or a
    # theme's inputs, any other task's declared inputs) is evaluated interpreted all the same:
    # small loads and builds were faster so, a 1,000,000-row load half as fast, and at 300,000
    # persons no other threshold tried gained 1% (benchmarks/README.md, issue 19's eleventh,
    # twelfth and fourteenth profiles). A batch or set-aside rows under it are also written by
    # delta-rs rather than Spark when their table exists (Table.replace): fixed costs dominate.
    compile_from_rows: int = 100_000
    # Absolute folders outside sources_root that a file source's `path` may name; any other
    # path (`../../etc`, `/etc`) is refused, so a source file cannot load arbitrary files.
    source_roots: tuple[Path, ...] = ()
    # The governed SQL endpoint (govlake serve, HiveServer2 protocol): where it listens and how
    # many client connections it serves at once (one thread each; one more is refused clearly).
    serve_host: str = "127.0.0.1"
    serve_port: int = 10009
    serve_max_sessions: int = 32
    # How often the endpoint looks whether its access rules changed (conf/access/, the catalog,
    # share.requests): an approval or a revocation applies within this many seconds.
    serve_reload_seconds: float = 5.0
    # Object storage, used when tables_uri is s3a://: the S3 endpoint (empty: AWS itself;
    # AWS_ENDPOINT_URL overrides), its region, path-style URLs (the bucket in the path, as
    # S3-compatible servers want it), and the Airflow connection holding the keys (empty: the
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables). Never keys here.
    object_store_endpoint: str | None = None
    object_store_region: str = "us-east-1"
    object_store_path_style: bool = False
    object_store_conn_id: str | None = None

    def compiles(self, rows: int | None) -> bool:
        """Whether work over about `rows` rows runs compiled (see compile_from_rows); an unknown
        size (None) compiles, as Spark would."""
        return self.code_generation and not self.is_small(rows)

    def is_small(self, rows: int | None) -> bool:
        """Whether about `rows` rows are fewer than compile_from_rows: work whose fixed costs
        outweigh its rows. An unknown size (None) is not small."""
        return rows is not None and rows < self.compile_from_rows

    @field_validator("tables_uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        scheme, sep, _ = (uri or "").partition("://")
        if sep and scheme.lower() not in ("file", "s3a"):
            raise ValueError(
                f"tables_uri scheme '{scheme}://' is not supported; use s3a:// (Hadoop's S3 "
                "connector, also for S3-compatible stores), file:// or a folder"
            )
        return uri

    # Executors on a Spark cluster (standalone spark://, YARN): memory and cores of each, and
    # how many the night may hold (spark.executor.instances; spark.cores.max on standalone, so
    # one application cannot take a shared cluster). local[n] runs tasks in the driver and
    # ignores all three.
    executor_memory: str = "1g"
    executor_cores: int = 1
    executor_instances: int = 1
    # Where Spark writes each application's event log (the history server reads it; tests and
    # `python -m govlake.cluster` count the tasks each executor ran from it); empty: no log.
    spark_event_log: str | None = None
    # Workers `python -m govlake.cluster` starts on this machine for spark_master (each with
    # executor_cores and executor_memory); 0: the cluster is run by others (YARN, the city's).
    local_workers: int = 0

    # Airflow's metadata database. Empty: SQLite under airflow_home (dag.test, the demo, one
    # process). Production: a SQLAlchemy URL without a password
    # (postgresql+psycopg2://airflow@db/airflow, the password from ~/.pgpass or the server's
    # trust rules), or the NAME of an environment variable holding the full URL
    # (GOVLAKE_AIRFLOW_DB): secrets live in the environment or Airflow's connections, never in
    # conf/settings.yaml.
    airflow_db: str | None = None
    # Slots of the Airflow pool `spark` that every task of the night runs in (each starts a
    # Spark driver): how many Spark drivers the Airflow workers may run at once.
    spark_task_slots: int = 2

    @field_validator("airflow_db")
    @classmethod
    def _url_or_variable(cls, value: str | None) -> str | None:
        if not value:
            return None
        if ENV_NAME.fullmatch(value):
            return value
        if "://" not in value:
            raise ValueError(
                f"'{value}' is neither a SQLAlchemy URL (postgresql+psycopg2://user@host/db) nor "
                "the name of an environment variable holding one (GOVLAKE_AIRFLOW_DB)"
            )
        if urlsplit(value).password:
            raise ValueError(
                "the URL carries a password: put the whole URL in an environment variable and "
                "write that variable's name here (airflow_db: GOVLAKE_AIRFLOW_DB)"
            )
        return value

    @field_validator("spark_task_slots")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (a pool of {value} slots runs no task)")
        return value

    @field_validator("source_roots")
    @classmethod
    def _absolute(cls, roots: tuple[Path, ...]) -> tuple[Path, ...]:
        relative = [str(r) for r in roots if not r.is_absolute()]
        if relative:
            raise ValueError(f"source_roots must be absolute paths, not {relative}")
        return tuple(r.resolve() for r in roots)


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def load_settings(env: str | None = None, path: Path | None = None) -> Settings:
    """Read the environment's row; GOVLAKE_LAKEHOUSE / GOVLAKE_SOURCES / GOVLAKE_SOURCE_ROOTS
    (os.pathsep-separated) override its folders, GOVLAKE_SPARK_MASTER its cluster (a test's
    cluster on free ports)."""
    env = env or os.environ.get("GOVLAKE_ENV", "local")
    path = path or PROJECT_ROOT / "conf" / "settings.yaml"
    table = read_yaml(path)
    if env not in table:
        raise ConfigError(
            f"environment '{env}' is not defined.",
            file=str(path),
            fix=f"set GOVLAKE_ENV to one of {', '.join(sorted(table))} or add a row for it.",
        )
    row = dict(table[env])
    overrides = {
        "spark_master": "GOVLAKE_SPARK_MASTER",
        "lakehouse": "GOVLAKE_LAKEHOUSE",
        "sources_root": "GOVLAKE_SOURCES",
        "airflow_home": "AIRFLOW_HOME",
        "tables_uri": "GOVLAKE_TABLES_URI",
        "object_store_endpoint": "AWS_ENDPOINT_URL",
        "spark_event_log": "GOVLAKE_SPARK_EVENT_LOG",
    }
    for key, var in overrides.items():
        if os.environ.get(var):
            row[key] = os.environ[var]
    if os.environ.get("GOVLAKE_SOURCE_ROOTS"):
        row["source_roots"] = os.environ["GOVLAKE_SOURCE_ROOTS"].split(os.pathsep)
    for key in ("lakehouse", "sources_root", "airflow_home", "ivy_dir"):
        row[key] = _resolve(row[key])
    if row.get("spark_event_log") and "://" not in row["spark_event_log"]:
        row["spark_event_log"] = str(_resolve(row["spark_event_log"]))  # a local folder
    try:
        return Settings(env=env, **row)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"field '{'.'.join(map(str, first['loc']))}' of environment '{env}': {first['msg']}.",
            file=str(path),
            fix="correct the value in the environment's row.",
        ) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()
