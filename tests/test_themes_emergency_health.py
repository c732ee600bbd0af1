"""The emergency and health themes (issue 13) on a generated sample, against generator truth.

A sample is generated without defects into the module's sources folder; its `.xls` (市应急管理局)
and CSV (市卫健委) files are read by the project's readers and the household register from its
SQLite file into ods; base.population and base.legal_entity are written from the generator's
own persons and entities (the libraries' build is tested elsewhere). The four models are built
by jobs.theme.build, and the README's queries are compared with what the generator knows
(govlake/sample/truth_emergency_health.py), never with the output of the models.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from govlake.lakehouse import Table
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
    from jobs.readers import csv_records_of, resolve_file, xls_rows

    source, spec = get_table(system, table)
    item = resolve_file(source, spec, NIGHT, cfg)
    columns, rows = (xls_rows if spec.format == "xls" else csv_records_of)(item)
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
    """base.population and base.legal_entity as the generator made them (all current)."""

    pop, homes, ents = world.pop, world.pop.households, world.ents
    spec, rows = tables["death"]
    died = {r[spec.col("身份证号")]: dt.date.fromisoformat(r[spec.col("死亡日期")]) for r in rows}
    people = [
        (
            pop.sfzh[i],
            pop.name[i],
            pop.sex[i],
            dt.date.fromordinal(pop.birth[i]),
            homes.xzqh[pop.household[i]],
            died.get(pop.sfzh[i]),
            True,
        )
        for i in range(len(pop))
    ]
    schema = (
        "id_number string, name string, sex string, birth_date date, division string, "
        "death_date date, _is_current boolean"
    )
    Table.parse("base.population").write(
        spark.createDataFrame(people, schema), "overwrite", cfg=cfg
    )
    entities = [
        (
            ents.uscc[e],
            ents.name[e],
            ents.jyzt[e],
            pop.name[ents.rep[e]],
            pop.sfzh[ents.rep[e]],
            True,
        )
        for e in ents.by_authority("9")
    ]
    schema = (
        "uscc string, name string, status string, legal_representative string, "
        "legal_representative_id string, _is_current boolean"
    )
    Table.parse("base.legal_entity").write(
        spark.createDataFrame(entities, schema), "overwrite", cfg=cfg
    )


@pytest.fixture(scope="module")
def built(spark, cfg):
    from govlake.sample.config import DefectRates
    from govlake.sample.generate import generate_sources
    from govlake.sample.truth_emergency_health import replay
    from jobs.theme import build

    generate_sources(cfg.sources_root, PERSONS, NIGHT, rates=DefectRates.uniform(0.0))
    world, tables = replay(cfg.sources_root)
    for system, table in (
        ("mem_hazchem", "enterprise"),
        ("mem_hazchem", "inspection"),
        ("mem_hazchem", "incident"),
        ("nhc_vital", "birth"),
        ("nhc_vital", "death"),
    ):
        file_table(spark, cfg, system, table)
    with sqlite3.connect(cfg.sources_root / "psb_hukou.db") as con:
        rows = con.execute("SELECT rec_id, sfzh, hh, update_time FROM hj_resident").fetchall()
    resident = ["rec_id", "sfzh", "hh", "update_time"]
    write_ods(
        spark, cfg, "ods.psb_hukou__hj_resident", resident, [tuple(map(str, r)) for r in rows]
    )
    bases(spark, cfg, world, tables)
    themes = {t.theme: t for t in load_themes()}
    results = {name: build(spark, cfg, themes[name], NIGHT) for name in MODELS}
    for name in MODELS:
        Table("theme", name).register(spark, cfg)
    return world, tables, results


def run(spark, name: str) -> list[tuple]:
    from test_themes import readme_queries

    return [tuple(r) for r in spark.sql(readme_queries()[name]).collect()]


def test_the_models_build_with_the_declared_refresh(built):
    _, _, results = built
    assert {n: r["mode"] for n, r in results.items()} == dict.fromkeys(MODELS, "created")
    assert results["emergency"]["rows"] > 0 and results["health"]["rows"] > 0


def test_incident_without_inspection_matches_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import incident_without_recent_inspection

    _, tables, _ = built
    expected = incident_without_recent_inspection(tables, NIGHT)
    assert expected, "the sample must hold such an enterprise, else the check says nothing"
    assert {r[0] for r in run(spark, "hazchem_incident_not_inspected")} == expected


def test_aged_80_living_alone_matches_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import vulnerable_by_district

    world, tables, _ = built
    expected = vulnerable_by_district(world, tables)
    assert sum(alone for _, alone in expected.values()) > 0
    got = {d: (aged, alone) for d, aged, alone in run(spark, "aged_80_alone") if aged}
    assert got == expected


def test_births_and_uninsured_newborns_match_the_generator(spark, built):
    from govlake.sample.truth_emergency_health import births_by_district_month

    world, tables, _ = built
    expected = births_by_district_month(world, tables)
    assert sum(u for _, u in expected.values()) > 0
    got = {(d, m): (b, u) for d, m, b, u in run(spark, "births_uninsured")}
    assert got == expected


def test_unregistered_enterprises_are_the_ones_from_outside(spark, built):
    """The generator adds enterprises registered outside Ezhou: USCCs samr does not hold."""
    from govlake.sample.sources_hazchem import OUTSIDE_DIVISIONS

    got = run(spark, "hazchem_unregistered")
    assert got and all(uscc[2:8] in OUTSIDE_DIVISIONS for uscc, _, _ in got)


def test_a_repeated_or_untidy_enterprise_row_is_one_enterprise(spark, cfg, built):
    """The untidy copies added to the delivery (see `untidy`) do not add an enterprise: one row
    per enterprise the generator wrote, the untidy one with its newest name."""
    _, tables, _ = built
    spec, rows = tables["enterprise"]
    generated = {r[spec.col("统一社会信用代码")] for r in rows}
    got = Table.parse("theme.emergency").read(spark, cfg).collect()
    assert sorted(r["uscc"] for r in got) == sorted(generated)
    first = rows[0][spec.col("统一社会信用代码")]
    [row] = [r for r in got if r["uscc"] == first]
    assert row["enterprise_name"] == rows[0][spec.col("企业名称")]
