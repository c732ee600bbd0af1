"""Delta tables with history: SCD2 validity columns kept by one MERGE, change data feed on.

Each row has a `record_key` and a `content_hash`; a changed row closes its current version
(valid_to, is_current = false) and inserts a new one, a vanished row is closed, and a run
that changes nothing writes nothing (the Delta version stays where it was).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SCD2_COLUMNS = "valid_from date, valid_to date, is_current boolean, run_id string"


def row_hash(row: dict) -> str:
    """A stable hash of a row's content (what would make a new version)."""
    text = json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def with_keys(rows: list[dict], key: list[str]) -> list[dict]:
    return [
        {**r, "record_key": "|".join(str(r[k]) for k in key), "content_hash": row_hash(r)}
        for r in rows
    ]


def _create(df: DataFrame, path: str, run_date: dt.date, run_id: str) -> dict:
    from pyspark.sql import functions as F

    stamped = df.select(
        "*",
        F.lit(run_date).cast("date").alias("valid_from"),
        F.lit(None).cast("date").alias("valid_to"),
        F.lit(True).alias("is_current"),
        F.lit(run_id).alias("run_id"),
    )
    stamped.write.format("delta").option("delta.enableChangeDataFeed", "true").save(path)
    count = df.count()
    return {"inserted": count, "changed": 0, "closed": 0, "version": 0}


def merge_scd2(
    spark: SparkSession, cfg: Settings, table: str, df: DataFrame, run_date: dt.date, run_id: str
) -> dict:
    """Keep `catalog.<table>` as SCD2 history of `df` (one row per record_key)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = str(cfg.table_path("catalog", table))
    if not (cfg.table_path("catalog", table) / "_delta_log").exists():
        return _create(df, path, run_date, run_id)
    target = DeltaTable.forPath(spark, path)
    current = target.toDF().where("is_current").select("record_key", "content_hash")
    changed = df.join(current.withColumnRenamed("content_hash", "_old"), "record_key").where(
        F.col("content_hash") != F.col("_old")
    )
    counts = {
        "inserted": df.join(current, "record_key", "left_anti").count(),
        "changed": changed.count(),
        "closed": current.join(df, "record_key", "left_anti").count(),
    }
    if not any(counts.values()):
        return {**counts, "version": target.history(1).first()["version"]}
    staged = df.withColumn("_merge_key", F.col("record_key")).unionByName(
        changed.drop("_old").withColumn("_merge_key", F.lit(None).cast("string"))
    )
    day = F.lit(run_date).cast("date")
    insert = {c: F.col(f"s.`{c}`") for c in df.columns}
    insert.update(
        valid_from=day,
        valid_to=F.lit(None).cast("date"),
        is_current=F.lit(True),
        run_id=F.lit(run_id),
    )
    close = {"is_current": F.lit(False), "valid_to": day}
    (
        target.alias("t")
        .merge(staged.alias("s"), "t.record_key = s._merge_key AND t.is_current")
        .whenMatchedUpdate(condition="t.content_hash <> s.content_hash", set=close)
        .whenNotMatchedInsert(values=insert)
        .whenNotMatchedBySourceUpdate(condition="t.is_current", set=close)
        .execute()
    )
    return {**counts, "version": target.history(1).first()["version"]}
