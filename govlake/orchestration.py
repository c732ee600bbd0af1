"""Airflow plumbing for the demo CLI and tests: environment, metadata DB, in-process DAG runs.

Airflow is imported inside the functions only, so `govlake --help` and DAG parsing stay light.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govlake.errors import ConfigError, GovlakeError
from govlake.settings import PROJECT_ROOT, Settings
from govlake.settings import settings as current_settings

if TYPE_CHECKING:
    from airflow.sdk import Asset

LOG_FILE = "govlake-airflow.log"
# The Airflow pool every task of the night runs in (govlake.tasks.airflow_task): each task
# starts a Spark driver, so its slots (settings `spark_task_slots`) bound the drivers at once.
SPARK_POOL = "spark"
MIGRATED_MARKER = ".govlake-migrated"

# The environment applied by prepare_airflow in this process; run_dag reuses it.
_active: dict[str, str] = {}
_log_streams: dict[Path, Any] = {}


@dataclass(frozen=True)
class AirflowReady:
    """What prepare_airflow did, for the CLI to report."""

    migrated: bool
    dag_ids: list[str]
    seconds: float
    log_file: Path


@dataclass(frozen=True)
class TaskOutcome:
    """One task of a finished run: its state, its return value (XCom) and, if it failed, why."""

    task_id: str
    state: str
    tries: int
    xcom: Any = None
    error: str | None = None


@dataclass(frozen=True)
class DagRunOutcome:
    """One finished dag.test run, with per-task states and counts."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime
    state: str
    seconds: float
    log_file: Path
    tasks: dict[str, TaskOutcome] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def metadata_db_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """Airflow's metadata DB from the settings' `airflow_db`: SQLite under airflow_home when
    empty, the URL it holds, or the URL in the environment variable it names (where a password
    may live). A named variable that is unset fails here, before Airflow would silently fall
    back to a database of its own."""
    home = Path(settings.airflow_home).resolve()
    value = settings.airflow_db
    if not value:
        return f"sqlite:///{home / 'airflow.db'}"
    if "://" in value:
        return value
    url = (os.environ if environ is None else environ).get(value, "").strip()
    if not url:
        raise ConfigError(
            f"setting 'airflow_db' of environment '{settings.env}' names the environment "
            f"variable {value}, which is not set.",
            file=str(PROJECT_ROOT / "conf" / "settings.yaml"),
            fix=f"export {value}=postgresql+psycopg2://<user>:<password>@<host>:<port>/<db> "
            "(the Airflow metadata database), or leave airflow_db empty for SQLite.",
        )
    return url


def pool_args(settings: Settings) -> list[str]:
    """`airflow pools set ...` arguments that create or resize the pool every Spark task
    runs in (idempotent): the setup step of an Airflow that runs the night."""
    return [
        *("pools", "set", SPARK_POOL, str(settings.spark_task_slots)),
        "Spark drivers running at once (settings: spark_task_slots)",
    ]


def airflow_env(
    settings: Settings, dags_folder: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Env vars pointing Airflow at this project: own home, metadata DB from the settings,
    our dags/, no examples. `environ` is where a DB URL's variable is looked up (os.environ)."""
    home = Path(settings.airflow_home).resolve()
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder or PROJECT_ROOT / "dags").resolve()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Unit-test mode would load Airflow's own test config (LocalExecutor, examples on).
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db_url(settings, environ),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def prepare_airflow(
    settings: Settings | None = None, dags_folder: Path | None = None
) -> AirflowReady:
    """Point this process at the project's Airflow, migrate its DB if needed, serialize the DAGs."""
    started = time.monotonic()
    env = airflow_env(settings or current_settings(), dags_folder)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log_file = _activate(env)
    migrated = False
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not _is_migrated(home, url):
        _migrate(home, url)
        migrated = True
    _ensure_pool(settings or current_settings())
    dag_ids = _serialize_dags(Path(env["AIRFLOW__CORE__DAGS_FOLDER"]))
    return AirflowReady(migrated, dag_ids, round(time.monotonic() - started, 2), log_file)


def run_dag(dag_id: str, logical_date: dt.date) -> DagRunOutcome:
    """Run one DAG with dag.test in this process (tasks share one Spark session); re-runnable.

    dag.test replaces an earlier run with the same logical date, so a second run of a day works.
    """
    if not _active:
        prepare_airflow()
    import pendulum

    dag = _load_dag(dag_id)
    # A cron DAG runs in its source's time zone; an asset-scheduled one in the city's.
    timezone = getattr(dag.timetable, "timezone", None) or current_settings().timezone
    moment = pendulum.datetime(logical_date.year, logical_date.month, logical_date.day, tz=timezone)
    errors: dict[str, str] = {}
    for task in dag.tasks:
        task.on_failure_callback = _remember_error(errors, task.on_failure_callback)
    started = time.monotonic()
    run = dag.test(logical_date=moment)
    return DagRunOutcome(
        dag_id=dag_id,
        run_id=run.run_id,
        logical_date=moment,
        state=str(run.state.value if hasattr(run.state, "value") else run.state),
        seconds=round(time.monotonic() - started, 2),
        log_file=_log_file(Path(_active["AIRFLOW_HOME"])),
        tasks=_task_outcomes(run, errors),
    )


def run_date(context: Mapping[str, Any], timezone: str) -> dt.date:
    """Business day of a run: its logical date in the source's timezone (ds is UTC: off by one).

    Manual Airflow 3 runs may have no logical date; they load the day before they run, like
    the nightly schedule does.
    """
    import pendulum

    logical = context.get("logical_date")
    moment = logical or context["dag_run"].run_after - dt.timedelta(days=1)
    local = pendulum.instance(moment).in_timezone(timezone)
    # A plain date: Spark's DateType rejects pendulum.Date, a date subclass.
    return dt.date(local.year, local.month, local.day)


def landing_date(context: Mapping[str, Any], timezone: str) -> dt.date:
    """Day a nightly run summarises: its logical date, else the newest day its asset events carry.

    Asset-triggered runs have no logical date in Airflow 3; the load tasks put the day in the event.
    """
    if context.get("logical_date"):
        return run_date(context, timezone)
    events = context.get("triggering_asset_events") or {}
    days = [e.extra.get("logical_date") for batch in events.values() for e in batch]
    days = [d for d in days if d]
    return dt.date.fromisoformat(max(days)) if days else run_date(context, timezone)


def record_landing(
    context: Mapping[str, Any], asset: Asset, day: dt.date, counts: Mapping[str, Any]
) -> None:
    """Attach the loaded day and the plain counts to the asset event, for the nightly DAG and UI."""
    plain = {k: v for k, v in counts.items() if isinstance(v, str | int | float | bool)}
    context["outlet_events"][asset].extra = {
        **plain,
        "logical_date": day.isoformat(),
        "run_id": context["run_id"],
    }


def _activate(env: dict[str, str]) -> Path:
    """Apply env to os.environ; if Airflow was imported under another env, re-point its ORM."""
    os.environ.update(env)
    _active.clear()
    _active.update(env)
    from airflow import settings as airflow_settings

    if (
        airflow_settings.SQL_ALCHEMY_CONN != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        or airflow_settings.DAGS_FOLDER != env["AIRFLOW__CORE__DAGS_FOLDER"]
    ):
        airflow_settings.dispose_orm(do_log=False)
        airflow_settings.configure_vars()
        airflow_settings.configure_orm()
    return _quiet_logging(Path(env["AIRFLOW_HOME"]))


def _log_file(home: Path) -> Path:
    return home / "logs" / LOG_FILE


def _quiet_logging(home: Path) -> Path:
    """Send Airflow's structlog and stdlib logging to a file; the console keeps only our output."""
    from airflow.sdk.log import configure_logging

    path = _log_file(home)
    if path not in _log_streams:
        path.parent.mkdir(parents=True, exist_ok=True)
        _log_streams[path] = path.open("a", encoding="utf-8", buffering=1)
    configure_logging(output=_log_streams[path], colored_console_log=False)
    return path


def _is_migrated(home: Path, url: str) -> bool:
    """Fast path: our marker names this Airflow version and the DB is at the marked revision."""
    marker = home / MIGRATED_MARKER
    if not marker.exists():
        return False
    airflow_version, _, revision = marker.read_text().strip().partition(" ")
    current = _sqlite_revision(url)
    return airflow_version == version("apache-airflow-core") and current == revision


def _sqlite_revision(url: str) -> str | None:
    """Alembic revision of a SQLite metadata DB, read without importing Airflow or SQLAlchemy."""
    db = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///") or not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _migrate(home: Path, url: str) -> None:
    """`airflow db migrate` in this process (no second interpreter start), then write the marker."""
    from airflow.utils import db

    db.upgradedb()
    if revision := _sqlite_revision(url):
        (home / MIGRATED_MARKER).write_text(f"{version('apache-airflow-core')} {revision}\n")


def _ensure_pool(settings: Settings) -> None:
    """Create or resize the Spark pool in this process (what `airflow pools set` does)."""
    from airflow.models.pool import Pool

    name, slots, description = pool_args(settings)[2:]
    Pool.create_or_update_pool(name, int(slots), description, include_deferred=False)


def _serialize_dags(dags_folder: Path) -> list[str]:
    """`airflow dags reserialize` in this process; import errors become a GovlakeError."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    dag_ids: list[str] = []
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        bag = BundleDagBag(bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.get_current_version())
        _raise_import_errors(bag.import_errors, dags_folder)
        dag_ids.extend(bag.dag_ids)
    return sorted(dag_ids)


def _raise_import_errors(import_errors: Mapping[str, str], dags_folder: Path) -> None:
    if import_errors:
        detail = "; ".join(
            f"{Path(path).name}: {text.strip().splitlines()[-1]}"
            for path, text in sorted(import_errors.items())
        )
        raise GovlakeError(
            f"DAG files failed to import: {detail}",
            file=str(dags_folder),
            fix="correct the file named in the message (often a conf/sources YAML file).",
        )


def _load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(_active["AIRFLOW__CORE__DAGS_FOLDER"])
    bag = DagBag(dag_folder=folder)
    dag = bag.dags.get(dag_id)
    if dag is None:
        _raise_import_errors(bag.import_errors, folder)
        raise GovlakeError(
            f"no DAG '{dag_id}'.",
            file=str(folder),
            fix=f"use one of: {', '.join(sorted(bag.dag_ids))}.",
        )
    return dag


def _remember_error(errors: dict[str, str], existing: Any):
    """Failure callback that keeps the task's exception text; dag.test only logs it."""

    def remember(context: Mapping[str, Any]) -> None:
        exc = context.get("exception")
        errors[context["ti"].task_id] = str(exc) if exc else "failed (see the Airflow log)"

    if existing is None:
        return remember
    return [*(existing if isinstance(existing, list) else [existing]), remember]


def _task_outcomes(run: Any, errors: Mapping[str, str]) -> dict[str, TaskOutcome]:
    from airflow.models.xcom import XComModel
    from airflow.sdk.serde import deserialize
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = run.get_task_instances(session=session)
        rows = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, key="return_value")
        ).all()
        values = {row.task_id: deserialize(XComModel.deserialize_value(row)) for row in rows}
        return {
            ti.task_id: TaskOutcome(
                task_id=ti.task_id,
                state=str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                tries=ti.try_number,
                xcom=values.get(ti.task_id),
                error=errors.get(ti.task_id),
            )
            for ti in sorted(instances, key=lambda ti: ti.task_id)
        }
