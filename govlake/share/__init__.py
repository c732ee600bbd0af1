"""Requests for catalog resources and their approvals (供需对接), applied by governed access."""

from govlake.share.workflow import DecisionLost, NewRequest, Share, ShareError

__all__ = ["DecisionLost", "NewRequest", "Share", "ShareError"]
