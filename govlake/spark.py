"""The lakehouse Spark session: Delta, JDBC drivers from Maven Central, tables by name.

Tables are Delta folders under <lakehouse>/<database>/<table>. Each session registers
them in its own in-memory catalog, so there is no shared metastore to lock: two Spark
processes (two Airflow tasks, or a load and an analyst) work side by side.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.settings import SPARK_PACKAGES, Settings, settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABASES = ("ods", "ops", "quarantine", "base", "theme", "quality", "catalog")


def spark_conf(cfg: Settings) -> dict[str, str]:
    """Spark properties of the lakehouse, also written out for spark-sql / pyspark users."""
    return {
        "spark.master": cfg.spark_master,
        "spark.driver.memory": cfg.driver_memory,
        "spark.jars.packages": ",".join(SPARK_PACKAGES),
        "spark.jars.ivy": str(cfg.ivy_dir),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(cfg.lakehouse),
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.session.timeZone": "Asia/Shanghai",
        # JDBC TEXT columns arrive as VARCHAR(0); keep them plain strings.
        "spark.sql.legacy.charVarcharAsString": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Department exports come in GBK / GB18030; Spark 4 only allows UTF-x without this.
        "spark.sql.legacy.javaCharsets": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
    }


def get_spark(cfg: Settings | None = None, app_name: str = "govlake") -> SparkSession:
    """The process's Spark session with every lakehouse table registered by name."""
    from pyspark.sql import SparkSession

    cfg = cfg or settings()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(cfg).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    register_tables(spark, cfg.lakehouse)
    return spark


def delta_tables(lakehouse: Path) -> list[tuple[str, str, Path]]:
    """(database, table, path) of every Delta table found on disk, sorted."""
    found = []
    for log in sorted(lakehouse.glob("*/*/_delta_log")):
        table_dir = log.parent
        found.append((table_dir.parent.name, table_dir.name, table_dir))
    return found


def register_tables(spark: SparkSession, lakehouse: Path) -> None:
    """Name every Delta table of the lakehouse in this session's catalog (cheap, no data read)."""
    for database in DATABASES:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{lakehouse / database}'")
    for database, table, path in delta_tables(lakehouse):
        register_table(spark, database, table, path)


def register_table(spark: SparkSession, database: str, table: str, path: Path) -> None:
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{path.parent}'")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {database}.{table} USING DELTA LOCATION '{path}'")
