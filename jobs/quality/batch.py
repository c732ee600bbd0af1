"""What a validation is told about its rows (Batch) and about the rows it does not check again
(Unchecked): shared by the engine, which validates, and results, which writes what it found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass
class Unchecked:
    """An incremental night's other keys: the rows it did not check again and their last
    failures. Folded into the night's validation so its counts describe the whole table, as a
    full build's would, and an unchecked failure is not reported as fixed."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    failures: DataFrame | None = None  # the previous validation's failed rows of those keys
    by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    """Who the rows are, so results and failed rows name the table, system and department."""

    table: str
    run_id: str
    run_date: dt.date
    key_columns: list[str]
    system: str | None = None
    department: str | None = None
    row_department: Callable[[str], Column] | None = None  # per rule column, for base tables
    source_row: Column | None = None
    unchecked: Unchecked | None = None  # an incremental night's other keys
