"""How rows of the catalog tables become ledger objects: the one place to adjust their columns.

Column names follow the catalog tables' declarations in govlake.owned (CATALOG_RESOURCES,
CATALOG_ITEMS, CATALOG_SYSTEMS, CATALOG_REGISTRATIONS); each field lists the names it accepts,
first match wins, so a renamed column is a one-word change here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from govlake.site.model import Item, Registration, Resource, SystemInfo

Row = dict[str, Any]


def pick(row: Row, *names: str, default: Any = None) -> Any:
    """The first of `names` that the row has with a value."""
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return default


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v) for v in value]


def _classification(row: Row) -> str:
    """类 / 项 / 目 / 细目 as 'code name' joined, or one column holding the whole path."""
    parts = []
    for level in ("lei", "xiang", "mu", "ximu"):
        code, name = row.get(f"{level}_code"), row.get(f"{level}_name")
        if code or name:
            parts.append(" ".join(str(p) for p in (code, name) if p))
    return " / ".join(parts) or str(pick(row, "classification", "category", default=""))


def _resource_key(row: Row) -> str:
    return str(pick(row, "resource", "resource_id", "code", "resource_code", default=""))


def catalog_item(row: Row) -> tuple[str, Item]:
    """A row of catalog.items as (key of its resource, item)."""
    kind, physical = pick(row, "type", "data_type", default=""), pick(row, "physical_type")
    inherited = pick(row, "inherited_from", default=[]) or []
    return _resource_key(row), Item(
        name=pick(row, "column", "column_name", default=""),
        name_zh=pick(row, "name", "item_name", "name_zh", default=""),
        data_type=f"{kind} ({physical})" if kind and physical else (kind or physical or ""),
        grade=_grade(row),
        table=pick(row, "table", "table_name"),
        description=pick(row, "description", default="")
        + (f" 就高从严, 继承自 {', '.join(inherited)}" if inherited else ""),
    )


def _grade(row: Row) -> str | None:
    """The local grade with its GB/T 43697 level, e.g. 'L4 · 核心'."""
    grade, national = pick(row, "grade"), pick(row, "national_grade")
    if grade and national and national != grade:
        return f"{grade} · {national}"
    return grade or national


def catalog_resource(row: Row, items: list[tuple[str, Item]]) -> Resource:
    """A row of catalog.resources with its items ((resource key, item) pairs from catalog.items)."""
    key = _resource_key(row)
    tables = _list(pick(row, "tables", "table_names", "table"))
    own = [item for owner, item in items if owner == key]
    findings = pick(row, "review_findings", default=[])
    findings = [findings] if isinstance(findings, str) else [str(f) for f in findings]
    return Resource(
        resource_id=key,
        code=pick(row, "code", "resource_code"),
        name=pick(row, "name", "resource_name", default=key),
        tables=tables or sorted({i.table for i in own if i.table}),
        abstract=pick(row, "abstract", "description", default=""),
        classification=_classification(row),
        layer=pick(row, "layer", default=(tables[0].split(".")[0] if tables else "")),
        department=pick(row, "provider_department", "department", "provider"),
        department_code=pick(row, "provider_code", "department_code"),
        systems=_list(pick(row, "source_systems", "systems", "source_system")),
        grade=_grade(row),
        sharing_type=pick(row, "sharing_type"),
        sharing_condition=pick(row, "sharing_condition"),
        sharing_method=pick(row, "sharing_method"),
        open_type=pick(row, "open_type"),
        update_cycle=pick(row, "update_cycle"),
        publish_date=pick(row, "publish_date"),
        related=_list(pick(row, "related", "related_codes")),
        items=own,
        registered=True,
        review=pick(row, "review_status"),
        review_findings=findings,
        legal_basis=pick(row, "legal_basis"),
    )


def catalog_system(row: Row) -> SystemInfo:
    """A row of catalog.systems."""
    return SystemInfo(
        system=pick(row, "system", "system_id", "code"),
        department=pick(row, "department", "provider", default=""),
        information_system=pick(row, "information_system", "system_name", "name", default=""),
        department_code=pick(row, "department_code", "provider_code"),
        mode=pick(row, "mode", "access_mode"),
    )


def catalog_registration(row: Row, today: dt.date) -> Registration:
    """A row of catalog.registrations; status is derived from dates when the row has none."""
    due = pick(row, "due_date", "deadline", "due_on")
    if isinstance(due, dt.datetime):
        due = due.date()
    done = pick(row, "registered_on", "done_on", "completed_on")
    status = pick(row, "status")
    if status not in ("due", "overdue", "done"):
        status = "done" if done else ("overdue" if due and due < today else "due")
    kind, detail = pick(row, "kind", "reason", "event"), pick(row, "detail")
    return Registration(
        department=pick(row, "department", "provider_department", default=""),
        resource=str(pick(row, "resource", "resource_code", "table", "code", default="")),
        reason=" · ".join(str(x) for x in (kind, detail) if x),
        detected_on=pick(row, "detected_on", "event_date"),
        due_date=due,
        registered_on=done,
        status=status,
    )
