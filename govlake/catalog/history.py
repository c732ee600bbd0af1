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

from govlake.owned import Owned
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def row_hash(row: dict) -> str:
    """A stable hash of a row's content (what would make a new version)."""
    text = json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def with_keys(rows: list[dict], key: list[str]) -> list[dict]:
    return [
        {**r, "record_key": "|".join(str(r[k]) for k in key), "content_hash": row_hash(r)}
        for r in rows
    ]


def _create(spark, cfg: Settings, owned: Owned, rows: list[dict], run_date, run_id: str) -> dict:
    stamped = [
        {**r, "valid_from": run_date, "valid_to": None, "is_current": True, "run_id": run_id}
        for r in rows
    ]
    df = spark.createDataFrame(stamped, owned.schema)
    owned.table.write(df, partition_by=owned.partition_by, options=owned.properties, cfg=cfg)
    return {"inserted": len(rows), "changed": 0, "closed": 0, "version": 0}


def merge_scd2(
    spark: SparkSession,
    cfg: Settings,
    owned: Owned,
    rows: list[dict],
    run_date: dt.date,
    run_id: str,
) -> dict:
    """Keep the catalog table `owned` as SCD2 history of `rows` (one per record_key). The
    catalog is small, so what changed is worked out on the driver and only those rows go to
    the MERGE."""
    from pyspark.sql import functions as F

    if not owned.table.exists(spark, cfg):
        return _create(spark, cfg, owned, rows, run_date, run_id)
    target = owned.table.delta(spark, cfg)
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
        return {**counts, "version": owned.table.version(spark, cfg)}
    # Rows with a merge key close the current version; rows without one are inserted.
    staged = [{**r, "_merge_key": r["record_key"]} for r in changed]
    staged += [{"record_key": k, "_merge_key": k} for k in gone]
    staged += [{**r, "_merge_key": None} for r in changed + new]
    df = spark.createDataFrame(staged, f"{owned.schema}, _merge_key string")
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
    return {**counts, "version": owned.table.version(spark, cfg)}
