"""One base__<library> DAG per file in libraries/, run when every table it reads has landed.

The build is declared in govlake.tasks.library_task (inputs: the library's ods tables and the
libraries it links to; outputs: the library, its std inputs, quarantine and base.conflicts);
the DAG is scheduled on the Assets of its inputs.
"""

from __future__ import annotations

from airflow.sdk import dag

from govlake.libraries import Library, load_libraries
from govlake.tasks import airflow_task, library_task


def _build(library: Library):
    build = library_task(library)

    @dag(
        dag_id=build.dag_id,
        schedule=[t.asset() for t in build.inputs],
        catchup=False,
        tags=[library.database, library.title],
        doc_md=f"### {library.title} `{library.table}`\n\n{library.description}\n\n"
        + "Inputs: "
        + ", ".join(f"`{t}`" for t in build.inputs),
    )
    def generated():
        airflow_task(build)

    return generated()


for _library in load_libraries():
    globals()[f"{_library.database}__{_library.library}"] = _build(_library)
