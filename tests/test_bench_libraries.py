"""The library benchmark's reading of a MERGE's cost from Delta history (not its timings)."""

from __future__ import annotations

from benchmarks.libraries import history_metrics


def test_history_metrics_counts_rows_a_merge_rewrote(spark, tmp_path):
    from govlake.lakehouse import Table
    from govlake.settings import settings

    # A lakehouse of its own, so the table is new whatever ran before in this session.
    cfg = settings().model_copy(update={"tables_uri": str(tmp_path / "lakehouse")})
    table = Table("base", "bench_people")
    rows = [(i, f"v{i}") for i in range(10)]
    table.write(spark.createDataFrame(rows, "id int, v string").coalesce(1), cfg=cfg)
    changes = spark.createDataFrame([(1, "new"), (2, "new"), (99, "added")], "id int, v string")
    (
        table.delta(spark, cfg)
        .alias("t")
        .merge(changes.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )

    merge = history_metrics(spark, table, 1, cfg)
    assert merge["operation"] == "MERGE"
    assert merge["metrics"]["numTargetRowsUpdated"] == 2
    assert merge["metrics"]["numTargetRowsInserted"] == 1
    # The 8 untouched rows shared the one file with the updated ones, so they were copied too.
    assert merge["metrics"]["numTargetRowsCopied"] == 8
    assert merge["rewritten_rows"] == 11 == merge["metrics"]["numOutputRows"]

    write = history_metrics(spark, table, 0, cfg)
    assert write["operation"] == "WRITE"
    assert write["rewritten_rows"] == 0
    assert history_metrics(spark, table, 7, cfg) is None
