"""benchmarks.ods_phases: its timers, and that every phase it names still exists."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from benchmarks.ods_phases import PHASES, Timers, owner_of


def test_timers_count_calls_and_seconds_also_of_a_call_that_raises():
    def slow(x):
        time.sleep(0.02)
        if x < 0:
            raise ValueError(x)
        return x * 2

    owner = SimpleNamespace(slow=slow, quick=lambda: 1)
    timers = Timers()
    timers.wrap(owner, "slow", "m.slow")
    timers.wrap(owner, "quick", "m.quick")
    assert owner.slow(2) == 4 and owner.quick() == 1
    with pytest.raises(ValueError):
        owner.slow(-1)
    rows = timers.rows()
    assert [r["phase"] for r in rows] == ["m.slow", "m.quick"]
    assert rows[0]["calls"] == 2 and rows[0]["seconds"] >= 0.04
    timers.reset()
    assert timers.rows() == []


@pytest.mark.parametrize("dotted", sorted(PHASES))
def test_every_phase_the_profile_times_exists(dotted):
    """A renamed phase would leave the profile timing nothing under its old name."""
    owner = owner_of(dotted)
    missing = [name for name in PHASES[dotted] if not callable(getattr(owner, name, None))]
    assert not missing, f"{dotted} has no {missing}"
