"""audit.queries: one appended row per statement through governed access (共享过程可追溯)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.access.enforce import fingerprint_text
from govlake.masking import mask_text
from govlake.owned import AUDIT_QUERIES, SANDBOX_QUERIES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.access.control import AuditEvent
    from govlake.settings import Settings


def audit_row(event: AuditEvent, at: dt.datetime | None = None) -> dict:
    """The audit.queries row of an event; the statement's identifiers are masked."""
    p = event.principal
    plan = event.plan
    return {
        "at": at or dt.datetime.now(dt.UTC),
        "principal": p if isinstance(p, str) else p.id,
        "principal_kind": None if isinstance(p, str) else p.kind,
        "department": None if isinstance(p, str) else p.department,
        "impersonated": None if isinstance(p, str) else p.impersonated,
        "client": event.client,
        "verdict": event.verdict,
        "reason": mask_text(event.reason),
        "statement_kind": plan.kind if plan else None,
        "fingerprint": plan.fingerprint if plan else fingerprint_text(event.statement),
        "statement": mask_text(event.statement[:10_000]),
        "tables": list(plan.tables) if plan else [],
        "reads": [
            {"table": r.table, "column": r.column, "grade": r.grade, "mask": r.mask}
            for r in (plan.reads if plan else ())
        ],
        "filters": list(plan.filters) if plan else [],
        "rows": event.rows,
        "duration_ms": event.duration_ms,
    }


def append(spark: SparkSession, cfg: Settings, *events: AuditEvent) -> None:
    """Append the events' rows to audit.queries in one commit (created append-only)."""
    owned = AUDIT_QUERIES
    df = spark.createDataFrame([audit_row(e) for e in events], owned.schema)
    owned.table.write(df, "append", options=owned.properties, cfg=cfg)
    rows = sandbox_rows(events)
    if rows:
        df = spark.createDataFrame(rows, SANDBOX_QUERIES.schema)
        SANDBOX_QUERIES.table.write(df, "append", options=SANDBOX_QUERIES.properties, cfg=cfg)


def sandbox_rows(events, at: dt.datetime | None = None) -> list[dict]:
    """share.sandbox_queries rows of the events planned for a sandbox principal."""
    at = at or dt.datetime.now(dt.UTC)
    out = []
    for e in events:
        query = e.plan.sandbox if e.plan else None
        if query is not None:
            out.append(
                {
                    "at": at,
                    "day": query.day,
                    "principal": e.principal.id,
                    "project": query.project,
                    "shape": query.shape,
                    "variant": query.variant,
                    "fingerprint": e.plan.fingerprint,
                }
            )
    return out
