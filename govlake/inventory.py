"""What the lakehouse holds: configured sources with their last load, and every table."""

from __future__ import annotations

from pathlib import Path

from govlake.lakehouse import all_tables, listed_tables, size_without_jvm
from govlake.settings import Settings, settings
from govlake.sources import load_sources
from govlake.spark import get_spark, spark_conf
from jobs.ops import latest_runs_without_jvm


def source_rows() -> list[dict]:
    """One row per configured table: department, mode, last load and its rows."""
    cfg = settings()
    latest = latest_runs_without_jvm(cfg)
    rows = []
    for source in load_sources():
        for spec in source.tables:
            run = latest.get(source.ods_table(spec), {})
            rows.append(
                {
                    "system": source.system,
                    "department": source.department,
                    "mode": source.mode,
                    "table": source.ods_table(spec),
                    "last_load": run.get("finished_at"),
                    "batch": run.get("batch_date"),
                    "status": run.get("status", "never loaded"),
                    "rows": run.get("source_rows")
                    if source.mode == "logical"
                    else run.get("rows_written"),
                    "rejected": run.get("rows_rejected"),
                }
            )
    return rows


def table_rows() -> list[dict]:
    """Every Delta table (name, layer, path, version, rows) plus the logical tables, read by
    delta-rs: listing the lakehouse starts no JVM."""
    cfg = settings()
    rows = []
    for table in listed_tables(cfg):
        size = size_without_jvm(table, cfg)
        if size is None:  # a log folder without a first commit: not a table yet
            continue
        version, count = size
        rows.append(
            {
                "table": table.qualified,
                "layer": table.database,
                "path": table.location(cfg),
                "delta_version": version,
                "rows": count,
            }
        )
    latest = latest_runs_without_jvm(cfg)
    for source in load_sources():
        if source.mode != "logical":
            continue
        for spec in source.tables:
            run = latest.get(source.ods_table(spec), {})
            rows.append(
                {
                    "table": source.ods_table(spec),
                    "layer": "logical",
                    "path": run.get("location") or f"{source.location.conn_id}: {spec.dbtable}",
                    "delta_version": None,
                    "rows": run.get("source_rows"),
                }
            )
    return rows


def write_spark_client_files(cfg: Settings | None = None) -> tuple[Path, Path]:
    """spark-defaults.conf and an init script so plain spark-sql sees the tables by name.

    spark-sql always uses a Hive metastore; an in-memory Derby one per process keeps two
    sessions from locking each other out.
    """
    cfg = cfg or settings()
    tables = all_tables(get_spark(cfg), cfg)
    folder = cfg.lakehouse / "_spark"
    folder.mkdir(parents=True, exist_ok=True)
    conf = dict(spark_conf(cfg))
    conf.pop("spark.sql.catalogImplementation")
    conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = "jdbc:derby:memory:govlake;create=true"
    conf_file = folder / "spark-defaults.conf"
    conf_file.write_text("".join(f"{k} {v}\n" for k, v in conf.items()), encoding="utf-8")
    databases = sorted({t.database for t in tables})
    statements = [f"CREATE DATABASE IF NOT EXISTS {db};" for db in databases]
    statements += [
        f"CREATE TABLE IF NOT EXISTS {t.qualified} USING DELTA LOCATION '{t.location(cfg)}';"
        for t in tables
    ]
    init_file = folder / "init.sql"
    init_file.write_text("\n".join(statements) + "\n", encoding="utf-8")
    return conf_file, init_file
