"""Publish the catalog nightly as Delta tables: catalog.resources, catalog.items,
catalog.systems (SCD2 history) and catalog.registrations (deadlines in working days)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.catalog.grades import GradeScheme
from govlake.catalog.history import merge_scd2, with_keys
from govlake.catalog.loader import load_catalog, load_rules
from govlake.catalog.models import CatalogEntry
from govlake.catalog.registrations import publish_registrations, published_hashes
from govlake.catalog.review import Finding, Review, blocking, review_of, run_review
from govlake.catalog.schemas import Lakehouse, real_lakehouse
from govlake.lakehouse import Table, size_without_jvm
from govlake.owned import CATALOG_ITEMS, CATALOG_RESOURCES, CATALOG_SYSTEMS
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def row_counts(spark: SparkSession, cfg: Settings, lake: Lakehouse) -> dict[str, int]:
    """Rows per table: counted in Delta (by delta-rs, no Spark job per table), or the latest
    logical check's source rows."""
    from jobs.ops import latest_runs

    sizes = {
        table: size_without_jvm(Table.parse(table), cfg)
        for table, info in lake.tables.items()
        if info.origin == "delta"
    }
    counts = {table: size[1] for table, size in sizes.items() if size is not None}
    for table, run in latest_runs(spark, cfg).items():
        if table not in counts and run.get("source_rows") is not None:
            counts[table] = run["source_rows"]
    return counts


def item_rows(entry: CatalogEntry, lake: Lakehouse, scheme: GradeScheme, inherited) -> list[dict]:
    rows = []
    for table in entry.tables:
        info = lake.tables.get(table)
        for item in entry.items:
            up = inherited.get((table, item.column))
            grade = scheme.strictest([g for g in (item.grade, up.grade if up else None) if g])
            model = lake.grades.get((table, item.column))
            if model:  # the theme model's grade: stricter, or looser with its reason
                grade = model.grade if model.reason else scheme.strictest([grade, model.grade])
            rows.append(
                {
                    "resource": entry.resource,
                    "code": entry.code,
                    "table": table,
                    "column": item.column,
                    "name": item.name,
                    "type": item.type,
                    "physical_type": info.columns.get(item.column)
                    if info and info.origin == "delta"
                    else None,
                    "description": item.description,
                    "grade": grade,
                    "national_grade": scheme.national(grade) if grade else None,
                    "declared_grade": item.grade,
                    "inherited_grade": up.grade if up else None,
                    "inherited_from": list(up.sources) if up else [],
                }
            )
    return rows


def resource_row(entry: CatalogEntry, review: Review, items: list[dict], findings, counts):
    """One catalog.resources row: the declared entry, enriched and with its review outcome."""
    c = entry.classification
    grade = review.scheme.strictest([i["grade"] for i in items if i["grade"]])
    sources = review.lake.sources
    systems = [sources[s] for s in entry.source_systems if s in sources]
    rows = [counts[t] for t in entry.tables if t in counts]
    return {
        "resource": entry.resource,
        "code": entry.code,
        "name": entry.name,
        "abstract": entry.abstract,
        **{f"{lvl}_code": getattr(c, lvl).code for lvl in ("lei", "xiang", "mu", "ximu")},
        **{f"{lvl}_name": getattr(c, lvl).name for lvl in ("lei", "xiang", "mu", "ximu")},
        "provider_department": entry.provider.department,
        "provider_code": entry.provider.code,
        "source_systems": entry.source_systems,
        "information_systems": [s.information_system for s in systems],
        "tables": entry.tables,
        "format": entry.format,
        "sharing_type": entry.sharing.type,
        "sharing_condition": entry.sharing.condition,
        "sharing_method": entry.sharing.method,
        "open_type": entry.open.type,
        "open_condition": entry.open.condition,
        "update_cycle": entry.update_cycle,
        "publish_date": entry.publish_date,
        "related": entry.related,
        "legal_basis": entry.legal_basis,
        "grade": grade,
        "national_grade": review.scheme.national(grade) if grade else None,
        "item_count": len(entry.items),
        "row_count": sum(rows) if rows else None,
        # draft: only its department's work list (a generated draft), nothing returned.
        "review_status": "returned" if blocking(findings) else "draft" if findings else "passed",
        "review_findings": [f"{f.field}: {f.rule}" for f in findings],
        "entry_hash": entry.content_hash(),
        "file": entry.file_path.name if entry.file_path else None,
    }


def system_rows(entries: list[CatalogEntry], lake: Lakehouse) -> list[dict]:
    return [
        {
            "system": s.system,
            "information_system": s.information_system,
            "department": s.department,
            "department_code": s.department_code,
            "mode": s.mode,
            "tables": [s.ods_table(t) for t in s.tables],
            "resources": sorted(e.resource for e in entries if s.system in e.source_systems),
        }
        for s in lake.sources.values()
    ]


def catalog_rows(review: Review, findings: list[Finding], counts: dict[str, int]):
    """Rows of catalog.resources, catalog.items and catalog.systems for this run."""
    inherited = review.inherited
    resources, items = [], []
    for entry in review.entries:
        mine = [f for f in findings if f.entry == entry.resource]
        rows = item_rows(entry, review.lake, review.scheme, inherited)
        resources.append(resource_row(entry, review, rows, mine, counts))
        items += rows
    return resources, items, system_rows(review.entries, review.lake)


def publish_catalog(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str) -> dict:
    """Review every entry, enrich it from the lakehouse, and merge the catalog tables."""
    rules = load_rules()
    entries = load_catalog()
    lake = real_lakehouse(spark, cfg, rules.registered_databases, rules.technical_column_prefix)
    review = review_of(entries, rules, lake)
    findings = run_review(review)
    resources, items, systems = catalog_rows(review, findings, row_counts(spark, cfg, lake))
    published = published_hashes(spark, cfg, run_id)
    result = {}
    for owned, rows, key in (
        (CATALOG_RESOURCES, resources, ["resource"]),
        (CATALOG_ITEMS, items, ["resource", "table", "column"]),
        (CATALOG_SYSTEMS, systems, ["system"]),
    ):
        keyed = with_keys(rows, key)
        result[owned.table.name] = merge_scd2(spark, cfg, owned, keyed, run_date, run_id)
        owned.table.register(spark, cfg)
    result["registrations"] = publish_registrations(
        spark, cfg, review, findings, published, run_date, run_id
    )
    result["returned"] = sorted({f.entry for f in findings})
    result["findings"] = len(findings)
    return result
