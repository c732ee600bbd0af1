"""Legal-entity sources: samr registrations, tax credit ratings, approval-bureau e-certificates."""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Mapping
from typing import Any

from govlake.sample.dates import stamps_between
from govlake.sample.identifiers import ecert_id
from govlake.sample.sources_economy import entity_industries
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

REGISTRATION = TableSpec(
    system="samr_enterprise",
    table="qy_jbxx",
    path="samr_reg.db",
    fmt="sqlite",
    pk="id",
    columns=(
        "tyshxydm",
        "qymc",
        "qylx",
        "fddbr",
        "fddbr_zjhm",
        "zczb",
        "clrq",
        "jyzt",
        "zs",
        "jyfw",
        "hydm",
        "djjg",
        "gxsj",
    ),
    types={"zczb": "REAL"},
    watermark="gxsj",
    id_cols=("fddbr_zjhm",),
    uscc_cols=("tyshxydm",),
    date_cols=("clrq",),
    required=("tyshxydm", "qymc", "fddbr", "clrq", "jyzt"),
    text_cols=("tyshxydm", "qymc", "fddbr", "fddbr_zjhm", "zs"),
)
CERT_COLUMNS = (
    "certificate_id",
    "cert_type_code",
    "cert_type_name",
    "holder_type",
    "holder_name",
    "holder_id",
    "issuer_name",
    "issuer_uscc",
    "issue_date",
    "valid_from",
    "valid_to",
    "status",
)
LEVELS = ("A", "B", "M", "C", "D")
LEVEL_CUM = tuple(itertools.accumulate((0.25, 0.55, 0.12, 0.05, 0.03)))


def rating_spec(ds: str) -> TableSpec:
    """tax_credit ratings for one logical date (UTF-8 with BOM)."""
    return TableSpec(
        system="tax_credit",
        table="credit_rating",
        path=f"tax_credit/credit_rating_{ds}.csv",
        fmt="csv",
        encoding="utf-8-sig",
        columns=("纳税人识别号", "纳税人名称", "评价年度", "信用级别", "评价日期"),
        uscc_cols=("纳税人识别号",),
        date_cols=("评价日期",),
        required=("纳税人识别号", "纳税人名称", "信用级别"),
        text_cols=("纳税人识别号", "纳税人名称"),
    )


def certificate_spec(ds: str) -> TableSpec:
    """approval_certificate e-certificates for one logical date (JSON lines)."""
    return TableSpec(
        system="approval_certificate",
        table="certificate",
        path=f"approval_cert/certificates_{ds}.jsonl",
        fmt="jsonl",
        columns=CERT_COLUMNS,
        id_cols=("holder_id",),
        uscc_cols=("holder_id", "issuer_uscc"),
        date_cols=("issue_date", "valid_from", "valid_to"),
        required=(
            "certificate_id",
            "cert_type_code",
            "holder_name",
            "holder_id",
            "issuer_uscc",
            "issue_date",
        ),
        text_cols=("holder_name", "holder_id", "issuer_name"),
    )


def vary_entity_name(name: str, rng: random.Random) -> str:
    """The same entity named differently: without or with the city prefix, or an older form."""
    if "有限公司" in name and "股份" not in name and rng.random() < 0.5:
        return name.replace("有限公司", "有限责任公司")
    return name[3:] if name.startswith("鄂州市") else "鄂州市" + name


def _entity_conflict(col: int):
    """A source naming the entity differently from its registration authority."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        new[col] = vary_entity_name(row[col], rng)
        return new

    return conflict


def registration_table(world: World) -> tuple[TableData, list[int]]:
    """qy_jbxx: entities whose USCC starts with 9; returns the table and its entity per row."""
    ents, pop, book = world.ents, world.pop, world.book
    members = ents.by_authority("9")
    industries = entity_industries(world)
    lows = [max(ents.clrq[e], world.today - 2000) for e in members]
    stamps = stamps_between(book, world.gen("samr.gxsj"), lows, world.today)
    rows = [
        [
            ents.uscc[e],
            ents.name[e],
            ents.qylx[e],
            pop.name[ents.rep[e]],
            pop.sfzh[ents.rep[e]],
            ents.capital[e],
            book.iso_of(ents.clrq[e]),
            ents.jyzt[e],
            ents.address[e],
            ents.scope[e],
            industries[e],
            ents.djjg[e],
            stamp,
        ]
        for e, stamp in zip(members, stamps, strict=True)
    ]
    conflict = _spelled_rep(world)
    data = TableData(REGISTRATION, rows, conflict=conflict)
    data.eligible = world.clean_persons([ents.rep[e] for e in members])
    return data, members


def _spelled_rep(world: World):
    """samr spelling the legal representative's name unlike psb."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        new[3] = world.pools.vary_name(row[3], rng)
        return new

    return conflict


def _rating_dates(day: datetime.date) -> tuple[int, int]:
    """(rated year, publication year): ratings of year Y are published in April of Y + 1."""
    published = day.year if day >= datetime.date(day.year, 4, 30) else day.year - 1
    return published - 1, published


def rating_table(world: World, ds: str) -> TableData:
    """Credit ratings for about `tax_rated` of the entities that existed in the rated year."""
    ents, rng = world.ents, world.rng("tax.rating")
    rated, published = _rating_dates(world.logical_date)
    year_end = datetime.date(rated, 12, 31).toordinal()
    pool = [e for e in range(len(ents)) if ents.clrq[e] <= year_end and ents.uscc[e][:2] != "11"]
    chosen = sorted(
        rng.sample(pool, min(len(pool), round(len(ents) * world.config.ratio("tax_rated"))))
    )
    rows = [
        [
            ents.uscc[e],
            ents.name[e],
            str(rated),
            rng.choices(LEVELS, cum_weights=LEVEL_CUM)[0],
            datetime.date(published, 4, rng.randint(1, 30)).isoformat(),
        ]
        for e in chosen
    ]
    data = TableData(rating_spec(ds), rows, conflict=_entity_conflict(1))
    data.eligible = [i for i, e in enumerate(chosen) if e not in world.dirty_entities]
    return data


def _type_counts(world: World) -> list[tuple[Mapping[str, Any], int]]:
    """How many certificates of each configured type, at `certificates` per person."""
    total = round(len(world.pop) * world.config.ratio("certificates"))
    return [(kind, round(total * float(kind["share"]))) for kind in world.config.certificate_types]


def _holders(
    world: World, kind: Mapping[str, Any], count: int, rng: random.Random
) -> list[tuple[str, int]]:
    """('person'|'legal_entity', index) holders: each entity at most once per type."""
    if kind["holder"] == "legal_entity":
        firms = world.ents.by_authority("9")
        return [("legal_entity", e) for e in rng.sample(firms, min(count, len(firms)))]
    adults = world.pop.adults(18) or list(range(len(world.pop)))
    return [("person", rng.choice(adults)) for _ in range(count)]


class _CertMaker:
    """Builds certificate rows with GB/T 36904 identifiers and consistent validity and status."""

    def __init__(self, world: World, rng: random.Random):
        self.world, self.rng, self.serial = world, rng, 0
        self.year = world.logical_date.year

    def holder(self, holder: tuple[str, int]) -> tuple[str, str, int]:
        """(name, identifier, earliest issue day) of a holder."""
        world = self.world
        kind, index = holder
        if kind == "legal_entity":
            return world.ents.name[index], world.ents.uscc[index], world.ents.clrq[index]
        born = world.pop.birth[index]
        return world.pop.name[index], world.pop.sfzh[index], world.years_after(born, 18)

    def row(self, kind: Mapping[str, Any], holder: tuple[str, int]) -> list:
        """One certificate."""
        world, rng = self.world, self.rng
        name, ident, earliest = self.holder(holder)
        issuer_name, issuer = world.ents.departments[kind["issuer"]]
        years = kind.get("valid_years")
        window = 3650 if not years else min(3650, int(years) * 730)
        low = max(earliest, world.today - window)
        issued = rng.randint(low, world.today) if low < world.today else world.today
        ends = world.years_after(issued, int(years)) if years else None
        self.serial += 1
        serial = f"{datetime.date.fromordinal(issued).year}{self.serial:08d}"
        status = "expired" if ends is not None and ends < world.today else "valid"
        if status == "valid" and rng.random() < 0.03:
            status = "revoked"
        book = world.book
        return [
            ecert_id(kind["code"], issuer, serial),
            kind["code"],
            kind["name"],
            holder[0],
            name,
            ident,
            issuer_name,
            issuer,
            book.iso_of(issued),
            book.iso_of(issued),
            book.iso_of(ends) if ends is not None else None,
            status,
        ]


def _holder_conflict(world: World):
    """A certificate naming its holder unlike psb (persons) or samr (entities)."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        if row[3] == "person":
            new[4] = world.pools.vary_name(row[4], rng)
        else:
            new[4] = vary_entity_name(row[4], rng)
        return new

    return conflict


def certificate_table(world: World, ds: str) -> TableData:
    """About `certificates` per person e-certificates of the configured types, shuffled."""
    rng = world.rng("approval.certificates")
    maker = _CertMaker(world, rng)
    pairs = [(kind, h) for kind, n in _type_counts(world) for h in _holders(world, kind, n, rng)]
    rng.shuffle(pairs)
    rows = [maker.row(kind, holder) for kind, holder in pairs]
    data = TableData(certificate_spec(ds), rows, conflict=_holder_conflict(world))
    dirty = {"person": world.dirty_persons, "legal_entity": world.dirty_entities}
    data.eligible = [i for i, (_, (k, idx)) in enumerate(pairs) if idx not in dirty[k]]
    return data
