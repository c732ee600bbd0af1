"""OpenLineage run events for every task run (血缘): START, then COMPLETE or FAIL.

`task_run(...)` wraps a task body: it emits START on entry, COMPLETE with row counts on a
clean exit and FAIL with the error when the body raises. Each event is built with the
openlineage-python classes, validated against the vendored schema (an invalid event raises
instead of being written), written by the openlineage-python file transport under
<lakehouse>/lineage/events/_openlineage/, and at the end of the run appended, with the run's
column edges, to the Delta tables lineage.events and lineage.column_edges.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govlake.owned import COLUMN_EDGES, EVENTS, Owned
from govlake.settings import Settings, settings
from lineage.declared import ColumnEdge
from lineage.validate import LineageSchemaError, validate_event

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

NAMESPACE = "ezhou-govlake"
PRODUCER = "urn:ezhou-govlake:lineage"
IDENTITY = ("copy", "rename", "key")


@dataclass
class Dataset:
    """A table a run reads or writes: `db.table` or `system:<system>.<table>`."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)
    rows: int | None = None


@dataclass
class TaskRun:
    """One run of one job; the task body fills in what it learned (counts, schemas, edges)."""

    job: str
    inputs: list[Dataset]
    outputs: list[Dataset]
    orchestrator_run_id: str | None = None
    edges: list[ColumnEdge] = field(default_factory=list)
    sql: str | None = None
    run_id: str = ""
    stats: Any = None
    events: list[dict] = field(default_factory=list)

    def complete(self, stats: Any) -> Any:
        """Keep the job's result (its counts) for the COMPLETE event; returns it unchanged."""
        self.stats = stats
        return stats

    def dataset(self, name: str) -> Dataset:
        return next(d for d in [*self.inputs, *self.outputs] if d.name == name)


def build_event(run: TaskRun, state: str, error: BaseException | None = None):
    """The OpenLineage RunEvent of `run` in `state` (START, COMPLETE or FAIL)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, processing_engine_run, sql_job

    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=version("ezhou-govlake"),
            name="govlake",
            openlineageAdapterVersion=version("openlineage-python"),
        )
    }
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(error) or type(error).__name__,
            programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(error))[-8000:],
        )
    job_facets = {"sql": sql_job.SQLJobFacet(query=run.sql)} if run.sql else {}
    final = state != "START"
    return RunEvent(
        eventType=RunState[state],
        eventTime=dt.datetime.now(dt.UTC).isoformat(),
        run=Run(runId=run.run_id, facets=run_facets),
        job=Job(namespace=NAMESPACE, name=run.job, facets=job_facets),
        inputs=[_input(d, final) for d in run.inputs],
        outputs=[
            _output(d, final, [e for e in run.edges if e.target_table == d.name])
            for d in run.outputs
        ],
        producer=PRODUCER,
    )


def _schema_facets(dataset: Dataset) -> dict:
    from openlineage.client.facet_v2 import schema_dataset

    if not dataset.fields:
        return {}
    return {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=n, type=t, ordinal_position=i)
                for i, (n, t) in enumerate(dataset.fields.items(), start=1)
            ]
        )
    }


def _input(dataset: Dataset, final: bool):
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset as stats

    facets = {}
    if final and dataset.rows is not None:
        facets["inputStatistics"] = stats.InputStatisticsInputDatasetFacet(rowCount=dataset.rows)
    return InputDataset(
        namespace=NAMESPACE, name=dataset.name, facets=_schema_facets(dataset), inputFacets=facets
    )


def _output(dataset: Dataset, final: bool, edges: list[ColumnEdge]):
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

    facets = _schema_facets(dataset)
    if edges:
        facets["columnLineage"] = column_lineage_facet(edges)
    out = {}
    if final and dataset.rows is not None:
        out["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(rowCount=dataset.rows)
    return OutputDataset(namespace=NAMESPACE, name=dataset.name, facets=facets, outputFacets=out)


def column_lineage_facet(edges: list[ColumnEdge]):
    """ColumnLineageDatasetFacet: each target column with the input columns it comes from."""
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    by_column: dict[str, list] = {}
    for e in sorted(edges):
        direct = e.transformation in IDENTITY
        by_column.setdefault(e.target_column, []).append(
            cl.InputField(
                namespace=NAMESPACE,
                name=e.source_table,
                field=e.source_column,
                transformations=[
                    cl.Transformation(
                        type="DIRECT",
                        subtype="IDENTITY" if direct else "TRANSFORMATION",
                        description=e.transformation,
                        masking=False,
                    )
                ],
            )
        )
    return cl.ColumnLineageDatasetFacet(
        fields={c: cl.Fields(inputFields=inputs) for c, inputs in by_column.items()}
    )


def event_files(cfg: Settings) -> Path:
    """Folder of the event files, on the local disk where the OpenLineage file transport
    writes: <lakehouse>/lineage/events/_openlineage/ (the contract), which is inside the
    lineage.events folder when tables live in the lakehouse folder; Delta readers and VACUUM
    skip a `_` name."""
    return cfg.lakehouse / "lineage" / "events" / "_openlineage"


class LineageWriter:
    """Validates each event, writes it with the OpenLineage file transport, then to Delta."""

    def __init__(self, cfg: Settings | None = None, spark: SparkSession | None = None) -> None:
        self.cfg = cfg or settings()
        self._spark = spark
        self.folder = event_files(self.cfg)

    def emit(self, event) -> dict:
        """Validate, then write one event file; returns the event as a dict."""
        from openlineage.client.serde import Serde
        from openlineage.client.transport.file import FileConfig, FileTransport

        as_dict = validate_event(Serde.to_dict(event))
        self.folder.mkdir(parents=True, exist_ok=True)
        # The client's own file transport, without OpenLineageClient.emit: that adds a tags run
        # facet after our check, whose schema is not vendored, so the file would differ from
        # what was validated. debug_mode names files <time>-<job>-<event type>.json.
        config = FileConfig(log_file_path=str(self.folder / "ol"), debug_mode=True)
        FileTransport(config).emit(event)
        return as_dict

    def record(self, run: TaskRun, with_edges: bool) -> None:
        """Append the run's events to lineage.events, and its column edges to column_edges
        when they differ from the latest recorded ones of its target tables.

        Events are the runs' audit trail: every run keeps its own. Edges are derived from the
        code and configuration, not from the night: a rerun (issue 20, item 11) or the next
        night with the same edges records nothing, so the table holds each change of lineage
        once; readers take each target's latest recorded edges."""
        from govlake.spark import get_spark

        spark = self._spark or get_spark(self.cfg, tables=set())
        _append(spark, self.cfg, EVENTS, [_event_row(run, e) for e in run.events])
        if with_edges and run.edges and _edges_changed(spark, self.cfg, run):
            now = dt.datetime.now()
            rows = [(run.run_id, *_edge_tuple(e), run.job, now) for e in run.edges]
            _append(spark, self.cfg, COLUMN_EDGES, rows)


def _edges_changed(spark: SparkSession, cfg: Settings, run: TaskRun) -> bool:
    """Whether the run's edges differ from the latest recorded edges of its target tables."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    recorded = COLUMN_EDGES.table.read_if_exists(spark, cfg)
    if recorded is None:
        return True
    targets = sorted({e.target_table for e in run.edges})
    latest = F.max("recorded_at").over(Window.partitionBy("target_table"))
    rows = (
        recorded.where(F.col("target_table").isin(*targets))
        .withColumn("_latest", latest)
        .where(F.col("recorded_at") == F.col("_latest"))
        .select(*EDGE_COLUMNS, "job_name")
        .collect()
    )
    return {tuple(r) for r in rows} != {(*_edge_tuple(e), run.job) for e in run.edges}


EDGE_COLUMNS = ("target_table", "target_column", "source_table", "source_column", "transformation")


def _edge_tuple(e: ColumnEdge) -> tuple:
    return (e.target_table, e.target_column, e.source_table, e.source_column, e.transformation)


def _event_row(run: TaskRun, event: dict) -> tuple:
    import json

    return (
        dt.datetime.fromisoformat(event["eventTime"]),
        event["eventType"],
        event["run"]["runId"],
        event["job"]["namespace"],
        event["job"]["name"],
        [d["name"] for d in event.get("inputs") or []],
        [d["name"] for d in event.get("outputs") or []],
        json.dumps(event, ensure_ascii=False, sort_keys=True),
        run.orchestrator_run_id,
    )


def _append(spark: SparkSession, cfg: Settings, owned: Owned, rows: list[tuple]) -> None:
    """Blind append of a run's rows (tuples in the order of the table's columns) in one commit:
    by delta-rs once the table exists, as every task of the night appends its events (a Spark
    append was a job and a commit, about 0.5 s of each task); by Spark while it does not,
    where parallel tasks race to create it and Table.write retries the loser's append."""
    owned.append(spark, [dict(zip(owned.columns, row, strict=True)) for row in rows], cfg)


@contextmanager
def task_run(
    job: str,
    inputs: list[Dataset],
    outputs: list[Dataset],
    orchestrator_run_id: str | None = None,
    *,
    edges: list[ColumnEdge] | None = None,
    sql: str | None = None,
    writer: LineageWriter | None = None,
) -> Iterator[TaskRun]:
    """Emit START, run the body, then COMPLETE (or FAIL and re-raise the body's error)."""
    from openlineage.client.uuid import generate_new_uuid

    writer = writer or LineageWriter()
    run = TaskRun(job, inputs, outputs, orchestrator_run_id, list(edges or []), sql)
    run.run_id = str(generate_new_uuid())
    run.events.append(writer.emit(build_event(run, "START")))
    try:
        yield run
    except LineageSchemaError:
        raise
    except BaseException as exc:
        _fail(writer, run, exc)
        raise
    run.events.append(writer.emit(build_event(run, "COMPLETE")))
    writer.record(run, with_edges=True)


def _fail(writer: LineageWriter, run: TaskRun, exc: BaseException) -> None:
    """FAIL event for a failed body; a Delta problem here must not hide the body's error."""
    run.events.append(writer.emit(build_event(run, "FAIL", exc)))
    try:
        writer.record(run, with_edges=False)
    except Exception as record_error:  # the file event is written; Delta is the copy
        log.warning("lineage.events not updated for failed run %s: %s", run.run_id, record_error)
