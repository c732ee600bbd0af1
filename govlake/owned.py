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
# resources, items and systems keep SCD2 history (govlake.catalog.history): one row per version
# of a record, closed by valid_to / is_current, with the change data feed on for consumers.
CATALOG_HISTORY_COLUMNS = "valid_from date, valid_to date, is_current boolean, run_id string"


def _catalog(name: str, columns: str, description: str, history: bool = True) -> Owned:
    schema = f"{columns}, {CATALOG_HISTORY_COLUMNS}" if history else columns
    return _declare(name, schema, description, properties={"delta.enableChangeDataFeed": "true"})


CATALOG_RESOURCES = _catalog(
    "catalog.resources",
    "resource string, code string, name string, abstract string, lei_code string, "
    "lei_name string, xiang_code string, xiang_name string, mu_code string, mu_name string, "
    "ximu_code string, ximu_name string, provider_department string, provider_code string, "
    "source_systems array<string>, information_systems array<string>, tables array<string>, "
    "format string, sharing_type string, sharing_condition string, sharing_method string, "
    "open_type string, open_condition string, update_cycle string, publish_date date, "
    "related array<string>, legal_basis string, grade string, national_grade string, "
    "item_count int, row_count long, review_status string, review_findings array<string>, "
    "entry_hash string, file string, record_key string, content_hash string",
    "catalog entries (政务数据目录) as published, enriched from the lakehouse, with history",
)
CATALOG_ITEMS = _catalog(
    "catalog.items",
    "resource string, code string, table string, column string, name string, type string, "
    "physical_type string, description string, grade string, national_grade string, "
    "declared_grade string, inherited_grade string, inherited_from array<string>, "
    "record_key string, content_hash string",
    "data items of each entry per table, with the grade declared and inherited (就高从严)",
)
CATALOG_SYSTEMS = _catalog(
    "catalog.systems",
    "system string, information_system string, department string, department_code string, "
    "mode string, tables array<string>, resources array<string>, record_key string, "
    "content_hash string",
    "department source systems (数据—系统) with their tables and catalog resources",
)
CATALOG_REGISTRATIONS = _catalog(
    "catalog.registrations",
    "registration_id string, kind string, department string, resource string, table string, "
    "detail string, detected_on date, due_on date, working_days int, status string, "
    "done_on date, detected_run_id string, updated_run_id string",
    "registrations due within N working days: new tables, columns and entries, and their status",
    history=False,
)


# -- lineage: run events and column edges --------------------------------------------------


# -- libraries: std.<library>__<input>, quarantine.<library>, base.conflicts, library runs --


def owned_tables() -> dict[str, Owned]:
    """Every declared table by name."""
    return {o.name: o for o in globals().values() if isinstance(o, Owned)}
