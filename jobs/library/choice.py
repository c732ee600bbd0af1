"""Full or incremental: tonight's cheaper build, chosen from the library's own recorded builds
(issue 19: "never above a full build; choose the full build when it is cheaper").

An incremental night's cost is mostly fixed (change detection over every input, a MERGE and a
new version per written table, the restricting joins): measured, it stayed 115-120 s from
100,000 to 1,000,000 persons while the changed keys grew tenfold, and at 20,000-100,000 persons
it cost 133-195% of the full build (benchmarks/README.md). A full build's cost grows with the
library. So the rule compares the costs recorded in ops.library_runs of the library's last
balanced incremental build and its last balanced full build:

- the cost is the build's CPU seconds (`build_cpu_seconds`, govlake.cpu: this process, the
  driver JVM and tasks run elsewhere) when both builds have one, else their wall seconds
  (`build_seconds`; records from before the CPU figure). Wall seconds grow with the machine's
  load: at 20,000 persons a full build measured at load 38 looked dearer than an incremental
  night at load 13 that cost more on a quiet machine. The reason names the figure compared;
- incremental cost at least as much as full -> full tonight, with both figures in the reason;
- unless the library has grown by half or more since that incremental night (its fixed cost
  was measured at another size, and the full build has grown since): then incremental again,
  which records a new figure;
- no incremental or no full build recorded with its seconds yet -> incremental (the first
  incremental night is how the figure is learned).

Pure functions of recorded figures, so the rule is tested on inline numbers
(tests/test_build_choice.py).
"""

from __future__ import annotations

from dataclasses import dataclass

GROWTH = 1.5  # keys now / keys at the last incremental night at which that figure is stale


@dataclass(frozen=True)
class PastBuild:
    """One recorded build: its mode, wall seconds, the library's keys after it, the keys it
    changed, and its CPU seconds (None in records from before they were kept)."""

    mode: str
    seconds: float | None
    keys: int
    changed: int
    cpu_seconds: float | None = None


def latest(builds: list[PastBuild], mode: str) -> PastBuild | None:
    """The newest build of a mode (`builds` newest first) whose seconds were recorded."""
    return next((b for b in builds if b.mode == mode and b.seconds is not None), None)


def compared(incremental: PastBuild, full: PastBuild) -> tuple[str, float, float]:
    """The figure both builds have, CPU seconds before wall seconds, and its two values."""
    if incremental.cpu_seconds is not None and full.cpu_seconds is not None:
        return "CPU seconds", incremental.cpu_seconds, full.cpu_seconds
    return "wall seconds", incremental.seconds, full.seconds


def full_is_cheaper(keys: int, builds: list[PastBuild]) -> str | None:
    """Why tonight's build should be full rather than incremental, or None to build the
    changed keys only. `keys`: the library's keys now; `builds`: its balanced builds, newest
    first."""
    full, incremental = latest(builds, "full"), latest(builds, "incremental")
    if full is None or incremental is None:
        return None
    if keys >= GROWTH * max(incremental.keys, 1):
        return None
    figure, incremental_cost, full_cost = compared(incremental, full)
    if incremental_cost < full_cost:
        return None
    unit, wall = "s", ""
    if figure == "CPU seconds":
        unit, wall = "CPU s", f" (wall {incremental.seconds:.1f} s and {full.seconds:.1f} s)"
    return (
        f"a full build is cheaper in {figure}: the last incremental build took "
        f"{incremental_cost:.1f} {unit} for {incremental.changed:,} changed keys, the last full "
        f"one {full_cost:.1f} {unit} for {full.keys:,} keys{wall}"
    )
