"""The generated ground truth shared by all source builders of one run."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

import numpy as np

from govlake.sample.config import SampleConfig
from govlake.sample.dates import DateBook, np_rng
from govlake.sample.entities import Entities
from govlake.sample.people import Population
from govlake.sample.pools import Pools


@dataclass
class World:
    """Persons, entities and pools, plus who is stated cleanly by the authoritative source."""

    logical_date: datetime.date
    seed: int
    config: SampleConfig
    pools: Pools
    pop: Population
    ents: Entities
    book: DateBook
    dirty_persons: set[int] = field(default_factory=set)
    dirty_entities: set[int] = field(default_factory=set)
    employees: set[int] = field(default_factory=set)
    # Entity of each row of the credit tables (govlake.sample.sources_credit), by table.
    credit_subjects: dict[str, list[int]] = field(default_factory=dict)

    @property
    def today(self) -> int:
        """The logical date as an ordinal day."""
        return self.logical_date.toordinal()

    def rng(self, name: str) -> random.Random:
        """A random.Random stream for one named part of the run."""
        return random.Random(f"{self.seed}:{name}")

    def gen(self, name: str) -> np.random.Generator:
        """A numpy stream for one named part of the run."""
        return np_rng(self.seed, name)

    def clean_persons(self, persons: list[int]) -> list[int]:
        """Row positions whose persons have a clean psb record (may take a conflict)."""
        dirty = self.dirty_persons
        return [pos for pos, person in enumerate(persons) if person not in dirty]

    def years_after(self, ordinal: int, years: int) -> int:
        """The ordinal day `years` after `ordinal` (29 February falls back to the 28th)."""
        day = datetime.date.fromordinal(ordinal)
        try:
            return day.replace(year=day.year + years).toordinal()
        except ValueError:
            return day.replace(year=day.year + years, day=28).toordinal()
