"""The tables the project owns, declared once with their schemas (ops, quality, catalog, lineage,
quarantine, std and base.conflicts), so writers create them alike and readers know their columns.

Each declaration is a `govlake.lakehouse.Table` plus how it is stored; the modules that write a
table import its declaration from here instead of spelling its name, path or schema again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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

    @property
    def columns(self) -> list[str]:
        """The column names of the schema, in order (commas inside <...> types are skipped)."""
        names, depth, start = [], 0, 0
        for i, char in enumerate(self.schema + ","):
            depth += {"<": 1, ">": -1}.get(char, 0)
            if char == "," and depth == 0:
                names.append(self.schema[start:i].split()[0])
                start = i + 1
        return names

    def append(self, spark, rows: list[dict], cfg=None) -> None:
        """Append a few record rows in one commit: by delta-rs once the table exists (no Spark
        job: a run record is written per load and per build), else by Spark, which creates the
        table or adds a column declared since it was written."""
        from govlake import lakehouse  # looked up on the module: the kill harness wraps it

        with refusal_named(self.table, cfg):
            if not lakehouse.append_without_jvm(self.table, rows, cfg):
                df = spark.createDataFrame(rows, self.schema)
                options = {"mergeSchema": "true"}
                self.table.write(
                    df, "append", partition_by=self.partition_by, options=options, cfg=cfg
                )


@contextmanager
def refusal_named(table: Table, cfg=None) -> Iterator[None]:
    """A record write the object store refuses (HTTP 403) as an error naming the table's
    location and the permission to give. A load's first write is its `running` record, so a
    store refusing every write stops the night here, before any data is touched."""
    from govlake.errors import GovlakeError, summarize_java_error
    from govlake.objectstore import refused_write_fix
    from govlake.settings import settings

    try:
        yield
    except Exception as exc:
        cfg = cfg or settings()
        error = summarize_java_error(exc)
        fix = refused_write_fix(cfg, table.location(cfg), f"{error} {exc}")
        if fix is None:
            raise
        raise GovlakeError(
            f"writing the record table {table.qualified} failed: {error}", fix=fix
        ) from exc


def _declare(name: str, schema: str, description: str, **kw) -> Owned:
    return Owned(Table.parse(name), schema, description, **kw)


# -- ops: load runs and rejected rows ------------------------------------------------------

# Values of ops.load_runs.balance (`balanced` is its boolean, NULL unless the balance was counted).
BALANCED, UNBALANCED = "balanced", "unbalanced"
# A logical source (逻辑接入) is validated where it lives and never copied: nothing is written or
# rejected, so read = written + rejected cannot be asked. Not a failure, and not balanced either.
NOT_COPIED = "n/a (logical, not copied)"

LOAD_RUNS = _declare(
    "ops.load_runs",
    "run_id string, source_system string, department string, table_name string, "
    "ods_table string, mode string, batch_date date, started_at timestamp, "
    "finished_at timestamp, status string, rows_read long, rows_written long, "
    "rows_rejected long, balanced boolean, source_rows long, delta_version long, "
    "watermark_low string, watermark_high string, fingerprint string, location string, "
    "error string, schema_change string, rows_quarantined long, rows_null_watermark long, "
    "balance string, rows_dropped long, notes string",
    "One row per load or logical registration of a department table, a physical load "
    "appending a 'running' row first and its outcome row after (same run_id and started_at; "
    "a 'running' row without an outcome is a killed run, read as 'abandoned'; append-only: a rerun "
    "of a night is kept as its own run, status 'unchanged' when nothing changed; readers "
    "summarizing a night take each table's latest run). "
    "rows_read: rows read from the source (for a logical source, the rows validated in place; "
    "NULL without a suite). balance: 'balanced' (read = written + rejected + quarantined "
    "+ dropped, "
    f"balanced true), 'unbalanced' (balanced false, the load failed), '{NOT_COPIED}' for a "
    "logical source (balanced NULL, rows_written and rows_rejected NULL), NULL when the run "
    "failed before its rows were counted. rows_null_watermark: rows of an incremental database "
    "source whose watermark column is NULL, which no incremental read selects (NULL for files "
    "and full reads); reported to the department as a problem (jobs.feedback.problems). "
    "rows_dropped: rows of a file that are not data (a title above the header, a total row "
    "listed in drop_rows), kept in ops.dropped_rows. notes: what a reader of the run should "
    "know although it succeeded, e.g. 'empty delivery' for a file with a header and no rows.",
)
REJECTED_ROWS = _declare(
    "ops.rejected_rows",
    "run_id string, source_system string, table_name string, batch_date date, "
    "source_file string, source_row long, raw_record string, reason string, "
    "rejected_at timestamp",
    "Rows of a delivered file that do not parse, with their file and line (identifiers masked: "
    "docs/leaks.md); a rerun of "
    "a batch replaces that table's rows of the batch.",
)
DROPPED_ROWS = _declare(
    "ops.dropped_rows",
    "run_id string, source_system string, table_name string, batch_date date, "
    "source_file string, source_row long, raw_record string, reason string, "
    "dropped_at timestamp",
    "Rows of a delivered file that are not data and are dropped on purpose (a title row above "
    "the header, a total row such as 合计 listed in the table's drop_rows), with file, line and "
    "reason; a rerun of a batch replaces that table's rows of the batch.",
)
NIGHTLY_LANDING = _declare(
    "ops.nightly_landing",
    "batch_date date, ods_table string, landed boolean, status string, "
    "rows_written long, load_run_id string, nightly_run_id string, balance string",
    "Per night and configured table, whether its latest run landed (jobs.nightly); balance as "
    "in ops.load_runs, so a logical table reads n/a rather than balanced.",
)


# -- quality: validations, failed rows, scores, problems -----------------------------------

RESULTS = _declare(
    "quality.results",
    "run_id string, run_date date, table string, system string, department string, "
    "rule string, column string, dimension string, policy string, success boolean, "
    "element_count long, unexpected_count long, unexpected_percent double, "
    "sample array<string>, rule_zh string, rule_en string, row_failures long, error string, "
    "validated_at timestamp",
    "One row per rule and validation (append-only; readers take each table's latest "
    "validation of the night). Samples of identifier columns are masked.",
    partition_by=("table",),
)
FAILED_ROWS = _declare(
    "quality.failed_rows",
    "run_id string, run_date date, table string, system string, department string, "
    "rule string, rule_zh string, rule_en string, policy string, column string, key string, "
    "value string, source_row string, validated_at timestamp",
    "One row per failing row and rule of a validation, with the row's key, value and origin "
    "(stamped with the validation's validated_at; a validation with failures replaces its "
    "table's rows of the night, so a rerun never doubles them).",
    partition_by=("table",),
)
SCORES = _declare(
    "quality.scores",
    "run_id string, run_date date, scope string, table string, department string, "
    "completeness double, validity double, consistency double, uniqueness double, "
    "timeliness double, overall double",
    "Quality scores per table and per department and night (jobs.feedback.scores); a rerun "
    "of the night, under any run id, replaces the night's rows.",
)
PROBLEMS = _declare(
    "quality.problems",
    "problem_id string, department string, system string, table string, key string, "
    "field string, value_masked string, rule string, rule_zh string, rule_en string, "
    "origin string, source_ref string, first_seen date, last_seen date, times_seen int, "
    "status string, fixed_on date, days_to_fix int, first_run_id string, last_run_id string",
    "Problems tracked over nights per (department, table, key, field, rule), opened, seen "
    "again and fixed by one MERGE a night (jobs.feedback.problems); identifiers masked.",
)
DUPLICATE_COLLECTION = _declare(
    "quality.duplicate_collection",
    "run_id string, run_date date, library string, attribute string, "
    "authoritative_department string, authoritative_inputs string, department string, "
    "inputs string, declared_rank int, keys_authority long, keys_department long, "
    "keys_both long, keys_agree long, agree_percent double, recommendation string",
    "Attributes collected by more than one department, their overlap and agreement, and the "
    "recommended authoritative source (jobs.feedback.duplicates); a rerun of the night, "
    "under any run id, replaces the night's report.",
)
DISCOVERED_DUPLICATES = _declare(
    "quality.discovered_duplicates",
    "run_id string, run_date date, department_a string, table_a string, key_a string, "
    "department_b string, table_b string, key_b string, key_kind string, keys_a long, "
    "keys_b long, keys_overlap long, overlap_percent double, keys_sampled long, "
    "column_a string, column_b string, value_class string, rows_compared long, "
    "agree_percent double, chance_percent double, declared boolean, declared_by string",
    "Duplicate collection found from the data, declared by a library or not "
    "(jobs.feedback.discovered): per pair of ods tables of two departments, the identifier "
    "columns they share (keys estimated from bottom-k hash sketches) and the column pairs "
    "whose values agree beyond chance among the joined sampled rows; column names and rates "
    "only, never a value; a rerun of the night, under any run id, replaces the night's rows.",
)


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

EVENTS = _declare(
    "lineage.events",
    "event_time timestamp, event_type string, run_id string, job_namespace string, "
    "job_name string, inputs array<string>, outputs array<string>, event string, "
    "orchestrator_run_id string",
    "Every OpenLineage event of every task run (START, COMPLETE, FAIL), appended at the run's "
    "end; the event files themselves are kept beside it (lineage.emit.event_files).",
)
COLUMN_EDGES = _declare(
    "lineage.column_edges",
    "run_id string, target_table string, target_column string, source_table string, "
    "source_column string, transformation string, job_name string, recorded_at timestamp",
    "Column-level lineage recorded by completed runs whose edges differ from the latest "
    "recorded ones of their targets (a rerun adds no copy); readers take each target's latest.",
)


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
    "retired_keys long, build_seconds double, build_cpu_seconds double",
    "One row per library build and input: rows in = standardized (counted in the std table) "
    "+ quarantined, the ods versions the next (incremental) build starts from, and the "
    "build's wall seconds and CPU seconds (this process, the driver JVM and tasks run "
    "elsewhere; the load does not inflate them): the next night chooses full or incremental "
    "from them. "
    "Append-only: a rebuild that found nothing changed is kept with build_mode 'unchanged'; "
    "readers summarizing a night take each library's latest build.",
)

THEME_RUNS = _declare(
    "ops.theme_runs",
    "run_id string, theme string, night date, build string, reason string, write string, "
    "rows long, changed_keys long, removed_keys long, delta_version long, "
    "build_seconds double, build_cpu_seconds double, finished_at timestamp",
    "One row per theme build: full, incremental (per key) or unchanged and why, how it wrote "
    "(created, merged, no commit), the theme's rows and the keys it changed or removed, and "
    "its wall and CPU seconds: the next night builds in full when its last per-key build cost "
    "at least its last full one (jobs/theme_cost.py). Append-only.",
)


# -- audit: governed access (govlake/access) ---------------------------------------------------

AUDIT_QUERIES = _declare(
    "audit.queries",
    "at timestamp, principal string, principal_kind string, department string, "
    "impersonated boolean, client string, verdict string, reason string, statement_kind string, "
    "fingerprint string, statement string, tables array<string>, "
    "reads array<struct<table:string,column:string,grade:string,mask:string>>, "
    "filters array<string>, rows long, duration_ms long",
    "One row per statement through governed access (the endpoint or `govlake sql --as`), "
    "allowed, refused or failed: who, from where, the statement (identifiers masked) and its "
    "fingerprint (literals replaced), the columns read with their grades and masks, the row "
    "filters, rows returned and duration. Append-only: never updated or deleted.",
    properties={"delta.appendOnly": "true"},
)


# -- share: requests for catalog resources and their decisions (govlake.share) -------------

SHARE_REQUESTS = _declare(
    "share.requests",
    "request_id string, principal string, department string, resource string, "
    "resource_code string, items array<string>, approved_items array<string>, purpose string, "
    "legal_basis string, period_start date, period_end date, delivery string, state string, "
    "provider_department string, provider_code string, requested_at timestamp, due_on date, "
    "decided_at timestamp, decided_by string, reason string, revoked_at timestamp, "
    "revoked_by string",
    "One row per request for a catalog resource (供需对接), updated by MERGE so the Delta history "
    "keeps every change: who asked for which items, why (purpose, legal basis), for which "
    "period and delivery (query | warehouse | sandbox); state pending | approved | "
    "partially_approved | rejected | revoked (expired and overdue are derived: period_end past, "
    "pending past due_on, due_on counted in working days); the decision's who, when and reason. "
    "An approved row is a grant of approved_items to the principal from period_start to "
    "period_end, applied by governed access.",
    properties={"delta.enableChangeDataFeed": "true"},
)
SHARE_DECISIONS = _declare(
    "share.decisions",
    "at timestamp, request_id string, action string, actor string, actor_department string, "
    "from_state string, to_state string, items array<string>, reason string",
    "One row per action on a request (request, approve, reject, revoke): who did what when, "
    "the items it concerned and the reason. Append-only: never updated or deleted.",
    properties={"delta.appendOnly": "true"},
)

SHARE_DELIVERIES = _declare(
    "share.deliveries",
    "app string, night date, run_id string, warehouse_table string, source_table string, "
    "request_id string, columns array<string>, row_filter string, source_version long, "
    "warehouse_version long, rows long, state string, reason string, plan_hash string, "
    "recorded_at timestamp",
    "One row per application warehouse table per night (一应用一数仓): what was delivered "
    "(warehouse_table from source_table at source_version, under share request request_id, the "
    "columns and row filter), how many rows, the warehouse table's Delta version after it, and "
    "state delivered | emptied (the grant behind it revoked or expired: reason says which). "
    "plan_hash identifies the masked, filtered query, so an unchanged night is not written again. "
    "Append-only: never updated or deleted.",
    properties={"delta.appendOnly": "true"},
)


# -- share: the sandbox (govlake.sandbox, 可用不可见) ---------------------------------------------

SANDBOX_QUERIES = _declare(
    "share.sandbox_queries",
    "at timestamp, day date, principal string, project string, shape string, variant string, "
    "fingerprint string",
    "One row per planned statement of a sandbox principal: its grouping shape (the query "
    "without WHERE and HAVING, literals ignored) and its variant (with them), so the daily "
    "bound on differently filtered queries over one grouping survives a restart. Append-only.",
    properties={"delta.appendOnly": "true"},
)
SANDBOX_RELEASES = _declare(
    "share.sandbox_releases",
    "release_id string, project string, principal string, at timestamp, kind string, "
    "statement string, fingerprint string, epsilon double, delta double, k int, "
    "columns array<string>, result string, result_sha256 string, rows long",
    "One row per statistic released from a sandbox project: who, when, the statement, kind "
    "aggregate (exact, groups of at least k units) or dp (PipelineDP noise, epsilon and delta "
    "spent), the result as JSON rows and its sha256, which the export re-checks. Append-only.",
    properties={"delta.appendOnly": "true"},
)
SANDBOX_BUDGETS = _declare(
    "share.sandbox_budgets",
    "project string, epsilon_spent double, releases long, updated_at timestamp",
    "Per sandbox project, the privacy budget ε spent by its noisy releases, raised by a MERGE "
    "that matches only while the spend stays within the project's budget (Delta's history "
    "keeps every spend).",
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


# Tables written one small commit at a time (a record per run, event or statement): the ledger
# compacts their files nightly (jobs.ledger.compact), since readers scan them whole.
RECORD_TABLES = (LOAD_RUNS, LIBRARY_RUNS, THEME_RUNS, EVENTS, COLUMN_EDGES, AUDIT_QUERIES)
