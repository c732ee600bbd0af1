"""Airflow assets for lakehouse tables, so producers and consumers name them the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Asset

if TYPE_CHECKING:
    from govlake.sources import SourceSystem, TableSpec

# An "x-" scheme is kept verbatim by Airflow (no provider lookup, no normalisation), and it
# names the table rather than a path, so the URI is the same on a laptop and on the cluster.
URI_SCHEME = "x-govlake"


def table_asset(table: str) -> Asset:
    """The asset of a lakehouse table <database>.<name>, URI x-govlake://<database>/<name>."""
    database, _, name = table.partition(".")
    return Asset(name=f"{database}.{name}", uri=f"{URI_SCHEME}://{database}/{name}")


def ods_asset(source: SourceSystem, table: TableSpec) -> Asset:
    """The asset a load task updates: ods.<system>__<table>."""
    return table_asset(source.ods_table(table))
