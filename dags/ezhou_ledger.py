"""The nightly ledger (一本账): catalog, quality feedback and the site, once every library is built.

Scheduled on the Assets of all base libraries; the steps are declared in govlake/tasks.py.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from govlake.lakehouse import Table
from govlake.libraries import load_libraries
from govlake.tasks import airflow_task, ledger_steps

LIBRARIES = [Table.parse(lib.table) for lib in load_libraries()]
STEPS = ledger_steps()


@dag(
    dag_id="ezhou_ledger",
    schedule=[t.asset() for t in LIBRARIES],
    catchup=False,
    tags=["nightly", "一本账"],
    doc_md="Runs when every base library is built: "
    + ", ".join(f"`{step.task_id}`" for step in STEPS),
)
def ezhou_ledger():
    chain(*[airflow_task(step) for step in STEPS])


ezhou_ledger()
