"""What six more analyst queries of libraries/themes/README.md must answer, from the generator.

Each answer is computed from the generator's world and the rows it generated (replayed in memory
by govlake.sample.truth_emergency_health.replay), and, for a planted defect, from the defect
the generator itself recorded: never from a lakehouse table or a theme model. They hold for a
sample generated with no defect except invalid representative identity numbers in the
市市场监管局 register (REP_DEFECT), whose rows a caller reads as delivered.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from govlake.sample.sources_entities import REGISTRATION
from govlake.sample.sources_hazchem import registered_outside
from govlake.sample.sources_people import ENROLMENT, INSURED, RESIDENT
from govlake.sample.truth_emergency_health import Tables, _column, _day, deaths
from govlake.sample.world import World

REP_DEFECT = "invalid_id_checksum"


def _rows(tables: Tables, table: str) -> list[dict[str, Any]]:
    spec, rows = tables[table]
    return [dict(zip(spec.columns, row, strict=True)) for row in rows]


def reps_outside_population(world: World, defects: dict[str, dict[int, str]]) -> list[str]:
    """USCCs of the registered entities whose representative's identity number the generator
    broke (REP_DEFECT on the register's row): no resident has that number."""
    members = world.ents.by_authority("9")
    hit = defects.get(REGISTRATION.table, {})
    return sorted(world.ents.uscc[members[i]] for i, kind in hit.items() if kind == REP_DEFECT)


def hazchem_unregistered(world: World) -> list[tuple[str, str, str]]:
    """(USCC, name, district) of the hazardous-chemical enterprises the generator registered
    outside Ezhou: no legal entity of the city's register has their USCC."""
    return sorted(registered_outside(world))


def deaths_uninsured(tables: Tables) -> list[tuple[str, str, dt.date, str]]:
    """(identity number, name, death date, cause) of every death certificate whose person is
    not in the 市医保局 insured register, by death date and certificate number."""
    insured = set(_column(tables, INSURED.table, "certno"))
    found = [
        (_day(r["死亡日期"]), r["死亡证编号"], r["身份证号"], r["姓名"], r["死亡原因"])
        for r in _rows(tables, "death")
        if r["身份证号"] not in insured
    ]
    return [(who, name, day, cause) for day, _, who, name, cause in sorted(found)]


def deceased_with_valid_certificates(tables: Tables) -> Counter:
    """(identity number, death date, certificate type name) of each certificate the generator
    issued as valid to a person who has a death certificate, counted."""
    died = {r["身份证号"]: _day(r["死亡日期"]) for r in _rows(tables, "death")}
    return Counter(
        (r["holder_id"], died[r["holder_id"]], r["cert_type_name"])
        for r in _rows(tables, "certificate")
        if r["holder_type"] == "person" and r["status"] == "valid" and r["holder_id"] in died
    )


def represented(world: World, defects: dict[str, dict[int, str]]) -> Counter:
    """How many registered entities each resident represents, by identity number, leaving out
    the entities whose register row names an identity number the generator broke."""
    broken = set(reps_outside_population(world, defects))
    ents, pop = world.ents, world.pop
    return Counter(
        pop.sfzh[ents.rep[e]] for e in ents.by_authority("9") if ents.uscc[e] not in broken
    )


def penalised_reps(
    world: World, tables: Tables, defects: dict[str, dict[int, str]]
) -> list[tuple[str, str, str, int]]:
    """(USCC, name, representative's name, entities they represent) of the registered entities
    the tax office rated D in some year whose representative represents another entity."""
    rated_d = {r["纳税人识别号"] for r in _rows(tables, "credit_rating") if r["信用级别"] == "D"}
    counts, broken = represented(world, defects), set(reps_outside_population(world, defects))
    ents, pop = world.ents, world.pop
    return sorted(
        (ents.uscc[e], ents.name[e], pop.name[ents.rep[e]], counts[pop.sfzh[ents.rep[e]]])
        for e in ents.by_authority("9")
        if ents.uscc[e] in rated_d
        and ents.uscc[e] not in broken
        and counts[pop.sfzh[ents.rep[e]]] > 1
    )


def dossier(world: World, tables: Tables, person: int, defects) -> dict[str, Any]:
    """What 一人一档 must hold for one resident: identity, and per part the identifiers of the
    records the generator wrote about them."""
    pop, homes, who = world.pop, world.pop.households, world.pop.sfzh[person]
    died = {r["身份证号"]: _day(r["死亡日期"]) for r in _rows(tables, "death")}
    broken = set(reps_outside_population(world, defects))
    ents = world.ents
    births = _rows(tables, "birth")
    return {
        "id_number": who,
        "name": pop.name[person],
        "sex": pop.sex[person],
        "birth_date": dt.date.fromordinal(pop.birth[person]),
        "division": homes.xzqh[pop.household[person]],
        "death_date": died.get(who),
        "household": {r["hh"] for r in _rows(tables, RESIDENT.table) if r["sfzh"] == who},
        "marriages": {
            r["登记证号"]
            for r in _rows(tables, "marriage")
            if who in (r["男方身份证号"], r["女方身份证号"])
        },
        "social_insurance": {
            (r["insurance_type"], _day(r["start_date"]))
            for r in _rows(tables, ENROLMENT.table)
            if r["id_number"] == who
        },
        "medical_insurance": {
            r["insutype"] for r in _rows(tables, INSURED.table) if r["certno"] == who
        },
        "certificates": {
            r["certificate_id"] for r in _rows(tables, "certificate") if r["holder_id"] == who
        },
        "enterprises_represented": {
            ents.uscc[e]
            for e in ents.by_authority("9")
            if ents.rep[e] == person and ents.uscc[e] not in broken
        },
        "vital_events": {
            r["出生证编号"] for r in births if who in (r["母亲身份证号"], r["父亲身份证号"])
        }
        | {r["死亡证编号"] for r in _rows(tables, "death") if r["身份证号"] == who},
    }


def richest_person(world: World, tables: Tables, defects) -> int:
    """The resident whose dossier has the most non-empty parts (the first such by identity
    number), so the dossier check covers as many parts as the sample allows."""
    parts = Counter()
    ids = {world.pop.sfzh[i]: i for i in range(len(world.pop))}
    seen = [
        {r["男方身份证号"] for r in _rows(tables, "marriage")}
        | {r["女方身份证号"] for r in _rows(tables, "marriage")},
        set(_column(tables, ENROLMENT.table, "id_number")),
        set(_column(tables, INSURED.table, "certno")),
        set(_column(tables, "certificate", "holder_id")),
        set(represented(world, defects)),
        {r["母亲身份证号"] for r in _rows(tables, "birth")} | deaths(tables),
    ]
    for found in seen:
        parts.update(who for who in found if who in ids)
    return ids[min(parts, key=lambda who: (-parts[who], who))]
