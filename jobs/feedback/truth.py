"""Ground truth for the feedback: which problems the sample generator's defects must produce.

govlake/sample writes manifest.json with, per source table, how many rows carry each defect
kind (one kind per defective row). Where a kind maps onto a rule that reports exactly one
problem per defective row, the expected count of problems of that kind per department and
table is the manifest's count. KIND_RULES says which rules those are; UNMAPPED says why the
other kinds have no exact count. `compare` puts expected and actual side by side.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.owned import PROBLEMS
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# kind -> (origins of its problems, regex searched in the rule name), tried in this order, so
# "not_be_null:birth_date" is a missing value, not a date. One problem per defective row.
# The quality engine's rule names are "<expectation>:<column>"; adjust the patterns here if it
# names its identifier and date rules differently.
KIND_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    # ops.rejected_rows: the reader cannot split the line into the header's fields.
    "unparseable_row": (("load",), r"^unparseable_row$"),
    # quality: a not-null rule on a required column, or a suite's "blank:<column>" rule (a
    # database keeps '' where a file has nothing); library: missing_<attribute>.
    "missing_required": (
        ("quality", "library"),
        r"not_be_null|not_null|notnull|:missing_|^blank:",
    ),
    # quality: the identifier rule on an ID column (GX ric check); library: invalid_<key>:bad_check.
    "invalid_id_checksum": (
        ("quality", "library"),
        r"(?<![a-z])ric(?![a-z])|_ric|ric_|id_number:bad_check",
    ),
    # quality: the identifier rule on a USCC column; library: invalid_uscc:bad_check.
    "invalid_uscc_checksum": (("quality", "library"), r"uscc|credit_code"),
    # quality: a date column's parse rule; library: unparseable_<date attribute>.
    "impossible_date": (("quality", "library"), r"date|:unparseable_"),
}
UNMAPPED = {
    "duplicate_row": "a uniqueness rule flags every copy of a duplicated key (2 or more per "
    "defect), and database tables repeat the data under a new key, which only a data-level "
    "uniqueness rule sees: no exact count.",
    "conflicting_value": "a conflict becomes a problem only where a library reads the "
    "attribute and the authority also states the key (or the ID encodes it); the authority's "
    "own conflicts against the ID number do count, a fallback source's do not: at most the "
    "manifest count.",
    "fullwidth_or_whitespace": "standardization repairs it before the libraries; it is a "
    "problem only where a suite declares a pattern rule for that column.",
}


def expected_problems(manifest: dict | Path, departments: dict[str, str] | None = None):
    """department -> ods table -> kind -> count of problems the manifest's defects must give,
    for the kinds in KIND_RULES with a count above zero."""
    import json

    from jobs.feedback.common import departments_by_system

    if isinstance(manifest, Path):
        manifest = json.loads(manifest.read_text(encoding="utf-8"))
    departments = departments or departments_by_system()
    out: dict[str, dict[str, dict[str, int]]] = {}
    for system, tables in manifest["sources"].items():
        for table, entry in tables.items():
            kinds = {k: n for k, n in entry["defects"].items() if k in KIND_RULES and n}
            if kinds:
                department = departments.get(system, system)
                out.setdefault(department, {})[f"ods.{system}__{table}"] = kinds
    return out


def kind_of(origin: str, rule: str) -> str | None:
    """The manifest defect kind a problem's rule stands for, or None."""
    if re.search(r":invalid_[a-z_]+:(?!bad_check)", rule):
        return None  # an identifier wrong in another way than its check character
    # A quality rule is "<check>:<column>": only the check says the kind. A uniqueness rule on a
    # column named `uscc` is a repeated row, not a bad USCC (found by the e2e demo's workbooks).
    named = rule.split(":", 1)[0] + ":" if origin == "quality" else rule
    for kind, (origins, pattern) in KIND_RULES.items():
        if origin in origins and re.search(pattern, named, re.IGNORECASE):
            return kind
    return None


def actual_problems(spark: SparkSession, cfg: Settings, run_date: dt.date):
    """department -> table -> kind -> problems seen on the night, in the shape of
    expected_problems. A row reported by both the quality checks (keyed by the table's primary
    key) and a library (keyed by the identity number) counts once: the larger origin counts."""
    from pyspark.sql import functions as F

    problems = PROBLEMS.table.read_if_exists(spark, cfg)
    if problems is None:
        return {}
    seen = problems.where(F.col("last_seen") == F.lit(run_date))
    counts: dict[tuple, int] = {}
    grouped = seen.groupBy("department", "table", "origin", "rule").agg(
        F.countDistinct("key").alias("n")
    )
    per_origin: dict[tuple, int] = {}
    for r in grouped.collect():
        kind = kind_of(r["origin"], r["rule"])
        if kind:
            at = (r["department"], r["table"], kind, r["origin"])
            per_origin[at] = per_origin.get(at, 0) + r["n"]
    for (department, table, kind, _origin), n in per_origin.items():
        counts[(department, table, kind)] = max(counts.get((department, table, kind), 0), n)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (department, table, kind), n in counts.items():
        out.setdefault(department, {}).setdefault(table, {})[kind] = n
    return out


def compare(expected: dict, actual: dict) -> list[dict]:
    """One row per department, table and kind: expected, actual, and whether they agree."""
    rows = []
    keys = {
        (d, t, k)
        for side in (expected, actual)
        for d, tables in side.items()
        for t, kinds in tables.items()
        for k in kinds
    }
    for department, table, kind in sorted(keys):
        want = expected.get(department, {}).get(table, {}).get(kind, 0)
        got = actual.get(department, {}).get(table, {}).get(kind, 0)
        rows.append(
            {
                "department": department,
                "table": table,
                "kind": kind,
                "expected": want,
                "actual": got,
                "agrees": want == got,
            }
        )
    return rows
