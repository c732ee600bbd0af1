"""Validation in as few Spark passes as possible (issue 4, item 8): GX judges the row rules from
the one row pass, failed rows come from the same pass, results are appended, and the readers
take each table's latest validation of the night."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from govlake.owned import FAILED_ROWS, RESULTS
from govlake.sample import identifiers as sample_ids
from jobs.quality import Batch, QualityError, build_data_docs, validate
from jobs.quality.engine import conditions, count_failures, flag_column, flag_rows
from jobs.quality.gx_run import validate_with_gx
from jobs.quality.rules import ROW_RULES, counts_as_gx, unique_by_values
from jobs.quality.suites import Suite

DAY = dt.date(2026, 11, 25)
GOOD = [sample_ids.ric_number("420704", f"19{80 + i}0101", i) for i in range(3)]
BAD = GOOD[0][:-1] + ("0" if GOOD[0][-1] != "0" else "1")
ROWS = [
    # k, sfzh, level, code, born, n, a, b
    (1, GOOD[0], "A", "AB12", "2001-02-03", 5.0, "x", "1"),
    (2, BAD, "A", "ab12", "2001-02-30", 50.0, "x", "1"),
    (3, GOOD[1], "Z", None, "20010203", None, "x", "2"),
    (3, None, None, "CD34", None, -1.0, None, None),
    (5, "123", "B", "EF", "not a date", 7.5, "y", None),
    (6, GOOD[2], "B", "GH56", "2001/02/03", 8.0, None, None),
]
SCHEMA = "k int, sfzh string, level string, code string, born string, n double, a string, b string"


def rule(kind: str, policy: str = "warn", name: str | None = None, **kwargs) -> dict:
    meta = {"policy": policy, **({"name": name} if name else {})}
    return {"type": kind, "kwargs": kwargs, "meta": meta}


def every_row_rule() -> list[dict]:
    """One expectation of every type that has a row rule, some failing, some with `mostly`."""
    return [
        rule("expect_column_values_to_not_be_null", column="level"),
        rule("expect_column_values_to_be_null", column="b", mostly=0.3),
        rule("expect_column_values_to_be_in_set", column="level", value_set=["A", "B"]),
        rule("expect_column_values_to_not_be_in_set", column="level", value_set=["Z"]),
        rule("expect_column_values_to_match_regex", column="code", regex=r"^[A-Z]{2}\d{2}$"),
        rule("expect_column_values_to_not_match_regex", column="code", regex=r"^[a-z]"),
        rule("expect_column_values_to_be_between", column="n", min_value=0, max_value=10),
        rule("expect_column_value_lengths_to_be_between", column="code", min_value=4),
        rule("expect_column_values_to_be_unique", column="k", mostly=0.5),
        rule("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
        rule("expect_column_values_to_be_valid_ric", column="sfzh"),
        rule("expect_column_values_to_be_valid_uscc", column="code"),
        rule("expect_column_values_to_be_valid_cert", column="code"),
        rule("expect_column_values_to_be_valid_unit_code", column="code"),
        rule("expect_column_values_to_be_valid_date", column="born"),
    ]


def suite_of(rules: list[dict], name: str) -> Suite:
    return Suite(name=name, expectations=rules)


def batch(table: str, run_id: str = "night-1") -> Batch:
    return Batch(
        table=table,
        run_id=run_id,
        run_date=DAY,
        key_columns=["k"],
        system="qp",
        department="市测试局",
    )


def jobs_run(spark) -> set[int]:
    tracker = spark.sparkContext.statusTracker()
    return set(tracker.getJobIdsForGroup(None))


def test_every_row_rule_type_is_covered_by_the_comparison():
    covered = {r["type"] for r in every_row_rule()}
    assert covered == set(ROW_RULES)


def stored(cfg, table: str, run_name: str) -> dict:
    """The validation result GX stored for Data Docs, without what differs per run."""
    import json

    database, name = table.split(".")
    folder = cfg.lakehouse / "quality" / "gx" / "uncommitted" / "validations" / database / name
    (path,) = (folder / run_name).glob("*/*.json")
    result = json.loads(path.read_text(encoding="utf-8"))
    for item in result["results"]:
        item["expectation_config"].pop("id")
    for key in ("run_id", "validation_time", "batch_markers", "validation_id"):
        result["meta"].pop(key)
    return result


def test_gx_judges_row_rules_from_the_row_pass_exactly_as_from_the_batch(spark, cfg):
    """The same GX expectation classes, given the row pass's counts, reach the same verdicts
    and the same result fields as GX computing its metrics from the batch itself, and do so
    without a Spark job of their own."""
    df = spark.createDataFrame(ROWS, SCHEMA).cache()
    suite = suite_of(every_row_rule(), "ods.qp__same")
    when = conditions(df, suite)
    counts, failed = count_failures(flag_rows(df, suite, when), suite, batch(suite.table))
    failed.unpersist()
    computed = validate_with_gx(cfg, suite, df, "computed")
    before = jobs_run(spark)
    given = validate_with_gx(cfg, suite, df, "given", counts)
    assert jobs_run(spark) == before
    assert set(given) == {r.name for r in suite.expectations}
    assert given == computed
    assert stored(cfg, suite.table, "given") == stored(cfg, suite.table, "computed")
    # The comparison is not vacuous: rules fail, and `mostly` lets some pass anyway.
    assert not given["expect_column_values_to_be_valid_ric:sfzh"]["success"]
    assert given["expect_column_values_to_be_valid_ric:sfzh"]["unexpected_count"] == 2
    assert given["expect_column_values_to_be_unique:k"]["unexpected_count"] == 2
    assert given["expect_column_values_to_be_unique:k"]["success"]  # mostly 0.5
    assert given["expect_compound_columns_to_be_unique:a,b"]["unexpected_count"] == 2
    assert given["expect_column_values_to_be_valid_date:born"]["unexpected_count"] == 2


def test_expectations_the_row_pass_cannot_answer_are_computed_by_gx(spark, cfg):
    """A row_condition, a strict bound or an expectation without a row rule: GX computes them
    from the batch, beside the rules it judged from the counts, in one stored result."""
    df = spark.createDataFrame(ROWS, SCHEMA).cache()
    rules = [
        rule("expect_column_values_to_not_be_null", column="sfzh"),
        rule(
            "expect_column_values_to_not_be_null",
            name="level when a",
            column="level",
            row_condition='col("a")=="x"',
            condition_parser="great_expectations",
        ),
        rule("expect_column_values_to_be_between", column="n", min_value=5, strict_min=True),
        rule("expect_column_max_to_be_between", column="n", max_value=10),
    ]
    suite = suite_of(rules, "ods.qp__mixed")
    kinds = [(r.type, r.gx_config()["kwargs"]) for r in suite.expectations]
    assert [counts_as_gx(t, k) for t, k in kinds] == [True, False, False, False]
    counts, failed = count_failures(flag_rows(df, suite), suite, batch(suite.table))
    failed.unpersist()
    given = validate_with_gx(cfg, suite, df, "mixed", counts)
    assert given == validate_with_gx(cfg, suite, df, "mixed-computed")
    assert stored(cfg, suite.table, "mixed") == stored(cfg, suite.table, "mixed-computed")
    assert given["level when a"]["unexpected_count"] == 0  # the row rule alone would say 1
    assert given["expect_column_values_to_be_between:n"]["unexpected_count"] == 2  # 5.0 strict
    assert given["expect_column_max_to_be_between:n"]["success"] is False


def failing_keys(spark, df, suite, when=None) -> dict:
    counts, failed = count_failures(flag_rows(df, suite, when), suite, batch(suite.table))
    keys = sorted(r["_quality_key"] for r in failed.collect())
    failed.unpersist()
    return {"rules": counts["rules"], "samples": counts["samples"], "keys": keys}


def test_uniqueness_by_duplicated_values_fails_the_rows_the_window_fails(spark):
    """`column IN (duplicated values)` instead of a window over the batch: the same rows fail,
    NULLs never; floats keep the window."""
    df = spark.createDataFrame(ROWS + [(2, None, "A", None, None, 5.0, None, None)], SCHEMA)
    suite = suite_of(
        [
            rule("expect_column_values_to_be_unique", column="k"),
            rule("expect_column_values_to_be_unique", column="level"),
            rule("expect_column_values_to_be_unique", column="born"),
            rule("expect_column_values_to_be_unique", column="n"),
        ],
        "ods.qp__unique",
    )
    by_rule = {r.name: r for r in suite.expectations}
    assert unique_by_values(df, by_rule["expect_column_values_to_be_unique:n"]) is None
    when = conditions(df, suite)
    assert set(when) == set(by_rule)
    window = failing_keys(spark, df, suite)
    assert failing_keys(spark, df, suite, when) == window
    assert window["rules"] == {
        "expect_column_values_to_be_unique:k": 4,  # 2, 2, 3, 3
        "expect_column_values_to_be_unique:level": 5,  # A x3, B x2; the NULL passes
        "expect_column_values_to_be_unique:born": 0,
        "expect_column_values_to_be_unique:n": 2,  # 5.0 twice
    }


def test_duplicated_values_never_become_literals_of_the_query(spark):
    """The duplicated identity numbers are joined, not written into the plan: a plan is printed
    in Spark's event log and UI, outside the graded stores."""
    twice = GOOD[0]
    rows = [(k, twice, "A", None, None, None, None, None) for k in (1, 2)]
    df = spark.createDataFrame(rows, SCHEMA)
    suite = suite_of([rule("expect_column_values_to_be_unique", column="sfzh")], "ods.qp__plan")
    flagged = flag_rows(df, suite, conditions(df, suite))
    assert flagged.where(f"{flag_column(0)} IS NOT NULL").count() == 2  # both rows fail
    execution = flagged._jdf.queryExecution()
    plans = execution.toString() + execution.executedPlan().toString()
    assert "sfzh" in plans and twice not in plans


def test_one_row_pass_counts_and_keeps_only_the_failing_rows(spark):
    df = spark.createDataFrame(ROWS, SCHEMA)
    suite = suite_of(
        [
            rule("expect_column_values_to_be_valid_ric", column="sfzh"),
            rule(
                "expect_column_values_to_be_in_set", "quarantine", column="level", value_set=["A"]
            ),
        ],
        "ods.qp__pass",
    )
    counts, failed = count_failures(flag_rows(df, suite), suite, batch(suite.table))
    try:
        assert (counts["total"], counts["quarantined"], counts["failed_rows"]) == (6, 3, 4)
        assert counts["rules"] == {
            "expect_column_values_to_be_valid_ric:sfzh": 2,
            "expect_column_values_to_be_in_set:level": 3,
        }
        assert counts["samples"]["expect_column_values_to_be_in_set:level"] == ["B", "Z"]
        assert counts["nulls"] == {"level": 1, "sfzh": 1}
        assert sorted(r["_quality_key"] for r in failed.collect()) == ["2", "3", "5", "6"]
    finally:
        failed.unpersist()


def test_each_validation_adds_one_file_per_result_table(spark, cfg):
    """Small tables read by every feedback run: one file per validation, not one per task."""
    table = "ods.qp__files"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    df = spark.createDataFrame(ROWS, SCHEMA).repartition(4)
    validate(spark, cfg, suite, df, batch(table))
    for owned in (RESULTS, FAILED_ROWS):
        last = owned.table.history(spark, cfg).first()
        metrics = last["operationMetrics"]  # Spark's names, or delta-rs's (a small replace)
        assert last["operation"] == "WRITE", last
        assert metrics.get("numFiles", metrics.get("num_added_files")) == "1", last


def test_the_results_are_appended_by_delta_rs_without_a_spark_job(spark, cfg):
    """A load's rule results (a few dozen rows) are a delta-rs append once quality.results
    exists: no Spark job or commit beside the table's own write. Readers get them whole."""
    from jobs.quality.results import write_results

    table = "ods.qp__no_job"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    validate(spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table))
    (first,) = [r.asDict() for r in latest(spark, cfg, RESULTS, table)]
    later = first["validated_at"] + dt.timedelta(minutes=5)
    again = {**first, "run_id": "night-2", "validated_at": later, "sample": ["420704****"]}
    before = jobs_run(spark)
    write_results(spark, cfg, batch(table, "night-2"), [again])
    assert jobs_run(spark) == before
    assert [r.asDict() for r in latest(spark, cfg, RESULTS, table)] == [again]
    files = RESULTS.table.read(spark, cfg).where(f"`table` = '{table}'").inputFiles()
    assert len(files) == 2 and all(f"/table={table}/" in f for f in files)


def test_an_empty_batch_validates(spark, cfg):
    df = spark.createDataFrame([], SCHEMA)
    suite = suite_of(
        [rule("expect_column_values_to_be_valid_ric", "quarantine", column="sfzh")], "ods.qp__empty"
    )
    out = validate(spark, cfg, suite, df, batch(suite.table))
    assert (out.total, out.quarantined, out.rows.count()) == (0, 0, 0)
    assert [r["success"] for r in out.rules] == [True]


def latest(spark, cfg, owned, table: str):
    from jobs.feedback.common import night_rows

    validations = RESULTS.table.read(spark, cfg)
    rows = night_rows(owned.table.read(spark, cfg), DAY, validations)
    return rows.where(f"`table` = '{table}'").collect()


def test_a_rerun_appends_and_readers_take_the_latest_validation(spark, cfg):
    """Same table, night and run id twice (an Airflow retry): the second, clean batch adds a
    validation without failed rows, and the feedback readers see only that one."""
    from jobs.feedback.problems import from_failed_rows

    table = "ods.qp__rerun"
    suite = suite_of(
        [
            rule("expect_column_values_to_be_valid_ric", column="sfzh"),
            rule("expect_column_values_to_not_be_null", column="level"),
        ],
        table,
    )
    validate(spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table))
    failed = latest(spark, cfg, FAILED_ROWS, table)
    assert sorted((r["key"], r["value"]) for r in failed) == [("2", BAD), ("3", ""), ("5", "123")]
    first = {r["rule"]: r["validated_at"] for r in latest(spark, cfg, RESULTS, table)}
    assert {r["validated_at"] for r in failed} == set(first.values())

    clean = spark.createDataFrame([r for r in ROWS if r[0] in (1, 6)], SCHEMA)
    validate(spark, cfg, suite, clean, batch(table))
    results = latest(spark, cfg, RESULTS, table)
    assert len(results) == 2 and all(r["success"] for r in results)
    assert {r["validated_at"] for r in results} != set(first.values())
    assert latest(spark, cfg, FAILED_ROWS, table) == []
    tonight = from_failed_rows(spark, cfg, DAY).where(f"`table` = '{table}'")
    assert tonight.count() == 0
    # Both validations are kept: the first one's rows are history, not deleted.
    everything = RESULTS.table.read(spark, cfg)
    assert everything.where(f"`table` = '{table}'").count() == 4


def test_quarantined_rows_are_left_out_and_recorded_once(spark, cfg):
    table = "ods.qp__quarantine"
    level = rule("expect_column_values_to_be_in_set", "quarantine", column="level", value_set=["A"])
    suite = suite_of([{**level, "kwargs": {**level["kwargs"], "value_set": ["A", "B"]}}], table)
    out = validate(spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table))
    assert (out.total, out.quarantined) == (6, 1)
    assert sorted(r["k"] for r in out.rows.collect()) == [1, 2, 3, 5, 6]  # NULL level is kept
    failed = latest(spark, cfg, FAILED_ROWS, table)
    assert sorted((r["key"], r["value"], r["policy"]) for r in failed) == [("3", "Z", "quarantine")]


def test_data_docs_show_the_rules_judged_from_the_row_pass(spark, cfg):
    table = "ods.qp__docs"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    validate(spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table, "docs-run"))
    build_data_docs(cfg)
    docs = cfg.lakehouse / "quality" / "data_docs" / "validations" / "ods" / "qp__docs"
    (page,) = [p.read_text(encoding="utf-8") for p in (docs / "docs-run").rglob("*.html")]
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Evaluated Expectations 1 Successful Expectations 0" in text
    assert "expect_column_values_to_be_valid_ric" in text and "2 unexpected values found" in text


def test_deferred_results_are_committed_when_the_callers_write_is_settled(spark, cfg):
    """A load's results are appended while it writes its table; leaving `settling()` waits for
    them, so they are in quality.* when the load reports success."""
    table = "ods.qp__deferred"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    out = validate(
        spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table), defer_writes=True
    )
    with out.settling() as rows:
        assert rows.count() == 6
    assert out.pending is None and "write_results_and_failed_rows" in out.phases
    assert [r["rule"] for r in latest(spark, cfg, RESULTS, table)] == [
        "expect_column_values_to_be_valid_ric:sfzh"
    ]
    assert sorted(r["key"] for r in latest(spark, cfg, FAILED_ROWS, table)) == ["2", "5"]


def test_a_failing_callers_write_still_waits_and_reports_its_own_error(spark, cfg):
    table = "ods.qp__deferred_fail"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    out = validate(
        spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table), defer_writes=True
    )
    with pytest.raises(OSError, match="disk full"), out.settling():
        raise OSError("disk full")
    assert out.pending is None
    assert sorted(r["key"] for r in latest(spark, cfg, FAILED_ROWS, table)) == ["2", "5"]


def test_a_failing_batch_has_its_results_written_before_the_error(spark, cfg):
    """fail policy with deferred writes: the department's rows are recorded, then the error."""
    table = "ods.qp__deferred_stop"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", "fail", column="sfzh")], table)
    with pytest.raises(QualityError, match="failed on 2 of 6 rows"):
        validate(
            spark, cfg, suite, spark.createDataFrame(ROWS, SCHEMA), batch(table), defer_writes=True
        )
    assert sorted(r["key"] for r in latest(spark, cfg, FAILED_ROWS, table)) == ["2", "5"]


def test_a_blank_identifier_is_missing_not_invalid(spark, cfg):
    """'' and whitespace are the not-null / blank rules' to report (a database keeps '' where a
    file has nothing); the identifier rule and GX's own count judge only values that are there."""
    table = "ods.qp__blank_ids"
    suite = suite_of([rule("expect_column_values_to_be_valid_ric", column="sfzh")], table)
    rows = [(1, GOOD[0]), (2, BAD), (3, ""), (4, " \u3000"), (5, None)]
    df = spark.createDataFrame(rows, "k int, sfzh string")
    out = validate(spark, cfg, suite, df, batch(table))
    (result,) = out.rules
    assert (result["unexpected_count"], result["row_failures"]) == (1, 1)
    assert [r["key"] for r in latest(spark, cfg, FAILED_ROWS, table)] == ["2"]


def test_a_blank_date_is_missing_not_invalid(spark, cfg):
    """Blank text (spaces, a full-width space, a tab) is the not-null rules' to report; the date
    rule flags only values that are there and do not parse, in the row pass as in GX."""
    table = "ods.qp__blank_dates"
    suite = suite_of([rule("expect_column_values_to_be_valid_date", column="born")], table)
    rows = [
        (1, "2001-02-03"),
        (2, "2001-02-30"),
        (3, ""),
        (4, " \u3000\t"),
        (5, None),
        (6, "not a date"),
        (7, "2001/02/03"),
    ]
    df = spark.createDataFrame(rows, "k int, born string").cache()
    computed = validate_with_gx(cfg, suite, df, "computed-dates")
    out = validate(spark, cfg, suite, df, batch(table))
    (result,) = out.rules
    assert (result["unexpected_count"], result["row_failures"]) == (2, 2)
    assert computed["expect_column_values_to_be_valid_date:born"]["unexpected_count"] == 2
    assert sorted(r["key"] for r in latest(spark, cfg, FAILED_ROWS, table)) == ["2", "6"]
