"""Value pools: Faker zh_CN names and streets built once per run, plus Ezhou reference lists."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from faker import Faker

# Townships (街道/镇/乡) per district; 街道 get street addresses, 镇/乡 get village addresses.
TOWNSHIPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "420704": (
        "鄂城区",
        (
            "古楼街道",
            "凤凰街道",
            "西山街道",
            "樊口街道",
            "新庙镇",
            "杜山镇",
            "泽林镇",
            "汀祖镇",
            "燕矶镇",
            "杨叶镇",
            "花湖镇",
            "长港镇",
            "碧石渡镇",
            "沙窝乡",
        ),
    ),
    "420703": ("华容区", ("华容镇", "葛店镇", "庙岭镇", "段店镇", "临江乡", "蒲团乡")),
    "420702": ("梁子湖区", ("太和镇", "东沟镇", "梁子镇", "涂家垴镇", "沼山镇")),
}

EZHOU_ROADS = (
    "滨湖南路",
    "滨湖北路",
    "南浦路",
    "寒溪路",
    "吴都大道",
    "寿山大道",
    "凤凰路",
    "洋澜路",
    "江碧路",
    "文星路",
    "武昌大道",
    "鄂城大道",
    "高新大道",
    "创业大道",
)

# Issuing and registering departments: key -> name. Their USCCs are generated per seed.
DEPARTMENTS = {
    "psb": "鄂州市公安局",
    "samr": "鄂州市市场监督管理局",
    "nr": "鄂州市自然资源和规划局",
    "approval": "鄂州市行政审批局",
    "mca": "鄂州市民政局",
    "nhc": "鄂州市卫生健康委员会",
    "hrss": "鄂州市人力资源和社会保障局",
    "nhsa": "鄂州市医疗保障局",
    "tax": "国家税务总局鄂州市税务局",
}

# GB/T 3304 ethnicity codes with shares typical of Hubei.
ETHNICITIES = {"01": 0.985, "15": 0.006, "03": 0.003, "06": 0.002, "11": 0.002, "08": 0.002}

HOSPITALS = (
    "鄂州市中心医院",
    "鄂州市妇幼保健院",
    "鄂州市中医医院",
    "鄂钢医院",
    "华容区人民医院",
    "梁子湖区人民医院",
    "鄂州市第三医院",
)

DEATH_CAUSES = (
    "脑梗死",
    "脑出血",
    "冠心病",
    "高血压病",
    "慢性阻塞性肺疾病",
    "肺癌",
    "肝癌",
    "胃癌",
    "肺炎",
    "糖尿病并发症",
    "交通事故",
    "慢性阻塞性肺疾病,肺源性心脏病",
    "急性心肌梗死,心源性休克",
)

DEATH_PLACES = ("医院", "家中", "养老机构", "途中", "其他")

INDUSTRIES = (
    "科技",
    "商贸",
    "建筑工程",
    "物流",
    "餐饮管理",
    "农业开发",
    "机械制造",
    "医药",
    "电子",
    "新材料",
    "环保科技",
    "物业管理",
    "汽车销售",
    "食品",
    "服装",
    "装饰工程",
    "水产养殖",
    "钢铁贸易",
    "信息技术",
    "劳务",
)

SCOPES = (
    "技术服务、技术开发、技术咨询",
    "建筑材料销售",
    "日用百货销售",
    "普通货物仓储服务",
    "道路货物运输",
    "餐饮服务",
    "食品销售",
    "农产品初加工",
    "水产品养殖",
    "机械设备租赁",
    "物业管理",
    "金属材料销售",
    "劳务服务",
    "软件开发",
    "住宅室内装饰装修",
)
SCOPE_TAIL = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"

# Enterprise type (qylx) by the USCC's second character, for USCCs registered by 市场监管.
ENTERPRISE_TYPES = {
    "1": (
        "有限责任公司(自然人投资或控股)",
        "有限责任公司(自然人独资)",
        "股份有限公司(非上市、自然人投资或控股)",
        "有限责任公司(国有独资)",
    ),
    "2": ("个体工商户",),
    "3": ("农民专业合作社",),
}

# Second USCC character (entity type) per registering authority, repeated to weight the draw:
# 9: 1 enterprise, 2 sole trader (个体工商户), 3 farmers' cooperative; 1: 1 government body,
# 2 public institution; 5: 1 social group, 2 private non-enterprise unit; 3: 1 law firm, 2 notary.
SECOND_CHAR = {"9": "1111122223", "1": "1112", "5": "12", "3": "12"}
OTHER_ENTITY_SUFFIX = {
    "11": "局",
    "12": "中心",
    "51": "协会",
    "52": "培训学校",
    "31": "律师事务所",
    "32": "公证处",
}


def _gbk_ok(text: str) -> bool:
    """Whether text survives the GBK encoding used by the health commission's CSV exports."""
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _cjk(text: str) -> str:
    """Only the CJK characters of text."""
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")


@dataclass(frozen=True)
class Pools:
    """Faker-derived pools drawn from with a seeded random.Random, never Faker per row."""

    surnames: tuple[str, ...]
    given_male: tuple[str, ...]
    given_female: tuple[str, ...]
    given_chars: tuple[str, ...]
    streets: tuple[str, ...]
    brands: tuple[str, ...]

    def given(self, rng: random.Random, sex: str) -> str:
        """A given name for sex '1' (male) or '2' (female)."""
        return rng.choice(self.given_male if sex == "1" else self.given_female)

    def vary_name(self, name: str, rng: random.Random) -> str:
        """The same person's name spelled differently: one given-name character replaced."""
        pos = rng.randrange(1, len(name)) if len(name) > 1 else 0
        other = rng.choice(self.given_chars)
        while other == name[pos]:
            other = rng.choice(self.given_chars)
        return name[:pos] + other + name[pos + 1 :]


def _given_pool(rng: random.Random, names: list[str], size: int) -> tuple[str, ...]:
    """Faker given names plus one- or two-character combinations of their characters."""
    chars = sorted({ch for name in names for ch in name})
    pool = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.5:
            pool.append(rng.choice(names))
        elif roll < 0.65:
            pool.append(rng.choice(chars))
        else:
            pool.append(rng.choice(chars) + rng.choice(chars))
    return tuple(pool)


def build_pools(seed: int, sizes: Mapping[str, int]) -> Pools:
    """Call Faker a few thousand times, once per run, and keep GBK-safe results."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(f"{seed}:pools")
    surnames = [s for s in (fake.last_name() for _ in range(sizes["surnames"])) if _gbk_ok(s)]
    male = [fake.first_name_male() for _ in range(200)]
    female = [fake.first_name_female() for _ in range(200)]
    given_male = _given_pool(rng, [n for n in male if _gbk_ok(n)], sizes["given_names"])
    given_female = _given_pool(rng, [n for n in female if _gbk_ok(n)], sizes["given_names"])
    streets = [_cjk(fake.street_name()) for _ in range(sizes["streets"])]
    streets += list(EZHOU_ROADS) * max(1, sizes["streets"] // (4 * len(EZHOU_ROADS)))
    brand_chars = sorted({ch for _ in range(300) for ch in _cjk(fake.company_prefix())})
    brands = [rng.choice(brand_chars) + rng.choice(brand_chars) for _ in range(sizes["brands"])]
    return Pools(
        surnames=tuple(surnames),
        given_male=given_male,
        given_female=given_female,
        given_chars=tuple(sorted({ch for n in given_male + given_female for ch in n})),
        streets=tuple(s for s in streets if len(s) > 1 and _gbk_ok(s)),
        brands=tuple(b for b in brands if _gbk_ok(b)),
    )
