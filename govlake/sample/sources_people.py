"""Person-keyed database sources: psb household register, hrss social and nhsa medical insurance."""

from __future__ import annotations

import datetime
import itertools
import random

from govlake.sample.dates import days_between, stamps_between
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

RESIDENT = TableSpec(
    system="psb_hukou",
    table="hj_resident",
    path="psb_hukou.db",
    fmt="sqlite",
    pk="rec_id",
    columns=("sfzh", "xm", "xb", "mz", "csrq", "hh", "hjdz", "xzqh", "yhzgx", "update_time"),
    watermark="update_time",
    id_cols=("sfzh",),
    date_cols=("csrq",),
    required=("sfzh", "xm", "xb", "csrq", "hh"),
    text_cols=("sfzh", "xm", "hjdz"),
)
HOUSEHOLD = TableSpec(
    system="psb_hukou",
    table="hj_household",
    path="psb_hukou.db",
    fmt="sqlite",
    columns=("hh", "hzsfzh", "hjdz", "xzqh", "lhrq", "update_time"),
    types={"hh": "TEXT PRIMARY KEY"},
    watermark="update_time",
    id_cols=("hzsfzh",),
    date_cols=("lhrq",),
    required=("hzsfzh", "hjdz", "xzqh"),
    text_cols=("hzsfzh", "hjdz"),
    duplicates=False,
)
ENROLMENT = TableSpec(
    system="hrss_social_insurance",
    table="si_enrolment",
    path="hrss_si.db",
    fmt="sqlite",
    pk="enrol_id",
    columns=(
        "id_number",
        "name",
        "insurance_type",
        "unit_uscc",
        "status",
        "start_date",
        "last_modified",
    ),
    watermark="last_modified",
    id_cols=("id_number",),
    uscc_cols=("unit_uscc",),
    date_cols=("start_date",),
    required=("id_number", "name", "insurance_type", "status"),
    text_cols=("id_number", "name", "unit_uscc"),
)
INSURED = TableSpec(
    system="nhsa_medical_insurance",
    table="mi_insured",
    path="nhsa_mi.db",
    fmt="sqlite",
    pk="psn_no",
    columns=("certno", "psn_name", "insutype", "psn_insu_stas", "begndate", "updt_time"),
    id_cols=("certno",),
    date_cols=("begndate",),
    required=("certno", "psn_name", "insutype", "psn_insu_stas"),
    text_cols=("certno", "psn_name"),
)

# Earliest start of each insurance scheme in Ezhou (approximate national reform dates).
SCHEME_START = {
    "110": datetime.date(1995, 1, 1),
    "120": datetime.date(2014, 10, 1),
    "170": datetime.date(2014, 1, 1),
    "210": datetime.date(1999, 1, 22),
    "410": datetime.date(2004, 1, 1),
    "310": datetime.date(1999, 1, 1),
    "390": datetime.date(2008, 1, 1),
}
SI_STATUS = ("1", "2", "3")
SI_STATUS_CUM = tuple(itertools.accumulate((0.85, 0.08, 0.07)))
MI_STATUS = ("1", "2", "4")
MI_STATUS_CUM = tuple(itertools.accumulate((0.92, 0.03, 0.05)))
HISTORY_DAYS = 3650


def _resident_conflict(world: World):
    """psb stating a resident's sex or birth date unlike the resident's own ID number."""
    book = world.book

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        if rng.random() < 0.5:
            new[2] = "2" if row[2] == "1" else "1"
        else:
            born = datetime.date(int(row[4][:4]), int(row[4][4:6]), int(row[4][6:])).toordinal()
            shifted = min(born + rng.choice((-1, 1)) * rng.randint(1, 400), world.today)
            new[4] = book.compact_of(shifted if shifted != born else born - 1)
        return new

    return conflict


def resident_table(world: World) -> TableData:
    """hj_resident: one row per person, in household order."""
    pop, book, homes = world.pop, world.book, world.pop.households
    lows = [max(b, world.today - HISTORY_DAYS) for b in pop.birth]
    stamps = stamps_between(book, world.gen("psb.resident"), lows, world.today)
    compact, base = book.compact, book.base
    rows = [
        [
            pop.sfzh[i],
            pop.name[i],
            pop.sex[i],
            pop.mz[i],
            compact[pop.birth[i] - base],
            homes.hh[h],
            homes.address[h],
            homes.xzqh[h],
            pop.relation[i],
            stamps[i],
        ]
        for i, h in enumerate(pop.household)
    ]
    return TableData(RESIDENT, rows, conflict=_resident_conflict(world))


def household_table(world: World) -> TableData:
    """hj_household: one row per household."""
    homes, book, pop = world.pop.households, world.book, world.pop
    lows = [max(day, world.today - HISTORY_DAYS) for day in homes.lhrq]
    stamps = stamps_between(book, world.gen("psb.household"), lows, world.today)
    rows = [
        [hh, pop.sfzh[head], addr, xzqh, book.iso_of(lhrq), stamp]
        for hh, head, addr, xzqh, lhrq, stamp in zip(
            homes.hh, homes.head, homes.address, homes.xzqh, homes.lhrq, stamps, strict=True
        )
    ]
    return TableData(HOUSEHOLD, rows)


def _name_conflict(world: World, col: int):
    """A non-authoritative source spelling the person's name differently from psb."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        new[col] = world.pools.vary_name(row[col], rng)
        return new

    return conflict


def _scheme(rng: random.Random, age: int, employers: dict[str, list[int]]) -> str:
    """The person's main pension scheme: employees 110/120, others the residents' 170."""
    roll = rng.random()
    if age < 60:
        kind = "110" if roll < 0.70 else "120" if roll < 0.78 else "170"
    else:
        kind = "110" if roll < 0.35 else "120" if roll < 0.40 else "170"
    return kind if kind == "170" or employers[kind] else "170"


def _enrolments(world: World) -> list[tuple[int, str, int | None]]:
    """(person, insurance type, employer entity or None) for the enrolled persons."""
    rng, pop, ents = world.rng("hrss.enrol"), world.pop, world.ents
    adults = pop.adults(16)
    chosen = sorted(
        rng.sample(adults, min(len(adults), round(len(pop) * world.config.ratio("hrss_enrolled"))))
    )
    employers = {"110": ents.by_authority("9"), "120": ents.by_authority("1")}
    second = world.config.ratio("hrss_second_type")
    out: list[tuple[int, str, int | None]] = []
    for person in chosen:
        kind = _scheme(rng, pop.age(person), employers)
        unit = rng.choice(employers[kind]) if kind != "170" else None
        out.append((person, kind, unit))
        if kind == "110" and rng.random() < second:
            out.append((person, rng.choice(("210", "410")), unit))
    return out


def _scheme_lows(world: World, people: list[int], kinds: list[str], min_age: int) -> list[int]:
    """Earliest possible start per row: the scheme's start and the person's `min_age` birthday."""
    starts = {k: d.toordinal() for k, d in SCHEME_START.items()}
    birth = world.pop.birth
    return [
        max(starts[k], world.years_after(birth[p], min_age))
        for p, k in zip(people, kinds, strict=True)
    ]


def enrolment_table(world: World) -> TableData:
    """si_enrolment: one row per person and insurance type."""
    enrol = _enrolments(world)
    pop, ents, book, gen = world.pop, world.ents, world.book, world.gen("hrss.dates")
    people = [p for p, _, _ in enrol]
    starts = days_between(
        gen, _scheme_lows(world, people, [k for _, k, _ in enrol], 16), world.today
    )
    stamps = stamps_between(book, gen, [max(s, world.today - 1500) for s in starts], world.today)
    rng = world.rng("hrss.status")
    rows = [
        [
            pop.sfzh[p],
            pop.name[p],
            kind,
            ents.uscc[unit] if unit is not None else None,
            rng.choices(SI_STATUS, cum_weights=SI_STATUS_CUM)[0],
            book.iso_of(start),
            stamp,
        ]
        for (p, kind, unit), start, stamp in zip(enrol, starts, stamps, strict=True)
    ]
    data = TableData(ENROLMENT, rows, conflict=_name_conflict(world, 1))
    data.eligible = world.clean_persons(people)
    world.employees = {p for p, kind, _ in enrol if kind in ("110", "120")}
    return data


def insured_table(world: World) -> TableData:
    """mi_insured: employees in 310, everybody else in the residents' 390."""
    pop, book, gen = world.pop, world.book, world.gen("nhsa.dates")
    rng = world.rng("nhsa.insured")
    count = min(len(pop), round(len(pop) * world.config.ratio("nhsa_insured")))
    people = sorted(rng.sample(range(len(pop)), count))
    kinds = ["310" if p in world.employees else "390" for p in people]
    lows = [
        low if kind == "310" else max(SCHEME_START["390"].toordinal(), pop.birth[p])
        for p, kind, low in zip(people, kinds, _scheme_lows(world, people, kinds, 18), strict=True)
    ]
    begins = days_between(gen, lows, world.today)
    stamps = stamps_between(book, gen, [max(b, world.today - 1500) for b in begins], world.today)
    rows = [
        [
            pop.sfzh[p],
            pop.name[p],
            kind,
            rng.choices(MI_STATUS, cum_weights=MI_STATUS_CUM)[0],
            book.iso_of(b),
            s,
        ]
        for p, kind, b, s in zip(people, kinds, begins, stamps, strict=True)
    ]
    data = TableData(INSURED, rows, conflict=_name_conflict(world, 1))
    data.eligible = world.clean_persons(people)
    return data
