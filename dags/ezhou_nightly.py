"""Nightly DAG that runs once every ods table has landed; base-library builds (issue 3) attach here.

Scheduled on the list of all ods assets, so Airflow starts it only after each source DAG has
updated its tables since the last nightly run.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from govlake.assets import ods_asset
from govlake.sources import SourceSystem, load_sources

SOURCES = load_sources()
ODS_ASSETS = [ods_asset(s, t) for s in SOURCES for t in s.tables]
TIMEZONE = SOURCES[0].timezone if SOURCES else SourceSystem.model_fields["timezone"].default


@dag(
    dag_id="ezhou_nightly",
    schedule=ODS_ASSETS,
    catchup=False,
    tags=["nightly"],
    doc_md=(
        "Runs when all ods tables have landed:\n\n"
        + "\n".join(f"- `{a.name}`" for a in ODS_ASSETS)
        + "\n\nBase-library builds (issue 3) are added as tasks after `summarize_landing`."
    ),
)
def ezhou_nightly():
    @task
    def summarize_landing(**context) -> dict:
        from govlake.orchestration import landing_date
        from jobs.nightly import summarize
        from lineage.hooks import landing_lineage

        with landing_lineage(context) as run:
            return run.complete(summarize(landing_date(context, TIMEZONE), context["run_id"]))

    summarize_landing()


ezhou_nightly()
