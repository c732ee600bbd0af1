"""Row rules: for each supported expectation, the Spark expression that is TRUE on a failing row.

They mirror GX's own semantics (NULLs are not checked by map expectations other than the
null checks; every row sharing a duplicated value fails uniqueness), so the rows we quarantine
are exactly the rows GX counts as unexpected. All rules of a table become one projection of the
batch: one pass computes every row's failures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from jobs.quality.suites import Rule, Suite


def _col(rule: Rule) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"`{rule.kwargs['column']}`")


def _not_null(rule: Rule) -> Column:
    return _col(rule).isNull()


def _null(rule: Rule) -> Column:
    return _col(rule).isNotNull()


def _in_set(rule: Rule) -> Column:
    col = _col(rule)
    return col.isNotNull() & ~col.isin(list(rule.kwargs["value_set"]))


def _not_in_set(rule: Rule) -> Column:
    col = _col(rule)
    return col.isNotNull() & col.isin(list(rule.kwargs["value_set"]))


def _regex(rule: Rule) -> Column:
    col = _col(rule)
    return col.isNotNull() & ~col.rlike(rule.kwargs["regex"])


def _not_regex(rule: Rule) -> Column:
    col = _col(rule)
    return col.isNotNull() & col.rlike(rule.kwargs["regex"])


def _between(rule: Rule) -> Column:
    from pyspark.sql import functions as F

    col, low, high = _col(rule), rule.kwargs.get("min_value"), rule.kwargs.get("max_value")
    out = F.lit(False)
    if low is not None:
        out = out | (col < F.lit(low))
    if high is not None:
        out = out | (col > F.lit(high))
    return col.isNotNull() & out


def _lengths(rule: Rule) -> Column:
    from pyspark.sql import functions as F

    col = _col(rule)
    length = F.length(col)
    low, high = rule.kwargs.get("min_value"), rule.kwargs.get("max_value")
    out = F.lit(False)
    if low is not None:
        out = out | (length < low)
    if high is not None:
        out = out | (length > high)
    return col.isNotNull() & out


def _unique(rule: Rule) -> Column:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    col = _col(rule)
    return col.isNotNull() & (F.count(F.lit(1)).over(Window.partitionBy(col)) > 1)


# Up to this many duplicated values, a uniqueness rule is `column IN (those values)`.
# Types whose values come back from the driver unchanged (no float -0.0 / NaN, no time zones).
_ATOMIC = ("string", "int", "bigint", "smallint", "tinyint", "date", "boolean")


def unique_by_values(df: DataFrame, rule: Rule) -> Column | None:
    """A single-column uniqueness rule as `column IN (SELECT its duplicated values)`, the values
    found by one aggregate of that column alone; None when the type is not a plain one. The
    same rows fail as with `_unique`, but the row pass needs no window, which would shuffle and
    sort every row of the batch with all its columns. There is no cap on how many values: they
    are a relation Spark joins (broadcast when small), not a list written into the query.

    The duplicated values stay a (checkpointed) relation the row pass joins, never literals in
    the query: a department's identity numbers would otherwise be printed in every plan, and so
    in Spark's event log and UI (found by the e2e leak check on the cluster night)."""
    from pyspark.sql import functions as F

    if rule.type != "expect_column_values_to_be_unique":
        return None
    column = rule.kwargs["column"]
    kind = df.schema[column].dataType.simpleString()
    if kind not in _ATOMIC and not kind.startswith("varchar"):
        return None
    col = F.col(f"`{column}`")
    counted = df.where(col.isNotNull()).groupBy(col.alias("v")).count()
    duplicated = counted.where("count > 1").select("v").localCheckpoint()
    if duplicated.isEmpty():
        return F.lit(False)
    return col.isin(duplicated)


def _compound_unique(rule: Rule) -> Column:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cols = [F.col(f"`{c}`") for c in rule.kwargs["column_list"]]
    any_present = cols[0].isNotNull()
    for col in cols[1:]:
        any_present = any_present | col.isNotNull()
    return any_present & (F.count(F.lit(1)).over(Window.partitionBy(*cols)) > 1)


def _identifier(kind: str) -> Callable[[Rule], Column]:
    def rule_expr(rule: Rule) -> Column:
        from jobs import identifiers

        col = _col(rule)
        if kind == "uscc":
            check = identifiers.uscc_check(
                col, check_org_code=bool(rule.kwargs.get("check_org_code"))
            )
        else:
            check = identifiers.CHECKS[kind](col)
        return ~identifiers.passes_or_blank(check)

    return rule_expr


def _invalid_date(rule: Rule) -> Column:
    from jobs.standardize import date_or_blank

    return ~date_or_blank(_col(rule))


ROW_RULES: dict[str, Callable[[Rule], Column]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_null": _null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_match_regex": _regex,
    "expect_column_values_to_not_match_regex": _not_regex,
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": _lengths,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_be_valid_ric": _identifier("ric"),
    "expect_column_values_to_be_valid_uscc": _identifier("uscc"),
    "expect_column_values_to_be_valid_cert": _identifier("cert"),
    "expect_column_values_to_be_valid_unit_code": _identifier("unit_code"),
    "expect_column_values_to_be_valid_date": _invalid_date,
}


def flagged_rules(suite: Suite) -> list[tuple[int, Rule]]:
    """The rules with a row rule, by their position in the suite."""
    return [(i, r) for i, r in enumerate(suite.expectations) if r.type in ROW_RULES]


def flag_column(index: int) -> str:
    """Column of the row pass holding a failing row's value for the index-th rule of the suite."""
    return f"_quality_f{index}"


def department_column(index: int) -> str:
    """Column of the failing rows naming the department that supplied the rule's column."""
    return f"_quality_d{index}"


def failing(rule: Rule) -> Column | None:
    """The rule's failure expression, or None for a GX-only (warn) rule."""
    make = ROW_RULES.get(rule.type)
    return make(rule) if make else None


# The kwargs each row rule reads, besides `mostly` (which only changes GX's verdict, not which
# rows fail). An expectation with any other kwarg (row_condition, strict_min, ...) or with a
# suite parameter ({"$PARAMETER": ...}) may count other rows than its row rule.
_COLUMN = frozenset({"column", "mostly"})
_BOUNDS = _COLUMN | {"min_value", "max_value"}
ROW_RULE_KWARGS: dict[str, frozenset[str]] = {
    **{name: _COLUMN for name in ROW_RULES},
    "expect_column_values_to_be_in_set": _COLUMN | {"value_set"},
    "expect_column_values_to_not_be_in_set": _COLUMN | {"value_set"},
    "expect_column_values_to_match_regex": _COLUMN | {"regex"},
    "expect_column_values_to_not_match_regex": _COLUMN | {"regex"},
    "expect_column_values_to_be_between": _BOUNDS,
    "expect_column_value_lengths_to_be_between": _BOUNDS,
    "expect_compound_columns_to_be_unique": frozenset({"column_list", "mostly"}),
    "expect_column_values_to_be_valid_uscc": _COLUMN | {"check_org_code"},
}
# GX's own defaults, which the row rules implement: the same as leaving the kwarg out.
_DEFAULTS = {"strict_min": False, "strict_max": False, "ignore_row_if": "all_values_are_missing"}


def counts_as_gx(kind: str, kwargs: dict) -> bool:
    """Whether the row rule of this expectation fails exactly the rows GX counts as unexpected,
    so its counts can stand for GX's metrics (kwargs as GX holds them; batch_id is GX's own)."""
    allowed = ROW_RULE_KWARGS.get(kind)
    if allowed is None:
        return False
    for key, value in kwargs.items():
        if key == "batch_id" or (key in _DEFAULTS and value == _DEFAULTS[key]):
            continue
        if key not in allowed or isinstance(value, dict):
            return False
    return True
