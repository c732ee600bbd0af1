"""quality.results (one row per rule and run) and quality.failed_rows (one per row and rule).

Both are Delta tables partitioned by table; a rerun of the same table and run date replaces
its own rows, so concurrent loads of different tables never conflict and reruns never double.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from govlake.settings import Settings
from govlake.spark import register_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.quality.engine import Batch
    from jobs.quality.suites import Suite

log = logging.getLogger(__name__)
RESULTS = "results"
FAILED_ROWS = "failed_rows"
RESULTS_SCHEMA = (
    "run_id string, run_date date, table string, system string, department string, "
    "rule string, column string, dimension string, policy string, success boolean, "
    "element_count long, unexpected_count long, unexpected_percent double, "
    "sample array<string>, rule_zh string, rule_en string, row_failures long, error string, "
    "validated_at timestamp"
)


def mask(value: str | None) -> str | None:
    """An identifier with only its first 6 and last 4 characters shown (420704********1234)."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def _sample(suite: Suite, rule, values: list | None) -> list[str]:
    masked = any(c in suite.masked for c in rule.columns)
    shown = [str(v) for v in values or []]
    return [mask(v) if masked else v for v in shown]


def rule_results(suite: Suite, batch: Batch, gx: dict, counts: dict) -> list[dict]:
    """One result row per rule: GX's verdict and counts, our row count beside them."""
    now = dt.datetime.now()
    rows = []
    for rule in suite.expectations:
        res = gx.get(rule.name, {})
        ours = counts["rules"].get(rule.name)
        if "unexpected_count" in res and ours is not None and res["unexpected_count"] != ours:
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


def _replace(df: DataFrame, cfg: Settings, name: str, batch: Batch) -> None:
    from jobs.ops import retry_concurrent

    path = cfg.table_path("quality", name)
    where = f"`table` = '{df_table(batch)}' AND run_date = DATE'{batch.run_date}'"
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", where)
        .option("mergeSchema", "true")
        .partitionBy("table")
    )
    retry_concurrent(lambda: writer.save(str(path)))
    register_table(df.sparkSession, "quality", name, path)


def df_table(batch: Batch) -> str:
    return batch.table


def write_results(spark: SparkSession, cfg: Settings, batch: Batch, rows: list[dict]) -> None:
    _replace(spark.createDataFrame(rows, RESULTS_SCHEMA), cfg, RESULTS, batch)


def write_failed_rows(
    spark: SparkSession, cfg: Settings, suite: Suite, batch: Batch, flagged: DataFrame
) -> None:
    """Every (row, rule) that failed, with the row's key, raw value and where it came from."""
    from pyspark.sql import functions as F

    from jobs.quality.engine import FAILED

    def lookup(attr: str):
        pairs = [
            x for r in suite.expectations for x in (F.lit(r.name), F.lit(getattr_rule(r, attr)))
        ]
        return F.create_map(*pairs)[F.col("f.rule")]

    key = F.concat_ws("|", *[F.col(f"`{c}`").cast("string") for c in batch.key_columns])
    source_row = F.concat(F.lit(f"{suite.table}:"), key)
    if batch.source_row is not None:
        source_row = F.coalesce(batch.source_row, source_row)
    department = F.lit(batch.department)
    if batch.row_department is not None:
        column_department = F.create_map(
            *[
                x
                for r in suite.expectations
                for x in (F.lit(r.name), batch.row_department(r.column))
            ]
        )
        department = F.coalesce(column_department[F.col("f.rule")], department)
    failed = flagged.where(F.size(FAILED) > 0).select(
        "*", key.alias("_key"), source_row.alias("_ref"), F.explode(FAILED).alias("f")
    )
    rows = failed.select(
        F.lit(batch.run_id).alias("run_id"),
        F.lit(batch.run_date).cast("date").alias("run_date"),
        F.lit(suite.table).alias("table"),
        F.lit(batch.system).cast("string").alias("system"),
        department.cast("string").alias("department"),
        F.col("f.rule").alias("rule"),
        lookup("rule_zh").alias("rule_zh"),
        lookup("rule_en").alias("rule_en"),
        lookup("policy").alias("policy"),
        lookup("column").alias("column"),
        F.col("_key").alias("key"),
        F.col("f.value").alias("value"),
        F.col("_ref").alias("source_row"),
    )
    _replace(rows, cfg, FAILED_ROWS, batch)


def getattr_rule(rule, attr: str) -> str:
    if attr == "policy":
        return rule.meta.policy
    if attr == "column":
        return rule.column
    return getattr(rule.meta, attr)
