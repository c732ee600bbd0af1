"""One theme__<model> DAG per model in libraries/themes/, run when every table its SQL names
has been updated.

The build is declared in govlake.tasks.theme_task (inputs: the tables the model's SQL names,
found by sqlglot; output: theme.<model>); the DAG is scheduled on the Assets of its inputs.
"""

from __future__ import annotations

from airflow.sdk import dag

from govlake.tasks import airflow_task, theme_task
from govlake.themes import Theme, load_themes


def _build(theme: Theme):
    build = theme_task(theme)

    @dag(
        dag_id=build.dag_id,
        schedule=[t.asset() for t in build.inputs],
        catchup=False,
        tags=["theme", theme.title],
        doc_md=f"### {theme.title} `{theme.table}`\n\n{theme.description}\n\n"
        f"Grain: {theme.grain}; refresh: {theme.refresh.rule} ({theme.refresh.reason}).\n\n"
        + "Inputs: "
        + ", ".join(f"`{t}`" for t in build.inputs),
    )
    def generated():
        airflow_task(build)

    return generated()


for _theme in load_themes():
    globals()[f"theme__{_theme.theme}"] = _build(_theme)
