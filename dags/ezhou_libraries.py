"""One base__<library> DAG per file in libraries/, run when every ods input has landed."""

from __future__ import annotations

from airflow.sdk import dag, task

from govlake.assets import table_asset
from govlake.libraries import Library, load_libraries
from govlake.sources import SourceSystem

TIMEZONE = SourceSystem.model_fields["timezone"].default


def _build(library: Library):
    inputs = sorted({source.table for source in library.inputs.values()})
    # A library that links to others waits for them too, so its links see tonight's build.
    inputs += sorted(f"base.{other}" for other in library.links)

    @dag(
        dag_id=f"{library.database}__{library.library}",
        schedule=[table_asset(t) for t in inputs],
        catchup=False,
        tags=[library.database, library.title],
        doc_md=f"### {library.title} `{library.table}`\n\n{library.description}\n\n"
        + "Inputs: "
        + ", ".join(f"`{t}`" for t in inputs),
    )
    def generated():
        @task(task_id=f"build_{library.library}", outlets=[table_asset(library.table)])
        def build(**context) -> dict:
            from govlake.orchestration import landing_date, record_landing
            from jobs.library import build_library
            from lineage.hooks import library_lineage

            day = landing_date(context, TIMEZONE)
            with library_lineage(context, library.library) as run:
                result = run.complete(build_library(library.library, day, context["run_id"]))
            record_landing(context, table_asset(library.table), day, result)
            return {k: v for k, v in result.items() if k != "inputs"}

        build()

    return generated()


for _library in load_libraries():
    globals()[f"{_library.database}__{_library.library}"] = _build(_library)
