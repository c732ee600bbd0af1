"""Registration deadlines (catalog.registrations): a new table or column, a new or changed entry
must be registered or updated within N working days (State Council calendar)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import TYPE_CHECKING

from govlake.catalog.models import CatalogEntry
from govlake.catalog.review import Finding, Review
from govlake.catalog.workdays import WorkCalendar
from govlake.lakehouse import Table
from govlake.owned import CATALOG_REGISTRATIONS, CATALOG_RESOURCES
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

KINDS = {
    "new_table": "a new table has no catalog entry",
    "new_column": "a source added a column the entry does not describe",
    "new_entry": "a new catalog entry",
    "entry_changed": "a catalog entry changed",
}


def registration_id(kind: str, subject: str, detail: str) -> str:
    return hashlib.sha256(f"{kind}|{subject}|{detail}".encode()).hexdigest()[:16]


def added_columns(schema_change: str | None) -> list[str]:
    """Columns named in an ops.load_runs schema_change: "added ['a', 'b'], dropped []"."""
    match = re.search(r"added \[([^\]]*)\]", schema_change or "")
    return re.findall(r"'([^']+)'", match.group(1)) if match else []


def load_events(spark: SparkSession, cfg: Settings) -> tuple[dict, list[tuple]]:
    """First load date per ods table, and (table, column, batch date) of added columns."""
    from pyspark.sql import functions as F

    from jobs.ops import load_runs

    runs = load_runs(spark, cfg)
    if runs is None:
        return {}, []
    first = {
        r["ods_table"]: r["first"]
        for r in runs.groupBy("ods_table").agg(F.min("batch_date").alias("first")).collect()
    }
    changes = runs.where(F.col("schema_change").isNotNull()).select(
        "ods_table", "batch_date", "schema_change"
    )
    added = [
        (r["ods_table"], column, r["batch_date"])
        for r in changes.collect()
        for column in added_columns(r["schema_change"])
    ]
    return first, added


class Detector:
    """Turns what the lakehouse and the catalog show into registration rows."""

    def __init__(self, review: Review, findings: list[Finding], run_date, run_id, calendar):
        self.review, self.run_date, self.run_id, self.calendar = review, run_date, run_id, calendar
        self.returned = {f.entry for f in findings}
        self.days = review.rules.deadline_working_days

    def entry_for(self, table: str) -> CatalogEntry | None:
        return next((e for e in self.review.entries if table in e.tables), None)

    def passes(self, entry: CatalogEntry | None) -> bool:
        return entry is not None and entry.resource not in self.returned

    def row(self, kind, department, resource, table, detail, detected_on, done) -> dict:
        return {
            # Table events are keyed by table: an entry written later closes the same row.
            "registration_id": registration_id(
                kind, resource if kind in ("new_entry", "entry_changed") else table, detail
            ),
            "kind": kind,
            "department": department,
            "resource": resource,
            "table": table,
            "detail": detail,
            "detected_on": detected_on,
            "due_on": self.calendar.add_working_days(detected_on, self.days),
            "working_days": self.days,
            "status": "done" if done else "open",
            "done_on": self.run_date if done else None,
            "detected_run_id": self.run_id,
            "updated_run_id": self.run_id,
        }

    def tables(self, first_loaded: dict) -> list[dict]:
        manager = self.review.rules.manager_department
        rows = []
        for table, info in sorted(self.review.lake.tables.items()):
            if Table.parse(table).database not in self.review.rules.registered_databases:
                continue
            entry = self.entry_for(table)
            detected = first_loaded.get(table, self.run_date)
            rows.append(
                self.row(
                    "new_table",
                    info.department or manager,
                    entry.resource if entry else None,
                    table,
                    KINDS["new_table"],
                    detected,
                    self.passes(entry),
                )
            )
        return rows

    def columns(self, added: list[tuple]) -> list[dict]:
        rows = []
        for table, column, batch in sorted(added):
            entry = self.entry_for(table)
            info = self.review.lake.tables.get(table)
            described = entry is not None and column in {i.column for i in entry.items}
            rows.append(
                self.row(
                    "new_column",
                    info.department if info else None,
                    entry.resource if entry else None,
                    table,
                    column,
                    batch,
                    described and self.passes(entry),
                )
            )
        return rows

    def entries(self, published: dict[str, str]) -> list[dict]:
        """A new entry, or one whose content differs from the last published version."""
        rows = []
        for entry in self.review.entries:
            known = published.get(entry.resource)
            if known == entry.content_hash():
                continue
            kind = "new_entry" if known is None else "entry_changed"
            rows.append(
                self.row(
                    kind,
                    entry.provider.department,
                    entry.resource,
                    ",".join(entry.tables),
                    entry.content_hash(),
                    self.run_date,
                    self.passes(entry),
                )
            )
        return rows


def published_hashes(spark: SparkSession, cfg: Settings, run_id: str) -> dict[str, str]:
    """Entry hash per resource as published before run `run_id`.

    Rows that run wrote are left out: an Airflow retry of a night killed between the resources
    MERGE and the registrations MERGE (same run id) then detects the registrations its first
    attempt would have, instead of taking its own half-published catalog for the old one."""
    resources = CATALOG_RESOURCES.table.read_if_exists(spark, cfg)
    if resources is None:
        return {}
    rows = resources.select("resource", "entry_hash", "is_current", "run_id", "valid_from")
    rows = rows.collect()
    rewritten = {r["resource"] for r in rows if r["run_id"] == run_id}
    latest: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: (r["valid_from"], r["is_current"])):
        if row["run_id"] != run_id:
            latest[row["resource"]] = row
    # A row this run closed was current before it; one closed by an earlier run was not.
    return {
        resource: row["entry_hash"]
        for resource, row in latest.items()
        if row["is_current"] or resource in rewritten
    }


def settle(existing: dict[str, dict], detected: list[dict], det: Detector) -> list[dict]:
    """Keep the first detection of each registration; close open ones that are now done."""
    rows = dict(existing)
    for row in detected:
        old = rows.get(row["registration_id"])
        if old is None:
            rows[row["registration_id"]] = row
        elif old["status"] == "open" and row["status"] == "done":
            rows[row["registration_id"]] = {
                **old,
                "resource": row["resource"],
                "status": "done",
                "done_on": det.run_date,
                "updated_run_id": det.run_id,
            }
    return list(rows.values())


def publish_registrations(
    spark: SparkSession,
    cfg: Settings,
    review: Review,
    findings: list[Finding],
    published: dict[str, str],
    run_date: dt.date,
    run_id: str,
) -> dict:
    """Detect registrations, keep their status, MERGE only what changed."""
    rules_file = str(review.rules.file_path) if review.rules.file_path else None
    calendar = WorkCalendar(review.rules.calendar, rules_file)
    det = Detector(review, findings, run_date, run_id, calendar)
    first_loaded, added = load_events(spark, cfg)
    owned = CATALOG_REGISTRATIONS
    stored = owned.table.read_if_exists(spark, cfg)
    existing = {}
    if stored is not None:
        existing = {r["registration_id"]: r.asDict() for r in stored.collect()}
    # Entry registrations compare with the resources published before this run.
    detected = det.tables(first_loaded) + det.columns(added) + det.entries(published)
    rows = settle(existing, detected, det)
    changed = [r for r in rows if existing.get(r["registration_id"]) != r]
    if changed:
        df = spark.createDataFrame(changed, owned.schema)
        if stored is None:
            owned.table.write(
                df, partition_by=owned.partition_by, options=owned.properties, cfg=cfg
            )
        else:
            (
                owned.table.delta(spark, cfg)
                .alias("t")
                .merge(df.alias("s"), "t.registration_id = s.registration_id")
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
    owned.table.register(spark, cfg)
    return {"changed": len(changed), "open": sum(r["status"] == "open" for r in rows)}


def due_report(cfg: Settings, as_of: dt.date, department: str | None = None) -> list[dict]:
    """Open registrations with working days left (negative: overdue), most urgent first.
    Read by delta-rs: `govlake catalog due` starts no JVM (issue 19)."""
    from govlake.catalog.loader import load_rules
    from govlake.errors import GovlakeError
    from govlake.lakehouse import query_without_jvm

    table = CATALOG_REGISTRATIONS.table
    found = query_without_jvm("SELECT * FROM r WHERE status = 'open'", {"r": table}, cfg)
    if found is None:
        raise GovlakeError(
            f"{table} does not exist yet.",
            file=table.location(cfg),
            fix="publish the catalog first: `govlake catalog publish` (the nightly run does it).",
        )
    rules = load_rules()
    calendar = WorkCalendar(rules.calendar, str(rules.file_path))
    rows = []
    for r in found:
        if department and r["department"] != department:
            continue
        left = calendar.working_days_between(as_of, r["due_on"])
        rows.append(
            {
                "department": r["department"],
                "state": "overdue" if as_of > r["due_on"] else "due",
                "kind": r["kind"],
                "table": r["table"],
                "resource": r["resource"],
                "detail": r["detail"],
                "detected_on": r["detected_on"],
                "due_on": r["due_on"],
                "working_days_left": left,
            }
        )
    return sorted(rows, key=lambda x: (x["department"] or "", x["working_days_left"]))


def per_department(rows: list[dict]) -> list[dict]:
    """Counts of due and overdue registrations per department."""
    departments = sorted({r["department"] or "" for r in rows})
    return [
        {
            "department": d,
            "due": sum(r["state"] == "due" for r in rows if (r["department"] or "") == d),
            "overdue": sum(r["state"] == "overdue" for r in rows if (r["department"] or "") == d),
        }
        for d in departments
    ]
