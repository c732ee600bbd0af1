"""What one library build knows before any data moves: the library, the night, the run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from govlake.lakehouse import Table
from govlake.libraries import Input, Library
from govlake.settings import Settings
from govlake.sources import get_table

# The standardized key column of the frames between steps and of an incremental plan.
KEY = "_key"


@dataclass(frozen=True)
class BuildContext:
    """What one library build needs, fixed before any data moves. `primary_keys` (input ->
    ods primary key columns) is looked up in the source specs when not given."""

    library: Library
    day: dt.date
    run_id: str
    cfg: Settings
    started_at: dt.datetime
    primary_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def primary_key(self, input_name: str) -> tuple[str, ...]:
        """The ods primary key of one input (a quarantined row is named by it)."""
        if input_name in self.primary_keys:
            return tuple(self.primary_keys[input_name])
        return tuple(input_spec(self.library.inputs[input_name].table).ods_primary_key)


def input_spec(table: str):
    """The source table behind an ods table name ods.<system>__<table>."""
    system, name = Table.parse(table).name.split("__", 1)
    return get_table(system, name)[1]


def ods_table(source: Input) -> Table:
    """The ods table an input reads."""
    return Table.parse(source.table)
