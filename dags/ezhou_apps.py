"""One app__<name> DAG per application warehouse in conf/apps/ (一应用一数仓), run when every
table it draws from has been updated.

The refresh is declared in govlake.tasks.app_task (inputs: the drawn source tables; outputs: the
warehouse tables app_<name>.* and share.deliveries); the DAG is scheduled on the Assets of its
inputs.
"""

from __future__ import annotations

from airflow.sdk import dag

from govlake.tasks import airflow_task, app_task
from govlake.warehouse.config import App, load_apps


def _build(app: App):
    refresh = app_task(app)

    @dag(
        dag_id=refresh.dag_id,
        schedule=[t.asset() for t in refresh.inputs],
        catchup=False,
        tags=["warehouse", app.scenario],
        doc_md=f"### {app.title} `{app.database}`\n\n{app.description}\n\n"
        f"Scenario: {app.scenario}; principal `{app.principal}` (reads only `{app.database}`).\n\n"
        + "Draws: "
        + ", ".join(f"`{t}`" for t in refresh.inputs),
    )
    def generated():
        airflow_task(refresh)

    return generated()


for _app in load_apps():
    globals()[f"app__{_app.name}"] = _build(_app)
