"""Benchmark: a declared task's cost as the scheduler path runs it, one new process per task.

Usage: python -m benchmarks.task_process --tasks load_certificate,build_economy
       [--rounds 2] [--trees /path/before,/path/after] [--label L]
On the lakehouse of the current settings (GOVLAKE_LAKEHOUSE: a demo night's, say), each named
task of `govlake.tasks.all_tasks()` runs in a new Python process through
`govlake.tasks.execute`, as an Airflow task process does: the driver's start, the tables it
names, the job and its lineage. With `--trees`, each task runs on each tree (a checkout of the
code, first on PYTHONPATH) in turn, round after round, so two versions are compared under the
same load. Wall seconds per process, with the 1-minute load before and after; results go to
benchmarks/results/task-process-<label>-<time>.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from govlake.settings import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
MARK = '{"task"'  # the child's one result line (the JVM and Airflow log to stdout as well)


def run_child(task_id: str) -> None:
    """In the new process: run one declared task for the night of 2026-11-26 (city time)."""
    from collections import defaultdict
    from types import SimpleNamespace

    import pendulum

    began = time.perf_counter()
    from govlake.tasks import all_tasks, execute

    known = {t.task_id: t for t in all_tasks()}
    if task_id not in known:
        raise SystemExit(f"no declared task {task_id!r}; known: {', '.join(sorted(known))}")
    logical = pendulum.datetime(2026, 11, 26, 1, tz="Asia/Shanghai").in_timezone("UTC")
    context = {
        "run_id": f"manual__task_process_{time.time_ns()}",
        "logical_date": logical,
        "outlet_events": defaultdict(lambda: SimpleNamespace(extra=None)),
    }
    result = execute(known[task_id], context)
    seconds = round(time.perf_counter() - began, 2)
    status = result.get("status") or result.get("mode")
    print(json.dumps({"task": task_id, "seconds": seconds, "status": status}), flush=True)


def child_result(stdout: str) -> dict | None:
    """The child's result line, the last one that starts with MARK."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARK)]
    return json.loads(lines[-1]) if lines else None


def timed(tree: Path, task_id: str) -> dict:
    """One task in a new process on `tree`; its wall time as the parent measured it too."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # This file by path: a tree being compared may predate it; govlake comes from the tree.
    command = [sys.executable, str(Path(__file__).resolve()), "--child", task_id]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall = round(time.perf_counter() - began, 2)
    found = child_result(done.stdout)
    if done.returncode != 0 or found is None:
        return {"task": task_id, "tree": str(tree), "wall": wall, "error": done.stderr[-1500:]}
    return {**found, "tree": str(tree), "wall": wall}


def best(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per task and tree, the fastest process's wall seconds (failed runs left out)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if "error" in row:
            continue
        per_tree = out.setdefault(row["task"], {})
        per_tree[row["tree"]] = min(per_tree.get(row["tree"], row["wall"]), row["wall"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated task ids (govlake.tasks.all_tasks)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trees", default=str(PROJECT_ROOT), help="comma-separated checkouts")
    parser.add_argument("--label", default="run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child)
        return 0
    if not args.tasks:
        parser.error("--tasks is required")
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    load_before = os.getloadavg()
    rows = []
    for round_no in range(1, args.rounds + 1):
        for task_id in args.tasks.split(","):
            for tree in trees:
                row = {**timed(tree, task_id), "round": round_no}
                print(json.dumps(row)[:300], flush=True)
                rows.append(row)
    result = {
        "benchmark": "task_process",
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "lakehouse": os.environ.get("GOVLAKE_LAKEHOUSE"),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "runs": rows,
        "best": best(rows),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    out = RESULTS_DIR / f"task-process-{args.label}-{stamp}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"results: {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
