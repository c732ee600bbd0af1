"""What the credit theme must say, from the generator's own records (not the lakehouse).

The run that wrote a sample is replayed in memory (the generator is deterministic), keeping
each table's rows as generated and the USCCs named in a row that got a defect. An entity so
named, in any credit table or the tax ratings, or not stated cleanly by its register, is left
out: what the lakehouse makes of a broken row is checked against defects.jsonl elsewhere. For
every other legal entity the generator knows its penalties, whether it is on a black list in
force on the logical date, its tax credit level, and who represents it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from govlake.sample.config import DefectRates, SampleConfig, load_config
from govlake.sample.defects import Injected
from govlake.sample.generate import build_world, run_all
from govlake.sample.manifest import Manifest
from govlake.sample.sources_credit import BLACK, PENALTY, list_spec
from govlake.sample.sources_entities import rating_spec
from govlake.sample.tables import TableData
from govlake.sample.theme_truth import _Replay


class _CreditReplay(_Replay):
    """The replay, also keeping the USCCs of every row that got a defect."""

    def __init__(self, world, rates) -> None:
        super().__init__(world, rates)
        self.hit_usccs: set[str] = set()

    def finish(self, data: TableData) -> Injected:
        result = super().finish(data)
        original = self.tables[data.spec.table][1]
        codes = [data.spec.col(c) for c in data.spec.uscc_cols]
        for index in result.hit:
            self.hit_usccs.update(str(original[index][c]) for c in codes if original[index][c])
        return result


@dataclass(frozen=True)
class EntityCredit:
    """One legal entity's credit record as the generator wrote it."""

    uscc: str
    name: str
    representative_id: str
    penalties: int
    black_listed: bool
    tax_level: str | None


@dataclass(frozen=True)
class CreditTruth:
    """The clean entities and, over all entities, how many each representative represents;
    `register` is every entity as the legal-entity register states it (USCC, name, type, the
    representative's name and identity number)."""

    entities: dict[str, EntityCredit]
    represented: dict[str, int]
    register: list[tuple[str, str, str, str, str]]

    def black_listed_with_a_rating(self) -> list[str]:
        return sorted(u for u, e in self.entities.items() if e.black_listed and e.tax_level == "A")

    def penalised_with_a_representative_of_others(self) -> list[str]:
        return sorted(
            u
            for u, e in self.entities.items()
            if e.penalties and self.represented[e.representative_id] > 1
        )


def _in_force(row: list, spec, day: dt.date) -> bool:
    listed = dt.date.fromisoformat(row[spec.col("列入日期")])
    until = dt.date.fromisoformat(row[spec.col("有效期至")])
    return row[spec.col("名单类型")] == BLACK and listed <= day <= until


def credit_truth(
    sources_root: Path, config: SampleConfig | None = None, rates: DefectRates | None = None
) -> CreditTruth:
    """The credit record of every entity the sample states cleanly everywhere; the sample's
    manifest.json gives persons, seed and date; config and rates as it was generated with."""
    manifest = Manifest.load(Path(sources_root) / "manifest.json")
    config = config or load_config()
    world = build_world(manifest.persons, manifest.logical_date, manifest.seed, config)
    replay = _CreditReplay(world, rates or config.rates)
    run_all(replay)
    ents, pop, day = world.ents, world.pop, manifest.logical_date
    ds = day.strftime("%Y%m%d")
    penalties: dict[str, int] = {}
    for row in replay.tables[PENALTY.table][1]:
        code = row[PENALTY.col("xdr_shxym")]
        penalties[code] = penalties.get(code, 0) + 1
    spec = list_spec(ds)
    black = {
        r[spec.col("统一社会信用代码")]
        for r in replay.tables[spec.table][1]
        if _in_force(r, spec, day)
    }
    ratings = rating_spec(ds)
    levels = {
        r[ratings.col("纳税人识别号")]: r[ratings.col("信用级别")]
        for r in replay.tables[ratings.table][1]
    }
    dirty = replay.hit_usccs | {ents.uscc[e] for e in world.dirty_entities}
    represented: dict[str, int] = {}
    for e in range(len(ents)):
        rep = pop.sfzh[ents.rep[e]]
        represented[rep] = represented.get(rep, 0) + 1
    entities = {
        ents.uscc[e]: EntityCredit(
            ents.uscc[e],
            ents.name[e],
            pop.sfzh[ents.rep[e]],
            penalties.get(ents.uscc[e], 0),
            ents.uscc[e] in black,
            levels.get(ents.uscc[e]),
        )
        for e in range(len(ents))
        if ents.uscc[e] not in dirty
    }
    register = [
        (ents.uscc[e], ents.name[e], ents.qylx[e], pop.name[ents.rep[e]], pop.sfzh[ents.rep[e]])
        for e in range(len(ents))
    ]
    return CreditTruth(entities, represented, register)
