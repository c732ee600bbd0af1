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
    from pyspark.sql import SparkSession

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


def _create(spark, rows: list[dict], schema: str, path: str, run_date, run_id: str) -> dict:
    from pyspark.sql import functions as F

    stamped = spark.createDataFrame(rows, schema).select(
        "*",
        F.lit(run_date).cast("date").alias("valid_from"),
        F.lit(None).cast("date").alias("valid_to"),
        F.lit(True).alias("is_current"),
        F.lit(run_id).alias("run_id"),
    )
    stamped.write.format("delta").option("delta.enableChangeDataFeed", "true").save(path)
    return {"inserted": len(rows), "changed": 0, "closed": 0, "version": 0}


def merge_scd2(
    spark: SparkSession,
    cfg: Settings,
    table: str,
    rows: list[dict],
    schema: str,
    run_date: dt.date,
    run_id: str,
) -> dict:
    """Keep `catalog.<table>` as SCD2 history of `rows` (one per record_key). The catalog is
    small, so what changed is worked out on the driver and only those rows go to the MERGE."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = str(cfg.table_path("catalog", table))
    if not (cfg.table_path("catalog", table) / "_delta_log").exists():
        return _create(spark, rows, schema, path, run_date, run_id)
    target = DeltaTable.forPath(spark, path)
    current = {
        r["record_key"]: r["content_hash"]
        for r in target.toDF().where("is_current").select("record_key", "content_hash").collect()
    }
    new = [r for r in rows if r["record_key"] not in current]
    changed = [
        r for r in rows if current.get(r["record_key"], r["content_hash"]) != r["content_hash"]
    ]
    gone = sorted(set(current) - {r["record_key"] for r in rows})
    counts = {"inserted": len(new), "changed": len(changed), "closed": len(gone)}
    if not (new or changed or gone):
        return {**counts, "version": target.history(1).first()["version"]}
    # Rows with a merge key close the current version; rows without one are inserted.
    staged = [{**r, "_merge_key": r["record_key"]} for r in changed]
    staged += [{"record_key": k, "_merge_key": k} for k in gone]
    staged += [{**r, "_merge_key": None} for r in changed + new]
    df = spark.createDataFrame(staged, f"{schema}, _merge_key string")
    day = F.lit(run_date).cast("date")
    insert = {c: F.col(f"s.`{c}`") for c in df.columns if c != "_merge_key"}
    insert.update(
        valid_from=day,
        valid_to=F.lit(None).cast("date"),
        is_current=F.lit(True),
        run_id=F.lit(run_id),
    )
    (
        target.alias("t")
        .merge(df.alias("s"), "t.record_key = s._merge_key AND t.is_current")
        .whenMatchedUpdate(set={"is_current": F.lit(False), "valid_to": day})
        .whenNotMatchedInsert(values=insert)
        .execute()
    )
    return {**counts, "version": target.history(1).first()["version"]}
