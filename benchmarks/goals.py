"""Issue 19's table, as filed and as measured now: the last step of `make bench`.

Usage: python -m benchmarks.goals [--since 2026-12-06T10:00:00] [FILE ...]
Reads the newest result file of `benchmarks.run` (ODS load against a raw copy) and of
`benchmarks.libraries` (library builds, later nights, check-ids), written at or after `--since`
when given (`make bench` passes its own start, so only this run's files are read), or the files
named. Prints one row per figure and size: the baseline and our seconds of this run, the ratio
now, the figure the issue was filed with (before), the goal and whether it is met. A row whose
benchmark is not part of `make bench` names the command that measures it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.run import RESULTS_DIR, console

SIZES = (100_000, 1_000_000)


@dataclass(frozen=True)
class Goal:
    """One row of issue 19's table: what it measures, the figure filed, and the goal per size."""

    what: str
    filed: dict[int, str]
    goal: dict[int, float]  # the ratio must be at most this (or at least, when `higher`)
    higher: bool = False
    unit: str = "x"


GOALS = {
    "ods": Goal("ODS load / raw Spark copy", {100_000: "8.8x", 1_000_000: "4.7x"},
                {100_000: 2.0, 1_000_000: 1.3}),
    "ods_fixed": Goal("ODS fixed cost per table per night (s)",
                      {100_000: "about 5 s", 1_000_000: "about 5 s"},
                      {100_000: 1.0, 1_000_000: 1.0}, unit=" s"),
    "build": Goal("base-library build / read + groupBy + write",
                  {100_000: "7.8x", 1_000_000: "14.0x"}, {100_000: 3.0, 1_000_000: 3.0}),
    "second": Goal("second night (1% of keys changed) / full build",
                   {100_000: "113%", 1_000_000: "29%"}, {100_000: 1.0, 1_000_000: 0.10},
                   unit="%"),
    "third": Goal("third night (full or per key by the cost rule) / full build",
                  {100_000: "(not filed)", 1_000_000: "(not filed)"},
                  {100_000: 1.0, 1_000_000: 0.10}, unit="%"),
    "ric": Goal("check-ids ID (居民身份证) values/s: Spark / python-stdnum",
                {0: "7.4x"}, {0: 20.0}, higher=True),
    "uscc": Goal("check-ids USCC values/s: Spark / python-stdnum",
                 {0: "2.2x"}, {0: 20.0}, higher=True),
    "cert": Goal("check-ids certificate values/s: Spark / python-stdnum",
                 {0: "0.35x"}, {0: 20.0}, higher=True),
    "commands": Goal("metadata command `govlake sources` (a new process, wall s)",
                     {0: "37-212 s each"}, {0: 2.0}, unit=" s"),
    "spark_start": Goal("Spark start-up / the ODS night in one session",
                        {100_000: "one JVM per task", 1_000_000: "one JVM per task"},
                        {100_000: 0.10, 1_000_000: 0.10}, unit="%"),
}  # fmt: skip
ELSEWHERE = (
    ("make demo at 10k persons", "14 min 21 s first run", "halve it",
     "time `make demo` on a fresh clone (README, 'Try it')"),
    ("the other metadata commands (tables, quality, catalog due, conflicts)", "37-212 s each",
     "< 2 s, no JVM", "tests/test_cli.py checks they start no Spark; `time govlake tables`"),
    ("the whole night, local and cluster-local", "(sizing)", "(none)", "make bench-night"),
)  # fmt: skip


@dataclass(frozen=True)
class Measured:
    """One figure of this run: the goal it answers, at which size, baseline and ours."""

    key: str
    persons: int  # 0 for check-ids, measured on `values` identifiers instead
    baseline: float | None
    ours: float | None
    value: float | None
    values: int = 0


def newest(prefix: str, since: dt.datetime | None) -> Path | None:
    """The newest result file of a benchmark (`<prefix><time>.json`), at or after `since`."""
    found = []
    for path in RESULTS_DIR.glob(f"{prefix}2*.json"):
        stamp = dt.datetime.strptime(path.stem.removeprefix(prefix), "%Y%m%dT%H%M%S")
        if since is None or stamp >= since:
            found.append((stamp, path))
    return max(found)[1] if found else None


def from_run(result: dict) -> Iterator[Measured]:
    """ODS against the raw copy per size, the fixed cost per table between the two sizes, and
    Spark's start-up against the whole ODS phase of one session."""
    sizes = [s for s in result["sizes"] if "ratio" in s]
    for s in sizes:
        yield Measured("ods", s["persons"], s["raw_seconds"], s["ods_seconds"], s["ratio"])
        start = s["spark_start_seconds"]
        share = start / (start + s["ods_seconds"])
        yield Measured("spark_start", s["persons"], s["ods_seconds"], start, share)
    for step in result.get("growth", []):
        tables = len(next(s for s in sizes if s["persons"] == step["from_persons"])["tables"])
        fixed = step["ods_fixed_seconds"]
        per_table = None if fixed is None else fixed / tables
        for persons in (step["from_persons"], step["to_persons"]):
            yield Measured("ods_fixed", persons, None, fixed, per_table)


def from_libraries(result: dict) -> Iterator[Measured]:
    """Library builds against their baseline, later nights against the full build, check-ids."""
    for s in result["sizes"]:
        if "libraries" not in s:
            continue
        full = s["full_build_seconds"]
        n = s["persons"]
        yield Measured("build", n, s["baseline_seconds"], full, s["build_over_baseline"])
        yield Measured("second", n, full, s["second_build_seconds"], s["second_over_full"])
        if "third_seconds" in s:
            yield Measured("third", n, full, s["third_seconds"], s["third_over_full"])
    for kind, k in result.get("check_ids", {}).get("kinds", {}).items():
        spark_s = min(k["spark_check_seconds"])
        yield Measured(kind, 0, k["stdnum_seconds"], spark_s, k["spark_over_stdnum"], k["values"])


def from_startup(result: dict) -> Iterator[Measured]:
    """The metadata command's wall seconds, against the same command compiled from source."""
    for probe in result["probes"]:
        if probe["probe"] == "govlake sources":
            ours = probe["bytecode_wall_seconds"]
            yield Measured("commands", 0, probe["source_wall_seconds"], ours, ours)


READERS: dict[str, Callable[[dict], Iterator[Measured]]] = {
    "run": from_run,
    "libraries": from_libraries,
    "startup": from_startup,
}
PREFIXES = {"run": "", "libraries": "libraries-", "startup": "startup-"}


def shown(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.0%}"
    return f"{value:.2f}{unit}" if unit == " s" else f"{value:.1f}{unit}"


def met(goal: Goal, persons: int, value: float | None) -> str:
    limit = goal.goal.get(persons, goal.goal.get(0))
    if value is None or limit is None:
        return "-"
    return "yes" if (value >= limit if goal.higher else value <= limit) else "no"


def row(m: Measured) -> tuple[str, ...]:
    goal = GOALS[m.key]
    limit = goal.goal.get(m.persons, goal.goal.get(0))
    sign = ">=" if goal.higher else "<="
    return (
        goal.what,
        f"{m.persons:,}" if m.persons else (f"{m.values:,} values" if m.values else "-"),
        shown(m.baseline, " s"),
        shown(m.ours, " s"),
        shown(m.value, goal.unit),
        goal.filed.get(m.persons, goal.filed.get(0, "-")),
        f"{sign} {shown(limit, goal.unit)}",
        met(goal, m.persons, m.value),
    )


def measured(files: dict[str, Path]) -> list[Measured]:
    out = []
    for source, path in files.items():
        out.extend(READERS[source](json.loads(path.read_text(encoding="utf-8"))))
    order = list(GOALS)
    return sorted(out, key=lambda m: (order.index(m.key), m.persons))


def print_goals(rows: list[Measured], files: dict[str, Path]) -> None:
    from rich.table import Table

    table = Table(title="Issue 19: filed (before) and this run (after)")
    for name in ("what", "size", "baseline", "ours", "now", "filed", "goal", "met"):
        table.add_column(name, justify="left" if name in ("what", "filed") else "right")
    for m in rows:
        table.add_row(*row(m))
    console.print(table)
    for what, filed, goal, where in ELSEWHERE:
        console.print(f"  {what}: filed {filed}, goal {goal}; not in `make bench`: {where}")
    for source, path in files.items():
        console.print(f"  {source}: {path}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.goals", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--since", type=dt.datetime.fromisoformat, help="only files from then on")
    parser.add_argument("files", nargs="*", type=Path, help="result files to read instead")
    return parser.parse_args(argv)


def source_of(path: Path) -> str:
    """The benchmark a result file is of, by its name (`benchmarks.run`'s have no prefix)."""
    return next((k for k, v in PREFIXES.items() if v and path.name.startswith(v)), "run")


def chosen_files(args: argparse.Namespace) -> dict[str, Path]:
    if args.files:
        return {source_of(p): p for p in args.files}
    found = {source: newest(prefix, args.since) for source, prefix in PREFIXES.items()}
    return {source: path for source, path in found.items() if path is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = chosen_files(args)
    if not files:
        console.print("[red]No result file of benchmarks.run or benchmarks.libraries found.[/]")
        return 1
    print_goals(measured(files), files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
