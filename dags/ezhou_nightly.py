"""The nightly landing report (ops.nightly_landing): which ods tables landed for the night.

Scheduled on the Assets of all ods tables, so Airflow starts it only after each source DAG has
updated its tables since the last report. It gates nothing: each base library waits for its
own ods inputs (dags/ezhou_libraries.py), so one department's late delivery holds back only the
libraries that read it. The task is declared in govlake.tasks.landing_task.
"""

from __future__ import annotations

from airflow.sdk import dag

from govlake.sources import load_sources
from govlake.tasks import airflow_task, landing_task, source_task

ODS_TABLES = [t for s in load_sources() for spec in s.tables for t in source_task(s, spec).outputs]
LANDING = landing_task()


@dag(
    dag_id=LANDING.dag_id,
    schedule=[t.asset() for t in ODS_TABLES],
    catchup=False,
    tags=["nightly"],
    doc_md=(
        "Runs when all ods tables have landed:\n\n"
        + "\n".join(f"- `{t}`" for t in ODS_TABLES)
        + f"\n\nWrites {', '.join(f'`{t}`' for t in LANDING.outputs)}, a report that no DAG"
        " waits for: base libraries are scheduled on their own ods inputs."
    ),
)
def ezhou_nightly():
    airflow_task(LANDING)


ezhou_nightly()
