"""The demo's second half, people using the data: each application requests what its warehouse
draws and the providing department approves (申请受理, 审核授权), then the app DAGs fill the
warehouses (一应用一数仓). Run again, it files nothing twice: a draw that already rests on a
granted request covering the night is left as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

GRANT_DAYS = 180  # the demo's requests run this long after the later of the night and today
APPROVER = "admin"  # 市行政审批局, provider of the base and theme libraries


def request_warehouses(spark: SparkSession, cfg: Settings, day: dt.date) -> list[dict]:
    """One warehouse request per draw of each application (conf/apps/), approved by the
    provider; what was filed or found, one row per draw."""
    from govlake.access import AccessControl
    from govlake.access.control import city_today
    from govlake.share import NewRequest, Share
    from govlake.warehouse.config import load_apps

    share = Share(spark, cfg, AccessControl.load(cfg))
    end = max(day, city_today(cfg)) + dt.timedelta(days=GRANT_DAYS)
    rows = []
    for app in load_apps():
        principal = share.ac.principal(app.principal)
        for draw in app.draws:
            resource = _resource_of(share, str(draw.source))
            found = _granted(share, app.principal, resource, day, draw.columns)
            if found:
                rows.append({"app": app.name, "resource": resource, **_row(found, "found")})
                continue
            asked = NewRequest(
                resource, list(draw.columns), f"{app.title}：{app.description}", app.basis,
                day, end, delivery="warehouse",
            )  # fmt: skip
            filed = share.request(principal, asked)
            approved = share.approve(share.ac.principal(APPROVER), filed["request_id"])
            rows.append({"app": app.name, "resource": resource, **_row(approved, "approved")})
    return rows


def _resource_of(share, table: str) -> str:
    """The catalog resource (its name, as requests name it) a lakehouse table belongs to."""
    return share.ac.tables[table].resource


def _granted(share, principal: str, resource: str, day: dt.date, columns) -> dict | None:
    from govlake.share.workflow import GRANTED

    for row in reversed(share.rows()):
        if (row["principal"], row["resource"], row["delivery"]) != (
            principal,
            resource,
            "warehouse",
        ):
            continue
        if row["state"] in GRANTED and row["period_start"] <= day <= row["period_end"]:
            if set(columns) <= set(row["approved_items"] or []):
                return row
    return None


def _row(request: dict, what: str) -> dict:
    return {
        "request_id": request["request_id"],
        "state": request["state"],
        "items": ", ".join(request["approved_items"] or request["items"]),
        "period": f"{request['period_start']}..{request['period_end']}",
        "this_run": what,
    }
