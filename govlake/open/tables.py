"""The tables the open-data export reads, from conf/open/ and the catalog without checking them
(for the ledger task's declared inputs and lineage; the export itself checks every file)."""

from __future__ import annotations

from pathlib import Path

from govlake.catalog.loader import load_catalog
from govlake.conffile import read_yaml
from govlake.errors import ConfigError

PRIORITY_FILE = "priority.yaml"


def open_tables(folder: Path) -> tuple[str, ...]:
    """Each dataset's table: its `table`, else its catalog resource's tables. A file that does
    not read is left out here: the export task refuses it with file, field and fix."""
    catalog = load_catalog()
    entries = {e.resource: e for e in catalog} | {e.code: e for e in catalog}
    found: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        if path.name == PRIORITY_FILE:
            continue
        try:
            raw = read_yaml(path)
        except ConfigError:
            continue
        if not isinstance(raw, dict):
            continue
        entry = entries.get(str(raw.get("resource")))
        if raw.get("table"):
            found.add(str(raw["table"]))
        elif entry is not None:
            found.update(entry.tables)
    return tuple(sorted(found))
