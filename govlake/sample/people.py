"""Residents and households of Ezhou: the ground truth every department source is cut from."""

from __future__ import annotations

import bisect
import datetime
import itertools
import random
from dataclasses import dataclass, field

from govlake.sample.config import SampleConfig
from govlake.sample.identifiers import code_valid_in, ric_number
from govlake.sample.pools import ETHNICITIES, TOWNSHIPS, Pools

# Household compositions and their shares; members are [age, sex, relation, surname_from].
COMPOSITIONS = (
    ("single", 0.20),
    ("couple", 0.25),
    ("family", 0.37),
    ("three", 0.12),
    ("grand", 0.06),
)
# ID address codes tried for Ezhou residents: the district, then the codes stdnum knows for
# earlier birth years (鄂州市 from 1983, 鄂城县 before), so every valid ID passes stdnum.
EZHOU_LEGACY = ("420700", "422131")
OTHER_HUBEI = (
    "420102",
    "420106",
    "420111",
    "420115",
    "420202",
    "420222",
    "420281",
    "421102",
    "421125",
    "421126",
    "421181",
    "421182",
    "421202",
    "420902",
    "420100",
    "420200",
    "420500",
)
COMPOSITION_KINDS = [k for k, _ in COMPOSITIONS]
COMPOSITION_CUM = list(itertools.accumulate(w for _, w in COMPOSITIONS))
VILLAGE_SUFFIX = ("家湾", "家庄", "家垴", "家咀", "港", "畈")
DAYS_PER_YEAR = 365.2425


@dataclass
class Households:
    """One entry per household (户): number, head, address, division, registration day."""

    hh: list[str] = field(default_factory=list)
    head: list[int] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    xzqh: list[str] = field(default_factory=list)
    lhrq: list[int] = field(default_factory=list)


@dataclass
class Population:
    """Column lists over persons; birth days are ordinals, sex is '1' male / '2' female."""

    logical_date: datetime.date
    sfzh: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    surname: list[str] = field(default_factory=list)
    sex: list[str] = field(default_factory=list)
    birth: list[int] = field(default_factory=list)
    mz: list[str] = field(default_factory=list)
    household: list[int] = field(default_factory=list)
    relation: list[str] = field(default_factory=list)
    households: Households = field(default_factory=Households)
    couples: list[tuple[int, int]] = field(default_factory=list)
    newborns: list[tuple[int, int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sfzh)

    def age(self, person: int) -> int:
        """Completed years on the logical date."""
        return int((self.logical_date.toordinal() - self.birth[person]) / DAYS_PER_YEAR)

    def adults(self, low: int = 18, high: int = 200) -> list[int]:
        """Persons aged low..high."""
        today = self.logical_date.toordinal()
        lo, hi = today - (high + 1) * DAYS_PER_YEAR, today - low * DAYS_PER_YEAR
        return [i for i, b in enumerate(self.birth) if lo < b <= hi]


def address(rng: random.Random, pools: Pools, district: str) -> str:
    """An address: street and number in a 街道, village and group in a 镇/乡."""
    name, towns = TOWNSHIPS[district]
    town = rng.choice(towns)
    place = f"湖北省鄂州市{name}{town}"
    if town.endswith("街道"):
        street = f"{place}{rng.choice(pools.streets)}{rng.randint(1, 399)}号"
        if rng.random() < 0.5:
            return street
        room = f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室"
        return f"{street}{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{room}"
    village = rng.choice(pools.surnames) + rng.choice(VILLAGE_SUFFIX)
    return f"{place}{village}村{rng.randint(1, 12)}组{rng.randint(1, 99)}号"


def pick(rng: random.Random, items: list, cum: list[float]) -> object:
    """A weighted choice from cumulative weights, cheaper than random.choices in hot loops."""
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def _sex(rng: random.Random) -> str:
    """'1' slightly more often than '2', as in China's birth ratio."""
    return "1" if rng.random() < 0.515 else "2"


def _couple(rng: random.Random, low: int, high: int) -> list[list]:
    """A head and spouse of opposite sex and similar age."""
    age = rng.randint(low, high)
    head = "1" if rng.random() < 0.85 else "2"
    other = min(95, max(20, age + rng.randint(-6, 4)))
    return [[age, head, "02", -1], [other, "2" if head == "1" else "1", "10", -1]]


def _father(members: list[list]) -> int:
    """Position of the male partner, whose surname the children take."""
    return 0 if members[0][1] == "1" else 1


def _children(rng: random.Random, members: list[list], count: int, max_age: int) -> None:
    """Append sons (20) and daughters (30) aged at least one year."""
    for _ in range(count):
        sex = _sex(rng)
        age = rng.randint(1, max(1, max_age))
        members.append([age, sex, "20" if sex == "1" else "30", _father(members)])


def _family(rng: random.Random) -> list[list]:
    """A couple aged 25-55 with one to three children."""
    members = _couple(rng, 25, 55)
    mother_age = members[0][0] if members[0][1] == "2" else members[1][0]
    count = rng.choices((1, 2, 3), (55, 40, 5))[0]
    _children(rng, members, count, min(mother_age - 20, 30))
    return members


def _three(rng: random.Random) -> list[list]:
    """A couple with a child and one or two of the head's parents (50)."""
    members = _couple(rng, 30, 60)
    _children(rng, members, 1, min(members[0][0], members[1][0]) - 21)
    for sex in ("1", "2")[: rng.randint(1, 2)]:
        age = members[0][0] + rng.randint(22, 32)
        if age <= 95:
            members.append([age, sex, "50", 0 if sex == "1" and members[0][1] == "1" else -1])
    return members


def _grand(rng: random.Random) -> list[list]:
    """Grandparents (or one of them) raising one or two grandchildren (40)."""
    members = _couple(rng, 55, 85)
    if rng.random() < 0.3:
        members.pop()
    for _ in range(rng.randint(1, 2)):
        members.append([rng.randint(1, min(members[0][0] - 40, 18)), _sex(rng), "40", 0])
    return members


def _compose(rng: random.Random, adult_ages: list[int], adult_cum: list[float]) -> list[list]:
    """One household's members, head first."""
    kind = pick(rng, COMPOSITION_KINDS, COMPOSITION_CUM)
    if kind == "single":
        return [[rng.choices(adult_ages, cum_weights=adult_cum)[0], _sex(rng), "02", -1]]
    if kind == "couple":
        return _couple(rng, 22, 90)
    return {"family": _family, "three": _three, "grand": _grand}[kind](rng)


def _adult_weights() -> tuple[list[int], list[float]]:
    """Ages 18-95 with a flat working age and a tail that thins out after 65."""
    ages = list(range(18, 96))
    weights = [1.0 if a <= 65 else max(0.05, 1.0 - (a - 65) / 32) for a in ages]
    return ages, list(itertools.accumulate(weights))


class _Builder:
    """Materialises household compositions into persons with addresses and ID numbers."""

    def __init__(self, rng: random.Random, pools: Pools, config: SampleConfig, pop: Population):
        self.rng, self.pools, self.pop = rng, pools, pop
        self.today = pop.logical_date.toordinal()
        self.elsewhere = config.ratio("born_elsewhere")
        self.districts = list(config.districts)
        self.district_cum = list(itertools.accumulate(config.districts.values()))
        self.mz_codes = list(ETHNICITIES)
        self.mz_cum = list(itertools.accumulate(ETHNICITIES.values()))
        self.issued: set[str] = set()

    def id_code(self, district: str, year: int) -> str:
        """The ID address code: the district, a legacy Ezhou code, or elsewhere in Hubei."""
        if self.rng.random() < self.elsewhere:
            return self.rng.choice([c for c in OTHER_HUBEI if code_valid_in(c, year)])
        return next(c for c in (district, *EZHOU_LEGACY) if code_valid_in(c, year))

    def id_number(self, code: str, birth: int, sex: str) -> str:
        """A unique ID number whose sequence parity matches sex."""
        day = datetime.date.fromordinal(birth)
        stamp = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        while True:
            half = int(self.rng.random() * 499)
            seq = 2 * half + 1 if sex == "1" else 2 * half + 2
            number = ric_number(code, stamp, seq)
            if number not in self.issued:
                self.issued.add(number)
                return number

    def person(self, household: int, district: str, member: list, surname: str, birth: int) -> int:
        """Append one person and return their index."""
        pop, rng = self.pop, self.rng
        _, sex, relation, _ = member
        code = self.id_code(district, datetime.date.fromordinal(birth).year)
        pop.sfzh.append(self.id_number(code, birth, sex))
        pop.name.append(surname + self.pools.given(rng, sex))
        pop.surname.append(surname)
        pop.sex.append(sex)
        pop.birth.append(birth)
        pop.mz.append(pick(rng, self.mz_codes, self.mz_cum))
        pop.household.append(household)
        pop.relation.append(relation)
        return len(pop.sfzh) - 1

    def household(self, members: list[list]) -> None:
        """Append a household and its members."""
        rng, pop = self.rng, self.pop
        district = pick(rng, self.districts, self.district_cum)
        number = len(pop.households.hh)
        indices: list[int] = []
        for member in members:
            age, _, _, source = member
            surname = (
                pop.surname[indices[source]] if source >= 0 else rng.choice(self.pools.surnames)
            )
            birth = self.today - int(age * DAYS_PER_YEAR) - int(rng.random() * 365)
            indices.append(self.person(number, district, member, surname, birth))
        if len(members) > 1 and members[1][2] == "10":
            pair = (indices[0], indices[1]) if members[0][1] == "1" else (indices[1], indices[0])
            pop.couples.append(pair)
        head_birth = pop.birth[indices[0]]
        low = max(datetime.date(1985, 1, 1).toordinal(), head_birth + int(18 * DAYS_PER_YEAR))
        homes = pop.households
        homes.hh.append(f"{district[4:]}{number + 1:07d}")
        homes.head.append(indices[0])
        homes.address.append(address(rng, self.pools, district))
        homes.xzqh.append(district)
        homes.lhrq.append(rng.randint(low, self.today) if low < self.today else self.today)

    def newborn(self, father: int, mother: int) -> None:
        """A child born in the last 365 days into the parents' household."""
        pop, rng = self.pop, self.rng
        home = pop.household[mother]
        district = pop.households.xzqh[home]
        sex = _sex(rng)
        member = [0, sex, "20" if sex == "1" else "30", -1]
        child = self.person(
            home, district, member, pop.surname[father], self.today - rng.randint(0, 364)
        )
        pop.newborns.append((child, mother, father))


def _young_parents(pop: Population) -> list[tuple[int, int]]:
    """Couples whose woman is 20-42: candidates for a newborn."""
    return [(m, f) for m, f in pop.couples if 20 <= pop.age(f) <= 42]


def build_population(
    persons: int, logical_date: datetime.date, seed: int, pools: Pools, config: SampleConfig
) -> Population:
    """Generate exactly `persons` residents in households, about `births` of them newborns."""
    rng = random.Random(f"{seed}:population")
    pop = Population(logical_date=logical_date)
    builder = _Builder(rng, pools, config, pop)
    births = round(persons * config.ratio("births"))
    ages, cum = _adult_weights()
    while len(pop) < persons - births:
        members = _compose(rng, ages, cum)
        builder.household(members[: persons - births - len(pop)])
    parents = _young_parents(pop)
    for father, mother in rng.sample(parents, min(births, len(parents))):
        builder.newborn(father, mother)
    while len(pop) < persons:
        builder.household([[rng.choices(ages, cum_weights=cum)[0], _sex(rng), "02", -1]])
    return pop
