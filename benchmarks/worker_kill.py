"""A worker killed during a load (issue 18, faults): SIGKILL one worker of the local standalone
cluster, executor and all, while an ods load runs on it; then check the table and its records.

Usage: python -m benchmarks.worker_kill [--persons 1000] [--system psb_hukou] [--table hj_resident]
       [--delay 0]

Starts a master and two workers (govlake.cluster, the cluster-local row on free ports, in a
temporary folder), generates the sample sources, and runs one ods load (jobs.ingest.load_table)
in a child process whose Spark driver uses the cluster. Once the load has recorded itself
`running` and both workers hold an executor of its application, the parent waits `--delay`
seconds, then (within 3 minutes) takes a worker whose executor is running a task at that moment
(its log in the worker's work dir says so) and SIGKILLs its process group: the Worker JVM and
the executor JVM it launched, a lost machine. Spark reschedules the lost task on the other
executor; when the load still fails, it is retried once with the same run id, as Airflow's task
retry (task_retries of the row) would. Then, read by delta-rs (no JVM):

- every table opens at a committed version and every data file its log names exists;
- the ods table, at each of its committed versions (delta-rs time travel), holds no rows or
  exactly the rows the load recorded as written: never a part of the batch;
- the load's latest run balances (read = ods rows of the batch + rejected + dropped +
  quarantined, each counted here) and its record is `running` then its outcome;
- the kill fell inside the load (after its running row, before its outcome row), and the
  application's event log shows the executor removed, the task it was running lost, and tasks
  finished on the other worker.

Figures go to stdout and benchmarks/results/worker-kill-<timestamp>.json; exit 1 on a problem.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2026, 11, 26)
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
RUN_ID = "worker-kill"


def child(system: str, table: str, out: Path) -> None:
    """The load, as an Airflow task runs it; its result or error as JSON."""
    from jobs.ingest import load_table

    try:
        result = {"result": load_table(system, table, DAY, run_id=RUN_ID)}
    except Exception as exc:  # reported to the parent, which decides on the retry
        result = {"error": f"{type(exc).__name__}: {exc}"}
    out.write_text(json.dumps(result, default=str), encoding="utf-8")


def run_records(cfg) -> list[dict]:
    """This run's rows of ops.load_runs (delta-rs), oldest first; [] before the table exists."""
    from govlake.lakehouse import Table, open_without_jvm

    opened = open_without_jvm(Table.parse("ops.load_runs"), cfg)
    if opened is None:
        return []
    rows = [r for r in opened.to_pyarrow_table().to_pylist() if r["run_id"] == RUN_ID]
    return sorted(rows, key=lambda r: (r["finished_at"] is not None, r["finished_at"] or 0))


def executors_by_worker(cluster) -> dict[str, list[str]]:
    """Per alive worker, the executor ids it runs now (each worker's own /json)."""
    from govlake.cluster import http_json

    held = {}
    for worker in cluster.workers():
        state = http_json(f"{worker['webuiaddress']}/json")
        held[worker["id"]] = [str(e["id"]) for e in state.get("executors", [])]
    return held


def worker_process(cluster, worker_id: str, workers: list[dict]) -> tuple[str, subprocess.Popen]:
    """The LocalCluster process (name, Popen) of the worker with this id (by its web UI port,
    which the worker was started with)."""
    from urllib.parse import urlparse

    port = urlparse(next(w["webuiaddress"] for w in workers if w["id"] == worker_id)).port
    for name, process in cluster.processes.items():
        if name.startswith("worker-") and f"--webui-port {port} " in " ".join(process.args) + " ":
            return name, process
    raise RuntimeError(f"no started worker has web UI port {port}")


def open_tasks(stderr: Path) -> list[str]:
    """Tasks an executor started and has not finished, from its log in the worker's work dir
    ("Running task 0.0 in stage 3.0 (TID 5)" without its "Finished task ... (TID 5)")."""
    if not stderr.exists():
        return []
    text = stderr.read_text(encoding="utf-8", errors="replace")
    started = re.findall(r"Running task .*?\(TID (\d+)\)", text)
    finished = set(re.findall(r"Finished task .*?\(TID (\d+)\)", text))
    return [tid for tid in started if tid not in finished]


def worker_running_a_task(cluster, workers, held, child_proc, wait: float = 180):
    """The first worker whose executor runs a task now (so the kill loses a task, which Spark
    must run again elsewhere); after `wait` seconds without one, the first worker anyway."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and child_proc.poll() is None:
        for worker_id, executors in held.items():
            work = worker_work_dir(cluster, worker_id, workers)
            running = [t for e in executors for t in open_tasks(work / e / "stderr")]
            if running:
                return worker_id, running
        time.sleep(0.2)
    return next(w for w, executors in held.items() if executors), []


def worker_work_dir(cluster, worker_id: str, workers: list[dict]) -> Path:
    """The worker's folder of the (one) application: <work-dir>/<app id>."""
    name, _ = worker_process(cluster, worker_id, workers)
    apps = sorted((cluster.home / name).glob("app-*"))
    return apps[-1] if apps else cluster.home / name / "none"


def kill_inside_the_load(cfg, cluster, child_proc, delay: float) -> dict:
    """Wait for the running row and an executor on each worker, then SIGKILL one worker."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child_proc.poll() is None:
        held = executors_by_worker(cluster)
        records = run_records(cfg)
        if records and len(held) == 2 and all(held.values()):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the load ended (or never started) before the kill could be placed")
    time.sleep(delay)
    workers = cluster.workers()
    worker_id, open_tasks = worker_running_a_task(cluster, workers, held, child_proc)
    name, process = worker_process(cluster, worker_id, workers)
    os.killpg(process.pid, signal.SIGKILL)  # the worker's group: Worker JVM + its executor
    killed_at = dt.datetime.now()
    process.wait()
    return {
        "worker": worker_id,
        "process": name,
        "executors": held[worker_id],
        "tasks_running_on_it": open_tasks,
        "killed_at": killed_at.isoformat(),
        "outcome_recorded_before_kill": any(r["status"] != "running" for r in run_records(cfg)),
    }


def run_load(env: dict, args, home: Path, attempt: int) -> subprocess.Popen:
    out = home / f"attempt-{attempt}.json"
    command = [sys.executable, "-m", "benchmarks.worker_kill", "--child", str(out)]
    command += ["--system", args.system, "--table", args.table]
    log = (home / f"attempt-{attempt}.log").open("wb")
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def outcome(home: Path, attempt: int) -> dict:
    path = home / f"attempt-{attempt}.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {"error": "no result"}


def event_log_work(cfg, cluster) -> list[dict]:
    """Per executor of the load's application: worker, tasks finished and failed, and whether
    Spark saw it removed (SparkListenerExecutorRemoved)."""
    from govlake.cluster import application_logs, executor_work

    state = cluster.state()
    rows = []
    for log in application_logs(cfg, state, 0):
        removed = set()
        for part in log.glob("events_*"):
            for line in part.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if event.get("Event") == "SparkListenerExecutorRemoved":
                    removed.add(event["Executor ID"])
        for row in executor_work(log, state.get("workers", [])):
            rows.append({**row, "application": log.name, "removed": row["executor"] in removed})
    return rows


def rows_by_version(cfg, ods) -> list[int]:
    """The table's row count at each committed version (delta-rs time travel)."""
    from govlake.lakehouse import open_without_jvm

    opened = open_without_jvm(ods, cfg)
    if opened is None:
        return []
    counts = []
    for version in range(opened.version() + 1):
        opened.load_as_version(version)
        counts.append(opened.to_pyarrow_table().num_rows)
    return counts


def checks(cfg, truth_rows: int, ods, report: dict) -> list[str]:
    """What must hold after the kill and the (retried) load; each problem as a line."""
    from benchmarks.faults import balances, committed_and_whole
    from govlake.lakehouse import size_without_jvm

    problems = committed_and_whole(cfg) + balances(cfg)
    version, rows = size_without_jvm(ods, cfg) or (None, None)
    by_version = rows_by_version(cfg, ods)
    report["ods"] = {"version": version, "rows": rows, "rows_by_version": by_version}
    statuses = [r["status"] for r in report["records"]]
    report["statuses"] = statuses
    if not statuses or statuses[-1] != "success" or statuses[0] != "running":
        problems.append(f"run records of {RUN_ID}: {statuses}")
        return problems
    final = report["records"][-1]
    if final["rows_read"] != truth_rows:
        problems.append(f"the load read {final['rows_read']} rows, the delivery has {truth_rows}")
    # Every committed version holds no rows or the whole batch: never a part of it.
    if rows != final["rows_written"] or set(by_version) - {0, final["rows_written"]}:
        problems.append(f"{ods.qualified}: rows by version {by_version}, written {final}")
    kill = report["kill"]
    if kill["outcome_recorded_before_kill"]:
        problems.append("the kill fell after the load's outcome row: not inside the load")
    lost = [e for e in report["executors"] if e["worker"] == kill["worker"]]
    others = [e for e in report["executors"] if e["worker"] != kill["worker"]]
    if not lost or not all(e["removed"] for e in lost):
        problems.append(f"the killed worker's executor is not seen removed: {lost}")
    if kill["tasks_running_on_it"] and not any(e["failed"] for e in lost):
        problems.append(
            f"tasks {kill['tasks_running_on_it']} ran on the killed executor, none lost"
        )
    if not any(e["tasks"] for e in others):
        problems.append(f"no task finished on the other worker: {others}")
    return problems


def parent(args) -> int:
    from govlake.cluster import LocalCluster, free_port
    from govlake.lakehouse import Table
    from govlake.sample import generate_sources
    from govlake.settings import load_settings

    home = Path(tempfile.mkdtemp(prefix="govlake-worker-kill-"))
    cfg = load_settings("cluster-local").model_copy(
        update={
            "spark_master": f"spark://127.0.0.1:{free_port('127.0.0.1')}",
            "spark_event_log": str(home / "spark-events"),
            "lakehouse": home / "lakehouse",
            "sources_root": home / "sources",
        }
    )
    Path(cfg.spark_event_log).mkdir(parents=True)
    clock = {"start": time.monotonic()}
    manifest = generate_sources(cfg.sources_root, args.persons, DAY)
    truth_rows = manifest.table(args.system, args.table)["rows"]
    report: dict = {"persons": args.persons, "home": str(home), "load_average": os.getloadavg()}
    with LocalCluster(cfg, home / "cluster") as cluster:
        clock["cluster_up"] = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVLAKE_")}
        env |= cluster.client_env() | {
            "GOVLAKE_ENV": "cluster-local",
            "GOVLAKE_SPARK_EVENT_LOG": cfg.spark_event_log,
            "GOVLAKE_LAKEHOUSE": str(cfg.lakehouse),
            "GOVLAKE_SOURCES": str(cfg.sources_root),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.getenv("PYTHONPATH")])),
        }
        first = run_load(env, args, home, 1)
        report["kill"] = kill_inside_the_load(cfg, cluster, first, args.delay)
        first.wait()
        report["attempts"] = [outcome(home, 1)]
        clock["first_attempt"] = time.monotonic()
        if "error" in report["attempts"][0]:  # Airflow's retry: same run id, one worker left
            retry = run_load(env, args, home, 2)
            retry.wait()
            report["attempts"].append(outcome(home, 2))
        clock["done"] = time.monotonic()
        report["records"] = [
            {k: r[k] for k in ("status", "rows_read", "rows_written", "rows_rejected", "error")}
            for r in run_records(cfg)
        ]
        report["executors"] = event_log_work(cfg, cluster)
    ods = Table.parse(f"ods.{args.system}__{args.table}")
    report["problems"] = checks(cfg, truth_rows, ods, report)
    marks = list(clock.items())
    report["seconds"] = {
        b[0]: round(b[1] - a[1], 1) for a, b in zip(marks, marks[1:], strict=False)
    }
    report["load_average_after"] = os.getloadavg()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"worker-kill-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps(report, indent=2, default=str))
    print(f"results: {path}")
    return 1 if report["problems"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--system", default="psb_hukou")
    parser.add_argument("--table", default="hj_resident")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds after the running row")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.system, args.table, args.child)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
