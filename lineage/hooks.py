"""What only a task's run can tell its lineage: columns, row counts, edges of found columns.

The inputs, outputs, declared edges and SQL of each task come from its declaration
(govlake.tasks.Task), which names one of these `describe_*` functions; govlake.tasks.traced
calls it after the job ran, with the run (its counts in `run.stats`) and the task's arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from govlake.settings import settings
from lineage.declared import ods_edges, source_dataset
from lineage.emit import TaskRun


def job_name(context: Mapping[str, Any] | None, default: str) -> str:
    """`<dag_id>.<task_id>` of the running Airflow task, else `default`."""
    ti = (context or {}).get("ti")
    return f"{ti.dag_id}.{ti.task_id}" if ti is not None else default


def _spark():
    from govlake.spark import get_spark

    return get_spark(settings(), tables=set())


def describe_tables(run: TaskRun) -> None:
    """Column -> type of every lakehouse table the run read or wrote, from Delta (none for a
    table that does not exist, or for a department system's table)."""
    from govlake.lakehouse import Table

    spark = None
    for dataset in (*run.inputs, *run.outputs):
        if dataset.name.startswith("system:"):
            continue
        spark = spark or _spark()
        dataset.fields = Table.parse(dataset.name).fields(spark)


def describe_physical(run: TaskRun, system: str, table: str) -> None:
    """A copy into ods: each ods column from its department column, rows read and written."""
    from govlake.sources import get_table

    source, spec = get_table(system, table)
    counts = run.stats or {}
    output = run.dataset(source.ods_table(spec))
    run.edges = ods_edges(source, spec.name, list(output.fields))
    upstream = run.dataset(source_dataset(source.system, spec.name))
    upstream.fields = {e.source_column: output.fields[e.target_column] for e in run.edges}
    upstream.rows = counts.get("rows_read")
    output.rows = counts.get("rows_written")


def describe_logical(run: TaskRun, system: str, table: str) -> None:
    """Columns and edges from the SQL the JDBC source runs, traced by sqlglot (nothing copied)."""
    from govlake.sources import get_table
    from jobs.logical import register
    from lineage.sql import column_lineage

    source, spec = get_table(system, table)
    spark = _spark()
    name = register(spark, settings(), source, spec)
    fields = {f.name: f.dataType.simpleString() for f in spark.table(name).schema.fields}
    upstream_name = source_dataset(source.system, spec.name)
    edges = column_lineage(run.sql, {spec.dbtable: fields}, target=name)
    # The SQL names the department's table as the JDBC source sees it; lineage names it by
    # its system, like the declared edges of physical loads.
    run.edges = [replace(e, source_table=upstream_name) for e in edges]
    upstream = run.dataset(upstream_name)
    upstream.fields, upstream.rows = fields, (run.stats or {}).get("source_rows")
    run.dataset(name).fields = fields


def describe_landing(run: TaskRun) -> None:
    """The landing check writes one row per configured ods table."""
    summary = run.stats or {}
    run.outputs[0].rows = len(summary.get("landed", [])) + len(summary.get("missing", []))


def describe_library(run: TaskRun, name: str) -> None:
    """Rows each input gave and each output holds, from the build's balance and totals."""
    from govlake.libraries import get_library

    library = get_library(name)
    result = run.stats or {}
    balance = result.get("inputs", [])
    for b in balance:
        dataset = run.dataset(library.inputs[b["input"]].table)
        dataset.rows = max(dataset.rows or 0, b["rows_in"])
        run.dataset(library.std_table(b["input"])).rows = b["standardized"]
    run.dataset(library.table).rows = result.get("keys")
    run.dataset(library.quarantine_table).rows = sum(b["quarantined"] for b in balance)
    run.dataset("base.conflicts").rows = result.get("conflicts")
