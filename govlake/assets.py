"""Airflow assets for lakehouse tables, so producers and consumers name them the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govlake.lakehouse import ASSET_SCHEME as URI_SCHEME
from govlake.lakehouse import Table

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from govlake.sources import SourceSystem, TableSpec

__all__ = ["URI_SCHEME", "ods_asset", "table_asset"]


def table_asset(table: str) -> Asset:
    """The asset of a lakehouse table <database>.<name>, URI x-govlake://<database>/<name>."""
    return Table.parse(table).asset()


def ods_asset(source: SourceSystem, table: TableSpec) -> Asset:
    """The asset a load task updates: ods.<system>__<table>."""
    return table_asset(source.ods_table(table))
