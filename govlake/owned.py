"""The tables the project owns, declared once with their schemas (ops, quality, catalog, lineage,
quarantine, std and base.conflicts), so writers create them alike and readers know their columns.

Each declaration is a `govlake.lakehouse.Table` plus how it is stored; the modules that write a
table import its declaration from here instead of spelling its name, path or schema again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from govlake.lakehouse import Table


@dataclass(frozen=True)
class Owned:
    """A table this project writes: its name, schema (Spark DDL), partitioning and properties."""

    table: Table
    schema: str
    description: str
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.table.qualified


def _declare(name: str, schema: str, description: str, **kw) -> Owned:
    return Owned(Table.parse(name), schema, description, **kw)


# -- ops: load runs and rejected rows ------------------------------------------------------


# -- quality: validations, failed rows, scores, problems -----------------------------------


# -- catalog: resources, items, systems, registrations -------------------------------------


# -- lineage: run events and column edges --------------------------------------------------


# -- libraries: std.<library>__<input>, quarantine.<library>, base.conflicts, library runs --


def owned_tables() -> dict[str, Owned]:
    """Every declared table by name."""
    return {o.name: o for o in globals().values() if isinstance(o, Owned)}
