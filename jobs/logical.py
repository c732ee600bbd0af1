"""Logical connection (逻辑接入): department tables queried in place over JDBC, never copied."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.lakehouse import Table, ensure_database
from govlake.owned import NOT_COPIED
from govlake.settings import Settings, settings
from govlake.sources import SourceSystem, TableSpec, load_sources
from jobs import ops
from jobs.connections import resolve_jdbc, with_retries

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def logical_tables() -> list[tuple[SourceSystem, TableSpec]]:
    return [(s, t) for s in load_sources() if s.mode == "logical" for t in s.tables]


def register(spark: SparkSession, cfg: Settings, source: SourceSystem, spec: TableSpec) -> str:
    """Name the department table in this session; credentials stay in this process's memory."""
    target = resolve_jdbc(source, cfg)
    name = source.ods_table(spec)
    if not spark.catalog.tableExists(name):
        options = {
            **target.read_options(),  # an INSERT INTO this table must never reach the department
            "dbtable": spec.dbtable,
            "fetchsize": str(cfg.jdbc_fetchsize),
        }
        table = Table.parse(name)
        ensure_database(spark, table.database, cfg)
        spark.catalog.createTable(name, source="jdbc", **options)
        # The session catalog makes an empty managed-table folder; nothing lives there.
        table.remove_empty_location(spark, cfg)
    return name


def referenced_tables(sql: str) -> set[str] | None:
    """Qualified table names a query reads, or None when sqlglot cannot tell."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, read="spark")
    except sqlglot.errors.ParseError:
        return None
    return {
        f"{t.db}.{t.name}".lower()
        for statement in statements
        if statement is not None
        for t in statement.find_all(exp.Table)
    }


def register_referenced(spark: SparkSession, cfg: Settings, tables: set[str] | None) -> list[str]:
    """Register only the logical tables a query names, so other department DBs are not touched."""
    return [
        register(spark, cfg, s, t)
        for s, t in logical_tables()
        if tables is None or s.ods_table(t) in tables
    ]


def register_table(
    system: str,
    table: str,
    logical_date: dt.date,
    run_id: str | None = None,
    spark: SparkSession | None = None,
) -> dict:
    """Nightly check that a logical table answers, and its validation when it has a suite;
    recorded in ops.load_runs (nothing copied)."""
    from govlake.spark import get_spark

    cfg = settings()
    source, spec, run = ops.begin_run(system, table, logical_date, run_id, "logical")
    spark = spark or get_spark(cfg)
    target = resolve_jdbc(source, cfg)
    run.location = f"{target.display} {spec.dbtable}"
    # Nothing is copied, so nothing is written or rejected and there is no balance to check:
    # rows_written, rows_rejected and balanced stay NULL; rows_read is what validation read.
    run.balance = NOT_COPIED
    try:
        name = register(spark, cfg, source, spec)
        from jobs import quality

        # With a suite the rows are validated too: read from the department's database once.
        rows = spark.table(name)
        if quality.find_suite(name) is not None:
            rows = rows.persist()
        try:
            run.source_rows = with_retries(
                rows.count, f"{spec.dbtable} at {target.display}", system, cfg
            )
            checked = quality.check_logical(spark, cfg, source, spec, rows, run)
            run.rows_read = checked.total if checked is not None else None
        finally:
            rows.unpersist()
        run.status = "registered"
    except GovlakeError as exc:  # QualityError too: a fail rule or the threshold broke
        run.status, run.error = "failed", str(exc)
        raise
    finally:
        run.finished_at = dt.datetime.now()
        ops.record_run(spark, cfg, run)
    return {
        "ods_table": run.ods_table,
        "status": run.status,
        "source_rows": run.source_rows,
        "rows_read": run.rows_read,
        "balance": run.balance,
    }
