"""Requests for catalog resources and their approvals (供需对接), applied by governed access."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govlake.share.workflow import DecisionLost, NewRequest, Share, ShareError

__all__ = ["DecisionLost", "NewRequest", "Share", "ShareError"]


def __getattr__(name: str):
    """The workflow is imported when first named: it brings governed access and sqlglot, which
    `govlake` commands that never share paid at start-up (the CLI registers `share`)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.workflow"), name)
