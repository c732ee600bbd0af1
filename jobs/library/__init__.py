"""Build a base library (基础库) from its ods inputs: standardize, quarantine, resolve, merge.

Every input row is standardized; rows breaking a blocking rule go to quarantine.<library>;
the rest become (key, attribute, value) statements. Per key and attribute the authoritative
department's latest statement wins (一数一源), fallbacks in declared order; every differing
statement is a conflict (多源比对). Only keys whose resolved row changed are merged, into a
Delta table with change data feed, so history stays queryable and a rerun changes nothing;
a key no input states any more is retired, not deleted.

Modules, each importing only those before it: `context` (BuildContext), `steps` (the pure
DataFrame -> DataFrame steps and the loop that runs them), `read` (every table read),
`incremental` (full or incremental, and the changed keys), `write` (every table written),
`build` (the order of it all).
"""

from jobs.library.build import build, build_library
from jobs.library.context import BuildContext, input_spec
from jobs.library.read import current_rows
from jobs.library.steps import BLOCKING_KEY_TYPES, KEY_CHECKS, row_reference, select_input

__all__ = [
    "BLOCKING_KEY_TYPES",
    "KEY_CHECKS",
    "BuildContext",
    "build",
    "build_library",
    "current_rows",
    "input_spec",
    "row_reference",
    "select_input",
]
