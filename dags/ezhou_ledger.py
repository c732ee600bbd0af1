"""The nightly ledger (一本账): catalog, quality feedback and the site, once every library is built.

Scheduled on the Assets of all base libraries; the steps are declared in jobs/ledger.py.
"""

from __future__ import annotations

from airflow.sdk import chain, dag, task

from govlake.assets import table_asset
from govlake.libraries import load_libraries
from govlake.sources import SourceSystem
from jobs.ledger import STEPS

TIMEZONE = SourceSystem.model_fields["timezone"].default
LIBRARY_ASSETS = [table_asset(lib.table) for lib in load_libraries()]


def _task(step):
    @task(task_id=step.task_id, outlets=[table_asset(t) for t in step.outputs])
    def run(**context) -> dict:
        from govlake.orchestration import landing_date
        from jobs.ledger import run_step

        return run_step(step, context, landing_date(context, TIMEZONE))

    return run


@dag(
    dag_id="ezhou_ledger",
    schedule=LIBRARY_ASSETS,
    catchup=False,
    tags=["nightly", "一本账"],
    doc_md="Runs when every base library is built: "
    + ", ".join(f"`{step.task_id}`" for step in STEPS),
)
def ezhou_ledger():
    chain(*[_task(step)() for step in STEPS])


ezhou_ledger()
