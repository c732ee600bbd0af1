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


def test_cpu_seconds_decide_where_both_builds_have_them_and_the_reason_says_so():
    """The 20,000-person run: the full build ran at load 38 (314 s wall), the incremental
    night at load 13 (266 s): by wall seconds incremental looked cheaper. By CPU seconds,
    which the load does not inflate, the incremental night cost more: full tonight."""
    full = PastBuild("full", 314.0, 19_935, 19_935, cpu_seconds=41.5)
    incremental = PastBuild("incremental", 266.2, 19_940, 339, cpu_seconds=58.0)
    reason = full_is_cheaper(19_945, [incremental, full])
    assert reason is not None and "CPU seconds" in reason
    assert "58.0 CPU s for 339 changed keys" in reason and "41.5 CPU s for 19,935 keys" in reason
    assert "wall 266.2 s and 314.0 s" in reason
    cheap = PastBuild("incremental", 400.0, 19_940, 339, cpu_seconds=30.0)  # slow by load only
    assert full_is_cheaper(19_945, [cheap, full]) is None


def test_wall_seconds_decide_when_either_build_lacks_cpu_seconds():
    """Records from before build_cpu_seconds: the rule compares wall seconds, and says so."""
    full_cpu = PastBuild("full", 52.4, 99_670, 99_670, cpu_seconds=90.0)
    reason = full_is_cheaper(99_690, [INCR_100K, full_cpu])  # incremental has no CPU figure
    assert reason is not None and "wall seconds" in reason and "CPU" not in reason
    incr_cpu = PastBuild("incremental", 74.2, 99_680, 1_691, cpu_seconds=10.0)
    assert "wall seconds" in full_is_cheaper(99_690, [incr_cpu, FULL_100K])
    assert full_is_cheaper(99_690, [incr_cpu, full_cpu]) is None, "by CPU: 10 < 90"


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
    newest first: the rule sees the runs' modes, seconds and keys, not the inputs' rows. The
    first night is recorded as before build_cpu_seconds existed (no such column): read back
    with no CPU figure, so the rule compares wall seconds until both builds have one."""
    import datetime as dt
    from types import SimpleNamespace

    from govlake.owned import LIBRARY_RUNS
    from jobs.library.incremental import last_build

    def run(run_id, mode, seconds, keys, changed, minute, cpu=None):
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
                **({"build_cpu_seconds": cpu} if cpu is not None else {}),
            }
            for name in ("police", "hrss")
        ]

    before_cpu = LIBRARY_RUNS.schema.replace(", build_cpu_seconds double", "")
    assert before_cpu != LIBRARY_RUNS.schema
    rows = run("n1", "full", 52.4, 99_670, 99_670, 1) + run(
        "n2", "incremental", 74.2, 99_680, 1_691, 2
    )
    LIBRARY_RUNS.table.write(spark.createDataFrame(rows, before_cpu), "append", cfg=cfg)
    ctx = SimpleNamespace(library=SimpleNamespace(library="choice_people"), cfg=cfg)
    previous = last_build(spark, ctx)
    assert previous["run_id"] == "n2" and previous["keys"] == 99_680
    assert previous["history"] == [INCR_100K, FULL_100K]
    assert "74.2 s" in full_is_cheaper(previous["keys"], previous["history"])

    newer = run("n3", "full", 50.1, 99_690, 99_690, 3, cpu=40.0)
    newer += run("n4", "incremental", 80.0, 99_700, 1_500, 4, cpu=30.5)
    frame = spark.createDataFrame(newer, LIBRARY_RUNS.schema)
    LIBRARY_RUNS.table.write(frame, "append", options={"mergeSchema": "true"}, cfg=cfg)
    history = last_build(spark, ctx)["history"]
    assert [b.cpu_seconds for b in history] == [30.5, 40.0, None, None]
    assert full_is_cheaper(99_710, history) is None, "by CPU 30.5 < 40.0, though wall 80 > 50"
