"""The government data catalog (政务数据目录): entries in conf/catalog/, their review
(退回纠正), grades that follow the data (就高从严), catalog tables and registration deadlines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govlake.catalog.loader import load_catalog, load_rules
from govlake.catalog.models import CatalogEntry, CatalogRules
from govlake.catalog.review import Finding, NotPublishable, refuse, review_of, run_review
from govlake.catalog.schemas import Lakehouse, declared_lakehouse, has_delta_tables, real_lakehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

__all__ = [
    "CatalogEntry",
    "Finding",
    "NotPublishable",
    "assert_publishable",
    "has_delta_tables",
    "load_catalog",
    "load_rules",
    "publish_catalog",
    "validate_catalog",
]


def validate_catalog(
    entries: list[CatalogEntry] | None = None,
    rules: CatalogRules | None = None,
    lake: Lakehouse | None = None,
    spark: SparkSession | None = None,
    cfg: Settings | None = None,
) -> list[Finding]:
    """Every failure of every entry. Columns come from the Delta schema of each table that
    exists when a Spark session is given, else from sources and libraries as declared."""
    entries = load_catalog() if entries is None else entries
    rules = rules or load_rules()
    if lake is None:
        if spark is not None:
            from govlake.settings import settings

            lake = real_lakehouse(
                spark, cfg or settings(), rules.registered_databases, rules.technical_column_prefix
            )
        else:
            lake = declared_lakehouse()
    return run_review(review_of(entries, rules, lake))


def assert_publishable(table_name: str) -> None:
    """Refuse to publish a base or theme table whose entry fails review, with the reasons.

    Checked against the columns the build is about to write (the library declaration), so a
    newly declared attribute must be catalogued before its first publication, not after.
    """
    entries = load_catalog()
    refuse(table_name, entries, validate_catalog(entries))


def publish_catalog(spark: SparkSession, cfg: Settings, run_date, run_id: str) -> dict:
    """Publish catalog.resources, .items, .systems (history) and .registrations (deadlines)."""
    from govlake.catalog.publish import publish_catalog as publish

    return publish(spark, cfg, run_date, run_id)
