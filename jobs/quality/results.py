"""quality.results (one row per rule and run) and quality.failed_rows (one per row and rule).

Both are Delta tables partitioned by table, stamped with the validation's time (validated_at),
so concurrent loads of different tables never conflict. quality.results is the validations'
record and is appended to: a rerun of a table and run date adds a later validation, and readers
take each table's latest validation of the night (jobs.feedback.common.night_rows).
quality.failed_rows is derived from it: a validation with failures replaces its table's failed
rows of the night (issue 20, item 11), so a rerun never doubles them; one without failures adds
none, and readers ignore the earlier validation's rows by validated_at.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TYPE_CHECKING

from govlake.masking import mask_column_value
from govlake.owned import FAILED_ROWS, RESULTS
from govlake.settings import Settings
from jobs.quality.batch import Batch, Unchecked
from jobs.quality.rules import ROW_RULES, department_column, flag_column, flagged_rules

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from jobs.quality.suites import Suite

log = logging.getLogger(__name__)
ROWS_PER_FILE = 1_000_000  # failing rows per file of quality.failed_rows


def _sample(suite: Suite, rule, values: list | None) -> list[str]:
    masked = any(c in suite.masked for c in rule.columns)
    shown = [str(v) for v in values or []]
    return [mask_column_value(v) if masked else v for v in shown]


def rule_results(
    suite: Suite, batch: Batch, gx: dict, counts: dict, validated_at: dt.datetime | None = None
) -> list[dict]:
    """One result row per rule: GX's verdict and counts, our row count beside them."""
    now = validated_at or dt.datetime.now()
    rows = []
    for rule in suite.expectations:
        res = gx.get(rule.name, {})
        ours = counts["rules"].get(rule.name, 0)  # 0 for a GX-only rule, as no row rule ran
        differs = "unexpected_count" in res and res["unexpected_count"] != ours
        if differs and rule.type in ROW_RULES:
            log.warning(
                "GX counts %s failing rows of %s, the row rule %s",
                res["unexpected_count"],
                rule.name,
                ours,
            )
        rows.append(
            {
                "run_id": batch.run_id,
                "run_date": batch.run_date,
                "table": suite.table,
                "system": batch.system,
                "department": batch.department,
                "rule": rule.name,
                "column": rule.column,
                "dimension": rule.dimension,
                "policy": rule.meta.policy,
                "success": bool(res.get("success")) and not res.get("error"),
                "element_count": res.get("element_count", counts["total"]),
                "unexpected_count": res.get("unexpected_count", ours),
                "unexpected_percent": res.get("unexpected_percent"),
                "sample": _sample(suite, rule, counts["samples"].get(rule.name)),
                "rule_zh": rule.meta.rule_zh,
                "rule_en": rule.meta.rule_en,
                "row_failures": ours,
                "error": res.get("error"),
                "validated_at": now,
            }
        )
    return rows


def write_results(spark: SparkSession, cfg: Settings, batch: Batch, rows: list[dict]) -> None:
    """One validation's rule rows (a few dozen, one file), appended by delta-rs once the table
    exists: a Spark append is a job and a commit beside the table's own write, on every load."""
    RESULTS.append(spark, rows, cfg)


def write_failed_rows(
    spark: SparkSession,
    cfg: Settings,
    suite: Suite,
    batch: Batch,
    failed: DataFrame,
    validated_at: dt.datetime,
    failing: int = 0,
    carried: DataFrame | None = None,
) -> None:
    """Every (row, rule) that failed, with the row's key, raw value and where it came from.

    `failed` holds only the `failing` rows (engine.failing_rows), one flag column per rule;
    they are written in files of up to ROWS_PER_FILE rows, not one small file per partition.
    `carried`: failed rows of keys this validation did not check (Unchecked.failures), added
    in the same commit as this validation's."""
    from pyspark.sql import functions as F

    def failure(i: int, rule) -> Column:
        department = F.lit(batch.department).cast("string")
        if batch.row_department is not None:
            department = F.coalesce(F.col(department_column(i)), department)
        return F.when(
            F.col(flag_column(i)).isNotNull(),
            F.struct(
                department.alias("department"),
                F.lit(rule.name).alias("rule"),
                F.lit(rule.meta.rule_zh).alias("rule_zh"),
                F.lit(rule.meta.rule_en).alias("rule_en"),
                F.lit(rule.meta.policy).alias("policy"),
                F.lit(rule.column).alias("column"),
                F.col(flag_column(i)).alias("value"),
            ),
        )

    every = F.array(*[failure(i, rule) for i, rule in flagged_rules(suite)])
    exploded = failed.select("_quality_key", "_quality_ref", F.explode(every).alias("f"))
    rows = exploded.where(F.col("f").isNotNull()).select(
        F.lit(batch.run_id).alias("run_id"),
        F.lit(batch.run_date).cast("date").alias("run_date"),
        F.lit(suite.table).alias("table"),
        F.lit(batch.system).cast("string").alias("system"),
        F.col("f.department").alias("department"),
        F.col("f.rule").alias("rule"),
        F.col("f.rule_zh").alias("rule_zh"),
        F.col("f.rule_en").alias("rule_en"),
        F.col("f.policy").alias("policy"),
        F.col("f.column").alias("column"),
        F.col("_quality_key").alias("key"),
        F.col("f.value").alias("value"),
        F.col("_quality_ref").alias("source_row"),
        F.lit(validated_at).cast("timestamp").alias("validated_at"),
    )
    files = max(1, math.ceil(failing / ROWS_PER_FILE))
    if carried is not None:
        restamped = carried.select(
            *[c for c in carried.columns if c not in ("run_id", "run_date", "validated_at")],
            F.lit(batch.run_id).alias("run_id"),
            F.lit(batch.run_date).cast("date").alias("run_date"),
            F.lit(validated_at).cast("timestamp").alias("validated_at"),
        )
        rows = rows.unionByName(restamped, allowMissingColumns=True)
    _replace_night(rows.coalesce(files), cfg, suite.table, batch.run_date, failing)


def _replace_night(df: DataFrame, cfg: Settings, table: str, run_date, failing: int) -> None:
    """Replace the table's failed rows of the night (the first write creates the table)."""
    day = dt.date.fromisoformat(str(run_date)[:10])
    FAILED_ROWS.table.replace(
        df,
        {"table": table, "run_date": day},
        small=cfg.is_small(failing),
        partition_by=FAILED_ROWS.partition_by,
        options={"mergeSchema": "true"},
        cfg=cfg,
    )


def unchecked(
    spark: SparkSession, cfg: Settings, table: str, current: DataFrame, key: str, rebuilt
) -> Unchecked:
    """The rows of `current` (the published table, its key column `key`, and the suite's
    columns) whose keys are not in `rebuilt` (column `key`): their count and NULLs per column,
    and the last validation's failed rows of those keys."""
    from pyspark.sql import functions as F

    columns = [c for c in current.columns if c != key]
    kept = current.join(rebuilt, current[key] == rebuilt["key"], "left_anti")
    row = kept.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.count_if(F.col(f"`{c}`").isNull()).alias(c) for c in columns],
    ).first()
    out = Unchecked(row["rows"], {c: row[c] for c in columns})
    last = _previous_failures(spark, cfg, table)
    if last is not None:
        out.failures = last.join(rebuilt, "key", "left_anti").localCheckpoint()
        counted = out.failures.groupBy("rule").count().collect()
        out.by_rule = {r["rule"]: r["count"] for r in counted}
        if not out.by_rule:
            out.failures = None
    return out


def _previous_failures(spark: SparkSession, cfg: Settings, table: str) -> DataFrame | None:
    from pyspark.sql import functions as F

    failed = FAILED_ROWS.table.read_if_exists(spark, cfg)
    validations = RESULTS.table.read_if_exists(spark, cfg)
    if failed is None or validations is None:
        return None
    before = validations.where(F.col("table") == table).agg(F.max("validated_at")).first()[0]
    if before is None:
        return None
    return failed.where((F.col("table") == table) & (F.col("validated_at") == before))


def widen(rows: list[dict], suite: Suite, counts: dict, other: Unchecked) -> list[dict]:
    """Result rows of the checked rows plus the unchecked ones: counts summed, and GX's
    percentage and verdict (`mostly`) recomputed for the row rules, as over the whole table."""
    by_name = {rule.name: rule for rule in suite.expectations}
    out = []
    for row in rows:
        rule = by_name[row["rule"]]
        if row["rule"] not in counts["rules"] or row["error"]:
            out.append(row)
            continue
        extra = other.by_rule.get(row["rule"], 0)
        element = row["element_count"] + other.rows
        unexpected = row["unexpected_count"] + extra
        judged = element - _nulls_ignored(rule, counts, other)
        percent = 100.0 * unexpected / judged if judged else 0.0
        mostly = rule.kwargs.get("mostly", 1.0)
        success = judged == 0 or (judged - unexpected) / judged >= mostly
        out.append(
            {
                **row,
                "element_count": element,
                "unexpected_count": unexpected,
                "unexpected_percent": percent,
                "row_failures": row["row_failures"] + extra,
                "success": success,
            }
        )
    return out


def _nulls_ignored(rule, counts: dict, other: Unchecked) -> int:
    """Rows GX leaves out of a map expectation's percentage: NULLs of its column, except for
    the NULL checks themselves (whose failures are the NULLs)."""
    column = rule.kwargs.get("column")
    if column is None or "_be_null" in rule.type:
        return 0
    return counts["nulls"].get(column, 0) + other.nulls.get(column, 0)
