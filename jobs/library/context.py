"""What one library build knows before any data moves: the library, the night, the run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.libraries import KEY_SEPARATOR, Input, Library
from govlake.settings import Settings
from govlake.sources import get_table

if TYPE_CHECKING:
    from pyspark.sql import Column

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


def key_of(lib: Library, source: Input) -> Column:
    """An input row's standardized key (`_key`): the identifier, then the further key columns
    the input maps, joined by KEY_SEPARATOR ("9142…|2024"); NULL without an identifier. An
    input mapping no key column names the identifier alone (a prefix of the key)."""
    from pyspark.sql import functions as F

    from jobs.standardize import standardize

    ident = standardize(lib.key_type, F.col(source.key))
    if not source.key_columns:
        return ident
    parts = [standardize(lib.key_columns[k], F.col(c)) for k, c in source.key_columns.items()]
    return F.when(ident.isNotNull(), F.concat_ws(KEY_SEPARATOR, ident, *parts))


def key_part(lib: Library, index: int, key: Column) -> Column:
    """Part `index` of a standardized key (0: the identifier), NULL when the key lacks it."""
    from pyspark.sql import functions as F

    if not lib.key_columns:
        return key
    parts = F.split(key, re.escape(KEY_SEPARATOR))
    return F.when(F.size(parts) > index, parts[index])


def split_key(lib: Library, key: Column | None = None) -> list[Column]:
    """A standardized key as the library's typed key columns (a partial key's missing parts
    NULL); for a library keyed by its identifier alone, the key column itself."""
    from pyspark.sql import functions as F

    from jobs.standardize import typed

    key = F.col(KEY) if key is None else key
    columns = [key_part(lib, 0, key).alias(lib.key)]
    for index, (name, kind) in enumerate(lib.key_columns.items(), start=1):
        columns.append(typed(kind, key_part(lib, index, key)).alias(name))
    return columns


def joined_key(lib: Library) -> Column:
    """The standardized key (`_key` form) of rows holding the library's key columns: the
    inverse of split_key (a NULL further part is left out, as a partial key lacks it)."""
    from pyspark.sql import functions as F

    if not lib.key_columns:
        return F.col(lib.key).cast("string")
    parts = [F.col(c).cast("string") for c in lib.all_key_columns]
    return F.when(F.col(lib.key).isNotNull(), F.concat_ws(KEY_SEPARATOR, *parts))


def key_prefix(lib: Library, input_name: str, key: Column) -> Column:
    """The part of a library key that a partial input's rows name: the first N characters
    (prefix_of_key: a parcel of a unit code) or the identifier without the further columns."""
    from pyspark.sql import functions as F

    source = lib.inputs[input_name]
    if source.prefix_of_key:
        return F.substring(key, 1, source.prefix_of_key)
    return key_part(lib, 0, key)


def same_key(lib: Library, target: str = "t", source: str = "s") -> str:
    """A MERGE condition matching rows on every key column (a partial key's NULL parts too)."""
    match = [f"{target}.`{lib.key}` = {source}.`{lib.key}`"]
    match += [f"{target}.`{c}` <=> {source}.`{c}`" for c in lib.key_columns]
    return " AND ".join(match)
