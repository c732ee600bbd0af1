"""`make bench`'s last step: issue 19's rows computed from result files (not their timings)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from benchmarks import goals

RUN = {  # benchmarks.run's summary of two sizes, two tables each
    "sizes": [
        {"persons": 100_000, "raw_seconds": 10.0, "ods_seconds": 15.0, "ratio": 1.5,
         "spark_start_seconds": 5.0, "tables": {"a": {}, "b": {}}},
        {"persons": 1_000_000, "raw_seconds": 40.0, "ods_seconds": 60.0, "ratio": 1.5,
         "spark_start_seconds": 5.0, "tables": {"a": {}, "b": {}}},
    ],
    "growth": [{"from_persons": 100_000, "to_persons": 1_000_000, "ods_fixed_seconds": 3.0}],
}  # fmt: skip
LIBRARIES = {
    "sizes": [
        {"persons": 1_000_000, "libraries": {}, "baseline_seconds": 20.0,
         "full_build_seconds": 50.0, "build_over_baseline": 2.5, "second_build_seconds": 4.0,
         "second_over_full": 0.08},
        {"persons": 100_000, "error": "killed"},
    ],
    "check_ids": {"kinds": {"cert": {
        "values": 1000, "stdnum_seconds": 1.0, "spark_check_seconds": [0.2, 0.1],
        "spark_over_stdnum": 10.0}}},
}  # fmt: skip


def by_key(rows: list[goals.Measured]) -> dict[tuple[str, int], tuple]:
    return {(m.key, m.persons): goals.row(m) for m in rows}


def test_each_row_is_the_ratio_of_its_own_baseline_with_the_filed_figure_and_the_goal(tmp_path):
    run, libraries = tmp_path / "20261206T100000.json", tmp_path / "libraries-20261206T100500.json"
    run.write_text(json.dumps(RUN))
    libraries.write_text(json.dumps(LIBRARIES))
    rows = by_key(goals.measured({"run": run, "libraries": libraries}))

    assert rows[("ods", 100_000)][2:] == ("10.00 s", "15.00 s", "1.5x", "8.8x", "<= 2.0x", "yes")
    assert rows[("ods", 1_000_000)][4:] == ("1.5x", "4.7x", "<= 1.3x", "no")
    # 3 s of fixed cost over 2 tables; start-up 5 s against 5 + 15 s of ODS phase.
    assert rows[("ods_fixed", 100_000)][4] == "1.50 s" and rows[("ods_fixed", 100_000)][7] == "no"
    assert rows[("spark_start", 100_000)][4] == "25%"
    assert rows[("spark_start", 1_000_000)][4:] == ("8%", "one JVM per task", "<= 10%", "yes")
    assert rows[("build", 1_000_000)][4:] == ("2.5x", "14.0x", "<= 3.0x", "yes")
    assert rows[("second", 1_000_000)][4:] == ("8%", "29%", "<= 10%", "yes")
    # A failed size has no rows; check-ids is judged from above, on the best Spark round.
    assert ("build", 100_000) not in rows and ("third", 1_000_000) not in rows
    assert rows[("cert", 0)][1:6] == ("1,000 values", "1.00 s", "0.10 s", "10.0x", "0.35x")
    assert rows[("cert", 0)][6:] == (">= 20.0x", "no")


STARTUP = {  # benchmarks.startup's probes: the metadata command's row reads `govlake sources`
    "probes": [
        {"probe": "govlake --help", "source_wall_seconds": 3.0, "bytecode_wall_seconds": 2.5},
        {"probe": "govlake sources", "source_wall_seconds": 2.4, "bytecode_wall_seconds": 0.6},
    ]
}


def test_the_metadata_command_row_is_the_commands_wall_seconds_from_bytecode(tmp_path):
    startup = tmp_path / "startup-20261207T070000.json"
    startup.write_text(json.dumps(STARTUP))
    assert goals.source_of(startup) == "startup"
    assert goals.source_of(tmp_path / "20261207T070000.json") == "run"
    rows = by_key(goals.measured({"startup": startup}))
    assert list(rows) == [("commands", 0)]
    assert rows[("commands", 0)][1:] == (
        "-", "2.40 s", "0.60 s", "0.60 s", "37-212 s each", "<= 2.00 s", "yes",
    )  # fmt: skip


def test_only_the_newest_files_from_the_start_of_the_run_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(goals, "RESULTS_DIR", tmp_path)
    for name in ("20261206T090000.json", "20261206T110000.json", "libraries-20261206T100000.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "differing-20261206T120000.json").write_text("{}")  # another benchmark's file
    since = dt.datetime(2026, 12, 6, 10, 30)
    assert goals.newest("", since) == tmp_path / "20261206T110000.json"
    assert goals.newest("libraries-", since) is None
    assert goals.newest("libraries-", None) == tmp_path / "libraries-20261206T100000.json"


@pytest.mark.parametrize(
    "value, higher, expected",
    [(2.0, False, "yes"), (2.1, False, "no"), (20.0, True, "yes"), (19.9, True, "no")],
)
def test_a_goal_is_met_at_its_limit_and_not_beyond(value, higher, expected):
    goal = goals.Goal("x", {}, {0: 20.0 if higher else 2.0}, higher=higher)
    assert goals.met(goal, 0, value) == expected
