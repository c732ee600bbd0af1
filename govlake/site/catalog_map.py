"""How rows of the catalog tables become ledger objects: the one place to adjust their columns.

The catalog milestone fixes the table names (catalog.resources, catalog.items,
catalog.systems, catalog.registrations); each field below lists the column names it accepts,
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
    """类 / 项 / 目 / 细目 joined, or one column holding the whole path."""
    parts = [pick(row, f"category_{level}", f"class_{level}") for level in (1, 2, 3, 4)]
    joined = " / ".join(str(p) for p in parts if p)
    return joined or str(pick(row, "classification", "category", default=""))


def catalog_item(row: Row) -> tuple[str, Item]:
    """A row of catalog.items as (key of its resource, item)."""
    owner = str(pick(row, "resource_code", "code", "resource_id", "table", default=""))
    return owner, Item(
        name=pick(row, "column", "column_name", "item", "item_code", default=""),
        name_zh=pick(row, "item_name", "name_zh", "item_name_zh", "chinese_name", default=""),
        data_type=pick(row, "data_type", "type", default=""),
        grade=pick(row, "grade", "effective_grade"),
        table=pick(row, "table", "table_name"),
        description=pick(row, "description", "abstract", default=""),
    )


def catalog_resource(row: Row, items: list[tuple[str, Item]]) -> Resource:
    """A row of catalog.resources with its items ((resource key, item) pairs from catalog.items)."""
    key = str(pick(row, "resource_code", "code", "resource_id", "table"))
    tables = _list(pick(row, "tables", "table_names", "table", "table_name"))
    own = [item for owner, item in items if owner == key]
    return Resource(
        resource_id=key,
        code=pick(row, "resource_code", "code"),
        name=pick(row, "resource_name", "name", default=key),
        tables=tables or sorted({i.table for i in own if i.table}),
        abstract=pick(row, "abstract", "description", default=""),
        classification=_classification(row),
        layer=pick(row, "layer", default=(tables[0].split(".")[0] if tables else "")),
        department=pick(row, "department", "provider", "provider_department"),
        department_code=pick(row, "department_code", "provider_code"),
        systems=_list(pick(row, "systems", "source_systems", "system", "source_system")),
        grade=pick(row, "grade", "effective_grade"),
        sharing_type=pick(row, "sharing_type", "share_type"),
        sharing_condition=pick(row, "sharing_condition", "share_condition"),
        sharing_method=pick(row, "sharing_method", "share_method"),
        open_type=pick(row, "open_type", "open_attribute"),
        update_cycle=pick(row, "update_cycle"),
        publish_date=pick(row, "publish_date"),
        related=_list(pick(row, "related", "related_resources", "related_codes")),
        items=own,
        registered=True,
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
    return Registration(
        department=pick(row, "department", "provider", default=""),
        resource=str(pick(row, "resource_code", "resource", "table", "code", default="")),
        reason=pick(row, "reason", "event", "change", "trigger", default=""),
        detected_on=pick(row, "detected_on", "event_date", "changed_on", "since"),
        due_date=due,
        registered_on=done,
        status=status,
    )
