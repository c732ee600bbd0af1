"""Releases from a sandbox project: an exact aggregate (groups of at least k units) or a noisy
statistic (PipelineDP) that spends the project's privacy budget ε, recorded in
share.sandbox_releases; and the export that re-checks a release before it leaves the sandbox."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.access.control import AccessControl, AuditEvent, Principal, elapsed_ms
from govlake.access.enforce import Refused
from govlake.errors import GovlakeError
from govlake.lakehouse import retry_concurrent
from govlake.owned import SANDBOX_BUDGETS, SANDBOX_RELEASES
from govlake.sandbox.config import Project
from govlake.sandbox.rules import K_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

AGGREGATE, NOISY = "aggregate", "dp"
# Float sums of ε (0.1 + 0.2) must not refuse a release that fits the budget exactly.
SLACK = 1e-9


class SandboxError(GovlakeError):
    """A release or export refused; nothing was written."""


def result_digest(result: str) -> str:
    """sha256 of a result's JSON text: what the ledger records and the export re-checks."""
    return hashlib.sha256(result.encode("utf-8")).hexdigest()


def _json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, sort_keys=True, default=_plain)


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def recorded_releases(cfg: Settings, project: str | None = None) -> list[dict]:
    """The releases of share.sandbox_releases (of one project if named), oldest first. Read by
    delta-rs, so `govlake sandbox releases` starts no JVM; the project is matched here, never
    written into the SQL."""
    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm("SELECT * FROM r ORDER BY at", {"r": SANDBOX_RELEASES.table}, cfg)
    return [r for r in rows or [] if not project or r["project"] == project]


class Sandbox:
    """Releases and exports of the sandbox projects of one AccessControl."""

    def __init__(self, spark: SparkSession, cfg: Settings, ac: AccessControl) -> None:
        self.spark, self.cfg, self.ac = spark, cfg, ac

    def project(self, name: str) -> Project:
        if name not in self.ac.projects:
            raise SandboxError(
                f"there is no sandbox project '{name}'.",
                fix=f"name one of {', '.join(sorted(self.ac.projects)) or '(none)'} "
                "(conf/sandbox/<project>.yaml).",
            )
        return self.ac.projects[name]

    # -- the budget ----------------------------------------------------------------------------

    def spent(self, name: str) -> float:
        df = SANDBOX_BUDGETS.table.read_if_exists(self.spark, self.cfg)
        rows = [] if df is None else df.where(df.project == name).collect()
        return rows[0].epsilon_spent if rows else 0.0

    def _spend(self, project: Project, epsilon: float, now: dt.datetime) -> None:
        """Raise the project's spent ε by `epsilon` only if it stays within the budget: the
        MERGE's condition is the check, so two concurrent releases cannot both pass it (the
        loser of Delta's commit race retries against the winner's spend)."""
        table, total = SANDBOX_BUDGETS.table, project.epsilon + SLACK
        table.create_if_missing(self.spark, SANDBOX_BUDGETS.schema, cfg=self.cfg)
        row = {"project": project.name, "epsilon_spent": epsilon, "releases": 1, "updated_at": now}
        src = self.spark.createDataFrame([row], SANDBOX_BUDGETS.schema)

        def merge():
            return (
                table.delta(self.spark, self.cfg)
                .alias("t")
                .merge(src.alias("s"), "t.project = s.project")
                .whenMatchedUpdate(
                    condition=f"t.epsilon_spent + s.epsilon_spent <= {total!r}",
                    set={
                        "epsilon_spent": "t.epsilon_spent + s.epsilon_spent",
                        "releases": "t.releases + 1",
                        "updated_at": "s.updated_at",
                    },
                )
                .whenNotMatchedInsertAll(condition=f"s.epsilon_spent <= {total!r}")
                .execute()
                .first()
            )

        if retry_concurrent(merge)["num_affected_rows"] != 1:
            raise self._over_budget(project, epsilon)

    def _over_budget(self, project: Project, epsilon: float) -> SandboxError:
        spent = self.spent(project.name)
        return SandboxError(
            f"sandbox project {project.name} has spent ε={spent:g} of its budget "
            f"ε={project.epsilon:g}; a release of ε={epsilon:g} would exceed it, so it is "
            "refused before computing (nothing was released or spent).",
            fix="release with a smaller --epsilon if any budget is left; the budget of "
            f"{project.file} is the limit of what the project may learn, not a quota to refill.",
        )

    # -- releasing -----------------------------------------------------------------------------

    def release(
        self, name: str, sql: str, epsilon: float | None = None, now: dt.datetime | None = None
    ) -> dict:
        """Release the statement's result: exact (k-anonymous groups) without `epsilon`, noisy
        with it (ε spent first, refused when the budget would be exceeded)."""
        project = self.project(name)
        p = self.ac.principal(project.principal)
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = time.perf_counter()
        if epsilon is not None and not epsilon > 0:
            raise SandboxError(f"--epsilon {epsilon} is not positive.", fix="give ε > 0.")
        try:
            plan = self.ac.plan(p, sql, release=epsilon is not None)
        except Refused as refused:
            self._audit(p, sql, None, "refused", refused.reason, None, start)
            raise SandboxError(refused.reason, fix=_RULES) from None
        if epsilon is None:
            rows = [r.asDict() for r in self.spark.sql(plan.sql).collect()]
        else:
            if self.spent(name) + epsilon > project.epsilon + SLACK:
                self._audit(p, sql, plan, "refused", "privacy budget exceeded", None, start)
                raise self._over_budget(project, epsilon)
            self._spend(project, epsilon, now)
            rows = self._noisy(plan, project, epsilon)
        row = self._record(project, p, plan, sql, rows, epsilon, now)
        self._audit(p, sql, plan, "allowed", None, len(rows), start)
        return row

    def _noisy(self, plan, project: Project, epsilon: float) -> list[dict]:
        from govlake.sandbox.dp import noisy_rows

        return noisy_rows(self.spark.sql(plan.sql), plan.sandbox, project, epsilon)

    def _record(self, project, p, plan, sql, rows, epsilon, now) -> dict:
        row = {
            "release_id": f"rel-{now:%Y%m%d}-{uuid.uuid4().hex[:6]}",
            "project": project.name,
            "principal": p.id,
            "at": now,
            "kind": AGGREGATE if epsilon is None else NOISY,
            "statement": sql,
            "fingerprint": plan.fingerprint,
            "epsilon": epsilon,
            "delta": None if epsilon is None else project.delta,
            "k": project.k,
            "columns": list(rows[0]) if rows else [],
            "result": _json(rows),
            "result_sha256": result_digest(_json(rows)),
            "rows": len(rows),
        }
        df = self.spark.createDataFrame([row], SANDBOX_RELEASES.schema)
        owned = SANDBOX_RELEASES
        owned.table.write(df, "append", options=owned.properties, cfg=self.cfg)
        return row

    def _audit(self, p: Principal, sql, plan, verdict, reason, rows, start) -> None:
        event = AuditEvent(
            p, "govlake sandbox release", sql, plan, verdict, reason, rows, elapsed_ms(start)
        )
        self.ac.audit(self.spark, event)

    def releases(self, name: str | None = None) -> list[dict]:
        return recorded_releases(self.cfg, name)

    # -- exporting -----------------------------------------------------------------------------

    def export(self, release_id: str, folder: Path | None = None) -> Path:
        """Re-check a release and write it as CSV under <lakehouse>/exports/sandbox/<project>/:
        its result is the one released (sha256), it was made by the project's principal, every
        exact group still covers k units, no value is an identity number or credit code, and
        its statement still passes the sandbox rules with today's grants."""
        found = [r for r in self.releases() if r["release_id"] == release_id]
        if not found:
            raise SandboxError(
                f"there is no release '{release_id}' in {SANDBOX_RELEASES.name}.",
                fix="give a release id shown by `govlake sandbox releases`.",
            )
        release = found[0]
        try:
            rows = self.recheck(release)
        except SandboxError as refused:
            self._exported(release, "refused", refused.message, None)
            raise
        out = (folder or Path(self.cfg.lakehouse) / "exports" / "sandbox") / release["project"]
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{release_id}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=release["columns"])
            writer.writeheader()
            writer.writerows(rows)
        self._exported(release, "allowed", f"exported to {path}", len(rows))
        return path

    def _exported(self, release: dict, verdict: str, reason: str, rows: int | None) -> None:
        """audit.queries records every export attempt (共享过程可追溯): who, which release."""
        event = AuditEvent(
            release["principal"],
            f"govlake sandbox export {release['release_id']}",
            release["statement"],
            None,
            verdict,
            reason,
            rows,
        )
        self.ac.audit(self.spark, event)

    def recheck(self, release: dict) -> list[dict]:
        """The release's rows, or SandboxError naming what fails the re-check."""
        rid = release["release_id"]
        rows = json.loads(release["result"])
        if result_digest(release["result"]) != release["result_sha256"]:
            raise _refuse(rid, "its stored result differs from what was released (sha256)")
        project = self.project(release["project"])
        if release["principal"] != project.principal:
            raise _refuse(rid, f"it was not made by the project's principal {project.principal}")
        if release["kind"] == NOISY and not (release["epsilon"] or 0) > 0:
            raise _refuse(rid, "a noisy release without ε spent")
        if release["kind"] == AGGREGATE:
            small = [r for r in rows if not (r.get(K_COLUMN) or 0) >= project.k]
            if small:
                raise _refuse(rid, f"{len(small)} group(s) cover fewer than k={project.k} units")
        _check_identifiers(rid, rows)
        try:
            self.ac.plan(
                self.ac.principal(project.principal),
                release["statement"],
                release=release["kind"] == NOISY,
            )
        except Refused as refused:
            raise _refuse(rid, f"its statement no longer passes: {refused.reason}") from None
        return rows


def _check_identifiers(rid: str, rows: list[dict]) -> None:
    """No value may be a valid 公民身份号码 or 统一社会信用代码 (python-stdnum's checks)."""
    from stdnum.cn import ric, uscc

    for i, row in enumerate(rows):
        for column, value in row.items():
            text = str(value)
            if ric.is_valid(text) or uscc.is_valid(text):
                raise _refuse(rid, f"row {i + 1}, column {column} holds an identifier")


def _refuse(rid: str, why: str) -> SandboxError:
    return SandboxError(
        f"release {rid} is not exported: {why}.",
        fix="release the statistic again through `govlake sandbox release` (results leave "
        "the sandbox only as released and re-checked).",
    )


_RULES = (
    "write one aggregate SELECT over the project's resources (GROUP BY, count/sum/avg), joins "
    "only on the declared keys; see govlake/sandbox/README.md."
)


# The statistic `make demo` releases: residents per district, with noise (ε from the budget).
DEMO_PROJECT = "health_study"
DEMO_QUERY = "SELECT division, count(*) AS persons FROM base.population GROUP BY division"
DEMO_EPSILON = 0.5


def demo_release(spark: SparkSession, cfg: Settings) -> tuple[dict, Path]:
    """Release (once: a rerun reuses the first release rather than spend ε again) and export
    the demo's noisy statistic; the release row and the CSV written."""
    sandbox = Sandbox(spark, cfg, AccessControl.load(cfg, spark=spark))
    done = [
        r
        for r in sandbox.releases(DEMO_PROJECT)
        if r["statement"] == DEMO_QUERY and r["kind"] == NOISY
    ]
    row = done[-1] if done else sandbox.release(DEMO_PROJECT, DEMO_QUERY, DEMO_EPSILON)
    return row, sandbox.export(row["release_id"])
