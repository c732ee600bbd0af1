"""One base__<library> DAG per file in libraries/, run when every table it reads has landed.

The build is declared in govlake.tasks.library_task (inputs: the library's ods tables and the
libraries it links to; outputs: the library, its std inputs, quarantine and base.conflicts);
the DAG is scheduled on the Assets of its inputs.
"""

from __future__ import annotations

# Airflow's DAG discovery (safe mode) parses only files that name both airflow and dag:
# the DAG itself is built by govlake.tasks.asset_scheduled_dag (airflow.sdk.dag).
from govlake.libraries import load_libraries
from govlake.tasks import asset_scheduled_dag, library_task

for _library in load_libraries():
    globals()[f"{_library.database}__{_library.library}"] = asset_scheduled_dag(
        library_task(_library),
        tags=[_library.database, _library.title],
        heading_md=f"### {_library.title} `{_library.table}`\n\n{_library.description}",
    )
