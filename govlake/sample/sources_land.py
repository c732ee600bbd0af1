"""市自然资源和规划局 sources: the real-estate register (不动产登记, a database of units) and the
land-use survey per parcel (三调 style, a GB18030 CSV) that disagrees with it on some parcels.

A unit code (GB/T 37346) is its parcel code (宗地代码, 19 characters) plus the fixture code
and unit number (9): the units of one parcel share its first 19 characters and its land use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from govlake.libraries import code_table
from govlake.sample.dates import stamps_between
from govlake.sample.land_codes import ezhou_counties, unit_code
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

PARCEL_LENGTH = 19
PERSON, ENTITY = "个人", "单位"  # 权利人类型
REGISTRATION = TableSpec(
    system="nr_realestate",
    table="bdc_unit",
    path="nr_bdc.db",
    fmt="sqlite",
    pk="id",
    columns=(
        "bdcdyh",
        "zddm",
        "qlrmc",
        "qlrlx",
        "qlrzjhm",
        "qllx",
        "tdyt",
        "mj",
        "djsj",
        "bgsj",
        "gxsj",
    ),
    types={"mj": "REAL"},
    watermark="gxsj",
    # No checksum defects are planted in qlrzjhm: it holds an identity number or a credit code
    # (by qlrlx), and a quality rule, whose name says which defect kind it reports, checks one
    # kind of identifier per column (jobs/feedback/truth.py).
    unit_cols=("bdcdyh",),
    date_cols=("djsj", "bgsj"),
    required=("bdcdyh", "zddm", "qlrmc", "qlrlx", "qlrzjhm", "qllx", "djsj"),
    text_cols=("bdcdyh", "qlrmc", "qlrzjhm"),
)
# Right type (权利类型) of a parcel feature code's second letter, with a unit on it.
RIGHT_TYPES = {
    "A": "集体土地所有权",
    "B": "国有建设用地使用权/房屋所有权",
    "S": "国有建设用地使用权（地上）/房屋所有权",
    "X": "国有建设用地使用权（地下）/构筑物所有权",
    "C": "宅基地使用权/房屋所有权",
    "D": "土地承包经营权",
    "E": "林地使用权/森林、林木所有权",
    "L": "林地使用权",
    "N": "农用地使用权",
    "W": "使用权未定",
}
# GB/T 21010-2017 land uses plausible for each right-type letter.
LAND_USES = {
    "A": ("0101", "0103", "0301", "1104"),
    "B": ("0701", "0701", "0501", "0601", "0604", "0803", "0805"),
    "S": ("0701", "0505"),
    "X": ("1004", "0809"),
    "C": ("0702",),
    "D": ("0101", "0102", "0103"),
    "E": ("0301", "0307"),
    "L": ("0301", "0305"),
    "N": ("0201", "1202"),
    "W": ("1201", "1206"),
}


def survey_spec(ds: str) -> TableSpec:
    """The land-use survey results per parcel for one logical date (GB18030 CSV)."""
    return TableSpec(
        system="nr_land_survey",
        table="parcel_land_use",
        path=f"nr_land_survey/parcel_land_use_{ds}.csv",
        fmt="csv",
        encoding="gb18030",
        columns=("宗地代码", "地类编码", "地类名称", "图斑面积", "调查日期"),
        date_cols=("调查日期",),
        required=("宗地代码", "地类编码"),
        text_cols=("宗地代码", "地类名称"),
    )


@dataclass
class Land:
    """Parcels and the units on them; which parcels the register states cleanly."""

    parcels: list[str] = field(default_factory=list)
    land_use: dict[str, str] = field(default_factory=dict)
    area: dict[str, float] = field(default_factory=dict)
    units: list[tuple[str, int]] = field(default_factory=list)  # (unit code, parcel index)
    dirty_parcels: set[str] = field(default_factory=set)


def _units_of(rng: random.Random, parcel: str) -> list[str]:
    """1-6 units of one parcel: flats of a building, or the bare land itself."""
    if rng.random() < 0.3:
        return [parcel + "W00000000"]
    building = rng.randint(1, 60)
    rooms = rng.sample(range(1, 33), rng.randint(1, 6))
    return [f"{parcel}F{building:04d}{room:02d}01" for room in sorted(rooms)]


def build_land(world: World) -> Land:
    """About `land_units` units per person on parcels of Ezhou; a fifth more parcels that no
    unit is registered on (the survey covers all land, the register what was registered)."""
    rng = world.rng("nr.land")
    want = round(len(world.pop) * world.config.ratio("land_units"))
    land, seen = Land(), set()
    counties = ezhou_counties()
    while len(land.units) < want:
        parcel = unit_code(rng, rng.choice(counties))[:PARCEL_LENGTH]
        if parcel in seen:
            continue
        seen.add(parcel)
        land.parcels.append(parcel)
        land.land_use[parcel] = rng.choice(LAND_USES[parcel[13]])
        land.area[parcel] = round(rng.uniform(80, 20000), 2)
        land.units += [(u, len(land.parcels) - 1) for u in _units_of(rng, parcel)]
    for _ in range(max(1, want // 5)):
        parcel = unit_code(rng, rng.choice(counties))[:PARCEL_LENGTH]
        if parcel not in seen:
            seen.add(parcel)
            land.parcels.append(parcel)
            land.land_use[parcel] = rng.choice(LAND_USES[parcel[13]])
            land.area[parcel] = round(rng.uniform(80, 20000), 2)
    return land


def _holder(world: World, rng: random.Random, adults: list[int]) -> tuple[str, str, str]:
    """(name, 权利人类型, identifier) of a right holder: a resident (个人, identity number) or
    a legal entity (单位, USCC), about four to one."""
    if rng.random() < 0.8 or not len(world.ents):
        person = rng.choice(adults)
        return world.pop.name[person], PERSON, world.pop.sfzh[person]
    entity = rng.randrange(len(world.ents))
    return world.ents.name[entity], ENTITY, world.ents.uscc[entity]


def registration_table(world: World, land: Land) -> TableData:
    """bdc_unit: one row per real-estate unit, with its right holder, right type, land use,
    area and the dates it was registered, last changed and updated (the watermark)."""
    rng, book = world.rng("nr.registration"), world.book
    adults = world.pop.adults(18) or list(range(len(world.pop)))
    registered = [rng.randint(world.today - 7000, world.today - 30) for _ in land.units]
    changed = [rng.randint(day, world.today) if rng.random() < 0.3 else None for day in registered]
    lows = [max(c or r, world.today - 1500) for r, c in zip(registered, changed, strict=True)]
    stamps = stamps_between(book, world.gen("nr.gxsj"), lows, world.today)
    rows = []
    for (code, parcel), day, change, stamp in zip(
        land.units, registered, changed, stamps, strict=True
    ):
        zddm = land.parcels[parcel]
        name, kind, ident = _holder(world, rng, adults)
        area = round(rng.uniform(40, 180), 2) if code[19] == "F" else land.area[zddm]
        rows.append(
            [
                code,
                zddm,
                name,
                kind,
                ident,
                RIGHT_TYPES[zddm[13]],
                land.land_use[zddm],
                area,
                book.iso_of(day),
                book.iso_of(change) if change else None,
                stamp,
            ]
        )
    return TableData(REGISTRATION, rows)


def _other_use(rng: random.Random, code: str) -> str:
    """A land use of another first-level class: what the survey found on the ground."""
    codes = [c for c in code_table("land_use") if len(c) == 4 and c[:2] != code[:2]]
    return rng.choice(codes)


def _survey_conflict(row: list, rng: random.Random) -> list:
    """The survey finding another land use than the register states for the parcel."""
    new = list(row)
    new[1] = _other_use(rng, str(row[1]).zfill(4))
    new[2] = code_table("land_use")[new[1]]
    return new


def survey_table(world: World, land: Land, ds: str) -> TableData:
    """parcel_land_use: every parcel's surveyed land use and area, in a shuffled order; a few
    codes written without their leading zero, as a spreadsheet drops it (0101 -> 101)."""
    rng, names = world.rng("nr.survey"), code_table("land_use")
    order = list(range(len(land.parcels)))
    rng.shuffle(order)
    surveyed = world.logical_date.replace(month=1, day=1).toordinal() - 1
    rows = []
    for index in order:
        parcel = land.parcels[index]
        use = land.land_use[parcel]
        written = use.lstrip("0") if rng.random() < 0.1 else use
        rows.append([parcel, written, names[use], land.area[parcel], world.book.iso_of(surveyed)])
    data = TableData(survey_spec(ds), rows, conflict=_survey_conflict)
    registered = {land.parcels[p] for _, p in land.units}
    data.eligible = [
        i for i, row in enumerate(rows) if row[0] in registered and row[0] not in land.dirty_parcels
    ]
    return data
