"""What each kind of task reads and writes, for lineage.emit.task_run: ODS loads, logical
registrations, the nightly landing check and library builds.

The DAG task bodies call these with their Airflow context (one `with` line each); the
schemas, row counts and column edges are filled in after the job ran, from the tables it wrote
and the counts it returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from govlake.settings import settings
from lineage.declared import library_edges, ods_edges, source_dataset
from lineage.emit import Dataset, TaskRun, task_run


def job_name(context: Mapping[str, Any] | None, default: str) -> str:
    """`<dag_id>.<task_id>` of the running Airflow task, else `default`."""
    ti = (context or {}).get("ti")
    return f"{ti.dag_id}.{ti.task_id}" if ti is not None else default


def _run_id(context: Mapping[str, Any] | None) -> str | None:
    return (context or {}).get("run_id")


def delta_fields(database: str, table: str) -> dict[str, str]:
    """Column -> type of a lakehouse Delta table (empty if it does not exist yet)."""
    cfg = settings()
    path = cfg.table_path(database, table)
    if not (path / "_delta_log").exists():
        return {}
    from govlake.spark import get_spark

    schema = get_spark(cfg, tables=set()).read.format("delta").load(str(path)).schema
    return {f.name: f.dataType.simpleString() for f in schema.fields}


def logical_sql(dbtable: str) -> str:
    """The query Spark's JDBC source sends for a logical table (dbtable may be a subquery)."""
    return f"SELECT * FROM {dbtable}"


@contextmanager
def ods_lineage(context: Mapping[str, Any] | None, system: str, table: str) -> Iterator[TaskRun]:
    """Lineage of one ods__<system> task: department table -> ods table."""
    from govlake.sources import get_table

    source, spec = get_table(system, table)
    prefix = "load" if source.mode == "physical" else "register"
    inputs = [Dataset(source_dataset(system, table))]
    outputs = [Dataset(source.ods_table(spec))]
    sql = logical_sql(spec.dbtable) if source.mode == "logical" else None
    job = job_name(context, f"ods__{system}.{prefix}_{table}")
    with task_run(job, inputs, outputs, _run_id(context), sql=sql) as run:
        yield run
        if source.mode == "logical":
            _describe_logical(run, source, spec)
        else:
            _describe_physical(run, source, spec)


def _describe_physical(run: TaskRun, source, spec) -> None:
    counts = run.stats or {}
    ods = source.ods_table(spec)
    fields = delta_fields("ods", ods.split(".", 1)[1])
    run.edges = ods_edges(source, spec.name, list(fields))
    upstream = run.dataset(source_dataset(source.system, spec.name))
    upstream.fields = {e.source_column: fields[e.target_column] for e in run.edges}
    upstream.rows = counts.get("rows_read")
    output = run.dataset(ods)
    output.fields, output.rows = fields, counts.get("rows_written")


def _describe_logical(run: TaskRun, source, spec) -> None:
    """Columns and edges from the SQL the JDBC source runs, traced by sqlglot (nothing copied)."""
    from govlake.spark import get_spark
    from jobs.logical import register
    from lineage.sql import column_lineage

    cfg = settings()
    spark = get_spark(cfg, tables=set())
    name = register(spark, cfg, source, spec)
    fields = {f.name: f.dataType.simpleString() for f in spark.table(name).schema.fields}
    upstream_name = source_dataset(source.system, spec.name)
    edges = column_lineage(run.sql, {spec.dbtable: fields}, target=name)
    # The SQL names the department's table as the JDBC source sees it; lineage names it by
    # its system, like the declared edges of physical loads.
    run.edges = [replace(e, source_table=upstream_name) for e in edges]
    upstream = run.dataset(upstream_name)
    upstream.fields, upstream.rows = fields, (run.stats or {}).get("source_rows")
    run.dataset(name).fields = fields


@contextmanager
def landing_lineage(context: Mapping[str, Any] | None) -> Iterator[TaskRun]:
    """Lineage of the nightly landing check: ops.load_runs -> ops.nightly_landing."""
    inputs, outputs = [Dataset("ops.load_runs")], [Dataset("ops.nightly_landing")]
    job = job_name(context, "ezhou_nightly.summarize_landing")
    with task_run(job, inputs, outputs, _run_id(context)) as run:
        yield run
        summary = run.stats or {}
        for dataset in (*inputs, *outputs):
            dataset.fields = delta_fields(*dataset.name.split("."))
        outputs[0].rows = len(summary.get("landed", [])) + len(summary.get("missing", []))


@contextmanager
def library_lineage(context: Mapping[str, Any] | None, name: str) -> Iterator[TaskRun]:
    """Lineage of one library build: ods (and linked base) tables -> base.<lib> and friends."""
    from govlake.libraries import get_library

    library = get_library(name)
    tables = {spec.table for spec in library.inputs.values()}
    tables |= {f"base.{other}" for other in library.links}
    inputs = [Dataset(t) for t in sorted(tables)]
    quarantine = f"quarantine.{library.library}"
    outputs = [Dataset(library.table), Dataset(quarantine), Dataset("base.conflicts")]
    job = job_name(context, f"{library.database}__{library.library}.build_{library.library}")
    edges = library_edges(library)
    with task_run(job, inputs, outputs, _run_id(context), edges=edges) as run:
        yield run
        result = run.stats or {}
        for dataset in (*inputs, *outputs):
            dataset.fields = delta_fields(*dataset.name.split("."))
        for balance in result.get("inputs", []):
            dataset = run.dataset(library.inputs[balance["input"]].table)
            dataset.rows = max(dataset.rows or 0, balance["rows_in"])
        run.dataset(library.table).rows = result.get("keys")
        run.dataset(quarantine).rows = sum(b["quarantined"] for b in result.get("inputs", []))
        run.dataset("base.conflicts").rows = result.get("conflicts")
