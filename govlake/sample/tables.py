"""Table descriptions shared by the builders, the defect injector and the writers."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


class RawLine(str):
    """A text-file line written verbatim: how an unparseable row reaches a CSV or JSONL file."""


@dataclass(frozen=True)
class TableSpec:
    """Where a table lives, its columns, and which columns each defect kind may touch."""

    system: str
    table: str
    path: str
    fmt: str
    columns: tuple[str, ...]
    pk: str | None = None
    types: Mapping[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    sheet: str | None = None
    # xlsx: a title row above the header, as a department's report form has (一套表).
    title: str | None = None
    watermark: str | None = None
    id_cols: tuple[str, ...] = ()
    uscc_cols: tuple[str, ...] = ()
    unit_cols: tuple[str, ...] = ()  # GB/T 37346 real-estate unit codes
    date_cols: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    text_cols: tuple[str, ...] = ()
    duplicates: bool = True
    # xls: (group title, columns) merged over the columns they head in a first header row.
    header_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def key(self) -> str:
        """'system.table', as in the manifest and in per-table rate overrides."""
        return f"{self.system}.{self.table}"

    def col(self, name: str) -> int:
        """Position of a column inside a row."""
        return self.columns.index(name)


Conflict = Callable[[list, random.Random], list]


@dataclass
class TableData:
    """A table's rows plus how to state a row's entity differently (conflicting_value)."""

    spec: TableSpec
    rows: list[list]
    conflict: Conflict | None = None
    eligible: Sequence[int] | None = None
