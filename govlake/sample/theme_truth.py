"""What the social-security theme must say, from the generator's own records (not the lakehouse).

The run that wrote a sample is replayed in memory (same persons, seed and date: the generator is
deterministic), keeping each table's rows as generated and which rows got a defect. A person
named (by identity number) in a row that got a defect, in any table, is left out: what the
lakehouse makes of a broken row is the libraries' business, checked against defects.jsonl
elsewhere. For every other person the generator knows the answer of the analyst queries of
libraries/themes/README.md on theme.social_security and theme.person_profile: district, alive
or dead, age, pension and other insurance enrolments, medical insurance.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from govlake.sample.config import load_config
from govlake.sample.defects import Injected
from govlake.sample.generate import _Run, build_world, run_all
from govlake.sample.manifest import Manifest
from govlake.sample.sources_people import ENROLMENT, INSURED
from govlake.sample.tables import TableData, TableSpec

PENSION_TYPES = ("110", "120", "170")  # 城镇职工, 机关事业, 城乡居民 basic pension
WORKING_AGE = 16
RETIREMENT_AGE = {"1": 60, "2": 55}  # men, women (the model's rule)


class _Replay(_Run):
    """A generator run that writes nothing and keeps every table's rows and defective rows."""

    def __init__(self, world, rates) -> None:
        super().__init__(Path("."), world, rates, lambda _m: None)
        self.tables: dict[str, tuple[TableSpec, list[list]]] = {}
        self.hit_ids: set[str] = set()
        self.defects: dict[str, dict[int, str]] = {}  # per table: row index -> defect kind

    def finish(self, data: TableData) -> Injected:
        original = copy.deepcopy(data.rows)
        result = super().finish(data)
        self.tables[data.spec.table] = (data.spec, original)
        self.defects[data.spec.table] = dict(result.hit)
        ids = [data.spec.col(c) for c in data.spec.id_cols]
        for index in result.hit:
            self.hit_ids.update(str(original[index][c]) for c in ids if original[index][c])
        return result

    def store(self, path: Path, tables: list) -> None:
        """Nothing is written."""

    def write(self, data: TableData, result: Injected) -> None:
        """Nothing is written."""


@dataclass(frozen=True)
class PersonTruth:
    """One resident as the generator made them, with their pension enrolment starts."""

    id_number: str
    division: str
    sex: str
    age: int
    death_date: dt.date | None
    pension_starts: tuple[dt.date, ...]
    social_insured: bool  # any row in the 市人社局 enrolment register, any insurance type
    medical_insured: bool  # any row in the 市医保局 insured register

    @property
    def pension_enrolled(self) -> bool:
        return bool(self.pension_starts)

    @property
    def working_age_not_enrolled(self) -> bool:
        retire = RETIREMENT_AGE.get(self.sex, 60)
        alive = self.death_date is None
        return alive and WORKING_AGE <= self.age < retire and not self.pension_enrolled

    @property
    def enrolled_after_death(self) -> bool:
        return self.death_date is not None and max(self.pension_starts, default=dt.date.min) > (
            self.death_date
        )


def completed_years(born: dt.date, on: dt.date) -> int:
    """Age in whole years on a day (the birthday reached or not)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def social_security_truth(sources_root: Path) -> list[PersonTruth]:
    """Every generated resident whose rows were all written without a defect, as the
    generator knows them; the sample's manifest.json gives persons, seed and date."""
    manifest = Manifest.load(Path(sources_root) / "manifest.json")
    config = load_config()
    world = build_world(manifest.persons, manifest.logical_date, manifest.seed, config)
    replay = _Replay(world, config.rates)
    run_all(replay)
    pop, homes = world.pop, world.pop.households
    spec, rows = replay.tables["death"]
    who, died = spec.col("身份证号"), spec.col("死亡日期")
    deaths = {row[who]: dt.date.fromisoformat(row[died]) for row in rows}
    starts: dict[str, list[dt.date]] = {}
    spec, rows = replay.tables[ENROLMENT.table]
    at = {c: spec.col(c) for c in ("id_number", "insurance_type", "start_date")}
    social = {row[at["id_number"]] for row in rows}
    for row in rows:
        if row[at["insurance_type"]] in PENSION_TYPES:
            day = dt.date.fromisoformat(row[at["start_date"]])
            starts.setdefault(row[at["id_number"]], []).append(day)
    spec, rows = replay.tables[INSURED.table]
    medical = {row[spec.col("certno")] for row in rows}
    return [
        PersonTruth(
            id_number=pop.sfzh[i],
            division=homes.xzqh[pop.household[i]],
            sex=pop.sex[i],
            age=completed_years(dt.date.fromordinal(pop.birth[i]), world.logical_date),
            death_date=deaths.get(pop.sfzh[i]),
            pension_starts=tuple(sorted(starts.get(pop.sfzh[i], []))),
            social_insured=pop.sfzh[i] in social,
            medical_insured=pop.sfzh[i] in medical,
        )
        for i in range(len(pop))
        if pop.sfzh[i] not in replay.hit_ids
    ]


def medical_not_social_by_district(persons: list[PersonTruth]) -> dict[str, int]:
    """Per district: persons with medical insurance and no social-insurance enrolment at all."""
    counts = Counter(p.division for p in persons if p.medical_insured and not p.social_insured)
    return dict(sorted(counts.items()))


def working_age_gap_by_district(persons: list[PersonTruth]) -> dict[str, int]:
    """Per district: living persons of working age without a pension enrolment."""
    return dict(sorted(Counter(p.division for p in persons if p.working_age_not_enrolled).items()))


def share(part: int, whole: int) -> float | None:
    """part / whole to 4 decimals, half up (as Spark's round), None for an empty whole."""
    if not whole:
        return None
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def coverage_by_district(persons: list[PersonTruth]) -> dict[str, dict]:
    """Per district: the living, the pension-enrolled (living or not) and the share of the
    living who are enrolled (4 decimals), as the README's coverage query returns them."""
    living = Counter(p.division for p in persons if p.death_date is None)
    enrolled = Counter(p.division for p in persons if p.pension_enrolled)
    covered = Counter(p.division for p in persons if p.death_date is None and p.pension_enrolled)
    return {
        d: {
            "living": living[d],
            "pension_enrolled": enrolled[d],
            "pension_coverage": share(covered[d], living[d]),
        }
        for d in sorted({p.division for p in persons})
    }
