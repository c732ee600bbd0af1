"""Reading a library build's inputs: the ods tables' current rows and the linked libraries'
keys. Everything a build reads comes through here, so the steps never touch a table."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.lakehouse import Table
from govlake.libraries import Input, get_library
from govlake.settings import Settings
from jobs.library.context import BuildContext, input_spec, ods_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def current_rows(
    spark: SparkSession, cfg: Settings, source: Input, version: int | None = None, restrict=None
) -> DataFrame:
    """The input's current rows: latest batch of a snapshot source, latest version per key of an
    incremental one, so a row a department corrected replaces the quarantined one. `version`
    reads the table as it was then; `restrict` narrows the rows before the newest is chosen."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spec = input_spec(source.table)
    df = ods_table(source).read(spark, cfg, version=version)
    if source.where:
        df = df.where(source.where)
    if not spec.watermark:
        df = df.where(F.col("_batch_date") == F.lit(latest_batch(spark, cfg, df, source, version)))
        return restrict(df) if restrict else df
    if restrict:
        df = restrict(df)
    newest = Window.partitionBy(*spec.ods_primary_key).orderBy(F.col("_batch_date").desc())
    return df.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")


_LATEST_BATCH: dict[tuple, dt.date | None] = {}


def current_of(spark: SparkSession, cfg: Settings, table: str) -> DataFrame:
    """What a reader sees of a lakehouse table now: an ods table's current row per key (as a
    library reads its inputs), a table with `_is_current` its current rows, others as they are.
    Themes and open data read their inputs through it."""
    from pyspark.sql import functions as F

    parsed = Table.parse(table)
    if parsed.database == "ods":
        return current_rows(spark, cfg, declared_input(table)[0])
    df = parsed.read(spark, cfg)
    return df.where(F.col("_is_current")) if "_is_current" in df.columns else df


def declared_input(table: str):
    """An ods table as a library input (keyed by its primary key), and its table spec."""
    from govlake.sources import get_table

    system, name = Table.parse(table).name.split("__", 1)
    source, spec = get_table(system, name)
    return Input(table=table, department=source.department, key=spec.ods_primary_key[0]), spec


def latest_batch(spark: SparkSession, cfg: Settings, df: DataFrame, source: Input, version):
    """The newest batch date of an input's rows; remembered per table version and commit time
    (a table recreated from scratch reuses version numbers, not their times), as a build asks
    for it several times (current rows, change detection, the stale-batch note)."""
    from pyspark.sql import functions as F

    table = ods_table(source)
    at, when = commit_of(spark, cfg, table, version)
    key = (table.location(cfg), at, when, source.where)
    if len(_LATEST_BATCH) > 1000:
        _LATEST_BATCH.clear()
    if key not in _LATEST_BATCH:
        _LATEST_BATCH[key] = df.agg(F.max("_batch_date")).first()[0]
    return _LATEST_BATCH[key]


def commit_of(spark: SparkSession, cfg: Settings, table: Table, version: int | None):
    """(version, commit timestamp) of the table now, or of one earlier version."""
    if version is None:
        commit = table.commit(spark, cfg)
        return (commit.version, commit.timestamp) if commit else (None, None)
    row = table.history(spark, cfg).where(f"version = {int(version)}").first()
    return version, row["timestamp"] if row else None


def require_landed(spark: SparkSession, ctx: BuildContext, source: Input) -> None:
    """A clear error when an input's ods table has never been loaded."""
    if not ods_table(source).exists(spark, ctx.cfg):
        system = ods_table(source).name.split("__")[0]
        raise GovlakeError(
            f"input {source.table} of library {ctx.library.library} has not landed yet.",
            fix=f"load it first (govlake load {system}).",
        )


def stale_note(spark: SparkSession, ctx: BuildContext, source: Input) -> str | None:
    """For a snapshot input whose department sent nothing tonight: which batch was kept."""
    if input_spec(source.table).watermark:
        return None
    df = ods_table(source).read(spark, ctx.cfg)
    latest = latest_batch(
        spark, ctx.cfg, df.where(source.where) if source.where else df, source, None
    )
    if latest is None or latest < ctx.day:
        return f"no rows from {source.department} for {ctx.day}; kept the batch of {latest}"
    return None


def library_table(name: str) -> Table:
    """The table of a library by name (base.<name> or theme.<name>)."""
    return Table.parse(get_library(name).table)


def link_keys(spark: SparkSession, ctx: BuildContext) -> DataFrame:
    """(library, key) of every library this one links to, as it stands now (retired keys
    too: a link says the value is a key the other library has known)."""
    from pyspark.sql import functions as F

    parts = spark.createDataFrame([], "library string, key string")
    for other in sorted(ctx.library.links):
        rows = library_table(other).read_if_exists(spark, ctx.cfg)
        if rows is not None:
            key = F.col(get_library(other).key).cast("string").alias("key")
            parts = parts.unionByName(rows.select(F.lit(other).alias("library"), key))
    return parts


def fingerprint(df: DataFrame) -> str:
    """Row count and an order-free content hash, to skip writes that would change nothing."""
    from pyspark.sql import functions as F

    row = df.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*df.columns).cast("decimal(38,0)"))).first()
    return f"{row[0]}:{row[1]}"


def fingerprints(frames: dict[str, DataFrame]) -> dict[str, str]:
    """fingerprint() of each frame, all in one Spark job (one job per frame cost a job's fixed
    overhead each: 27 of an incremental night's 178, benchmarks/README.md third profile)."""
    from pyspark.sql import functions as F

    if not frames:
        return {}
    parts = [
        df.select(F.lit(name).alias("_part"), F.xxhash64(*df.columns).alias("_hash"))
        for name, df in frames.items()
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    rows = union.groupBy("_part").agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.col("_hash").cast("decimal(38,0)")).alias("sum")
    )
    found = {r["_part"]: f"{r['n']}:{r['sum']}" for r in rows.collect()}
    return {name: found.get(name, "0:None") for name in frames}
