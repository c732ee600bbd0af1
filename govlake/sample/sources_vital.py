"""Vital-event file sources: nhc birth and death certificates (GBK CSV), mca marriages (xlsx)."""

from __future__ import annotations

import bisect
import datetime
import random

from govlake.sample.pools import DEATH_CAUSES, DEATH_PLACES, HOSPITALS, TOWNSHIPS
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

BIRTH_COLUMNS = (
    "出生证编号",
    "新生儿姓名",
    "性别",
    "出生日期",
    "出生地点",
    "母亲姓名",
    "母亲身份证号",
    "父亲姓名",
    "父亲身份证号",
    "签发日期",
)
DEATH_COLUMNS = (
    "死亡证编号",
    "姓名",
    "身份证号",
    "性别",
    "死亡日期",
    "死亡原因",
    "死亡地点",
    "填报日期",
)
MARRIAGE_COLUMNS = (
    "登记证号",
    "登记类型",
    "男方姓名",
    "男方身份证号",
    "女方姓名",
    "女方身份证号",
    "登记日期",
    "登记机关",
)
SEX_TEXT = {"1": "男", "2": "女"}


def birth_spec(ds: str) -> TableSpec:
    """nhc_vital birth certificates for one logical date."""
    return TableSpec(
        system="nhc_vital",
        table="birth",
        path=f"nhc_vital/birth_{ds}.csv",
        fmt="csv",
        encoding="gbk",
        columns=BIRTH_COLUMNS,
        id_cols=("母亲身份证号", "父亲身份证号"),
        date_cols=("出生日期", "签发日期"),
        required=("出生证编号", "新生儿姓名", "性别", "出生日期", "母亲姓名", "母亲身份证号"),
        text_cols=("新生儿姓名", "母亲姓名", "母亲身份证号", "父亲身份证号", "出生地点"),
    )


def death_spec(ds: str) -> TableSpec:
    """nhc_vital death certificates for one logical date."""
    return TableSpec(
        system="nhc_vital",
        table="death",
        path=f"nhc_vital/death_{ds}.csv",
        fmt="csv",
        encoding="gbk",
        columns=DEATH_COLUMNS,
        id_cols=("身份证号",),
        date_cols=("死亡日期", "填报日期"),
        required=("死亡证编号", "姓名", "身份证号", "死亡日期"),
        text_cols=("姓名", "身份证号", "死亡地点"),
    )


def marriage_spec(ds: str) -> TableSpec:
    """mca_marriage registrations workbook for one logical date."""
    return TableSpec(
        system="mca_marriage",
        table="marriage",
        path=f"mca_marriage/marriage_{ds}.xlsx",
        fmt="xlsx",
        sheet="婚姻登记",
        columns=MARRIAGE_COLUMNS,
        id_cols=("男方身份证号", "女方身份证号"),
        date_cols=("登记日期",),
        required=("登记证号", "登记类型", "男方身份证号", "女方身份证号", "登记日期"),
        text_cols=("男方姓名", "男方身份证号", "女方姓名", "女方身份证号"),
    )


def _date_text(world: World, ordinal: int, rng: random.Random) -> str:
    """'YYYY-MM-DD' mostly, 'YYYY/MM/DD' from some hospital systems."""
    text = world.book.iso_of(ordinal)
    return text.replace("-", "/") if rng.random() < 0.1 else text


def _spelled_differently(world: World, cols: tuple[int, ...]):
    """A conflict that misspells the person in one of the given name columns."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        col = rng.choice(cols)
        new[col] = world.pools.vary_name(row[col], rng)
        return new

    return conflict


def birth_table(world: World, ds: str) -> TableData:
    """One birth certificate per newborn of the last year; parents are residents."""
    pop, rng = world.pop, world.rng("nhc.birth")
    rows, mothers = [], []
    for k, (child, mother, father) in enumerate(pop.newborns, 1):
        born = pop.birth[child]
        issued = min(world.today, born + rng.randint(0, 30))
        rows.append(
            [
                f"Y42{k + 3100000:07d}",
                pop.name[child],
                SEX_TEXT[pop.sex[child]],
                _date_text(world, born, rng),
                rng.choice(HOSPITALS),
                pop.name[mother],
                pop.sfzh[mother],
                pop.name[father],
                pop.sfzh[father],
                _date_text(world, issued, rng),
            ]
        )
        mothers.append(mother)
    data = TableData(birth_spec(ds), rows, conflict=_spelled_differently(world, (5,)))
    data.eligible = world.clean_persons(mothers)
    return data


def _deceased(world: World, rng: random.Random) -> list[int]:
    """Persons who died in the last year: mostly the elderly."""
    pop = world.pop
    count = round(len(pop) * world.config.ratio("deaths"))
    old, young = pop.adults(65), pop.adults(1, 64)
    from_old = min(len(old), round(count * 0.85))
    chosen = rng.sample(old, from_old) + rng.sample(young, min(len(young), count - from_old))
    return sorted(chosen)


def _death_conflict(world: World):
    """Death certificate stating the name or sex unlike psb."""

    def conflict(row: list, rng: random.Random) -> list:
        new = list(row)
        if rng.random() < 0.5:
            new[1] = world.pools.vary_name(row[1], rng)
        else:
            new[3] = "女" if row[3] == "男" else "男"
        return new

    return conflict


def death_table(world: World, ds: str) -> TableData:
    """One death certificate per deceased resident."""
    pop, rng = world.pop, world.rng("nhc.death")
    people = _deceased(world, rng)
    rows = []
    for k, person in enumerate(people, 1):
        died = max(pop.birth[person], world.today - rng.randint(0, 364))
        place = rng.choice(DEATH_PLACES)
        rows.append(
            [
                f"SW420700{k + 250000:07d}",
                pop.name[person],
                pop.sfzh[person],
                SEX_TEXT[pop.sex[person]],
                world.book.iso_of(died),
                rng.choice(DEATH_CAUSES),
                rng.choice(HOSPITALS) if place == "医院" else place,
                world.book.iso_of(min(world.today, died + rng.randint(0, 10))),
            ]
        )
    data = TableData(death_spec(ds), rows, conflict=_death_conflict(world))
    data.eligible = world.clean_persons(people)
    return data


def _partner(
    world: World, rng: random.Random, husband: int, women: list[int], births: list[int]
) -> int:
    """A woman born within about eight years of the man (women sorted by birth day)."""
    at = bisect.bisect_left(births, world.pop.birth[husband] + rng.randint(-2000, 3000))
    return women[min(len(women) - 1, max(0, at + rng.randint(-50, 50)))]


def _pairs(
    world: World, rng: random.Random, count: int, divorces: int
) -> list[tuple[int, int, str]]:
    """(husband, wife, type): couples of the register marry; other adults of similar age divorce."""
    pop = world.pop
    married = rng.sample(pop.couples, min(len(pop.couples), count - divorces))
    men = [p for p in pop.adults(22) if pop.sex[p] == "1"]
    women = sorted((p for p in pop.adults(20) if pop.sex[p] == "2"), key=pop.birth.__getitem__)
    births = [pop.birth[w] for w in women]
    split = []
    for _ in range(divorces if men and women else 0):
        husband = rng.choice(men)
        split.append((husband, _partner(world, rng, husband, women, births)))
    return [(h, w, "结婚") for h, w in married] + [(h, w, "离婚") for h, w in split]


def _registered(world: World, rng: random.Random, husband: int, wife: int, kind: str) -> int:
    """The registration day: after both reached the legal age; divorces in the last ten years."""
    pop = world.pop
    low = max(world.years_after(pop.birth[husband], 22), world.years_after(pop.birth[wife], 20))
    low = max(low, datetime.date(1985, 1, 1).toordinal())
    if kind == "离婚":
        low = max(low, world.today - 3650)
    high = min(world.today, low + 4000)
    return rng.randint(low, high) if low < high else world.today


def marriage_table(world: World, ds: str) -> TableData:
    """Marriage and divorce registrations; dates are Excel dates, some typed as text."""
    pop, rng = world.pop, world.rng("mca.marriage")
    count = round(len(pop) * world.config.ratio("marriages"))
    pairs = _pairs(world, rng, count, round(count * world.config.ratio("divorce_share")))
    rng.shuffle(pairs)
    rows, people, serial = [], [], {}
    for husband, wife, kind in pairs:
        day = _registered(world, rng, husband, wife, kind)
        district = pop.households.xzqh[pop.household[husband]]
        year = datetime.date.fromordinal(day).year
        key = (kind, district, year)
        serial[key] = serial.get(key, 0) + 1
        number = f"{'J' if kind == '结婚' else 'L'}{district}-{year}-{serial[key]:06d}"
        when = (
            world.book.cn[day - world.book.base]
            if rng.random() < 0.1
            else datetime.date.fromordinal(day)
        )
        office = f"鄂州市{TOWNSHIPS[district][0]}民政局"
        rows.append(
            [
                number,
                kind,
                pop.name[husband],
                pop.sfzh[husband],
                pop.name[wife],
                pop.sfzh[wife],
                when,
                office,
            ]
        )
        people.append((husband, wife))
    data = TableData(marriage_spec(ds), rows, conflict=_spelled_differently(world, (2, 4)))
    dirty = world.dirty_persons
    data.eligible = [i for i, (h, w) in enumerate(people) if h not in dirty and w not in dirty]
    return data
