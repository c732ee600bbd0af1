"""The kill harness (benchmarks/faults.py) at CI size, and the holes it found, each a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import faults


def test_a_table_killed_in_its_first_write_does_not_stop_the_next_session(spark, cfg):
    """Found by the harness: a load killed inside the first write of ops.load_runs left its
    folder with an empty _delta_log, and every later Spark session failed to start
    (register_all: DELTA_CREATE_EXTERNAL_TABLE_WITHOUT_TXN_LOG). It is skipped, and its next
    write commits version 0."""
    from govlake.lakehouse import Table, register_all

    killed = Table.parse("ops.killed_first_write")
    folder = Path(killed.location(cfg).removeprefix("file://").removeprefix("file:"))
    (folder / "_delta_log").mkdir(parents=True)
    Table.parse("ops.whole").write(spark.range(3), "append", cfg=cfg)

    registered = {t.qualified for t in register_all(spark, cfg)}
    assert "ops.whole" in registered and "ops.killed_first_write" not in registered
    killed.write(spark.range(2), "append", cfg=cfg)
    assert killed.version(spark, cfg) == 0 and spark.table(killed.qualified).count() == 2


@pytest.mark.faults
def test_kills_inside_load_writes_leave_committed_tables_and_a_night_that_recovers():
    """One SIGKILL inside one source's load, followed by the checks of `make faults` (CI size:
    each kill costs a child night; `make faults` runs 60 over the whole night)."""
    figures = faults.run(
        kills=1, persons=20, seed=17, per_round=1, only="ods__tax_credit", log=lambda line: None
    )
    assert figures["clean_night_problems"] == []
    assert figures["kills"] == 1 and sum(figures["kills_per_kind"].values()) == 1, figures
    assert figures["failed"] == [], figures["failed"]
