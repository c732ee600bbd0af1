"""The access rules as they are now, for a long-running endpoint.

conf/access/, the catalog and the approved requests of share.requests can all change while the
endpoint runs: a provider approves or revokes a request, an administrator edits a grant. The
endpoint must apply the change to the next statement, not at its next restart, so every check
goes through `LiveAccess`, which reloads the rules when their signature changed (looked at no
more often than every `interval` seconds). Rules that changed but no longer load refuse every
statement until fixed (fail closed: a revocation must never be lost to a typo elsewhere).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("govlake.serve")


class LiveAccess:
    """The AccessLike of the endpoint: the current AccessControl, reloaded on change."""

    def __init__(self, load: Callable[[], Any], signature: Callable[[], Any], interval: float):
        self._load, self._signature, self._interval = load, signature, interval
        self._lock = threading.Lock()
        self._seen = signature()
        self._current = load()
        self._checked = time.monotonic()
        self.error: str | None = None
        self.reloads = 0

    def current(self) -> Any:
        """The rules now: reloaded first if their files or share.requests changed. One thread
        looks at a time and the others go on with the rules as they are: no connection ever
        waits on another's reload (a thread that waited could deadlock, e.g. when a finalizer
        run during the reload opens a connection to this very endpoint)."""
        if time.monotonic() - self._checked >= self._interval and self._lock.acquire(False):
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self._current

    def _refresh(self) -> None:
        self._checked = time.monotonic()
        seen = self._signature()
        if seen == self._seen:
            return
        try:
            self._current, self.error = self._load(), None
            self.reloads += 1
            log.info("access rules reloaded (%d)", self.reloads)
        except Exception as exc:  # noqa: BLE001 - any failure to load closes the door
            self.error = str(exc).splitlines()[0][:300]
            log.error("access rules changed and do not load; statements refused: %s", self.error)
        self._seen = seen

    def authenticate(self, user: str, password: str) -> Any:
        return self.current().authenticate(user, password)

    def plan(self, principal: Any, sql: str, today=None) -> Any:
        """The plan under the current rules, for the principal as the current rules define it
        (roles and clearance may have changed since the login)."""
        from govlake.access import Refused
        from govlake.errors import GovlakeError

        control = self.current()
        if self.error is not None:
            raise Refused(
                f"the access rules changed and cannot be loaded ({self.error}); every statement "
                "is refused until an administrator fixes them."
            )
        try:
            fresh = control.principal(principal.id)
        except GovlakeError:
            raise Refused(f"principal '{principal.id}' is no longer configured.") from None
        fresh = dataclasses.replace(fresh, impersonated=principal.impersonated)
        return control.plan(fresh, sql, today)

    def audit(self, spark: Any, *events: Any) -> None:
        self.current().audit(spark, *events)


def rules_signature(spark: Any, cfg: Any, places: list[Path]) -> tuple:
    """What the rules are read from: each file, or each file under each folder, of `places`
    (path, size, modification time) and the version of share.requests."""
    from govlake.owned import SHARE_REQUESTS

    paths = [q for p in map(Path, places) for q in ([p] if p.is_file() else p.rglob("*"))]
    files = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file())
    table = SHARE_REQUESTS.table
    version = table.version(spark, cfg) if table.exists(spark, cfg) else None
    return (tuple(files), version)
