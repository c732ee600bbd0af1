"""Every task of the night declared once: what it reads, what it writes, which job runs it.

A `Task` is plain data (like astronomer-cosmos's graph entities): the DAG files loop over
configuration, get declarations from here and turn each into an
Airflow task with `airflow_task`. That one function gives every task the same three things
from the same declaration: its outlets (the Assets of the tables it writes), its OpenLineage
START/COMPLETE/FAIL run with those inputs, outputs and column edges, and the landing record on
each outlet event. Jobs are named as "module:function" and imported only when the task runs,
so parsing a DAG file never imports Spark or pandas.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from govlake.lakehouse import Table
from govlake.libraries import Library, load_libraries
from govlake.open.tables import open_tables
from govlake.owned import RECORD_TABLES
from govlake.settings import PROJECT_ROOT, settings
from govlake.sources import SourceSystem, TableSpec, load_sources
from govlake.themes import Theme, load_themes
from govlake.warehouse.config import App, load_apps
from lineage.declared import (
    ColumnEdge,
    app_edges,
    library_edges,
    logical_sql,
    source_dataset,
    theme_edges,
)

if TYPE_CHECKING:
    import datetime as dt

    from lineage.emit import TaskRun


@dataclass(frozen=True)
class Task:
    """One task: `job(*args, day, run_id) -> counts` reads `inputs` and writes `outputs`.

    `inputs` are the tables whose rows the job reads: its lineage inputs, and its size when the
    job does not size its own work. A table whose schema, version or row count alone the job
    looks at is not an input (the catalog and the site look at every table so; an input of all
    of them would make each table's lineage name the ledger and its size count them all).
    `upstream` names what the task reads from outside the lakehouse (a department system's
    table, `system:<system>.<table>`); `edges` and `sql` are its column lineage as far as it is
    known before the run; `describe` ("module:function", called with the run and `args`) adds
    what only the run tells (columns, row counts, edges of the columns it found).
    """

    dag_id: str
    task_id: str
    job: str
    args: tuple[str, ...] = ()
    inputs: tuple[Table, ...] = ()
    outputs: tuple[Table, ...] = ()
    upstream: tuple[str, ...] = ()
    edges: tuple[ColumnEdge, ...] = ()
    sql: str | None = None
    describe: str | None = None
    timezone: str | None = None  # None: the city's (settings `timezone`)
    # A job that knows the size of its own work (a load's batch, a library's or theme's
    # inputs) chooses compiled or interpreted itself; any other is sized by `inputs`.
    sizes_itself: bool = False

    @property
    def job_name(self) -> str:
        """The lineage job name, `<dag_id>.<task_id>`, as Airflow names the task."""
        return f"{self.dag_id}.{self.task_id}"

    @property
    def datasets_read(self) -> list[str]:
        return [*self.upstream, *map(str, self.inputs)]

    def run(self, day: dt.date, run_id: str) -> Any:
        """Import the job and run it for one business day."""
        return resolve(self.job)(*self.args, day, run_id)

    @property
    def doc_md(self) -> str:
        def names(items) -> str:
            return ", ".join(f"`{t}`" for t in items) or "nothing"

        return f"Reads {names(self.datasets_read)}; writes {names(self.outputs)}; job `{self.job}`."


def resolve(target: str) -> Callable[..., Any]:
    """The function named "module:function", imported now."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def tables(*names: str) -> tuple[Table, ...]:
    return tuple(Table.parse(n) for n in names)


# -- the declarations -------------------------------------------------------------------------

# mode -> (task id prefix, job, lineage description of the run)
SOURCE_KINDS = {
    "physical": ("load", "jobs.ingest:load_table", "lineage.hooks:describe_physical"),
    "logical": ("register", "jobs.logical:register_table", "lineage.hooks:describe_logical"),
}


def source_task(source: SourceSystem, spec: TableSpec) -> Task:
    """归集: one department table copied (physical) or registered in place (logical) into ods."""
    prefix, job, describe = SOURCE_KINDS[source.mode]
    return Task(
        dag_id=f"ods__{source.system}",
        task_id=f"{prefix}_{spec.name}",
        job=job,
        args=(source.system, spec.name),
        outputs=tables(source.ods_table(spec)),
        upstream=(source_dataset(source.system, spec.name),),
        sql=logical_sql(spec.dbtable) if source.mode == "logical" else None,
        describe=describe,
        timezone=source.timezone,
        sizes_itself=source.mode == "physical",  # a load sizes its batch
    )


def landing_task() -> Task:
    """The nightly landing check: which ods tables landed for the night (a report)."""
    return Task(
        dag_id="ezhou_nightly",
        task_id="summarize_landing",
        job="jobs.nightly:summarize",
        inputs=tables("ops.load_runs"),
        outputs=tables("ops.nightly_landing"),
        describe="lineage.hooks:describe_landing",
    )


def library_task(library: Library) -> Task:
    """One library build: its ods inputs (and linked libraries) -> the library, its std
    inputs, its quarantine and its rows of base.conflicts, with the declared column edges."""
    return Task(
        dag_id=f"{library.database}__{library.library}",
        task_id=f"build_{library.library}",
        job="jobs.library:build_library",
        args=(library.library,),
        inputs=tables(*library.input_tables),
        outputs=tables(*library.output_tables),
        edges=tuple(library_edges(library)),
        describe="lineage.hooks:describe_library",
        sizes_itself=True,
    )


def theme_task(theme: Theme) -> Task:
    """One theme build: the tables its SQL names -> theme.<name>, with the column edges
    sqlglot's lineage finds in that SQL, and the SQL itself on the lineage event."""
    return Task(
        dag_id=f"theme__{theme.theme}",
        task_id=f"build_{theme.theme}",
        job="jobs.theme:build_theme",
        args=(theme.theme,),
        inputs=tables(*theme.inputs),
        outputs=tables(theme.table),
        edges=tuple(theme_edges(theme)),
        sql=theme.sql,
        sizes_itself=True,
    )


def app_task(app: App) -> Task:
    """One application warehouse refresh (一应用一数仓): the source tables it draws ->
    app_<name>.*, each column an edge from its source column (masked, filtered on the way)."""
    return Task(
        dag_id=f"app__{app.name}",
        task_id=f"refresh_{app.name}",
        job="jobs.warehouse:refresh_app",
        args=(app.name,),
        inputs=app.inputs,
        outputs=(*app.outputs, Table.parse("share.deliveries")),
        edges=tuple(app_edges(app)),
    )


def _ledger_step(task_id: str, job: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Task:
    job = f"jobs.ledger:{job}"
    return Task("ezhou_ledger", task_id, job, inputs=tables(*inputs), outputs=tables(*outputs))


OPEN_DIR = PROJECT_ROOT / "conf" / "open"
CATALOG_TABLES = ("catalog.resources", "catalog.items", "catalog.systems", "catalog.registrations")
QUALITY_INPUTS = ("quality.results", "quality.failed_rows", "ops.rejected_rows", "base.conflicts")
QUALITY_OUTPUTS = (
    "quality.scores",
    "quality.problems",
    "quality.duplicate_collection",
    "quality.discovered_duplicates",
)

# What the site (govlake/site) reads rows of: the catalog, the night's records, the share and
# sandbox records and the access log (audit.queries), each a small record table.
SITE_INPUTS = (
    *CATALOG_TABLES,
    "quality.scores",
    "quality.problems",
    "quality.discovered_duplicates",
    "lineage.column_edges",
    "ops.load_runs",
    "ops.library_runs",
    "share.requests",
    "share.deliveries",
    "share.sandbox_releases",
    "share.sandbox_budgets",
    "audit.queries",
)


def feedback_inputs() -> tuple[str, ...]:
    """What the feedback step reads (jobs/feedback): the night's quality and run records, every
    library's quarantine, and every department table copied into ods, which its search for
    duplicate collection samples in full (jobs/feedback/discovered.py; a logical source's
    table is read in place, not landed, so the search passes it by)."""
    quarantines = [lib.quarantine_table for lib in load_libraries()]
    physical = [s for s in load_sources() if s.mode == "physical"]
    ods = [s.ods_table(spec) for s in physical for spec in s.tables]
    return (*QUALITY_INPUTS, "ops.load_runs", "ops.library_runs", *quarantines, *ods)


def ledger_steps() -> tuple[Task, ...]:
    """The ledger (一本账) once every library is built, in the order it runs: the catalog
    first, then what reads it. The jobs live in jobs/ledger.py."""
    return (
        _ledger_step("publish_catalog", "catalog", ("ops.load_runs",), CATALOG_TABLES),
        _ledger_step("publish_feedback", "feedback", feedback_inputs(), QUALITY_OUTPUTS),
        _ledger_step("build_data_docs", "data_docs", ("quality.results",), ()),
        # Open data (conf/open/): files under <lakehouse>/open/, no table; before the site.
        _ledger_step(
            "export_open_data", "open_data", ("catalog.items", *open_tables(OPEN_DIR)), ()
        ),
        # The record tables' small files, compacted before the site (and the next night) reads.
        _ledger_step("compact_records", "compact", tuple(o.name for o in RECORD_TABLES), ()),
        _ledger_step("build_site", "site", SITE_INPUTS, ()),
    )


def all_tasks() -> list[Task]:
    """Every declared task of the night, in the order the night runs them."""
    loads = [source_task(s, spec) for s in load_sources() for spec in s.tables]
    builds = [library_task(lib) for lib in load_libraries()]
    themes = [theme_task(theme) for theme in load_themes()]
    apps = [app_task(app) for app in load_apps()]
    return [*loads, landing_task(), *builds, *themes, *ledger_steps(), *apps]


# -- from a declaration to a running task -----------------------------------------------------


@contextmanager
def traced(task: Task, context: Mapping[str, Any] | None = None) -> Iterator[TaskRun]:
    """The task's OpenLineage run around the `with` body: START, then the tables' columns and
    the task's own description, then COMPLETE (or FAIL when the body raises)."""
    from lineage.emit import Dataset, task_run
    from lineage.hooks import describe_tables, job_name

    context = context or {}
    with task_run(
        job_name(context, task.job_name),
        [Dataset(name) for name in task.datasets_read],
        [Dataset(str(t)) for t in task.outputs],
        context.get("run_id"),
        edges=list(task.edges),
        sql=task.sql,
    ) as run:
        yield run
        describe_tables(run)
        if task.describe:
            resolve(task.describe)(run, *task.args)


def execute(task: Task, context: Mapping[str, Any]) -> dict:
    """Body of the Airflow task: run the job for the run's day inside its lineage run, then
    put the day and the counts on every outlet event (what an asset-triggered run reads).
    Its Spark session names only the tables the task declares (govlake.spark.naming_only),
    and compiles or not by the rows of its inputs unless the job sizes its own work."""
    from govlake.orchestration import landing_date, record_landing
    from govlake.spark import evaluated_by_size, naming_only

    day = landing_date(context, task.timezone or settings().timezone)
    sized = nullcontext() if task.sizes_itself else evaluated_by_size(task.inputs)
    with naming_only((*task.inputs, *task.outputs)), traced(task, context) as run:
        with sized:
            counts = task.run(day, context["run_id"])
        result = run.complete(counts or {})
    for table in task.outputs:
        record_landing(context, table.asset(), day, result)
    return {k: v for k, v in result.items() if v is None or isinstance(v, str | int | float | bool)}


def airflow_task(task: Task):
    """The Airflow task of a declaration (call it inside a DAG): its id, outlets and body."""
    from airflow.sdk import task as as_task

    from govlake.orchestration import SPARK_POOL

    # Every job of the night starts a Spark driver: the pool bounds how many run at once.
    @as_task(
        task_id=task.task_id,
        outlets=[t.asset() for t in task.outputs],
        doc_md=task.doc_md,
        pool=SPARK_POOL,
    )
    def run(**context) -> dict:
        return execute(task, context)

    return run()


def asset_scheduled_dag(task: Task, tags: list[str], heading_md: str):
    """A DAG of the one task `task`, run when every table it reads has been written (the Assets
    of its inputs): a library build, a theme, an application warehouse. `heading_md` describes
    it; the inputs are listed after it."""
    from airflow.sdk import dag

    inputs = ", ".join(f"`{t}`" for t in task.inputs)

    @dag(
        dag_id=task.dag_id,
        schedule=[t.asset() for t in task.inputs],
        catchup=False,
        tags=tags,
        doc_md=f"{heading_md}\n\nInputs: {inputs}",
    )
    def generated():
        airflow_task(task)

    return generated()
