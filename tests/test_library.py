"""Base-library build: standardization, quarantine, 一数一源, conflicts, incremental merge."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from catalog_entries import write_entry
from chispa import assert_df_equality
from stdnum.cn import ric

from jobs import standardize as S
from jobs.ingest import load_table
from jobs.library import build_library

NIGHT1, NIGHT2, NIGHT3 = dt.date(2026, 11, 25), dt.date(2026, 11, 26), dt.date(2026, 11, 27)
NIGHT4 = dt.date(2026, 11, 28)


def rid(body: str) -> str:
    """A valid identity number from its first 17 digits (stdnum skips the last character)."""
    return body + ric.calc_check_digit(body + "0")


def wrong_check(number: str) -> str:
    return number[:-1] + ("0" if number[-1] == "1" else "1")


ZHANG = rid("42070219900101123")  # male (3 is odd)
LI = rid("42070319851212002")  # female
WANG = rid("42070420000229004")  # female, born on a leap day
ZHAO = rid("42070219700505001")  # male, only known to hrss

POLICE = """\
system: lib_police
department: 市公安局
information_system: 人口户籍管理系统
mode: physical
location: {{path: {folder}}}
tables:
  - name: resident
    file: resident_{{ds}}.csv
    format: csv
    primary_key: [rec_id]
"""
# 人社 is a database read past a watermark: a build sees its changes in the change data feed.
HRSS = """\
system: lib_hrss
department: 市人社局
information_system: 社会保险信息系统
mode: physical
location:
  conn_id: lib_hrss_db
  default_url: jdbc:sqlite:{folder}/hrss.db
tables:
  - name: enrolment
    dbtable: enrolment
    primary_key: [rec_id]
    watermark: last_modified
"""

LIBRARY = """\
library: people
title: 人口库
key: id_number
key_type: ric
attributes:
  name: {type: text, sources: [police, hrss]}
  sex: {type: sex, sources: [police], derived_from_key: ric_sex}
  birth_date: {type: date, sources: [police], required: true, derived_from_key: ric_birth_date}
  pension_status: {type: code, sources: [hrss]}
inputs:
  police:
    table: ods.lib_police__resident
    department: 市公安局
    key: sfzh
    as_of: update_time
    columns: {name: xm, sex: xb, birth_date: csrq}
  hrss:
    table: ods.lib_hrss__enrolment
    department: 市人社局
    key: id_number
    as_of: last_modified
    columns: {name: name, pension_status: status}
"""

RESIDENTS = [
    "rec_id,sfzh,xm,xb,csrq,update_time",
    f"1,{ZHANG},张伟,1,19900101,2026-01-01",
    f"2,{LI.lower()},李娜 ,女,1985/12/12,2026-01-01",
    f"3,{WANG},王芳,1,2000-02-29,2026-01-01",
    f"4,{wrong_check(ZHANG)},错号,1,19900101,2026-01-01",
    "5,420702900101123,旧号,1,19900101,2026-01-01",
    f"6,{rid('42070219900231123')},无日,1,19900231,2026-01-01",
]
ENROLMENT = [
    "rec_id,id_number,name,status,last_modified",
    f"1,{ZHANG},张 伟,1,2026-02-01",
    f"2,{ZHAO},赵强,1,2026-02-01",
    f"3,{ZHAO},赵强,3,2026-03-01",
    f"4,{LI},李娜,2,2026-02-01",
]


@dataclass
class People:
    """A library over two departments' sources, private to one test."""

    name: str
    police: str
    hrss: str
    folder: Path

    def deliver(self, spark, day, residents, enrolment):
        text = "\n".join(residents) + "\n"
        path = self.folder / self.police / f"resident_{day:%Y%m%d}.csv"
        path.write_text(text, encoding="utf-8")
        with sqlite3.connect(self.folder / self.hrss / "hrss.db") as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS enrolment (rec_id INTEGER PRIMARY KEY, "
                "id_number TEXT, name TEXT, status TEXT, last_modified TEXT)"
            )
            rows = [line.split(",") for line in enrolment[1:]]
            db.executemany("INSERT OR REPLACE INTO enrolment VALUES (?, ?, ?, ?, ?)", rows)
        for system, name in ((self.police, "resident"), (self.hrss, "enrolment")):
            load_table(system, name, day, f"run-{day}", spark)

    def build(self, spark, day, run_id, full=False):
        return build_library(self.name, day, run_id, spark, full=full)

    def table(self, spark, database="base"):
        return spark.table(f"{database}.{self.name}")


@pytest.fixture()
def people(source_dir, tmp_path, monkeypatch, request) -> People:
    """Two departments' sources and a library declared over them, named for this test."""
    suffix = str(zlib.crc32(request.node.name.encode()) % 10**6)
    lib = People(f"people{suffix}", f"lib_police{suffix}", f"lib_hrss{suffix}", tmp_path)
    return declare_people(lib, source_dir, tmp_path, monkeypatch)


def declare_people(lib: People, source_dir, tmp_path, monkeypatch) -> People:
    """Write the library, its catalog entry and its two sources under the names of `lib`."""
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    text = LIBRARY.replace("lib_police", lib.police).replace("lib_hrss", lib.hrss)
    (libraries / f"{lib.name}.yaml").write_text(text.replace("people", lib.name), "utf-8")
    monkeypatch.setenv("GOVLAKE_LIBRARIES_DIR", str(libraries))
    columns = ["id_number", "name", "sex", "birth_date", "pension_status", "provenance"]
    systems = [lib.police, lib.hrss]
    # A build refuses to publish a table without a catalog entry that passes review.
    catalog = write_entry(tmp_path / "catalog", lib.name, f"base.{lib.name}", columns, systems)
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(catalog))
    for system, conf in ((lib.police, POLICE), (lib.hrss, HRSS)):
        (tmp_path / system).mkdir()
        conf = conf.replace("lib_police", lib.police).replace("lib_hrss", lib.hrss)
        (source_dir / f"{system}.yaml").write_text(conf.format(folder=tmp_path / system), "utf-8")
    return lib


def test_half_width_clean_text_dates_and_sex(spark):
    df = spark.createDataFrame(
        [("４２０７０２", " 张\u3000 伟 ", "2023年02月05日", "女"), ("x", "", "20230231", "M")],
        "code string, name string, day string, sex string",
    )
    got = df.select(
        S.identifier(df.code).alias("code"),
        S.clean_text(df.name).alias("name"),
        S.parse_date(df.day).alias("day"),
        S.sex_code(df.sex).alias("sex"),
    )
    expected = spark.createDataFrame(
        [("420702", "张 伟", dt.date(2023, 2, 5), "2"), ("X", None, None, "1")],
        "code string, name string, day date, sex string",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_code_tables_map_every_spelling_to_the_code_and_keep_unknown_values(spark):
    df = spark.createDataFrame(
        [("汉族", "鄂城区"), ("汉", "420704"), ("1", "梁子湖区"), ("15", "葛店"), ("土家", None)],
        "ethnicity string, division string",
    )
    got = df.select(
        S.coded(S.standardize("code", df.ethnicity), "ethnicity").alias("ethnicity"),
        S.coded(S.standardize("code", df.division), "division").alias("division"),
    )
    expected = spark.createDataFrame(
        [("01", "420704"), ("01", "420704"), ("01", "420702"), ("15", "葛店"), ("15", None)],
        "ethnicity string, division string",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


PEOPLE_SUITE = """\
name: base.{name}
meta: {{title: 人口库}}
expectations:
- type: expect_column_values_to_not_be_null
  kwargs: {{column: pension_status}}
  meta: {{policy: warn, rule_zh: 无参保状态, rule_en: no pension status}}
"""


def assert_authority_quarantine_and_conflicts(spark, people, result, capsys):
    """Night one's library: 一数一源, the newest statement, quarantine and conflicts."""
    rows = {r.id_number: r for r in people.table(spark).collect()}
    assert set(rows) == {ZHANG, LI, WANG, ZHAO}
    assert rows[ZHANG].name == "张伟", "the police (authority) spelling wins over 张 伟"
    assert rows[ZHANG].provenance["name"]["input"] == "police"
    assert rows[ZHAO].name == "赵强" and rows[ZHAO].provenance["name"]["input"] == "hrss"
    assert rows[ZHAO].pension_status == "3", "the newest statement of a department wins"
    assert rows[LI].sex == "2" and rows[LI].birth_date == dt.date(1985, 12, 12)

    quarantined = people.table(spark, "quarantine").collect()
    rules = {r.row_ref.rsplit(":", 1)[1]: r.rules for r in quarantined}
    assert rules == {
        "5": ["invalid_id_number:bad_check"],
        "6": ["invalid_id_number:old_15_digit"],
        "7": ["invalid_id_number:bad_birth_date", "unparseable_birth_date"],
    }
    police = next(i for i in result["inputs"] if i["input"] == "police")
    assert (police["rows_in"], police["standardized"], police["quarantined"]) == (6, 3, 3)

    found = {
        (r.key, r.attribute, r.input, r.value, r.winner_value, r.reason)
        for r in spark.table("base.conflicts").where(f"library = '{people.name}'").collect()
    }
    assert (ZHANG, "name", "hrss", "张 伟", "张伟", "authoritative department (一数一源)") in found
    newer = (ZHAO, "pension_status", "hrss", "1", "3", "newer statement of the same department")
    assert newer in found
    sex = (WANG, "sex", "police", "1", "2", "differs from what the identity number encodes")
    assert sex in found
    assert_conflicts_command_splits_by_reason(people, found, capsys)


def assert_conflicts_command_splits_by_reason(people, found, capsys):
    """`govlake conflicts` counts per reason, so a department's own newer statements are told
    apart from conflicts between departments (issue 20: 148 shown, 141 planted)."""
    from govlake.cli import main

    capsys.readouterr()
    assert main(["conflicts", "--library", people.name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    by_reason = {}
    for row in shown:
        assert row["library"] == people.name
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + row["conflicts"]
    expected = {}
    for *_, reason in found:
        expected[reason] = expected.get(reason, 0) + 1
    assert by_reason == expected and "newer statement of the same department" in by_reason
    # The table view explains why its total differs from the demo's "N of N planted".
    same = "newer statement of the same department"
    own = sum(1 for *_, reason in found if reason == same)
    pairs = {(k, a) for k, a, *_, reason in found if reason != same}
    assert main(["conflicts", "--library", people.name]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"{people.name}: {len(found)} differing statements = {own} a department's own newer "
        f"statement (not between departments) + {len(found) - own} between departments, on "
        f'{len(pairs)} (key, attribute) pairs. The demo\'s "conflicts N of N planted" counts'
    ) in said


def assert_unchecked_failures_stand(spark, people, first_run, second_run):
    """An incremental night validates the changed keys only; the others' failures stand."""
    failed = spark.table("quality.failed_rows").where(f"`table` = 'base.{people.name}'")
    night = {}
    for run_id in (first_run, second_run):
        night[run_id] = {r.key for r in failed.where(failed.run_id == run_id).collect()}
    # WANG has no pension status; the second night checked only ZHANG, and WANG's failure stands.
    assert night == {first_run: {WANG}, second_run: {WANG}}
    # The counts describe the whole table, as a full build's would.
    results = spark.table("quality.results").where(f"`table` = 'base.{people.name}'")
    counted = {
        r.run_id: (r.element_count, r.unexpected_count, r.success)
        for r in results.select("run_id", "element_count", "unexpected_count", "success").collect()
    }
    assert counted[second_run] == counted[first_run]
    assert counted[first_run][1:] == (1, False)


def test_one_library_over_six_builds_a_changed_library_file_an_empty_batch_and_a_correction(
    spark, people, monkeypatch, capsys
):
    """One history, each step checked where it happens (one chain, as builds cost seconds each):
    night one resolves authority, quarantines and records conflicts; its rerun changes nothing;
    night two merges only the changed key and keeps the unchecked keys' quality failures; a
    changed library file then forces a full build. Night three's police batch is empty: the
    build keeps night two's and says so. Night four corrects a quarantined row: it leaves
    quarantine and flows into the library."""
    suites = people.folder / "expectations" / "base"
    suites.mkdir(parents=True)
    (suites / f"{people.name}.yml").write_text(PEOPLE_SUITE.format(name=people.name), "utf-8")
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(suites.parent))
    people.deliver(spark, NIGHT1, RESIDENTS, ENROLMENT)
    first = people.build(spark, NIGHT1, "build-1")
    assert first["mode"] == "full" and "no earlier build" in first["reason"]
    assert_authority_quarantine_and_conflicts(spark, people, first, capsys)

    again = people.build(spark, NIGHT1, "build-2")
    assert again["mode"] == "unchanged"  # recorded as a rerun that changed nothing
    assert again["changed_keys"] == 0 and again["delta_version"] == first["delta_version"]
    # Issue 20 item 11: both builds of the night stay in ops.library_runs (the audit trail);
    # the rerun counts the same standardized rows, so a reader taking the latest is unchanged.
    night = spark.table("ops.library_runs").where(
        f"library = '{people.name}' AND batch_date = DATE'{NIGHT1}'"
    )
    counted = {(r.run_id, r.input): r.current_standardized for r in night.collect()}
    assert {run for run, _ in counted} == {"build-1", "build-2"}
    assert {i: n for (run, i), n in counted.items() if run == "build-2"} == {
        i: n for (run, i), n in counted.items() if run == "build-1"
    }

    # An Airflow retry of the rerun's task records the build again under the same run id; the
    # next build must still read the records (a run's inputs twice once broke the plan's maps).
    assert people.build(spark, NIGHT1, "build-2")["mode"] == "unchanged"

    moved = [line.replace("张伟", "张维") if line.startswith("1,") else line for line in RESIDENTS]
    people.deliver(spark, NIGHT2, moved, ENROLMENT)
    second = people.build(spark, NIGHT2, "build-3")
    assert second["mode"] == "incremental" and second["changed_keys"] == 1  # ZHANG only
    changes = spark.sql(
        f"SELECT name, _change_type FROM table_changes('base.{people.name}', "
        f"{second['delta_version']}) WHERE id_number = '{ZHANG}' ORDER BY _change_type"
    ).collect()
    assert [(c.name, c._change_type) for c in changes] == [
        ("张维", "update_postimage"),
        ("张伟", "update_preimage"),
    ]
    assert_unchecked_failures_stand(spark, people, "build-1", "build-3")

    path = people.folder / "libraries" / f"{people.name}.yaml"
    text = path.read_text("utf-8")
    path.write_text(text.replace("pension_status: {type: code", "pension_status: {type: text"))
    changed = people.build(spark, NIGHT2, "build-4")
    assert changed["mode"] == "full" and "changed" in changed["reason"]
    assert_empty_batch_kept_then_corrected_row_leaves_quarantine(spark, people, moved)


def assert_empty_batch_kept_then_corrected_row_leaves_quarantine(spark, people, residents):
    """Nights three and four after night two's `residents` (part of the chain above, as each
    night's delivery and build cost seconds)."""
    people.deliver(spark, NIGHT3, residents[:1], ENROLMENT)
    result = people.build(spark, NIGHT3, "build-5")
    police = next(i for i in result["inputs"] if i["input"] == "police")
    assert "kept the batch of 2026-11-26" in police["note"]
    assert result["mode"] == "unchanged" and police["rows_in"] == 0, "nothing to re-read"
    assert result["changed_keys"] == 0

    fixed_number = rid("42070219880808123")
    corrected = [
        f"4,{fixed_number},错号,1,19880808,2026-01-02" if line.startswith("4,") else line
        for line in residents
    ]
    people.deliver(spark, NIGHT4, corrected, ENROLMENT)
    people.build(spark, NIGHT4, "build-6")
    refs = [r.row_ref.rsplit(":", 1)[1] for r in people.table(spark, "quarantine").collect()]
    assert sorted(refs) == ["6", "7"], "line 5 (rec 4) was corrected"
    row = people.table(spark).where(f"id_number = '{fixed_number}'").first()
    assert row is not None and row.birth_date == dt.date(1988, 8, 8)


NEWBORN = rid("42070220260101002")
ZHAO_CORRECTED = rid("42070219700505019")


def slice_of(spark, table, library, ignore):
    rows = spark.table(table).where(f"library = '{library}'").drop(*ignore)
    return sorted(tuple(r) for r in rows.collect())


def test_second_night_rebuilds_only_changed_keys_and_agrees_with_a_full_build(spark, people):
    people.deliver(spark, NIGHT1, RESIDENTS, ENROLMENT)
    first = people.build(spark, NIGHT1, "build-1")
    assert first["mode"] == "full" and "no earlier build" in first["reason"]

    residents = [line.replace("张伟", "张维") for line in RESIDENTS]
    residents.append(f"8,{NEWBORN},新生,2,20260101,2026-11-26")
    enrolment = [
        "rec_id,id_number,name,status,last_modified",
        f"4,{LI},李娜,3,2026-11-26",  # status changed
        f"3,{ZHAO_CORRECTED},赵强,3,2026-11-26",  # the department corrected the number
    ]
    people.deliver(spark, NIGHT2, residents, enrolment)
    second = people.build(spark, NIGHT2, "build-2")

    assert second["mode"] == "incremental"
    police = next(i for i in second["inputs"] if i["input"] == "police")
    assert police["rows_in"] == 3, "ZHANG, LI and the newborn re-read; not WANG, not the bad rows"
    rows = {r.id_number: r for r in people.table(spark).collect()}
    assert rows[ZHANG].name == "张维" and rows[NEWBORN].name == "新生"
    assert rows[LI].pension_status == "3"
    assert rows[ZHAO].pension_status == "1", "record 3 no longer speaks for ZHAO"
    assert rows[ZHAO_CORRECTED].pension_status == "3"
    assert second["changed_keys"] == 5  # ZHANG, NEWBORN, LI, ZHAO, ZHAO_CORRECTED

    conflicts = slice_of(spark, "base.conflicts", people.name, ["run_id"])
    # A quarantined row re-sent unchanged keeps the reference of the delivery that first had it.
    same_rows = ["run_id", "quarantined_at", "row_ref", "batch_date"]
    quarantine = slice_of(spark, f"quarantine.{people.name}", people.name, same_rows)
    full = people.build(spark, NIGHT2, "build-3", full=True)
    assert full["mode"] == "full" and full["changed_keys"] == 0, "incremental = full"
    assert slice_of(spark, "base.conflicts", people.name, ["run_id"]) == conflicts
    assert slice_of(spark, f"quarantine.{people.name}", people.name, same_rows) == quarantine
    std = spark.table(f"std.{people.name}__hrss").where(f"id_number = '{ZHAO}'").collect()
    assert [r.pension_status for r in std] == ["1"]
    assert_cpu_seconds_recorded(spark, people, first, people.build(spark, NIGHT2, "build-4"))


def assert_cpu_seconds_recorded(spark, people, full: dict, unchanged: dict) -> None:
    """build_cpu_seconds (govlake.cpu, for jobs.library.choice): above 0; at most what the
    machine's cores can spend in the build's wall seconds (not the JVM's CPU since it started,
    nor a figure counted twice); and a full build's above a rebuild that found nothing moved."""
    import os

    assert (full["mode"], unchanged["mode"]) == ("full", "unchanged")
    runs = spark.table("ops.library_runs").where(f"library = '{people.name}'")
    recorded = {
        r.run_id: (r.build_seconds, r.build_cpu_seconds)
        for r in runs.select("run_id", "build_seconds", "build_cpu_seconds").distinct().collect()
    }
    assert recorded["build-1"] == (full["build_seconds"], full["build_cpu_seconds"])
    for wall, used in recorded.values():
        assert 0 < used <= wall * os.cpu_count() + 1.0, (wall, used)
    assert recorded["build-1"][1] > recorded["build-4"][1], recorded


FIRMS = """\
library: {firms}
title: 法人库
key: uscc
key_type: uscc
attributes:
  firm_name: {{type: text, sources: [samr]}}
  legal_representative_id: {{type: ric, sources: [samr], links: [{people}]}}
inputs:
  samr:
    table: ods.{samr}__firm
    department: 市市场监管局
    key: tyshxydm
    columns: {{firm_name: qymc, legal_representative_id: fddbr_zjhm}}
"""
SAMR = POLICE.replace("lib_police", "{samr}").replace("市公安局", "市市场监管局")
SAMR = SAMR.replace("人口户籍管理系统", "企业登记系统").replace("resident", "firm")


def test_a_representative_who_becomes_a_resident_is_linked_on_the_next_night(
    spark, people, source_dir
):
    from govlake.sample.identifiers import org_code, uscc_number

    firm, samr = f"firms{people.name[6:]}", f"lib_samr{people.name[6:]}"
    libraries, folder = people.folder / "libraries", people.folder / samr
    text = FIRMS.format(firms=firm, people=people.name, samr=samr)
    (libraries / f"{firm}.yaml").write_text(text, "utf-8")
    write_entry(
        people.folder / "catalog",
        firm,
        f"base.{firm}",
        [
            "uscc",
            "firm_name",
            "legal_representative_id",
            "legal_representative_id_linked",
            "provenance",
        ],
        [samr],
        code="101001-0002",
    )
    folder.mkdir()
    conf = SAMR.replace("{samr}", samr).format(folder=folder)
    (source_dir / f"{samr}.yaml").write_text(conf, "utf-8")
    code = uscc_number("9", "1", "420702", org_code("MA2PBM9H"))
    for day in (NIGHT1, NIGHT2):
        lines = ["rec_id,tyshxydm,qymc,fddbr_zjhm", f"1,{code},鄂州某公司,{ZHAO}"]
        (folder / f"firm_{day:%Y%m%d}.csv").write_text("\n".join(lines) + "\n", "utf-8")

    people.deliver(spark, NIGHT1, RESIDENTS, ENROLMENT[:2])  # ZHAO not yet known
    load_table(samr, "firm", NIGHT1, "run-firm-1", spark)
    people.build(spark, NIGHT1, "people-1")
    build_library(firm, NIGHT1, "firms-1", spark)
    assert not spark.table(f"base.{firm}").first().legal_representative_id_linked

    people.deliver(spark, NIGHT2, RESIDENTS, ENROLMENT)  # 人社 now registers ZHAO
    load_table(samr, "firm", NIGHT2, "run-firm-2", spark)
    people.build(spark, NIGHT2, "people-2")
    second = build_library(firm, NIGHT2, "firms-2", spark)
    assert second["mode"] == "incremental" and second["changed_keys"] == 1
    assert spark.table(f"base.{firm}").first().legal_representative_id_linked


def test_the_usual_date_forms_parse_as_the_general_path_does(spark):
    """parse_date's shortcut for yyyyMMdd / yyyy-MM-dd gives what parse_any_date gives."""
    from faker import Faker
    from pyspark.sql import functions as F

    fake = Faker("zh_CN")
    Faker.seed(11)
    days = [fake.date_between(dt.date(1900, 1, 1), dt.date(2030, 12, 31)) for _ in range(300)]
    values = [d.strftime(f) for d in days for f in ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d")]
    values += ["20230231", "2023-02-29", "2024-02-29", "00000101", "99991231", "2023-1-05"]
    values += ["202302051", "2023-02-05 ", "２０２３０２０５", "2023-02-05 08:30", "20231305", None]
    df = spark.createDataFrame([(v,) for v in values], "day string")
    got = df.select("day", S.parse_date(df.day).alias("d"), S.parse_any_date(df.day).alias("a"))
    differ = got.where(~F.col("d").eqNullSafe(F.col("a"))).select("day").collect()
    assert differ == []
    # Python has no year 0 (00000101).
    parsed = {r.day: r.d for r in got.where(F.col("d").isNull() | (F.year("d") >= 1)).collect()}
    assert parsed["2024-02-29"] == dt.date(2024, 2, 29) and parsed["20230231"] is None
    assert all(parsed[d.strftime("%Y%m%d")] == d for d in days)


def test_dates_with_single_digit_month_and_day_parse_as_python_reads_them(spark):
    """Issue 20: 2001年2月3日 (and 2001/2/3, 2001.2.3, 2001-2-3 as Excel exports them) did not
    parse; Python's strptime, which reads one or two digits, is the oracle."""
    from faker import Faker

    fake = Faker("zh_CN")
    Faker.seed(20)
    days = [fake.date_between(dt.date(1930, 1, 1), dt.date(2030, 12, 31)) for _ in range(60)]
    forms = ("{y}年{m}月{d}日", "{y}/{m}/{d}", "{y}.{m}.{d}", "{y}-{m}-{d}", "{y}年{m:02}月{d}日")
    values = [f.format(y=d.year, m=d.month, d=d.day) for d in days for f in forms]
    values += ["2001年2月30日", "2001年13月1日", "2001/2/3/4"]
    python = ("%Y年%m月%d日", "%Y/%m/%d", "%Y.%m.%d", "%Y-%m-%d")

    def oracle(text):
        for fmt in python:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        return None

    df = spark.createDataFrame([(v,) for v in values], "day string")
    got = {r.day: r.d for r in df.select("day", S.parse_date(df.day).alias("d")).collect()}
    wrong = {v: (got[v], oracle(v)) for v in values if got[v] != oracle(v)}
    assert wrong == {}
    assert got["2001年2月30日"] is None and oracle("2001年2月3日") == dt.date(2001, 2, 3)


def current_of(spark, people):
    rows = people.table(spark).select("id_number", "_is_current", "_retired_on").collect()
    return {r.id_number: (r._is_current, r._retired_on) for r in rows}


def test_a_key_no_input_states_any_more_is_retired_and_comes_back_and_a_full_build_retires_too(
    spark, people
):
    """One history (each night's deliveries and build cost seconds, so the full build's own
    retirement is night four of this chain rather than a second library built from night one):
    a key no input states any more is retired on an incremental night and agrees with a full
    build; stated again it comes back; missing again, a full build retires it too."""
    people.deliver(spark, NIGHT1, RESIDENTS, ENROLMENT)
    first = people.build(spark, NIGHT1, "build-1")
    assert first["keys"] == 4

    # WANG (only the police know her) is missing from the police's next full snapshot.
    without_wang = [line for line in RESIDENTS if WANG not in line]
    people.deliver(spark, NIGHT2, without_wang, ENROLMENT)
    second = people.build(spark, NIGHT2, "build-2")
    assert second["mode"] == "incremental" and second["retired_keys"] == 1
    assert second["keys"] == 3, "a retired key is not counted among the library's keys"
    state = current_of(spark, people)
    assert state[WANG] == (False, NIGHT2) and state[ZHANG] == (True, None)
    kept = people.table(spark).where(f"id_number = '{WANG}'").first()
    assert kept.name == "王芳", "the retired row keeps its last values"
    changes = spark.sql(
        f"SELECT _is_current, _change_type FROM table_changes('base.{people.name}', "
        f"{second['delta_version']}) WHERE id_number = '{WANG}' ORDER BY _change_type"
    ).collect()
    assert [(c._is_current, c._change_type) for c in changes] == [
        (False, "update_postimage"),
        (True, "update_preimage"),
    ]
    full = people.build(spark, NIGHT2, "build-3", full=True)
    assert full["changed_keys"] == 0 and full["retired_keys"] == 0, "incremental = full"
    assert current_of(spark, people) == state

    people.deliver(spark, NIGHT3, RESIDENTS, ENROLMENT)  # WANG is stated again
    third = people.build(spark, NIGHT3, "build-4")
    assert third["mode"] == "incremental" and third["changed_keys"] == 1
    assert current_of(spark, people)[WANG] == (True, None) and third["keys"] == 4

    people.deliver(spark, NIGHT4, without_wang, ENROLMENT)  # missing again: a full build
    result = people.build(spark, NIGHT4, "build-5", full=True)
    assert result["mode"] == "full" and result["retired_keys"] == 1
    assert current_of(spark, people)[WANG] == (False, NIGHT4)


def test_standardized_rows_are_counted_where_they_were_written(spark, people, monkeypatch):
    """A build whose standardized layer lost a row does not balance: `standardized` is counted
    in std.<library>__<input>, not derived as rows in - quarantined."""
    from govlake.errors import GovlakeError
    from jobs.library import write

    written = write.standardized_rows

    def losing_one(ctx, source, checked):
        return written(ctx, source, checked).where(f"id_number != '{LI}'")

    monkeypatch.setattr(write, "standardized_rows", losing_one)
    people.deliver(spark, NIGHT1, RESIDENTS, ENROLMENT)
    with pytest.raises(GovlakeError, match="does not balance"):
        people.build(spark, NIGHT1, "build-1")
    runs = spark.table("ops.library_runs").where(f"library = '{people.name}'").collect()
    police = next(r for r in runs if r.input == "police")
    assert (police.rows_in, police.standardized, police.quarantined) == (6, 2, 3)
    assert police.balanced is False


def test_a_library_over_few_rows_is_built_interpreted_where_its_row_compiles(
    spark, people, monkeypatch, evaluation_modes
):
    """A build evaluates interpreted below compile_from_rows of its inputs' rows (compiling a
    small build's queries costs more than evaluating them), compiled from it and when an input
    has no size yet; the mode is recorded as `build` enters it, the steps themselves stubbed."""
    import importlib

    from govlake.lakehouse import Table
    from govlake.libraries import get_library
    from govlake.settings import settings
    from jobs.library.context import BuildContext

    # The module, not the function jobs.library exports under the same name.
    building = importlib.import_module("jobs.library.build")
    monkeypatch.setattr(building, "built", lambda session, ctx, full: ctx.cfg.compile_from_rows)
    library = get_library(people.name)
    tables = [Table.parse(source.table) for source in library.inputs.values()]
    assert {t.name for t in tables} == {f"{people.police}__resident", f"{people.hrss}__enrolment"}

    def build(threshold: int) -> int:
        update = {"code_generation": True, "compile_from_rows": threshold}
        cfg = settings().model_copy(update=update)
        return building.build(spark, BuildContext(library, NIGHT1, "r", cfg, dt.datetime.now()))

    assert build(10**9) == 10**9  # no input landed: no size known, so compiled
    tables[0].write(spark.range(6), "overwrite")
    tables[1].write(spark.range(4).repartition(2), "overwrite")
    rows = sum(table.read(spark).count() for table in tables)
    assert [build(rows), build(rows + 1)] == [rows, rows + 1]
    assert evaluation_modes == [True, True, False]
