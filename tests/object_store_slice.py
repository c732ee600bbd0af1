"""A slice of the night with the tables on S3, run in its own process by test_object_store.py.

The suite's shared Spark session has local tables and must not be reconfigured, so this script
starts its own session from the environment the test gives it (GOVLAKE_TABLES_URI=s3a://...,
AWS_ENDPOINT_URL of the server, keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). It loads one
generated department source into ods through the ordinary load, MERGEs into it, appends a run
record by delta-rs, reloads the table while a bucket policy refuses writes to it and once more
after the policy is gone, and writes what it saw as JSON for the test to check.

    python tests/object_store_slice.py <out.json>
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path

DAY = dt.date(2026, 11, 26)
PERSONS = 300
SYSTEM, TABLE = "tax_credit", "credit_rating"


def source_keys(root: Path, path: str) -> list[list[str]]:
    """(taxpayer id, rating year) of every row of the generated CSV: the generator's output."""
    with (root / path).open(encoding="utf-8-sig", newline="") as handle:
        return sorted([r["纳税人识别号"], r["评价年度"]] for r in csv.DictReader(handle))


def merge_one(spark, table, cfg, key: list[str]) -> None:
    """MERGE one changed credit level into the table (Delta's MERGE on S3)."""
    update = spark.createDataFrame([(key[0], key[1], "D")], "tid string, yr string, lvl string")
    condition = "t.taxpayer_id = s.tid AND CAST(t.rating_year AS STRING) = s.yr"
    merge = table.delta(spark, cfg).alias("t").merge(update.alias("s"), condition)
    merge.whenMatchedUpdate(set={"credit_level": "s.lvl"}).execute()


def delta_rs_side(table, records, cfg) -> dict:
    """What delta-rs (no JVM) sees and writes on S3: versions, rows, a run-record append."""
    from govlake.lakehouse import (
        append_without_jvm,
        compact_without_jvm,
        listed_tables,
        open_without_jvm,
        query_without_jvm,
        size_without_jvm,
    )

    version, rows = size_without_jvm(table, cfg)
    before = open_without_jvm(records, cfg).version()
    sample = query_without_jvm("SELECT * FROM r LIMIT 1", {"r": records}, cfg)[0]
    appended = append_without_jvm(records, [{**sample, "run_id": "s3-probe"}], cfg)
    return {
        "rs_version": version,
        "rs_rows": rows,
        "rs_records_before": before,
        "rs_appended": appended,
        "rs_records_after": open_without_jvm(records, cfg).version(),
        "listed": [t.qualified for t in listed_tables(cfg)],
        "rs_rows_before_compaction": size_without_jvm(records, cfg)[1],
        "rs_compacted": compact_without_jvm(records, cfg, min_files=2),
        "rs_rows_after_compaction": size_without_jvm(records, cfg)[1],
    }


def deny_writes_policy(location: str) -> str:
    """A bucket policy refusing every PutObject under a table's folder (s3a://bucket/key):
    what an operator's read-only switch, or a revoked write right, does to the load."""
    bucket, _, key = location.removeprefix("s3a://").partition("/")
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{key}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def run_record(records, cfg, run_id: str) -> list[dict]:
    """The run's rows of ops.load_runs, read by delta-rs (no JVM): status and error. Through
    DataFusion, as every JVM-free read of the project: with pyarrow's scan (to_pyarrow_table)
    here, the script once aborted at exit ("terminate called without an active exception",
    like the shutdown aborts of apache/arrow#34314; cause not confirmed)."""
    from govlake.lakehouse import query_without_jvm

    rows = query_without_jvm(
        f"SELECT status, error, rows_read FROM r WHERE run_id = '{run_id}'", {"r": records}, cfg
    )
    return sorted(rows, key=lambda r: r["status"] != "running")  # started, then its outcome


def objects_under(s3, location: str) -> list[str]:
    bucket, _, key = location.removeprefix("s3a://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def refused_writes(spark, cfg, table, records) -> dict:
    """Issue 18's "object store refusing writes": with a bucket policy denying writes under the
    ods table's folder, a forced reload of the same batch fails; the table's version, rows and
    objects are read independently (delta-rs, S3 listing) while the store still refuses, with
    the run's record; then the policy is removed and a rerun completes."""
    import os

    import boto3

    from govlake.errors import GovlakeError
    from govlake.lakehouse import size_without_jvm
    from jobs.ingest import load_table

    location = table.location(cfg)
    bucket = location.removeprefix("s3a://").partition("/")[0]
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    seen = {"before": size_without_jvm(table, cfg), "objects_before": objects_under(s3, location)}
    s3.put_bucket_policy(Bucket=bucket, Policy=deny_writes_policy(location))
    try:
        load_table(SYSTEM, TABLE, DAY, run_id="refused", spark=spark, force=True)
        seen["error"] = None
    except GovlakeError as exc:
        seen["error"] = str(exc)
    seen["during"] = size_without_jvm(table, cfg)
    seen["objects_during"] = objects_under(s3, location)
    seen["refused_record"] = run_record(records, cfg, "refused")
    s3.delete_bucket_policy(Bucket=bucket)
    seen["rerun"] = load_table(SYSTEM, TABLE, DAY, run_id="store-back", spark=spark, force=True)
    seen["after"] = size_without_jvm(table, cfg)
    seen["rerun_record"] = run_record(records, cfg, "store-back")
    return seen


def main(out: Path) -> None:
    from govlake.lakehouse import Table, all_tables
    from govlake.owned import LOAD_RUNS
    from govlake.sample import DefectRates, generate_sources
    from govlake.settings import settings
    from govlake.spark import get_spark
    from jobs.ingest import load_table

    cfg = settings()
    clock = [("start", time.monotonic())]
    manifest = generate_sources(cfg.sources_root, PERSONS, DAY, rates=DefectRates())
    truth = manifest.table(SYSTEM, TABLE)
    clock.append(("generate", time.monotonic()))
    spark = get_spark(cfg)
    clock.append(("spark_start", time.monotonic()))
    loaded = load_table(SYSTEM, TABLE, DAY, spark=spark)
    clock.append(("ods_load", time.monotonic()))
    table = Table.parse(loaded["ods_table"])
    stored = table.read(spark, cfg).select("taxpayer_id", "rating_year").collect()
    keys = source_keys(cfg.sources_root, truth["path"])
    loaded_version = table.version(spark, cfg)
    merge_one(spark, table, cfg, keys[0])
    row = f"taxpayer_id = '{keys[0][0]}' AND CAST(rating_year AS STRING) = '{keys[0][1]}'"
    changed = table.read(spark, cfg).where(row).collect()
    before = table.read(spark, cfg, version=loaded_version).where(row).collect()
    report = {
        "root": cfg.tables_uri,
        "location": table.location(cfg),
        "truth_rows": truth["rows"],
        "truth_keys": keys,
        "loaded": loaded,
        "stored_keys": sorted([r.taxpayer_id, str(r.rating_year)] for r in stored),
        "exists": table.exists(spark, cfg),
        "loaded_version": loaded_version,
        "merged_version": table.version(spark, cfg),
        "operations": [r.operation for r in table.history(spark, cfg).collect()],
        "merged_level": sorted({r.credit_level for r in changed}),
        "level_before": sorted({r.credit_level for r in before}),
        "all_tables": [t.qualified for t in all_tables(spark, cfg)],
        **delta_rs_side(table, LOAD_RUNS.table, cfg),
    }
    probe = LOAD_RUNS.table.read(spark, cfg).where("run_id = 's3-probe'").count()
    report["spark_sees_rs_append"] = probe
    clock.append(("checks", time.monotonic()))
    report["refused"] = refused_writes(spark, cfg, table, LOAD_RUNS.table)
    clock.append(("refused_writes", time.monotonic()))
    report["seconds"] = {
        b[0]: round(b[1] - a[1], 1) for a, b in zip(clock, clock[1:], strict=False)
    }
    out.write_text(json.dumps(report, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
