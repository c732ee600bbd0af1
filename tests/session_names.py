"""The names a test's Spark session holds, read by SQL (shared by conftest and test modules)."""

from __future__ import annotations


def session_tables(spark) -> list[tuple[str, str, bool]]:
    """(database, table, temporary) of every name in the session's catalog, and (database, "",
    False) for a database without tables. By SQL, not spark.catalog.listTables: the test rows
    evaluate interpreted (code_generation: false), where Spark 4.2 fails to build its Table
    objects (EXPRESSION_DECODING_FAILED, argument type mismatch)."""
    names = []
    for row in spark.sql("SHOW DATABASES").collect():
        database = row[0]
        tables = spark.sql(f"SHOW TABLES IN `{database}`").collect()
        found = [(database, t["tableName"], t["isTemporary"]) for t in tables]
        names += found or [(database, "", False)]
    return names
