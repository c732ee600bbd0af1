"""One theme__<model> DAG per model in libraries/themes/, run when every table its SQL names
has been updated.

The build is declared in govlake.tasks.theme_task (inputs: the tables the model's SQL names,
found by sqlglot; output: theme.<model>); the DAG is scheduled on the Assets of its inputs.
"""

from __future__ import annotations

# Airflow's DAG discovery (safe mode) parses only files that name both airflow and dag:
# the DAG itself is built by govlake.tasks.asset_scheduled_dag (airflow.sdk.dag).
from govlake.tasks import asset_scheduled_dag, theme_task
from govlake.themes import load_themes

for _theme in load_themes():
    globals()[f"theme__{_theme.theme}"] = asset_scheduled_dag(
        theme_task(_theme),
        tags=["theme", _theme.title],
        heading_md=f"### {_theme.title} `{_theme.table}`\n\n{_theme.description}\n\n"
        f"Grain: {_theme.grain}; refresh: {_theme.refresh.rule} ({_theme.refresh.reason}).",
    )
