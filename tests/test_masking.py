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
