"""The library benchmark's reading of a MERGE's cost from Delta history (not its timings)."""

from __future__ import annotations

from benchmarks.libraries import history_metrics


def test_history_metrics_counts_rows_a_merge_rewrote(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "people")
    rows = [(i, f"v{i}") for i in range(10)]
    spark.createDataFrame(rows, "id int, v string").coalesce(1).write.format("delta").save(path)
    changes = spark.createDataFrame([(1, "new"), (2, "new"), (99, "added")], "id int, v string")
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(changes.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )

    merge = history_metrics(spark, path, 1)
    assert merge["operation"] == "MERGE"
    assert merge["metrics"]["numTargetRowsUpdated"] == 2
    assert merge["metrics"]["numTargetRowsInserted"] == 1
    # The 8 untouched rows shared the one file with the updated ones, so they were copied too.
    assert merge["metrics"]["numTargetRowsCopied"] == 8
    assert merge["rewritten_rows"] == 11 == merge["metrics"]["numOutputRows"]

    write = history_metrics(spark, path, 0)
    assert write["operation"] == "WRITE"
    assert write["rewritten_rows"] == 0
    assert history_metrics(spark, path, 7) is None
