"""What each theme build cost, and whether tonight's per-key build would cost more than a full
one (issue 19: "never above a full build; choose the full build when it is cheaper").

A per-key night reads the change data feed of every moved input, maps the changed rows to keys,
runs the model and keeps those keys, diffs them and MERGEs: mostly fixed cost, which at a small
size exceeds recomputing the whole model (benchmarks/README.md, themes at 100,000 persons:
per-key nights at 131-166% of the full build). Every build appends its mode, keys and wall and
CPU seconds to ops.theme_runs; before planning per key, the theme's last per-key build is
compared with its last full build over the existing table by the same rule as the base
libraries (jobs/library/choice.py: CPU seconds when both have them, stale after the theme has
grown by half). The first build creates the table without a diff, so it does not price a full
night: after the first per-key night, the next changed night builds in full once to measure
one (as a library's first incremental night measures that kind), then the cheaper kind wins.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake import cpu
from govlake.lakehouse import query_without_jvm
from govlake.owned import THEME_RUNS
from govlake.settings import Settings
from jobs.library.choice import PastBuild, full_is_cheaper, latest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The newest builds of one theme that price tonight's two choices (DataFusion SQL over
# ops.theme_runs): per-key builds, and full builds over the existing table, which recompute
# every key, diff and MERGE as tonight's full build would. The build that created the table
# wrote without a diff, and a schema rewrite without a MERGE: cheaper than tonight's full build
# would be, so they do not price it.
PAST_BUILDS = (
    "SELECT build, build_seconds, build_cpu_seconds, rows, changed_keys FROM r "
    "WHERE theme = '{theme}' AND build_seconds IS NOT NULL AND (build = 'incremental' OR "
    "(build = 'full' AND write IN ('merged', 'unchanged (no commit)'))) "
    "ORDER BY finished_at DESC LIMIT 20"
)


@dataclass
class Clock:
    """When a build began, in wall time and on the CPU clocks (govlake.cpu)."""

    spark: SparkSession
    began: float = field(default_factory=time.monotonic)
    cpu_began: cpu.CpuMark | None = None

    def __post_init__(self) -> None:
        self.cpu_began = cpu.mark(self.spark)

    def spent(self) -> dict:
        """Wall and CPU seconds since the build began (CPU None when the JVM gives none)."""
        return {
            "build_seconds": time.monotonic() - self.began,
            "build_cpu_seconds": cpu.cpu_seconds(self.spark, self.cpu_began),
        }


@dataclass
class Laps:
    """Wall seconds of a build's phases (plan, model, diff, write, summary), to tell what a
    per-key night spends apart from the model (benchmarks.libraries prints them)."""

    last: float = field(default_factory=time.monotonic)
    seconds: dict = field(default_factory=dict)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self.last, 3)
        self.last = now


def past_builds(cfg: Settings, theme: str) -> list[PastBuild]:
    """The theme's recorded full and per-key builds, newest first (delta-rs: no Spark job).
    `theme` is the qualified table name (theme.<name>), a configured name, never a value read
    from data."""
    rows = query_without_jvm(PAST_BUILDS.format(theme=theme), {"r": THEME_RUNS.table}, cfg)
    return [
        PastBuild(
            r["build"], r["build_seconds"], r["rows"], r["changed_keys"], r["build_cpu_seconds"]
        )
        for r in rows or []
    ]


def full_cheaper(cfg: Settings, theme: str) -> str | None:
    """Why tonight's build of `theme` should be full rather than per key, or None: its last
    per-key build cost at least its last full one, or no full build over the table has been
    recorded yet to compare with (tonight's full build records one)."""
    builds = past_builds(cfg, theme)
    per_key, full = latest(builds, "incremental"), latest(builds, "full")
    if per_key is None:
        return None
    if full is None:
        cpu = per_key.cpu_seconds is not None
        cost = f"{per_key.cpu_seconds:.1f} CPU s" if cpu else f"{per_key.seconds:.1f} s"
        return (
            f"the last per-key build took {cost} for {per_key.changed:,} changed keys and "
            "no full build over the table is recorded to compare it with: built in full once "
            "to measure one"
        )
    # The theme's rows after its newest build stand for its size tonight (the rule's growth
    # test); a per-key night changes a few keys, so this is read without counting the table.
    return full_is_cheaper(builds[0].keys, builds)


def record(spark: SparkSession, cfg: Settings, built: dict, night: dt.date, run_id: str, clock):
    """Append the build's row to ops.theme_runs: its mode and reason, keys, and cost."""
    row = {
        "run_id": run_id,
        "theme": built["theme"],
        "night": night,
        "build": built["build"],
        "reason": built["reason"],
        "write": built["mode"],
        "rows": built["rows"],
        "changed_keys": built["changed_keys"],
        "removed_keys": built["removed_keys"],
        "delta_version": built["delta_version"],
        **clock.spent(),
        "finished_at": dt.datetime.now(),
    }
    THEME_RUNS.append(spark, [row], cfg)
    return row
