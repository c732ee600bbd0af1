"""Full or incremental: tonight's cheaper build, chosen from the library's own recorded builds
(issue 19: "never above a full build; choose the full build when it is cheaper").

An incremental night's cost is mostly fixed (change detection over every input, a MERGE and a
new version per written table, the restricting joins): measured, it stayed 115-120 s from
100,000 to 1,000,000 persons while the changed keys grew tenfold, and at 20,000-100,000 persons
it cost 133-195% of the full build (benchmarks/README.md). A full build's cost grows with the
library. So the rule compares the seconds recorded in ops.library_runs (`build_seconds`) of the
library's last balanced incremental build and its last balanced full build:

- incremental took at least as long as full -> full tonight, with both figures in the reason;
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
    """One recorded build: its mode, seconds, the library's keys after it, the keys it changed."""

    mode: str
    seconds: float
    keys: int
    changed: int


def latest(builds: list[PastBuild], mode: str) -> PastBuild | None:
    """The newest build of a mode (`builds` newest first) whose seconds were recorded."""
    return next((b for b in builds if b.mode == mode and b.seconds is not None), None)


def full_is_cheaper(keys: int, builds: list[PastBuild]) -> str | None:
    """Why tonight's build should be full rather than incremental, or None to build the
    changed keys only. `keys`: the library's keys now; `builds`: its balanced builds, newest
    first."""
    full, incremental = latest(builds, "full"), latest(builds, "incremental")
    if full is None or incremental is None:
        return None
    if keys >= GROWTH * max(incremental.keys, 1):
        return None
    if incremental.seconds < full.seconds:
        return None
    return (
        f"a full build is cheaper: the last incremental build took {incremental.seconds:.1f} s "
        f"for {incremental.changed:,} changed keys, the last full one {full.seconds:.1f} s "
        f"for {full.keys:,} keys"
    )
