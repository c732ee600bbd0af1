"""Lakehouse tables: one `Table` per Delta table, the only place that knows where and how they live.

A table is named `<database>.<name>` (`ods.psb_hukou__hj_resident`); its location is the URI
`<tables_uri>/<database>/<name>`, where `tables_uri` is one settings value (a local folder today,
`s3a://bucket/prefix` on a cluster). Existence, versions and schemas come from Delta's own API,
never from file-system paths, so the same code works on object storage. Nothing outside this
module builds table paths, reads `_delta_log` or calls `format("delta")`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from govlake.errors import GovlakeError
from govlake.settings import Settings, settings

if TYPE_CHECKING:
    from airflow.sdk import Asset
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

T = TypeVar("T")

# The layers of the lakehouse, in the order data flows through them.
DATABASES = (
    "ods",
    "ops",
    "std",
    "quarantine",
    "base",
    "theme",
    "quality",
    "catalog",
    "lineage",
    "audit",
    "share",
)
# One database per application warehouse (一应用一数仓), app_<name>, declared in conf/apps/.
APP_DATABASE = re.compile(r"^app_[a-z][a-z0-9_]*$")
# An "x-" scheme is kept verbatim by Airflow (no provider lookup, no normalisation), and it
# names the table rather than a path, so the URI is the same on a laptop and on the cluster.
ASSET_SCHEME = "x-govlake"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, order=True)
class Table:
    """A lakehouse Delta table `<database>.<name>`; storage comes from the settings in use."""

    database: str
    name: str

    def __post_init__(self) -> None:
        if not is_database(self.database) or not _NAME.match(self.name):
            raise GovlakeError(
                f"'{self.database}.{self.name}' is not a lakehouse table name.",
                fix=f"use <database>.<name> with a database among {', '.join(DATABASES)} or "
                "app_<name>, and a name of lower-case letters, digits and underscores.",
            )

    @classmethod
    def parse(cls, qualified: str | Table) -> Table:
        """`ods.psb_hukou__hj_resident` -> Table('ods', 'psb_hukou__hj_resident')."""
        if isinstance(qualified, Table):
            return qualified
        database, dot, name = qualified.partition(".")
        if not dot:
            raise GovlakeError(
                f"'{qualified}' names no database.",
                fix=f"write <database>.<name>, e.g. ods.{qualified}.",
            )
        return cls(database, name)

    def __str__(self) -> str:
        return self.qualified

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    # -- where it lives -------------------------------------------------------------------

    def location(self, cfg: Settings | None = None) -> str:
        """The table's URI under the environment's tables root."""
        return f"{tables_root(cfg)}/{self.database}/{self.name}"

    def asset(self) -> Asset:
        """The Airflow Asset of the table, URI x-govlake://<database>/<name>."""
        from airflow.sdk import Asset

        return Asset(name=self.qualified, uri=f"{ASSET_SCHEME}://{self.database}/{self.name}")

    # -- what it holds --------------------------------------------------------------------

    def exists(self, spark: SparkSession, cfg: Settings | None = None) -> bool:
        """Whether a Delta table has been committed at the location (Delta's own check)."""
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(spark, self.location(cfg))

    def commit(self, spark: SparkSession, cfg: Settings | None = None) -> Commit | None:
        """The latest commit (version and time), or None when the table was never written.

        Asked of Delta's log reader directly (DeltaLog.update: ~10 ms warm) rather than through
        DESCRIBE HISTORY, which runs a Spark job (~0.6 s): planners and the site ask it per table.
        """
        jvm = spark.sparkContext._jvm
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
            spark._jsparkSession, self.location(cfg)
        )
        none = jvm.scala.Option.empty()
        snapshot = log.update(False, none, none)
        if snapshot.version() < 0:
            return None
        return Commit(snapshot.version(), dt.datetime.fromtimestamp(snapshot.timestamp() / 1000))

    def version(self, spark: SparkSession, cfg: Settings | None = None) -> int | None:
        """The current Delta version, or None when the table was never written."""
        commit = self.commit(spark, cfg)
        return commit.version if commit else None

    def last_metrics(self, spark: SparkSession, cfg: Settings | None = None) -> dict[str, int]:
        """The operationMetrics of the table's newest commit (numOutputRows, numFiles, ...):
        what a write just committed, counted by Delta, without reading the table back. Read
        from Delta's log directly (no Spark job); only for a table no other task writes at once.
        Note that an overwrite with replaceWhere counts the rows it copied in numOutputRows."""
        jvm = spark.sparkContext._jvm
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
            spark._jsparkSession, self.location(cfg)
        )
        newest = log.history().getHistory(jvm.scala.Some(1))
        metrics = newest.head().operationMetrics() if newest.nonEmpty() else None
        if metrics is None or metrics.isEmpty():
            return {}
        found = jvm.scala.jdk.javaapi.CollectionConverters.asJava(metrics.get())
        return {str(k): int(v) for k, v in dict(found).items()}

    def history(self, spark: SparkSession, cfg: Settings | None = None) -> DataFrame:
        """Delta's commit history of the table, newest first."""
        return self.delta(spark, cfg).history()

    def last_metadata(
        self, spark: SparkSession, prefix: str, cfg: Settings | None = None
    ) -> str | None:
        """The newest commit's user metadata that starts with `prefix` (see commit_metadata)."""
        from pyspark.sql import functions as F

        if not self.exists(spark, cfg):
            return None
        found = self.history(spark, cfg).where(F.col("userMetadata").startswith(prefix))
        row = found.select("userMetadata").first()
        return row[0] if row else None

    def read(
        self, spark: SparkSession, cfg: Settings | None = None, version: int | None = None
    ) -> DataFrame:
        """The table's rows, now or as of `version`; a clear error when it does not exist."""
        if not self.exists(spark, cfg):
            raise GovlakeError(
                f"table {self.qualified} does not exist yet.",
                file=self.location(cfg),
                fix="run the task that writes it first (govlake tables lists what exists).",
            )
        return self._reader(spark, version).load(self.location(cfg))

    def read_if_exists(
        self, spark: SparkSession, cfg: Settings | None = None, version: int | None = None
    ) -> DataFrame | None:
        """The table's rows, or None when it has never been written."""
        if not self.exists(spark, cfg):
            return None
        return self._reader(spark, version).load(self.location(cfg))

    def changes(
        self, spark: SparkSession, start: int, end: int | None = None, cfg: Settings | None = None
    ) -> DataFrame:
        """The change data feed between two versions (inclusive)."""
        reader = spark.read.format("delta").option("readChangeFeed", "true")
        reader = reader.option("startingVersion", start)
        if end is not None:
            reader = reader.option("endingVersion", end)
        return reader.load(self.location(cfg))

    def schema(
        self, spark: SparkSession, cfg: Settings | None = None, version: int | None = None
    ) -> StructType | None:
        """The table's schema, now or as of `version`, or None when it does not exist: its
        metadata only, no row read (so a task that looks at it does not read the table)."""
        if not self.exists(spark, cfg):
            return None
        return self._reader(spark, version).load(self.location(cfg)).schema

    def fields(self, spark: SparkSession, cfg: Settings | None = None) -> dict[str, str]:
        """Column -> Spark SQL type of the table (empty when it does not exist yet)."""
        schema = self.schema(spark, cfg)
        return {f.name: f.dataType.simpleString() for f in schema.fields} if schema else {}

    def partition_columns(self, spark: SparkSession, cfg: Settings | None = None) -> list[str]:
        """The columns the table is partitioned by (empty when it does not exist)."""
        if not self.exists(spark, cfg):
            return []
        detail = self.delta(spark, cfg).detail().select("partitionColumns").first()
        return list(detail["partitionColumns"])

    def delta(self, spark: SparkSession, cfg: Settings | None = None) -> DeltaTable:
        """Delta's handle of the table, for MERGE, DELETE and history."""
        from delta.tables import DeltaTable

        return DeltaTable.forPath(spark, self.location(cfg))

    # -- writing and naming ---------------------------------------------------------------

    def write(
        self,
        df: DataFrame,
        mode: str = "append",
        *,
        partition_by: Iterable[str] = (),
        options: Mapping[str, Any] | None = None,
        cfg: Settings | None = None,
    ) -> None:
        """Write `df` in one Delta commit (retried when it loses a concurrency race); name it."""
        writer = df.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        for key, value in (options or {}).items():
            writer = writer.option(key, value)
        location = self.location(cfg)
        retry_concurrent(lambda: writer.save(location))
        self.register(df.sparkSession, cfg)

    def replace(
        self,
        df: DataFrame,
        where: Mapping[str, str | int | dt.date],
        *,
        small: bool,
        partition_by: Iterable[str] = (),
        properties: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        cfg: Settings | None = None,
    ) -> int:
        """Replace the rows whose columns equal `where` with `df`'s rows, in one atomic commit;
        a table not yet written is created with `partition_by` and table `properties`. Returns
        the version committed.

        A `small` df goes through delta-rs when it can write the table as Spark would (see
        replace_without_jvm): Spark's replaceWhere first rebuilds the table's whole file list
        with Spark jobs (open source Delta 4.4 reads no file list from its .crc), 0.8-1.2 s a
        commit here against 0.05 s (issue 19). Else Spark's replaceWhere, with `options`
        (mergeSchema).
        """
        from govlake import lakehouse  # looked up on the module: the kill harness wraps it

        spark = df.sparkSession
        if small:
            version = lakehouse.replace_without_jvm(
                self, df, where, cfg, partition_by=partition_by, properties=properties
            )
            if version is not None:
                self.register(spark, cfg)
                return version
        condition = " AND ".join(f"`{_column(c)}` = {_spark_literal(v)}" for c, v in where.items())
        options = {**(options or {}), "replaceWhere": condition}
        if properties and not self.exists(spark, cfg):
            options.update(properties)  # Spark sets a new table's properties from its options
        self.write(df, "overwrite", partition_by=partition_by, options=options, cfg=cfg)
        return self.version(spark, cfg)

    def create_if_missing(
        self,
        spark: SparkSession,
        schema: str | StructType,
        *,
        partition_by: Iterable[str] = (),
        options: Mapping[str, Any] | None = None,
        cfg: Settings | None = None,
    ) -> bool:
        """Create the table empty with `schema` unless it exists; True when it was created."""
        if self.exists(spark, cfg):
            return False
        empty = spark.createDataFrame([], schema)
        self.write(empty, "append", partition_by=partition_by, options=options, cfg=cfg)
        return True

    def register(self, spark: SparkSession, cfg: Settings | None = None) -> None:
        """Name the table in the session's catalog, so SQL reads it as <database>.<name>."""
        root = tables_root(cfg)
        folder = f"{root}/{self.database}"
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database} LOCATION '{folder}'")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.qualified} USING DELTA "
            f"LOCATION '{self.location(cfg)}'"
        )

    def remove_empty_location(self, spark: SparkSession, cfg: Settings | None = None) -> None:
        """Delete the table's folder when it holds nothing: the session catalog makes one for a
        table that is not Delta (a logical source's JDBC table), and nothing ever lives there."""
        jvm = spark.sparkContext._jvm
        folder = jvm.org.apache.hadoop.fs.Path(self.location(cfg))
        fs = folder.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if fs.isDirectory(folder) and len(fs.listStatus(folder)) == 0:
            fs.delete(folder, False)

    @staticmethod
    def _reader(spark: SparkSession, version: int | None):
        reader = spark.read.format("delta")
        return reader.option("versionAsOf", version) if version is not None else reader


@dataclass(frozen=True)
class Commit:
    """One Delta commit of a table: its version and when it was made."""

    version: int
    timestamp: dt.datetime


def tables_root(cfg: Settings | None = None) -> str:
    """The URI under which every table lives: `tables_uri`, else the local lakehouse folder."""
    cfg = cfg or settings()
    return (cfg.tables_uri or str(cfg.lakehouse)).rstrip("/")


def all_tables(spark: SparkSession, cfg: Settings | None = None) -> list[Table]:
    """Every Delta table of the lakehouse, sorted: one glob of `<root>/*/*/_delta_log` through
    Hadoop's file system of the root (local disk or object storage alike), kept where the
    database is a layer or an application's warehouse; Delta checks each log when it is read."""
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    # One listing call: walking each database folder and asking whether each entry has a log
    # took 0.15-0.25 s of every task of a night (0.02-0.05 s as one glob, measured).
    pattern = jvm.org.apache.hadoop.fs.Path(f"{_glob_escaped(tables_root(cfg))}/*/*/_delta_log")
    found = []
    for status in pattern.getFileSystem(hadoop).globStatus(pattern) or []:
        folder = status.getPath().getParent()
        database, name = folder.getParent().getName(), folder.getName()
        if is_database(database) and _NAME.match(name):
            found.append(Table(database, name))
    return sorted(found)


def _glob_escaped(path: str) -> str:
    """`path` with Hadoop glob characters escaped, so a root such as `/data/{x}` is literal."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


def is_database(database: str) -> bool:
    """A layer of DATABASES or an application's warehouse app_<name>."""
    return database in DATABASES or bool(APP_DATABASE.match(database))


def may_hold_tables(databases: Iterable[str], cfg: Settings | None = None) -> bool:
    """Whether any of `databases` may hold a table, answered without starting Spark.

    A local root is looked at directly; an object-store root can only be listed by the engine,
    so it may always hold tables (the caller then starts Spark and asks `all_tables`).
    """
    root = tables_root(cfg)
    if "://" in root and not root.startswith("file://"):
        return True
    from pathlib import Path

    base = Path(root.removeprefix("file://"))
    return any(any(base.glob(f"{db}/*/_delta_log")) for db in databases)


def register_all(
    spark: SparkSession, cfg: Settings | None = None, only: Iterable[str] | None = None
) -> list[Table]:
    """Name the lakehouse's tables (or just `only`) in this session's catalog."""
    wanted = None if only is None else {str(t) for t in only}
    tables = [t for t in all_tables(spark, cfg) if wanted is None or t.qualified in wanted]
    named = named_tables(spark, {t.database for t in tables})
    registered = []
    for table in tables:
        if table.qualified in named:
            # What CREATE TABLE IF NOT EXISTS would do, without its two statements per table:
            # every task of an in-process night calls get_spark, and re-registering the 86
            # tables of the demo's lakehouse took 1-1.5 s of each task (5 s under load).
            registered.append(table)
            continue
        try:
            table.register(spark, cfg)
        except Exception as exc:
            # A process killed inside a table's first write leaves `_delta_log` without a
            # commit (found by benchmarks/faults.py): not a table yet, and it must not stop
            # every later session from starting. Its next write commits version 0.
            if "DELTA_CREATE_EXTERNAL_TABLE_WITHOUT_TXN_LOG" not in str(exc):
                raise
            continue
        registered.append(table)
    return registered


def named_tables(spark: SparkSession, databases: Iterable[str]) -> set[str]:
    """'<database>.<name>' of the tables this session's catalog names in `databases` (temporary
    views left out), asked of the session catalog directly: as one SHOW TABLES statement per
    database it took 0.2-0.5 s of every task of a night (13 databases)."""
    catalog = spark._jsparkSession.sessionState().catalog()
    named: set[str] = set()
    for database in sorted(databases):
        if not catalog.databaseExists(database):
            continue
        found = catalog.listTables(database).iterator()
        while found.hasNext():
            ident = found.next()
            if ident.database().isDefined():  # a temporary view has no database
                named.add(f"{database}.{ident.table()}")
    return named


@contextmanager
def commit_metadata(spark: SparkSession, text: str) -> Iterator[None]:
    """Delta user metadata for the commits made inside (a MERGE has no writer option for it):
    what a build read, kept with the commit it made (Table.last_metadata reads it back)."""
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, text)
    try:
        yield
    finally:
        spark.conf.unset(key)


def retry_concurrent(action: Callable[[], T], attempts: int = 5) -> T:
    """Retry a Delta commit that lost an optimistic-concurrency race with another task."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:
            # ConcurrentAppendException and the like, but also "... changed by a concurrent
            # update" (ProtocolChanged/MetadataChanged) when two writers create a table at once.
            if "concurrent" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def ensure_database(spark: SparkSession, database: str, cfg: Settings | None = None) -> None:
    """Name a lakehouse database in the session, located under the tables root, before a table
    that is not Delta (a logical source's JDBC table) is named in it."""
    if not is_database(database):
        raise GovlakeError(
            f"'{database}' is not a lakehouse database.", fix=f"use one of {DATABASES}."
        )
    root = tables_root(cfg)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{root}/{database}'")


# -- without a JVM: delta-rs for commands that read metadata and small tables ----------------
# `govlake tables`, `sources`, `quality`, `conflicts` read run records, results and counts:
# starting Spark for them cost 37-212 s on a shared machine (issue 19). delta-rs (a Rust
# reader of the same Delta protocol, deletion vectors included) answers in well under a second.


def _rs_uri(uri: str) -> str:
    """A table URI as delta-rs and pyarrow name it: s3a:// is Hadoop's name for s3://, and a
    local folder is given as an absolute path."""
    from pathlib import Path

    if uri.startswith("s3a://"):
        return "s3://" + uri.removeprefix("s3a://")
    if "://" in uri and not uri.startswith("file://"):
        return uri
    return str(Path(uri.removeprefix("file://")).resolve())


def rs_storage_options(cfg: Settings | None = None) -> dict[str, str]:
    """delta-rs's storage options for the tables root: for S3 the endpoint, keys, region and
    addressing of govlake.objectstore (the same store Spark's S3A options name); empty for a
    local folder. Every delta-rs opening and write of this module goes through it."""
    from govlake.objectstore import rs_storage_options as options

    return options(cfg or settings())


def _rs_filesystem(cfg: Settings | None = None):
    """pyarrow's file system of the tables root, and the root's path in it."""
    from pyarrow import fs as pafs

    from govlake.objectstore import pyarrow_filesystem, uses_object_store

    cfg = cfg or settings()
    uri = _rs_uri(tables_root(cfg))
    if uses_object_store(cfg):
        return pyarrow_filesystem(cfg), uri.removeprefix("s3://")
    return pafs.FileSystem.from_uri(uri)


def listed_tables(cfg: Settings | None = None) -> list[Table]:
    """`all_tables` without a JVM: each database folder (application warehouses too) listed by
    pyarrow's file system of the root (local disk or S3), a folder with a `_delta_log` being a
    table."""
    from pyarrow import fs as pafs

    filesystem, base = _rs_filesystem(cfg)
    top = filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    apps = sorted(i.base_name for i in top if APP_DATABASE.match(i.base_name))
    found = []
    for database in (*DATABASES, *apps):
        selector = pafs.FileSelector(f"{base}/{database}", allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            if info.type != pafs.FileType.Directory or not _NAME.match(info.base_name):
                continue
            log = filesystem.get_file_info(f"{info.path}/_delta_log")
            if log.type == pafs.FileType.Directory:
                found.append(Table(database, info.base_name))
    return sorted(found)


def open_without_jvm(table: Table, cfg: Settings | None = None):
    """The table as a delta-rs `DeltaTable`, or None when it was never written."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(_rs_uri(table.location(cfg)), storage_options=rs_storage_options(cfg))
    except TableNotFoundError:
        return None


def query_without_jvm(
    sql: str, tables: Mapping[str, Table], cfg: Settings | None = None
) -> list[dict] | None:
    """Rows of a small read-only query over Delta tables, by delta-rs and DataFusion (SQL in
    DataFusion's dialect; each table named by its key in `tables`); None when one of them was
    never written. Timestamps come back as PySpark's collect() gives them."""
    from deltalake import QueryBuilder

    builder = QueryBuilder()
    for alias, table in tables.items():
        opened = open_without_jvm(table, cfg)
        if opened is None:
            return None
        builder.register(alias, opened)
    return _arrow_rows(builder.execute(sql))


def _arrow_rows(stream) -> list[dict]:
    import pyarrow as pa

    # From the Arrow stream directly: pa.table() would import pandas to check its argument.
    return _python_rows(pa.RecordBatchReader.from_stream(stream).read_all())


def _python_rows(result) -> list[dict]:
    """Rows as Python values, a UTC timestamp (Delta's TIMESTAMP) as a naive local time of
    this process, as PySpark's collect() returns it. The zone is applied here rather than by
    pyarrow, whose conversion of zoned timestamps imports pandas (a second of start-up)."""
    import pyarrow as pa

    zoned = []
    for i, field in enumerate(result.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            naive = result.column(i).cast(pa.timestamp(field.type.unit))  # keeps the UTC value
            result = result.set_column(i, field.name, naive)
            zoned.append(field.name)
    rows = result.to_pylist()
    for row in rows:
        for name in zoned:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=dt.UTC).astimezone().replace(tzinfo=None)
    return rows


def size_without_jvm(table: Table, cfg: Settings | None = None) -> tuple[int, int] | None:
    """The table's current version and rows (deletion vectors applied), from one opening of
    its log; None when it was never written."""
    opened = open_without_jvm(table, cfg)
    if opened is None:
        return None
    return opened.version(), _count_rows(opened)


def rows_estimate_without_jvm(tables: Iterable[Table], cfg: Settings | None = None) -> int | None:
    """About how many rows the tables hold now, from their logs' per-file statistics: no scan,
    no JVM (deletion vectors are not applied, so a little high at most). None when one of them
    is not a Delta table here (never written, or read in place from a department's database)."""
    total = 0
    for table in tables:
        opened = open_without_jvm(table, cfg)
        if opened is None:
            return None
        total += opened.count()
    return total


def rows_without_jvm(table: Table, version: int, cfg: Settings | None = None) -> int:
    """The table's rows as of `version` (deletion vectors applied), by delta-rs: a Spark count
    costs a job per table (80 of them were 8 s of the ledger site's build at demo size)."""
    from deltalake import DeltaTable

    uri = _rs_uri(table.location(cfg))
    return _count_rows(DeltaTable(uri, version=version, storage_options=rs_storage_options(cfg)))


def count_without_jvm(
    table: Table, equal: Mapping[str, str | int | dt.date], cfg: Settings | None = None
) -> int:
    """Rows of the table's current version whose columns equal `equal` (deletion vectors
    applied; 0 when it was never written), counted from its files by delta-rs and DataFusion.

    A load's balance counts what its tables now hold for the batch, on their own side: as a
    Spark count that was a job of about 0.5 s, up to three per table and night (issue 19).
    """
    from deltalake import QueryBuilder

    opened = open_without_jvm(table, cfg)
    if opened is None:
        return 0
    where = " AND ".join(f'"{_column(c)}" = {_sql_literal(v)}' for c, v in equal.items())
    sql = f"SELECT count(*) AS n FROM t WHERE {where or 'TRUE'}"
    return _arrow_rows(QueryBuilder().register("t", opened).execute(sql))[0]["n"]


def _column(name: str) -> str:
    if not _NAME.match(name.lstrip("_")):
        raise ValueError(f"{name!r} is not a column name of the lakehouse")
    return name


def _sql_literal(value: str | int | dt.date) -> str:
    """A SQL literal of a str, int or date; quotes in text doubled, as SQL escapes them."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"no SQL literal for {type(value).__name__} {value!r}")
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def _spark_literal(value: str | int | dt.date) -> str:
    """The same literal in Spark SQL, whose DATE literal takes no space."""
    return _sql_literal(value).replace("DATE '", "DATE'", 1)


# The table features delta-rs writes as Spark does (a deletion vector table is left to Spark).
RS_WRITES = {"appendOnly", "invariants", "changeDataFeed", "checkConstraints", "timestampNtz"}
# The table properties delta-rs sets on a table it creates as Spark does.
RS_PROPERTIES = {"delta.enableChangeDataFeed", "delta.checkpointInterval"}


def replace_without_jvm(
    table: Table,
    df: DataFrame,
    where: Mapping[str, str | int | dt.date],
    cfg: Settings | None = None,
    *,
    partition_by: Iterable[str] = (),
    properties: Mapping[str, str] | None = None,
) -> int | None:
    """Replace the rows whose columns equal `where` with `df`'s rows by delta-rs in one commit
    (retried when it loses a race with another writer), creating the table when it was never
    written; returns the version committed (read from delta-rs: Spark would first rebuild the
    new version's state with a Spark job). None (nothing written) when delta-rs would not write
    it as Spark does: a table feature or a new table's property it does not write, or columns
    or types that differ from the table's (a new column, a retyped one), so the caller writes
    through Spark, which merges the new column or refuses the type.

    Both writers check what a concurrent commit added or removed against what they read, so a
    replace by one and a write by the other conflict as two Spark writes do (on S3 see
    docs/object_storage.md: Spark's commit there is not a conditional put). A replace of whole
    partitions removes and adds whole files: the change data feed reads it as deletes and
    inserts, as it reads Spark's. Checkpoints are written as often as Spark writes them.
    """
    from deltalake import write_deltalake

    opened = open_without_jvm(table, cfg)
    if opened is None and set(properties or {}) - RS_PROPERTIES:
        return None
    data = df.toArrow()
    if opened is None and not _spark_creates_as_is(data.schema):
        return None
    if opened is None:
        if _created_without_jvm(table, data, partition_by, properties, cfg):
            return 0
        opened = open_without_jvm(table, cfg)  # another writer created it meanwhile
    if set(opened.protocol().writer_features or ()) - RS_WRITES:
        return None
    target = _arrow_schema(opened)
    if not _same_columns(data.schema, target):
        return None
    data = data.select(target.names).cast(target)
    predicate = " AND ".join(f'"{_column(c)}" = {_sql_literal(v)}' for c, v in where.items())

    def replace() -> int:
        current = open_without_jvm(table, cfg)  # a retry writes on the winner's version
        try:
            write_deltalake(current, data, mode="overwrite", predicate=predicate)
        except Exception as exc:
            refused = _rows_outside(exc, table, predicate)
            if refused is None:
                raise
            raise refused from None  # the original quotes the rows
        return current.version()  # delta-rs moves the opened table to the version it wrote

    version = retry_concurrent(replace)
    checkpoint_as_spark_does(table, cfg)
    return version


def _rows_outside(exc: Exception, table: Table, predicate: str) -> GovlakeError | None:
    """delta-rs's refusal of rows that do not match the replace's predicate quotes them
    ("Preview of invalid data"), identifiers included: the error raised instead names the table
    and the predicate, and no value (docs/leaks.md). None for any other error."""
    text = str(exc)
    if "Preview of invalid data" not in text:
        return None
    reason = text.split("Preview of invalid data")[0].strip()
    return GovlakeError(
        f"replacing the rows of {table.qualified} where {predicate}: delta-rs refused rows that "
        f"do not match it ({reason}); their values are not shown",
        fix="every row of a replace must hold the values it replaces: check the step that "
        "stamps them, then rerun; the table stays at its last committed version.",
    )


# Characters Spark's Parquet writer refuses in a column name (without column mapping).
_SPARK_REFUSED_NAME = re.compile(r"[ ,;{}()\n\t=]")


def _spark_creates_as_is(schema) -> bool:
    """Whether Spark's first write would keep this Arrow schema's columns as they are: it drops
    a column of untyped NULLs and refuses a name with one of ` ,;{}()\\n\\t=`, so those stay
    Spark's to create (or to refuse with its own error)."""
    return not any(str(f.type) == "null" or _SPARK_REFUSED_NAME.search(f.name) for f in schema)


def _created_without_jvm(table: Table, data, partition_by, properties, cfg) -> bool:
    """Create the table with Arrow `data`'s rows in one commit, as Spark's first write would
    (every column nullable, the given partitioning and properties); False when another writer
    created it first, so the caller replaces in that table instead.

    delta-rs retries a losing commit at the next version, which for a table creation means a
    second CREATE TABLE (a new table id) or rows beside the winner's: so this one is not
    retried, and refused when the table appeared since it was opened (mode "error").
    """
    import pyarrow as pa
    from deltalake import CommitProperties, write_deltalake

    schema = pa.schema([f.with_nullable(True) for f in data.schema])
    try:
        write_deltalake(
            _rs_uri(table.location(cfg)),
            data.cast(schema),
            mode="error",
            partition_by=list(partition_by) or None,
            configuration=dict(properties or {}),
            storage_options=rs_storage_options(cfg),
            commit_properties=CommitProperties(max_commit_retries=0),
        )
    except Exception:
        if open_without_jvm(table, cfg) is None:
            raise  # not a lost race: the write itself failed
        return False
    return True


def checkpoint_as_spark_does(table: Table, cfg: Settings | None = None) -> None:
    """Write a checkpoint of the current version when Spark would have: every
    `delta.checkpointInterval` commits (10 unless the table says otherwise). delta-rs's own
    interval is 100, so a table written nightly by delta-rs alone would make Spark's readers
    replay up to 100 commit files to learn its state."""
    opened = open_without_jvm(table, cfg)
    interval = int(opened.metadata().configuration.get("delta.checkpointInterval", "10"))
    if opened.version() > 0 and opened.version() % interval == 0:
        opened.create_checkpoint()


def _arrow_schema(opened):
    import pyarrow as pa

    return pa.schema(opened.schema())


def _same_columns(given, target) -> bool:
    """Whether Arrow schema `given` has `target`'s columns with the same types, strings of
    either width and timestamps of either zone (Spark's Arrow gives the session's) alike."""
    import pyarrow as pa

    def kind(t):
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return "string"
        if pa.types.is_timestamp(t):
            return ("timestamp", t.unit, t.tz is not None)
        return t

    if sorted(given.names) != sorted(target.names):
        return False
    return all(kind(given.field(f.name).type) == kind(f.type) for f in target)


def _count_rows(opened) -> int:
    from deltalake import QueryBuilder

    counted = QueryBuilder().register("t", opened).execute("SELECT count(*) AS n FROM t")
    return _arrow_rows(counted)[0]["n"]


def append_without_jvm(table: Table, rows: list[dict], cfg: Settings | None = None) -> bool:
    """Append a few rows by delta-rs in one Delta commit, without a Spark job; False (nothing
    written) when the table was never written or lacks one of the rows' columns, so the caller
    writes through Spark, which creates the table or merges the new column.

    For small append-only records (a load's run record): a Spark append costs a job, a commit
    and a catalog statement, 1-2 s each on a loaded host, twice per table per night. Both
    writers commit with put-if-absent, so concurrent appends from Spark and delta-rs are safe.
    """
    import pyarrow as pa
    from deltalake import write_deltalake

    opened = open_without_jvm(table, cfg)
    if opened is None:
        return False
    schema = _arrow_schema(opened)
    if any(name not in schema.names for row in rows for name in row):
        return False
    zoned = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is not None]
    # A naive time is this process's local time, as Spark's createDataFrame reads it.
    utc = [
        {k: v.astimezone(dt.UTC) if k in zoned and v is not None else v for k, v in row.items()}
        for row in rows
    ]
    write_deltalake(opened, pa.Table.from_pylist(utc, schema=schema), mode="append")
    return True


def compact_without_jvm(table: Table, cfg: Settings | None = None, min_files: int = 16) -> dict:
    """Rewrite a record table's small files into few (delta-rs OPTIMIZE: one commit that
    changes no data), once it holds `min_files` or more; returns files before and after.

    Run records, lineage events and audit rows arrive one small commit (one file) at a time, and
    every load reads its table's whole run history: a year of nights would be tens of thousands
    of files. Old files stay for time travel until a VACUUM removes them.
    """
    opened = open_without_jvm(table, cfg)
    if opened is None:
        return {"table": table.qualified, "files_before": 0, "files_after": 0}
    before = len(opened.file_uris())
    if before >= min_files:
        opened.optimize.compact()
    after = len(open_without_jvm(table, cfg).file_uris())
    return {"table": table.qualified, "files_before": before, "files_after": after}
