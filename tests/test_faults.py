"""The kill harness (benchmarks/faults.py) at CI size: a few SIGKILLs inside the writes of two
sources' loads, each followed by the checks of `make faults` (which runs 60 over the night)."""

from __future__ import annotations

import pytest

from benchmarks import faults


@pytest.mark.faults
def test_kills_inside_load_writes_leave_committed_tables_and_a_night_that_recovers():
    figures = faults.run(
        kills=3,
        persons=20,
        seed=17,
        per_round=3,
        only="ods__tax_credit,ods__approval_certificate",
        log=lambda line: None,
    )
    assert figures["clean_night_problems"] == []
    assert figures["kills"] == 3, figures
    assert len(figures["kills_per_kind"]) == 3, "kills spread over three write kinds"
    assert figures["failed"] == [], figures["failed"]
