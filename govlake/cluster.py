"""A Spark standalone cluster on this machine: a master and `local_workers` workers.

The settings row names the cluster (`spark_master: spark://127.0.0.1:<port>`) and the size of
each worker (one executor of `executor_cores` and `executor_memory`); this module starts those
processes from the PySpark wheel (`bin/spark-class`, as the wheel has no start-master.sh), each
in its own process group with its log under `<lakehouse>/../cluster/`, waits until the master
lists every worker alive, and stops exactly the processes it started. The driver (a
`govlake demo`, a test's night) runs in its own process against it, so its executors are real
JVMs on the workers that fetch the Delta and JDBC jars from the driver (spark.jars.packages).

    python -m govlake.cluster run -- govlake demo --persons 1000

starts the cluster, runs the command with the cluster's environment, prints where the
application's executors ran and how many tasks each finished, and stops the cluster, also when
the command fails or is interrupted.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlparse

from govlake.errors import ConfigError, GovlakeError
from govlake.settings import PROJECT_ROOT, Settings, settings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# The master and worker daemons only schedule; the executors they launch get executor_memory.
DAEMON_MEMORY = "512m"


@dataclass
class LocalCluster:
    """The master and workers of `cfg.spark_master` on this machine, as child processes."""

    cfg: Settings
    home: Path
    start_timeout: float = 90.0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    webui_port: int = 0

    @property
    def address(self) -> tuple[str, int]:
        return master_address(self.cfg)

    def start(self) -> LocalCluster:
        """Start the master, then the workers, and wait until all are registered."""
        if self.cfg.local_workers < 1:
            raise ConfigError(
                f"local_workers of environment '{self.cfg.env}' is {self.cfg.local_workers}: "
                "there is no cluster to start on this machine.",
                file=str(PROJECT_ROOT / "conf" / "settings.yaml"),
                fix="use GOVLAKE_ENV=cluster-local, or set local_workers in the row.",
            )
        host, port = self.address
        _refuse_taken(host, port)
        self.home.mkdir(parents=True, exist_ok=True)
        self.webui_port = free_port(host)
        try:
            self._spawn("master", MASTER_CLASS, *self._bind(host, port, self.webui_port))
            for number in range(1, self.cfg.local_workers + 1):
                self._spawn(f"worker-{number}", WORKER_CLASS, *self._worker_args(number))
            self._wait_for_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM each started process group (a worker's takes its executors), workers first;
        SIGKILL what is still there after 20 s. Only the processes this object started."""
        for name in reversed(list(self.processes)):
            _terminate(self.processes.pop(name))

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client_env(self) -> dict[str, str]:
        """What a driver process needs to use this cluster: its address, the loopback
        interface for the driver's own ports, and the venv's Python for the executors."""
        host, port = self.address
        return {
            "GOVLAKE_SPARK_MASTER": f"spark://{host}:{port}",
            "SPARK_LOCAL_IP": host,
            "PYSPARK_PYTHON": sys.executable,
        }

    def state(self) -> dict:
        """The master's JSON (workers, running and completed applications)."""
        host, _ = self.address
        return http_json(f"http://{host}:{self.webui_port}/json")

    def workers(self) -> list[dict]:
        return [w for w in self.state().get("workers", []) if w.get("state") == "ALIVE"]

    # -- processes -------------------------------------------------------------------------

    @staticmethod
    def _bind(host: str, port: int, webui_port: int) -> tuple[str, ...]:
        return ("--host", host, "--port", str(port), "--webui-port", str(webui_port))

    def _worker_args(self, number: int) -> tuple[str, ...]:
        host, port = self.address
        return (
            *self._bind(host, free_port(host), free_port(host)),
            *("--cores", str(self.cfg.executor_cores), "--memory", self.cfg.executor_memory),
            *("--work-dir", str(self.home / f"worker-{number}")),
            f"spark://{host}:{port}",
        )

    def _spawn(self, name: str, main_class: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("ab")
        with log:
            self.processes[name] = subprocess.Popen(
                [str(spark_class()), main_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._daemon_env(),
                start_new_session=True,  # its own process group: stopped as one, by its pid
            )

    def _daemon_env(self) -> dict[str, str]:
        host, _ = self.address
        return {
            **os.environ,
            "SPARK_LOCAL_IP": host,  # else Spark binds the machine's external interface
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            # The standalone REST submission server (port 6066) is not used: keep it closed.
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
            # Executors' Python workers: the venv's interpreter and this checkout's packages.
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PROJECT_ROOT), os.getenv("PYTHONPATH")])
            ),
        }

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        alive: list[dict] = []
        while time.monotonic() < deadline:
            self._check_running()
            try:
                alive = self.workers()
            except (OSError, ValueError):
                # The master's web UI is not up yet, or answers while starting with an empty
                # body (seen once at a low load: JSONDecodeError on the first poll).
                alive = []
            if len(alive) >= self.cfg.local_workers:
                return
            time.sleep(0.5)
        raise GovlakeError(
            f"{len(alive)} of {self.cfg.local_workers} workers registered with "
            f"{self.cfg.spark_master} after {self.start_timeout:.0f}s.",
            file=str(self.home),
            fix="read master.log and worker-*.log there (memory? a port taken?).",
        )

    def _check_running(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.home / f"{name}.log"
                raise GovlakeError(
                    f"the cluster's {name} exited with code {process.returncode} while starting:"
                    f" {_tail(log)}",
                    file=str(log),
                    fix="read the log; `java -version` must be 17 or 21.",
                )


def master_address(cfg: Settings) -> tuple[str, int]:
    """(host, port) of a spark://host:port master; any other master is no local cluster."""
    url = urlparse(cfg.spark_master)
    if url.scheme != "spark" or not url.hostname or not url.port:
        raise ConfigError(
            f"spark_master of environment '{cfg.env}' is '{cfg.spark_master}', not a "
            "standalone master spark://<host>:<port>.",
            file=str(PROJECT_ROOT / "conf" / "settings.yaml"),
            fix="use GOVLAKE_ENV=cluster-local (or set spark_master: spark://127.0.0.1:<port>).",
        )
    return url.hostname, url.port


def spark_class() -> Path:
    """bin/spark-class of the installed PySpark (its jars are the cluster's)."""
    spec = find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise GovlakeError("PySpark is not installed.", fix="run `make venv`.")
    return Path(spec.submodule_search_locations[0]) / "bin" / "spark-class"


def free_port(host: str) -> int:
    """A port nobody listens on now (the OS's choice)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own master)
        return json.loads(response.read())


def _refuse_taken(host: str, port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex((host, port)) == 0:
            raise GovlakeError(
                f"something already listens on {host}:{port}, the cluster's master port.",
                fix="stop the other cluster (a `make cluster-demo` still running?) or change "
                "spark_master's port in conf/settings.yaml.",
            )


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def _tail(log: Path, lines: int = 3) -> str:
    if not log.exists():
        return "(no log)"
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    hits = [x.strip() for x in text if "ERROR" in x or "Exception" in x]
    return " | ".join((hits or text)[-lines:])


# -- where the work ran ----------------------------------------------------------------------


def executor_work(event_log: Path, workers: list[dict]) -> list[dict]:
    """Per executor of one application: the worker it ran on and the tasks it finished, read
    from the application's Spark event log folder (eventlog_v2_<app>: rolled events_* files,
    the history server's input)."""
    by_webui = {urlparse(w["webuiaddress"]).port: w["id"] for w in workers}
    executors: dict[str, dict] = {}
    for part in sorted(event_log.glob("events_*"), key=lambda p: int(p.name.split("_")[1])):
        with event_lines(part) as lines:
            for line in lines:
                event = json.loads(line)
                kind = event.get("Event")
                if kind == "SparkListenerExecutorAdded":
                    _add_executor(executors, event, by_webui)
                elif kind == "SparkListenerTaskEnd":
                    _count_task(executors, event)
    return sorted(executors.values(), key=lambda e: int(e["executor"]))


def event_lines(part: Path) -> io.TextIOBase:
    """One rolled event log file as text lines: zstd frames (`events_<n>_<app>.zstd`, the
    codec the session writes with) or plain JSON lines."""
    raw = part.open("rb")
    if part.suffix == ".zstd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return io.TextIOWrapper(raw, encoding="utf-8")


def _add_executor(executors: dict[str, dict], event: dict, by_webui: dict) -> None:
    """An executor, placed on its worker by its log URL (the worker's web UI port)."""
    info = event["Executor Info"]
    port = urlparse(next(iter(info.get("Log Urls", {}).values()), "")).port
    executors[event["Executor ID"]] = {
        "executor": event["Executor ID"],
        "worker": by_webui.get(port, f"{info['Host']}:{port}"),
        "cores": info.get("Total Cores"),
        "tasks": 0,
        "failed": 0,
    }


def _count_task(executors: dict[str, dict], event: dict) -> None:
    info = event["Task Info"]
    executor = executors.get(info["Executor ID"])
    if executor is None:  # the driver (local tasks) is no executor of a worker
        return
    executor["failed" if info.get("Failed") else "tasks"] += 1


def application_logs(cfg: Settings, state: dict, since_ms: float) -> list[Path]:
    """Event logs of the applications the master ran since `since_ms` (epoch milliseconds)."""
    if not cfg.spark_event_log or "://" in cfg.spark_event_log:
        return []
    apps = [*state.get("activeapps", []), *state.get("completedapps", [])]
    folder = Path(cfg.spark_event_log)
    logs = []
    for app in sorted(apps, key=lambda a: a["starttime"]):
        log = folder / f"eventlog_v2_{app['id']}"
        if app["starttime"] >= since_ms and log.is_dir():
            logs.append(log)
    return logs


def print_work(cluster: LocalCluster, since_ms: float) -> None:
    """Where the applications' executors ran and the tasks each finished."""
    state = cluster.state()
    for log in application_logs(cluster.cfg, state, since_ms):
        print(f"Application {log.name} (event log {log}):")
        for row in executor_work(log, state.get("workers", [])):
            print(
                f"  executor {row['executor']} on worker {row['worker']}: {row['tasks']} tasks "
                f"finished, {row['failed']} failed"
            )


def run(command: list[str]) -> int:
    """Start the cluster, run `command` against it, report where its work ran, stop it."""
    cfg = settings()
    cluster = LocalCluster(cfg, cfg.lakehouse.parent / "cluster")
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the cluster is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    since_ms = time.time() * 1000
    started = time.monotonic()
    with cluster:
        workers = ", ".join(f"{w['id']} ({w['cores']} core)" for w in cluster.workers())
        print(
            f"Spark standalone cluster {cfg.spark_master} up in {time.monotonic() - started:.1f}s"
            f" (master UI http://{cluster.address[0]}:{cluster.webui_port}); workers: {workers}",
            flush=True,
        )
        try:
            code = subprocess.run(command, env={**os.environ, **cluster.client_env()}).returncode
        finally:
            print_work(cluster, since_ms)
    print(f"Cluster stopped; logs in {cluster.home}")
    return code


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["run"] or len(args) < 2:
        print("usage: python -m govlake.cluster run [--] <command> [args...]", file=sys.stderr)
        return 2
    command = args[2:] if args[1] == "--" else args[1:]
    try:
        return run(command)
    except GovlakeError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
