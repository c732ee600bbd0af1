"""What an application's warehouse may hold tonight: each draw of conf/apps/<name>.yaml checked
against the share request behind it (never more items than approved), and the query that fills
it planned by governed access for the application's principal (the one masking path)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from govlake.access.control import GRANTING_STATES, AccessControl, Principal
from govlake.access.enforce import Refused
from govlake.errors import ConfigError, GovlakeError
from govlake.lakehouse import Table

if TYPE_CHECKING:
    from govlake.warehouse.config import App, Draw

DELIVERED, EMPTIED = "delivered", "emptied"


@dataclass(frozen=True)
class Step:
    """One warehouse table tonight: fill it with `sql` (planned, masked, filtered), or empty it
    because the grant behind it ended (`reason`)."""

    app: str
    draw: Draw
    target: Table
    request_id: str
    sql: str | None
    reason: str | None

    @property
    def state(self) -> str:
        return DELIVERED if self.sql is not None else EMPTIED

    @property
    def plan_hash(self) -> str | None:
        if self.sql is None:
            return None
        text = f"{self.request_id}\n{self.sql}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def bound_principal(app: App, ac: AccessControl) -> Principal:
    """The application's principal, which must be bound to this application's warehouse."""
    try:
        p = ac.principal(app.principal)
    except GovlakeError as exc:
        raise ConfigError(
            f"field 'principal': {exc.message}",
            file=app.file,
            fix="add it to conf/access/principals.yaml (kind application, "
            f"warehouse {app.database}) or name one listed there.",
        ) from None
    if p.kind != "application" or p.warehouse != app.database:
        raise ConfigError(
            f"field 'principal': {p.id} ({p.kind}) is not bound to {app.database} "
            f"(its warehouse: {p.warehouse or 'none'}).",
            file=app.file,
            fix=f"set `warehouse: {app.database}` on the application principal {p.id} in "
            "conf/access/principals.yaml, or name the principal that is.",
        )
    return p


def plan_app(app: App, ac: AccessControl, requests: list[dict], today: dt.date) -> list[Step]:
    """Every draw checked (all of them before anything is written) and planned."""
    p = bound_principal(app, ac)
    steps = []
    for i, draw in enumerate(app.draws):
        row = _request(app, i, draw, ac, requests)
        reason = _ended(row, today)
        _check_columns(app, i, draw, row, granted=reason is None)
        sql = None if reason else _plan(app, i, draw, ac, p, today)
        steps.append(Step(app.name, draw, app.target(draw), row["request_id"], sql, reason))
    return steps


def _tables_of(ac: AccessControl, resource_code: str) -> set[str]:
    return {r.table for r in ac.index.get(resource_code, [])}


def _request(app: App, i: int, draw: Draw, ac: AccessControl, requests: list[dict]) -> dict:
    """The share request a draw rests on: named, or the principal's latest warehouse request
    for the table's resource (a granted one first)."""
    where = {"file": app.file}
    if draw.request:
        found = [r for r in requests if r["request_id"] == draw.request]
        if not found:
            raise ConfigError(
                f"field 'draws.{i}.request': there is no share request '{draw.request}'.",
                **where,
                fix="give a request id shown by `govlake share list`.",
            )
        row = found[0]
        _check_request(app, i, draw, row, ac)
        return row
    mine = [
        r
        for r in requests
        if r["principal"] == app.principal
        and r["delivery"] == "warehouse"
        and draw.table in _tables_of(ac, r["resource_code"])
    ]
    if not mine:
        raise ConfigError(
            f"field 'draws.{i}.table': {app.principal} has no warehouse request for "
            f"{draw.table}: nothing was approved for this warehouse.",
            **where,
            fix=f"file one (`govlake share request --as {app.principal} <resource> --items ... "
            "--delivery warehouse`) and have the provider approve it, or remove the draw.",
        )
    mine.sort(key=lambda r: (r["state"] in GRANTING_STATES, r["requested_at"]))
    return mine[-1]


def _check_request(app: App, i: int, draw: Draw, row: dict, ac: AccessControl) -> None:
    field = f"field 'draws.{i}.request'"
    problem = None
    if row["principal"] != app.principal:
        problem = f"request {row['request_id']} was made by {row['principal']}, not {app.principal}"
    elif row["delivery"] != "warehouse":
        problem = f"request {row['request_id']} asked for delivery {row['delivery']}, not warehouse"
    elif draw.table not in _tables_of(ac, row["resource_code"]):
        problem = f"request {row['request_id']} is for {row['resource']}, not {draw.table}"
    if problem:
        raise ConfigError(
            f"{field}: {problem}: the warehouse may hold only what was approved for it.",
            file=app.file,
            fix=f"name a warehouse request of {app.principal} for {draw.table} "
            "(`govlake share list`), or file one.",
        )


def _ended(row: dict, today: dt.date) -> str | None:
    """Why the request grants nothing tonight (None: it grants its approved items)."""
    rid = row["request_id"]
    if row["state"] == "revoked":
        by = f" by {row['revoked_by']}" if row["revoked_by"] else ""
        when = f" on {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else ""
        why = f": {row['reason']}" if row["reason"] else ""
        return f"request {rid} revoked{by}{when}{why}"
    if row["state"] not in GRANTING_STATES:
        return f"request {rid} is {row['state']}: nothing is granted"
    if row["period_end"] < today:
        return f"request {rid} expired: its period ended on {row['period_end']}"
    if row["period_start"] > today:
        return f"request {rid}'s period starts on {row['period_start']}"
    return None


def _check_columns(app: App, i: int, draw: Draw, row: dict, granted: bool) -> None:
    """More columns than approved (or, once the grant ended, than requested) is refused."""
    allowed = (row["approved_items"] if granted else None) or row["items"]
    extra = [c for c in draw.columns if c not in allowed]
    if extra:
        what = "approved" if granted else "requested"
        raise ConfigError(
            f"field 'draws.{i}.columns': {', '.join(extra)} "
            f"{'was' if len(extra) == 1 else 'were'} not {what} in request {row['request_id']} "
            f"({what}: {', '.join(allowed)}).",
            file=app.file,
            fix=f"draw only {', '.join(allowed)}; for more, file a new request and have it "
            "approved.",
        )


def delivery_sql(draw: Draw) -> str:
    """The statement the application's principal would run to fill the table."""
    columns = ", ".join(f"`{c}`" for c in draw.columns)
    sql = f"SELECT {columns} FROM `{draw.source.database}`.`{draw.source.name}`"
    return f"{sql} WHERE {draw.row_filter}" if draw.row_filter else sql


def _plan(app: App, i: int, draw: Draw, ac: AccessControl, p: Principal, today) -> str:
    try:
        return ac.plan_delivery(p, delivery_sql(draw), today=today).sql
    except Refused as refused:
        field = "row_filter" if draw.row_filter else "columns"
        raise ConfigError(
            f"field 'draws.{i}.{field}': governed access refuses the delivery: {refused.reason}",
            file=app.file,
            fix="draw only approved columns with a plain SQL predicate over the table's "
            "columns (e.g. division = '420704').",
        ) from None
