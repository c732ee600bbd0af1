"""Real Airflow 3 components as subprocesses on PostgreSQL, for the scheduler-path test.

`AirflowServices` owns a private AIRFLOW_HOME and a private PostgreSQL database
(`private_database`: created in the running test PostgreSQL, dropped after) and starts what
Airflow 3.3 runs in production:

- `airflow scheduler` with the LocalExecutor, parallelism 3 (one more worker than the test's
  `spark` pool has slots, so the pool is what bounds the Spark tasks), without the
  log-serving side process; `schedulers=2` starts a second one on the same DB (Airflow's
  high availability: they share the work through row locks, SELECT ... FOR UPDATE SKIP
  LOCKED);
- `airflow dag-processor`, which parses the dags folder and writes the serialized DAGs;
- `airflow api-server --apps execution` on a free loopback port: task processes talk to
  the Execution API (connections too), not to the DB. The UI/REST app is not started.

The metadata DB URL reaches Airflow the production way: settings `airflow_db` names an
environment variable that holds it (govlake.orchestration.metadata_db_url).

No triggerer: the project's DAGs have no deferrable tasks. Each component runs in its own
process group; `stop()` ends those groups and every process they spawned (task runners run
in groups of their own, Spark JVMs under them), by pid, nothing else.

`restart_database` does to the private database what a PostgreSQL restart does to its
clients (every connection terminated, new ones refused for a while), without touching the
shared server. Airflow 3.3's scheduler and dag-processor exit when the DB refuses connections
(measured: both exit 1 within a 10 s refusal); `supervise()` then restarts an exited component,
as the production supervisor (systemd Restart=always, Kubernetes) does. A scheduler can also
stay alive after its loop failed (its LocalExecutor waiting on tasks that failed in the
outage; seen once in CI), so `supervise()` also restarts a live scheduler whose job Airflow
itself counts as dead, as a Kubernetes liveness probe on the scheduler's health check does.
Each scheduler has a host name of its own (`tests/airflow_hostname.py`), as on separate hosts,
so its job rows are told apart.

The metadata DB is read directly (read-only psycopg2 session) for polling: one `airflow` CLI
call costs 5-20 s of interpreter start on two cores, a query costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg2
import psycopg2.extras
from cryptography.fernet import Fernet

from govlake.orchestration import airflow_env
from govlake.settings import settings

COMPONENTS = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "api-server": ["api-server", "--apps", "execution", "--host", "127.0.0.1", "--workers", "1"],
}
TERMINAL = ("success", "failed")
# Airflow's [scheduler] scheduler_health_check_threshold: a job whose heartbeat is older is dead.
HEALTH_THRESHOLD = dt.timedelta(seconds=30)
PARALLELISM = 3
# The environment variable settings `airflow_db` names here: it holds the URL with its password.
DB_VARIABLE = "GOVLAKE_AIRFLOW_DB"


@contextmanager
def private_database(admin_url: str) -> Iterator[str]:
    """A fresh database in the test PostgreSQL (its role has CREATEDB, scripts/postgres.sh),
    as a SQLAlchemy URL for Airflow; dropped afterwards with whatever still connects to it."""
    name = f"airflow_{secrets.token_hex(6)}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        parts = urlsplit(admin_url)
        yield urlunsplit(parts._replace(scheme="postgresql+psycopg2", path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowServices:
    """A private Airflow (home, PostgreSQL DB, scheduler(s), dag-processor, api-server)."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        dags: Path,
        extra_env: dict[str, str],
        schedulers: int = 1,
    ):
        self.home = home
        # Several schedulers share one metadata DB (row locks, SKIP LOCKED): production's HA.
        extra = {f"scheduler-{n}": COMPONENTS["scheduler"] for n in range(2, schedulers + 1)}
        self.components = {**COMPONENTS, **extra}
        self.logs = home / "logs"
        # psycopg2 takes the libpq form of the SQLAlchemy URL.
        self.dsn = database_url.replace("postgresql+psycopg2://", "postgresql://", 1)
        self.port = free_port()
        self.env = self._environment(database_url, dags, extra_env)
        self.processes: dict[str, subprocess.Popen] = {}
        self.manifest: Any = None  # the sample sources' ground truth, set by the test
        self.supervised = False
        self.restarts: list[tuple[str, int, float]] = []
        self.spawned: dict[str, dt.datetime] = {}
        self._log_files: list[Any] = []

    def _environment(self, database_url: str, dags: Path, extra_env: dict[str, str]):
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "GOVLAKE_")) and k != "AIRFLOW_HOME"
        }
        url = f"http://127.0.0.1:{self.port}"
        cfg = settings().model_copy(update={"airflow_home": self.home, "airflow_db": DB_VARIABLE})
        project = airflow_env(cfg, dags, environ={DB_VARIABLE: database_url})
        return {
            **base,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
            **project,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # LocalExecutor forks `parallelism` workers up front (default 32).
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            # Connections added with `airflow connections` are stored encrypted with it.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            # Scheduler and api-server must sign and check task tokens with the same secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            **extra_env,
        }

    # -- lifecycle -------------------------------------------------------------------------

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=180)

    def start(self) -> None:
        """Start every component, each in a new session (process group) logging to a file."""
        for name in self.components:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self._log_files.append(log)
        self.spawned[name] = dt.datetime.now(dt.UTC)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *self.components[name]],
            env={**self.env, **self._host(name)},
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _host(self, name: str) -> dict[str, str]:
        """A scheduler's own host name (Airflow's hostname_callable), as on its own host."""
        if not name.startswith("scheduler"):
            return {}
        tests = str(Path(__file__).resolve().parent)
        path = os.pathsep.join(p for p in (tests, self.env.get("PYTHONPATH")) if p)
        return {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_hostname.component_hostname",
            "GOVLAKE_COMPONENT_HOST": f"{name}.{socket.getfqdn()}",
            "PYTHONPATH": path,
        }

    def supervise(self) -> None:
        """From now on a component that exits is started again, as systemd (Restart=always) or
        Kubernetes does in production, and so is a live scheduler whose job is dead (a liveness
        probe); each restart is kept in `restarts` (name, exit code, time)."""
        self.supervised = True

    def _restart_dead(self) -> dict[str, int]:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if not self.supervised:
            return dead
        hung = dead_jobs(self.spawned, self.scheduler_jobs(), self._hosts())
        for name in set(hung) - set(dead):
            dead[name] = self._end(name)
        for name, code in dead.items():
            self.restarts.append((name, code, time.monotonic()))
            self._spawn(name)
        return {}

    def _hosts(self) -> dict[str, str]:
        """Each live scheduler's host name, by component."""
        return {
            name: self._host(name)["GOVLAKE_COMPONENT_HOST"]
            for name, process in self.processes.items()
            if name.startswith("scheduler") and process.poll() is None
        }

    def _end(self, name: str, grace: float = 10.0) -> int:
        """Stop one component and everything it started; its exit code."""
        process = self.processes[name]
        try:
            root = psutil.Process(process.pid)
            tree = [root, *_children(root)]
        except psutil.NoSuchProcess:  # it exited meanwhile
            tree = []
        for group in {process.pid} | {_pgid(p) for p in tree} - {None, os.getpgid(0)}:
            _killpg(group, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=grace)
        for straggler in alive:
            try:
                straggler.kill()
            except psutil.NoSuchProcess:
                pass
        return process.wait(timeout=5)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM each group of the components' trees, then SIGKILL what is left of them."""
        tree: list[psutil.Process] = []
        for proc in self.processes.values():
            try:
                parent = psutil.Process(proc.pid)
                tree += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        groups = {p.pid for p in self.processes.values()}
        groups |= {_pgid(p) for p in tree} - {None, os.getpgid(0)}
        for group in groups:
            _killpg(group, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=grace)
        # psutil.Process checks the start time too, so a reused pid is never hit.
        stragglers = {*alive, *(c for p in alive for c in _children(p))}
        for process in stragglers:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(stragglers), timeout=5)
        for proc in self.processes.values():
            proc.wait(timeout=5)
        for log in self._log_files:
            log.close()

    # -- CLI, API and metadata DB -----------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run one `airflow` CLI command; raise with its output if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with (self.logs / "cli.log").open("a", encoding="utf-8") as log:
            log.write(
                f"$ airflow {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"
            )
        if done.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def restart_database(self, admin_url: str, down: float) -> list[int]:
        """What a PostgreSQL restart does to Airflow's clients, done to this database only (the
        test PostgreSQL serves other tests meanwhile): new connections refused, every open one
        terminated, for `down` seconds; then connections allowed again. The terminated backends'
        pids are returned."""
        name = urlsplit(self.dsn).path.lstrip("/")
        admin = psycopg2.connect(admin_url)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
                cur.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                terminated = [pid for pid, done in cur.fetchall() if done]
                time.sleep(down)
        finally:
            with admin.cursor() as cur:
                cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
            admin.close()
        return terminated

    def backends(self) -> set[int]:
        """pids of the PostgreSQL backends serving this database now (this query's excluded)."""
        rows = self.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return {r["pid"] for r in rows}

    def api_healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/execution/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query on the metadata DB (%s placeholders)."""
        with psycopg2.connect(self.dsn) as conn:
            conn.set_session(readonly=True, autocommit=True)
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, params)
                return [dict(row) for row in cur.fetchall()]

    def serialized_dags(self) -> set[str]:
        return {r["dag_id"] for r in self.query("SELECT dag_id FROM serialized_dag")}

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT run_id, run_type, state, triggered_by, logical_date, run_after "
            "FROM dag_run WHERE dag_id = %s ORDER BY id",
            dag_id,
        )

    def asset_events(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT a.name, e.source_dag_id, e.source_run_id, e.extra FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id ORDER BY e.id"
        )
        return [{**r, "extra": _json(r["extra"])} for r in rows]

    def task_instances(self) -> list[dict[str, Any]]:
        """Every task instance: its pool, state, try, when it ran (start/end) and which
        scheduler job queued it."""
        return self.query(
            "SELECT dag_id, task_id, state, pool, try_number, start_date, end_date, "
            "queued_by_job_id "
            "FROM task_instance ORDER BY start_date"
        )

    def task_tries(self) -> list[dict[str, Any]]:
        """Every try of every task: the current one (task_instance) and the earlier ones
        (task_instance_history), ordered by task and try."""
        columns = "dag_id, task_id, try_number, state, start_date, end_date"
        return self.query(
            f"SELECT {columns} FROM task_instance UNION ALL "
            f"SELECT {columns} FROM task_instance_history ORDER BY dag_id, task_id, try_number"
        )

    def scheduler_jobs(self) -> list[dict[str, Any]]:
        """The scheduler jobs (one per scheduler process) and their state."""
        return self.query(
            "SELECT id, state, hostname, start_date, latest_heartbeat, now() AS db_now FROM job "
            "WHERE job_type = 'SchedulerJob' ORDER BY id"
        )

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll check() each second until it returns something truthy; fail with diagnostics."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            dead = self._restart_dead()
            if dead:
                raise AssertionError(f"Airflow components exited {dead} while waiting for {what}")
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_for_run(self, dag_id: str, timeout: float) -> dict[str, Any]:
        """The first run of dag_id once it is success or failed."""

        def finished():
            runs = self.dag_runs(dag_id)
            return runs[0] if runs and runs[0]["state"] in TERMINAL else None

        return self.wait_for(f"a finished run of {dag_id}", finished, timeout)

    # -- diagnostics ------------------------------------------------------------------------

    def report(self, lines: int = 40) -> str:
        """Run and task states, then the tail of every Airflow and Spark log, for a failure."""
        parts = ["== dag runs", *map(str, self.query("SELECT * FROM dag_run"))]
        parts += [
            "== task instances",
            *map(str, self.task_instances()),
        ]
        spark_logs = self.env.get("GOVLAKE_LAKEHOUSE")
        files = sorted(self.logs.rglob("*.log"))
        if spark_logs:
            files += sorted((Path(spark_logs).parent / "logs").glob("*.log"))
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            parts += [f"== {path} (last {lines} lines)", *text[-lines:]]
        return "\n".join(parts)


def dead_jobs(
    spawned: dict[str, dt.datetime], jobs: list[dict[str, Any]], hosts: dict[str, str]
) -> list[str]:
    """The schedulers (of `hosts`, name -> host) whose job since their latest start Airflow
    counts as dead (`Job.is_alive`: not running, or no heartbeat for HEALTH_THRESHOLD). A
    scheduler with no job yet is starting, not dead."""
    hung = []
    for name, host in hosts.items():
        own = [j for j in jobs if j["hostname"] == host and j["start_date"] >= spawned[name]]
        if not own:
            continue
        job = max(own, key=lambda j: j["id"])
        beat = job["latest_heartbeat"] or job["start_date"]
        if job["state"] != "running" or job["db_now"] - beat > HEALTH_THRESHOLD:
            hung.append(name)
    return hung


def _json(value: Any) -> dict:
    """An asset event's extra: a dict already (json column) or its JSON text."""
    return value if isinstance(value, dict) else json.loads(value or "{}")


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _killpg(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except OSError:
        pass
