"""Profile: where an ODS load's fixed cost goes, phase by phase (issue 19).

Usage: python -m benchmarks.ods_phases [--persons 3000] [--rounds 3] [--rerun]
Generates the sample sources once, starts one Spark session, then loads every physical table
(`jobs.ingest.load_table`) into a fresh lakehouse per round, with the 双公示 interface served by
the demo's sample server. `--rerun` follows each round with the same night loaded again with
`force` (`govlake load --force`) into the lakehouse it made: every table then exists, so each
batch replaces its day in a table already written, as a nightly load does. Each phase of
`jobs.ingest`, `jobs.ops` and `Table` is wrapped in a timer, so a round gives seconds and calls
per phase (nested phases overlap: write_batch holds check_load and write_rows). The first round
warms the session; read the later ones. Results go to benchmarks/results/ods-phases-<time>.json.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console

from govlake.settings import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
# (module, attribute) pairs timed; Table's methods as Table.<name>.
PHASES = {
    "jobs.ops": (
        "history", "start_run", "record_run", "replace_rejects", "replace_dropped",
        "count_rejects", "count_dropped",
    ),
    "jobs.quality": ("check_load",),
    "jobs.quality.engine": ("conditions", "count_failures", "without_quarantined"),
    "jobs.quality.gx_run": ("validate_with_gx", "_definition", "_run_with_counts"),
    "jobs.ingest": (
        "read_source", "schema_change", "batch_stats", "write_batch", "write_rows",
        "check_balance", "finish", "altered_outside", "rows_in_batch",
    ),
    "govlake.lakehouse.Table": (
        "write", "replace", "exists", "version", "register", "fields", "read",
    ),
}  # fmt: skip
console = Console(width=None if sys.stdout.isatty() else 140)


class Timers:
    """Seconds and calls per wrapped callable, since the last reset."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def wrap(self, owner: object, name: str, label: str) -> None:
        """Replace owner.name by a timed call of it, under `label`."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, name, timed)

    def rows(self) -> list[dict]:
        """Phases, dearest first."""
        ordered = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return [{"phase": k, "seconds": v, "calls": self.calls[k]} for k, v in ordered]


def owner_of(dotted: str) -> object:
    """The module, or a class of a module, named by `dotted`."""
    import importlib

    module, _, attribute = dotted.rpartition(".")
    if attribute[:1].isupper():
        return getattr(importlib.import_module(module), attribute)
    return importlib.import_module(dotted)


def instrument(timers: Timers) -> None:
    """Time every phase; one the code under test lacks (an older revision's) is left out."""
    for dotted, names in PHASES.items():
        owner = owner_of(dotted)
        short = dotted.rsplit(".", 1)[-1]
        for name in names:
            if callable(getattr(owner, name, None)):
                timers.wrap(owner, name, f"{short}.{name}")


def run_round(spark, tables, lakehouse: Path, tag: str, timers: Timers, force=False) -> dict:
    """One night of every physical table into `lakehouse`, per table and per phase: a first
    night into a new lakehouse, or (`force`) the same night again into the one it made."""
    from benchmarks.run import use_lakehouse
    from govlake.settings import settings
    from jobs.ingest import load_table

    cfg = settings() if force else use_lakehouse(spark, lakehouse)
    timers.reset()
    per_table, start = {}, time.perf_counter()
    for source, spec in tables:
        began = time.perf_counter()
        out = load_table(
            source.system, spec.name, cfg.demo_logical_date, f"{tag}__{spec.name}", spark, force
        )
        per_table[f"{source.system}.{spec.name}"] = {
            "seconds": time.perf_counter() - began,
            "status": out["status"],
            "rows_read": out["rows_read"],
            "balanced": out["balanced"],
        }
    return {
        "seconds": time.perf_counter() - start,
        "load_average_1min": os.getloadavg()[0],
        "tables": per_table,
        "phases": timers.rows(),
    }


def profile(persons: int, rounds: int, workdir: Path, rerun: bool = False) -> dict:
    from benchmarks.run import physical_tables, start_spark
    from govlake.demo import sample_interfaces
    from govlake.sample import generate_sources
    from govlake.settings import settings

    os.environ["GOVLAKE_SOURCES"] = str(workdir / "sources")
    os.environ["GOVLAKE_LAKEHOUSE"] = str(workdir / "lakehouse-0")
    settings.cache_clear()
    cfg = settings()
    generate_sources(cfg.sources_root, persons, cfg.demo_logical_date)
    timers = Timers()
    instrument(timers)
    tables = physical_tables()
    spark, _ = start_spark(tables, cfg)
    done, again = [], []
    with sample_interfaces(cfg, console):
        for n in range(1, rounds + 1):
            lakehouse = workdir / f"lakehouse-{n}"
            done.append(run_round(spark, tables, lakehouse, f"phases{n}", timers))
            if rerun:
                again.append(run_round(spark, tables, lakehouse, f"rerun{n}", timers, True))
    spark.stop()
    return {"persons": persons, "tables": len(tables), "rounds": done, "reruns": again}


def show(result: dict) -> None:
    for kind in ("rounds", "reruns"):
        for number, done in enumerate(result.get(kind) or (), 1):
            per = done["seconds"] / result["tables"]
            console.print(
                f"{kind[:-1]} {number}: {done['seconds']:.1f} s for {result['tables']} tables "
                f"({per:.2f} s each), 1-min load {done['load_average_1min']:.2f}"
            )
        for row in (result.get(kind) or [{"phases": []}])[-1]["phases"]:
            console.print(f"  {row['seconds']:8.2f} s {row['calls']:5d}x  {row['phase']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ods_phases", description=__doc__)
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rerun", action="store_true", help="each night again, forced")
    args = parser.parse_args(argv)
    started = dt.datetime.now()
    uptime_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="govlake-ods-phases-") as tmp:
        result = profile(args.persons, args.rounds, Path(tmp), args.rerun)
    result |= {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.ods_phases", *sys.argv[1:]]),
        "load_average_before": uptime_before,
    }
    show(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"ods-phases-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"Results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
