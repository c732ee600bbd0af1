"""A new Python process's start-up: with the bytecode `make venv` writes, and compiled from source.

Usage: python -m benchmarks.startup [--rounds 3] [--out FILE]
Every Airflow task, `govlake` command and test subprocess is a new interpreter. Each probe below
runs as a new process, `--rounds` times, alternating with its baseline: the same process with
PYTHONPYCACHEPREFIX pointing at an empty folder, where Python finds no bytecode and compiles
every module it imports from source (PYTHONDONTWRITEBYTECODE keeps it from writing any), as it
did on a machine with that variable set before bootstrap compiled the environment. The figure
is CPU seconds (user + system) of the process and its children, best of the rounds, and the
wall seconds of the metadata command (issue 19's row: "answer in under 2 s with no JVM").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import RESULTS_DIR, console

# (name, arguments after the interpreter): a metadata command, the command line's help, and
# what an Airflow task process of the night imports before its first line of work.
PROBES = (
    ("govlake sources", ["-m", "govlake.cli", "sources", "--json"]),
    ("govlake --help", ["-m", "govlake.cli", "--help"]),
    (
        "a night task's imports",
        ["-c", "import airflow.sdk, pyspark.sql, great_expectations, govlake.tasks, jobs.library"],
    ),
)


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU and wall seconds of one new process (its children's CPU included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def summary(name: str, runs: dict[str, list[tuple[float, float]]]) -> dict:
    """Best of the rounds per side, CPU and wall, and every round's figures."""
    best = {k: (min(c for c, _ in v), min(w for _, w in v)) for k, v in runs.items()}
    every = {k: [[round(c, 2), round(w, 2)] for c, w in v] for k, v in runs.items()}
    return {
        "probe": name,
        "source_cpu_seconds": round(best["source"][0], 2),
        "bytecode_cpu_seconds": round(best["bytecode"][0], 2),
        "cpu_ratio": round(best["bytecode"][0] / best["source"][0], 2),
        "source_wall_seconds": round(best["source"][1], 2),
        "bytecode_wall_seconds": round(best["bytecode"][1], 2),
        "rounds": every,
    }


def measure(rounds: int) -> list[dict]:
    """Each probe with bytecode and from source, alternating, `rounds` times."""
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="govlake-no-bytecode-") as empty:
        from_source = env | {"PYTHONPYCACHEPREFIX": empty}
        for name, args in PROBES:
            runs: dict[str, list[tuple[float, float]]] = {"bytecode": [], "source": []}
            for _ in range(rounds):
                runs["source"].append(run_once(args, from_source))
                runs["bytecode"].append(run_once(args, env))
            if any(Path(empty).iterdir()):
                raise SystemExit("the from-source baseline wrote bytecode: the figures are void")
            rows.append(summary(name, runs))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = measure(args.rounds)
    result = {
        "benchmark": "startup",
        "python": sys.version.split()[0],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "probes": rows,
    }
    out = args.out or RESULTS_DIR / f"startup-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in rows:
        console.print(
            f"{r['probe']}: {r['source_cpu_seconds']} -> {r['bytecode_cpu_seconds']} CPU s "
            f"({r['cpu_ratio']}x), wall {r['source_wall_seconds']} -> "
            f"{r['bytecode_wall_seconds']} s",
            highlight=False,
        )
    console.print(f"load average {result['load_average_before']} -> {result['load_average_after']}")
    console.print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
