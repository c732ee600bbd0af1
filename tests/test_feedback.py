"""Feedback to departments: quality scores, tracked problems, workbooks, duplicate collection.

Each test writes tiny Delta tables with the contract schemas into its own lakehouse folder.
"""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from session_names import session_tables
from stdnum.cn import ric
from touched import record_rows_read, undeclared

from govlake.lakehouse import Table
from govlake.owned import LOAD_RUNS, PROBLEMS, REJECTED_ROWS, SCORES
from jobs.feedback import publish_feedback
from jobs.feedback.problems import track_problems
from jobs.feedback.scores import cycle_days, score_trend, timeliness_score, write_scores

D1 = dt.date(2026, 11, 20)
RESIDENT, HOUSEHOLD = "ods.fb_police__resident", "ods.fb_police__household"
ENROLMENT = "ods.fb_hrss__enrolment"
RESULTS_SCHEMA = (
    "run_id string, run_date date, table string, system string, department string, rule string, "
    "column string, dimension string, policy string, success boolean, element_count long, "
    "unexpected_count long, unexpected_percent double, sample array<string>"
)
FAILED_SCHEMA = (
    "run_id string, run_date date, table string, system string, department string, rule string, "
    "rule_zh string, rule_en string, policy string, column string, key string, value string, "
    "source_row string"
)
CONFLICTS_SCHEMA = (
    "library string, key string, attribute string, input string, department string, "
    "value string, winner_input string, winner_department string, winner_value string, "
    "reason string, run_id string"
)
LIBRARY_RUNS_SCHEMA = (
    "run_id string, library string, batch_date date, input string, department string, "
    "rows_in long, standardized long, quarantined long, balanced boolean, note string, "
    "keys long, changed_keys long, conflicts long, delta_version long, finished_at timestamp"
)
QUARANTINE_SCHEMA = (
    "library string, input string, department string, source_table string, row_ref string, "
    "key_value string, rules array<string>, raw string, batch_date date, run_id string, "
    "quarantined_at timestamp"
)


def rid(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


ZHANG, LI = rid("42070219900101123"), rid("42070319851212002")
BAD_ID = ZHANG[:-1] + ("0" if ZHANG[-1] == "1" else "1")

SOURCE = """\
system: {system}
department: {department}
information_system: 测试系统
mode: physical
schedule: "{schedule}"
location: {{path: /tmp/none}}
tables:
{tables}"""
TABLE = "  - {{name: {name}, file: '{name}_{{ds}}.csv', format: csv, primary_key: [rec_id]}}\n"
LIBRARY = """\
library: people
title: 人口库
key: id_number
key_type: ric
attributes:
  name: {type: text, sources: [police, hrss]}
  sex: {type: sex, sources: [police], derived_from_key: ric_sex}
  birth_date: {type: date, sources: [police], required: true}
inputs:
  police:
    table: ods.fb_police__resident
    department: 市公安局
    key: sfzh
    columns: {name: xm, sex: xb, birth_date: csrq}
  hrss:
    table: ods.fb_hrss__enrolment
    department: 市人社局
    key: id_number
    columns: {name: name}
"""


@pytest.fixture()
def lake(spark, cfg, source_dir, tmp_path, monkeypatch):
    """A private lakehouse, two department sources and one library over them; the session's
    names of its tables are dropped afterwards, so later tests name their own."""
    for system, department, schedule, tables in (
        ("fb_police", "市公安局", "0 1 * * *", ("resident", "household")),
        ("fb_hrss", "市人社局", "0 2 * * 1", ("enrolment",)),
    ):
        text = SOURCE.format(
            system=system,
            department=department,
            schedule=schedule,
            tables="".join(TABLE.format(name=t) for t in tables),
        )
        (source_dir / f"{system}.yaml").write_text(text, encoding="utf-8")
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    (libraries / "people.yaml").write_text(LIBRARY, encoding="utf-8")
    monkeypatch.setenv("GOVLAKE_LIBRARIES_DIR", str(libraries))
    yield cfg.model_copy(update={"lakehouse": tmp_path / "lakehouse"})
    forget_tables_under(spark, tmp_path)


def forget_tables_under(spark, folder):
    """Drop the session's names (not the data) of the tables located under `folder`."""
    for database, table, temporary in session_tables(spark):
        if table and not temporary:
            name = f"{database}.{table}"
            detail = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").where("col_name = 'Location'")
            location = detail.first()
            if location is not None and str(folder) in location["data_type"]:
                spark.sql(f"DROP TABLE {name}")


def put(spark, cfg, database, table, rows, schema, mode="append"):
    """Write rows into the lakehouse table <database>.<table>."""
    Table(database, table).write(spark.createDataFrame(rows, schema), mode, cfg=cfg)


def load_run(run_id, table, day, read=100, rejected=0, department="市公安局"):
    system, name = table[4:].split("__")
    stamp = dt.datetime.combine(day, dt.time(2))
    return {
        "run_id": run_id, "source_system": system, "department": department,
        "table_name": name, "ods_table": table, "mode": "physical", "batch_date": day,
        "started_at": stamp, "finished_at": stamp, "status": "success", "rows_read": read,
        "rows_written": read - rejected, "rows_rejected": rejected, "balanced": True,
    }  # fmt: skip


def result(run_id, day, table, dimension, checked, bad, column="c"):
    return {
        "run_id": run_id, "run_date": day, "table": table, "system": table[4:].split("__")[0],
        "department": "市公安局", "rule": f"expect_{dimension}:{column}", "column": column,
        "dimension": dimension, "policy": "warn", "success": bad == 0, "element_count": checked,
        "unexpected_count": bad, "unexpected_percent": 100.0 * bad / checked, "sample": [],
    }  # fmt: skip


def failed(run_id, day, key, column, value, rule="expect_valid_ric:sfzh"):
    return {
        "run_id": run_id, "run_date": day, "table": RESIDENT, "system": "fb_police",
        "department": "市公安局", "rule": rule, "rule_zh": "身份证号码校验码错误",
        "rule_en": "identity number check character is wrong", "policy": "quarantine",
        "column": column, "key": key, "value": value, "source_row": f"resident.csv:{key}",
    }  # fmt: skip


def test_cycle_and_timeliness_formulas():
    assert cycle_days("0 1 * * *") == 1
    assert cycle_days("30 2 * * 1") == 7
    assert cycle_days("0 3 1 * *") in (28, 29, 30, 31)
    assert [timeliness_score(a, 1) for a in (0, 1, 2, 4, 9)] == [100, 75, 50, 0, 0]
    assert [timeliness_score(a, 7) for a in (0, 6, 7, 13, 14)] == [100, 100, 75, 75, 50]


def test_scores_per_table_and_department_with_trend(spark, lake):
    day2 = D1 + dt.timedelta(days=1)
    put(spark, lake, "quality", "results", [
        result("n1", D1, RESIDENT, "completeness", 100, 5),
        result("n1", D1, RESIDENT, "validity", 100, 10),
        result("n1", D1, RESIDENT, "uniqueness", 100, 0),
        result("n2", day2, RESIDENT, "completeness", 100, 0),
    ], RESULTS_SCHEMA)  # fmt: skip
    put(spark, lake, "ops", "load_runs", [
        load_run("n1", RESIDENT, D1, read=100, rejected=10),
        load_run("n0", HOUSEHOLD, D1 - dt.timedelta(days=2)),
        load_run("n1", ENROLMENT, D1 - dt.timedelta(days=3), department="市人社局"),
        load_run("n2", RESIDENT, day2),
    ], LOAD_RUNS.schema)  # fmt: skip
    put(spark, lake, "ops", "library_runs", [
        {"run_id": "n1", "library": "people", "batch_date": D1, "input": "police",
         "department": "市公安局", "rows_in": 52, "standardized": 50, "quarantined": 2},
    ], LIBRARY_RUNS_SCHEMA)  # fmt: skip
    lost = [
        {"library": "people", "key": f"k{i}", "attribute": "sex", "input": "police",
         "department": "市公安局", "value": "1", "winner_input": "identity_number",
         "winner_department": "(derived)", "winner_value": "2",
         "reason": "differs from what the identity number encodes"}
        for i in range(5)
    ]  # fmt: skip
    put(spark, lake, "base", "conflicts", lost, CONFLICTS_SCHEMA)

    assert write_scores(spark, lake, D1, "n1") == 5  # 3 tables + 2 departments
    scores = {
        (r["scope"], r["table"] or r["department"]): r.asDict()
        for r in SCORES.table.read(spark, lake).collect()
    }
    resident = scores[("table", RESIDENT)]
    # completeness 1-5/100; validity pools the rule (10/100) and the load (10 rejected of 100);
    # consistency 5 lost statements of 50; timeliness: loaded tonight.
    assert (resident["completeness"], resident["validity"], resident["uniqueness"]) == (95, 90, 100)
    assert (resident["consistency"], resident["timeliness"]) == (90, 100)
    assert resident["overall"] == 95
    household = scores[("table", HOUSEHOLD)]
    assert household["timeliness"] == 50 and household["completeness"] is None
    assert household["overall"] == 50
    # Weekly source, 3 days old: within its cycle.
    assert scores[("table", ENROLMENT)]["timeliness"] == 100
    police = scores[("department", "市公安局")]
    assert police["timeliness"] == 75  # mean of 100 and 50
    assert police["overall"] == pytest.approx((95 + 90 + 90 + 100 + 75) / 5)

    night2 = write_scores(spark, lake, day2, "n2")
    # Issue 20 item 11: a rerun of the night, under another run id (a second `make demo`),
    # replaces the night's scores: the count is unchanged and the trend lists the night once.
    version = SCORES.table.version(spark, lake)
    assert write_scores(spark, lake, day2, "n2-rerun") == night2
    night_two = SCORES.table.read(spark, lake).where(f"run_date = DATE'{day2}'")
    assert night_two.count() == night2
    # The same scores under another run id commit nothing: the night keeps its first run.
    assert SCORES.table.version(spark, lake) == version
    assert {r["run_id"] for r in night_two.collect()} == {"n2"}
    trend = {(r["scope"], r["name"]): r for r in score_trend(spark, lake, department="市公安局")}
    latest = trend[("table", "fb_police.resident")]
    assert latest["completeness"] == 100 and latest["run_date"] == day2
    assert latest["overall"] == 100  # completeness 100 and timeliness 100 measured on night 2
    assert latest["change"] == 5 and latest["trend"] == "95 100"
    assert ("department", "市人社局") not in trend
    # A rerun that finds other results does replace the night's scores.
    put(spark, lake, "quality", "results", [result("n2", day2, RESIDENT, "validity", 100, 20)],
        RESULTS_SCHEMA)  # fmt: skip
    write_scores(spark, lake, day2, "n2-later")
    assert SCORES.table.version(spark, lake) == version + 1
    rescored = SCORES.table.read(spark, lake).where(f"run_date = DATE'{day2}'")
    assert {r["run_id"] for r in rescored.collect()} == {"n2-later"}


def night(spark, lake, day, run_id, broken: bool, publish=track_problems):
    """One night of the resident table: checked by GX and loaded; broken rows if asked."""
    put(spark, lake, "quality", "results", [
        result(run_id, day, RESIDENT, "validity", 3, 1 if broken else 0, "sfzh"),
    ], RESULTS_SCHEMA)  # fmt: skip
    put(spark, lake, "ops", "load_runs", [load_run(run_id, RESIDENT, day, 4, int(broken))],
        LOAD_RUNS.schema)  # fmt: skip
    if broken:
        put(spark, lake, "quality", "failed_rows", [failed(run_id, day, "R7", "sfzh", BAD_ID)],
            FAILED_SCHEMA)  # fmt: skip
        put(spark, lake, "ops", "rejected_rows", [
            {"run_id": run_id, "source_system": "fb_police", "table_name": "resident",
             "batch_date": day, "source_file": f"resident_{day:%Y%m%d}.csv", "source_row": 9,
             "raw_record": f"9,{LI},李娜", "reason": "does not parse as a CSV record"},
        ], REJECTED_ROWS.schema)  # fmt: skip
    return publish(spark, lake, day, run_id)


def problems(spark, lake):
    return {r["origin"]: r.asDict() for r in PROBLEMS.table.read(spark, lake).collect()}


def test_same_broken_row_three_nights_is_one_problem_then_fixed(spark, lake):
    days = [D1 + dt.timedelta(days=i) for i in range(4)]
    for i, day in enumerate(days[:3]):
        summary = night(spark, lake, day, f"night{i}", broken=True)
    assert summary["open"] == 2
    seen = problems(spark, lake)
    assert set(seen) == {"quality", "load"}  # one each, not three each
    quality = seen["quality"]
    assert (quality["times_seen"], quality["status"], quality["first_seen"]) == (3, "open", D1)
    assert quality["key"] == "R7" and quality["value_masked"] == BAD_ID[:6] + "*" * 8 + BAD_ID[-4:]
    assert seen["load"]["value_masked"] == f"9,{LI[:6]}********{LI[-4:]},李娜"
    rerun = night(spark, lake, days[2], "night2", broken=True)  # a rerun of night 3
    assert rerun["open"] == 2 and problems(spark, lake)["quality"]["times_seen"] == 3
    # Rerunning the night changes nothing: no new version of quality.problems.
    version = PROBLEMS.table.version(spark, lake)
    assert track_problems(spark, lake, days[2], "night2-again") == rerun
    assert PROBLEMS.table.version(spark, lake) == version
    assert problems(spark, lake)["quality"]["last_run_id"] == "night2"

    clean = night(spark, lake, days[3], "night3", broken=False)
    assert clean == {"open": 0, "new": 0, "fixed": 2}
    fixed = problems(spark, lake)["quality"]
    assert (fixed["status"], fixed["fixed_on"], fixed["days_to_fix"]) == ("fixed", days[3], 3)
    assert fixed["times_seen"] == 3


def test_quarantine_and_lost_conflicts_become_department_problems(spark, lake, tmp_path):
    # A second library's quarantine holds the same rule of another field (people_b has no
    # birth_date column): its text must come from its own library, not from people's.
    (tmp_path / "libraries" / "people_b.yaml").write_text(SECOND_LIBRARY, encoding="utf-8")
    put(spark, lake, "ops", "library_runs", [
        {"run_id": "q1", "library": "people", "batch_date": D1, "input": "police",
         "department": "市公安局", "rows_in": 2, "standardized": 1, "quarantined": 1},
        {"run_id": "q1", "library": "people_b", "batch_date": D1, "input": "police",
         "department": "市公安局", "rows_in": 1, "standardized": 0, "quarantined": 1},
    ], LIBRARY_RUNS_SCHEMA)  # fmt: skip
    put(spark, lake, "quarantine", "people_b", [
        {"library": "people_b", "input": "police", "department": "市公安局",
         "source_table": RESIDENT, "row_ref": "resident_20261120.csv:5", "key_value": LI,
         "rules": ["missing_birth_date"], "raw": f'{{"key":"{LI}","name":"李娜"}}',
         "batch_date": D1},
    ], QUARANTINE_SCHEMA)  # fmt: skip
    put(spark, lake, "quarantine", "people", [
        {"library": "people", "input": "police", "department": "市公安局",
         "source_table": RESIDENT, "row_ref": "resident_20261120.csv:3", "key_value": BAD_ID,
         "rules": ["invalid_id_number:bad_check", "missing_birth_date"],
         "raw": f'{{"key":"{BAD_ID}","name":"王五","birth_date":""}}', "batch_date": D1},
        {"library": "people", "input": "police", "department": "市公安局",
         "source_table": RESIDENT, "row_ref": "/srv/drop/resident_20261120.csv:4",
         "key_value": None, "rules": ["missing_id_number"],
         "raw": '{"key":null,"name":"赵六","birth_date":"1990-01-01"}', "batch_date": D1},
    ], QUARANTINE_SCHEMA)  # fmt: skip
    put(spark, lake, "base", "conflicts", [
        {"library": "people", "key": ZHANG, "attribute": "name", "input": "hrss",
         "department": "市人社局", "value": "张 伟", "winner_input": "police",
         "winner_department": "市公安局", "winner_value": "张伟",
         "reason": "authoritative department (一数一源)"},
        # The authority's own older statement lost against its newer one: nobody's problem.
        {"library": "people", "key": LI, "attribute": "name", "input": "police",
         "department": "市公安局", "value": "李那", "winner_input": "police",
         "winner_department": "市公安局", "winner_value": "李娜",
         "reason": "newer statement of the same department"},
    ], CONFLICTS_SCHEMA)  # fmt: skip
    track_problems(spark, lake, D1, "q1")
    found = PROBLEMS.table.read(spark, lake).collect()
    keyless = [r for r in found if r["rule"] == "people:missing_id_number"]
    # Without its key, a row is known by the hash of its raw values (stable across nights).
    assert len(keyless) == 1 and keyless[0]["key"].startswith("row:")
    assert keyless[0]["source_ref"] == "resident_20261120.csv:4"  # no server folders
    rows = sorted(
        (r["department"], r["field"], r["rule"], r["rule_zh"], r["key"])
        for r in found
        if r["rule"] != "people:missing_id_number"
    )
    masked_bad, masked_zhang, masked_li = (f"{x[:6]}********{x[-4:]}" for x in (BAD_ID, ZHANG, LI))
    assert rows == [
        ("市人社局", "name", "people:conflict_name",
         "name 与权威部门市公安局的值不一致（一数一源）", masked_zhang),
        ("市公安局", "birth_date", "people_b:missing_birth_date", "必填项 birth_date 为空",
         masked_li),
        ("市公安局", "csrq", "people:missing_birth_date", "必填项 csrq 为空", masked_bad),
        ("市公安局", "sfzh", "people:invalid_id_number:bad_check",
         "sfzh 不是有效的居民身份证号码：校验码错误", masked_bad),
    ]  # fmt: skip


def run_cli(argv, spark, lake, monkeypatch, capsys):
    """Run a `govlake quality ...` subcommand from jobs.feedback.cli on the test lakehouse."""
    import json

    from govlake.cli import build_parser
    from jobs.feedback import cli as feedback_cli

    monkeypatch.setattr(feedback_cli, "_context", lambda: (spark, lake))
    monkeypatch.setattr(feedback_cli, "_settings", lambda: lake)
    args = build_parser().parse_args(["quality", *argv, "--json"])
    capsys.readouterr()
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_workbook_and_csv_per_department(spark, lake, monkeypatch, capsys):
    import openpyxl

    summary = night(spark, lake, D1, "w1", broken=True, publish=publish_feedback)
    folder = lake.lakehouse / "feedback" / D1.isoformat()
    assert sorted(p.rsplit("/", 1)[1] for p in summary["workbooks"]) == [
        "市公安局.csv",
        "市公安局.xlsx",
    ]
    book = openpyxl.load_workbook(folder / "市公安局.xlsx")
    assert book.sheetnames == ["问题清单 Open problems", "汇总 Summary"]
    sheet = list(book["问题清单 Open problems"].values)
    header, body = sheet[0], sheet[1:]
    assert header[:4] == ("来源表 / Source table", "主键（已脱敏）/ Key (masked)", "字段 / Field",
                          "值（已脱敏）/ Value (masked)")  # fmt: skip
    assert "Times seen" in header[9] and "First seen" in header[7]
    assert len(body) == 2
    text = " ".join(str(v) for row in body for v in row)
    assert BAD_ID not in text and LI not in text
    assert BAD_ID[:6] + "********" + BAD_ID[-4:] in text
    quality = next(row for row in body if row[2] == "sfzh")
    assert quality[0] == "fb_police.resident" and quality[4] == "身份证号码校验码错误"
    assert quality[5] == "identity number check character is wrong" and quality[9] == 1
    facts = {row[0]: row[1] for row in book["汇总 Summary"].values if row and row[0]}
    assert facts["部门 / Department"] == "市公安局" and facts["未整改问题 / Open problems"] == 2

    raw = (folder / "市公安局.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][0] == "来源表 / Source table" and len(rows) == 3
    assert BAD_ID not in raw.decode("utf-8-sig") and LI not in raw.decode("utf-8-sig")

    listed = run_cli(["feedback", "--department", "市公安局"], spark, lake, monkeypatch, capsys)
    assert sorted(r["field"] for r in listed) == ["(整行 whole row)", "sfzh"]
    assert run_cli(["feedback", "--department", "市人社局"], spark, lake, monkeypatch, capsys) == []
    from govlake.cli import build_parser

    argv = ["quality", "feedback", "--department", "市公安局", "--limit", "1"]
    cut = build_parser().parse_args(argv)
    assert cut.func(cut) == 0
    assert f"1 more; the workbooks in {folder} list them all." in capsys.readouterr().out
    scores = run_cli(["scores"], spark, lake, monkeypatch, capsys)
    assert {(r["scope"], r["name"]) for r in scores} == {
        ("department", "市公安局"),
        ("table", "fb_police.resident"),
    }


def ods_rows(spark, lake, table, rows, schema):
    meta = ", _batch_date date, _source_file string, _source_row long"
    full = [{**r, "_batch_date": D1, "_source_file": "f.csv", "_source_row": i}
            for i, r in enumerate(rows)]  # fmt: skip
    put(spark, lake, "ods", table.split(".")[1], full, schema + meta)


# A second library over the same inputs, its police input narrowed to two residents: its
# overlap is measured in the same Spark job as people's and must not mix with it.
SECOND_LIBRARY = """\
library: people_b
title: 人口库（部分）
key: id_number
key_type: ric
attributes:
  name: {type: text, sources: [police, hrss]}
inputs:
  police:
    table: ods.fb_police__resident
    department: 市公安局
    key: sfzh
    where: "rec_id <> '1'"
    columns: {name: xm}
  hrss:
    table: ods.fb_hrss__enrolment
    department: 市人社局
    key: id_number
    columns: {name: name}
"""


def test_duplicate_collection_report(spark, lake, tmp_path):
    from jobs.feedback.duplicates import latest_report, write_duplicates

    (tmp_path / "libraries" / "people_b.yaml").write_text(SECOND_LIBRARY, encoding="utf-8")

    third = rid("42070419800101001")
    ods_rows(spark, lake, RESIDENT, [
        {"rec_id": "1", "sfzh": ZHANG, "xm": "张伟", "xb": "1", "csrq": "19900101"},
        {"rec_id": "2", "sfzh": LI, "xm": "李娜", "xb": "2", "csrq": "19851212"},
        {"rec_id": "3", "sfzh": third, "xm": "陈明", "xb": "1", "csrq": "19800101"},
    ], "rec_id string, sfzh string, xm string, xb string, csrq string")  # fmt: skip
    ods_rows(spark, lake, ENROLMENT, [
        {"rec_id": "1", "id_number": ZHANG, "name": " 张伟　"},  # standardized: agrees
        {"rec_id": "2", "id_number": LI, "name": "李那"},  # disagrees
        {"rec_id": "3", "id_number": rid("42070419700101002"), "name": "赵强"},  # hrss only
    ], "rec_id string, id_number string, name string")  # fmt: skip
    rows = write_duplicates(spark, lake, D1, "d1")
    assert [r["library"] for r in rows] == ["people", "people_b"]  # only name, in each
    row, other = rows
    assert (row["attribute"], row["authoritative_department"], row["department"]) == (
        "name", "市公安局", "市人社局")  # fmt: skip
    assert (row["keys_authority"], row["keys_department"], row["keys_both"]) == (3, 3, 2)
    assert (row["keys_agree"], row["agree_percent"]) == (1, 50.0)
    assert "市公安局 为权威来源" in row["recommendation"]
    # people_b's police states LI and the third resident: LI in both, and disagreeing.
    assert (other["keys_authority"], other["keys_department"], other["keys_both"]) == (2, 3, 1)
    assert (other["keys_agree"], other["agree_percent"]) == (0, 0.0)
    assert [r["keys_both"] for r in latest_report(spark, lake)] == [2, 1]
    # Issue 20 item 11: the night run again under another run id replaces its report.
    write_duplicates(spark, lake, D1, "d1-rerun")
    report = Table("quality", "duplicate_collection").read(spark, lake)
    assert report.count() == len(rows) == 2
    assert [r["keys_both"] for r in latest_report(spark, lake)] == [2, 1]


def test_masking_is_configured_in_one_place(tmp_path):
    from govlake.errors import ConfigError
    from govlake.masking import load_masking, mask_text

    assert (
        mask_text(f"{ZHANG},13912345678,rec1")
        == f"{ZHANG[:6]}********{ZHANG[-4:]},139****5678,rec1"
    )
    assert mask_text("４２０７０２１９９００１０１１２３４") == "４２０７０２********１２３４"
    assert mask_text("42070219900101123456") == "42070219900101123456"  # not an identifier
    conf = tmp_path / "masking.yaml"
    conf.write_text("identifiers:\n  phone: {pattern: '1[0-9]{10}', keep_first: 2, keep_last: 2}\n")
    assert mask_text("13912345678", load_masking(conf)) == "13*******78"
    broken = tmp_path / "broken.yaml"
    broken.write_text("identifiers:\n  phone: {pattern: '1[0-9]{10}'}\n")
    with pytest.raises(ConfigError, match="keep_first"):
        load_masking(broken)


def test_manifest_defects_map_to_expected_problems():
    from jobs.feedback.truth import compare, expected_problems, kind_of

    manifest = {"sources": {
        "fb_police": {"resident": {"rows": 10, "defects": {
            "invalid_id_checksum": 2, "duplicate_row": 1, "unparseable_row": 0,
            "missing_required": 1}}},
        "fb_hrss": {"enrolment": {"rows": 5, "defects": {"unparseable_row": 3}}},
    }}  # fmt: skip
    departments = {"fb_police": "市公安局", "fb_hrss": "市人社局"}
    expected = expected_problems(manifest, departments)
    assert expected == {
        "市公安局": {RESIDENT: {"invalid_id_checksum": 2, "missing_required": 1}},
        "市人社局": {ENROLMENT: {"unparseable_row": 3}},
    }
    assert kind_of("load", "unparseable_row") == "unparseable_row"
    assert kind_of("library", "people:invalid_id_number:bad_check") == "invalid_id_checksum"
    assert kind_of("library", "people:missing_birth_date") == "missing_required"
    assert kind_of("library", "people:unparseable_birth_date") == "impossible_date"
    assert kind_of("library", "people:invalid_id_number:bad_length") is None
    assert kind_of("conflict", "people:conflict_name") is None
    assert kind_of("quality", "expect_column_values_to_be_valid_uscc:uscc") == (
        "invalid_uscc_checksum"
    )
    assert kind_of("quality", "expect_column_values_to_be_valid_ric:zjhm") == "invalid_id_checksum"
    assert kind_of("quality", "blank:name") == "missing_required"
    # The column a rule is on says nothing of the kind: a repeated USCC is a duplicate row.
    assert kind_of("quality", "expect_column_values_to_be_unique:uscc") is None
    assert kind_of("quality", "expect_column_values_to_be_unique:birth_date") is None
    actual = {"市公安局": {RESIDENT: {"invalid_id_checksum": 2, "missing_required": 2}}}
    rows = compare(expected, actual)
    assert {r["kind"]: (r["expected"], r["actual"], r["agrees"]) for r in rows} == {
        "invalid_id_checksum": (2, 2, True),
        "missing_required": (1, 2, False),
        "unparseable_row": (3, 0, False),
    }


def test_the_feedback_step_reads_rows_only_of_tables_its_task_declares(spark, lake, monkeypatch):
    """The ledger's feedback task is sized (compiled or not) and traced by the tables it
    declares in govlake.tasks: every table whose rows the job reads is among them, the ods
    tables its search for duplicate collection samples included."""
    ods_rows(spark, lake, RESIDENT, [
        {"rec_id": "1", "sfzh": ZHANG, "xm": "张伟", "xb": "1", "csrq": "19900101"},
    ], "rec_id string, sfzh string, xm string, xb string, csrq string")  # fmt: skip
    recorded: dict[str, set[str]] = {}

    def publish(spark, cfg, day, run_id):
        recorded["read"] = record_rows_read(monkeypatch)  # from here: the night's writes are not
        return publish_feedback(spark, cfg, day, run_id)

    night(spark, lake, D1, "t1", broken=True, publish=publish)
    read = recorded["read"]
    assert RESIDENT in read and "quality.failed_rows" in read
    assert undeclared(read, "publish_feedback") == []
