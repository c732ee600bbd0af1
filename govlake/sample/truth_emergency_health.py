"""What the emergency and health themes must say, from the generator's own records.

The run that wrote a sample is replayed in memory (govlake.sample.theme_truth: same persons,
seed and date), keeping every table's rows as generated, before any defect. The answers below
hold for a sample generated without defects (rates 0), where every row reached the lakehouse
as generated; with defects, the rows a defect hit would first have to be left out, as
theme_truth does for the social-security queries.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from govlake.sample.config import DefectRates, SampleConfig, load_config
from govlake.sample.generate import build_world, run_all
from govlake.sample.manifest import Manifest
from govlake.sample.sources_people import INSURED
from govlake.sample.tables import TableSpec
from govlake.sample.theme_truth import _Replay, completed_years
from govlake.sample.world import World

Tables = dict[str, tuple[TableSpec, list[list]]]
VULNERABLE_AGE = 80
RECENT_DAYS = 365


def replay(sources_root: Path) -> tuple[World, Tables]:
    """The world and every table's generated rows of the sample under sources_root."""
    world, run = replay_run(sources_root)
    return world, run.tables


def replay_run(
    sources_root: Path, rates: DefectRates | None = None, config: SampleConfig | None = None
) -> tuple[World, _Replay]:
    """The world and the replayed run (rows, and the defects of each table at `rates`) of the
    sample under sources_root; rates and config as the sample was generated with."""
    manifest = Manifest.load(Path(sources_root) / "manifest.json")
    config = config or load_config()
    world = build_world(manifest.persons, manifest.logical_date, manifest.seed, config)
    run = _Replay(world, rates or config.rates)
    run_all(run)
    return world, run


def _column(tables: Tables, table: str, column: str) -> list:
    spec, rows = tables[table]
    at = spec.col(column)
    return [row[at] for row in rows]


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value.replace("/", "-"))


def incident_without_recent_inspection(tables: Tables, night: dt.date) -> set[str]:
    """USCCs of the hazardous-chemical enterprises with an incident and no inspection in the
    365 days before the night."""
    incidents = set(_column(tables, "incident", "统一社会信用代码"))
    since = night - dt.timedelta(days=RECENT_DAYS)
    who = _column(tables, "inspection", "统一社会信用代码")
    when = _column(tables, "inspection", "检查日期")
    recent = {u for u, d in zip(who, when, strict=True) if _day(d) > since}
    return incidents - recent


def deaths(tables: Tables) -> set[str]:
    """Identity numbers of the persons with a death certificate."""
    return set(_column(tables, "death", "身份证号"))


def vulnerable_by_district(world: World, tables: Tables) -> dict[str, tuple[int, int]]:
    """Per district: (living persons aged 80 or more, those with no other living member in
    their household)."""
    pop, homes, dead = world.pop, world.pop.households, deaths(tables)
    living = [pop.sfzh[i] not in dead for i in range(len(pop))]
    members = Counter(pop.household[i] for i in range(len(pop)) if living[i])
    aged, alone = Counter(), Counter()
    for i in range(len(pop)):
        born = dt.date.fromordinal(pop.birth[i])
        if living[i] and completed_years(born, world.logical_date) >= VULNERABLE_AGE:
            division = homes.xzqh[pop.household[i]]
            aged[division] += 1
            alone[division] += members[pop.household[i]] == 1
    return {d: (aged[d], alone[d]) for d in sorted(aged)}


def births_by_district_month(world: World, tables: Tables) -> dict[tuple[str, str], tuple]:
    """Per (mother's district, yyyy-MM of birth): (births, births whose newborn is not in the
    市医保局 insured register)."""
    pop, homes = world.pop, world.pop.households
    insured = set(_column(tables, INSURED.table, "certno"))
    dates = _column(tables, "birth", "出生日期")
    births, uninsured = Counter(), Counter()
    for (child, mother, _), text in zip(pop.newborns, dates, strict=True):
        key = (homes.xzqh[pop.household[mother]], _day(text).strftime("%Y-%m"))
        births[key] += 1
        uninsured[key] += pop.sfzh[child] not in insured
    return {k: (births[k], uninsured[k]) for k in sorted(births)}
