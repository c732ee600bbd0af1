"""Masking is configured once (conf/masking.yaml, govlake/masking.py) and followed everywhere a
value leaves the lakehouse: here, the failing values quality.results keeps as samples."""

from __future__ import annotations

import datetime as dt
import random

from frames import assert_frames_equal

from govlake import masking
from govlake.masking import load_masking, mask_column_value
from govlake.sample import identifiers as sample_ids

GOOD = sample_ids.ric_number("420704", "19800101", 7)
BAD_CHECK = sample_ids.wrong_check(GOOD, "0123456789X", random.Random(3))
TOO_SHORT = GOOD[:17]  # a malformed number: no identifier pattern recognises it
RULES = """\
mask_char: "#"
identifiers:
  resident_id: {pattern: "[0-9]{17}[0-9Xx]", keep_first: 3, keep_last: 2}
column_value: {keep_first: 1, keep_last: 1}
"""


def test_a_value_of_an_identifier_column_is_masked_even_when_malformed(tmp_path):
    rules = tmp_path / "masking.yaml"
    rules.write_text(RULES, encoding="utf-8")
    configured = load_masking(rules)
    assert mask_column_value(BAD_CHECK, configured) == BAD_CHECK[:3] + "#" * 13 + BAD_CHECK[-2:]
    assert mask_column_value(TOO_SHORT, configured) == TOO_SHORT[0] + "#" * 15 + TOO_SHORT[-1]
    assert mask_column_value("42", configured) == "##"
    whole = tmp_path / "whole.yaml"
    whole.write_text(RULES.replace("column_value", "# column_value"), encoding="utf-8")
    assert mask_column_value(TOO_SHORT, load_masking(whole)) == "#" * 17


def test_quality_samples_follow_the_configured_masking(spark, cfg, tmp_path, monkeypatch):
    """Change the configured rule and the sample written to quality.results follows it."""
    from pyspark.sql import functions as F

    from jobs.quality import Batch, validate
    from jobs.quality.suites import Suite

    rules = tmp_path / "masking.yaml"
    rules.write_text(RULES, encoding="utf-8")
    monkeypatch.setattr(masking, "MASKING_FILE", rules)
    rows = [(1, GOOD), (2, BAD_CHECK), (3, TOO_SHORT), (4, "123")]
    df = spark.createDataFrame(rows, "k int, sfzh string")
    rule = {"type": "expect_column_values_to_be_valid_ric", "kwargs": {"column": "sfzh"}}
    suite = Suite(name="ods.mask__t", expectations=[{**rule, "meta": {"policy": "warn"}}])
    run = dt.date(2026, 11, 25)
    batch = Batch("ods.mask__t", "run-m", run, ["k"], system="mask", department="市测试局")
    validate(spark, cfg, suite, df, batch)

    written = spark.table("quality.results").where("`table` = 'ods.mask__t'")
    samples = written.select("rule", F.array_sort("sample").alias("sample"))
    masked = [
        BAD_CHECK[:3] + "#" * 13 + BAD_CHECK[-2:],
        TOO_SHORT[0] + "#" * 15 + TOO_SHORT[-1],
        "1#3",
    ]
    assert_frames_equal(samples, [("expect_column_values_to_be_valid_ric:sfzh", sorted(masked))])


def test_a_sole_traders_uscc_is_masked_and_an_enterprises_is_not(spark):
    """A 个体工商户's USCC (category 9, type 2) identifies a person; other USCCs are public."""
    from pyspark.sql import functions as F

    trader, company = "92420704MA4K52Y44R", "91420700MA4K52Y44R"
    text = f"经营者 {trader}，公司 {company}"
    expected = f"经营者 92420704********4R，公司 {company}"
    assert masking.mask_text(text) == expected
    row = spark.createDataFrame([(text,)], "v string").select(masking.mask_column(F.col("v")))
    assert row.first()[0] == expected


def test_the_leak_scan_finds_what_is_planted_outside_the_graded_stores(spark, tmp_path):
    """tests/leaks.py (the e2e leak test) finds an identifier in a log line, inside an .xlsx,
    inside a zstd event log, inside a struct of a Delta table and in a command's output; a
    graded store or a department's own delivery is not a leak."""
    import leaks
    import zstandard
    from openpyxl import Workbook

    person, representative, trader = (
        GOOD,
        sample_ids.ric_number("420702", "19700202", 3),
        ("92420704MA4K52Y44R"),
    )
    lake = tmp_path / "lakehouse"

    def delta(path: str, rows: list, schema: str) -> None:
        spark.createDataFrame(rows, schema).write.format("delta").save(str(lake / path))

    delta("base/population", [(person,), (None,)], "id_number string")
    entities = [(trader, None), ("91420700MA4K52Y44R", representative)]
    delta("base/legal_entity", entities, "uscc string, legal_representative_id string")
    assert leaks.personal_identifiers(spark, lake) == {person, representative, trader}
    identifiers = {person, representative, trader}
    delta("ods/x__t", [(person,)], "v string")  # graded: holds raw values by design
    delta("ops/notes", [(1, (f"row of {representative}", 2))], "k int, s struct<t:string,n:int>")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "task.log").write_text(f"ERROR bad row {person}\n", "utf-8")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "delivery.csv").write_text(person, "utf-8")
    # A compressed event log (the session writes zstd) must not hide a plan's literal.
    events = tmp_path / "spark-events" / "eventlog_v2_app"
    events.mkdir(parents=True)
    tasks = "".join(f'{{"Event":"SparkListenerTaskEnd","Task ID":{i}}}\n' for i in range(20))
    plan = f'{{"Event":"SparkListenerSQLExecutionStart","details":"id_number = {person}"}}\n'
    packed = zstandard.ZstdCompressor().compress((tasks + plan).encode())
    assert person.encode() not in packed  # only a reader that decompresses finds it
    (events / "events_1_app.zstd").write_bytes(packed)
    book = Workbook()
    book.active.append(["统一社会信用代码", trader.lower()])
    book.save(lake / "feedback.xlsx")
    # An executor's copy of a cached jar is a download; a jar unlike the cache is searched.
    cache, work = tmp_path.parent / f"{tmp_path.name}-jars", tmp_path / "cluster" / "app" / "0"
    cache.mkdir()
    work.mkdir(parents=True)
    for folder, text in ((cache, "a download"), (work, f"a download of {person}")):
        (folder / "fetched.jar").write_text(text)
    (cache / "same.jar").write_text(f"cached {person}")
    (work / "same.jar").write_text(f"cached {person}")
    found = leaks.file_leaks(tmp_path, identifiers, artifacts=cache)
    # The commit log of ops.notes copies the value into its column statistics: a leak too.
    in_logs = {k for k in found if "/_delta_log/" in k}
    assert in_logs and all(k.startswith("lakehouse/ops/notes/_delta_log/") for k in in_logs)
    assert {k: n for k, n in found.items() if k not in in_logs} == {
        "logs/task.log": 1,
        "lakehouse/feedback.xlsx": 1,
        "cluster/app/0/fetched.jar": 1,
        "spark-events/eventlog_v2_app/events_1_app.zstd": 1,
    }
    assert leaks.table_leaks(spark, tmp_path, identifiers) == {"lakehouse/ops/notes": 1}
    assert leaks.text_leaks({"a": f"{person[:17]}", "b": f"id={person}"}, identifiers) == {"b": 1}
