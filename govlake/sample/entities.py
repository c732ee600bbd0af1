"""Legal entities (enterprises, public bodies, social organisations) and issuing departments."""

from __future__ import annotations

import datetime
import itertools
import math
import random
from dataclasses import dataclass, field

from govlake.sample.config import SampleConfig
from govlake.sample.identifiers import org_code, random_org_body, uscc_number
from govlake.sample.people import Population, address
from govlake.sample.pools import (
    DEPARTMENTS,
    ENTERPRISE_TYPES,
    INDUSTRIES,
    OTHER_ENTITY_SUFFIX,
    SCOPE_TAIL,
    SCOPES,
    SECOND_CHAR,
    TOWNSHIPS,
    Pools,
)

MA_CODES_FROM = datetime.date(2015, 10, 1).toordinal()
OLDEST = datetime.date(1992, 1, 1).toordinal()
STATES = ("存续", "在业", "注销", "吊销")
STATE_CUM = tuple(itertools.accumulate((0.72, 0.16, 0.09, 0.03)))
SHOPS = ("便利店", "餐馆", "五金店", "理发店", "水产经营部", "日杂店", "农资店")
COOPS = ("种养殖", "水产养殖", "蔬菜种植", "农机服务", "苗木种植")


@dataclass
class Entities:
    """Column lists over legal entities; clrq is an ordinal day, capital in 万元."""

    uscc: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    qylx: list[str] = field(default_factory=list)
    rep: list[int] = field(default_factory=list)
    capital: list[float] = field(default_factory=list)
    clrq: list[int] = field(default_factory=list)
    jyzt: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    djjg: list[str] = field(default_factory=list)
    departments: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.uscc)

    def by_authority(self, first: str) -> list[int]:
        """Entities whose USCC starts with `first` (9 市场监管, 1 编办, 5 民政, 3 司法行政)."""
        return [i for i, code in enumerate(self.uscc) if code[0] == first]


def build_departments(seed: int) -> dict[str, tuple[str, str]]:
    """The city departments with stable 11420700... USCCs: key -> (name, USCC)."""
    rng = random.Random(f"{seed}:departments")
    return {
        key: (name, uscc_number("1", "1", "420700", org_code(f"{rng.randrange(10**8):08d}")))
        for key, name in DEPARTMENTS.items()
    }


def market_name(rng: random.Random, pools: Pools, kind: str, qylx: str, district: str) -> str:
    """A name for an entity registered by market regulation: company, shop or cooperative."""
    brand, area = rng.choice(pools.brands), TOWNSHIPS[district][0]
    if kind == "2":
        return f"鄂州市{area}{brand}{rng.choice(SHOPS)}"
    if kind == "3":
        return f"鄂州市{area}{brand}{rng.choice(COOPS)}专业合作社"
    suffix = "股份有限公司" if qylx.startswith("股份") else "有限公司"
    return f"鄂州市{brand}{rng.choice(INDUSTRIES)}{suffix}"


def _other_name(rng: random.Random, pools: Pools, code: str, district: str) -> str:
    """A name for a public body, social organisation or legal-service entity."""
    area, towns = TOWNSHIPS[district]
    suffix = OTHER_ENTITY_SUFFIX.get(code, "服务所")
    if code in ("11", "12"):
        return f"鄂州市{area}{rng.choice(towns)}{rng.choice(pools.brands)}{suffix}"
    return f"鄂州市{rng.choice(pools.brands)}{rng.choice(INDUSTRIES)}{suffix}"


def business_scope(rng: random.Random) -> str:
    """A business scope (经营范围) of two to five items."""
    return "一般项目：" + "；".join(rng.sample(SCOPES, rng.randint(2, 5))) + "。" + SCOPE_TAIL


def capital(rng: random.Random, kind: str) -> float:
    """Registered capital in 万元: small for shops, log-normal for companies."""
    if kind == "2":
        return round(rng.uniform(1, 50), 1)
    return round(min(50000.0, math.exp(rng.gauss(5.0, 1.4))), 2)


class _EntityBuilder:
    """Draws legal entities one at a time with unique USCCs and names."""

    def __init__(self, rng: random.Random, pools: Pools, config: SampleConfig, pop: Population):
        self.rng, self.pools, self.pop = rng, pools, pop
        self.today = pop.logical_date.toordinal()
        self.firsts = list(config.uscc_authority)
        self.first_cum = list(itertools.accumulate(config.uscc_authority.values()))
        self.districts = list(config.districts)
        self.district_cum = list(itertools.accumulate(config.districts.values()))
        self.reps = pop.adults(22, 75) or list(range(len(pop)))
        self.codes: set[str] = set()
        self.names: set[str] = set()

    def code(self, first: str, kind: str, district: str) -> str:
        """A unique USCC."""
        while True:
            value = uscc_number(first, kind, district, org_code(random_org_body(self.rng)))
            if value not in self.codes:
                self.codes.add(value)
                return value

    def name(self, first: str, kind: str, qylx: str, district: str) -> str:
        """A unique name, drawn again on a clash."""
        while True:
            if first == "9":
                value = market_name(self.rng, self.pools, kind, qylx, district)
            else:
                value = _other_name(self.rng, self.pools, first + kind, district)
            if value not in self.names:
                self.names.add(value)
                return value

    def founded(self, code: str) -> int:
        """Registration day; 'MA' organisation codes exist only since October 2015."""
        if code[8:10] == "MA":
            return self.rng.randint(MA_CODES_FROM, self.today)
        return self.rng.randint(OLDEST, MA_CODES_FROM - 1)

    def add(self, ents: Entities) -> None:
        """Append one entity."""
        rng = self.rng
        first = rng.choices(self.firsts, cum_weights=self.first_cum)[0]
        kind = rng.choice(SECOND_CHAR[first])
        district = rng.choices(self.districts, cum_weights=self.district_cum)[0]
        qylx = rng.choice(ENTERPRISE_TYPES[kind]) if first == "9" else ""
        code = self.code(first, kind, district)
        ents.uscc.append(code)
        ents.name.append(self.name(first, kind, qylx, district))
        ents.qylx.append(qylx)
        ents.rep.append(rng.choice(self.reps))
        ents.capital.append(capital(rng, kind))
        ents.clrq.append(self.founded(code))
        ents.jyzt.append(rng.choices(STATES, cum_weights=STATE_CUM)[0])
        ents.address.append(address(rng, self.pools, district))
        ents.scope.append(business_scope(rng))
        area = TOWNSHIPS[district][0][:-1]
        ents.djjg.append("鄂州市市场监督管理局" + ("" if kind == "1" else f"{area}分局"))


def build_entities(
    count: int, seed: int, pools: Pools, config: SampleConfig, pop: Population
) -> Entities:
    """Generate `count` legal entities whose legal representatives are residents."""
    rng = random.Random(f"{seed}:entities")
    ents = Entities(departments=build_departments(seed))
    builder = _EntityBuilder(rng, pools, config, pop)
    for _ in range(count):
        builder.add(ents)
    return ents
