"""The ground-truth manifest: rows and defect counts per source table."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govlake.sample.tables import TableSpec

DEFECT_ROWS_FILE = "defects.jsonl"


def read_defect_rows(root: Path) -> list[dict[str, Any]]:
    """The per-row ground truth written beside manifest.json."""
    text = (Path(root) / DEFECT_ROWS_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


@dataclass
class Manifest:
    """What generate_sources wrote: per system and table, the path, rows and defects."""

    persons: int
    seed: int
    logical_date: datetime.date
    sources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    defect_rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        spec: TableSpec,
        rows: int,
        defects: dict[str, int],
        records: list[dict[str, Any]] = (),
    ) -> None:
        """Record one table (path relative to the root, data rows incl. defective ones) and
        each defective row (kind, columns touched, row number, key) for defects.jsonl."""
        entry = {"path": spec.path, "rows": rows, "defects": dict(defects)}
        if spec.title:
            entry["title_rows"] = 1  # a title row above the header: read and dropped, not data
        self.sources.setdefault(spec.system, {})[spec.table] = entry
        self.defect_rows.extend({"system": spec.system, "table": spec.table, **r} for r in records)

    def table(self, system: str, table: str) -> dict[str, Any]:
        """The entry of one table."""
        return self.sources[system][table]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of manifest.json."""
        return {
            "persons": self.persons,
            "seed": self.seed,
            "logical_date": self.logical_date.isoformat(),
            "sources": self.sources,
        }

    def write(self, path: Path) -> None:
        """Write manifest.json (UTF-8, stable key order)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
        lines = (json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in self.defect_rows)
        path.with_name(DEFECT_ROWS_FILE).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """The inverse of to_dict."""
        return cls(
            persons=int(data["persons"]),
            seed=int(data["seed"]),
            logical_date=datetime.date.fromisoformat(data["logical_date"]),
            sources=data["sources"],
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest.json written by generate_sources."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
