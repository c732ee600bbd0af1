"""Governed access (issue 15): principals, roles and grants as configuration, masks by grade,
one enforcement point (`AccessControl.plan`) and the audit of every statement."""

from __future__ import annotations

from govlake.access.control import AccessControl, AuditEvent, AuthenticationFailed, Principal
from govlake.access.enforce import Plan, Read, Refused

__all__ = [
    "AccessControl",
    "AuditEvent",
    "AuthenticationFailed",
    "Plan",
    "Principal",
    "Read",
    "Refused",
]
