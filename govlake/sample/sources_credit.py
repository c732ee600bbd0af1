"""Credit sources of 市发展改革委 (信用办): 双公示 licences and penalties served by an HTTP JSON
interface (files the sample API server pages through), and the monthly red and black lists (CSV).

Subjects are legal entities registered by market regulation (USCC starting with 9); the legal
representative's identity number is given only where the subject is a 个体工商户 (a person's
business), as the 双公示 standard asks. Black-list entries go mostly to penalised entities.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

from govlake.sample.dates import stamps_between
from govlake.sample.sources_entities import _entity_conflict
from govlake.sample.tables import RawLine, TableData, TableSpec
from govlake.sample.world import World

SOLE_TRADER = "个体工商户"
LICENCE_NAMES = ("食品经营许可", "道路运输经营许可", "排污许可", "建筑施工许可", "烟草专卖零售许可")
PENALTY_KINDS = (
    ("未按规定公示年度报告", "警告"),
    ("销售不符合安全标准的食品", "罚款"),
    ("无证经营", "没收违法所得、罚款"),
    ("虚开发票", "罚款"),
    ("未按规定排放污染物", "责令改正、罚款"),
)
AUTHORITIES = ("鄂州市市场监督管理局", "鄂州市生态环境局", "鄂州市交通运输局", "鄂州市税务局")
BLACK_REASONS = ("拒不履行法院判决", "严重违法失信企业", "重大税收违法失信主体")
RED_REASONS = ("纳税信用A级纳税人", "守合同重信用企业", "诚信示范企业")
RED, BLACK = "红名单", "黑名单"
# Where the sample API server finds each interface's records (relative to the sources root).
API_DIR = "ndrc_sgs"

LICENCE = TableSpec(
    system="ndrc_sgs",
    table="admin_license",
    path=f"{API_DIR}/admin_license.json",
    fmt="api",
    columns=(
        "xk_id",
        "xk_wsh",
        "xdr_mc",
        "xdr_shxym",
        "fddbr",
        "fddbr_zjhm",
        "xk_mc",
        "xk_nr",
        "xk_jdrq",
        "xk_xkjg",
        "gxsj",
    ),
    watermark="gxsj",
    id_cols=("fddbr_zjhm",),
    uscc_cols=("xdr_shxym",),
    date_cols=("xk_jdrq",),
    required=("xk_wsh", "xdr_mc", "xdr_shxym", "xk_jdrq"),
    text_cols=("xdr_mc", "xdr_shxym", "fddbr"),
)
PENALTY = TableSpec(
    system="ndrc_sgs",
    table="admin_penalty",
    path=f"{API_DIR}/admin_penalty.json",
    fmt="api",
    columns=(
        "cf_id",
        "cf_wsh",
        "xdr_mc",
        "xdr_shxym",
        "fddbr",
        "fddbr_zjhm",
        "cf_wfxw",
        "cf_lb",
        "cf_fkje",
        "cf_jdrq",
        "cf_cfjg",
        "gxsj",
    ),
    watermark="gxsj",
    id_cols=("fddbr_zjhm",),
    uscc_cols=("xdr_shxym",),
    date_cols=("cf_jdrq",),
    required=("cf_wsh", "xdr_mc", "xdr_shxym", "cf_jdrq"),
    text_cols=("xdr_mc", "xdr_shxym", "fddbr"),
)
LIST_COLUMNS = (
    "名单编号",
    "名单类型",
    "主体名称",
    "统一社会信用代码",
    "法定代表人",
    "列入事由",
    "认定部门",
    "列入日期",
    "有效期至",
)


def list_spec(ds: str) -> TableSpec:
    """The red and black lists the credit office publishes for one month (UTF-8 with BOM)."""
    return TableSpec(
        system="ndrc_credit_list",
        table="red_black_list",
        path=f"ndrc_credit_list/red_black_list_{ds}.csv",
        fmt="csv",
        encoding="utf-8-sig",
        columns=LIST_COLUMNS,
        uscc_cols=("统一社会信用代码",),
        date_cols=("列入日期", "有效期至"),
        # The list number is the office's own key, never missing (a missing one is quarantined).
        required=("名单类型", "主体名称", "统一社会信用代码", "列入日期"),
        text_cols=("主体名称", "统一社会信用代码", "法定代表人"),
    )


def _subjects(world: World, ratio: str, rng: random.Random) -> list[int]:
    """Market entities (USCC 9...) drawn with replacement: some get several decisions."""
    firms = world.ents.by_authority("9")
    count = round(len(world.pop) * world.config.ratio(ratio))
    return sorted(rng.choice(firms) for _ in range(count)) if firms else []


def _rep_fields(world: World, entity: int) -> list:
    """Legal representative's name, and identity number only for a 个体工商户."""
    ents, pop = world.ents, world.pop
    rep = ents.rep[entity]
    sole = ents.qylx[entity] == SOLE_TRADER
    return [pop.name[rep], pop.sfzh[rep] if sole else None]


def _decided(world: World, entity: int, rng: random.Random) -> int:
    """A decision day within five years, not before the entity was established."""
    low = max(world.ents.clrq[entity], world.today - 5 * 365)
    return rng.randint(low, world.today) if low < world.today else world.today


def licence_table(world: World) -> TableData:
    """行政许可 decisions: about `sgs_licenses` per person."""
    rng, ents, book = world.rng("ndrc.licence"), world.ents, world.book
    subjects = _subjects(world, "sgs_licenses", rng)
    days = [_decided(world, e, rng) for e in subjects]
    stamps = stamps_between(book, world.gen("ndrc.licence.gxsj"), days, world.today)
    rows = []
    for n, (e, day, stamp) in enumerate(zip(subjects, days, stamps, strict=True), start=1):
        name = rng.choice(LICENCE_NAMES)
        year = datetime.date.fromordinal(day).year
        rows.append(
            [
                f"XK{year}{n:07d}",
                f"鄂州许字〔{year}〕{n:05d}号",
                ents.name[e],
                ents.uscc[e],
                *_rep_fields(world, e),
                name,
                f"准予{name}",
                book.iso_of(day),
                rng.choice(AUTHORITIES),
                stamp,
            ]
        )
    data = TableData(LICENCE, rows, conflict=_entity_conflict(2))
    data.eligible = [i for i, e in enumerate(subjects) if e not in world.dirty_entities]
    world.credit_subjects["admin_license"] = subjects
    return data


def penalty_table(world: World) -> TableData:
    """行政处罚 decisions: about `sgs_penalties` per person."""
    rng, ents, book = world.rng("ndrc.penalty"), world.ents, world.book
    subjects = _subjects(world, "sgs_penalties", rng)
    days = [_decided(world, e, rng) for e in subjects]
    stamps = stamps_between(book, world.gen("ndrc.penalty.gxsj"), days, world.today)
    rows = []
    for n, (e, day, stamp) in enumerate(zip(subjects, days, stamps, strict=True), start=1):
        act, kind = rng.choice(PENALTY_KINDS)
        year = datetime.date.fromordinal(day).year
        fine = None if kind == "警告" else rng.choice((2000, 5000, 10000, 50000, 200000))
        rows.append(
            [
                f"CF{year}{n:07d}",
                f"鄂州罚字〔{year}〕{n:05d}号",
                ents.name[e],
                ents.uscc[e],
                *_rep_fields(world, e),
                act,
                kind,
                fine,
                book.iso_of(day),
                rng.choice(AUTHORITIES),
                stamp,
            ]
        )
    data = TableData(PENALTY, rows, conflict=_entity_conflict(2))
    data.eligible = [i for i, e in enumerate(subjects) if e not in world.dirty_entities]
    world.credit_subjects["admin_penalty"] = subjects
    return data


def list_table(world: World, ds: str) -> TableData:
    """Red and black list entries, about `credit_list` per person; an entity is on one list at
    most. Black: mostly penalised entities; some entries expired; red: unpenalised ones."""
    rng, ents, book = world.rng("ndrc.list"), world.ents, world.book
    penalised = sorted(set(world.credit_subjects.get("admin_penalty", [])))
    others = [e for e in ents.by_authority("9") if e not in set(penalised)]
    count = round(len(world.pop) * world.config.ratio("credit_list"))
    black = rng.sample(penalised, min(len(penalised), (count + 1) // 2))
    red = rng.sample(others, min(len(others), count // 2))
    chosen = [(BLACK, e) for e in black] + [(RED, e) for e in red]
    rng.shuffle(chosen)
    rows = []
    for n, (kind, e) in enumerate(chosen, start=1):
        listed = rng.randint(world.today - 3 * 365, world.today)
        until = listed + rng.choice((365, 730, 1095))
        rows.append(
            [
                f"HHMD{n:06d}",
                kind,
                ents.name[e],
                ents.uscc[e],
                world.pop.name[ents.rep[e]],
                rng.choice(BLACK_REASONS if kind == BLACK else RED_REASONS),
                "鄂州市发展和改革委员会",
                book.iso_of(listed),
                book.iso_of(until),
            ]
        )
    data = TableData(list_spec(ds), rows, conflict=_entity_conflict(2))
    data.eligible = [i for i, (_, e) in enumerate(chosen) if e not in world.dirty_entities]
    world.credit_subjects["red_black_list"] = [e for _, e in chosen]
    return data


def write_api_records(path: Path, spec: TableSpec, rows: list) -> None:
    """The interface's records as the sample server serves them: one JSON document; a row the
    injector broke (RawLine) is a string where an object should be, as a faulty export gives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [
        str(row) if isinstance(row, RawLine) else dict(zip(spec.columns, row, strict=True))
        for row in rows
    ]
    document = {"watermark": spec.watermark, "records": records}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
