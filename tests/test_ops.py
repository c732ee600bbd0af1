"""ops.History: the run records a load compares against, read once per load (no Spark)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Row

from jobs.ops import RUNNING, History

NIGHT1, NIGHT2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def run(run_id, day, status, started, finished=None, fingerprint=None):
    at = dt.datetime(2026, 3, 3, *started)
    done = None if finished is None else dt.datetime(2026, 3, 3, *finished)
    return Row(
        run_id=run_id,
        batch_date=day,
        status=status,
        started_at=at,
        finished_at=done,
        fingerprint=fingerprint,
    )


RUNS = (
    run("a", NIGHT1, RUNNING, (1, 0)),
    run("a", NIGHT1, "success", (1, 0), (1, 5), "first"),
    run("b", NIGHT1, RUNNING, (2, 0)),
    run("b", NIGHT1, "unchanged", (2, 0), (2, 5), "second"),
    run("c", NIGHT1, RUNNING, (3, 0)),
    run("c", NIGHT1, "failed", (3, 0), (3, 5)),
    run("e", NIGHT2, RUNNING, (3, 30)),
    run("e", NIGHT2, "success", (3, 30), (3, 35), "third"),
    run("d", NIGHT2, RUNNING, (4, 0)),  # killed: no outcome row
    run("d", NIGHT2, RUNNING, (4, 30)),  # its retry, killed too
    run("f", NIGHT2, RUNNING, (4, 40)),
    run("f", NIGHT2, "failed", (4, 40), (4, 45)),  # failed: recovers nothing
)


def test_last_committed_is_the_latest_success_or_unchanged_of_the_night_or_before():
    past = History(RUNS)
    assert past.last_committed(NIGHT1, before=False).fingerprint == "second"
    assert past.last_committed(NIGHT2, before=False).fingerprint == "third"
    assert past.last_committed(NIGHT2, before=True).fingerprint == "second"
    assert past.last_committed(NIGHT1, before=True) is None
    assert History().last_committed(NIGHT1, before=False) is None


def test_abandoned_runs_are_running_rows_without_an_outcome_in_start_order():
    past = History(RUNS)
    assert [(r.run_id, r.started_at.minute) for r in past.abandoned(NIGHT2)] == [
        ("d", 0),
        ("d", 30),
    ]
    assert past.abandoned(NIGHT1) == []


def test_a_run_that_committed_after_a_killed_one_recovered_it_for_later_reruns():
    """The run after a kill writes the batch again and records it; a third run of the night
    must not recover the same killed run again (it would rewrite the batch on every rerun)."""
    recovered = History(
        (*RUNS, run("g", NIGHT2, RUNNING, (6, 0)), run("g", NIGHT2, "success", (6, 0), (6, 5)))
    )
    assert recovered.abandoned(NIGHT2) == []
    between = History(
        (*RUNS, run("h", NIGHT2, RUNNING, (4, 15)), run("h", NIGHT2, "unchanged", (4, 15), (4, 20)))
    )
    assert [(r.run_id, r.started_at.minute) for r in between.abandoned(NIGHT2)] == [("d", 30)]
