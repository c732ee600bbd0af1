"""What the feedback steps share: naming tables, writing slices, the night's rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.owned import Owned
from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Written by the library builds (jobs.library), read by the feedback steps.
LIBRARY_RUNS, CONFLICTS = Table.parse("ops.library_runs"), Table.parse("base.conflicts")
# Load statuses after which the table holds the night's data (jobs.ops.COMMITTED).
COMMITTED = ("success", "unchanged")


def split_ods(table: str) -> tuple[str | None, str]:
    """(system, table) of ods.<system>__<table>; (None, name) for any other table."""
    name = table.partition(".")[2] or table
    if table.startswith("ods.") and "__" in name:
        system, short = name.split("__", 1)
        return system, short
    return None, name


def departments_by_system() -> dict[str, str]:
    """Providing department of every configured source system (谁提供谁负责)."""
    from govlake.sources import load_sources

    return {s.system: s.department for s in load_sources()}


def write_slice(df: DataFrame, cfg: Settings, owned: Owned, where: str) -> None:
    """Replace the rows of an owned quality table matching `where` (a rerun replaces, never
    doubles); the first write creates it. A rerun whose rows equal the slice's but for the run
    id commits nothing (the slice keeps the first run of the night): Delta would commit an
    identical overwrite as a new version."""
    options = {"mergeSchema": "true"}
    exists = owned.table.exists(df.sparkSession, cfg)
    if exists:
        if same_rows(df, owned.table.read(df.sparkSession, cfg).where(where)):
            return
        options["replaceWhere"] = where
    owned.table.write(df, "overwrite" if exists else "append", options=options, cfg=cfg)


def same_rows(new: DataFrame, stored: DataFrame, ignore: tuple[str, ...] = ("run_id",)) -> bool:
    """Whether two frames hold the same rows (as multisets), the `ignore` columns aside; a
    column the stored rows lack (a new one) is a difference. One Spark job."""
    columns = [c for c in new.columns if c not in ignore]
    if not set(columns) <= set(stored.columns):
        return False
    a, b = new.select(*columns), stored.select(*columns)
    return a.exceptAll(b).unionAll(b.exceptAll(a)).isEmpty()


def night_predicate(run_date: dt.date) -> str:
    """The replaceWhere of a night's slice: a rerun of the night, under any run id, replaces
    the night's rows, so scores and reports never count a night twice (issue 20, item 11)."""
    return f"run_date = DATE'{dt.date.fromisoformat(str(run_date)[:10]).isoformat()}'"


def sql_list(values) -> str:
    """A SQL IN-list of string literals (values are table and rule names we produced)."""
    quoted = ["'" + str(v).replace("'", "''") + "'" for v in values]
    return ", ".join(quoted) or "NULL"


def qualified_table(column: str = "table"):
    """The table name as <database>.<table>; a bare name is an ods table (ods.<system>__<t>)."""
    from pyspark.sql import functions as F

    col = F.col(column)
    return F.when(col.contains("."), col).otherwise(F.concat(F.lit("ods."), col)).alias(column)


def night_rows(df: DataFrame, run_date, validations: DataFrame | None = None) -> DataFrame:
    """Rows of quality.results or quality.failed_rows for the night. Each source and library
    DAG validates under its own Airflow run id, so the night is the run date; when the table
    says when it validated (validated_at), only each table's latest validation counts.

    Validations are appended (a rerun adds a later one), and one without failures adds no
    failed rows: for quality.failed_rows pass quality.results as `validations`, which lists
    every validation. Failed rows written before they carried validated_at (each validation
    then replaced its table's rows of the night) count with any validation of the night."""
    from pyspark.sql import functions as F

    rows = df.where(F.col("run_date") == F.lit(run_date))
    if "validated_at" not in df.columns:
        return rows
    every = rows
    if validations is not None and "validated_at" in validations.columns:
        every = validations.where(F.col("run_date") == F.lit(run_date))
    latest = every.groupBy("table").agg(F.max("validated_at").alias("_latest"))
    when = F.coalesce(F.col("validated_at"), F.col("_latest"))
    return rows.join(latest, "table").where(when == F.col("_latest")).drop("_latest")
