"""Benchmark: the whole demo night at a size, in `local[2]` and on the cluster-local Spark
standalone cluster, for the sizing note (docs/sizing.md, issue 18).

Usage: python -m benchmarks.night [--sizes 100000 1000000] [--profiles local cluster-local]
One sample per size is generated once (`govlake generate`) and every profile's night reads it.
Each (size, profile) runs `govlake demo --persons N --report FILE` in a child process with its
own lakehouse, Airflow home and event log under var/bench-night/, so the two profiles never share
a table. Recorded: wall seconds, each DAG's seconds, the demo's verdict (balanced, ground truth
agreed), the peak resident memory of the process tree by role (sampled every second), the bytes
per lakehouse database, and the load average. Saved to benchmarks/results/night-<time>.json;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from benchmarks.run import RESULTS_DIR, console, environment
from govlake.settings import PROJECT_ROOT

WORK = PROJECT_ROOT / "var" / "bench-night"
DEFAULT_SIZES = [100_000, 1_000_000]
PROFILES = ["local", "cluster-local"]
SAMPLE_SECONDS = 1.0
# A process's role by a marker in its command line: what the sizing note sizes separately.
# The first marker found wins: the driver (SparkSubmit) is a deploy class too.
ROLES = (
    ("executor", "CoarseGrainedExecutorBackend"),
    ("driver JVM", "org.apache.spark.deploy.SparkSubmit"),
    ("master+workers", "org.apache.spark.deploy."),
    ("python", "python"),
)


def role_of(cmdline: list[str]) -> str:
    """The sizing role of one process, from its command line."""
    text = " ".join(cmdline)
    return next((role for role, marker in ROLES if marker in text), "other")


class MemorySampler(threading.Thread):
    """Peak summed resident memory per role over a process tree, sampled once a second."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.peaks: dict[str, int] = {}
        self.most: dict[str, int] = {}  # most processes of a role at once
        self.peak_total = 0
        self.loads: list[float] = []
        self.done = threading.Event()

    def sample(self) -> None:
        totals: dict[str, int] = {}
        counts: dict[str, int] = {}
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                role = role_of(proc.cmdline())
                totals[role] = totals.get(role, 0) + proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # ended between the listing and the read
            counts[role] = counts.get(role, 0) + 1
        for role, count in counts.items():
            self.most[role] = max(self.most.get(role, 0), count)
        for role, rss in totals.items():
            self.peaks[role] = max(self.peaks.get(role, 0), rss)
        self.peak_total = max(self.peak_total, sum(totals.values()))
        self.loads.append(os.getloadavg()[0])

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            try:
                self.sample()
            except psutil.NoSuchProcess:
                return


def folder_bytes(path: Path) -> int:
    """Bytes of the files under a folder (0 when it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def databases_bytes(lakehouse: Path) -> dict[str, int]:
    """Bytes per top folder of the lakehouse (a database: ods, base, theme, ops, ...)."""
    if not lakehouse.exists():
        return {}
    return {d.name: folder_bytes(d) for d in sorted(lakehouse.iterdir()) if d.is_dir()}


def source_rows(manifest: Path) -> dict[str, int]:
    """Rows per department table of the generated sample, from its manifest."""
    sources = json.loads(manifest.read_text(encoding="utf-8"))["sources"]
    return {f"{s}.{t}": info["rows"] for s, tables in sources.items() for t, info in tables.items()}


def generate(persons: int, sources: Path) -> float:
    """One sample city for every profile of this size; seconds taken."""
    shutil.rmtree(sources, ignore_errors=True)
    started = time.monotonic()
    env = {**os.environ, "GOVLAKE_SOURCES": str(sources)}
    cmd = [sys.executable, "-m", "govlake.cli", "generate", "--persons", str(persons)]
    subprocess.run(cmd, env=env, check=True, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
    return round(time.monotonic() - started, 1)


def night_command(profile: str, persons: int, report: Path) -> list[str]:
    """The demo night; on a profile with local workers, inside the cluster it starts."""
    from govlake.settings import load_settings

    demo = [sys.executable, "-m", "govlake.cli", "demo", "--persons", str(persons)]
    demo += ["--report", str(report)]
    if load_settings(profile).local_workers:
        return [sys.executable, "-m", "govlake.cluster", "run", "--", *demo]
    return demo


def run_night(profile: str, persons: int, sources: Path, home: Path) -> dict:
    """One whole night in a child process, its memory sampled; the demo's report and figures."""
    from govlake.settings import load_settings

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    report = home / "report.json"
    env = {
        **os.environ,
        "GOVLAKE_ENV": profile,
        "GOVLAKE_SOURCES": str(sources),
        "GOVLAKE_LAKEHOUSE": str(home / "lakehouse"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "COLUMNS": "200",
    }
    # Only where the profile keeps one: an event log written in `local` is work that row
    # does not do (the 100k nights of 2026-12-05 wrote one in both profiles).
    if load_settings(profile).spark_event_log:
        env["GOVLAKE_SPARK_EVENT_LOG"] = str(home / "spark-events")
    load_before = os.getloadavg()
    started = time.monotonic()
    with (home / "night.log").open("w") as log:
        cmd = night_command(profile, persons, report)
        proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        sampler = MemorySampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.done.set()
    seconds = round(time.monotonic() - started, 1)
    demo = json.loads(report.read_text()) if report.exists() else {}
    return {
        "profile": profile,
        "persons": persons,
        "exit_code": code,
        "verdict_ok": demo.get("ok", False),
        "seconds": seconds,
        "dags": demo.get("dags", []),
        "peak_rss_bytes": sampler.peaks,
        "peak_rss_total_bytes": sampler.peak_total,
        "most_processes": sampler.most,
        "lakehouse_bytes": databases_bytes(home / "lakehouse"),
        "event_log_bytes": folder_bytes(home / "spark-events"),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "load_mean_during": round(sum(sampler.loads) / max(len(sampler.loads), 1), 2),
        "log": str(home / "night.log"),
    }


def dag_seconds(night: dict, prefix: str) -> float:
    return round(sum(d["seconds"] for d in night["dags"] if d["dag_id"].startswith(prefix)), 1)


def phases(night: dict) -> dict:
    """Seconds by kind of DAG: loads, the landing DAG, libraries, themes, apps, ledger."""
    kinds = {"ods": "ods__", "libraries": "base__", "themes": "theme__", "apps": "app__"}
    out = {kind: dag_seconds(night, prefix) for kind, prefix in kinds.items()}
    out["nightly+ledger"] = dag_seconds(night, "ezhou_")
    out["outside DAGs"] = round(night["seconds"] - sum(out.values()), 1)
    return out


def print_nights(nights: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Whole night per profile")
    for col in ("persons", "profile", "ok", "wall s", "phases s", "peak RSS GB", "lakehouse GB"):
        table.add_column(col)
    for n in nights:
        table.add_row(
            f"{n['persons']:,}",
            n["profile"],
            "yes" if n["exit_code"] == 0 and n["verdict_ok"] else f"NO (exit {n['exit_code']})",
            f"{n['seconds']:.0f}",
            ", ".join(f"{k} {v:.0f}" for k, v in phases(n).items()),
            f"{n['peak_rss_total_bytes'] / 2**30:.1f}",
            f"{sum(n['lakehouse_bytes'].values()) / 2**30:.2f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    args = parser.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    result = {"started": stamp, "environment": environment(), "sizes": []}
    out = RESULTS_DIR / f"night-{stamp}.json"
    for persons in args.sizes:
        sources = WORK / f"sources-{persons}"
        size = {"persons": persons, "generate_seconds": generate(persons, sources)}
        size["sources_bytes"] = folder_bytes(sources)
        size["source_rows"] = source_rows(sources / "manifest.json")
        size["nights"] = []
        for profile in args.profiles:
            console.print(f"{persons:,} persons, {profile}: night running ...")
            night = run_night(profile, persons, sources, WORK / f"{profile}-{persons}")
            size["nights"].append(night)
            console.print(f"  {night['seconds']:.0f}s, exit {night['exit_code']}; {night['log']}")
            out.write_text(json.dumps({**result, "sizes": [*result["sizes"], size]}, indent=1))
        result["sizes"].append(size)
        print_nights(size["nights"])
    console.print(f"Saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
