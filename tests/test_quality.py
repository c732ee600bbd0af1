"""Data quality: custom GX identifier expectations, policies, results and bad input (issue 4)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.masking import mask_column_value
from govlake.sample import identifiers as sample_ids
from jobs import identifiers
from jobs.quality import Batch, QualityError, build_data_docs, load_suite, validate
from jobs.quality.generate import source_suites, write_suites
from jobs.quality.suites import Suite, expectations_dir

DAY1, DAY2 = dt.date(2026, 11, 25), dt.date(2026, 11, 26)
RNG = random.Random(4)
GOOD_RIC = [sample_ids.ric_number("420704", f"19{80 + i}0101", i) for i in range(4)]
BAD_RIC = [sample_ids.wrong_check(v, "0123456789X", RNG) for v in GOOD_RIC[:2]]
GOOD_USCC = [
    sample_ids.uscc_number("9", "1", "420700", sample_ids.org_code(f"MA4{i:05d}")) for i in range(3)
]
BAD_USCC = [sample_ids.wrong_check(GOOD_USCC[0], "0123456789ABCDEFGHJKLMNPQRTUWXY", RNG)]
ISSUER = GOOD_USCC[1]
GOOD_CERT = [sample_ids.ecert_id("11100000000013338W001", ISSUER, f"{i:06d}") for i in range(2)]
BAD_CERT = [GOOD_CERT[0][:-1] + ("A" if GOOD_CERT[0][-1] != "A" else "B")]


def suite_of(rules: list[dict], threshold: float = 1.0, name: str = "ods.q__t") -> Suite:
    return Suite(
        name=name,
        meta={"threshold": {"max_quarantined_fraction": threshold}},
        expectations=rules,
    )


def r(kind: str, column: str, policy: str = "warn", **kwargs) -> dict:
    return {"type": kind, "kwargs": {"column": column, **kwargs}, "meta": {"policy": policy}}


def batch(table: str, key: str = "k") -> Batch:
    return Batch(
        table=table,
        run_id="test",
        run_date=DAY1,
        key_columns=[key],
        system="q",
        department="市测试局",
    )


def test_custom_expectations_agree_with_the_identifier_checks(spark, cfg):
    """GX's count of unexpected values equals the pipeline's own Spark check, per kind."""
    from pyspark.sql import functions as F

    from jobs.quality.gx_run import validate_with_gx

    values = {
        "ric": [*GOOD_RIC, *BAD_RIC, "４２０７０４" + GOOD_RIC[0][6:], " " + GOOD_RIC[1], "123"],
        "uscc": [*GOOD_USCC, *BAD_USCC, GOOD_USCC[0].lower(), "91420700MA4XXXXX1"],
        "cert": [*GOOD_CERT, *BAD_CERT, "1.2.156.3005.2.x"],
    }
    width = max(len(v) for v in values.values())
    rows = [
        tuple(values[k][i] if i < len(values[k]) else None for k in ("ric", "uscc", "cert"))
        for i in range(width)
    ]
    df = spark.createDataFrame(rows, "ric string, uscc string, cert string").cache()
    suite = suite_of(
        [r(f"expect_column_values_to_be_valid_{k}", k) for k in values], name="ods.q__identifiers"
    )
    gx = validate_with_gx(cfg, suite, df, "test")
    for kind, check in (
        ("ric", identifiers.ric_check),
        ("uscc", None),
        ("cert", identifiers.cert_check),
    ):
        check = check or (lambda c: identifiers.uscc_check(c, check_org_code=False))
        expected = df.where(F.col(kind).isNotNull() & ~check(F.col(kind))["valid"]).count()
        result = gx[f"expect_column_values_to_be_valid_{kind}:{kind}"]
        assert result["error"] is None
        assert result["unexpected_count"] == expected > 0
        assert result["success"] is False
    assert gx["expect_column_values_to_be_valid_ric:ric"]["unexpected_count"] == 3  # 2 bad + "123"


def test_custom_expectation_passes_clean_values_and_is_registered_in_gx():
    from great_expectations.expectations.registry import get_expectation_impl

    import jobs.quality.gx_expectations as ge

    assert (
        get_expectation_impl("expect_column_values_to_be_valid_ric")
        is ge.ExpectColumnValuesToBeValidRic
    )
    assert (
        get_expectation_impl("expect_column_values_to_be_valid_cert")
        is ge.ExpectColumnValuesToBeValidCert
    )


def test_policies_warn_keeps_quarantine_removes_and_both_are_recorded(spark, cfg):
    rows = [
        (1, GOOD_RIC[0], "A"),
        (2, BAD_RIC[0], "A"),  # warn: kept, recorded
        (3, GOOD_RIC[1], "Z"),  # quarantine: removed, recorded
        (4, BAD_RIC[1], "Z"),  # both
        (5, None, "B"),
    ]
    df = spark.createDataFrame(rows, "k int, sfzh string, level string")
    suite = suite_of(
        [
            r("expect_column_values_to_be_valid_ric", "sfzh", "warn"),
            r("expect_column_values_to_be_in_set", "level", "quarantine", value_set=["A", "B"]),
        ],
        threshold=0.5,
        name="ods.q__policies",
    )
    out = validate(spark, cfg, suite, df, batch("ods.q__policies"))
    assert sorted(x["k"] for x in out.rows.collect()) == [1, 2, 5]
    assert (out.total, out.quarantined) == (5, 2)
    results = {
        x["rule"]: x
        for x in spark.table("quality.results").where("`table` = 'ods.q__policies'").collect()
    }
    ric = results["expect_column_values_to_be_valid_ric:sfzh"]
    assert (ric["success"], ric["unexpected_count"], ric["row_failures"]) == (False, 2, 2)
    assert ric["element_count"] == 5 and ric["dimension"] == "validity"
    assert set(ric["sample"]) == {mask_column_value(v) for v in BAD_RIC}
    level = results["expect_column_values_to_be_in_set:level"]
    assert level["sample"] == ["Z"] and level["policy"] == "quarantine"
    failed = spark.table("quality.failed_rows").where("`table` = 'ods.q__policies'")
    got = sorted(
        (x["key"], x["rule"].split(":")[0][-8:], x["policy"], x["value"]) for x in failed.collect()
    )
    assert got == [
        ("2", "alid_ric", "warn", BAD_RIC[0]),
        ("3", "e_in_set", "quarantine", "Z"),
        ("4", "alid_ric", "warn", BAD_RIC[1]),
        ("4", "e_in_set", "quarantine", "Z"),
    ]
    assert {x["source_row"] for x in failed.collect()} == {
        "ods.q__policies:2",
        "ods.q__policies:3",
        "ods.q__policies:4",
    }


def test_rerun_of_a_night_replaces_its_failed_rows(spark, cfg):
    """Issue 20 item 11: validating the same night again (another run id, same rows) leaves
    quality.failed_rows with the night's failures once, and the readers' count unchanged."""
    from dataclasses import replace

    from jobs.feedback.common import night_rows

    table = "ods.q__rerun"
    df = spark.createDataFrame(
        [(1, GOOD_RIC[0]), (2, BAD_RIC[0]), (3, BAD_RIC[1])], "k int, sfzh string"
    )
    suite = suite_of([r("expect_column_values_to_be_valid_ric", "sfzh")], name=table)

    def counts() -> tuple[int, int]:
        failed = spark.table("quality.failed_rows").where(f"`table` = '{table}'")
        read = night_rows(failed, DAY1, spark.table("quality.results"))
        return failed.count(), read.where(f"`table` = '{table}'").count()

    validate(spark, cfg, suite, df, batch(table))
    first = counts()
    validate(spark, cfg, suite, df, replace(batch(table), run_id="test-rerun"))
    assert first == (2, 2)
    assert counts() == first


def test_fail_policy_raises_naming_table_rule_and_counts(spark, cfg):
    df = spark.createDataFrame([(1, "A"), (2, "A"), (2, "B")], "k int, level string")
    suite = suite_of([r("expect_column_values_to_be_unique", "k", "fail")], name="ods.q__fail")
    with pytest.raises(QualityError) as err:
        validate(spark, cfg, suite, df, batch("ods.q__fail"))
    text = str(err.value)
    assert "ods.q__fail" in text and "expect_column_values_to_be_unique:k" in text
    assert "failed on 2 of 3 rows" in text and "not updated" in text


def test_mask_keeps_first_six_and_last_four():
    assert mask_column_value("420704198001010011") == "420704********0011"
    assert mask_column_value("12345") == "*****"
    assert mask_column_value(None) is None


TAX_SUITE = """\
name: ods.{system}__credit_rating
meta:
  threshold: {{max_quarantined_fraction: 0.3}}
expectations:
  - type: expect_column_values_to_be_in_set
    kwargs: {{column: credit_level, value_set: [A, B, M, C, D]}}
    meta: {{policy: quarantine, rule_zh: 信用级别不在允许值内, rule_en: not an accepted level}}
  - type: expect_column_values_to_be_valid_uscc
    kwargs: {{column: taxpayer_id}}
    meta: {{policy: warn}}
"""


@pytest.fixture()
def suites_dir(tmp_path, monkeypatch):
    folder = tmp_path / "expectations"
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(folder))
    return folder


def _tax_suite(folder, system):
    (folder / "ods").mkdir(parents=True, exist_ok=True)
    (folder / "ods" / f"{system}__credit_rating.yml").write_text(
        TAX_SUITE.format(system=system), encoding="utf-8"
    )


def version_of(spark, table):
    return spark.sql(f"DESCRIBE HISTORY {table}").agg({"version": "max"}).first()[0]


def test_load_quarantines_below_threshold_and_still_balances(spark, tax_source, suites_dir):
    from jobs.ingest import load_table

    _tax_suite(suites_dir, "tax_qa")
    ratings = [(GOOD_USCC[0], "A"), (GOOD_USCC[1], "Q"), (BAD_USCC[0], "B"), (GOOD_USCC[2], "C")]
    tax_source("tax_qa", ratings, DAY1)
    out = load_table("tax_qa", "credit_rating", DAY1)
    assert (out["rows_read"], out["rows_written"], out["rows_quarantined"]) == (4, 3, 1)
    assert out["balanced"] is True
    run = (
        spark.table("ops.load_runs")
        .where("ods_table = 'ods.tax_qa__credit_rating' AND status != 'running'")
        .first()
    )
    assert run["rows_quarantined"] == 1
    failed = spark.table("quality.failed_rows").where("`table` = 'ods.tax_qa__credit_rating'")
    rows = {(x["rule_zh"] or x["rule"], x["value"], x["department"]) for x in failed.collect()}
    assert ("信用级别不在允许值内", "Q", "市税务局") in rows
    assert any(x["value"] == BAD_USCC[0] and x["policy"] == "warn" for x in failed.collect())
    assert all(x["source_row"].startswith(("credit_rating_", "/")) for x in failed.collect())
    # Rerun: the same content is unchanged and still balances with the quarantined row.
    again = load_table("tax_qa", "credit_rating", DAY1)
    assert again["status"] == "unchanged" and again["balanced"] is True


def test_broken_batch_fails_the_load_and_keeps_the_previous_version(spark, tax_source, suites_dir):
    """Every row of the batch breaks a quarantine rule: over the threshold, nothing written."""
    from jobs.ingest import load_table

    _tax_suite(suites_dir, "tax_qb")
    tax_source("tax_qb", [(GOOD_USCC[0], "A"), (GOOD_USCC[1], "B")], DAY1)
    load_table("tax_qb", "credit_rating", DAY1)
    before = version_of(spark, "ods.tax_qb__credit_rating")
    folder = suites_dir.parent / "tax_qb"
    lines = ["纳税人识别号,信用级别", *[f"{u},X" for u in GOOD_USCC]]
    (folder / f"credit_rating_{DAY2:%Y%m%d}.csv").write_text("\n".join(lines) + "\n", "utf-8-sig")
    with pytest.raises(QualityError) as err:
        load_table("tax_qb", "credit_rating", DAY2)
    text = str(err.value)
    assert "3 of 3 rows" in text and "max_quarantined_fraction" in text
    assert "expect_column_values_to_be_in_set:credit_level" in text
    assert version_of(spark, "ods.tax_qb__credit_rating") == before
    assert (
        spark.table("ods.tax_qb__credit_rating").where(f"_batch_date = DATE'{DAY2}'").count() == 0
    )
    status = (
        spark.table("ops.load_runs")
        .where(
            f"ods_table = 'ods.tax_qb__credit_rating' AND batch_date = DATE'{DAY2}' "
            "AND status != 'running'"
        )
        .first()["status"]
    )
    assert status == "failed"
    # The department can still see what was wrong.
    failed = spark.table("quality.failed_rows").where(
        f"`table` = 'ods.tax_qb__credit_rating' AND run_date = DATE'{DAY2}'"
    )
    assert failed.count() == 3


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(
        "name: ods.x__y\nexpectations:\n  - type: expect_column_values_to_not_be_null\n"
        "    kwargs: {column: a\n    meta: {policy: warn}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and "line 5" in str(err.value)


def test_wrong_policy_and_unknown_expectation_name_file_and_line(tmp_path):
    path = tmp_path / "bad.yml"
    head = "name: ods.x__y\nexpectations:\n  - type: expect_column_values_to_not_be_null\n"
    path.write_text(
        head + "    kwargs: {column: a}\n    meta: {policy: warn}\n"
        "  - type: expect_column_values_to_be_unique\n    kwargs: {column: a}\n"
        "    meta: {policy: block}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and "line 8" in str(err.value) and "policy" in str(err.value)
    path.write_text(
        head.replace("not_be_null", "be_splendid") + "    kwargs: {column: a}\n"
        "    meta: {policy: warn}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert "line 3" in str(err.value) and "expect_column_values_to_be_splendid" in str(err.value)


def test_rule_on_a_dropped_column_is_an_error_not_a_pass(spark, cfg, tmp_path):
    path = tmp_path / "gone.yml"
    path.write_text(
        "name: ods.q__gone\nexpectations:\n  - type: expect_column_values_to_not_be_null\n"
        "    kwargs: {column: k}\n    meta: {policy: warn}\n"
        "  - type: expect_column_values_to_be_valid_ric\n    kwargs: {column: sfzh}\n"
        "    meta: {policy: warn}\n",
        encoding="utf-8",
    )
    suite = load_suite(path)
    df = spark.createDataFrame([(1, "x")], "k int, id_number string")
    with pytest.raises(ConfigError) as err:
        validate(spark, cfg, suite, df, batch("ods.q__gone"))
    text = str(err.value)
    assert "sfzh" in text and "line 6" in text and str(path) in text and "id_number" in text


def test_init_generates_a_suite_that_loads_and_validates(spark, cfg, tax_source, suites_dir):
    from jobs.ingest import load_table

    tax_source("tax_qi", [(u, lvl) for u, lvl in zip(GOOD_USCC, "ABA", strict=True)], DAY1)
    load_table("tax_qi", "credit_rating", DAY1)  # no suite yet: loaded as it is
    written = write_suites(source_suites(spark, cfg, "tax_qi"), None, force=False)
    suite = load_suite(written[0])
    kinds = {(x.type, x.column, x.meta.policy) for x in suite.expectations}
    assert ("expect_column_values_to_not_be_null", "taxpayer_id", "quarantine") in kinds
    assert ("expect_column_values_to_be_unique", "taxpayer_id", "warn") in kinds
    assert ("expect_column_values_to_be_valid_uscc", "taxpayer_id", "warn") in kinds
    with pytest.raises(ConfigError):
        write_suites(source_suites(spark, cfg, "tax_qi"), None, force=False)
    assert written[0].parent == suites_dir / "ods"


def test_init_finds_date_columns_in_any_format_and_the_rule_reports_the_impossible_date(spark, cfg):
    """Issue 20: `quality init` never generated the date-validity rule. A text column of
    dates in the formats departments write gets it; names and codes do not."""
    from jobs.quality.generate import profiled_rules

    births = ["1990-01-02", "19850312", "1979/07/08", "2001年02月03日"] * 5 + ["2023-02-30"]
    rows = [(i, b, f"名字{i}") for i, b in enumerate(births)]
    df = spark.createDataFrame(rows, "k int, csrq string, xm string")
    rules = profiled_rules(df, ["k"], {}, {"csrq": "出生日期"})
    dated = [r for r in rules if r["type"] == "expect_column_values_to_be_valid_date"]
    assert [r["kwargs"]["column"] for r in dated] == ["csrq"]
    assert dated[0]["meta"]["rule_zh"] == "出生日期不是有效日期"

    validate(spark, cfg, suite_of(dated, name="ods.q__dates"), df, batch("ods.q__dates"))
    failed = spark.table("quality.failed_rows").where("`table` = 'ods.q__dates'").collect()
    assert sorted((x["key"], x["value"]) for x in failed) == [("20", "2023-02-30")]


def test_committed_suites_all_load():
    folder = expectations_dir()
    paths = sorted(folder.glob("*/*.yml"))
    assert len(paths) >= 11
    tables = {load_suite(p).table for p in paths}
    assert {"base.population", "base.legal_entity", "base.certificate"} <= tables


def test_data_docs_are_built_into_the_lakehouse(spark, cfg):
    df = spark.createDataFrame([(1,)], "k int")
    validate(
        spark,
        cfg,
        suite_of([r("expect_column_values_to_not_be_null", "k")], name="ods.q__docs"),
        df,
        batch("ods.q__docs"),
    )
    index = build_data_docs(cfg)
    assert index == cfg.lakehouse / "quality" / "data_docs" / "index.html"
    assert "ods.q__docs" in index.read_text(encoding="utf-8")


def test_govlake_quality_prints_the_latest_run_per_table(spark, cfg, capsys):
    from govlake.cli import main

    df = spark.createDataFrame([(1, "A"), (2, None)], "k int, level string")
    suite = suite_of([r("expect_column_values_to_not_be_null", "level")], name="ods.q__cli")
    validate(spark, cfg, suite, df, batch("ods.q__cli"))
    assert main(["quality", "--json"]) == 0
    rows = {x["table"]: x for x in json.loads(capsys.readouterr().out)}
    assert rows["ods.q__cli"]["rules"] == 1 and rows["ods.q__cli"]["warned"] == 1
    assert rows["ods.q__cli"]["unexpected_values"] == 1


def test_init_before_the_first_load_validates_it_and_force_validates_again(
    spark, cfg, tax_source, suites_dir
):
    """Issue 20 item 9: `quality init` before anything is loaded writes rules from the
    declaration (keys; a check chosen by the department's column name), so the first batch is
    validated; an unchanged delivery is skipped, and `load --force` validates it again."""
    from pyspark.sql import functions as F

    from jobs.ingest import load_table

    ratings = [(GOOD_USCC[0], "A"), (BAD_USCC[0], "B"), (GOOD_USCC[1], "A")]
    tax_source("tax_qd", ratings, DAY1)
    assert not Table.parse("ods.tax_qd__credit_rating").exists(spark, cfg)
    written = write_suites(source_suites(spark, cfg, "tax_qd"), None, force=False)
    kinds = {(x.type, x.column, x.meta.policy) for x in load_suite(written[0]).expectations}
    assert kinds == {
        ("expect_column_values_to_not_be_null", "taxpayer_id", "quarantine"),
        ("expect_column_values_to_be_unique", "taxpayer_id", "warn"),
        ("expect_column_values_to_be_valid_uscc", "taxpayer_id", "warn"),
    }

    def validations():
        results = Table.parse("quality.results").read(spark, cfg)
        mine = results.where(F.col("table") == "ods.tax_qd__credit_rating")
        return {
            (r["rule"].split(":")[0], r["success"], r["unexpected_count"], r["run_id"])
            for r in mine.collect()
        }

    first = load_table("tax_qd", "credit_rating", DAY1, run_id="run-1")
    assert first["status"] == "success"
    assert {(ok, n) for rule, ok, n, run in validations() if "uscc" in rule} == {(False, 1)}
    again = load_table("tax_qd", "credit_rating", DAY1, run_id="run-2")
    assert again["status"] == "unchanged" and {run for *_, run in validations()} == {"run-1"}
    forced = load_table("tax_qd", "credit_rating", DAY1, run_id="run-3", force=True)
    assert forced["status"] == "success" and "load --force" in forced["notes"]
    assert {run for *_, run in validations()} == {"run-1", "run-3"} and forced["balanced"]


def hazchem_delivery(persons: int, folder) -> dict[str, tuple[list[str], list[tuple], dict]]:
    """The three 市应急管理局 workbooks of a sample of `persons` at the sample's default (the
    demo's) defect rates, injected as generate_sources does, written as .xls and read back by the
    project's reader: per table the ods columns, the rows a load keeps, the planted defects."""
    from govlake.sample import sources_hazchem as hz
    from govlake.sample.config import load_config
    from govlake.sample.defects import inject
    from govlake.sample.generate import build_world
    from govlake.sample.writers import write_xls
    from govlake.sources import get_table
    from jobs.readers import FileInput, xls_rows

    config = load_config()
    world = build_world(persons, DAY2, 20261126, config)
    out = {}
    for make in (hz.enterprise_table, hz.inspection_table, hz.incident_table):
        data = make(world, DAY2.strftime("%Y%m%d"))
        key = data.spec.key
        planted = inject(
            data, config.rates.for_table(key), random.Random(f"20261126:defects:{key}")
        )
        path = folder / f"{persons}_{data.spec.table}.xls"
        write_xls(path, data.spec, planted.rows)
        columns, rows = xls_rows(FileInput(*get_table("mem_hazchem", data.spec.table), path))
        kept = [x[: len(columns)] for x in rows if x[-2] is None and x[-1] is None]
        out[data.spec.table] = (columns, kept, planted.counts)
    return out


def hazchem_suites() -> dict[str, Suite]:
    folder = expectations_dir() / "ods"
    return {
        t: load_suite(folder / f"mem_hazchem__{t}.yml")
        for t in ("enterprise", "inspection", "incident")
    }


def test_hazchem_suites_fail_only_on_what_the_generator_never_writes(tmp_path):
    """At both demo sizes, no rule of the 市应急管理局 suites quarantines (a threshold a dozen
    rows can break), and no delivered value breaks a fail rule; the sample does plant defects."""
    suites = hazchem_suites()
    for persons in (1500, 10000):
        planted = 0
        for table, (columns, rows, counts) in hazchem_delivery(persons, tmp_path).items():
            policies = {e.meta.policy for e in suites[table].expectations}
            assert policies == {"warn", "fail"}, table
            for rule in suites[table].expectations:
                if rule.meta.policy != "fail":
                    continue
                at, allowed = columns.index(rule.kwargs["column"]), rule.kwargs["value_set"]
                assert {x[at] for x in rows} - {None} <= set(allowed), (persons, table, rule)
            assert rows, (persons, table)
            planted += sum(counts.values())
        assert planted > 0, f"the {persons}-person sample must plant defects in these tables"


def test_hazchem_suites_load_a_demo_sized_delivery_and_warn_on_its_defects(spark, cfg, tmp_path):
    """Each suite validates the 1,500-person delivery through the engine: nothing fails or is
    held back, and the rules report rows of the defects the generator planted."""
    suites, warned, planted = hazchem_suites(), 0, 0
    key = {"enterprise": "uscc", "inspection": "inspection_no", "incident": "incident_no"}
    for table, (columns, rows, counts) in hazchem_delivery(1500, tmp_path).items():
        df = spark.createDataFrame(rows, ", ".join(f"`{c}` string" for c in columns))
        name = f"ods.mem_hazchem__{table}"
        out = validate(spark, cfg, suites[table], df, batch(name, key[table]))
        assert (out.total, out.quarantined) == (len(rows), 0)
        results = spark.table("quality.results").where(f"`table` = '{name}'").collect()
        found = {x["rule"]: x["unexpected_count"] or 0 for x in results}
        assert (
            found["expect_column_values_to_be_valid_uscc:uscc"] >= counts["invalid_uscc_checksum"]
        )
        warned += sum(found.values())
        planted += sum(counts.values())
    assert planted > 0 and warned > 0, (planted, warned)
