"""The Table object: names, locations, existence and versions from Delta, reads as of a version."""

from __future__ import annotations

from pathlib import Path

import pytest

from govlake.errors import GovlakeError
from govlake.lakehouse import Table, all_tables, tables_root
from govlake.settings import load_settings


def test_a_name_parses_into_database_and_table():
    table = Table.parse("ods.psb_hukou__hj_resident")
    assert (table.database, table.name) == ("ods", "psb_hukou__hj_resident")
    assert str(table) == "ods.psb_hukou__hj_resident"
    assert Table.parse(table) is table


@pytest.mark.parametrize("bad", ["psb_hukou", "nowhere.t", "ods.Bad-Name", "ods."])
def test_a_bad_name_is_refused_with_the_fix(bad):
    with pytest.raises(GovlakeError) as info:
        Table.parse(bad)
    assert info.value.fix


def test_the_location_follows_the_one_settings_value(monkeypatch):
    monkeypatch.setenv("GOVLAKE_TABLES_URI", "s3a://ezhou-govlake/lakehouse/")
    cfg = load_settings("local")
    assert tables_root(cfg) == "s3a://ezhou-govlake/lakehouse"
    assert Table.parse("base.population").location(cfg) == (
        "s3a://ezhou-govlake/lakehouse/base/population"
    )
    monkeypatch.delenv("GOVLAKE_TABLES_URI")
    local = load_settings("local")
    assert Table.parse("base.population").location(local) == str(
        local.lakehouse / "base" / "population"
    )


def test_the_asset_names_the_table_not_its_path():
    asset = Table.parse("base.population").asset()
    assert (asset.name, asset.uri) == ("base.population", "x-govlake://base/population")


def test_existence_versions_and_reads_as_of_a_version(spark, cfg):
    table = Table.parse("ops.lakehouse_probe")
    assert not table.exists(spark, cfg)
    assert table.commit(spark, cfg) is None and table.version(spark, cfg) is None
    assert table.read_if_exists(spark, cfg) is None
    with pytest.raises(GovlakeError, match="ops.lakehouse_probe does not exist"):
        table.read(spark, cfg)

    table.write(spark.createDataFrame([(1, "a")], "id int, v string"), "overwrite", cfg=cfg)
    table.write(spark.createDataFrame([(2, "b")], "id int, v string"), "append", cfg=cfg)

    assert table.exists(spark, cfg)
    assert table.version(spark, cfg) == 1
    assert sorted(r.id for r in table.read(spark, cfg).collect()) == [1, 2]
    assert [r.id for r in table.read(spark, cfg, version=0).collect()] == [1]
    assert table.fields(spark, cfg) == {"id": "int", "v": "string"}
    assert spark.sql("SELECT count(*) AS n FROM ops.lakehouse_probe").first().n == 2
    assert table in all_tables(spark, cfg)


def test_partitioning_and_creation_when_missing(spark, cfg):
    table = Table.parse("ops.lakehouse_parts")
    assert table.create_if_missing(spark, "d date, n long", partition_by=["d"], cfg=cfg)
    assert not table.create_if_missing(spark, "d date, n long", partition_by=["d"], cfg=cfg)
    assert table.partition_columns(spark, cfg) == ["d"]
    assert table.version(spark, cfg) == 0


@pytest.fixture()
def shanghai_local_time(monkeypatch):
    """A local zone that is not UTC, so a time written without its zone comes back shifted."""
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_rows_appended_by_delta_rs_read_back_in_spark_as_written(spark, cfg, shanghai_local_time):
    """Run records are appended without a Spark job (issue 19): the same values, a naive local
    time included, must come back through Spark; a missing table or column is left to Spark."""
    import datetime as dt

    from govlake.lakehouse import append_without_jvm

    runs = Table.parse("ops.appended_runs")
    first = {"run_id": "a", "started_at": dt.datetime(2026, 11, 26, 1, 30, 5), "rows": 3}
    assert append_without_jvm(runs, [first], cfg) is False  # never written: Spark creates it
    runs.write(spark.createDataFrame([first], "run_id string, started_at timestamp, rows long"))
    second = {"run_id": "b", "started_at": dt.datetime(2026, 11, 27, 23, 59, 59), "rows": None}
    assert append_without_jvm(runs, [second], cfg) is True
    assert runs.version(spark, cfg) == 1
    got = sorted(tuple(r) for r in runs.read(spark, cfg).collect())
    assert got == [tuple(first.values()), tuple(second.values())], got
    assert append_without_jvm(runs, [{**second, "undeclared": 1}], cfg) is False
    assert runs.version(spark, cfg) == 1


def test_a_record_table_of_many_small_commits_is_compacted_with_its_rows_kept(spark, cfg):
    """The ledger's nightly compaction (jobs.ledger.compact): many one-row commits become one
    file, the rows and their values unchanged, and a table with few files is left alone."""
    from govlake.lakehouse import append_without_jvm, compact_without_jvm, query_without_jvm

    runs = Table.parse("ops.compacted_runs")
    runs.write(spark.createDataFrame([("r0", 0)], "run_id string, n long"))
    for i in range(1, 20):
        assert append_without_jvm(runs, [{"run_id": f"r{i}", "n": i}], cfg)
    few = Table.parse("ops.few_runs")
    few.write(spark.createDataFrame([("x", 1)], "run_id string, n long"))

    left = compact_without_jvm(few, cfg)
    assert left["files_before"] == left["files_after"] < 16, left
    assert few.version(spark, cfg) == 0
    done = compact_without_jvm(runs, cfg)
    assert done["files_before"] >= 20 and done["files_after"] == 1, done
    assert runs.version(spark, cfg) == 20
    rows = query_without_jvm("SELECT run_id, n FROM t ORDER BY n", {"t": runs}, cfg)
    assert rows == [{"run_id": f"r{i}", "n": i} for i in range(20)]
    assert sorted(tuple(r) for r in runs.read(spark, cfg).collect()) == sorted(
        (f"r{i}", i) for i in range(20)
    )


def test_register_all_names_only_the_tables_the_session_does_not_name_yet(spark, cfg, monkeypatch):
    """Every task of an in-process night calls get_spark: a table the session already names is
    not registered again, one it has forgotten is (a temporary view of its name does not count),
    and both are returned and readable."""
    from govlake.lakehouse import register_all

    kept, dropped = Table.parse("ops.named_kept"), Table.parse("ops.named_dropped")
    for table in (kept, dropped):
        table.write(spark.range(2), "overwrite", cfg=cfg)
        table.register(spark, cfg)
    spark.sql(f"DROP TABLE {dropped.qualified}")  # the catalog forgets it; its files stay
    # A temporary view of the same name has no database: it does not name ops.named_dropped.
    spark.range(1).createOrReplaceTempView(dropped.name)
    calls = []
    original = Table.register
    monkeypatch.setattr(
        Table, "register", lambda self, *a, **k: (calls.append(self), original(self, *a, **k))
    )

    first = register_all(spark, cfg, {kept.qualified, dropped.qualified})
    assert (set(first), calls) == ({kept, dropped}, [dropped])
    assert spark.table(dropped.qualified).count() == 2
    calls.clear()
    assert set(register_all(spark, cfg, {kept.qualified, dropped.qualified})) == {kept, dropped}
    assert calls == []
    spark.catalog.dropTempView(dropped.name)


def test_rows_counted_without_a_jvm_apply_deletion_vectors_as_of_each_version(spark, cfg):
    """The catalog and the site count rows by delta-rs: a theme's MERGE deletes rows through
    deletion vectors, which such a count must apply, version by version."""
    from govlake.lakehouse import rows_without_jvm, size_without_jvm

    table = Table.parse("theme.counted_rows")
    options = {"delta.enableDeletionVectors": "true"}
    table.write(spark.range(5).coalesce(1), "overwrite", options=options, cfg=cfg)
    table.delta(spark, cfg).delete("id IN (1, 3)")  # one file kept, two rows marked deleted
    history = spark.sql(f"DESCRIBE HISTORY delta.`{table.location(cfg)}`").collect()
    assert history[0]["operationMetrics"]["numDeletionVectorsAdded"] == "1"

    assert rows_without_jvm(table, 0, cfg) == 5
    assert rows_without_jvm(table, 1, cfg) == 3 == size_without_jvm(table, cfg)[1]


def test_a_size_estimate_sums_the_logs_rows_and_knows_no_size_without_a_delta_table(spark, cfg):
    """How big a build's inputs are, for compiling or not: the rows of every commit still in
    the tables (an overwrite's old files no longer count), without a scan; None when one input
    is not a Delta table (a logical source's table, or one never written)."""
    from govlake.lakehouse import rows_estimate_without_jvm

    first, second = Table.parse("ods.estimate_one"), Table.parse("ods.estimate_two")
    first.write(spark.range(1000), "overwrite", cfg=cfg)
    first.write(spark.range(7), "overwrite", cfg=cfg)
    first.write(spark.range(5).repartition(3), "append", cfg=cfg)
    second.write(spark.range(30), "overwrite", cfg=cfg)
    counted = first.read(spark, cfg).count() + second.read(spark, cfg).count()

    assert counted == 42 == rows_estimate_without_jvm([first, second], cfg)
    assert rows_estimate_without_jvm([first, Table.parse("ods.estimate_never")], cfg) is None
    assert rows_estimate_without_jvm([], cfg) == 0


def test_all_tables_lists_delta_folders_of_lakehouse_databases_under_a_root_with_glob_characters(
    spark, tmp_path
):
    """One glob finds the tables: a layer's and an application warehouse's folders with a Delta
    log; not a folder without one, nor a database that is not the lakehouse's, and the root's
    own `[`, `{` and `*` are taken literally (a sibling root they would match stays unseen)."""
    root = tmp_path / "lake[1]{a,b}*"
    cfg = load_settings("local").model_copy(update={"lakehouse": root, "tables_uri": None})
    sibling = load_settings("local").model_copy(update={"lakehouse": tmp_path / "lake1a"})
    frame = spark.createDataFrame([(1,)], "n int")
    for name in ("ods.glob_probe", "app_permits.glob_probe"):
        Table.parse(name).write(frame, "overwrite", cfg=cfg)
    Table.parse("ods.sibling_probe").write(frame, "overwrite", cfg=sibling)
    (root / "ods" / "no_log").mkdir()
    frame.write.format("delta").save(str(root / "scratch" / "not_a_layer"))

    assert all_tables(spark, cfg) == [
        Table.parse("app_permits.glob_probe"),
        Table.parse("ods.glob_probe"),
    ]
    assert all_tables(spark, cfg.model_copy(update={"lakehouse": tmp_path / "none"})) == []


def test_rows_counted_by_value_without_a_jvm_from_the_tables_current_files(spark, cfg):
    """The balance counts a batch's rows by delta-rs: by equal values of text (a quote in it
    taken literally), a date and a number, deletion vectors applied; 0 before the first write."""
    import datetime as dt

    from govlake.lakehouse import count_without_jvm

    table = Table.parse("ops.counted_batches")
    assert count_without_jvm(table, {"name": "a"}, cfg) == 0
    day, other = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
    rows = [("o'brien", day, 1), ("o'brien", day, 1), ("o'brien", day, 2), ("x", day, 1)]
    rows += [("o'brien", other, 1), ("o' OR '1'='1", day, 1)]
    frame = spark.createDataFrame(rows, "name string, d date, n int").coalesce(1)
    table.write(frame, "overwrite", options={"delta.enableDeletionVectors": "true"}, cfg=cfg)

    assert count_without_jvm(table, {"name": "o'brien", "d": day}, cfg) == 3
    assert count_without_jvm(table, {"name": "o'brien", "d": day, "n": 1}, cfg) == 2
    assert count_without_jvm(table, {"name": "o' OR '1'='1"}, cfg) == 1
    assert count_without_jvm(table, {}, cfg) == 6
    table.delta(spark, cfg).delete("n = 2")  # a deletion vector on the one file
    assert count_without_jvm(table, {"name": "o'brien", "d": day}, cfg) == 2
    with pytest.raises(ValueError, match="not a column name"):
        count_without_jvm(table, {"name = name OR 1": "x"}, cfg)


def _engines(spark, table, cfg) -> list[str]:
    """Each commit's writer, oldest first: Spark's engineInfo or delta-rs's clientVersion."""
    history = table.history(spark, cfg).orderBy("version").collect()
    return ["delta-rs" if "delta-rs" in (r["engineInfo"] or "") else "spark" for r in history]


def test_a_small_replace_is_written_by_delta_rs_and_read_by_spark_and_its_change_feed(spark, cfg):
    """Table.replace (issue 19): a small replace of an existing table goes through delta-rs
    in one commit; Spark reads the replaced day, the other day untouched, and the change data
    feed as the day's deletes and inserts. A large one, or one with a new column, is Spark's
    replaceWhere; an empty replacement removes the day's rows."""
    import datetime as dt

    from pyspark.sql import functions as F

    table = Table.parse("ods.replaced_batches")
    day, other = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
    ddl = "id long, name string, at timestamp, _batch_date date"
    at = dt.datetime(2026, 11, 26, 1, 30, 5)

    def batch(when, *rows):
        return spark.createDataFrame([(i, n, at, when) for i, n in rows], ddl)

    first = {"partition_by": ("_batch_date",), "cfg": cfg}
    properties = {"delta.enableChangeDataFeed": "true"}
    table.write(batch(day, (1, "a"), (2, "b")), partition_by=("_batch_date",), cfg=cfg,
                options=properties)  # fmt: skip
    table.replace(batch(other, (9, "z")), {"_batch_date": other}, small=True, **first)
    replaced = table.replace(batch(day, (1, "a"), (3, "c'd")), {"_batch_date": day}, small=True,
                             **first)  # fmt: skip
    assert _engines(spark, table, cfg) == ["spark", "delta-rs", "delta-rs"]
    assert replaced == 2 == table.version(spark, cfg)  # the version delta-rs committed
    got = sorted(tuple(r) for r in table.read(spark, cfg).collect())
    assert got == [(1, "a", at, day), (3, "c'd", at, day), (9, "z", at, other)], got
    changes = table.changes(spark, 2, cfg=cfg).select("id", "_change_type").collect()
    assert sorted(tuple(r) for r in changes) == [
        (1, "delete"), (1, "insert"), (2, "delete"), (3, "insert")
    ]  # fmt: skip

    # A changed type is not cast by delta-rs ("7" would become 7): Spark refuses the merge.
    version = table.version(spark, cfg)
    retyped = batch(day, (6, "f")).withColumn("id", F.lit("7"))
    with pytest.raises(Exception, match="(?i)merge"):
        table.replace(retyped, {"_batch_date": day}, small=True, **first)
    assert table.version(spark, cfg) == version

    table.replace(batch(day, (4, "d")), {"_batch_date": day}, small=False, **first)
    wider = batch(day, (5, "e")).withColumn("note", F.lit("new column"))
    table.replace(wider, {"_batch_date": day}, small=True, options={"mergeSchema": "true"}, **first)
    assert _engines(spark, table, cfg)[3:] == ["spark", "spark"]
    assert table.read(spark, cfg).where(f"_batch_date = DATE'{day}'").collect()[0]["note"]

    empty = table.read(spark, cfg).where("false")
    table.replace(empty, {"_batch_date": day}, small=True, **first)
    assert _engines(spark, table, cfg)[5:] == ["delta-rs"]
    assert [r["id"] for r in table.read(spark, cfg).collect()] == [9]


def test_a_small_first_replace_creates_the_table_by_delta_rs_as_spark_would(spark, cfg):
    """A small replace of a table never written creates it by delta-rs in one commit (issue
    19: Spark's first write cost 0.5 s a table): partitioned, with its properties, every column
    nullable, named in the catalog; Spark then reads it, its change data feed from version 0,
    and merges a new column into it. A property delta-rs does not set (deletion vectors), a
    large batch, a column of untyped NULLs or a name Spark refuses is Spark's first write."""
    import datetime as dt

    from pyspark.sql import functions as F

    table = Table.parse("ods.created_batches")
    day = dt.date(2026, 11, 26)
    rows = spark.createDataFrame([(1, "a", day)], "id long not null, name string, _batch_date date")
    cdf = {"delta.enableChangeDataFeed": "true"}
    made = table.replace(rows, {"_batch_date": day}, small=True, partition_by=("_batch_date",),
                         properties=cdf, cfg=cfg)  # fmt: skip
    assert made == 0 and _engines(spark, table, cfg) == ["delta-rs"]
    detail = spark.sql(f"DESCRIBE DETAIL {table.qualified}").collect()[0]
    assert detail["partitionColumns"] == ["_batch_date"]
    assert detail["properties"] == cdf
    assert all(f.nullable for f in table.schema(spark, cfg).fields)
    changes = table.changes(spark, 0, cfg=cfg).select("id", "_change_type").collect()
    assert [tuple(r) for r in changes] == [(1, "insert")]
    wider = rows.withColumn("note", F.lit("n"))
    merged = table.replace(wider, {"_batch_date": day}, small=True, options={"mergeSchema": "true"},
                           cfg=cfg)  # fmt: skip
    assert merged == 1 and _engines(spark, table, cfg) == ["delta-rs", "spark"]
    assert [tuple(r) for r in table.read(spark, cfg).collect()] == [(1, "a", day, "n")]

    vectors = Table.parse("ops.created_with_vectors")
    vectors.replace(rows, {"_batch_date": day}, small=True,
                    properties={"delta.enableDeletionVectors": "true"}, cfg=cfg)  # fmt: skip
    large = Table.parse("ops.created_large")
    large.replace(rows, {"_batch_date": day}, small=False, properties=cdf, cfg=cfg)
    untyped = Table.parse("ops.created_untyped")
    nulls = rows.withColumn("nothing", F.lit(None))
    untyped.replace(nulls, {"_batch_date": day}, small=True, cfg=cfg)
    for made, props in ((vectors, {"delta.enableDeletionVectors": "true"}), (large, cdf)):
        assert _engines(spark, made, cfg) == ["spark"]
        assert spark.sql(f"DESCRIBE DETAIL {made.qualified}").collect()[0]["properties"] == props
    assert _engines(spark, untyped, cfg) == ["spark"]
    spaced = Table.parse("ops.created_spaced")  # Spark refuses the name; delta-rs would not
    with pytest.raises(Exception, match="(?i)invalid character"):
        spaced.replace(rows.withColumnRenamed("name", "a name"), {"_batch_date": day},
                       small=True, cfg=cfg)  # fmt: skip
    assert not spaced.exists(spark, cfg)


def test_two_small_first_replaces_at_once_leave_one_creation_and_one_days_rows(spark, cfg):
    """Two loads create the same table at the same moment: one creates it, the other finds it
    created (delta-rs would otherwise retry its creation as a second CREATE TABLE, or append
    beside the winner's rows) and replaces the day in it; the day holds one load's rows."""
    import datetime as dt
    import threading

    from govlake import lakehouse

    table = Table.parse("ods.created_at_once")
    day = dt.date(2026, 11, 26)
    ddl = "id long, _batch_date date"
    frames = [spark.createDataFrame([(n, day), (n + 10, day)], ddl) for n in (1, 2)]
    arrows = [f.toArrow() for f in frames]
    start, errors = threading.Barrier(2), []

    def create(data) -> None:
        start.wait()
        try:
            made = lakehouse._created_without_jvm(table, data, ("_batch_date",), {}, cfg)
            if not made:
                rows = frames[arrows.index(data)]
                lakehouse.replace_without_jvm(table, rows, {"_batch_date": day}, cfg)
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(a,)) for a in arrows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = table.history(spark, cfg).orderBy("version").collect()
    assert [r["operation"] for r in history] == ["WRITE", "WRITE"], history
    ids = sorted(r["id"] for r in table.read(spark, cfg).collect())
    assert ids in ([1, 11], [2, 12]), ids


def test_a_small_replace_with_rows_outside_its_predicate_names_no_value(spark, cfg):
    """delta-rs refuses rows that do not hold the values they replace and quotes them in its
    error; the error raised names the table and predicate only (an identifier must not reach a
    log), and the table stays at its version."""
    import datetime as dt

    from govlake.errors import GovlakeError

    table = Table.parse("ops.replaced_outside")
    day, other = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
    ddl = "sfzh string, _batch_date date"
    secret = "420704199001011234"
    table.write(spark.createDataFrame([("x", day)], ddl), partition_by=("_batch_date",), cfg=cfg)
    wrong = spark.createDataFrame([(secret, other)], ddl)
    with pytest.raises(GovlakeError) as refused:
        table.replace(wrong, {"_batch_date": day}, small=True, cfg=cfg)
    assert "ops.replaced_outside" in str(refused.value) and secret not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert table.version(spark, cfg) == 0


def test_a_small_replace_of_a_table_with_deletion_vectors_is_spark_s(spark, cfg):
    """delta-rs writes no deletion vectors: such a table (a quarantine) is left to Spark."""
    table = Table.parse("ops.replaced_with_vectors")
    frame = spark.createDataFrame([("a", 1), ("b", 2)], "name string, n int")
    table.write(frame, options={"delta.enableDeletionVectors": "true"}, cfg=cfg)
    table.replace(frame.where("n = 1"), {"name": "a"}, small=True, cfg=cfg)
    assert _engines(spark, table, cfg) == ["spark", "spark"]
    assert sorted(tuple(r) for r in table.read(spark, cfg).collect()) == [("a", 1), ("b", 2)]


def test_a_small_replace_that_loses_a_race_is_retried_on_the_winners_version(
    spark, cfg, monkeypatch
):
    """Another writer replaces the same day between delta-rs opening the table and committing:
    delta-rs's conflict check refuses the commit, and the replace runs again on the new
    version, so the day holds this replace's rows only (never both)."""
    import datetime as dt

    import pyarrow as pa
    from deltalake import write_deltalake

    from govlake import lakehouse

    table = Table.parse("ops.raced_batches")
    day = dt.date(2026, 11, 25)
    ddl = "id long, _batch_date date"
    table.write(spark.createDataFrame([(1, day)], ddl), partition_by=("_batch_date",), cfg=cfg)
    opened, calls = lakehouse.open_without_jvm, []

    def racing(t, c=None):
        found = opened(t, c)
        calls.append(found.version())
        if len(calls) == 2:  # the replace's own open: the other writer commits right after
            other = pa.table({"id": pa.array([2], pa.int64()), "_batch_date": [day]})
            write_deltalake(opened(t, c), other, mode="overwrite", predicate="true")
        return found

    monkeypatch.setattr(lakehouse, "open_without_jvm", racing)
    mine = spark.createDataFrame([(3, day)], ddl)
    table.replace(mine, {"_batch_date": day}, small=True, partition_by=("_batch_date",), cfg=cfg)
    # Opened twice at 0, lost to version 1, retried on 1; then at 2, whether to checkpoint.
    assert calls == [0, 0, 1, 2], calls
    assert [r["id"] for r in table.read(spark, cfg).collect()] == [3]
    assert table.version(spark, cfg) == 2


def test_small_replaces_leave_checkpoints_where_spark_would(spark, cfg):
    """A table replaced by delta-rs alone gets a checkpoint every 10 commits (Spark's interval,
    not delta-rs's 100), which Spark then reads: its state comes from the checkpoint."""
    import datetime as dt

    table = Table.parse("ops.checkpointed_batches")
    day = dt.date(2026, 11, 25)
    frame = spark.createDataFrame([(0, day)], "id long, _batch_date date")
    table.write(frame, partition_by=("_batch_date",), cfg=cfg)
    log = Path(table.location(cfg)) / "_delta_log"
    for n in range(1, 12):
        rows = spark.createDataFrame([(n, day)], "id long, _batch_date date")
        table.replace(rows, {"_batch_date": day}, small=True, cfg=cfg)
        checkpoints = sorted(p.name for p in log.glob("*.checkpoint.parquet"))
        assert checkpoints == (["00000000000000000010.checkpoint.parquet"] if n >= 10 else [])
    assert _engines(spark, table, cfg)[1:] == ["delta-rs"] * 11
    assert [r["id"] for r in table.read(spark, cfg).collect()] == [11]
