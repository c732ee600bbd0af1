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
    path = model(tmp_path, "broken", "SELECT p.division, count(*) AS n\nFROM base.population AS p\nGROUP BY (\n")
    with pytest.raises(ConfigError) as err:
        load_theme(path)
    message = str(err.value)
    assert str(tmp_path / "broken.sql") in message and "line 3" in message
    assert "syntax error" in message


def test_an_unknown_table_is_refused_with_line_and_a_fix(tmp_path):
    sql = "SELECT p.division, count(*) AS n\nFROM base.population AS p\nJOIN base.populaton AS q\n  ON q.division = p.division\nGROUP BY p.division\n"
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
    sql = "WITH p AS (SELECT * FROM base.population)\nSELECT p.division, count(*) AS n FROM p GROUP BY p.division"
    model(tmp_path, "cte", sql)
    assert load_theme(tmp_path / "cte.yaml").inputs == ["base.population"]


def test_models_reading_each_other_in_a_cycle_are_refused(tmp_path):
    model(tmp_path, "a", "SELECT b.division, b.n\nFROM theme.b AS b\n")
    model(tmp_path, "b", "SELECT a.division,\n  a.n\nFROM theme.a AS a\n")
    with pytest.raises(ConfigError) as err:
        load_themes(tmp_path, known=KNOWN)
    message = str(err.value)
    assert "cycle" in message and "theme.a" in message and "theme.b" in message
    assert "line" in message and "Fix:" in message


def test_the_yaml_describes_exactly_the_sql_columns_and_a_reason_needs_a_grade(tmp_path):
    path = model(tmp_path, "short", COUNT_SQL, columns=["division"])
    with pytest.raises(ConfigError, match=r"columns \['n'\] of the SQL have no description"):
        load_theme(path)
    model(tmp_path, "star", "SELECT * FROM base.population AS p", columns=["division"])
    with pytest.raises(ConfigError, match="selects '\\*'"):
        load_theme(tmp_path / "star.yaml")
    path = model(tmp_path, "reason", COUNT_SQL)
    text = path.read_text().replace("  n: {description: n}", "  n: {description: n, grade_reason: x}")
    path.write_text(text)
    with pytest.raises(ConfigError, match="field 'columns.n': grade_reason is given without a grade"):
        load_theme(path)


# -- builds on tiny inline tables -------------------------------------------------------------

TODAY = dt.date.today()
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


def write_inputs(spark, cfg, population=POPULATION) -> None:
    base = spark.createDataFrame(
        population,
        "id_number string, name string, sex string, birth_date date, division string, "
        "death_date date, social_insurance_status string, _is_current boolean",
    )
    Table.parse("base.population").write(base, "overwrite", cfg=cfg)
    ods = spark.createDataFrame(
        [(i, p, "n", t, None, s, d, m, b) for i, p, t, s, d, m, b in ENROLMENT],
        "enrol_id long, id_number string, name string, insurance_type string, "
        "unit_uscc string, status string, start_date string, last_modified string, "
        "_batch_date date",
    )
    Table.parse("ods.hrss_social_insurance__si_enrolment").write(ods, "overwrite", cfg=cfg)


@pytest.fixture(scope="module")
def built(spark, cfg):
    from jobs.theme import build

    write_inputs(spark, cfg)
    themes = {t.theme: t for t in load_themes()}
    first = build(spark, cfg, themes["social_security"])
    district = build(spark, cfg, themes["social_security_by_district"])
    return themes, first, district


def test_social_security_rows_on_tiny_inputs(spark, cfg, built):
    _, first, _ = built
    assert first["mode"] == "created" and first["rows"] == 4
    rows = {r["id_number"]: r for r in Table.parse("theme.social_security").read(spark, cfg).collect()}
    assert set(rows) == {"A1", "B2", "C3", "D4"}, "current persons only"
    a1 = rows["A1"]
    # The newest version of enrolment 1 (status 1), and the id written the department's way.
    assert [(e["insurance_type"], e["status"]) for e in a1["enrolments"]] == [("110", "1"), ("310", "1")]
    assert a1["pension_enrolled"] and not a1["working_age_not_enrolled"]
    assert rows["B2"]["working_age_not_enrolled"] and not rows["B2"]["pension_enrolled"]
    assert rows["C3"]["enrolled_after_death"] and not rows["C3"]["working_age_not_enrolled"]
    assert not rows["D4"]["working_age_not_enrolled"], "a child is not of working age"
    assert rows["D4"]["enrolments"] == []


def test_the_district_aggregate_on_the_theme(spark, cfg, built):
    rows = Table.parse("theme.social_security_by_district").read(spark, cfg).collect()
    got = {
        r["division"]: (r["persons"], r["living"], r["pension_enrolled"], r["working_age_not_enrolled"], r["enrolled_after_death"])
        for r in rows
    }
    assert got == {"420702": (2, 2, 1, 1, 0), "420703": (2, 1, 1, 0, 1)}
    assert {r["division"]: float(r["pension_coverage"]) for r in rows} == {"420702": 0.5, "420703": 0.0}


def test_a_rerun_commits_nothing_and_a_change_merges_one_key(spark, cfg, built):
    from jobs.theme import build

    themes, first, _ = built
    table = Table.parse("theme.social_security")
    again = build(spark, cfg, themes["social_security"])
    assert again["mode"] == "unchanged (no commit)"
    assert again["delta_version"] == first["delta_version"] == table.version(spark, cfg)
    changed = [(*p[:5], dt.date(2025, 1, 1) if p[0] == "B2" else p[5], *p[6:]) for p in POPULATION]
    write_inputs(spark, cfg, changed)
    after = build(spark, cfg, themes["social_security"])
    assert (after["mode"], after["changed_keys"], after["removed_keys"]) == ("merged", 1, 0)
    assert after["delta_version"] == first["delta_version"] + 1
    b2 = table.read(spark, cfg).where("id_number = 'B2'").first()
    assert b2["death_date"] == dt.date(2025, 1, 1) and not b2["working_age_not_enrolled"]
    write_inputs(spark, cfg)  # back to the module's inputs


def test_a_key_that_is_not_unique_leaves_the_table_at_its_version(spark, cfg, built, tmp_path):
    from jobs.theme import build

    known = KNOWN | {"theme.social_security"}
    model(tmp_path, "by_sex", "SELECT p.sex AS division, count(*) AS n\nFROM base.population AS p\nGROUP BY p.sex\n")
    good = load_themes(tmp_path, known=known)[0]
    build(spark, cfg, good)
    table = Table.parse("theme.by_sex")
    version = table.version(spark, cfg)
    model(tmp_path, "by_sex", "SELECT p.sex AS division, 1 AS n\nFROM base.population AS p\n")
    bad = load_themes(tmp_path, known=known)[0]
    with pytest.raises(Exception) as err:
        build(spark, cfg, bad)
    message = str(err.value)
    assert "theme by_sex: the key (division) is not unique" in message
    assert str(tmp_path / "by_sex.sql") in message and "left as it was" in message
    assert table.version(spark, cfg) == version
    assert sorted(r["n"] for r in table.read(spark, cfg).collect()) == [2, 2]


def test_a_model_naming_a_column_its_input_lacks_names_the_model(spark, cfg, built, tmp_path):
    from jobs.theme import build

    model(tmp_path, "wrong", "SELECT p.district AS division, count(*) AS n\nFROM base.population AS p\nGROUP BY 1\n")
    theme = load_themes(tmp_path, known=KNOWN)[0]
    with pytest.raises(Exception, match=r"theme wrong: Spark refuses the SQL.*district"):
        build(spark, cfg, theme)
    assert not Table.parse("theme.wrong").exists(spark, cfg)


def test_the_readme_documents_every_model():
    readme = (THEMES_DIR / "README.md").read_text(encoding="utf-8")
    for theme in load_themes():
        assert f"theme.{theme.theme}" in readme


def test_project_model_files_come_in_pairs(tmp_path):
    copied = tmp_path / "themes"
    shutil.copytree(THEMES_DIR, copied)
    (copied / "social_security.sql").unlink()
    with pytest.raises(ConfigError, match="no SQL beside it"):
        load_themes(copied)
