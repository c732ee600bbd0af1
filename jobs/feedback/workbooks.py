"""Rectification workbooks (整改反馈): per providing department, its open problems as Excel and
CSV (UTF-8 with BOM, so Excel on a Chinese Windows desktop opens it correctly), and in the Excel
a sheet of the facts it collects that another department collects too (重复采集: declared by a
library or found from the data; table and column names and rates only, never a value)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.masking import mask_text
from govlake.owned import PROBLEMS, SCORES
from govlake.settings import Settings
from jobs.feedback.scores import short_name

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# (quality.problems column, header: Chinese / English). Values are masked before they are stored.
COLUMNS = (
    ("table", "来源表 / Source table"),
    ("key", "主键（已脱敏）/ Key (masked)"),
    ("field", "字段 / Field"),
    ("value_masked", "值（已脱敏）/ Value (masked)"),
    ("rule_zh", "问题说明 / Rule broken (中文)"),
    ("rule_en", "Rule broken (English)"),
    ("rule", "规则编号 / Rule id"),
    ("first_seen", "首次发现 / First seen"),
    ("last_seen", "最近发现 / Last seen"),
    ("times_seen", "发现次数 / Times seen"),
    ("source_ref", "数据位置 / Source row"),
    ("problem_id", "问题编号 / Problem id"),
)

# One row per column the department collects again: declared (jobs.feedback.duplicates) or
# found from the data (jobs.feedback.discovered). Names and rates only: nothing to mask.
DUPLICATE_SHEET = "重复采集 Duplicate collection"
DUPLICATE_COLUMNS = (
    "本部门表 / Our table",
    "本部门字段 / Our column",
    "另一部门 / Other department",
    "另一部门表 / Other table",
    "另一部门字段 / Other column",
    "关联标识 / Joined on",
    "共同对象数 / Shared keys",
    "一致率% / Agreement %",
    "随机一致率% / Chance agreement %",
    "基础库声明 / Declared by a library",
    "来源 / Found by",
)


def duplicate_rows(department: str, declared: list[dict], discovered: list[dict]) -> list[list]:
    """The department's rows of both duplicate reports, in DUPLICATE_COLUMNS order: declared
    attributes it collects besides the authority, then pairs found from the data."""
    rows = [
        [
            d["inputs"],
            d["attribute"],
            d["authoritative_department"],
            d["authoritative_inputs"],
            d["attribute"],
            d["library"],
            d["keys_both"],
            d["agree_percent"],
            None,
            f"{d['library']}.{d['attribute']}",
            "基础库声明 declared",
        ]  # fmt: skip
        for d in declared
        if d["department"] == department
    ]
    for d in discovered:
        sides = (("a", "b"), ("b", "a"))
        for ours, theirs in sides:
            if d[f"department_{ours}"] != department:
                continue
            rows.append(
                [
                    short_name(d[f"table_{ours}"]),
                    d[f"column_{ours}"],
                    d[f"department_{theirs}"],
                    short_name(d[f"table_{theirs}"]),
                    d[f"column_{theirs}"],
                    f"{d[f'key_{ours}']} = {d[f'key_{theirs}']} ({d['key_kind']})",
                    d["keys_overlap"],
                    d["agree_percent"],
                    d["chance_percent"],
                    d["declared_by"] or "否 no",
                    "数据发现 found in the data",
                ]  # fmt: skip
            )
    return rows


# Spark's order (NULLS FIRST ascending), said out loud for DataFusion, whose default differs.
OPEN_PROBLEMS_SQL = """
SELECT * FROM p WHERE status = 'open'
ORDER BY department NULLS FIRST, "table" NULLS FIRST, rule NULLS FIRST, key NULLS FIRST,
    field NULLS FIRST
"""


def open_problems(cfg: Settings, department: str | None = None) -> list[dict]:
    """Open problems, per department, table, rule and key, as plain dicts. Read by delta-rs:
    `govlake quality feedback` answers without starting a JVM (issue 19); the department is
    matched here, so the user's text never becomes SQL."""
    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm(OPEN_PROBLEMS_SQL, {"p": PROBLEMS.table}, cfg) or []
    return [r for r in rows if not department or r["department"] == department]


def display_row(problem: dict) -> list:
    """One sheet/CSV row; masked once more on the way out, in case a checker stored raw text."""
    values = []
    for column, _header in COLUMNS:
        value = problem.get(column)
        if column == "table":
            value = short_name(value)
        elif isinstance(value, str):
            value = mask_text(value)
        values.append(value)
    return values


def summary_rows(problems: list[dict], fixed: list[dict], scores: dict | None) -> list[list]:
    """The summary sheet: totals, then open problems per table and rule."""
    rows: list[list] = [
        ["未整改问题 / Open problems", len(problems)],
        ["本次新发现 / New tonight", sum(1 for p in problems if p["times_seen"] == 1)],
        ["本次已整改 / Fixed tonight", len(fixed)],
    ]
    if fixed:
        days = sum(p["days_to_fix"] or 0 for p in fixed) / len(fixed)
        rows.append(["平均整改天数 / Mean days to fix", round(days, 1)])
    for name in ("overall", "completeness", "validity", "consistency", "uniqueness", "timeliness"):
        if scores and scores.get(name) is not None:
            rows.append([f"质量评分 / Score: {name}", scores[name]])
    rows.append([])
    rows.append(["来源表 / Source table", "规则 / Rule", "问题说明 / Rule broken", "数量 / Count"])
    counts: dict[tuple, int] = {}
    for p in problems:
        key = (short_name(p["table"]), p["rule"], p["rule_zh"])
        counts[key] = counts.get(key, 0) + 1
    rows += [[*k, n] for k, n in sorted(counts.items())]
    return rows


def write_xlsx(
    path: Path, department: str, run_date: dt.date, problems, summary, duplicates=()
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "问题清单 Open problems"
    sheet.append([header for _c, header in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for problem in problems:
        sheet.append(display_row(problem))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for i, _ in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = 22
    info = book.create_sheet("汇总 Summary")
    info.append(["部门 / Department", department])
    info.append(["批次日期 / Run date", run_date])
    for row in summary:
        info.append(row)
    info.column_dimensions["A"].width = 32
    info.column_dimensions["C"].width = 40
    if duplicates:
        _duplicate_sheet(book.create_sheet(DUPLICATE_SHEET), duplicates)
    book.save(path)


def _duplicate_sheet(sheet, rows: list[list]) -> None:
    from openpyxl.styles import Font

    sheet.append(list(DUPLICATE_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"


def write_csv(path: Path, problems: list[dict]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([header for _c, header in COLUMNS])
        writer.writerows(display_row(p) for p in problems)


def write_workbooks(
    spark: SparkSession,
    cfg: Settings,
    run_date: dt.date,
    run_id: str,
    declared: list[dict] = (),
    discovered: list[dict] = (),
) -> list:
    """<lakehouse>/feedback/<run_date>/<department>.xlsx and .csv for every department with
    open problems, problems fixed tonight or facts collected twice (the duplicate reports of
    the night, declared and discovered); returns the paths written."""
    from pyspark.sql import functions as F

    problems = open_problems(cfg)
    table = PROBLEMS.table.read_if_exists(spark, cfg)
    fixed = (
        [r.asDict() for r in table.where(F.col("fixed_on") == F.lit(run_date)).collect()]
        if table is not None
        else []
    )
    scores = department_scores(spark, cfg, run_id)
    folder = cfg.lakehouse / "feedback" / run_date.isoformat()
    written = []
    departments = {p["department"] for p in problems + fixed}
    declared = [d for d in declared if d["keys_both"]]  # measured: both state some keys
    departments |= {d["department"] for d in declared}
    departments |= {d[f"department_{s}"] for d in discovered for s in "ab"}
    for department in sorted(d for d in departments if d):
        mine = [p for p in problems if p["department"] == department]
        done = [p for p in fixed if p["department"] == department]
        twice = duplicate_rows(department, declared, list(discovered))
        folder.mkdir(parents=True, exist_ok=True)
        summary = summary_rows(mine, done, scores.get(department))
        if twice:
            summary.insert(3, ["重复采集字段 / Columns collected twice", len(twice)])
        xlsx, text = folder / f"{department}.xlsx", folder / f"{department}.csv"
        write_xlsx(xlsx, department, run_date, mine, summary, twice)
        write_csv(text, mine)
        written += [xlsx, text]
    return written


def department_scores(spark: SparkSession, cfg: Settings, run_id: str) -> dict[str, dict]:
    from pyspark.sql import functions as F

    scores = SCORES.table.read_if_exists(spark, cfg)
    if scores is None:
        return {}
    rows = scores.where((F.col("scope") == "department") & (F.col("run_id") == run_id)).collect()
    return {r["department"]: r.asDict() for r in rows}
