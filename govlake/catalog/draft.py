"""Draft catalog entries for a new source's tables (`govlake catalog draft <system>`): adding a
department source stays one file, and its catalog entry starts from that file.

A draft holds what the source YAML already says (provider, system, table, columns with the
department's own names, update cycle from its schedule) and the safest stand-ins for what only
the department can declare: every item at the strictest grade, 有条件共享 with the condition to
be confirmed, 不予开放. The review lists a draft as work for its department (field `status`),
not as a failure, until the department completes it and removes `status: draft`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml

from govlake.catalog.models import CatalogEntry, CatalogRules
from govlake.errors import ConfigError
from govlake.sources import SourceSystem, TableSpec

DEPARTMENT_LEI = "3"  # 部门信息资源: the class of every ods table
OTHER_XIANG = ("99", "其他")  # a department with no entry yet: the 项 it confirms later
CJK = re.compile(r"[\u4e00-\u9fff]")


def update_cycle(schedule: str) -> str:
    """The catalog's update cycle from a five-field cron schedule."""
    _, _, day, month, weekday = schedule.split()
    if month != "*":
        return "每年"
    if day != "*":
        return "每月"
    return "每周" if weekday != "*" else "每日"


def _classification(source: SourceSystem, entries: list[CatalogEntry]) -> tuple[dict, str]:
    """The department's 项 (from its other ods entries, else 其他) and the next free 目."""
    own = [
        e
        for e in entries
        if e.provider.department == source.department
        and e.classification.lei.code == DEPARTMENT_LEI
    ]
    xiang = (own[0].classification.xiang.code, own[0].classification.xiang.name) if own else None
    code, name = xiang or OTHER_XIANG
    taken = [
        int(e.classification.mu.code)
        for e in entries
        if e.classification.lei.code == DEPARTMENT_LEI and e.classification.xiang.code == code
    ]
    mu = f"{max(taken, default=0) + 1:03d}"
    levels = {
        "lei": {"code": DEPARTMENT_LEI, "name": "部门信息资源"},
        "xiang": {"code": code, "name": name},
        "mu": {"code": mu, "name": ""},
    }
    return levels, f"{DEPARTMENT_LEI}{code}{mu}-0001"


def _provider_code(source: SourceSystem, entries: list[CatalogEntry]) -> str | None:
    return next(
        (e.provider.code for e in entries if e.provider.department == source.department), None
    )


def _items(spec: TableSpec, grade: str) -> list[dict]:
    """One item per column the table will have, named as the department names it."""
    raw_of = {ods: raw for raw, ods in spec.columns.items()}
    columns = dict.fromkeys([*spec.ods_primary_key, *spec.columns.values()])
    return [
        {
            "column": c,
            "name": raw_of.get(c, c) if CJK.search(raw_of.get(c, "")) else c,
            "type": "字符型",
            "grade": grade,
        }
        for c in columns
    ]


def draft_entry(
    source: SourceSystem,
    spec: TableSpec,
    entries: list[CatalogEntry],
    rules: CatalogRules,
    today: dt.date,
) -> dict:
    """The draft of one table's entry, as the YAML file holds it."""
    strictest = rules.grades.local[-1].level if rules.grades.local else rules.grades.national[-1]
    classification, code = _classification(source, entries)
    table = source.ods_table(spec)
    return {
        "resource": table.split(".", 1)[1],
        "status": "draft",
        "code": code,
        "name": spec.description or spec.name,
        "abstract": source.description or spec.description or spec.name,
        "classification": classification,
        "provider": {"department": source.department, "code": _provider_code(source, entries)},
        "source_systems": [source.system],
        "tables": [table],
        "format": "数据库" if spec.dbtable else "接口" if spec.is_api else "电子文件",
        "items": _items(spec, strictest),
        "sharing": {
            "type": "有条件共享",
            "condition": f"草稿：共享条件待{source.department}确认",
            "method": "库表交换",
        },
        "open": {"type": "不予开放"},
        "update_cycle": update_cycle(source.schedule),
        "publish_date": today.isoformat(),
        "related": [],
    }


def drafts(
    source: SourceSystem, entries: list[CatalogEntry], rules: CatalogRules, today: dt.date
) -> list[tuple[TableSpec, dict, CatalogEntry]]:
    """A draft per table of the source that has no entry yet, each taking the next free 目."""
    covered = {t for e in entries for t in e.tables}
    out = []
    for spec in source.tables:
        if source.ods_table(spec) in covered:
            continue
        document = draft_entry(source, spec, entries, rules, today)
        draft = CatalogEntry.model_validate(document)  # a draft must itself be a valid entry
        entries = [*entries, draft]  # the next 目 is taken
        out.append((spec, document, draft))
    return out


def missing_drafts(
    entries: list[CatalogEntry], rules: CatalogRules, tables, today: dt.date
) -> list[CatalogEntry]:
    """In memory, the draft of each ods table among `tables` with no entry but a source YAML:
    the review lists it as its department's work (what `catalog draft` would write), not as a
    failure of the night. The sources are read only when such a table exists."""
    covered = {t for e in entries for t in e.tables}
    uncovered = {t for t in tables if t.startswith("ods.") and t not in covered}
    if not uncovered:
        return []
    from govlake.sources import load_sources

    found = []
    for source in load_sources():
        if uncovered & {source.ods_table(spec) for spec in source.tables}:
            made = [d for *_, d in drafts(source, [*entries, *found], rules, today)]
            found += [d for d in made if set(d.tables) <= uncovered]
    return found


def write_drafts(
    source: SourceSystem,
    entries: list[CatalogEntry],
    rules: CatalogRules,
    directory: Path,
    today: dt.date,
) -> list[Path]:
    """A draft file per table of the source that has no entry yet; an existing file is kept
    (a department's own entry is never overwritten)."""
    written = []
    for spec, document, _ in drafts(source, entries, rules, today):
        path = directory / f"{document['resource']}.yaml"
        if path.exists():
            raise ConfigError(
                "a catalog file of this name exists but does not describe the table.",
                file=str(path),
                fix=f"add {source.ods_table(spec)} to its `tables`, or rename it.",
            )
        header = (
            f"# 草稿 draft of {source.ods_table(spec)}, generated from {source.file_path}.\n"
            f"# {source.department}: confirm the classification and code, each item's name, "
            "type and grade\n# (all at the strictest until confirmed), the sharing condition "
            "and the open attribute,\n# then remove `status: draft`.\n"
        )
        body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
        path.write_text(header + body, encoding="utf-8")
        written.append(path)
    return written
