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
    (os.pathsep-separated) override its folders."""
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
        "lakehouse": "GOVLAKE_LAKEHOUSE",
        "sources_root": "GOVLAKE_SOURCES",
        "airflow_home": "AIRFLOW_HOME",
        "tables_uri": "GOVLAKE_TABLES_URI",
    }
    for key, var in overrides.items():
        if os.environ.get(var):
            row[key] = os.environ[var]
    if os.environ.get("GOVLAKE_SOURCE_ROOTS"):
        row["source_roots"] = os.environ["GOVLAKE_SOURCE_ROOTS"].split(os.pathsep)
    for key in ("lakehouse", "sources_root", "airflow_home", "ivy_dir"):
        row[key] = _resolve(row[key])
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
