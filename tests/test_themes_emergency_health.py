"""The emergency and health themes (issue 13) on a generated sample, against generator truth.

A sample is generated without defects into the module's sources folder; its `.xls` (市应急管理局)
and CSV (市卫健委) files are read by the project's readers and the household register from its
SQLite file into ods; base.population and base.legal_entity are written from the generator's
own persons and entities (the libraries' build is tested elsewhere). The four models are built
by jobs.theme.build, and the README's queries are compared with what the generator knows
(govlake/sample/truth_emergency_health.py), never with the output of the models.

The same sample then serves 一人一档 and 一企一档 (with the credit themes and the certificate
holders they read): the README's dossier queries are compared with
govlake/sample/truth_profiles.py, on a sample whose only defect is a few representatives'
identity numbers broken in the 市市场监管局 register (RATES), and with more legal entities than
the default so that representatives hold several.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sqlite3
from collections import Counter

import pytest

from govlake.lakehouse import Table
from govlake.sample.sources_entities import REGISTRATION
from govlake.sample.truth_profiles import REP_DEFECT
from govlake.themes import load_themes

NIGHT = dt.date(2026, 11, 26)
PERSONS = 2000
MODELS = ("emergency", "emergency_vulnerable_by_district", "health", "health_by_district_month")


def write_ods(spark, cfg, table: str, columns: list[str], rows: list) -> None:
    from pyspark.sql import functions as F

    schema = ", ".join(f"`{c}` string" for c in columns)
    df = spark.createDataFrame(rows, schema).withColumn("_batch_date", F.lit(NIGHT))
    Table.parse(table).write(df, "overwrite", cfg=cfg)


def file_table(spark, cfg, system: str, table: str) -> None:
    """A delivered file read by the project's reader; accepted rows as they would land."""
    from govlake.sources import get_table
    from jobs.readers import csv_records_of, resolve_file, xls_rows, xlsx_rows

    source, spec = get_table(system, table)
    item = resolve_file(source, spec, NIGHT, cfg)
    reader = {"xls": xls_rows, "xlsx": xlsx_rows}.get(spec.format, csv_records_of)
    columns, rows = reader(item)
    kept = [r[: len(columns)] for r in rows if r[-2] is None and r[-1] is None]
    if table == "enterprise":
        kept += untidy(columns, kept[0])
    write_ods(spark, cfg, source.ods_table(spec), columns, kept)


def untidy(columns: list[str], row: tuple) -> list[tuple]:
    """Rows a department delivers besides the clean one: an exact copy, the USCC lower-cased and
    padded under an older name and update date, and a row without a USCC."""
    at = {c: i for i, c in enumerate(columns)}
    older = list(row)
    older[at["uscc"]] = f" {row[at['uscc']].lower()} "
    older[at["enterprise_name"]] = "旧名称化工厂"
    older[at["updated"]] = "2001-01-01"
    nameless = list(row)
    nameless[at["uscc"]] = None
    return [tuple(row), tuple(older), tuple(nameless)]


def bases(spark, cfg, world, tables) -> None:
    """base.population as the generator made it (all current), base.legal_entity from the
    市市场监管局 register as delivered (identifiers upper-cased and trimmed, as the library
    states them: a broken representative's number stays broken), and base.certificate from the
    generator's certificates (a code upper-cased, as the library states it)."""

    pop, homes = world.pop, world.pop.households
    spec, rows = tables["death"]
    died = {r[spec.col("身份证号")]: dt.date.fromisoformat(r[spec.col("死亡日期")]) for r in rows}
    people = [
        (
            pop.sfzh[i],
            pop.name[i],
            pop.sex[i],
            dt.date.fromordinal(pop.birth[i]),
            pop.mz[i],
            homes.xzqh[pop.household[i]],
            homes.address[pop.household[i]],
            None,
            died.get(pop.sfzh[i]),
            None,
            True,
        )
        for i in range(len(pop))
    ]
    schema = (
        "id_number string, name string, sex string, birth_date date, ethnicity string, "
        "division string, household_address string, marital_status string, death_date date, "
        "social_insurance_status string, _is_current boolean"
    )
    Table.parse("base.population").write(
        spark.createDataFrame(people, schema), "overwrite", cfg=cfg
    )
    with sqlite3.connect(cfg.sources_root / REGISTRATION.path) as con:
        register = con.execute(
            "SELECT upper(trim(tyshxydm)), qymc, qylx, jyzt, clrq, CAST(zczb AS TEXT), zs, jyfw,"
            " fddbr, upper(trim(fddbr_zjhm)), NULL, 1 FROM qy_jbxx"
        ).fetchall()
    schema = (
        "uscc string, name string, entity_type string, status string, "
        "establishment_date string, registered_capital string, address string, "
        "business_scope string, legal_representative string, legal_representative_id string, "
        "tax_credit_rating string, _is_current boolean"
    )
    register = [(*r[:-1], bool(r[-1])) for r in register]
    Table.parse("base.legal_entity").write(
        spark.createDataFrame(register, schema), "overwrite", cfg=cfg
    )
    spec, rows = tables["certificate"]
    at = {c: spec.col(c) for c in spec.columns}
    certificates = [
        (
            r[at["certificate_id"]],
            r[at["cert_type_name"]],
            r[at["holder_id"]],
            r[at["issue_date"]],
            r[at["valid_to"]],
            r[at["status"]].upper(),
            True,
        )
        for r in rows
    ]
    schema = (
        "certificate_id string, certificate_type_name string, holder_id string, "
        "issue_date string, valid_to string, status string, _is_current boolean"
    )
    Table.parse("base.certificate").write(
        spark.createDataFrame(certificates, schema), "overwrite", cfg=cfg
    )


# The only defect of the sample: a few representatives' identity numbers broken in the
# 市市场监管局 register, so that reps_outside_population has an answer to check.
RATES = {"samr_enterprise.qy_jbxx": {REP_DEFECT: 0.01}}


@pytest.fixture(scope="module")
def built(spark, cfg):
    from govlake.sample.config import DefectRates, load_config
    from govlake.sample.generate import generate_sources
    from govlake.sample.truth_emergency_health import replay_run
    from jobs.theme import build

    base = load_config()
    # More legal entities than the default (so representatives hold several, and some of their
    # enterprises are rated D), for the dossier queries.
    config = dataclasses.replace(base, scale={**base.scale, "entities": 0.4})
    rates = DefectRates(tables=RATES)
    generate_sources(cfg.sources_root, PERSONS, NIGHT, rates=rates, config=config)
    world, replayed = replay_run(cfg.sources_root, rates, config)
    tables = replayed.tables
    for system, table in (
        ("mem_hazchem", "enterprise"),
        ("mem_hazchem", "inspection"),
        ("mem_hazchem", "incident"),
        ("nhc_vital", "birth"),
        ("nhc_vital", "death"),
    ):
        file_table(spark, cfg, system, table)
    delivered(spark, cfg, "psb_hukou", "hj_resident")
    bases(spark, cfg, world, tables)
    themes = {t.theme: t for t in load_themes()}
    results = {name: build(spark, cfg, themes[name], NIGHT) for name in MODELS}
    for name in MODELS:
        Table("theme", name).register(spark, cfg)
    return world, tables, results, replayed.defects


def delivered(spark, cfg, system: str, table: str) -> None:
    """Every record of a generated table into its ods table, as text: a file through the
    project's reader, an interface's records as served, a database table as stored."""
    from test_credit_theme import ods_frame, sample_rows

    from govlake.sources import get_table

    source, spec = get_table(system, table)
    if spec.format in ("csv", "xls", "xlsx"):
        file_table(spark, cfg, system, table)
        return
    manifest = json.loads((cfg.sources_root / "manifest.json").read_text(encoding="utf-8"))
    path = manifest["sources"][system][table]["path"]
    if spec.is_api:
        rows = sample_rows(cfg.sources_root, system, table, path)
        Table.parse(source.ods_table(spec)).write(
            ods_frame(spark, source.ods_table(spec), rows, NIGHT), "overwrite", cfg=cfg
        )
        return
    with sqlite3.connect(cfg.sources_root / path) as con:
        found = con.execute(f"SELECT * FROM {spec.name}")  # a generated table's own name
        columns = [d[0] for d in found.description]
        rows = [tuple(None if v is None else str(v) for v in r) for r in found.fetchall()]
    write_ods(spark, cfg, source.ods_table(spec), columns, rows)


def run(spark, name: str) -> list[tuple]:
    from test_themes import readme_queries

    return [tuple(r) for r in spark.sql(readme_queries()[name]).collect()]


def test_the_models_build_with_the_declared_refresh(built):
    _, _, results, _ = built
    assert {n: r["mode"] for n, r in results.items()} == dict.fromkeys(MODELS, "created")
    assert results["emergency"]["rows"] > 0 and results["health"]["rows"] > 0


def test_incident_without_inspection_matches_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import incident_without_recent_inspection

    _, tables, _, _ = built
    expected = incident_without_recent_inspection(tables, NIGHT)
    assert expected, "the sample must hold such an enterprise, else the check says nothing"
    assert {r[0] for r in run(spark, "hazchem_incident_not_inspected")} == expected


def test_aged_80_living_alone_matches_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import vulnerable_by_district

    world, tables, _, _ = built
    expected = vulnerable_by_district(world, tables)
    assert sum(alone for _, alone in expected.values()) > 0
    got = {d: (aged, alone) for d, aged, alone in run(spark, "aged_80_alone") if aged}
    assert got == expected


def test_births_and_uninsured_newborns_match_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import births_by_district_month

    world, tables, _, _ = built
    expected = births_by_district_month(world, tables)
    assert sum(u for _, u in expected.values()) > 0
    got = {(d, m): (b, u) for d, m, b, u in run(spark, "births_uninsured")}
    assert got == expected


def test_unregistered_enterprises_are_the_ones_registered_outside(spark, built):
    """The generator adds enterprises registered outside Ezhou: USCCs samr does not hold."""
    from govlake.sample.truth_profiles import hazchem_unregistered

    world, _, _, _ = built
    expected = hazchem_unregistered(world)
    assert expected, "the sample must hold such an enterprise, else the check says nothing"
    assert run(spark, "hazchem_unregistered") == expected


def test_deaths_uninsured_match_the_generator(spark, built):
    from govlake.sample.truth_profiles import deaths_uninsured

    _, tables, _, _ = built
    expected = deaths_uninsured(tables)
    assert expected, "the sample must hold such a death, else the check says nothing"
    assert run(spark, "deaths_uninsured") == expected


def test_a_repeated_or_untidy_enterprise_row_is_one_enterprise(spark, cfg, built):
    """The untidy copies added to the delivery (see `untidy`) do not add an enterprise: one row
    per enterprise the generator wrote, the untidy one with its newest name."""
    _, tables, _, _ = built
    spec, rows = tables["enterprise"]
    generated = {r[spec.col("统一社会信用代码")] for r in rows}
    got = Table.parse("theme.emergency").read(spark, cfg).collect()
    assert sorted(r["uscc"] for r in got) == sorted(generated)
    first = rows[0][spec.col("统一社会信用代码")]
    [row] = [r for r in got if r["uscc"] == first]
    assert row["enterprise_name"] == rows[0][spec.col("企业名称")]


# -- 一人一档 and 一企一档 on the same sample ------------------------------------------------

PROFILE_INPUTS = (
    ("psb_hukou", "hj_household"),
    ("mca_marriage", "marriage"),
    ("hrss_social_insurance", "si_enrolment"),
    ("tax_credit", "credit_rating"),
    ("ndrc_sgs", "admin_penalty"),
    ("ndrc_sgs", "admin_license"),
    ("ndrc_credit_list", "red_black_list"),
)
PROFILES = (
    "holder_certificates",
    "credit",
    "credit_by_representative",
    "enterprise_profile",
    "person_profile",
)


@pytest.fixture(scope="module")
def profiles(spark, cfg, built):
    """The two dossiers (and the themes they read) built on the module's sample."""
    from jobs.theme import build

    for system, table in PROFILE_INPUTS:
        delivered(spark, cfg, system, table)
    # 一企一档 reads base.economy: empty here, as on a night before 市统计局 and 市税务局 first
    # deliver (the economy library is tested in test_economy.py; no query here reads it).
    economy = "uscc string, year int, revenue decimal(18,4), employees decimal(18,4), "
    economy += "tax_paid decimal(18,4), industry string"
    Table("base", "economy").write(spark.createDataFrame([], economy), "overwrite", cfg=cfg)
    themes = {t.theme: t for t in load_themes()}
    results = {name: build(spark, cfg, themes[name], NIGHT) for name in PROFILES}
    for name in PROFILES:
        Table("theme", name).register(spark, cfg)
    return results


def test_the_dossiers_build_on_the_sample(built, profiles):
    world = built[0]
    assert profiles["person_profile"]["rows"] == len(world.pop)
    assert profiles["enterprise_profile"]["rows"] == len(world.ents.by_authority("9"))


def test_reps_outside_population_are_the_broken_identity_numbers(spark, built, profiles):
    from govlake.sample.truth_profiles import reps_outside_population

    world, _, _, defects = built
    expected = reps_outside_population(world, defects)
    assert expected, "the sample must break a representative's number, else nothing is checked"
    assert sorted(r[0] for r in run(spark, "reps_outside_population")) == expected


def test_penalised_reps_match_the_generator(spark, built, profiles):
    from govlake.sample.truth_profiles import penalised_reps

    world, tables, _, defects = built
    expected = penalised_reps(world, tables, defects)
    assert expected, "the sample must hold such an enterprise, else the check says nothing"
    assert run(spark, "penalised_reps") == expected


def test_deceased_with_valid_certificates_match_the_generator(spark, built, profiles):
    from govlake.sample.truth_profiles import deceased_with_valid_certificates

    _, tables, _, _ = built
    expected = deceased_with_valid_certificates(tables)
    assert expected, "the sample must hold such a certificate, else the check says nothing"
    got = Counter(
        (who, died, kind) for who, _, died, kind in run(spark, "deceased_with_valid_certificates")
    )
    assert got == expected


def dossier_query(id_number: str) -> str:
    """The README's dossier query for another person: its one literal replaced."""
    from test_themes import readme_queries

    query = readme_queries()["dossier"]
    [literal] = re.findall(r"'(\d{17}[\dX])'", query)
    return query.replace(f"'{literal}'", f"'{id_number}'")


def test_the_dossier_of_the_richest_person_matches_the_generator(spark, built, profiles):
    from govlake.sample.truth_profiles import dossier, richest_person

    world, tables, _, defects = built
    expected = dossier(world, tables, richest_person(world, tables, defects), defects)
    [row] = spark.sql(dossier_query(expected["id_number"])).collect()
    got = {
        **{k: row[k] for k in ("id_number", "name", "sex", "birth_date", "division")},
        "death_date": row["death_date"],
        "household": {h["household_no"] for h in row["household"]},
        "marriages": {m["certificate_no"] for m in row["marriages"]},
        "social_insurance": {
            (e["insurance_type"], e["start_date"]) for e in row["social_insurance"]
        },
        "medical_insurance": {m["insurance_type"] for m in row["medical_insurance"]},
        "certificates": {c["certificate_id"] for c in row["certificates"]},
        "enterprises_represented": {e["uscc"] for e in row["enterprises_represented"]},
        "vital_events": {v["record_no"] for v in row["vital_events"]},
    }
    filled = [k for k, v in expected.items() if isinstance(v, set) and v]
    assert len(filled) >= 5, f"the chosen dossier has few parts to check: {filled}"
    assert got == expected


def test_a_new_night_recomputes_the_enterprises_whose_last_inspection_leaves_the_year(
    spark, cfg, built, tmp_path
):
    """inspected_last_year compares a max per enterprise (a CTE's column) with the date: on the
    night the earliest inspection still within the year leaves it, only the enterprises whose
    last inspection is that old are recomputed, and the table equals a full build of that
    night. (Last in the module: theme.emergency then holds a later night.)"""
    from test_credit_theme import full_build_of

    from jobs.theme import build
    from tests.frames import assert_frames_equal

    table = Table.parse("theme.emergency")
    recent = [
        r["last_inspection_date"]
        for r in table.read(spark, cfg).collect()
        if r["inspected_last_year"]
    ]
    assert recent, "the sample must hold an enterprise inspected within the year"
    oldest = min(recent)
    night = oldest + dt.timedelta(days=365)  # its last inspection is no longer within a year
    leaving = sum(1 for d in recent if d == oldest)
    emergency = {t.theme: t for t in load_themes()}["emergency"]
    later = build(spark, cfg, emergency, night)
    assert later["build"] == "incremental" and later["changed_keys"] == leaving
    # The keys named may include inspected USCCs outside the register: no row, nothing written.
    assert later["reason"].endswith(
        f" keys whose date expressions change between {NIGHT} and {night}"
    )
    assert_frames_equal(
        table.read(spark, cfg), full_build_of(spark, cfg, emergency, night, tmp_path)
    )
