"""Theme models (libraries/themes/): loading and refusal, input discovery, and builds on tiny
inline base and ods tables (expected rows by hand, key check, a rerun that commits nothing)."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest

from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.themes import THEMES_DIR, load_theme, load_themes

KNOWN = {"base.population", "ods.hrss_social_insurance__si_enrolment"}
META = """\
theme: {name}
title: test
description: a test model
owner: 市人社局
grain: one district
key: [{key}]
refresh: {{rule: full, reason: tiny}}
columns:
{columns}
"""


def model(folder: Path, name: str, sql: str, key: str = "division", columns=None) -> Path:
    """Write <name>.sql and <name>.yaml describing `columns` (default: the key and `n`)."""
    columns = columns or [key, "n"]
    described = "\n".join(f"  {c}: {{description: {c}}}" for c in columns)
    (folder / f"{name}.sql").write_text(textwrap.dedent(sql), encoding="utf-8")
    path = folder / f"{name}.yaml"
    path.write_text(META.format(name=name, key=key, columns=described), encoding="utf-8")
    return path


COUNT_SQL = "SELECT p.division, count(*) AS n\nFROM base.population AS p\nGROUP BY p.division\n"


def test_the_project_models_load_with_inputs_from_their_sql():
    themes = {t.theme: t for t in load_themes()}
    assert themes["social_security"].inputs == [
        "base.population",
        "ods.hrss_social_insurance__si_enrolment",
    ]
    # A CTE name is not an input; a theme read by another is.
    assert themes["social_security_by_district"].inputs == ["theme.social_security"]
    person = themes["person_profile"].inputs
    assert "ods.nhsa_medical_insurance__mi_insured" in person  # the logical source, in place
    assert not [t for t in person if t.startswith(("household", "marriages", "vital"))]
    order = [t.theme for t in load_themes()]
    assert order.index("social_security") < order.index("social_security_by_district")


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = model(
        tmp_path,
        "broken",
        "SELECT p.division, count(*) AS n\nFROM base.population AS p\nGROUP BY (\n",
    )
    with pytest.raises(ConfigError) as err:
        load_theme(path)
    message = str(err.value)
    assert str(tmp_path / "broken.sql") in message and "line 3" in message
    assert "syntax error" in message


def test_an_unknown_table_is_refused_with_line_and_a_fix(tmp_path):
    sql = (
        "SELECT p.division, count(*) AS n\nFROM base.population AS p\n"
        "JOIN base.populaton AS q\n  ON q.division = p.division\nGROUP BY p.division\n"
    )
    model(tmp_path, "typo", sql)
    with pytest.raises(ConfigError) as err:
        load_themes(tmp_path, known=KNOWN)
    message = str(err.value)
    assert "unknown table base.populaton (line 3)" in message
    assert str(tmp_path / "typo.sql") in message and "row 3" in message
    assert "Fix:" in message


def test_a_table_without_database_is_refused_but_a_cte_is_not_an_input(tmp_path):
    model(tmp_path, "bare", "SELECT p.division, count(*) AS n FROM population AS p GROUP BY 1")
    with pytest.raises(ConfigError, match="'population' .*names no database.*base., theme."):
        load_theme(tmp_path / "bare.yaml")
    sql = (
        "WITH p AS (SELECT * FROM base.population)\n"
        "SELECT p.division, count(*) AS n FROM p GROUP BY p.division"
    )
    model(tmp_path, "cte", sql)
    assert load_theme(tmp_path / "cte.yaml").inputs == ["base.population"]


def test_models_reading_each_other_in_a_cycle_are_refused(tmp_path):
    model(tmp_path, "a", "SELECT b.division, b.n\nFROM theme.b AS b\n")
    model(tmp_path, "b", "SELECT c.division,\n  c.n\nFROM theme.c AS c\n")
    model(tmp_path, "c", "SELECT a.division,\n  a.n\n\nFROM theme.a AS a\n")
    with pytest.raises(ConfigError) as err:
        load_themes(tmp_path, known=KNOWN)
    message = str(err.value)
    ring = ["theme.a", "theme.b", "theme.c"]
    cycles = [" reads ".join([*ring[i:], *ring[:i], ring[i]]) for i in range(3)]
    assert any(c in message for c in cycles), message
    lines = {"a": ("theme.b", 2), "b": ("theme.c", 3), "c": ("theme.a", 4)}
    first = message.split("; ")[1].split(" ")[0].removeprefix("theme.")
    reads, line = lines[first]
    assert f"theme.{first} reads {reads} at line {line}" in message
    assert str(tmp_path / f"{first}.sql") in message and "Fix:" in message


def test_the_yaml_describes_exactly_the_sql_columns_and_a_reason_needs_a_grade(tmp_path):
    path = model(tmp_path, "short", COUNT_SQL, columns=["division"])
    with pytest.raises(ConfigError, match=r"columns \['n'\] of the SQL have no description"):
        load_theme(path)
    model(tmp_path, "star", "SELECT * FROM base.population AS p", columns=["division"])
    with pytest.raises(ConfigError, match="selects '\\*'"):
        load_theme(tmp_path / "star.yaml")
    path = model(tmp_path, "reason", COUNT_SQL)
    text = path.read_text().replace(
        "  n: {description: n}", "  n: {description: n, grade_reason: x}"
    )
    path.write_text(text)
    with pytest.raises(
        ConfigError, match="field 'columns.n': grade_reason is given without a grade"
    ):
        load_theme(path)


def test_current_date_is_the_nights_date():
    """A model's current_date() is the night it builds: a night rerun later changes no age."""
    from jobs.theme import runnable_sql

    sql = runnable_sql(load_theme(THEMES_DIR / "social_security.yaml"), dt.date(2026, 11, 26))
    assert "CAST('2026-11-26' AS DATE)" in sql
    assert "CURRENT_DATE" not in sql.upper()


# -- builds on tiny inline tables -------------------------------------------------------------

NIGHT = dt.date(2026, 11, 26)
POPULATION = [
    # id, name, sex, birth, division, death, pension status, current
    ("A1", "甲", "1", dt.date(1980, 5, 1), "420702", None, "1", True),
    ("B2", "乙", "2", dt.date(1985, 3, 1), "420702", None, None, True),
    ("C3", "丙", "1", dt.date(1940, 1, 1), "420703", dt.date(2020, 6, 1), "1", True),
    ("D4", "丁", "2", dt.date(2016, 1, 1), "420703", None, None, True),
    ("E5", "戊", "1", dt.date(1980, 1, 1), "420703", None, None, False),  # retired key
]
ENROLMENT = [
    # enrol_id, id_number, type, status, start, modified, batch
    (1, "a1 ", "110", "2", "2005-01-01", "2026-01-01 00:00:00", dt.date(2026, 1, 1)),
    (1, "a1", "110", "1", "2005-01-01", "2026-02-01 00:00:00", dt.date(2026, 2, 1)),
    (2, "A1", "310", "1", "2006-01-01", "2026-01-01 00:00:00", dt.date(2026, 1, 1)),
    (3, "C3", "120", "1", "2021-01-01", "2026-01-01 00:00:00", dt.date(2026, 1, 1)),
]


def write_inputs(spark, cfg, population=POPULATION, enrolment=True) -> None:
    base = spark.createDataFrame(
        population,
        "id_number string, name string, sex string, birth_date date, division string, "
        "death_date date, social_insurance_status string, _is_current boolean",
    )
    Table.parse("base.population").write(base, "overwrite", cfg=cfg)
    if not enrolment:
        return
    ods = spark.createDataFrame(
        [(i, p, "n", t, None, s, d, m, b) for i, p, t, s, d, m, b in ENROLMENT],
        "enrol_id long, id_number string, name string, insurance_type string, "
        "unit_uscc string, status string, start_date string, last_modified string, "
        "_batch_date date",
    )
    Table.parse("ods.hrss_social_insurance__si_enrolment").write(ods, "overwrite", cfg=cfg)


@pytest.fixture(scope="module")
def built(spark, cfg, tmp_path_factory):
    from jobs.theme import build

    # The project's suites expect real ID numbers; these tiny inputs have "A1". Each test that
    # validates writes its own suite here.
    suites = tmp_path_factory.mktemp("expectations")
    patch = pytest.MonkeyPatch()
    patch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(suites))
    write_inputs(spark, cfg)
    themes = {t.theme: t for t in load_themes()}
    first = build(spark, cfg, themes["social_security"], NIGHT)
    district = build(spark, cfg, themes["social_security_by_district"], NIGHT)
    yield themes, first, district
    patch.undo()


def test_social_security_rows_on_tiny_inputs(spark, cfg, built):
    _, first, _ = built
    assert first["mode"] == "created" and first["rows"] == 4
    rows = {
        r["id_number"]: r for r in Table.parse("theme.social_security").read(spark, cfg).collect()
    }
    assert set(rows) == {"A1", "B2", "C3", "D4"}, "current persons only"
    a1 = rows["A1"]
    # The newest version of enrolment 1 (status 1), and the id written the department's way.
    assert [(e["insurance_type"], e["status"]) for e in a1["enrolments"]] == [
        ("110", "1"),
        ("310", "1"),
    ]
    assert a1["pension_enrolled"] and not a1["working_age_not_enrolled"]
    assert rows["B2"]["working_age_not_enrolled"] and not rows["B2"]["pension_enrolled"]
    assert rows["C3"]["enrolled_after_death"] and not rows["C3"]["working_age_not_enrolled"]
    assert not rows["D4"]["working_age_not_enrolled"], "a child is not of working age"
    assert rows["D4"]["enrolments"] == []


def test_the_district_aggregate_on_the_theme(spark, cfg, built):
    rows = Table.parse("theme.social_security_by_district").read(spark, cfg).collect()
    got = {
        r["division"]: (
            r["persons"],
            r["living"],
            r["pension_enrolled"],
            r["working_age_not_enrolled"],
            r["enrolled_after_death"],
        )
        for r in rows
    }
    assert got == {"420702": (2, 2, 1, 1, 0), "420703": (2, 1, 1, 0, 1)}
    assert {r["division"]: float(r["pension_coverage"]) for r in rows} == {
        "420702": 0.5,
        "420703": 0.0,
    }


def test_a_theme_over_few_rows_is_built_interpreted_where_its_row_compiles(
    spark, cfg, built, monkeypatch, evaluation_modes
):
    """A theme build evaluates interpreted below compile_from_rows of its inputs' rows and
    compiled from it; the mode is recorded as the build enters it, and the plan stops it there
    so the table is left as it is."""
    from jobs import theme as building

    class Entered(Exception):
        pass

    def stop(*args):
        raise Entered

    monkeypatch.setattr(building, "plan_for", stop)
    themes, _, _ = built
    inputs = ["base.population", "ods.hrss_social_insurance__si_enrolment"]
    assert themes["social_security"].inputs == inputs
    rows = sum(Table.parse(name).read(spark, cfg).count() for name in inputs)
    for threshold in (rows, rows + 1):
        compiling = cfg.model_copy(update={"code_generation": True, "compile_from_rows": threshold})
        with pytest.raises(Entered):
            building.build(spark, compiling, themes["social_security"], NIGHT)
    assert evaluation_modes == [True, False]


def test_a_rerun_commits_nothing_and_a_change_merges_one_key(spark, cfg, built):
    from jobs.theme import build

    themes, first, _ = built
    table = Table.parse("theme.social_security")
    again = build(spark, cfg, themes["social_security"], NIGHT)
    assert again["mode"] == "unchanged (no commit)"
    assert again["delta_version"] == first["delta_version"] == table.version(spark, cfg)
    # D4 renamed, A1 gone: one key changes, one is deleted, in one commit (the README answers
    # below read neither).
    changed = [(p[0], "丁丁" if p[0] == "D4" else p[1], *p[2:]) for p in POPULATION]
    write_inputs(spark, cfg, [p for p in changed if p[0] != "A1"], enrolment=False)
    after = build(spark, cfg, themes["social_security"], NIGHT)
    assert (after["mode"], after["changed_keys"], after["removed_keys"]) == ("merged", 1, 1)
    assert after["delta_version"] == first["delta_version"] + 1
    now = {r["id_number"]: r["name"] for r in table.read(spark, cfg).collect()}
    assert now == {"B2": "乙", "C3": "丙", "D4": "丁丁"}


def test_a_key_that_is_not_unique_leaves_the_table_at_its_version(spark, cfg, built, tmp_path):
    from jobs.theme import build

    # A broken edit of the social_security model: one row per enrolment, not per person.
    table = Table.parse("theme.social_security")
    version = table.version(spark, cfg)
    before = sorted(r["_row_hash"] for r in table.read(spark, cfg).collect())
    sql = (
        "SELECT upper(trim(e.id_number)) AS id_number, e.status AS n\n"
        "FROM ods.hrss_social_insurance__si_enrolment AS e\n"
    )
    model(tmp_path, "social_security", sql, key="id_number")
    bad = load_themes(tmp_path, known=KNOWN)[0]
    with pytest.raises(Exception) as err:
        build(spark, cfg, bad, NIGHT)
    message = str(err.value)
    assert "theme social_security: the key (id_number) is not unique" in message
    assert "A1 (2 rows)" in message
    assert str(tmp_path / "social_security.sql") in message and "left as it was" in message
    assert table.version(spark, cfg) == version
    assert sorted(r["_row_hash"] for r in table.read(spark, cfg).collect()) == before


def test_a_model_naming_a_column_its_input_lacks_names_the_model(spark, cfg, built, tmp_path):
    from jobs.theme import build

    model(
        tmp_path,
        "wrong",
        "SELECT p.district AS division, count(*) AS n\nFROM base.population AS p\nGROUP BY 1\n",
    )
    theme = load_themes(tmp_path, known=KNOWN)[0]
    with pytest.raises(Exception, match=r"theme wrong: Spark refuses the SQL.*district"):
        build(spark, cfg, theme, NIGHT)
    assert not Table.parse("theme.wrong").exists(spark, cfg)


def readme_queries() -> dict[str, str]:
    """The analyst queries of libraries/themes/README.md by name (`<!-- query: name -->`)."""
    import re

    text = (THEMES_DIR / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- query: (\w+) -->.*?```sql\n(.*?)```", text, re.S))


def test_the_readme_documents_every_model_and_its_queries_name_real_columns():
    import sqlglot
    from sqlglot.optimizer.qualify import qualify

    readme = (THEMES_DIR / "README.md").read_text(encoding="utf-8")
    themes = load_themes()
    for theme in themes:
        assert f"theme.{theme.theme}" in readme
    queries = readme_queries()
    assert len(queries) >= 8
    schema = {"theme": {t.theme: dict.fromkeys(t.columns, "string") for t in themes}}
    for name, sql in queries.items():
        tree = sqlglot.parse_one(sql, read="spark")
        tables = {f"{t.db}.{t.name}" for t in tree.find_all(sqlglot.exp.Table)}
        assert tables and all(t.startswith("theme.") for t in tables), name
        qualify(tree, schema=schema, dialect="spark")  # raises on a column no model returns
    wrong = sqlglot.parse_one("SELECT e.nope FROM theme.enterprise_profile AS e", read="spark")
    with pytest.raises(sqlglot.errors.OptimizeError, match="nope"):
        qualify(wrong, schema=schema, dialect="spark")


def test_readme_queries_answer_on_the_tiny_inputs(spark, cfg, built):
    queries = readme_queries()
    Table.parse("theme.social_security").register(spark, cfg)
    Table.parse("theme.social_security_by_district").register(spark, cfg)

    def run(name):
        return [tuple(r) for r in spark.sql(queries[name]).collect()]

    coverage = [(d, living, enrolled, float(c)) for d, living, enrolled, c in run("coverage")]
    assert coverage == [("420703", 1, 1, 0.0), ("420702", 2, 1, 0.5)]
    assert run("after_death") == [("C3", "丙", dt.date(2020, 6, 1))]
    assert run("working_age_gap") == [("420702", 1)]


def test_project_model_files_come_in_pairs(tmp_path):
    copied = tmp_path / "themes"
    shutil.copytree(THEMES_DIR, copied)
    (copied / "social_security.sql").unlink()
    with pytest.raises(ConfigError, match="no SQL beside it"):
        load_themes(copied)


# -- column lineage and grades ----------------------------------------------------------------


def test_the_theme_task_declares_its_inputs_output_edges_and_sql():
    from govlake.tasks import all_tasks, theme_task
    from lineage.declared import theme_edges

    theme = {t.theme: t for t in load_themes()}["social_security"]
    task = theme_task(theme)
    assert (task.dag_id, task.task_id) == ("theme__social_security", "build_social_security")
    assert (task.job, task.args) == ("jobs.theme:build_theme", ("social_security",))
    assert [str(t) for t in task.inputs] == theme.inputs
    assert [str(t) for t in task.outputs] == ["theme.social_security"]
    assert list(task.edges) == theme_edges(theme) and task.sql == theme.sql
    order = [t.task_id for t in all_tasks()]
    assert order.index("build_population") < order.index("build_social_security")
    assert order.index("build_social_security") < order.index("build_social_security_by_district")


def test_column_edges_come_from_the_sql_through_ctes():
    from lineage.declared import theme_edges

    themes = {t.theme: t for t in load_themes()}
    edges = {
        (e.target_column, e.source_table, e.source_column)
        for e in theme_edges(themes["social_security"])
    }
    ods = "ods.hrss_social_insurance__si_enrolment"
    assert ("pension_status", "base.population", "social_insurance_status") in edges
    assert {c for t, s, c in edges if t == "working_age_not_enrolled"} == {
        "birth_date",
        "death_date",
        "sex",
        "insurance_type",
        "start_date",
    }
    assert ("enrolments", ods, "status") in edges
    assert not [e for e in edges if e[1] in ("enrolment", "person")], "CTEs are not tables"
    assert all(t.startswith(("base.", "ods.")) for _, t, _ in edges)


def test_lineage_reaches_the_department_column_from_a_theme_column():
    from lineage.query import upstream

    walked = {
        (e.source_table, e.source_column)
        for e in upstream("theme.person_profile", "pension_status")
    }
    assert ("base.population", "social_insurance_status") in walked
    assert ("system:hrss_social_insurance.si_enrolment", "status") in walked


def review_grades(themes_dir: Path, monkeypatch):
    """Findings and inherited grades of the catalog with the models of `themes_dir`."""
    from govlake.catalog import load_catalog, load_rules, validate_catalog
    from govlake.catalog.grades import GradeScheme
    from govlake.catalog.review import Review
    from govlake.catalog.schemas import declared_lakehouse

    monkeypatch.setenv("GOVLAKE_THEMES_DIR", str(themes_dir))
    rules = load_rules()
    review = Review(load_catalog(), rules, declared_lakehouse(), GradeScheme(rules.grades))
    return validate_catalog(), review.inherited


def test_a_theme_column_inherits_the_strictest_grade_of_its_sources(tmp_path, monkeypatch):
    findings, inherited = review_grades(THEMES_DIR, monkeypatch)
    assert findings == []
    # Catalog grades of the ods columns: csrq L3, xzqh L2, id columns L4 (conf/catalog/).
    assert inherited[("theme.social_security", "id_number")].grade == "L4"
    assert inherited[("theme.social_security", "division")].grade == "L2"
    working = inherited[("theme.social_security", "working_age_not_enrolled")]
    assert working.grade == "L3" and "ods.psb_hukou__hj_resident.csrq" in working.sources
    assert inherited[("theme.person_profile", "marriages")].grade == "L4"


def themes_without_a_grade_reason(tmp_path):
    """A copy of the shipped models where the per-district count declares its looser grade
    without the written reason the review asks for."""
    copied = tmp_path / "themes"
    shutil.copytree(THEMES_DIR, copied)
    path = copied / "social_security_by_district.yaml"
    text = path.read_text(encoding="utf-8")
    reason = "    grade_reason: a count per district names nobody\n"
    start = text.index("  working_age_not_enrolled:")
    path.write_text(text[:start] + text[start:].replace(reason, "", 1), encoding="utf-8")
    return copied


def test_a_looser_grade_needs_a_written_reason(tmp_path, monkeypatch):
    copied = themes_without_a_grade_reason(tmp_path)
    findings, inherited = review_grades(copied, monkeypatch)
    assert (
        inherited[("theme.social_security_by_district", "working_age_not_enrolled")].grade == "L3"
    )
    assert [(f.entry, f.field) for f in findings] == [
        ("social_security_by_district", "items[4].grade (working_age_not_enrolled)")
    ]
    assert (
        "declares L2, looser than L3" in findings[0].rule and "without a reason" in findings[0].rule
    )
    assert "grade_reason" in findings[0].fix


def test_a_looser_grade_than_a_drafts_stand_in_is_its_departments_work(tmp_path, monkeypatch):
    """Issue 20 item 9: a draft's items stand at the strictest grade until its department
    confirms them. A theme grade looser than that stand-in alone is listed as draft work and
    does not stop the theme's build; the stricter grade is still the inherited one."""
    from govlake.catalog import assert_publishable
    from govlake.catalog.review import blocking
    from govlake.settings import PROJECT_ROOT

    copied = themes_without_a_grade_reason(tmp_path)
    catalog = tmp_path / "catalog"
    shutil.copytree(PROJECT_ROOT / "conf" / "catalog", catalog)
    # The two sources whose columns give working_age_not_enrolled its L3, as drafts.
    for name in ("psb_hukou__hj_resident", "nhc_vital__death"):
        entry = catalog / f"{name}.yaml"
        entry.write_text("status: draft\n" + entry.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(catalog))
    findings, inherited = review_grades(copied, monkeypatch)
    working = ("theme.social_security_by_district", "working_age_not_enrolled")
    assert inherited[working].grade == "L3"
    assert [(f.entry, f.draft) for f in findings] == [
        ("nhc_vital__death", True),
        ("psb_hukou__hj_resident", True),
        ("social_security_by_district", True),
    ]
    assert not blocking(findings) and "草稿" in findings[2].rule
    assert_publishable("theme.social_security_by_district")


def test_a_reasoned_looser_grade_is_what_downstream_columns_inherit():
    from govlake.catalog import load_rules
    from govlake.catalog.grades import GradeScheme, inherit
    from lineage.declared import ColumnEdge

    scheme = GradeScheme(load_rules().grades)
    edges = [
        ColumnEdge("theme.agg", "n", "ods.x", "secret", "count"),
        ColumnEdge("theme.report", "n", "theme.agg", "n", "copy"),
    ]
    declared = {("ods.x", "secret"): "L4", ("theme.agg", "n"): "L2"}
    strict = inherit(scheme, declared, edges)
    assert strict[("theme.report", "n")].grade == "L4", "without a reason: 就高从严"
    reasoned = inherit(scheme, declared, edges, fixed={("theme.agg", "n"): "L2"})
    assert reasoned[("theme.report", "n")].grade == "L2"
    assert reasoned[("theme.agg", "n")].grade == "L4", "the review still sees what it counts"


def test_a_broken_model_is_a_review_finding_not_a_stop_for_the_libraries(tmp_path, monkeypatch):
    from govlake.catalog import assert_publishable, validate_catalog
    from lineage.query import declared_edges

    copied = tmp_path / "themes"
    shutil.copytree(THEMES_DIR, copied)
    path = copied / "social_security.sql"
    path.write_text(path.read_text().replace("base.population", "base.populaton"))
    monkeypatch.setenv("GOVLAKE_THEMES_DIR", str(copied))
    findings = validate_catalog()
    models = [f for f in findings if f.entry == "libraries/themes"]
    assert len(models) == 1 and "unknown table base.populaton" in models[0].rule
    assert_publishable("base.population")  # the libraries are still published
    with pytest.raises(Exception, match="not published"):
        assert_publishable("theme.social_security")
    assert {e.target_table for e in declared_edges()} >= {"base.population"}


def test_a_certificate_without_a_holder_is_left_out_of_the_holders(spark, cfg, built):
    """The 10k demo has certificates without a holder: the theme keyed by holder leaves them
    out instead of refusing a NULL key (which stopped 一人一档 and 一企一档 that night)."""
    from jobs.theme import build

    themes, _, _ = built
    certificates = spark.createDataFrame(
        [
            ("C-1", "A1", "居民身份证", dt.date(2020, 1, 1), None, "有效", True),
            ("C-2", "A1", "驾驶证", dt.date(2021, 1, 1), dt.date(2027, 1, 1), "有效", True),
            ("C-3", None, "营业执照", dt.date(2022, 1, 1), None, "有效", True),
            ("C-4", "B2", "驾驶证", dt.date(2019, 1, 1), None, "注销", False),  # retired
        ],
        "certificate_id string, holder_id string, certificate_type_name string, "
        "issue_date date, valid_to date, status string, _is_current boolean",
    )
    Table.parse("base.certificate").write(certificates, "overwrite", cfg=cfg)
    result = build(spark, cfg, themes["holder_certificates"], NIGHT)
    rows = Table.parse("theme.holder_certificates").read(spark, cfg).collect()
    assert result["rows"] == 1
    assert [(r["holder_id"], [c["certificate_id"] for c in r["certificates"]]) for r in rows] == [
        ("A1", ["C-1", "C-2"])
    ]


# -- the theme's quality suite (expectations/theme/<name>.yml) ---------------------------------

SUITE = """\
name: theme.{name}
expectations:
- type: expect_column_values_to_not_be_null
  kwargs: {{column: division}}
  meta: {{policy: fail}}
- type: expect_column_values_to_be_in_set
  kwargs: {{column: division, value_set: ['420702']}}
  meta: {{policy: {policy}}}
"""


def suite_for(name: str, policy: str) -> Path:
    import os

    folder = Path(os.environ["GOVLAKE_EXPECTATIONS_DIR"]) / "theme"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(SUITE.format(name=name, policy=policy), encoding="utf-8")
    return path


def results_of(spark, cfg, table: str) -> list:
    found = Table.parse("quality.results").read_if_exists(spark, cfg)
    if found is None:
        return []
    return found.where(found.table == table).select("rule", "policy", "unexpected_count").collect()


def test_a_fail_rule_of_the_theme_suite_stops_the_build_before_anything_is_written(
    spark, cfg, built, tmp_path
):
    from jobs.quality import QualityError
    from jobs.theme import build

    model(tmp_path, "by_district", COUNT_SQL)
    theme = load_themes(tmp_path, known=KNOWN)[0]
    suite_for("by_district", "fail")
    with pytest.raises(QualityError, match="failed on 1 of 2 rows. theme.by_district was not"):
        build(spark, cfg, theme, NIGHT, "run-fail")
    assert not Table.parse("theme.by_district").exists(spark, cfg)
    failed = [r for r in results_of(spark, cfg, "theme.by_district") if r.unexpected_count]
    assert [(r.policy, r.unexpected_count) for r in failed] == [("fail", 1)]


def test_a_warn_rule_records_the_rows_and_an_unchanged_rerun_validates_nothing(
    spark, cfg, built, tmp_path
):
    from jobs.theme import build

    model(tmp_path, "by_district_warned", COUNT_SQL)
    theme = load_themes(tmp_path, known=KNOWN)[0]
    suite_for("by_district_warned", "warn")
    first = build(spark, cfg, theme, NIGHT, "run-warn")
    assert first["mode"] == "created" and first["rows"] == 2
    recorded = results_of(spark, cfg, "theme.by_district_warned")
    assert sorted((r.policy, r.unexpected_count) for r in recorded) == [("fail", 0), ("warn", 1)]
    again = build(spark, cfg, theme, NIGHT, "run-warn-again")
    assert again["mode"] == "unchanged (no commit)"
    assert len(results_of(spark, cfg, "theme.by_district_warned")) == len(recorded)


def test_a_quarantine_rule_in_a_theme_suite_is_refused_with_the_file(spark, cfg, built, tmp_path):
    from jobs.theme import build

    model(tmp_path, "by_district_held", COUNT_SQL)
    theme = load_themes(tmp_path, known=KNOWN)[0]
    path = suite_for("by_district_held", "quarantine")
    with pytest.raises(ConfigError, match="policy quarantine") as err:
        build(spark, cfg, theme, NIGHT)
    assert str(path) in str(err.value) and "use warn" in str(err.value)
    assert not Table.parse("theme.by_district_held").exists(spark, cfg)


def test_quality_init_writes_a_theme_suite_whose_key_rules_fail(spark, cfg, built):
    from jobs.quality.generate import theme_suite

    doc = theme_suite(spark, cfg, "social_security")["theme.social_security"]
    on_key = {r["type"]: r["meta"]["policy"] for r in doc["expectations"]
              if r["kwargs"].get("column") == "id_number"}  # fmt: skip
    assert on_key["expect_column_values_to_not_be_null"] == "fail"
    assert on_key["expect_column_values_to_be_unique"] == "fail"
    columns = {r["kwargs"].get("column") for r in doc["expectations"]}
    assert "enrolments" not in columns, "an array of enrolments is not profiled"


# -- per-key (incremental) builds from the change data feed ------------------------------------

INCREMENTAL_SQL = """\
WITH firms AS (
  SELECT f.legal_representative_id AS id_number, count(*) AS firms
  FROM base.firms_incr AS f
  GROUP BY f.legal_representative_id
)
SELECT p.id_number, p.name, coalesce(firms.firms, 0) AS firms
FROM base.people_incr AS p
LEFT JOIN firms ON firms.id_number = p.id_number
"""
CDF = {"delta.enableChangeDataFeed": "true"}


def incremental_model(tmp_path, name="firms_per_person", tables=("people_incr", "firms_incr")):
    """INCREMENTAL_SQL as an incremental model `name` over base.<people> and base.<firms>."""
    people, firms = (f"base.{t}" for t in tables)
    sql = INCREMENTAL_SQL.replace("base.people_incr", people).replace("base.firms_incr", firms)
    path = model(tmp_path, name, sql, "id_number", ["id_number", "name", "firms"])
    path.write_text(path.read_text("utf-8").replace("rule: full", "rule: incremental"), "utf-8")
    return load_themes(tmp_path, known={people, firms})[0]


def three_people_and_firms(spark, cfg, tables=("people_incr", "firms_incr")) -> None:
    """A1, B2, C3 and firms F1 (A1), F2 and F3 (B2), both tables with a change data feed."""
    people = spark.createDataFrame(
        [("A1", "甲", True), ("B2", "乙", True), ("C3", "丙", True)],
        "id_number string, name string, _is_current boolean",
    )
    firms = spark.createDataFrame(
        [("F1", "A1"), ("F2", "B2"), ("F3", "B2")], "uscc string, legal_representative_id string"
    )
    for table, rows in zip(tables, (people, firms), strict=True):
        Table.parse(f"base.{table}").write(rows, "overwrite", options=CDF, cfg=cfg)


def rows_of(spark, cfg, table: str) -> dict:
    return {
        r["id_number"]: (r["name"], r["firms"])
        for r in Table.parse(table).read(spark, cfg).collect()
    }


def test_key_paths_of_the_project_models():
    from govlake.theme_keys import key_paths

    themes = {t.theme: t for t in load_themes()}
    person = key_paths(themes["person_profile"])
    assert (person.driving, person.key) == ("base.population", "id_number")
    routes = {(r.input, r.values) for r in person.routes}
    assert ("ods.mca_marriage__marriage", "UPPER(TRIM(husband_id_number))") in routes
    assert ("ods.mca_marriage__marriage", "UPPER(TRIM(wife_id_number))") in routes
    assert set(person.unmapped) == {"ods.psb_hukou__hj_household"}, "joined inside a CTE"
    firm = key_paths(themes["enterprise_profile"])
    by_input = {r.input: r for r in firm.routes}
    assert by_input["base.population"].lookup == "legal_representative_id"
    assert by_input["ods.tax_credit__credit_rating"].values == "UPPER(TRIM(taxpayer_id))"
    assert by_input["base.economy"].values == "uscc"  # a year's figures change its entity's row
    assert "computed" in key_paths(themes["social_security_by_district"]).reason


def test_the_rows_two_versions_hold_a_different_number_of_times_are_each_named_once(spark):
    """An ods input's changed rows on a per-key night (jobs.theme_plan.differing): a row gone,
    a row new, a row whose copies went from two to one, NULLs compared as equal, a value moved
    into the next column beside a NULL; columns with a leading `_` (batch date) not compared."""
    from jobs.theme_plan import differing

    schema = "id string, v string, w string, _batch_date string"
    old = spark.createDataFrame(
        [
            ("a", "1", None, "d1"),
            ("a", "1", None, "d1"),
            ("b", "2", "x", "d1"),
            ("c", "3", None, "d1"),
            ("e", None, None, "d1"),
            ("f", "p", None, "d1"),
        ],
        schema,
    )
    new = spark.createDataFrame(
        [
            ("a", "1", None, "d2"),
            ("b", "2", "x", "d2"),
            ("d", "4", None, "d2"),
            ("e", None, None, "d2"),
            ("f", None, "p", "d2"),
            (None, "5", None, "d2"),
        ],
        schema,
    )
    got = sorted(tuple(r) for r in differing(old, new).fillna("-").collect())
    assert got == [
        ("-", "5", "-"),
        ("a", "1", "-"),
        ("c", "3", "-"),
        ("d", "4", "-"),
        ("f", "-", "p"),
        ("f", "p", "-"),
    ], got


def test_a_night_recomputes_only_the_keys_its_changed_rows_name(spark, cfg, built, tmp_path):
    from jobs.theme import build, result

    three_people_and_firms(spark, cfg)
    theme = incremental_model(tmp_path)
    first = build(spark, cfg, theme, NIGHT)
    assert (first["build"], first["reason"]) == ("full", "no earlier build recorded")
    assert rows_of(spark, cfg, theme.table) == {"A1": ("甲", 1), "B2": ("乙", 2), "C3": ("丙", 0)}
    price_full_dear(cfg, theme)

    again = build(spark, cfg, theme, NIGHT)
    assert (again["build"], again["mode"]) == ("unchanged", "unchanged (no commit)")

    # F3 changes hands from B2 to C3: both persons' rows change, A1's is not recomputed.
    Table.parse("base.firms_incr").delta(spark, cfg).update(
        "uscc = 'F3'", {"legal_representative_id": "'C3'"}
    )
    second = build(spark, cfg, theme, NIGHT)
    assert (
        second["build"] == "incremental" and second["reason"] == "2 keys changed by base.firms_incr"
    )
    assert (second["changed_keys"], second["removed_keys"]) == (2, 0)
    expected = {"A1": ("甲", 1), "B2": ("乙", 1), "C3": ("丙", 1)}
    assert rows_of(spark, cfg, theme.table) == expected
    full = {
        r["id_number"]: (r["name"], r["firms"]) for r in result(spark, cfg, theme, NIGHT).collect()
    }
    assert full == expected, "per key = full"

    # The driving rows: A1 renamed and C3 retired; one commit, two keys.
    people_table = Table.parse("base.people_incr").delta(spark, cfg)
    people_table.update("id_number = 'A1'", {"name": "'甲甲'"})
    people_table.update("id_number = 'C3'", {"_is_current": "false"})
    third = build(spark, cfg, theme, NIGHT)
    assert third["build"] == "incremental" and (third["changed_keys"], third["removed_keys"]) == (
        1,
        1,
    )
    assert rows_of(spark, cfg, theme.table) == {"A1": ("甲甲", 1), "B2": ("乙", 1)}

    # A department retypes a column under an unchanged model: the feed names every key again,
    # but a per-key write of a new schema would drop the other keys, so the night is full.
    retyped = spark.createDataFrame(
        [("A1", 1, True), ("B2", 2, True)], "id_number string, name int, _is_current boolean"
    )
    Table.parse("base.people_incr").write(
        retyped, "overwrite", options={**CDF, "overwriteSchema": "true"}, cfg=cfg
    )
    fourth = build(spark, cfg, theme, NIGHT)
    assert (fourth["build"], fourth["reason"]) == ("full", "the result's columns changed")
    assert fourth["mode"] == "rewritten (schema)"
    assert rows_of(spark, cfg, theme.table) == {"A1": (1, 1), "B2": (2, 1)}


def theme_runs_of(spark, cfg, table: str) -> list:
    from govlake.owned import THEME_RUNS

    runs = THEME_RUNS.table.read(spark, cfg).where(f"theme = '{table}'").orderBy("finished_at")
    return runs.collect()


def planted_run(theme: str, build: str, write: str, cpu: float) -> dict:
    """A recorded build with chosen costs: the rule's inputs fixed, so its outcome is known."""
    return {
        "run_id": f"planted-{build}", "theme": theme, "night": NIGHT, "build": build,
        "reason": "planted by the test", "write": write, "rows": 3, "changed_keys": 1,
        "removed_keys": 0, "delta_version": 0, "build_seconds": cpu, "build_cpu_seconds": cpu,
        "finished_at": dt.datetime.now(),
    }  # fmt: skip


def price_full_dear(cfg, theme) -> None:
    """Record a full build over the table as dear, so the cost rule keeps `theme` per key: the
    per-key mechanics are tested on their own (the rule itself in the test below)."""
    from govlake.lakehouse import append_without_jvm
    from govlake.owned import THEME_RUNS

    assert append_without_jvm(
        THEME_RUNS.table, [planted_run(theme.table, "full", "merged", 1e6)], cfg
    )


def test_each_build_is_recorded_and_a_dearer_per_key_night_builds_in_full(
    spark, cfg, built, tmp_path
):
    """ops.theme_runs keeps every build's mode, write, keys and cost; a changed night builds in
    full when the theme's last per-key build cost at least its last full build over the table
    (the creation, which did not diff, does not count), and per key when it cost less."""
    import os

    from govlake.lakehouse import append_without_jvm
    from govlake.owned import THEME_RUNS
    from jobs.theme import build, result
    from jobs.theme_cost import full_cheaper, past_builds

    tables = ("people_cost", "firms_cost")
    three_people_and_firms(spark, cfg, tables)
    theme = incremental_model(tmp_path, "firms_cost", tables)
    firms_table = Table.parse("base.firms_cost").delta(spark, cfg)

    build(spark, cfg, theme, NIGHT)
    firms_table.update("uscc = 'F3'", {"legal_representative_id": "'C3'"})
    second = build(spark, cfg, theme, NIGHT)
    assert second["build"] == "incremental"
    runs = theme_runs_of(spark, cfg, theme.table)
    assert [(r.build, r.write, r.rows, r.changed_keys) for r in runs] == [
        ("full", "created", 3, 3),
        ("incremental", "merged", 3, 2),
    ]
    for run in runs:
        assert 0 < run.build_cpu_seconds <= run.build_seconds * os.cpu_count() + 1.0, run
    # The phases of a build that wrote, each timed and together within the recorded wall.
    laps = second["phase_seconds"]
    assert list(laps) == ["plan", "model", "diff", "write", "summary"], laps
    assert all(seconds > 0 for seconds in laps.values()), laps
    assert sum(laps.values()) <= runs[1].build_seconds, (laps, runs[1])
    assert [b.mode for b in past_builds(cfg, theme.table)] == ["incremental"]
    # No full build over the table yet: the next changed night would build one to price it.
    assert full_cheaper(cfg, theme.table).endswith("built in full once to measure one")

    cheap = planted_run(theme.table, "full", "merged", runs[1].build_cpu_seconds / 4)
    assert append_without_jvm(THEME_RUNS.table, [cheap], cfg)
    firms_table.update("uscc = 'F1'", {"legal_representative_id": "'B2'"})
    third = build(spark, cfg, theme, NIGHT)
    assert third["build"] == "full", third
    assert third["reason"].startswith(
        "a full build is cheaper in CPU seconds: the last incremental"
    )
    expected = {"A1": ("甲", 0), "B2": ("乙", 2), "C3": ("丙", 1)}
    assert rows_of(spark, cfg, theme.table) == expected
    assert {
        r["id_number"]: (r["name"], r["firms"]) for r in result(spark, cfg, theme, NIGHT).collect()
    } == expected

    # The real full build just recorded is now the full figure; a cheaper per-key one wins.
    assert append_without_jvm(
        THEME_RUNS.table, [planted_run(theme.table, "incremental", "merged", 0.001)], cfg
    )
    firms_table.update("uscc = 'F2'", {"legal_representative_id": "'A1'"})
    fourth = build(spark, cfg, theme, NIGHT)
    assert (fourth["build"], fourth["changed_keys"]) == ("incremental", 2), fourth
    assert rows_of(spark, cfg, theme.table) == {"A1": ("甲", 1), "B2": ("乙", 1), "C3": ("丙", 1)}


def test_a_changed_input_without_a_route_makes_the_night_full(tmp_path):
    from govlake.theme_keys import KeyPaths
    from jobs.theme_plan import why_full, why_not_unchanged

    theme = incremental_model(tmp_path)
    paths = KeyPaths(
        driving="base.people_incr",
        key="id_number",
        unmapped={"base.firms_incr": "joined inside a CTE"},
    )
    assert why_full(theme, paths, ["base.people_incr"]) is None
    assert (
        why_full(theme, paths, ["base.firms_incr"])
        == "base.firms_incr changed, and joined inside a CTE"
    )
    state = {"model": "m", "night": None, "inputs": {"base.people_incr": 3, "ods.x__y": None}}
    assert "read in place (logical)" in why_not_unchanged({**state}, state)
    assert (
        why_not_unchanged({**state, "model": "n"}, state)
        == "the model changed since the last build"
    )


# -- a current_date() model on a new night: only the keys its date expressions move -----------

NEXT = dt.date(2026, 11, 27)


def copy_model(folder: Path, shipped: str, name: str, tables: dict[str, str]) -> Path:
    """A shipped model under another name, reading `tables` (old -> new name) instead."""
    sql = (THEMES_DIR / f"{shipped}.sql").read_text(encoding="utf-8")
    for old, new in tables.items():
        sql = sql.replace(old, new)
    (folder / f"{name}.sql").write_text(sql, encoding="utf-8")
    meta = (THEMES_DIR / f"{shipped}.yaml").read_text(encoding="utf-8")
    path = folder / f"{name}.yaml"
    path.write_text(meta.replace(f"theme: {shipped}\n", f"theme: {name}\n", 1), encoding="utf-8")
    return path


def test_the_date_expressions_of_the_project_models():
    from govlake.theme_dates import date_tests
    from govlake.theme_keys import key_paths

    themes = {t.theme: t for t in load_themes()}

    def tests_of(name):
        found = date_tests(themes[name], key_paths(themes[name]))
        assert found.reason is None, found.reason
        return {(t.input or t.source, t.expression.sql("spark")) for t in found.tests}

    age = "FLOOR(MONTHS_BETWEEN(CURRENT_DATE, TRY_CAST(birth_date AS DATE)) / 12)"
    assert tests_of("social_security") == {("base.population", age)}
    credit = tests_of("credit")
    valid = "TRY_CAST(valid_until AS DATE) >= CURRENT_DATE"
    assert ("ods.ndrc_credit_list__red_black_list", valid) in credit
    assert {t for t, _ in credit} == {
        "ods.ndrc_sgs__admin_penalty",
        "ods.ndrc_credit_list__red_black_list",
    }
    assert ("ods.ndrc_sgs__admin_penalty", "TRY_CAST(decision_date AS DATE) > "
            "ADD_MONTHS(CURRENT_DATE, -36)") in credit  # fmt: skip
    # A max per enterprise (a CTE's aggregate) is tested on the CTE's rows, joined by uscc.
    [(source, expression)] = tests_of("emergency")
    assert source == "inspections" and expression.startswith("inspections.last_inspection_date >")


@pytest.mark.parametrize(
    ("select", "why"),
    [
        ("datediff(current_date(), p.birth_date) > f.days", "reads columns of base.firms_dated "
         "and base.people_dated"),
        ("max(p.birth_date) OVER () < current_date()", "compares an aggregate or a window"),
        ("current_date() > DATE'2026-01-01'", "reads no column"),
    ],
)  # fmt: skip
def test_a_date_expression_that_names_no_one_inputs_rows_is_a_reason(tmp_path, select, why):
    from govlake.theme_dates import date_tests
    from govlake.theme_keys import KeyPaths, Route

    sql = (
        f"SELECT p.id_number, {select} AS n\nFROM base.people_dated AS p\n"
        "LEFT JOIN base.firms_dated AS f ON f.legal_representative_id = p.id_number\n"
    )
    model(tmp_path, "mixed", sql, "id_number")
    theme = load_themes(tmp_path, known={"base.people_dated", "base.firms_dated"})[0]
    paths = KeyPaths(
        driving="base.people_dated",
        key="id_number",
        routes=[Route("base.firms_dated", "legal_representative_id")],
    )
    reason = date_tests(theme, paths).reason
    assert reason.startswith(f"{tmp_path / 'mixed.sql'}: `") and why in reason, reason


def test_a_date_expression_over_an_input_without_a_route_is_a_reason(tmp_path):
    from govlake.theme_dates import date_tests
    from govlake.theme_keys import key_paths

    # The firms are joined inside a CTE to the persons: no route, so their date cannot be
    # traced; the persons' own date can.
    sql = (
        "WITH owned AS (\n  SELECT q.id_number, max(f.registered_on) AS since\n"
        "  FROM base.people_dated AS q\n"
        "  JOIN base.firms_dated AS f ON f.legal_representative_id = q.id_number\n"
        "  GROUP BY q.id_number\n)\n"
        "SELECT p.id_number, p.birth_date < add_months(current_date(), -720) AS n\n"
        "FROM base.people_dated AS p\nLEFT JOIN owned ON owned.id_number = p.id_number\n"
    )
    model(tmp_path, "unrouted", sql, "id_number")
    theme = load_themes(tmp_path, known={"base.people_dated", "base.firms_dated"})[0]
    found = date_tests(theme, key_paths(theme))
    assert found.reason is None
    assert [(t.input, t.expression.sql("spark")) for t in found.tests] == [
        ("base.people_dated", "birth_date < ADD_MONTHS(CURRENT_DATE, -720)")
    ]
    on_firms = sql.replace("max(f.registered_on)", "max(f.registered_on <= current_date())")
    model(tmp_path, "unrouted", on_firms, "id_number")
    theme = load_themes(tmp_path, known={"base.people_dated", "base.firms_dated"})[0]
    reason = date_tests(theme, key_paths(theme)).reason
    assert reason == (
        f"{tmp_path / 'unrouted.sql'}: `f.registered_on <= CURRENT_DATE` is over "
        "base.firms_dated, which its rows reach the theme's rows only through other rows (a "
        "join inside a CTE, or a condition other than one equality with the driving rows)"
    )


DATED_PEOPLE = [
    # id, name, sex, birth, division, death, pension status, current
    ("A0", "甲", "1", dt.date(1966, 11, 27), "420702", None, None, True),  # 60 on NEXT
    ("B0", "乙", "2", dt.date(1990, 1, 1), "420702", None, None, True),
    ("C0", "丙", "1", dt.date(1950, 3, 3), "420703", None, "1", True),
    ("D0", "丁", "1", None, "420703", None, None, True),  # no age on any night
]


def full_build_equals(spark, cfg, folder: Path, theme, night, tables) -> None:
    """The theme's table equals a full build of `night` of the same model under another name
    (a first build: no plan, no per-key merge), every row and column."""
    from jobs.theme import build
    from tests.frames import assert_frames_equal

    name = f"{theme.theme}_full_{night:%Y%m%d}"
    copy = folder / "full"
    copy.mkdir(exist_ok=True)
    (copy / f"{name}.sql").write_text(theme.sql, encoding="utf-8")
    yaml = theme.file_path.read_text(encoding="utf-8")
    yaml = yaml.replace(f"theme: {theme.theme}\n", f"theme: {name}\n", 1)
    (copy / f"{name}.yaml").write_text(yaml, encoding="utf-8")
    [copied] = [t for t in load_themes(copy, known=tables) if t.theme == name]
    full = build(spark, cfg, copied, night)
    assert full["build"] == "full" and full["mode"] == "created"
    incremental = Table.parse(theme.table).read(spark, cfg)
    assert_frames_equal(incremental, Table.parse(f"theme.{name}").read(spark, cfg))


def test_a_birthday_between_two_nights_recomputes_that_persons_key_only(
    spark, cfg, built, tmp_path
):
    """social_security's SQL over tiny persons: A0 turns 60 on NEXT (leaves working age), E0
    turns 16 the night after (enters it); each new night recomputes those keys only, and the
    table equals a full build of that night."""
    from jobs.theme import build

    people = [*DATED_PEOPLE, ("E0", "戊", "2", dt.date(2010, 11, 28), "420703", None, None, True)]
    schema = (
        "id_number string, name string, sex string, birth_date date, division string, "
        "death_date date, social_insurance_status string, _is_current boolean"
    )
    dated = Table.parse("base.people_dated")
    dated.write(spark.createDataFrame(people, schema), "overwrite", options=CDF, cfg=cfg)
    tables = {"base.people_dated", "ods.hrss_social_insurance__si_enrolment"}
    copy_model(tmp_path, "social_security", "ages_dated", {"base.population": "base.people_dated"})
    theme = load_themes(tmp_path, known=tables)[0]
    assert build(spark, cfg, theme, NIGHT)["build"] == "full"
    price_full_dear(cfg, theme)

    def working_age():
        rows = Table.parse(theme.table).read(spark, cfg).collect()
        return {r["id_number"]: (r["age"], r["working_age_not_enrolled"]) for r in rows}

    assert working_age()["A0"] == (59, True)
    second = build(spark, cfg, theme, NEXT)
    assert (second["build"], second["reason"]) == (
        "incremental",
        "1 keys whose date expressions change between 2026-11-26 and 2026-11-27",
    )
    assert (second["mode"], second["changed_keys"], second["removed_keys"]) == ("merged", 1, 0)
    assert working_age()["A0"] == (60, False)
    full_build_equals(spark, cfg, tmp_path, theme, NEXT, tables)
    again = build(spark, cfg, theme, NEXT)
    assert (again["build"], again["delta_version"]) == ("unchanged", second["delta_version"])

    # The night after: B0 renamed (a changed row) and E0 turns 16: two keys, both counted.
    dated.delta(spark, cfg).update("id_number = 'B0'", {"name": "'乙乙'"})
    third_night = NEXT + dt.timedelta(days=1)
    third = build(spark, cfg, theme, third_night)
    assert (third["build"], third["changed_keys"]) == ("incremental", 2)
    assert third["reason"] == (
        "2 keys (1 from changed rows of base.people_dated, 1 whose date expressions change "
        "between 2026-11-27 and 2026-11-28)"
    )
    assert working_age()["E0"] == (16, True)
    full_build_equals(spark, cfg, tmp_path, theme, third_night, tables)
    # A night that moves no age and no input: nothing is computed, nothing committed.
    quiet = build(spark, cfg, theme, third_night + dt.timedelta(days=1))
    assert (quiet["build"], quiet["delta_version"]) == ("unchanged", third["delta_version"])
    assert quiet["reason"] == (
        "no input changed and no date expression changes between 2026-11-28 and 2026-11-29"
    )


def test_a_date_expression_over_two_tables_makes_a_new_night_full(spark, cfg, built, tmp_path):
    from jobs.theme import build

    people = spark.createDataFrame(
        [("A1", dt.date(2000, 1, 1), True), ("B2", dt.date(2001, 1, 1), True)],
        "id_number string, birth_date date, _is_current boolean",
    )
    # A1 is 9,826 days old on NIGHT: n turns true on NEXT, so that night commits its state.
    firms = spark.createDataFrame([("A1", 9826)], "legal_representative_id string, days int")
    Table.parse("base.people_mixed").write(people, "overwrite", options=CDF, cfg=cfg)
    Table.parse("base.firms_mixed").write(firms, "overwrite", options=CDF, cfg=cfg)
    sql = (
        "SELECT p.id_number, datediff(current_date(), p.birth_date) > f.days AS n\n"
        "FROM base.people_mixed AS p\n"
        "LEFT JOIN base.firms_mixed AS f ON f.legal_representative_id = p.id_number\n"
    )
    path = model(tmp_path, "mixed_dates", sql, "id_number")
    path.write_text(path.read_text("utf-8").replace("rule: full", "rule: incremental"), "utf-8")
    theme = load_themes(tmp_path, known={"base.people_mixed", "base.firms_mixed"})[0]
    assert build(spark, cfg, theme, NIGHT)["build"] == "full"
    second = build(spark, cfg, theme, NEXT)
    assert (second["build"], second["changed_keys"]) == ("full", 1)
    assert second["reason"] == (
        "the date expressions cannot be traced to keys between 2026-11-26 and 2026-11-27: "
        f"{tmp_path / 'mixed_dates.sql'}: "
        "`DATEDIFF(CURRENT_DATE, p.birth_date) > f.days` reads columns of base.firms_mixed and "
        "base.people_mixed: a moved value cannot be traced to one input's rows (compute the "
        "date expression over one table, in a CTE)"
    )
    again = build(spark, cfg, theme, NEXT)
    assert (again["build"], again["reason"]) == (
        "unchanged",
        "no input changed since the last build",
    )


SCOPED_SQL = """\
WITH firms AS (
  SELECT upper(f.legal_representative_id) AS id_number, count(*) AS firms
  FROM base.firms_incr AS f
  GROUP BY upper(f.legal_representative_id)
),
everyone AS (
  SELECT count(*) AS registered FROM base.registry AS r
)
SELECT p.id_number, p.name, coalesce(firms.firms, 0) AS firms, h.address,
  m1.wife AS wife, m2.husband AS husband, everyone.registered
FROM base.people_incr AS p
LEFT JOIN firms ON firms.id_number = p.id_number
LEFT JOIN base.households AS h ON h.household_id = p.household_id
LEFT JOIN base.marriages AS m1 ON m1.husband = p.id_number
LEFT JOIN base.marriages AS m2 ON m2.wife = p.id_number
CROSS JOIN everyone
"""


def test_a_per_key_night_reads_only_the_rows_that_name_its_keys(spark, tmp_path):
    """Each input read by the driving role or by routes keeps the rows naming a planned key (a
    looked-up household by its people's keys, a marriage by either spouse); one read another
    way (the registry, counted whole) keeps every row; the model gives the planned keys the
    rows it gives them over whole inputs."""
    from jobs.theme import bound_sql, view_name
    from jobs.theme_plan import scoped_to_keys

    tables = ["people_incr", "firms_incr", "households", "marriages", "registry"]
    columns = ["id_number", "name", "firms", "address", "wife", "husband", "registered"]
    path = model(tmp_path, "scoped", SCOPED_SQL, "id_number", columns)
    path.write_text(path.read_text("utf-8").replace("rule: full", "rule: incremental"), "utf-8")
    theme = load_themes(tmp_path, known={f"base.{t}" for t in tables})[0]
    frames = {
        "base.people_incr": spark.createDataFrame(
            [("A1", "甲", "H1"), ("B2", "乙", "H2"), ("C3", "丙", "H1"), ("D4", "丁", None)],
            "id_number string, name string, household_id string",
        ),
        "base.firms_incr": spark.createDataFrame(
            [("F1", "a1"), ("F2", "B2"), ("F3", "b2"), ("F4", None)],
            "uscc string, legal_representative_id string",
        ),
        "base.households": spark.createDataFrame(
            [("H1", "江滨路1号"), ("H2", "古楼街2号"), ("H3", "凤凰路3号")],
            "household_id string, address string",
        ),
        "base.marriages": spark.createDataFrame(
            [("A1", "C3"), ("B2", "X9"), ("Y8", "Z7"), ("Q5", "D4")], "husband string, wife string"
        ),
        "base.registry": spark.createDataFrame([(1,), (2,), (3,), (4,), (5,)], "n int"),
    }
    keys = spark.createDataFrame([("A1",), ("D4",)], "_key string")

    scoped = scoped_to_keys(theme, frames, keys)

    def rows(frame) -> set:
        return {tuple(r) for r in frame.collect()}

    assert rows(scoped["base.people_incr"]) == {("A1", "甲", "H1"), ("D4", "丁", None)}
    assert rows(scoped["base.firms_incr"]) == {("F1", "a1")}
    assert rows(scoped["base.households"]) == {("H1", "江滨路1号")}
    assert rows(scoped["base.marriages"]) == {("A1", "C3"), ("Q5", "D4")}, "as husband or wife"
    assert scoped["base.registry"] is frames["base.registry"], "read whole: counted, no route"

    def answer(inputs: dict) -> set:
        for table, frame in inputs.items():
            frame.createOrReplaceTempView(view_name(table))
        got = spark.sql(bound_sql(theme, theme.parsed.tree, NIGHT))
        return {tuple(r) for r in got.collect() if r["id_number"] in ("A1", "D4")}

    expected = {("A1", "甲", 1, "江滨路1号", "C3", None, 5), ("D4", "丁", 0, None, None, "Q5", 5)}
    assert answer(frames) == expected
    assert answer(scoped) == expected
