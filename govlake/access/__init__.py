"""Governed access (issue 15): principals, roles and grants as configuration, masks by grade,
one enforcement point (`AccessControl.plan`) and the audit of every statement."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govlake.access.control import AccessControl, AuditEvent, AuthenticationFailed, Principal
    from govlake.access.enforce import Plan, Read, Refused

# Imported when first named: the enforcement point pulls in sqlglot's parser (half a second),
# which every `govlake` command paid at start-up, since the CLI registers the access commands.
_HOMES = {
    "AccessControl": "control",
    "AuditEvent": "control",
    "AuthenticationFailed": "control",
    "Principal": "control",
    "Plan": "enforce",
    "Read": "enforce",
    "Refused": "enforce",
}
__all__ = [
    "AccessControl",
    "AuditEvent",
    "AuthenticationFailed",
    "Plan",
    "Principal",
    "Read",
    "Refused",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
