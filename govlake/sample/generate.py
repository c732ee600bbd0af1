"""generate_sources: seeded sample department sources for Ezhou with a ground-truth manifest."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from pathlib import Path

from govlake.sample import sources_credit as credit_sources
from govlake.sample import sources_economy as economy_sources
from govlake.sample import sources_entities as entity_sources
from govlake.sample import sources_hazchem as hazchem_sources
from govlake.sample import sources_land as land_sources
from govlake.sample import sources_people as people_sources
from govlake.sample import sources_vital as vital_sources
from govlake.sample.config import DefectRates, SampleConfig, load_config
from govlake.sample.dates import DateBook
from govlake.sample.defects import Injected, inject
from govlake.sample.entities import build_entities
from govlake.sample.manifest import Manifest
from govlake.sample.people import build_population
from govlake.sample.pools import build_pools
from govlake.sample.tables import TableData
from govlake.sample.world import World
from govlake.sample.writers import write_csv, write_jsonl, write_sqlite, write_xls, write_xlsx

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default progress callback: say nothing."""


def build_world(
    persons: int, logical_date: datetime.date, seed: int, config: SampleConfig
) -> World:
    """Pools, residents and legal entities for one run."""
    pools = build_pools(seed, config.pools)
    pop = build_population(persons, logical_date, seed, pools, config)
    ents = build_entities(round(persons * config.ratio("entities")), seed, pools, config, pop)
    longest = max((int(t.get("valid_years") or 0) for t in config.certificate_types), default=0)
    book = DateBook(
        datetime.date(logical_date.year - 100, 1, 1),
        logical_date + datetime.timedelta(days=366 * (longest + 1)),
    )
    return World(logical_date, seed, config, pools, pop, ents, book)


class _Run:
    """One generate_sources call: injects defects, writes files, fills the manifest."""

    def __init__(self, root: Path, world: World, rates: DefectRates, say: Progress):
        self.root, self.world, self.rates, self.say = root, world, rates, say
        self.ds = world.logical_date.strftime("%Y%m%d")
        self.manifest = Manifest(len(world.pop), world.seed, world.logical_date)

    def finish(self, data: TableData) -> Injected:
        """Inject the table's defects and record it in the manifest."""
        spec = data.spec
        rng = random.Random(f"{self.world.seed}:defects:{spec.key}")
        result = inject(data, self.rates.for_table(spec.key), rng)
        self.manifest.add(spec, len(result.rows), result.counts, result.records())
        self.say(f"{spec.key}: {len(result.rows):,} rows, {sum(result.counts.values()):,} defects")
        return result

    def write(self, data: TableData, result: Injected) -> None:
        """Write one file-based table in its format."""
        spec, path = data.spec, self.root / data.spec.path
        if spec.fmt == "csv":
            write_csv(path, spec, result.rows)
        elif spec.fmt == "jsonl":
            write_jsonl(path, spec, result.rows)
        elif spec.fmt == "xls":
            write_xls(path, spec, result.rows)
        elif spec.fmt == "api":
            credit_sources.write_api_records(path, spec, result.rows)
        else:
            day = self.world.logical_date
            write_xlsx(path, spec, result.rows, datetime.datetime(day.year, day.month, day.day, 23))

    def store(self, path: Path, tables: list) -> None:
        """Write SQLite tables (a replay of the run overrides this to write nothing)."""
        write_sqlite(path, tables)

    def psb(self) -> None:
        """Household register first: its clean rows are the authority for conflicts."""
        residents = self.finish(people_sources.resident_table(self.world))
        self.world.dirty_persons = set(residents.hit)
        households = self.finish(people_sources.household_table(self.world))
        self.store(
            self.root / people_sources.RESIDENT.path,
            [
                (people_sources.RESIDENT, residents.rows),
                (people_sources.HOUSEHOLD, households.rows),
            ],
        )

    def samr(self) -> None:
        """Enterprise register: its clean rows are the authority for entity names."""
        data, members = entity_sources.registration_table(self.world)
        result = self.finish(data)
        registered = set(members)
        dirty = {members[i] for i in result.hit}
        dirty |= {e for e in range(len(self.world.ents)) if e not in registered}
        self.world.dirty_entities = dirty
        self.store(self.root / data.spec.path, [(data.spec, result.rows)])

    def database(self, build: Callable[[World], TableData]) -> None:
        """A single-table SQLite source."""
        data = build(self.world)
        result = self.finish(data)
        self.store(self.root / data.spec.path, [(data.spec, result.rows)])

    def file(self, build: Callable[[World, str], TableData]) -> None:
        """A file source for the logical date."""
        data = build(self.world, self.ds)
        self.write(data, self.finish(data))

    def land(self) -> None:
        """Real-estate register first: the survey disagrees only on parcels it states cleanly."""
        land = land_sources.build_land(self.world)
        data = land_sources.registration_table(self.world, land)
        result = self.finish(data)
        land.dirty_parcels = {land.parcels[land.units[i][1]] for i in result.hit}
        self.store(self.root / data.spec.path, [(data.spec, result.rows)])
        survey = land_sources.survey_table(self.world, land, self.ds)
        self.write(survey, self.finish(survey))

    def interface(self, build: Callable[[World], TableData]) -> None:
        """Records an HTTP JSON interface serves (govlake.sample.api_server pages them)."""
        data = build(self.world)
        self.write(data, self.finish(data))


def generate_sources(
    root: Path,
    persons: int,
    logical_date: datetime.date,
    seed: int = 20261126,
    rates: DefectRates | None = None,
    progress: Progress | None = None,
    *,
    config: SampleConfig | None = None,
) -> Manifest:
    """Write the department sources and root/manifest.json under root; return the manifest."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    config = config or load_config()
    say = progress or _quiet
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    say(f"building {persons:,} residents and their legal entities")
    run = _Run(root, build_world(persons, logical_date, seed, config), rates or config.rates, say)
    run_all(run)
    run.manifest.write(root / "manifest.json")
    return run.manifest


def run_all(run: _Run) -> None:
    """Every department table of a run, in the order the defects depend on (psb, samr first)."""
    run.psb()
    run.samr()
    run.database(people_sources.enrolment_table)
    run.database(people_sources.insured_table)
    for build in (
        vital_sources.birth_table,
        vital_sources.death_table,
        vital_sources.marriage_table,
        entity_sources.rating_table,
        entity_sources.certificate_table,
        hazchem_sources.enterprise_table,
        hazchem_sources.inspection_table,
        hazchem_sources.incident_table,
    ):
        run.file(build)
    run.interface(credit_sources.licence_table)
    run.interface(credit_sources.penalty_table)
    run.file(credit_sources.list_table)  # after the penalties: black lists follow them
    run.land()
    run.file(economy_sources.stats_table)  # after samr: its conflicts need clean registrations
    run.database(economy_sources.tax_table)


class _Kept(_Run):
    """A run that keeps each table's rows (defects injected) instead of writing files."""

    def __init__(self, world: World, rates: DefectRates):
        super().__init__(Path("."), world, rates, _quiet)
        self.tables: dict[str, tuple] = {}

    def store(self, path: Path, tables: list) -> None:
        for spec, rows in tables:
            self.tables[spec.key] = (spec, rows)

    def write(self, data: TableData, result: Injected) -> None:
        self.tables[data.spec.key] = (data.spec, result.rows)


def generate_tables(
    persons: int, logical_date: datetime.date, seed: int = 20261126, config=None
) -> tuple[World, dict[str, tuple]]:
    """The world and every department table's (spec, rows) as generate_sources makes them,
    in memory (no file, no manifest): for checks that compare a job's findings with the world."""
    config = config or load_config()
    run = _Kept(build_world(persons, logical_date, seed, config), config.rates)
    run_all(run)
    return run.world, run.tables


def record_rows(spec, rows: list) -> list[list]:
    """The rows of a generated table that a reader takes as records: an unparseable row is a
    RawLine (text), or in a workbook a row with extra cells (defects._unparseable)."""
    return [r for r in rows if isinstance(r, list) and len(r) == len(spec.columns)]
