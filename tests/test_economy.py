"""base.economy (issue 14 item 4) from a few inline rows: the shipped library and source files
over 市统计局's 一套表 workbook, 市税务局's tax table and 市场监管's registrations, built once.

One row per enterprise and year; a revised or twice-delivered year is a conflict of the same
department, never silently one of them; an industry code GB/T 4754 lacks, a revenue typed as
text ("1,234.5万元") and an invalid credit code are quarantined with their reason; 市场监管's
industry wins over 市统计局's. And the workbook source accumulates: a later delivery (the next
year's file) does not replace an earlier one, as a snapshot file source would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import yaml
from catalog_entries import write_entry
from openpyxl import Workbook
from stdnum.cn import uscc

from govlake.lakehouse import Table
from govlake.sample.identifiers import org_code, uscc_number
from govlake.sample.sources_economy import STATS_COLUMNS
from jobs.ingest import load_table
from jobs.library import build_library

NIGHT = dt.date(2026, 11, 25)
SOURCES = Path(__file__).resolve().parents[1] / "conf" / "sources"
A, B, C, D, E = (
    uscc_number("9", "1", "420704", org_code(body))
    for body in ("MA4K1234", "MA4K2345", "MA4K3456", "MA4K4567", "MA4K5678")
)
BAD = A[:-1] + ("0" if A[-1] != "0" else "1")  # the check character wrong
HEADER = list(STATS_COLUMNS)  # 市统计局's layout, as the sample generator writes it
# 市统计局's workbook: a clean row and its revision (a later 报送时间), an unknown industry
# class, a revenue typed with its unit, an invalid credit code, and one enterprise's year
# submitted twice with different figures.
WORKBOOK = [
    [A, "甲公司", 2024, "3311", 1234.5, 50, "2025-03-01 10:00:00"],
    [A, "甲公司", 2024, "3311", 1300.0, 50, "2025-06-01 10:05:00"],
    [B, "乙公司", 2024, "9999", 80.0, 8, "2025-03-02 10:00:00"],
    [C, "丙公司", 2024, "5211", "1,234.5万元", 12, "2025-03-03 10:00:00"],
    [BAD, "错码公司", 2024, "5211", 10.0, 3, "2025-03-04 10:00:00"],
    [E, "戊公司", 2024, "5211", 300.0, 20, "2025-03-05 09:00:00"],
    [E, "戊公司", 2024, "f5211", 320.0, 21, "2025-03-05 16:00:00"],
]
REGISTERED = [(A, "C3312"), (B, "C3311"), (C, "F5211"), (E, "F5211")]  # samr's industry
# 市税务局: 甲公司's tax of two years (no 2025 figures from 市统计局 yet), 丁公司 pays tax only.
TAX = [
    (A, "甲公司", "2024", 12.5, "2025-05-31 10:00:00"),
    (A, "甲公司", "2025", 14.0, "2026-05-31 10:00:00"),
    (D, "丁公司", "2024", 3.2, "2025-05-31 10:00:00"),
]


def test_the_test_identifiers():
    assert all(uscc.is_valid(x) for x in (A, B, C, D, E)) and not uscc.is_valid(BAD)


def conf(system: str, **location) -> str:
    """The shipped source file of a system, its location moved into the test's folder."""
    raw = yaml.safe_load((SOURCES / f"{system}.yaml").read_text(encoding="utf-8"))
    raw["location"] = location
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def workbook(path: Path, rows: list[list]) -> None:
    """An 一套表 export: a title row above the header, one sheet named as the source declares."""
    book = Workbook()
    sheet = book.active
    sheet.title = "企业年报"
    sheet.append(["鄂州市企业年度主要指标（一套表 年报）"])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)


def deliver(tmp_path: Path, source_dir: Path) -> None:
    """市统计局's workbook, and the three departments' source files."""
    folder = tmp_path / "stats"
    folder.mkdir()
    workbook(folder / f"qy_nb_{NIGHT:%Y%m%d}.xlsx", WORKBOOK)
    for system, location in (
        ("stats_enterprise", {"path": str(folder)}),
        ("samr_enterprise", {"conn_id": "test_samr"}),
        ("tax_levy", {"conn_id": "test_tax"}),
    ):
        (source_dir / f"{system}.yaml").write_text(conf(system, **location), encoding="utf-8")


def landed(spark, cfg, table: str, schema: str, rows: list[tuple]) -> None:
    """A database table as its load lands it in ods (id, the department's columns, the load's
    columns): the JDBC load itself is tested elsewhere, and each load costs a test ~30 s."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(i, *row) for i, row in enumerate(rows, 1)], f"id long, {schema}")
    df = df.withColumns(
        {
            "_source_system": F.lit(table.split(".")[1].split("__")[0]),
            "_batch_date": F.lit(NIGHT),
            "_run_id": F.lit("run-1"),
            "_ingested_at": F.current_timestamp(),
            "_source_file": F.lit(None).cast("string"),
            "_source_row": F.lit(None).cast("long"),
        }
    )
    Table.parse(table).write(
        df, "overwrite", options={"delta.enableChangeDataFeed": "true"}, cfg=cfg
    )


def legal_entities(spark, cfg) -> None:
    """base.legal_entity as the economy library reads it for its link: 甲公司 only."""
    rows = spark.createDataFrame([(A,)], "uscc string")
    Table.parse("base.legal_entity").write(rows, "overwrite", cfg=cfg)


def test_one_row_per_enterprise_and_year_conflicts_and_quarantine(
    spark, cfg, source_dir, tmp_path, monkeypatch
):
    columns = [
        "uscc",
        "year",
        "industry",
        "revenue",
        "employees",
        "tax_paid",
        "uscc_linked",
        "provenance",
    ]
    systems = ["stats_enterprise", "tax_levy", "samr_enterprise"]
    catalog = write_entry(tmp_path / "catalog", "economy", "base.economy", columns, systems)
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(catalog))
    # The suites are the demo's to run (GX takes most of a build's time on a busy machine).
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(tmp_path / "no_suites"))
    deliver(tmp_path, source_dir)
    legal_entities(spark, cfg)
    load_table("stats_enterprise", "annual_figures", NIGHT, "run-1", spark)
    registered = [(*r, "2026-11-24 09:00:00") for r in REGISTERED]
    samr = "tyshxydm string, hydm string, gxsj string"
    landed(spark, cfg, "ods.samr_enterprise__qy_jbxx", samr, registered)
    tax = "nsrsbh string, nsrmc string, nd string, sjse double, gxsj string"
    landed(spark, cfg, "ods.tax_levy__nd_sjse", tax, TAX)

    result = build_library("economy", NIGHT, "run-1", spark)

    rows = {(r.uscc, r.year): r for r in spark.table("base.economy").collect()}
    # 2025 is 甲公司's own row (tax only so far); 丁公司 pays tax but reports no figures.
    assert set(rows) == {(A, 2024), (A, 2025), (E, 2024), (D, 2024)}
    assert rows[A, 2024].revenue == Decimal("1300") and rows[A, 2025].revenue is None
    assert rows[A, 2024].tax_paid == Decimal("12.5") and rows[A, 2025].tax_paid == Decimal("14")
    assert rows[E, 2024].revenue == Decimal("320") and rows[E, 2024].employees == Decimal("21")
    assert rows[D, 2024].revenue is None and rows[D, 2024].tax_paid == Decimal("3.2")
    # 市场监管's registered industry holds for every year; 市统计局's other class is a conflict.
    assert {rows[k].industry for k in ((A, 2024), (A, 2025))} == {"C3312"}
    assert rows[E, 2024].industry == "F5211" and rows[D, 2024].industry is None
    assert rows[A, 2025].provenance["industry"]["input"] == "samr_registration"
    assert rows[A, 2024].uscc_linked and not rows[D, 2024].uscc_linked

    quarantined = spark.table("quarantine.economy").collect()
    assert sorted((q.key_value, list(q.rules)) for q in quarantined) == sorted(
        [
            (f"{B}|2024", ["invalid_industry:unknown_code"]),
            (f"{C}|2024", ["unparseable_revenue"]),
            (f"{BAD}|2024", ["invalid_uscc:bad_check"]),
        ]
    )
    conflicts = spark.table("base.conflicts").where("library = 'economy'").collect()
    found = {(c.key, c.attribute, c.value, c.winner_value, c.reason) for c in conflicts}
    same, authority = (
        "newer statement of the same department",
        "authoritative department (一数一源)",
    )
    assert found == {
        (f"{A}|2024", "revenue", "1234.5000", "1300.0000", same),
        (f"{E}|2024", "revenue", "300.0000", "320.0000", same),
        (f"{E}|2024", "employees", "20.0000", "21.0000", same),
        (f"{A}|2024", "industry", "C3311", "C3312", authority),
    }
    balance = {i["input"]: i for i in result["inputs"]}
    assert all(i["rows_in"] == i["standardized"] + i["quarantined"] for i in balance.values())
    assert balance["statistics"]["rows_in"] == 7 and balance["statistics"]["quarantined"] == 3
    assert balance["tax"]["rows_in"] == 3 and balance["samr_registration"]["rows_in"] == 4

    # Next night 市税务局 revises 甲公司's 2025 tax: only that enterprise-year is rebuilt. The
    # year is part of the key, so change detection must read it (a benchmark night failed on
    # "stat_year cannot be resolved" before compared_columns included the key's columns).
    Table.parse("ods.tax_levy__nd_sjse").delta(spark, cfg).update(
        f"nsrsbh = '{A}' AND nd = '2025'", {"sjse": "15.5", "gxsj": "'2026-11-25 10:00:00'"}
    )
    second = build_library("economy", NIGHT, "run-2", spark)
    assert (second["mode"], second["changed_keys"]) == ("incremental", 1), second
    after = {(r.uscc, r.year): r for r in spark.table("base.economy").collect()}
    assert after[A, 2025].tax_paid == Decimal("15.5") and set(after) == set(rows)
    assert after[A, 2024].tax_paid == Decimal("12.5") and after[A, 2024].revenue == Decimal("1300")


def test_a_later_workbook_adds_to_the_earlier_ones(spark, cfg, source_dir):
    """The workbook source declares a watermark: its current rows are the newest per primary key
    over every delivery, so the 2025 file leaves the 2024 rows current; without the watermark
    (a snapshot source) only the latest file's rows would be."""
    from govlake.libraries import Input
    from jobs.library import current_rows

    delivered = spark.createDataFrame(
        [
            (A, "2024", "1234.5", "2025-03-01 10:00:00", dt.date(2025, 6, 1)),
            (E, "2024", "300", "2025-03-05 09:00:00", dt.date(2025, 6, 1)),
            (A, "2025", "1500", "2026-03-01 10:00:00", dt.date(2026, 6, 1)),
            (A, "2024", "1300", "2026-03-01 10:05:00", dt.date(2026, 6, 1)),
        ],
        "uscc string, stat_year string, revenue string, submitted_at string, _batch_date date",
    )
    found = {}
    for system in ("stats_accumulating", "stats_snapshot"):
        raw = yaml.safe_load(conf("stats_enterprise", path="."))
        raw["system"] = system
        if system == "stats_snapshot":
            del raw["tables"][0]["watermark"]
        text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        (source_dir / f"{system}.yaml").write_text(text, encoding="utf-8")
        source = Input(table=f"ods.{system}__annual_figures", department="市统计局", key="uscc")
        Table.parse(source.table).write(delivered, "overwrite", cfg=cfg)
        rows = current_rows(spark, cfg, source).select("uscc", "stat_year", "revenue").collect()
        found[system] = sorted(tuple(r) for r in rows)
    assert found["stats_accumulating"] == sorted(
        [(A, "2024", "1234.5"), (E, "2024", "300"), (A, "2025", "1500"), (A, "2024", "1300")]
    )
    assert found["stats_snapshot"] == sorted([(A, "2025", "1500"), (A, "2024", "1300")])


def test_quarantine_reasons_name_the_department_column():
    """The department's feedback names its own column and says what is wrong with the value."""
    from govlake.libraries import get_library
    from jobs.feedback.problems import library_rule_text

    economy = get_library("economy")
    industry = library_rule_text(economy, "statistics", "invalid_industry:unknown_code")
    assert industry["field"] == "industry_code" and industry["json_name"] == "industry"
    assert (
        industry["rule_zh"]
        == "industry_code 不是有效的国民经济行业代码（GB/T 4754-2017）：行业代码不存在"
    )
    assert library_rule_text(economy, "tax", "missing_year")["field"] == "nd"
    assert library_rule_text(economy, "statistics", "unparseable_revenue")["field"] == "revenue"
