"""Requests for catalog resources and the providing department's decisions (供需对接, 申请受理 /
审核授权): the rules, and the state in share.requests (MERGE) and share.decisions (append)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from govlake.access.control import AccessControl, Principal, city_today
from govlake.access.policy import NOT_SHARED, UNCONDITIONAL, Resource
from govlake.catalog.loader import load_rules
from govlake.catalog.workdays import WorkCalendar
from govlake.errors import ConfigError, GovlakeError
from govlake.lakehouse import retry_concurrent
from govlake.owned import SHARE_DECISIONS, SHARE_REQUESTS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

DELIVERIES = ("query", "warehouse", "sandbox")
PENDING, APPROVED, PARTIAL = "pending", "approved", "partially_approved"
REJECTED, REVOKED, EXPIRED = "rejected", "revoked", "expired"
GRANTED = (APPROVED, PARTIAL)


class ShareError(GovlakeError):
    """A request or decision refused by the rules; nothing was written."""


class DecisionLost(ShareError):
    """The request changed since it was read (another decision won): nothing was written."""


@dataclass(frozen=True)
class NewRequest:
    """What a principal asks for."""

    resource: str  # catalog name or 资源代码
    items: list[str]
    purpose: str
    legal_basis: str
    period_start: dt.date
    period_end: dt.date
    delivery: str = "query"


class Share:
    """The workflow over one AccessControl (principals, catalog resources) and the lakehouse."""

    def __init__(self, spark: SparkSession, cfg: Settings, ac: AccessControl | None) -> None:
        # Without access control (ac None) a Share only reads: the ledger site lists requests.
        self.spark, self.cfg, self.ac = spark, cfg, ac
        rules = load_rules()
        self.deadline = rules.deadline_working_days
        self.calendar = WorkCalendar(rules.calendar, str(rules.file_path))

    # -- reading -----------------------------------------------------------------------------

    def rows(self) -> list[dict]:
        """Every request, oldest first. Read by delta-rs: `govlake share list` and the site
        answer without a Spark session (issue 19)."""
        from govlake.lakehouse import query_without_jvm

        sql = "SELECT * FROM r ORDER BY requested_at"
        return query_without_jvm(sql, {"r": SHARE_REQUESTS.table}, self.cfg) or []

    def get(self, request_id: str) -> dict:
        df = SHARE_REQUESTS.table.read_if_exists(self.spark, self.cfg)
        rows = [] if df is None else df.where(df.request_id == request_id).collect()
        if not rows:
            raise ShareError(
                f"there is no request '{request_id}' in {SHARE_REQUESTS.name}.",
                fix="give a request id shown by `govlake share list`.",
            )
        return rows[0].asDict()

    def listing(self, today: dt.date | None = None) -> list[dict]:
        """Every request with its state as of today (expired when its period ended), its age
        in working days, whether it is overdue (pending past its due date) and whether it was
        answered on time."""
        today = today or city_today(self.cfg)
        return [self._listed(r, today) for r in self.rows()]

    def _listed(self, r: dict, today: dt.date) -> dict:
        state = r["state"]
        if state in (PENDING, *GRANTED) and r["period_end"] < today:
            state = EXPIRED
        asked = r["requested_at"].date()
        decided = r["decided_at"].date() if r["decided_at"] else None
        # Filed while the calendar did not reach its due date: computed again now.
        due = r["due_on"] or self._due(asked)
        return {
            "request_id": r["request_id"],
            "principal": r["principal"],
            "department": r["department"],
            "resource": r["resource"],
            "items": ", ".join(r["approved_items"] or r["items"]),
            "provider": r["provider_department"],
            "state": state,
            "age_working_days": self._age(asked, decided or today),
            "due_on": due,
            "overdue": None if due is None else r["state"] == PENDING and today > due,
            # Answered within the deadline: decided on or before the due date.
            "on_time": None if due is None or decided is None else decided <= due,
            "calendar": None if due else self.uncovered(asked),
            "period": f"{r['period_start']}..{r['period_end']}",
            "delivery": r["delivery"],
            "requested_on": asked,
            "decided_on": decided,
            "decided_by": r["decided_by"],
            "reason": r["reason"],
        }

    def _due(self, filed: dt.date) -> dt.date | None:
        """The due date, or None while the holiday calendar does not reach it: a request is
        still filed (申请受理 must not wait for the State Council's notice), and its due date is
        computed once calendar.years of conf/catalog.yaml (or chinese-calendar) covers it."""
        try:
            return self.calendar.add_working_days(filed, self.deadline)
        except ConfigError:
            return None

    def _age(self, asked: dt.date, answered: dt.date) -> int | None:
        try:
            return self.calendar.working_days_between(asked, answered)
        except ConfigError:
            return None

    def uncovered(self, filed: dt.date) -> str:
        """Why a due date is unknown, with the fix (the calendar's own message)."""
        try:
            self.calendar.add_working_days(filed, self.deadline)
        except ConfigError as exc:
            return str(exc)
        return ""

    # -- the rules -----------------------------------------------------------------------------

    def _resource(self, name: str) -> Resource:
        found = self.ac.index.get(name)
        if not found:
            raise ShareError(
                f"'{name}' is not a catalog resource.",
                fix="name a resource of conf/catalog/ by its file name or its 资源代码 "
                "(`govlake catalog list`).",
            )
        return found[0]

    def _check_items(self, res: Resource, items: list[str]) -> list[str]:
        known = set().union(*(r.columns for r in self.ac.index[res.code]))
        unknown = [i for i in items if i not in known]
        if unknown or not items:
            what = f"{', '.join(unknown)} not an item of" if unknown else "no item named for"
            raise ShareError(
                f"{what} {res.resource} ({res.code}).",
                fix=f"request items among {', '.join(sorted(known))}.",
            )
        return list(dict.fromkeys(items))

    def _check_requestable(self, p: Principal, res: Resource) -> None:
        if res.sharing == NOT_SHARED:
            raise ShareError(
                f"{res.resource} ({res.code}) is 不予共享 in the catalog: it cannot be requested.",
                fix="ask the provider, "
                f"{res.provider}, to review the resource's sharing type if your duties need it.",
            )
        if res.sharing == UNCONDITIONAL:
            raise ShareError(
                f"{res.resource} ({res.code}) is 无条件共享: it needs no request or approval, "
                "government principals read it already.",
                fix=f"query it directly (`govlake access show {p.id}` lists what you read).",
            )
        if p.department is not None and p.department == res.provider_code:
            raise ShareError(
                f"{p.id} belongs to {res.provider}, the provider of {res.resource}: it reads "
                "the resource already.",
                fix="query it directly; requests are for other departments' resources.",
            )

    def _check_decider(self, actor: Principal, row: dict, action: str) -> None:
        if actor.is_admin or (actor.department and actor.department == row["provider_code"]):
            return
        raise ShareError(
            f"{actor.id} (department {actor.department}) may not {action} request "
            f"{row['request_id']}: only the provider, {row['provider_department']} "
            f"({row['provider_code']}), or an administrator decides.",
            fix=f"act as a principal of department {row['provider_code']}.",
        )

    @staticmethod
    def _check_state(row: dict, allowed: tuple[str, ...], action: str) -> None:
        if row["state"] not in allowed:
            raise ShareError(
                f"request {row['request_id']} is {row['state']}"
                f"{' by ' + row['decided_by'] if row['decided_by'] else ''}: it cannot be "
                f"{action}.",
                fix=f"only a {' or '.join(allowed)} request can be {action}; "
                "`govlake share list` shows each request's state.",
            )

    # -- actions -------------------------------------------------------------------------------

    def request(self, p: Principal, new: NewRequest, now: dt.datetime | None = None) -> dict:
        """File a request (state pending, due in the catalog's working days); checked first."""
        now = now or self._now()
        res = self._resource(new.resource)
        self._check_requestable(p, res)
        items = self._check_items(res, new.items)
        _check_text(new.purpose, "purpose", "say what duty or service the data is for.")
        _check_text(new.legal_basis, "legal basis", "cite the law, regulation or 三定 duty.")
        if new.delivery not in DELIVERIES:
            raise ShareError(
                f"delivery '{new.delivery}' is not known.", fix=f"use {', '.join(DELIVERIES)}."
            )
        if new.period_end < new.period_start or new.period_end < now.date():
            raise ShareError(
                f"the period {new.period_start}..{new.period_end} ends before it starts or "
                "has already ended.",
                fix="give a period whose end is today or later and not before its start.",
            )
        row = {
            "request_id": f"req-{now:%Y%m%d}-{uuid.uuid4().hex[:6]}",
            "principal": p.id,
            "department": p.department,
            "resource": res.resource,
            "resource_code": res.code,
            "items": items,
            "approved_items": None,
            "purpose": new.purpose.strip(),
            "legal_basis": new.legal_basis.strip(),
            "period_start": new.period_start,
            "period_end": new.period_end,
            "delivery": new.delivery,
            "state": PENDING,
            "provider_department": res.provider,
            "provider_code": res.provider_code,
            "requested_at": now,
            "due_on": self._due(now.date()),
            "decided_at": None,
            "decided_by": None,
            "reason": None,
            "revoked_at": None,
            "revoked_by": None,
        }
        self._insert(row)
        self._log(now, row, "request", p, None, PENDING, items, new.purpose)
        return row

    def approve(
        self,
        actor: Principal,
        request_id: str,
        items: list[str] | None = None,
        reason: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict:
        """Approve all requested items, or fewer (never more); not after the period ended."""
        now = now or self._now()
        row = self.get(request_id)
        self._check_decider(actor, row, "approve")
        self._check_state(row, (PENDING,), "approved")
        chosen = list(dict.fromkeys(items or row["items"]))
        extra = [i for i in chosen if i not in row["items"]]
        if extra:
            raise ShareError(
                f"{', '.join(extra)} {'was' if len(extra) == 1 else 'were'} not requested in "
                f"{request_id}: an approval grants the requested items or fewer.",
                fix=f"approve items among {', '.join(row['items'])}; the requester files a new "
                "request for more.",
            )
        if row["period_end"] < now.date():
            raise ShareError(
                f"request {request_id}'s period ended on {row['period_end']}: it can no longer "
                "be approved.",
                fix="the requester files a new request with a current period.",
            )
        state = APPROVED if set(chosen) == set(row["items"]) else PARTIAL
        updated = row | {"state": state, "approved_items": chosen}
        updated |= {"decided_at": now, "decided_by": actor.id, "reason": _clean(reason)}
        self._merge(updated, PENDING)
        self._log(now, row, "approve", actor, PENDING, state, chosen, reason)
        return updated

    def reject(
        self, actor: Principal, request_id: str, reason: str, now: dt.datetime | None = None
    ) -> dict:
        """Reject with the legal reason (a request for lawful duties may not be refused without)."""
        now = now or self._now()
        row = self.get(request_id)
        self._check_decider(actor, row, "reject")
        self._check_state(row, (PENDING,), "rejected")
        _check_text(
            reason,
            "rejection reason",
            "cite the legal basis of the refusal (a request for lawful duties may not be "
            "refused without one).",
        )
        updated = row | {"state": REJECTED, "decided_at": now, "decided_by": actor.id}
        updated["reason"] = reason.strip()
        self._merge(updated, PENDING)
        self._log(now, row, "reject", actor, PENDING, REJECTED, row["items"], reason)
        return updated

    def revoke(
        self,
        actor: Principal,
        request_id: str,
        reason: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict:
        """End an approved request's grant before its period ends."""
        now = now or self._now()
        row = self.get(request_id)
        self._check_decider(actor, row, "revoke")
        self._check_state(row, GRANTED, "revoked")
        updated = row | {"state": REVOKED, "revoked_at": now, "revoked_by": actor.id}
        if reason:
            updated["reason"] = reason.strip()
        self._merge(updated, row["state"])
        self._log(now, row, "revoke", actor, row["state"], REVOKED, row["approved_items"], reason)
        return updated

    # -- state -----------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(self.cfg.timezone)).replace(tzinfo=None)

    def _insert(self, row: dict) -> None:
        """A new request: its id is fresh, so an append (creating the table the first time)."""
        df = self.spark.createDataFrame([row], SHARE_REQUESTS.schema)
        SHARE_REQUESTS.table.write(df, "append", options=SHARE_REQUESTS.properties, cfg=self.cfg)

    def _merge(self, row: dict, expected: str) -> None:
        """Update the request only if its state is still `expected`: of two concurrent
        decisions one matches, the other (retried after losing the commit race) changes nothing."""
        spark, cfg, table = self.spark, self.cfg, SHARE_REQUESTS.table
        src = spark.createDataFrame([row], SHARE_REQUESTS.schema)

        def merge():
            return (
                table.delta(spark, cfg)
                .alias("t")
                .merge(src.alias("s"), "t.request_id = s.request_id")
                .whenMatchedUpdateAll(condition=f"t.state = '{expected}'")
                .execute()
                .first()
            )

        metrics = retry_concurrent(merge)
        if metrics["num_affected_rows"] != 1:
            now = self.get(row["request_id"])
            raise DecisionLost(
                f"request {row['request_id']} changed while this decision was made: it is "
                f"{now['state']} now (by {now['decided_by'] or now['revoked_by']}); nothing "
                "was written.",
                fix="run `govlake share list` to see its state; decide again only if it is "
                "still open.",
            )

    def _log(self, at, row, action, actor: Principal, before, after, items, reason) -> None:
        decision = {
            "at": at,
            "request_id": row["request_id"],
            "action": action,
            "actor": actor.id,
            "actor_department": actor.department,
            "from_state": before,
            "to_state": after,
            "items": list(items or []),
            "reason": _clean(reason),
        }
        df = self.spark.createDataFrame([decision], SHARE_DECISIONS.schema)
        SHARE_DECISIONS.table.write(df, "append", options=SHARE_DECISIONS.properties, cfg=self.cfg)

    def decisions(self, request_id: str | None = None) -> list[dict]:
        df = SHARE_DECISIONS.table.read_if_exists(self.spark, self.cfg)
        if df is None:
            return []
        if request_id:
            df = df.where(df.request_id == request_id)
        return [r.asDict() for r in df.orderBy("at").collect()]


def _clean(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


def _check_text(text: str | None, what: str, fix: str) -> None:
    if not _clean(text):
        raise ShareError(f"the {what} is missing.", fix=fix)
