"""base.natural_resources (issue 14 item 3) from a few inline rows: the shipped library file over
the two 市自然资源和规划局 sources, built once. Invalid unit codes are quarantined with the GB/T
37346 reason, the survey's land use is compared with the register's for every unit of its
parcel, and the register (the authority) wins."""

from __future__ import annotations

import datetime as dt
import sqlite3

from catalog_entries import write_entry
from stdnum.cn import ric, uscc

from govlake.sample.identifiers import org_code, uscc_number
from jobs.ingest import load_table
from jobs.library import build_library

NIGHT = dt.date(2026, 11, 25)
PERSON = "42070219900101123" + ric.calc_check_digit("42070219900101123" + "0")
FIRM = uscc_number("9", "1", "420704", org_code("MA4K1234"))

P1, P2 = "420704003012GB00215", "420703001002JC00007"  # two parcels (19 characters)
U1, U2, U3 = P1 + "F00010203", P1 + "F00010301", P2 + "F00010101"
TOO_SHORT = U1[:18] + U1[19:]  # 27 characters: a digit of the parcel number lost
OTHER_CITY = "420102" + U1[6:]  # 武汉市江岸区
LOWER_FIXTURE = P2 + "f00010201"  # a hand-typed lowercase fixture letter
U4 = P2 + "F00010202"  # a valid unit whose right holder's identity number is mistyped
BAD_HOLDER = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")  # the check character wrong

REALESTATE = """\
system: nr_realestate
department: 市自然资源和规划局
information_system: 不动产登记信息管理平台
mode: physical
location:
  conn_id: test_nr_bdc
  default_url: jdbc:sqlite:{folder}/nr_bdc.db
tables:
  - name: bdc_unit
    dbtable: bdc_unit
    primary_key: [id]
    watermark: gxsj
"""
SURVEY = """\
system: nr_land_survey
department: 市自然资源和规划局
information_system: 国土调查成果数据库
mode: physical
location: {{path: {folder}}}
tables:
  - name: parcel_land_use
    file: parcel_land_use_{{ds}}.csv
    format: csv
    encoding: gb18030
    primary_key: [宗地代码]
    columns: {{宗地代码: parcel_code, 地类编码: land_use_code, 地类名称: land_use_name,
               图斑面积: area, 调查日期: survey_date}}
"""
COLUMNS = ", ".join(
    f"{c} REAL" if c == "mj" else f"{c} TEXT"
    for c in "bdcdyh zddm qlrmc qlrlx qlrzjhm qllx tdyt mj djsj bgsj gxsj".split()
)
FLAT = "国有建设用地使用权/房屋所有权"
HOMESTEAD = "宅基地使用权/房屋所有权"
UNITS = [
    (U1, P1, "张伟", "个人", PERSON, FLAT, "0701", 89.5, "2015-03-02", None),
    (U2, P1, "鄂州市甲公司", "单位", FIRM, FLAT, "0701", 120.0, "2016-05-06", "2020-01-02"),
    (U3, P2, "张伟", "个人", PERSON, HOMESTEAD, "0702", 150.0, "2010-07-08", None),
    (TOO_SHORT, P1, "李娜", "个人", PERSON, FLAT, "0701", 60.0, "2015-03-02", None),
    (OTHER_CITY, P1, "李娜", "个人", PERSON, FLAT, "0701", 60.0, "2015-03-02", None),
    (LOWER_FIXTURE, P2, "王芳", "个人", PERSON, HOMESTEAD, "0702", 90.0, "2011-01-01", None),
    (U4, P2, "王芳", "个人", BAD_HOLDER, HOMESTEAD, "0702", 95.0, "2011-01-01", None),
]
SURVEY_ROWS = [
    "宗地代码,地类编码,地类名称,图斑面积,调查日期",
    f"{P1},0501,零售商业用地,3200.5,2025-12-31",  # the register says 0701: a conflict per unit
    f"{P2},702,农村宅基地,410,2025-12-31",  # 0702 without its leading zero: the same land use
    "420702005036JD02749,0103,旱地,5000,2025-12-31",  # a parcel no unit is registered on
]


def test_the_test_identifiers_are_valid():
    assert ric.is_valid(PERSON) and uscc.is_valid(FIRM) and not ric.is_valid(BAD_HOLDER)


def deliver(tmp_path, source_dir) -> None:
    """The register's database and the survey's GB18030 file, and their source files."""
    for folder in ("bdc", "survey"):
        (tmp_path / folder).mkdir()
    with sqlite3.connect(tmp_path / "bdc" / "nr_bdc.db") as db:
        db.execute(f"CREATE TABLE bdc_unit (id INTEGER PRIMARY KEY, {COLUMNS})")
        marks = ", ".join("?" * 12)
        stamp = "2026-11-25 10:00:00"
        rows = [(i, *unit, stamp) for i, unit in enumerate(UNITS, 1)]
        db.executemany(f"INSERT INTO bdc_unit VALUES ({marks})", rows)
    text = "\r\n".join(SURVEY_ROWS) + "\r\n"
    (tmp_path / "survey" / f"parcel_land_use_{NIGHT:%Y%m%d}.csv").write_bytes(
        text.encode("gb18030")
    )
    conf = REALESTATE.format(folder=tmp_path / "bdc")
    (source_dir / "nr_realestate.yaml").write_text(conf, "utf-8")
    conf = SURVEY.format(folder=tmp_path / "survey")
    (source_dir / "nr_land_survey.yaml").write_text(conf, "utf-8")


def test_unit_codes_quarantined_with_the_reason_and_the_survey_compared_per_unit(
    spark, source_dir, tmp_path, monkeypatch
):
    columns = [
        "unit_code",
        "parcel_code",
        "right_holder_name",
        "right_holder_id",
        "right_type",
        "land_use",
        "area",
        "parcel_area",
        "registration_date",
        "change_date",
        "right_holder_id_linked",
        "provenance",
    ]
    systems = ["nr_realestate", "nr_land_survey"]
    catalog = write_entry(
        tmp_path / "catalog", "natural_resources", "base.natural_resources", columns, systems
    )
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(catalog))
    # The suites are the demo's to run (GX takes most of a build's time on a busy machine).
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(tmp_path / "no_suites"))
    deliver(tmp_path, source_dir)
    for system, table in (("nr_realestate", "bdc_unit"), ("nr_land_survey", "parcel_land_use")):
        load_table(system, table, NIGHT, "run-1", spark)

    result = build_library("natural_resources", NIGHT, "run-1", spark)

    rows = {r.unit_code: r for r in spark.table("base.natural_resources").collect()}
    assert set(rows) == {U1, U2, U3}
    assert [rows[u].land_use for u in (U1, U2, U3)] == ["0701", "0701", "0702"]
    assert rows[U1].provenance["land_use"]["input"] == "realestate_registration"
    assert float(rows[U1].parcel_area) == 3200.5 and float(rows[U3].parcel_area) == 410
    assert rows[U2].right_holder_id == FIRM and rows[U2].change_date == dt.date(2020, 1, 2)

    quarantined = spark.table("quarantine.natural_resources").collect()
    assert sorted((q.key_value, list(q.rules)) for q in quarantined) == sorted(
        [
            (TOO_SHORT, ["invalid_unit_code:bad_length"]),
            (OTHER_CITY, ["invalid_unit_code:not_ezhou"]),
            (LOWER_FIXTURE, ["invalid_unit_code:lowercase"]),
            (U4, ["invalid_right_holder_id:bad_check"]),
        ]
    )

    conflicts = spark.table("base.conflicts").where("library = 'natural_resources'").collect()
    found = {
        (c.key, c.attribute, c.input, c.value, c.winner_input, c.winner_value) for c in conflicts
    }
    registration = "realestate_registration"
    assert found == {
        (U1, "land_use", "land_survey", "0501", registration, "0701"),
        (U2, "land_use", "land_survey", "0501", registration, "0701"),
    }
    balance = {i["input"]: i for i in result["inputs"]}
    assert balance[registration]["rows_in"] == 7 and balance[registration]["quarantined"] == 4
    assert balance["land_survey"]["rows_in"] == 3 and balance["land_survey"]["quarantined"] == 0
