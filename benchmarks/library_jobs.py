"""Benchmark: a tiny library build's fixed cost, per phase: Spark jobs, Delta commits, seconds.

Usage: python -m benchmarks.library_jobs [--rounds 2]
The People setup of tests/test_library.py (two departments' sources, a handful of rows, one
library) in a private temporary lakehouse: a first full build, an unchanged rerun and an
incremental night (one name changed). Each phase of jobs.library is wrapped so its Spark jobs
carry a job group (counted with the status tracker) and its time is taken exclusive of the
phases inside it; Delta commits are counted as table versions before and after each phase.
Round 1 warms the JVM; the last round is reported. Nothing is asserted (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT / "benchmarks" / "results"

# (module, attribute) of each phase wrapped; a phase inside another is timed on its own.
PHASES = [
    ("govlake.catalog", "assert_publishable"),
    ("jobs.library.build", "plan_build"),
    ("jobs.library.incremental", "config_hash"),
    ("jobs.library.incremental", "batch_fingerprints"),
    ("jobs.library.incremental", "last_build"),
    ("jobs.library.incremental", "find_changes"),
    ("jobs.library.build", "run_inputs"),
    ("jobs.library.build", "landed_rows"),
    ("jobs.library.write", "publish_standardized"),
    ("jobs.library.write", "standardized_counts"),
    ("jobs.library.read", "stale_note"),
    ("jobs.library.read", "link_keys"),
    ("jobs.quality", "check_library"),
    ("jobs.quality.engine", "Outcome.settle"),
    ("jobs.library.write", "publish_findings"),
    ("jobs.library.write", "replace_slice"),
    ("jobs.library.write", "merge_changed"),
    ("jobs.library.build", "finish"),
    ("jobs.library.write", "current_keys"),
    ("jobs.library.write", "record_build"),
]


def environment(home: Path) -> None:
    """Settings of a private lakehouse, as tests/conftest.py sets them (before any import)."""
    os.environ["GOVLAKE_ENV"] = "test"
    os.environ["GOVLAKE_LAKEHOUSE"] = str(home / "lakehouse")
    os.environ["GOVLAKE_SOURCES"] = str(home / "sources")
    os.environ["AIRFLOW_HOME"] = str(home / "airflow")
    os.environ["GOVLAKE_SOURCE_ROOTS"] = tempfile.gettempdir()
    os.environ.pop("GOVLAKE_TABLES_URI", None)
    (home / "conf_sources").mkdir(parents=True)
    os.environ["GOVLAKE_SOURCES_DIR"] = str(home / "conf_sources")


class Recorder:
    """Per phase: exclusive seconds, Spark jobs (by job group) and Delta commits."""

    def __init__(self, spark, cfg):
        self.spark, self.cfg = spark, cfg
        self.stack: list[str] = []
        self.label = "setup"
        self.seconds: dict[str, float] = {}
        self.commits: dict[str, int] = {}
        self.groups: set[str] = set()

    def versions(self) -> dict[str, int]:
        from govlake.lakehouse import listed_tables

        found = {}
        for table in listed_tables(self.cfg):
            version = table.version(self.spark, self.cfg)
            found[table.qualified] = -1 if version is None else version
        return found

    def group(self, phase: str) -> str:
        name = f"{self.label}/{phase}"
        self.groups.add(name)
        self.spark.sparkContext.setJobGroup(name, name)
        return name

    @contextlib.contextmanager
    def phase(self, phase: str):
        """Run a phase: its own job group, its time and commits less those of inner phases."""
        parent = self.stack[-1] if self.stack else "other"
        self.pause(parent)
        self.stack.append(phase)
        self.group(phase)
        self.start(phase)
        try:
            yield
        finally:
            self.pause(phase)
            self.stack.pop()
            self.group(parent)
            self.start(parent)

    def start(self, phase: str) -> None:
        self._began = (phase, time.perf_counter(), self.versions())

    def pause(self, phase: str) -> None:
        began = getattr(self, "_began", None)
        if began is None or began[0] != phase:
            return
        seconds = time.perf_counter() - began[1]
        after = self.versions()
        made = sum(v - began[2].get(t, -1) for t, v in after.items())
        key = f"{self.label}/{phase}"
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.commits[key] = self.commits.get(key, 0) + made
        self._began = None

    def wrap(self, module_name: str, attribute: str) -> None:
        import importlib

        module = importlib.import_module(module_name)
        owner, _, name = attribute.rpartition(".")
        holder = getattr(module, owner) if owner else module
        original = getattr(holder, name)
        recorder, phase = self, name

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            with recorder.phase(phase):
                return original(*args, **kwargs)

        setattr(holder, name, wrapped)

    def measure(self, label: str, action) -> dict:
        """Run one build; its phases as {phase: (jobs, commits, seconds)} and totals."""
        self.label = label
        tracker = self.spark.sparkContext.statusTracker()
        began = time.perf_counter()
        self.group("other")
        self.start("other")
        result = action()
        self.pause("other")
        wall = time.perf_counter() - began
        self.spark.sparkContext.setJobGroup("setup", "setup")
        phases = {}
        for key in sorted(k for k in self.seconds if k.startswith(f"{label}/")):
            name = key.split("/", 1)[1]
            jobs = len(tracker.getJobIdsForGroup(key)) if key in self.groups else 0
            phases[name] = {
                "jobs": jobs,
                "commits": self.commits.get(key, 0),
                "seconds": round(self.seconds[key], 2),
            }
        return {
            "build": label,
            "mode": result["mode"],
            "wall_seconds": round(wall, 2),
            "jobs": sum(p["jobs"] for p in phases.values()),
            "commits": sum(p["commits"] for p in phases.values()),
            "phases": phases,
        }


def people_round(spark, home: Path, round_no: int, recorder: Recorder) -> list[dict]:
    """One People library over three builds: full, unchanged rerun, incremental night."""
    sys.path.insert(0, str(PROJECT / "tests"))
    import test_library as T

    folder = home / f"round{round_no}"
    folder.mkdir()
    suffix = str(zlib.crc32(f"bench{round_no}".encode()) % 10**6)
    lib = T.People(f"people{suffix}", f"lib_police{suffix}", f"lib_hrss{suffix}", folder)

    class Env:
        def setenv(self, key, value):
            os.environ[key] = value

    T.declare_people(lib, Path(os.environ["GOVLAKE_SOURCES_DIR"]), folder, Env())
    suites = folder / "expectations" / "base"
    suites.mkdir(parents=True)
    (suites / f"{lib.name}.yml").write_text(T.PEOPLE_SUITE.format(name=lib.name), "utf-8")
    os.environ["GOVLAKE_EXPECTATIONS_DIR"] = str(suites.parent)
    lib.deliver(spark, T.NIGHT1, T.RESIDENTS, T.ENROLMENT)
    out = [recorder.measure(f"full{round_no}", lambda: lib.build(spark, T.NIGHT1, "b1"))]
    out.append(recorder.measure(f"unchanged{round_no}", lambda: lib.build(spark, T.NIGHT1, "b2")))
    moved = [x.replace("张伟", "张维") if x.startswith("1,") else x for x in T.RESIDENTS]
    recorder.label = "setup"
    lib.deliver(spark, T.NIGHT2, moved, T.ENROLMENT)
    night = recorder.measure(f"incremental{round_no}", lambda: lib.build(spark, T.NIGHT2, "b3"))
    return [*out, night]


def show(builds: list[dict]) -> None:
    for build in builds:
        print(
            f"\n{build['build']} build ({build['mode']}): {build['wall_seconds']} s, "
            f"{build['jobs']} Spark jobs, {build['commits']} Delta commits"
        )
        print(f"  {'phase':<22}{'jobs':>6}{'commits':>9}{'seconds':>9}")
        for name, p in sorted(build["phases"].items(), key=lambda kv: -kv[1]["seconds"]):
            print(f"  {name:<22}{p['jobs']:>6}{p['commits']:>9}{p['seconds']:>9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the last is reported")
    parser.add_argument("--label", default="", help="saved as library-jobs-<label>-<time>.json")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="govlake-libjobs-"))
    environment(home)
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg)
    recorder = Recorder(spark, cfg)
    for module, attribute in PHASES:
        recorder.wrap(module, attribute)
    rounds = [people_round(spark, home, n, recorder) for n in range(1, args.rounds + 1)]
    show(rounds[-1])
    load = os.getloadavg()[0]
    print(f"\n1-minute load average at the end: {load:.1f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    name = f"library-jobs-{args.label + '-' if args.label else ''}{stamp}.json"
    data = {"rounds": rounds, "load_average_1min": load, "reported": "last round"}
    (RESULTS_DIR / name).write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
    print(f"saved benchmarks/results/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
