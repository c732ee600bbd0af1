"""One ods__<system> DAG per department source in conf/sources/*.yaml (归集: land into ods).

Each table's task is declared in govlake.tasks.source_task; this file only loops over the
source files and schedules each DAG on the source's cron.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronTriggerTimetable, dag

from govlake.settings import settings
from govlake.sources import SourceSystem, load_sources
from govlake.tasks import airflow_task, source_task


def _doc(source: SourceSystem) -> str:
    tables = "\n".join(
        f"| `{t.name}` | {t.description} | `{source.ods_table(t)}` |" for t in source.tables
    )
    return (
        f"### {source.department} · {source.information_system}\n\n"
        f"{source.description}\n\n"
        f"- system: `{source.system}`, mode: **{source.mode}**\n"
        f"- schedule: `{source.schedule}` ({source.timezone}); a run loads the day before its"
        " trigger time, i.e. the run's logical date\n"
        f"- config: `conf/sources/{source.system}.yaml`\n\n"
        "| table | description | ods table |\n|---|---|---|\n"
        f"{tables}\n"
    )


def _build(source: SourceSystem):
    @dag(
        dag_id=f"ods__{source.system}",
        # interval=1 day: a run triggered at 01:00 on the 27th has logical date the 26th,
        # the day whose data the department delivered overnight.
        schedule=CronTriggerTimetable(
            source.schedule, timezone=source.timezone, interval=dt.timedelta(days=1)
        ),
        catchup=False,
        tags=[source.department, source.mode],
        doc_md=_doc(source),
        default_args={
            "retries": settings().task_retries,
            "retry_delay": dt.timedelta(seconds=settings().task_retry_delay_seconds),
        },
    )
    def generated():
        for table in source.tables:
            airflow_task(source_task(source, table))

    return generated()


for _source in load_sources():
    globals()[f"ods__{_source.system}"] = _build(_source)
