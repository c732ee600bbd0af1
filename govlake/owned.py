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

QUARANTINE_SCHEMA = (
    "library string, input string, department string, source_table string, row_ref string, "
    "key_value string, rules array<string>, raw string, batch_date date, run_id string, "
    "quarantined_at timestamp"
)
CONFLICTS = _declare(
    "base.conflicts",
    "library string, key string, attribute string, input string, department string, "
    "value string, winner_input string, winner_department string, winner_value string, "
    "reason string, run_id string",
    "Every statement of a library's inputs that differs from the winning value (多源比对), "
    "with who won and why; one slice per library.",
    properties={"delta.enableDeletionVectors": "true"},
)
LIBRARY_RUNS = _declare(
    "ops.library_runs",
    "run_id string, library string, batch_date date, input string, department string, "
    "rows_in long, standardized long, quarantined long, balanced boolean, note string, "
    "keys long, changed_keys long, conflicts long, delta_version long, finished_at timestamp, "
    "build_mode string, build_reason string, ods_version long, config_hash string, "
    "link_versions map<string,bigint>, current_standardized long, ods_fingerprint string, "
    "retired_keys long",
    "One row per library build and input: rows in = standardized (counted in the std table) "
    "+ quarantined, and the ods versions the next (incremental) build starts from.",
)


def quarantine(library: str) -> Owned:
    """quarantine.<library>: the input rows that broke a blocking rule of the library."""
    return _declare(
        f"quarantine.{library}",
        QUARANTINE_SCHEMA,
        f"Rows of library {library}'s inputs that broke a blocking rule, raw, with every rule.",
        properties={"delta.enableDeletionVectors": "true"},
    )


def standardized(library: str, input_name: str, columns: dict[str, str]) -> Owned:
    """std.<library>__<input>: one input's accepted rows as the library reads them; `columns`
    (key and attributes -> Spark type) come from the library's declaration."""
    typed = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    return _declare(
        f"std.{library}__{input_name}",
        f"{typed}, as_of string, department string, row_ref string, batch_date date",
        f"Input {input_name} of library {library}, standardized (key, coded and typed values).",
        properties={"delta.enableDeletionVectors": "true"},
    )


def owned_tables() -> dict[str, Owned]:
    """Every declared table by name."""
    return {o.name: o for o in globals().values() if isinstance(o, Owned)}
