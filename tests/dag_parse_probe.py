"""Parse a DAG folder file by file in a fresh interpreter and print one JSON report.

Run by tests/test_dags.py as `python tests/dag_parse_probe.py <dags folder>` with this folder on
PYTHONPATH and `AIRFLOW__SECRETS__BACKEND=dag_parse_probe.RaisingBackend`. A fresh interpreter,
so `sys.modules` shows exactly what parsing each file imports; every connection or variable
lookup made while parsing is recorded and raises, whichever way the file asks.

Airflow imports the backend class while airflow.configuration is loading, so this module
imports nothing of Airflow at top level.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEAVY = ("pyspark", "pandas")

# Filled by RaisingBackend (and the patched lookups) in the module instance Airflow imported.
LOOKUPS: list[str] = []


class RaisingBackend:
    """Duck-typed secrets backend: every connection or variable lookup is recorded and raises."""

    def _set_connection_class(self, connection_class):
        pass

    def get_config(self, key):
        return None

    def get_conn_value(self, conn_id):
        LOOKUPS.append(f"connection {conn_id}")
        raise RuntimeError(f"connection {conn_id} looked up while parsing")

    def get_connection(self, conn_id):
        return self.get_conn_value(conn_id)

    def get_variable(self, key):
        LOOKUPS.append(f"variable {key}")
        raise RuntimeError(f"variable {key} looked up while parsing")


def forbid(what: str):
    """A replacement for a lookup function that records the call and raises."""

    def lookup(*args, **kwargs):
        LOOKUPS.append(f"{what} {args} {kwargs}")
        raise RuntimeError(f"{what} called while parsing")

    return lookup


def forbid_lookups() -> None:
    """Patch the SDK's and the models' lookups too: a DAG file may ask either way."""
    from unittest import mock

    from airflow.models.connection import Connection
    from airflow.models.variable import Variable
    from airflow.sdk.execution_time import context as sdk_context

    for target, name, what in (
        (sdk_context, "_get_connection", "sdk connection"),
        (sdk_context, "_get_variable", "sdk variable"),
        (Connection, "get_connection_from_secrets", "connection"),
        (Variable, "get", "variable"),
    ):
        mock.patch.object(target, name, forbid(what)).start()


def schedule(dag) -> dict:
    """Asset schedule as the asset names, or the cron and the first run it triggers."""
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    table = dag.timetable
    condition = getattr(table, "asset_condition", None)
    if condition is not None:
        return {
            "kind": type(condition).__name__,
            "assets": sorted(a.name for a in condition.objects),
        }
    tz = getattr(table.timezone, "name", str(table.timezone))
    first = coerce_to_core_timetable(table).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(pendulum.datetime(2026, 11, 27, tz=tz), None, True),
    )
    return {
        "kind": type(table).__name__,
        "cron": table.expression,
        "timezone": tz,
        "run_after": first.run_after.in_timezone(tz).isoformat(),
        "logical_date": first.logical_date.in_timezone(tz).isoformat(),
    }


def describe(dag) -> dict:
    return {
        "tasks": sorted(dag.task_ids),
        "outlets": {t.task_id: [[a.name, a.uri] for a in t.outlets] for t in dag.tasks},
        "retries": sorted({t.retries for t in dag.tasks}),
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "doc_md": dag.doc_md,
        "schedule": schedule(dag),
    }


def parse_file(path: Path, probe) -> dict:
    """One file's DagBag: its import errors, DAGs, and the heavy modules and lookups it caused."""
    from airflow.dag_processing.dagbag import DagBag

    before, asked = set(sys.modules), len(probe.LOOKUPS)
    bag = DagBag(dag_folder=str(path))
    return {
        "import_errors": {Path(k).name: v for k, v in bag.import_errors.items()},
        "heavy": sorted(m for m in HEAVY if m in sys.modules and m not in before),
        "lookups": probe.LOOKUPS[asked:],
        "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
    }


def main(folder: str) -> None:
    # The instance Airflow loaded as the secrets backend (not this __main__ copy) holds LOOKUPS.
    import dag_parse_probe as probe

    probe.forbid_lookups()
    files = sorted(Path(folder).glob("*.py"))
    print(json.dumps({path.name: parse_file(path, probe) for path in files}))


if __name__ == "__main__":
    main(sys.argv[1])
