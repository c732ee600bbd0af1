"""base.economy (issue 14 item 4) from a few inline rows: the shipped library and source files
over 市统计局's yearly workbooks, 市税务局's tax table and 市场监管's registrations, two nights.

One row per enterprise and year; a year's figures stay when the next year's file arrives; a
revised or twice-delivered year is a conflict of the same department, never silently one of
them; an industry code GB/T 4754 lacks, a revenue typed as text ("1,234.5万元") and an invalid
credit code are quarantined with their reason; 市场监管's industry wins over 市统计局's."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import yaml
from catalog_entries import write_entry
from openpyxl import Workbook
from stdnum.cn import uscc

from govlake.lakehouse import Table
from govlake.sample.identifiers import org_code, uscc_number
from jobs.ingest import load_table
from jobs.library import build_library

NIGHT1, NIGHT2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
SOURCES = Path(__file__).resolve().parents[1] / "conf" / "sources"
A, B, C, D, E = (
    uscc_number("9", "1", "420704", org_code(body))
    for body in ("MA4K1234", "MA4K2345", "MA4K3456", "MA4K4567", "MA4K5678")
)
BAD = A[:-1] + ("0" if A[-1] != "0" else "1")  # the check character wrong
HEADER = [
    "统一社会信用代码",
    "单位详细名称",
    "统计年度",
    "行业代码",
    "营业收入(万元)",
    "从业人员期末人数",
    "报送时间",
]
# The 2024 file: a clean row, an unknown industry class, a revenue typed with its unit, an
# invalid credit code, and one enterprise's 2024 submitted twice with different figures.
FILE_2024 = [
    [A, "甲公司", 2024, "3311", 1234.5, 50, "2025-03-01 10:00:00"],
    [B, "乙公司", 2024, "9999", 80.0, 8, "2025-03-02 10:00:00"],
    [C, "丙公司", 2024, "5211", "1,234.5万元", 12, "2025-03-03 10:00:00"],
    [BAD, "错码公司", 2024, "5211", 10.0, 3, "2025-03-04 10:00:00"],
    [E, "戊公司", 2024, "5211", 300.0, 20, "2025-03-05 09:00:00"],
    [E, "戊公司", 2024, "f5211", 320.0, 21, "2025-03-05 16:00:00"],
]
# The 2025 file, with a revision of 甲公司's 2024 revenue.
FILE_2025 = [
    [A, "甲公司", 2025, "3311", 1500.0, 55, "2026-03-01 10:00:00"],
    [A, "甲公司", 2024, "3311", 1300.0, 50, "2026-03-01 10:05:00"],
]
REGISTERED = [(A, "C3312"), (B, "C3311"), (C, "F5211"), (E, "F5211")]  # samr's industry
TAX_1 = [
    (A, "甲公司", "2024", 12.5, "2025-05-31 10:00:00"),
    (D, "丁公司", "2024", 3.2, "2025-05-31 10:00:00"),
]
TAX_2 = [(A, "甲公司", "2025", 14.0, "2026-05-31 10:00:00")]


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


def deliver(tmp_path: Path, source_dir: Path) -> Path:
    """The three departments' deliveries of night 1, and their source files."""
    folder = tmp_path / "dept"
    (folder / "stats").mkdir(parents=True)
    workbook(folder / "stats" / f"qy_nb_{NIGHT1:%Y%m%d}.xlsx", FILE_2024)
    with sqlite3.connect(folder / "samr_reg.db") as db:
        db.execute(
            "CREATE TABLE qy_jbxx (id INTEGER PRIMARY KEY, tyshxydm TEXT, hydm TEXT, gxsj TEXT)"
        )
        db.executemany(
            "INSERT INTO qy_jbxx (tyshxydm, hydm, gxsj) VALUES (?, ?, '2026-11-24 09:00:00')",
            REGISTERED,
        )
    with sqlite3.connect(folder / "tax_levy.db") as db:
        columns = "nsrsbh TEXT, nsrmc TEXT, nd TEXT, sjse REAL, gxsj TEXT"
        db.execute(f"CREATE TABLE nd_sjse (id INTEGER PRIMARY KEY, {columns})")
        db.executemany(
            "INSERT INTO nd_sjse (nsrsbh, nsrmc, nd, sjse, gxsj) VALUES (?, ?, ?, ?, ?)", TAX_1
        )
    for system, location in (
        ("stats_enterprise", {"path": str(folder / "stats")}),
        (
            "samr_enterprise",
            {"conn_id": "test_samr", "default_url": f"jdbc:sqlite:{folder}/samr_reg.db"},
        ),
        ("tax_levy", {"conn_id": "test_tax", "default_url": f"jdbc:sqlite:{folder}/tax_levy.db"}),
    ):
        (source_dir / f"{system}.yaml").write_text(conf(system, **location), encoding="utf-8")
    return folder


def deliver_night2(folder: Path) -> None:
    """The 2025 workbook (with a 2024 revision) and the tax table's 2025 row."""
    workbook(folder / "stats" / f"qy_nb_{NIGHT2:%Y%m%d}.xlsx", FILE_2025)
    with sqlite3.connect(folder / "tax_levy.db") as db:
        db.executemany(
            "INSERT INTO nd_sjse (nsrsbh, nsrmc, nd, sjse, gxsj) VALUES (?, ?, ?, ?, ?)", TAX_2
        )


def load(night: dt.date, spark) -> None:
    for system, table in (
        ("stats_enterprise", "annual_figures"),
        ("samr_enterprise", "qy_jbxx"),
        ("tax_levy", "nd_sjse"),
    ):
        load_table(system, table, night, f"run-{night}", spark)


def legal_entities(spark, cfg) -> None:
    """base.legal_entity as the economy library reads it for its link: 甲公司 only."""
    rows = spark.createDataFrame([(A,)], "uscc string")
    Table.parse("base.legal_entity").write(rows, "overwrite", cfg=cfg)


def test_one_row_per_enterprise_and_year_with_history_conflicts_and_quarantine(
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
    folder = deliver(tmp_path, source_dir)
    legal_entities(spark, cfg)
    load(NIGHT1, spark)
    first = build_library("economy", NIGHT1, "run-1", spark)
    assert first["mode"] == "full"
    deliver_night2(folder)
    load(NIGHT2, spark)
    second = build_library("economy", NIGHT2, "run-2", spark)

    current = spark.table("base.economy").where("_is_current").collect()
    rows = {(r.uscc, r.year): r for r in current}
    # 2024 stays after the 2025 file; 丁公司 pays tax but reports no figures: a row of its own.
    assert set(rows) == {(A, 2024), (A, 2025), (E, 2024), (D, 2024)}
    assert rows[A, 2024].revenue == Decimal("1300") and rows[A, 2025].revenue == Decimal("1500")
    assert rows[A, 2024].tax_paid == Decimal("12.5") and rows[A, 2025].tax_paid == Decimal("14")
    assert rows[E, 2024].revenue == Decimal("320") and rows[E, 2024].employees == Decimal("21")
    assert rows[D, 2024].revenue is None and rows[D, 2024].tax_paid == Decimal("3.2")
    # 市场监管's registered industry wins for every year; 市统计局's other class is a conflict.
    assert {rows[k].industry for k in ((A, 2024), (A, 2025))} == {"C3312"}
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
        (f"{A}|2025", "industry", "C3311", "C3312", authority),
    }
    for result in (first, second):
        assert all(i["rows_in"] == i["standardized"] + i["quarantined"] for i in result["inputs"])
    balance = {i["input"]: i for i in first["inputs"]}
    assert balance["statistics"]["rows_in"] == 6 and balance["statistics"]["quarantined"] == 3
