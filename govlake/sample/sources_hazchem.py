"""市应急管理局 hazardous-chemical sources: enterprises, inspections and incidents, each a legacy
Excel 97-2003 workbook (.xls) with a two-row header whose group cells are merged."""

from __future__ import annotations

import datetime
import random

from govlake.sample.identifiers import org_code, random_org_body, uscc_number
from govlake.sample.sources_entities import vary_entity_name
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

# Share of the market-registered (USCC 9...) entities in business that handle hazardous
# chemicals, and of the hazardous-chemical enterprises registered outside Ezhou (a branch
# site whose USCC the city's legal-entity library does not hold).
HAZCHEM_SHARE = 0.2
OUTSIDE_SHARE = 0.1
INCIDENT_SHARE = 0.3
INSPECTION_DAYS = 730  # inspections of the last two years
INCIDENT_DAYS = 1095  # incidents of the last three years
LICENCE_TYPES = ("生产", "经营（带储存）", "经营（不带储存）", "使用")
HAZARD_LEVELS = ("一级", "二级", "三级", "四级", "无")
CHEMICALS = ("液氯", "液氨", "甲醇", "硫酸", "盐酸", "汽油", "液化石油气", "过氧化氢", "氢氧化钠")
INSPECTION_TYPES = ("日常检查", "专项检查", "执法检查", "复查")
RECTIFICATION = ("已整改", "整改中", "逾期未整改")
INCIDENT_TYPES = ("火灾", "爆炸", "泄漏", "中毒和窒息", "灼烫")
OUTSIDE_DIVISIONS = ("420100", "420200", "421100")

ENTERPRISE_COLUMNS = (
    "统一社会信用代码",
    "企业名称",
    "所在区县",
    "许可证编号",
    "许可类型",
    "有效期至",
    "危险源等级",
    "主要危险化学品",
    "更新日期",
)
INSPECTION_COLUMNS = (
    "检查编号",
    "统一社会信用代码",
    "企业名称",
    "检查日期",
    "检查类型",
    "发现隐患数",
    "整改状态",
    "整改期限",
)
INCIDENT_COLUMNS = (
    "事故编号",
    "统一社会信用代码",
    "企业名称",
    "事故日期",
    "事故类型",
    "事故等级",
    "死亡人数",
    "受伤人数",
    "直接经济损失",
)
# Group cells of the first header row: (group title, the columns it heads); the other columns
# are merged over both header rows.
HEADER_GROUPS = {
    "enterprise": (
        ("安全生产许可", ("许可证编号", "许可类型", "有效期至")),
        ("重大危险源", ("危险源等级", "主要危险化学品")),
    ),
    "inspection": (
        ("检查情况", ("检查日期", "检查类型", "发现隐患数")),
        ("整改情况", ("整改状态", "整改期限")),
    ),
    "incident": (("伤亡及损失", ("死亡人数", "受伤人数", "直接经济损失")),),
}


def _spec(table: str, ds: str, columns: tuple[str, ...], sheet: str, **kinds) -> TableSpec:
    """The layout every mem_hazchem workbook shares: one sheet, a two-row merged header."""
    return TableSpec(
        system="mem_hazchem",
        table=table,
        path=f"mem_hazchem/hazchem_{table}_{ds}.xls",
        fmt="xls",
        sheet=sheet,
        columns=columns,
        header_groups=HEADER_GROUPS[table],
        uscc_cols=("统一社会信用代码",),
        text_cols=("统一社会信用代码", "企业名称"),
        **kinds,
    )


def enterprise_spec(ds: str) -> TableSpec:
    """hazchem enterprises of one logical date."""
    return _spec(
        "enterprise",
        ds,
        ENTERPRISE_COLUMNS,
        "危险化学品企业",
        date_cols=("有效期至", "更新日期"),
        required=("统一社会信用代码", "企业名称", "许可证编号"),
    )


def inspection_spec(ds: str) -> TableSpec:
    """hazchem inspections of one logical date."""
    return _spec(
        "inspection",
        ds,
        INSPECTION_COLUMNS,
        "监督检查",
        date_cols=("检查日期", "整改期限"),
        required=("检查编号", "统一社会信用代码", "检查日期"),
    )


def incident_spec(ds: str) -> TableSpec:
    """hazchem incidents of one logical date."""
    return _spec(
        "incident",
        ds,
        INCIDENT_COLUMNS,
        "生产安全事故",
        date_cols=("事故日期",),
        required=("事故编号", "统一社会信用代码", "事故日期", "事故类型"),
    )


def _hazchem(world: World) -> tuple[list, list]:
    """The hazardous-chemical enterprises registered in Ezhou, and those registered outside."""
    ents, rng = world.ents, world.rng("mem.hazchem")
    pool = [e for e in ents.by_authority("9") if ents.jyzt[e] in ("存续", "在业")]
    chosen = sorted(rng.sample(pool, round(len(pool) * HAZCHEM_SHARE)))
    districts = list(world.config.districts)
    inside = [(ents.uscc[e], ents.name[e], rng.choice(districts)) for e in chosen]
    outside = []
    for k in range(round(len(chosen) * OUTSIDE_SHARE)):
        division = rng.choice(OUTSIDE_DIVISIONS)
        code = uscc_number("9", "1", division, org_code(random_org_body(rng)))
        outside.append(
            (code, f"湖北{world.pools.brands[k]}化工有限公司鄂州分公司", rng.choice(districts))
        )
    return inside, outside


def hazchem_enterprises(world: World) -> list[tuple[str, str, str]]:
    """(USCC, name, division) of the hazardous-chemical enterprises: a share of the market
    entities in business, plus a few registered outside Ezhou (not in the legal-entity library)."""
    inside, outside = _hazchem(world)
    return inside + outside


def registered_outside(world: World) -> list[tuple[str, str, str]]:
    """(USCC, name, division) of the hazardous-chemical enterprises registered outside Ezhou:
    the city's legal-entity register does not hold their USCC."""
    return _hazchem(world)[1]


def _day(world: World, ordinal: int) -> datetime.date:
    """An ordinal as a date cell, never after the logical date."""
    return datetime.date.fromordinal(min(ordinal, world.today))


def enterprise_table(world: World, ds: str) -> TableData:
    """One row per hazardous-chemical enterprise: licence and major hazard source."""
    rng = world.rng("mem.enterprise")
    rows = []
    for k, (code, name, division) in enumerate(hazchem_enterprises(world), 1):
        rows.append(
            [
                code,
                name,
                division,
                f"（鄂）WH安许证字[{2020 + k % 6}]{k:06d}",
                rng.choice(LICENCE_TYPES),
                datetime.date.fromordinal(world.today + rng.randint(-60, 1095)),
                rng.choice(HAZARD_LEVELS),
                "、".join(rng.sample(CHEMICALS, rng.randint(1, 3))),
                _day(world, world.today - rng.randint(0, 400)),
            ]
        )
    return _eligible(world, TableData(enterprise_spec(ds), rows, conflict=_renamed(1)))


def _eligible(world: World, data: TableData) -> TableData:
    """Only rows of enterprises the registration authority states cleanly may take a conflict:
    a name differing from no registration would be no conflict anyone can see."""
    ents = world.ents
    clean = {ents.uscc[e] for e in ents.by_authority("9") if e not in world.dirty_entities}
    at = data.spec.col("统一社会信用代码")
    data.eligible = [i for i, row in enumerate(data.rows) if row[at] in clean]
    return data


def _renamed(col: int):
    """The enterprise named unlike its registration (the conflict kind of these tables)."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        new[col] = vary_entity_name(row[col], rng)
        return new

    return conflict


def inspection_table(world: World, ds: str) -> TableData:
    """Zero to four inspections per enterprise over the last two years."""
    rng = world.rng("mem.inspection")
    rows, serial = [], 0
    for code, name, _ in hazchem_enterprises(world):
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            serial += 1
            day = world.today - rng.randint(0, INSPECTION_DAYS)
            found = rng.choice((0, 0, 1, 2, 3, 5))
            rows.append(
                [
                    f"EZAJ-JC-{serial:06d}",
                    code,
                    name,
                    _day(world, day),
                    rng.choice(INSPECTION_TYPES),
                    found,
                    rng.choice(RECTIFICATION) if found else "无隐患",
                    _day(world, day + 30) if found else None,
                ]
            )
    return _eligible(world, TableData(inspection_spec(ds), rows, conflict=_renamed(2)))


def incident_table(world: World, ds: str) -> TableData:
    """About a third of the enterprises had one or two incidents in the last three years."""
    rng = world.rng("mem.incident")
    rows, serial = [], 0
    for code, name, _ in hazchem_enterprises(world):
        if rng.random() >= INCIDENT_SHARE:
            continue
        for _ in range(rng.choice((1, 1, 2))):
            serial += 1
            deaths = rng.choice((0, 0, 0, 0, 1, 2))
            rows.append(
                [
                    f"EZAJ-SG-{serial:06d}",
                    code,
                    name,
                    _day(world, world.today - rng.randint(0, INCIDENT_DAYS)),
                    rng.choice(INCIDENT_TYPES),
                    "较大事故" if deaths >= 3 else "一般事故",
                    deaths,
                    rng.choice((0, 1, 2, 4)),
                    round(rng.uniform(0.5, 300.0), 1),
                ]
            )
    return _eligible(world, TableData(incident_spec(ds), rows, conflict=_renamed(2)))
