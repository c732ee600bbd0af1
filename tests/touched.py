"""The tables whose rows a job reads, recorded while it runs: to check a declared task's inputs.

A task's inputs (govlake.tasks.Task) are the tables whose rows its job reads: they are its
lineage and its size. Rows are read through `Table.read`, `read_if_exists`, `changes` and
`delta` (a merge reads its target), or by delta-rs through `query_without_jvm` and
`count_without_jvm`; a table's schema, version or row count from its log is metadata, and not
recorded. A table is recorded when the
job asks for it, whether or not it exists yet, so a check does not depend on what a test wrote.
"""

from __future__ import annotations

import functools
import sys

from govlake import lakehouse
from govlake.lakehouse import Table

ROW_READERS = ("read", "read_if_exists", "changes", "delta")
PROJECT_PACKAGES = ("govlake", "jobs", "lineage")


def record_rows_read(monkeypatch) -> set[str]:
    """Patch the row readers for the rest of the test; the set fills as the job runs."""
    read: set[str] = set()
    for name in ROW_READERS:
        monkeypatch.setattr(Table, name, _recording(getattr(Table, name), read))
    _patch_everywhere(monkeypatch, "query_without_jvm", _query_recording(read))
    _patch_everywhere(
        monkeypatch, "count_without_jvm", _recording(lakehouse.count_without_jvm, read)
    )
    return read


def _patch_everywhere(monkeypatch, name: str, replacement) -> None:
    """Replace lakehouse's function, and the copy of it any of the project's loaded modules
    imported by name."""
    original = getattr(lakehouse, name)
    for module_name, module in list(sys.modules.items()):
        own = module_name.partition(".")[0] in PROJECT_PACKAGES
        if own and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, replacement)


def _query_recording(read: set[str]):
    query = lakehouse.query_without_jvm

    @functools.wraps(query)
    def recorded(sql, tables, cfg=None):
        read.update(str(t) for t in tables.values())
        return query(sql, tables, cfg)

    return recorded


def _recording(method, read: set[str]):
    @functools.wraps(method)
    def recorded(table, *args, **kwargs):
        read.add(str(table))
        return method(table, *args, **kwargs)

    return recorded


def undeclared(read: set[str], task_id: str) -> list[str]:
    """The tables read that the ledger step `task_id` declares neither as input nor output."""
    from govlake.tasks import ledger_steps

    step = next(s for s in ledger_steps() if s.task_id == task_id)
    return sorted(read - {str(t) for t in (*step.inputs, *step.outputs)})
