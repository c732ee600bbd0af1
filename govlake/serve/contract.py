"""What the endpoint needs from the enforcement point (govlake.access), typed as a Protocol.

The endpoint is written against this contract and runs with govlake.access.AccessControl: every
statement goes through `plan` before Spark sees it, every principal through `authenticate`, and
every statement (allowed, refused or failed) gives one `audit` event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol


class PlanLike(Protocol):
    sql: str  # the rewritten Spark SQL to run (masked, filtered table references)
    kind: str  # 'query' | 'use' | 'show' | 'describe'
    reads: Any
    filters: Any
    fingerprint: str


class AccessLike(Protocol):
    def authenticate(self, user: str, password: str) -> Any:
        """The principal; raises govlake.access.AuthenticationFailed (one message for all)."""

    def plan(self, principal: Any, sql: str, today: dt.date | None = None) -> PlanLike:
        """The statement made safe, or raises govlake.access.Refused(reason)."""

    def audit(self, spark: Any, *events: Any) -> None:
        """Append AuditEvents to audit.queries, all in one Delta commit."""
