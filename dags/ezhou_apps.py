"""One app__<name> DAG per application warehouse in conf/apps/ (一应用一数仓), run when every
table it draws from has been updated.

The refresh is declared in govlake.tasks.app_task (inputs: the drawn source tables; outputs: the
warehouse tables app_<name>.* and share.deliveries); the DAG is scheduled on the Assets of its
inputs.
"""

from __future__ import annotations

# Airflow's DAG discovery (safe mode) parses only files that name both airflow and dag:
# the DAG itself is built by govlake.tasks.asset_scheduled_dag (airflow.sdk.dag).
from govlake.tasks import app_task, asset_scheduled_dag
from govlake.warehouse.config import load_apps

for _app in load_apps():
    globals()[f"app__{_app.name}"] = asset_scheduled_dag(
        app_task(_app),
        tags=["warehouse", _app.scenario],
        heading_md=f"### {_app.title} `{_app.database}`\n\n{_app.description}\n\n"
        f"Scenario: {_app.scenario}; principal `{_app.principal}` (reads only `{_app.database}`).",
    )
