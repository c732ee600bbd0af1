"""Benchmark: the whole demo night at a size, in `local[2]` and on the cluster-local Spark
standalone cluster, for the sizing note (docs/sizing.md, issue 18).

Usage: python -m benchmarks.night [--sizes 100000 1000000] [--profiles local cluster-local]
                                  [--against REV [--pairs 2]]
One sample per size is generated once (`govlake generate`) and every profile's night reads it.
With --against, each profile's night runs in pairs, this checkout's code against REV's (a git
worktree under var/bench-night/baseline/), each side first in half the pairs: the first of two
nights run back to back was up to 50 s longer whichever code it ran (benchmarks/README.md,
fourteenth profile). Every task's seconds (from the night's Airflow database) are kept too.
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
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
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


def run_night(
    profile: str, persons: int, sources: Path, home: Path, checkout: Path = PROJECT_ROOT
) -> dict:
    """One whole night in a child process, its memory sampled; the demo's report and figures.
    `checkout` is the code that runs it (this one, or a baseline's worktree)."""
    from govlake.settings import load_settings

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    report = home / "report.json"
    env = {
        **os.environ,
        **code_of(checkout),
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
        proc = subprocess.Popen(cmd, env=env, cwd=checkout, stdout=log, stderr=log)
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
        "tasks": task_seconds(home / "airflow" / "airflow.db"),
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


def code_of(checkout: Path) -> dict[str, str]:
    """The environment that makes a child process (and the DAG parses and tasks it starts)
    import `checkout`'s code rather than the editable install's."""
    path = [str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path), "GOVLAKE_HOME": str(checkout)}


def task_seconds(database: Path) -> list[dict]:
    """Each task's seconds from the night's Airflow database (SQLite; none on another one)."""
    if not database.is_file():
        return []
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT dag_id, task_id, duration FROM task_instance WHERE state = 'success'"
        ).fetchall()
    return [{"dag_id": d, "task_id": t, "seconds": round(s or 0, 1)} for d, t, s in sorted(rows)]


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def baseline_checkout(rev: str) -> tuple[Path, str]:
    """A worktree of `rev` to run the baseline's nights from, and its commit. It shares this
    checkout's .cache (the jars, the class archive), so neither side resolves or compiles."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    folder = WORK / "baseline" / commit[:12]
    if not (folder / ".git").exists():
        git("worktree", "prune")
        shutil.rmtree(folder, ignore_errors=True)
        git("worktree", "add", "--detach", str(folder), commit)
    cache = folder / ".cache"
    if not cache.exists():
        cache.symlink_to(PROJECT_ROOT / ".cache", target_is_directory=True)
    return folder, commit


def pair_order(pairs: int) -> list[str]:
    """Which side runs each night of `pairs` back-to-back pairs: base, head, then head, base,
    and so on, so that each goes first in half of them."""
    return [side for i in range(pairs) for side in (("base", "head"), ("head", "base"))[i % 2]]


def compared(nights: list[dict]) -> dict:
    """Mean seconds of each side (wall, and each kind of DAG) and head's over base's."""
    means = {}
    for side in ("base", "head"):
        mine = [n for n in nights if n["side"] == side]
        rows = [{"wall": n["seconds"], **phases(n)} for n in mine]
        means[side] = {k: round(sum(r[k] for r in rows) / len(rows), 1) for k in rows[0]}
    ratio = {k: round(h / b, 3) if b else None for k, h, b in _sides(means)}
    return {"nights": len(nights), "base": means["base"], "head": means["head"], "ratio": ratio}


def _sides(means: dict) -> list[tuple[str, float, float]]:
    return [(k, means["head"][k], means["base"][k]) for k in means["base"]]


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
    two_sides = len({n.get("side") for n in nights}) > 1
    for n in nights:
        table.add_row(
            f"{n['persons']:,}",
            f"{n['profile']} ({n['side']})" if two_sides else n["profile"],
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
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    parser.add_argument("--pairs", type=int, default=2, help="pairs of nights (with --against)")
    args = parser.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    result = {"started": stamp, "environment": environment(), "sizes": []}
    code = {"head": PROJECT_ROOT}
    if args.against:
        code["base"], base = baseline_checkout(args.against)
        result["code"] = {"head": git("rev-parse", "HEAD"), "base": base}
    order = pair_order(args.pairs) if args.against else ["head"]
    out = RESULTS_DIR / f"night-{stamp}.json"

    def save(size: dict | None = None) -> None:
        sizes = [*result["sizes"], *([size] if size else [])]
        out.write_text(json.dumps({**result, "sizes": sizes}, indent=1))

    for persons in args.sizes:
        size = sample(persons)
        for profile in args.profiles:
            run_profile(size, profile, code, order, save)
        result["sizes"].append(size)
        save()
        print_nights(size["nights"])
        print_compared(size.get("compared", {}), persons)
    console.print(f"Saved {out}")
    return 0


def run_profile(size: dict, profile: str, code: dict[str, Path], order: list[str], save) -> None:
    """The profile's nights in `order` (sides of `code`), and their comparison when two sides
    ran; `save` is called after each night so a stopped run keeps what it measured."""
    persons = size["persons"]
    for side in order:
        console.print(f"{persons:,} persons, {profile}, {side}: night running ...")
        home = WORK / "-".join([profile, str(persons), *([side] if len(code) > 1 else [])])
        night = run_night(profile, persons, Path(size["sources"]), home, code[side])
        size["nights"].append({**night, "side": side})
        console.print(f"  {night['seconds']:.0f}s, exit {night['exit_code']}; {night['log']}")
        save(size)
    if len(code) > 1:
        mine = [n for n in size["nights"] if n["profile"] == profile]
        size.setdefault("compared", {})[profile] = compared(mine)


def sample(persons: int) -> dict:
    """The size's sample city, generated once for every profile and side."""
    sources = WORK / f"sources-{persons}"
    size = {"persons": persons, "generate_seconds": generate(persons, sources)}
    size["sources_bytes"] = folder_bytes(sources)
    size["source_rows"] = source_rows(sources / "manifest.json")
    return {**size, "sources": str(sources), "nights": []}


def print_compared(comparisons: dict, persons: int) -> None:
    from rich.table import Table

    for profile, c in comparisons.items():
        table = Table(title=f"{persons:,} persons, {profile}: mean of {c['nights']} nights")
        for col in ("seconds", "base", "head", "head / base"):
            table.add_column(col)
        for key, base in c["base"].items():
            ratio = c["ratio"][key]
            shown = "-" if ratio is None else f"{ratio:.3f}"
            table.add_row(key, f"{base:.1f}", f"{c['head'][key]:.1f}", shown)
        console.print(table)


if __name__ == "__main__":
    sys.exit(main())
