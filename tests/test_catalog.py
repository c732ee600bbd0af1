"""The government data catalog: entries, review (退回纠正), grades, deadlines, catalog tables."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import chinese_calendar
import pytest
import yaml
from touched import record_rows_read, undeclared

from govlake.catalog import (
    NotPublishable,
    assert_publishable,
    load_catalog,
    load_rules,
    validate_catalog,
)
from govlake.catalog.grades import GradeScheme, inherit
from govlake.catalog.models import CalendarRules
from govlake.catalog.workdays import WorkCalendar
from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.libraries import load_libraries
from govlake.sources import load_sources
from lineage.declared import ColumnEdge

PROJECT = Path(__file__).resolve().parent.parent
CONF = PROJECT / "conf" / "catalog"


@pytest.fixture()
def catalog(tmp_path, monkeypatch) -> Path:
    """A private copy of conf/catalog that a test may break; load_catalog() reads it."""
    folder = tmp_path / "catalog"
    shutil.copytree(CONF, folder)
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(folder))
    return folder


def edit(folder: Path, resource: str, change) -> None:
    """Apply `change` to the parsed entry and write it back."""
    path = folder / f"{resource}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def pairs(findings) -> set[tuple[str, str]]:
    return {(f.entry, f.field) for f in findings}


def test_every_source_table_and_library_has_an_entry_that_passes_review():
    entries = load_catalog(CONF)
    tables = {t for e in entries for t in e.tables}
    ods = {s.ods_table(t) for s in load_sources() for t in s.tables}
    # mem_hazchem's 3 .xls, ndrc's api and CSV, nr's 2, 市统计局's workbook and 市税务局's taxes
    assert len(ods) == 20 and ods <= tables
    assert {lib.table for lib in load_libraries()} | {"base.conflicts"} <= tables
    assert validate_catalog(entries) == []


def test_invalid_yaml_names_the_file_and_line(catalog):
    path = catalog / "population.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "abstract: [unclosed"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_catalog()
    text = str(err.value)
    assert "population.yaml" in text and "not valid YAML at line" in text
    assert "Fix:" in text


def test_unknown_sharing_type_names_field_line_and_allowed_values(catalog):
    edit(catalog, "tax_credit__credit_rating", lambda d: d["sharing"].update(type="随便共享"))
    with pytest.raises(ConfigError) as err:
        load_catalog()
    text = str(err.value)
    assert "tax_credit__credit_rating.yaml" in text
    assert "field 'sharing.type' (line " in text and "'随便共享' is not allowed" in text
    assert "无条件共享" in text


def test_duplicate_code_is_returned_on_both_entries(catalog):
    edit(catalog, "nhc_vital__death", lambda d: d.update(code="304001-0001"))
    findings = validate_catalog()
    dup = [f for f in findings if f.field == "code"]
    assert {f.entry for f in dup} == {"nhc_vital__birth", "nhc_vital__death"}
    assert all("304001-0001" in f.rule and "also used by" in f.rule for f in dup)


def test_item_the_table_does_not_have(catalog):
    def add_item(d):
        d["items"].append({"column": "shoe_size", "name": "鞋码", "type": "整型", "grade": "L1"})

    edit(catalog, "population", add_item)
    findings = validate_catalog()
    assert pairs(findings) == {("population", "items (shoe_size)")}
    assert "base.population has no column shoe_size (declared schema)" in findings[0].rule


def test_holiday_calendar_year_not_covered_fails_unless_configured():
    last = max(chinese_calendar.constants.holidays).year
    first_day = dt.date(last + 1, 1, 5)
    with pytest.raises(ConfigError) as err:
        WorkCalendar().add_working_days(dt.date(last, 12, 20), 20)
    assert f"does not cover {last + 1}" in str(err.value)
    assert f"calendar.years.{last + 1}" in str(err.value)
    configured = CalendarRules(
        years={last + 1: {"holidays": [dt.date(last + 1, 1, 1)], "workdays": [first_day]}}
    )
    cal = WorkCalendar(configured)
    assert not cal.is_workday(dt.date(last + 1, 1, 1))
    assert cal.is_workday(first_day)


def test_deadline_across_national_day_with_adjusted_working_weekends():
    cal = WorkCalendar()
    start = dt.date(2025, 9, 26)  # Friday before the 2025 National Day week (Oct 1-8)
    due = cal.add_working_days(start, 20)
    # Sun 9-28 and Sat 10-11 are working days, Oct 1-8 are not: 20 working days end on 10-30.
    assert due == dt.date(2025, 10, 30)
    workdays = chinese_calendar.get_workdays(start + dt.timedelta(days=1), due)
    assert len(workdays) == 20 and workdays[-1] == due
    assert dt.date(2025, 9, 28) in workdays and dt.date(2025, 10, 11) in workdays
    assert cal.working_days_between(start, due) == 20
    assert cal.working_days_between(due, start) == -20


def test_grades_are_inherited_strictest_first_through_layers():
    scheme = GradeScheme(load_rules().grades)
    declared = {("ods.a", "id"): "L4", ("ods.b", "id"): "L1", ("ods.b", "name"): "一般"}
    edges = [
        ColumnEdge("base.p", "id", "ods.a", "id", "key"),
        ColumnEdge("base.p", "id", "ods.b", "id", "key"),
        ColumnEdge("base.p", "name", "ods.b", "name", "copy"),
        ColumnEdge("theme.t", "pid", "base.p", "id", "copy"),
    ]
    got = inherit(scheme, declared, edges)
    assert got[("base.p", "id")].grade == "L4" and got[("base.p", "id")].sources == ("ods.a.id",)
    assert got[("theme.t", "pid")].grade == "L4"  # two layers down, still the strictest
    # A bare national level counts as the strictest local level under it (就高从严).
    assert got[("base.p", "name")].grade == "一般"
    assert scheme.looser("L2", "一般") and not scheme.looser("L3", "一般")
    assert scheme.looser("一般", "L4") and scheme.looser("L4", "重要") is False
    assert scheme.national("L4") == "重要"


def test_declared_grade_looser_than_inherited_is_returned(catalog):
    def loosen(d):
        name = next(i for i in d["items"] if i["column"] == "name")
        name["grade"] = "L1"
        d["items"] = [i for i in d["items"] if i["column"] != "provenance"]
        d["items"].append({"column": "provenance", "name": "来源", "type": "复合型"})

    edit(catalog, "population", loosen)
    findings = {f.field: f for f in validate_catalog()}
    looser = findings["items[1].grade (name)"]
    assert "就高从严 declared L1 is looser than L3" in looser.rule
    assert "ods.psb_hukou__hj_resident.xm" in looser.rule
    assert "has no grade and inherits none" in findings["items[10].grade (provenance)"].rule


def test_validate_command_rejects_broken_entries_with_reasons(catalog, capsys):
    from govlake.cli import main

    def broken_share(d):
        d["code"] = "1-01-001"
        d["sharing"] = {"type": "有条件共享", "method": "接口调用"}
        d["source_systems"] = []

    def not_shared(d):
        d["sharing"] = {"type": "不予共享"}
        d["open"] = {"type": "无条件开放"}

    edit(catalog, "population", broken_share)
    edit(catalog, "tax_credit__credit_rating", not_shared)
    (catalog / "legal_entity.yaml").unlink()
    assert main(["catalog", "validate", "--declared", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    got = {(r["entry"], r["field"]): r for r in rows}
    assert set(got) == {
        ("population", "code"),
        ("population", "sharing.condition"),
        ("population", "source_systems"),
        ("tax_credit__credit_rating", "legal_basis"),
        ("tax_credit__credit_rating", "open.type"),
        ("base.legal_entity", "tables"),
        ("conflicts", "related"),  # conflicts names the removed legal_entity's code
        # the themes relate to population, whose code is now broken
        ("person_profile", "related"),
        ("enterprise_profile", "related"),
        ("social_security", "related"),
        ("emergency_vulnerable_by_district", "related"),
        ("emergency", "related"),  # relates to the removed legal_entity
        ("economy", "related"),  # so does the economy library (one row per enterprise, year)
        # so do the application warehouses drawing from it (conf/apps/)
        ("app_city_governance", "related"),
        ("app_health", "related"),
    }
    assert "like 101001-0001" in got[("population", "code")]["fix"]
    assert got[("tax_credit__credit_rating", "open.type")]["fix"] == "set open.type: 不予开放."
    assert all(r["fix"] for r in rows)


def test_nightly_build_refuses_a_library_whose_entry_fails_review(catalog, spark, cfg):
    from jobs.library import build_library

    assert_publishable("base.population")  # the shipped entry passes
    edit(catalog, "population", lambda d: d["sharing"].pop("condition"))
    with pytest.raises(NotPublishable) as err:
        build_library("population", dt.date(2026, 11, 26), "run-refused")
    assert "base.population is not published" in str(err.value)
    assert "有条件共享 requires its sharing condition" in str(err.value)
    assert not Table("base", "population").exists(spark, cfg)
    (catalog / "population.yaml").unlink()
    with pytest.raises(NotPublishable, match="this one has no entry"):
        assert_publishable("base.population")


def test_publish_is_idempotent_keeps_history_and_tracks_deadlines(
    spark, cfg, catalog, capsys, monkeypatch
):
    """A second publish of the same day changes nothing; a change is kept as history and its
    registration deadline tracked. The publish reads rows only of tables its ledger task
    declares (its lineage and its size); what it catalogues it reads the schemas of."""
    from govlake.catalog import publish_catalog
    from govlake.catalog.registrations import due_report
    from jobs.ops import LoadRun, record_run

    day1, day2 = dt.date(2026, 11, 25), dt.date(2026, 11, 26)
    first = publish_catalog(spark, cfg, day1, "run-1")
    entries = len(list(catalog.glob("*.yaml")))  # one resource per entry file
    assert first["resources"]["inserted"] == entries and first["findings"] == 0
    versions = {t: first[t]["version"] for t in ("resources", "items", "systems")}
    again = publish_catalog(spark, cfg, day1, "run-1b")
    assert {t: again[t]["version"] for t in versions} == versions
    assert again["registrations"]["changed"] == 0
    assert not any(again[t][k] for t in versions for k in ("inserted", "changed", "closed"))

    # A department's table gains a column (a real Delta table, and the load run says so).
    household = spark.createDataFrame(
        [("h1", "x", "addr", "420702", "2020-01-01", "2026-11-26", "138", day2)],
        "hh string, hzsfzh string, hjdz string, xzqh string, lhrq string, update_time string, "
        "mobile string, _batch_date date",
    )
    Table("ods", "psb_hukou__hj_household").write(household, cfg=cfg)
    run = LoadRun(
        "load-2",
        "psb_hukou",
        "市公安局",
        "hj_household",
        "ods.psb_hukou__hj_household",
        "physical",
        day2,
        dt.datetime(2026, 11, 26, 1),
    )
    run.status, run.schema_change = "success", "added ['mobile'], dropped []"
    record_run(spark, cfg, run)
    findings = validate_catalog(spark=spark, cfg=cfg)
    assert pairs(findings) == {("psb_hukou__hj_household", "items")}
    assert "column mobile of ods.psb_hukou__hj_household has no data item (delta schema)" in (
        findings[0].rule
    )
    edit(catalog, "population", lambda d: d.update(abstract="人口库（修订）"))

    read = record_rows_read(monkeypatch)
    second = publish_catalog(spark, cfg, day2, "run-2")
    assert {"catalog.resources", "catalog.registrations"} <= read
    assert undeclared(read, "publish_catalog") == []
    assert second["resources"]["changed"] == 2  # population edited, household enriched
    assert second["returned"] == ["psb_hukou__hj_household"]
    history = spark.sql(
        "SELECT abstract, valid_from, valid_to, is_current FROM catalog.resources "
        "WHERE resource = 'population' ORDER BY valid_from"
    ).collect()
    assert [(r.valid_to, r.is_current) for r in history] == [(day2, False), (None, True)]
    assert history[1].abstract == "人口库（修订）"
    regs = {
        (r.kind, r.detail): r for r in spark.sql("SELECT * FROM catalog.registrations").collect()
    }
    assert regs[("new_column", "mobile")].status == "open"
    assert regs[("new_column", "mobile")].due_on == WorkCalendar().add_working_days(day2, 20)
    changed = [r for (kind, _), r in regs.items() if kind == "entry_changed"]
    assert [(r.resource, r.status, r.done_on) for r in changed] == [("population", "done", day2)]

    due = due_report(cfg, day2, "市公安局")
    assert [(r["kind"], r["state"], r["working_days_left"]) for r in due] == [
        ("new_column", "due", 20)
    ]
    late = due_report(cfg, dt.date(2026, 12, 28), "市公安局")
    assert late[0]["state"] == "overdue" and late[0]["working_days_left"] < 0
    from govlake.cli import main

    capsys.readouterr()
    argv = ["catalog", "due", "--department", "市公安局", "--date", "2026-12-28", "--json"]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["table"], r["state"]) for r in shown] == [("ods.psb_hukou__hj_household", "overdue")]


def test_a_new_source_gets_a_draft_entry_that_review_lists_as_work(catalog, tax_source, capsys):
    """Issue 20 item 9: a new source's table without an entry is reviewed as the draft its
    YAML gives, listed as work for its department whose fix names `catalog draft`, not as a
    failure of validate or the night (unless --strict); the draft that command writes is the
    same valid entry with the safest stand-ins."""
    from govlake.catalog.loader import load_entry
    from govlake.catalog.publish import catalog_rows
    from govlake.catalog.review import blocking, review_of, run_review
    from govlake.catalog.schemas import declared_lakehouse
    from govlake.cli import main

    tax_source("tax_dr", [], dt.date(2026, 11, 26))
    mine = {"tax_dr__credit_rating", "ods.tax_dr__credit_rating"}
    before = [f for f in validate_catalog(load_catalog()) if f.entry in mine]
    assert [(f.field, "govlake catalog draft tax_dr" in f.fix) for f in before] == [
        ("status", True)
    ]
    assert "no catalog file yet" in before[0].rule and not blocking(before)
    capsys.readouterr()
    main(["catalog", "validate", "--declared"])  # this test's sources lack the conf/ ones
    assert "1 drafts for their departments to complete" in capsys.readouterr().out
    # The night publishes the rows of the same review: the in-memory draft as a draft.
    review = review_of(load_catalog(), load_rules(), declared_lakehouse())
    resources, _, _ = catalog_rows(review, run_review(review), {})
    row = next(r for r in resources if r["resource"] == "tax_dr__credit_rating")
    assert (row["review_status"], row["file"], row["code"]) == ("draft", None, "307003-0001")
    assert main(["catalog", "draft", "tax_dr"]) == 0
    assert "govlake quality init tax_dr" in capsys.readouterr().out  # the next step named
    entry = load_entry(catalog / "tax_dr__credit_rating.yaml")
    # 市税务局's other ods entries are 307001 and 307002: the draft takes its 项 and the next 目.
    assert (entry.status, entry.code, entry.provider.code) == ("draft", "307003-0001", "420700007")
    assert [(i.column, i.name, i.grade) for i in entry.items] == [
        ("taxpayer_id", "纳税人识别号", "L4"),
        ("credit_level", "信用级别", "L4"),
    ]
    assert (entry.sharing.type, entry.open.type, entry.update_cycle) == (
        "有条件共享",
        "不予开放",
        "每日",
    )
    after = [f for f in validate_catalog(load_catalog()) if f.entry in mine]
    assert [f.field for f in after] == ["status"] and "市税务局" in after[0].fix
    assert main(["catalog", "draft", "tax_dr"]) == 0  # covered now: nothing rewritten
    assert "nothing to draft" in capsys.readouterr().out


def test_a_publish_killed_before_its_registrations_is_retried_to_the_same_registrations(
    spark, cfg, catalog, tmp_path, monkeypatch
):
    """Found by the kill harness (docs/faults.md): a night killed after the resources MERGE and
    before the registrations MERGE, retried with the same run id, took its own half-published
    resources for the previous catalog and recorded no new_entry registration (19 of 40)."""
    from govlake.catalog import publish, publish_catalog

    def registrations(lake: Path) -> set[tuple]:
        rows = spark.read.format("delta").load(str(lake / "catalog" / "registrations"))
        return {(r.registration_id, r.kind, r.resource, r.status) for r in rows.collect()}

    day = dt.date(2026, 11, 25)
    clean, killed = (cfg.model_copy(update={"lakehouse": tmp_path / n}) for n in ("a", "b"))
    publish_catalog(spark, clean, day, "night-1")

    class Killed(BaseException):
        """Stands in for SIGKILL: nothing after it runs."""

    def killed_here(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(publish, "publish_registrations", killed_here)
        with pytest.raises(Killed):
            publish_catalog(spark, killed, day, "night-1")
    publish_catalog(spark, killed, day, "night-1")  # the retry
    expected = registrations(tmp_path / "a")
    assert any(kind == "new_entry" for _, kind, _, _ in expected)
    assert registrations(tmp_path / "b") == expected
    for table in ("resources", "items", "systems", "registrations"):
        Table("catalog", table).register(spark, cfg)  # back to the module's lakehouse
