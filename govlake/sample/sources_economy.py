"""Economy sources: 市统计局's enterprise annual figures (一套表 年报, an Excel workbook with a
title row) and 市税务局's tax paid per taxpayer and year (a database table).

A fraction of the registered enterprises report to the statistics bureau, and not every one
every year; most pay some tax in a year. The industry (GB/T 4754-2017) of an enterprise is the
one 市场监管 registered (qy_jbxx.hydm); the statistics bureau writes it without its section
letter (3311 for C3311), and on some rows another class (a conflict the library records).
"""

from __future__ import annotations

import datetime
import random

from govlake.sample.land_codes import industry_classes, industry_sections
from govlake.sample.tables import TableData, TableSpec
from govlake.sample.world import World

STATS_COLUMNS = (
    "统一社会信用代码",
    "单位详细名称",
    "统计年度",
    "行业代码",
    "营业收入(万元)",
    "从业人员期末人数",
    "报送时间",
)
STATS_TITLE = "鄂州市企业年度主要指标（一套表 年报）"
TAX = TableSpec(
    system="tax_levy",
    table="nd_sjse",
    path="tax_levy.db",
    fmt="sqlite",
    pk="id",
    columns=("nsrsbh", "nsrmc", "nd", "sjse", "gxsj"),
    types={"sjse": "REAL"},
    watermark="gxsj",
    uscc_cols=("nsrsbh",),
    required=("nsrsbh", "nd", "sjse"),
    text_cols=("nsrsbh", "nsrmc"),
)


def stats_spec(ds: str) -> TableSpec:
    """The statistics bureau's annual figures delivered on one logical date (xlsx)."""
    return TableSpec(
        system="stats_enterprise",
        table="annual_figures",
        path=f"stats_enterprise/qy_nb_{ds}.xlsx",
        fmt="xlsx",
        sheet="企业年报",
        title=STATS_TITLE,
        columns=STATS_COLUMNS,
        uscc_cols=("统一社会信用代码",),
        required=("统一社会信用代码", "统计年度"),
        text_cols=("统一社会信用代码", "单位详细名称"),
        # The platform stamps every submission (报送时间): it never exports the same row twice.
        duplicates=False,
    )


def entity_industries(world: World) -> list[str]:
    """The registered industry of every legal entity, canonical (C3311): a 4-digit class."""
    rng = world.rng("samr.industry")
    classes = [c for c in industry_classes() if len(c) == 4]
    sections = industry_sections()
    return [sections[d[:2]] + d for d in (rng.choice(classes) for _ in range(len(world.ents)))]


def figure_years(world: World) -> tuple[int, int]:
    """The two closed statistical years before the logical date's (2024 and 2025 in 2026)."""
    year = world.logical_date.year
    return year - 2, year - 1


def reporting(world: World, name: str, share: float) -> list[tuple[int, int]]:
    """(entity, year) pairs: enterprises registered by 市场监管 (USCC 9…) that existed by the
    year's end, `share` of each year's, drawn per year (not every enterprise every year)."""
    rng, ents = world.rng(name), world.ents
    pairs = []
    for year in figure_years(world):
        end = datetime.date(year, 12, 31).toordinal()
        pool = [e for e in ents.by_authority("9") if ents.clrq[e] <= end]
        pairs += [(e, year) for e in pool if rng.random() < share]
    return pairs


def _submitted(rng: random.Random, year: int) -> str:
    """When the year's report was submitted: January to May of the next year."""
    day = datetime.date(year + 1, 1, 1) + datetime.timedelta(days=rng.randrange(150))
    second = rng.randrange(8 * 3600, 18 * 3600)
    return f"{day.isoformat()} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


def _other_class(row: list, rng: random.Random) -> list:
    """The statistics bureau filing the enterprise under another class than 市场监管."""
    new = list(row)
    new[3] = rng.choice([c for c in industry_classes() if len(c) == 4 and c != row[3]])
    return new


def stats_table(world: World, ds: str) -> TableData:
    """qy_nb: one row per reporting enterprise and year, revenue in 万元 and head count."""
    rng, ents = world.rng("stats.figures"), world.ents
    industries = entity_industries(world)
    pairs = reporting(world, "stats.reporting", world.config.ratio("stats_reporting"))
    rows = []
    for e, year in pairs:
        revenue = round(max(1.0, ents.capital[e]) * rng.uniform(0.3, 6.0), 1)
        rows.append(
            [
                ents.uscc[e],
                ents.name[e],
                year,
                industries[e][1:],  # 一套表 writes the class without its section letter
                revenue,
                rng.randint(3, 800),
                _submitted(rng, year),
            ]
        )
    data = TableData(stats_spec(ds), rows, conflict=_other_class)
    # A conflict is seen where 市场监管 states the industry: its row must be clean.
    data.eligible = [i for i, (e, _) in enumerate(pairs) if e not in world.dirty_entities]
    return data


def tax_table(world: World) -> TableData:
    """nd_sjse: tax paid (万元) per taxpaying enterprise and year, updated when declared."""
    rng, ents = world.rng("tax.paid"), world.ents
    pairs = reporting(world, "tax.paying", world.config.ratio("tax_paying"))
    rows = [
        [
            ents.uscc[e],
            ents.name[e],
            year,
            round(max(0.5, ents.capital[e]) * rng.uniform(0.005, 0.2), 2),
            _submitted(rng, year),
        ]
        for e, year in pairs
    ]
    return TableData(TAX, rows)
