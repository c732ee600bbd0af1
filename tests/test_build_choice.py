"""Full or incremental by recorded cost (issue 19): the rule on inline figures.

The figures are those of benchmarks/README.md: base.population at 100,000 persons (full 52.4 s,
an incremental night with 1,691 changed keys 74.2 s) and at 1,000,000 (full 289.4 s,
incremental 91.1 s)."""

from __future__ import annotations

from jobs.library.choice import PastBuild, full_is_cheaper, latest

FULL_100K = PastBuild("full", 52.4, 99_670, 99_670)
INCR_100K = PastBuild("incremental", 74.2, 99_680, 1_691)
FULL_1M = PastBuild("full", 289.4, 996_998, 996_998)
INCR_1M = PastBuild("incremental", 91.1, 997_010, 16_779)


def test_the_third_night_builds_in_full_when_the_incremental_night_cost_more():
    reason = full_is_cheaper(99_690, [INCR_100K, FULL_100K])
    assert reason is not None
    assert "74.2 s for 1,691 changed keys" in reason and "52.4 s for 99,670 keys" in reason


def test_a_full_night_chosen_by_cost_keeps_the_choice_on_the_next_night():
    chosen = PastBuild("full", 50.1, 99_690, 99_690)
    assert full_is_cheaper(99_700, [chosen, INCR_100K, FULL_100K]) is not None
    assert "50.1 s" in full_is_cheaper(99_700, [chosen, INCR_100K, FULL_100K])


def test_incremental_stays_where_it_is_cheaper():
    assert full_is_cheaper(997_020, [INCR_1M, FULL_1M]) is None


def test_incremental_is_tried_until_both_builds_have_a_recorded_cost():
    assert full_is_cheaper(99_680, [FULL_100K]) is None, "no incremental night measured yet"
    assert full_is_cheaper(99_680, [INCR_100K]) is None, "no full build measured"
    assert full_is_cheaper(99_680, []) is None
    unmeasured = PastBuild("incremental", None, 99_680, 1_691)  # recorded before build_seconds
    assert full_is_cheaper(99_680, [unmeasured, FULL_100K]) is None


def test_a_library_grown_by_half_since_its_incremental_night_tries_incremental_again():
    grown_full = PastBuild("full", 60.0, 160_000, 160_000)  # still below 74.2 s
    assert full_is_cheaper(160_000, [grown_full, INCR_100K, FULL_100K]) is None
    assert full_is_cheaper(140_000, [grown_full, INCR_100K, FULL_100K]) is not None


def test_an_unchanged_night_is_no_measure_of_either_build():
    unchanged = PastBuild("unchanged", 4.2, 99_680, 0)
    assert latest([unchanged, INCR_100K, FULL_100K], "incremental") == INCR_100K
    assert latest([unchanged, INCR_100K, FULL_100K], "full") == FULL_100K
    assert full_is_cheaper(99_680, [unchanged, INCR_100K, FULL_100K]) is not None


def test_the_recorded_seconds_are_read_back_as_the_history_the_rule_takes(spark, cfg):
    """ops.library_runs as record_build writes it (one row per input) -> last_build's history,
    newest first: the rule sees the runs' modes, seconds and keys, not the inputs' rows."""
    import datetime as dt
    from types import SimpleNamespace

    from govlake.owned import LIBRARY_RUNS
    from jobs.library.incremental import last_build

    def run(run_id, mode, seconds, keys, changed, minute):
        return [
            {
                "run_id": run_id,
                "library": "choice_people",
                "input": name,
                "balanced": True,
                "keys": keys,
                "changed_keys": changed,
                "finished_at": dt.datetime(2026, 11, 27, 2, minute),
                "build_mode": mode,
                "config_hash": "h",
                "ods_version": 1,
                "build_seconds": seconds,
            }
            for name in ("police", "hrss")
        ]

    rows = run("n1", "full", 52.4, 99_670, 99_670, 1) + run(
        "n2", "incremental", 74.2, 99_680, 1_691, 2
    )
    LIBRARY_RUNS.table.write(spark.createDataFrame(rows, LIBRARY_RUNS.schema), "append", cfg=cfg)
    ctx = SimpleNamespace(library=SimpleNamespace(library="choice_people"), cfg=cfg)
    previous = last_build(spark, ctx)
    assert previous["run_id"] == "n2" and previous["keys"] == 99_680
    assert previous["history"] == [INCR_100K, FULL_100K]
    assert "74.2 s" in full_is_cheaper(previous["keys"], previous["history"])
