"""Physical copy into ods: balance, idempotency, increments, atomicity and clear failures."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from govlake.errors import SourceError
from govlake.settings import settings
from jobs import ingest
from jobs.ingest import load_table
from jobs.ops import latest_runs

DAY1, DAY2 = dt.date(2026, 11, 25), dt.date(2026, 11, 26)

DB_SOURCE = """\
system: {system}
department: 市人社局
information_system: 社会保险信息系统
mode: physical
location:
  conn_id: {system}_db
  default_url: jdbc:sqlite:{db}
tables:
  - name: enrolment
    dbtable: enrolment
    primary_key: [enrol_id]
    watermark: last_modified
"""

FILE_SOURCE = """\
system: {system}
department: 市卫健委
information_system: 出生医学证明管理系统
mode: physical
location:
  path: {folder}
tables:
  - name: birth
    file: birth_{{ds}}.csv
    format: csv
    encoding: gbk
    primary_key: [出生证编号]
    columns: {{出生证编号: birth_cert_no, 新生儿姓名: newborn_name}}
"""


def make_db(path, rows):
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS enrolment "
            "(enrol_id INTEGER PRIMARY KEY, id_number TEXT, last_modified TEXT)"
        )
        db.executemany("INSERT OR REPLACE INTO enrolment VALUES (?, ?, ?)", rows)


def db_source(source_dir, tmp_path, system, rows):
    db = tmp_path / f"{system}.db"
    make_db(db, rows)
    (source_dir / f"{system}.yaml").write_text(DB_SOURCE.format(system=system, db=db), "utf-8")
    return db


def file_source(source_dir, tmp_path, system, text, encoding="gbk", day=DAY2):
    folder = tmp_path / "nhc"
    folder.mkdir(exist_ok=True)
    (folder / f"birth_{day:%Y%m%d}.csv").write_bytes(text.encode(encoding))
    conf = FILE_SOURCE.format(system=system, folder=folder)
    (source_dir / f"{system}.yaml").write_text(conf, "utf-8")
    return folder


def rows_of(spark, table, day):
    return spark.table(table).where(f"_batch_date = DATE'{day}'")


def version_of(spark, table):
    return spark.sql(f"DESCRIBE HISTORY {table}").agg({"version": "max"}).first()[0]


BIRTHS = (
    "出生证编号,新生儿姓名,性别\r\n"
    "Q001,张小明,男\r\n"
    'Q002,"李小红,女\r\n'
    "Q003,王小刚,男,多余\r\n"
    "Q004,赵小丽,女\r\n"
)


def test_gbk_csv_lands_with_line_numbers_and_rejects_kept(spark, source_dir, tmp_path):
    file_source(source_dir, tmp_path, "vital_a", BIRTHS)
    result = load_table("vital_a", "birth", DAY2, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (4, 2, 2)
    assert result["balanced"]
    landed = rows_of(spark, "ods.vital_a__birth", DAY2).orderBy("_source_row").collect()
    assert [(r.birth_cert_no, r.newborn_name, r._source_row) for r in landed] == [
        ("Q001", "张小明", 2),
        ("Q004", "赵小丽", 5),
    ]
    assert landed[0]._source_system == "vital_a" and landed[0]._run_id == "run-1"
    rejects = spark.sql(
        "SELECT source_row, raw_record, reason FROM ops.rejected_rows "
        "WHERE source_system = 'vital_a' ORDER BY source_row"
    ).collect()
    assert [(r.source_row, r.raw_record) for r in rejects] == [
        (3, 'Q002,"李小红,女'),
        (4, "Q003,王小刚,男,多余"),
    ]
    assert "3 fields" in rejects[0].reason


def test_rerun_same_date_changes_nothing(spark, source_dir, tmp_path):
    file_source(source_dir, tmp_path, "vital_b", BIRTHS)
    load_table("vital_b", "birth", DAY2, "run-1", spark)
    before = version_of(spark, "ods.vital_b__birth")
    again = load_table("vital_b", "birth", DAY2, "run-2", spark)
    assert again["status"] == "unchanged"
    assert version_of(spark, "ods.vital_b__birth") == before
    # Issue 20 item 11: both runs stay in ops.load_runs (the audit trail); the night's latest
    # is the rerun, marked unchanged, with the first run's counts, as the demo summary reads it.
    # Outcome rows only: each load also appends a 'running' row before it writes (item 12).
    runs = spark.table("ops.load_runs").where("ods_table = 'ods.vital_b__birth'")
    runs = runs.where("status != 'running'").collect()
    assert sorted(r.status for r in runs) == ["success", "unchanged"]
    latest = latest_runs(spark, settings(), DAY2)["ods.vital_b__birth"]
    first = next(r for r in runs if r.status == "success")
    assert latest["status"] == "unchanged"
    counts = ("rows_read", "rows_written", "rows_rejected", "balanced")
    assert [latest[c] for c in counts] == [first[c] for c in counts]
    assert rows_of(spark, "ods.vital_b__birth", DAY2).count() == 2
    assert spark.table("ops.rejected_rows").where("source_system = 'vital_b'").count() == 2


def test_wrong_encoding_is_a_clear_error_and_nothing_changes(spark, source_dir, tmp_path):
    file_source(source_dir, tmp_path, "vital_c", BIRTHS, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_table("vital_c", "birth", DAY2, "run-1", spark)
    text = str(err.value)
    assert "birth_20261126.csv" in text and "'gbk'" in text and "Fix:" in text
    assert not spark.catalog.tableExists("ods.vital_c__birth")
    failed = spark.sql(
        "SELECT status, error FROM ops.load_runs WHERE source_system = 'vital_c' "
        "AND status != 'running'"
    ).first()
    assert failed.status == "failed" and "gbk" in failed.error


def test_missing_file_names_the_file_and_department(spark, source_dir, tmp_path):
    file_source(source_dir, tmp_path, "vital_d", BIRTHS, day=DAY1)
    with pytest.raises(SourceError, match=r"birth_20261126\.csv.*not delivered.*市卫健委"):
        load_table("vital_d", "birth", DAY2, "run-1", spark)


def test_incremental_reads_past_the_watermark_and_handles_ties(spark, source_dir, tmp_path):
    rows = [(i, f"42070219900101{i:04d}", "2026-11-25 10:00:00") for i in range(1, 6)]
    db = db_source(source_dir, tmp_path, "hrss_a", rows)
    first = load_table("hrss_a", "enrolment", DAY1, "run-1", spark)
    assert first["rows_written"] == 5 and first["watermark_high"] == "2026-11-25 10:00:00"
    # A late row with the same timestamp as the mark, one update and one new row.
    make_db(
        db,
        [
            (6, "420702199001010006", "2026-11-25 10:00:00"),
            (2, "420702199001010002", "2026-11-26 09:00:00"),
            (7, "420702199001010007", "2026-11-26 09:30:00"),
        ],
    )
    second = load_table("hrss_a", "enrolment", DAY2, "run-2", spark)
    day2 = sorted(r.enrol_id for r in rows_of(spark, "ods.hrss_a__enrolment", DAY2).collect())
    assert day2 == [2, 6, 7]
    assert second["balanced"] and second["watermark_high"] == "2026-11-26 09:30:00"
    # Re-running the first night reuses its window: same five rows, nothing new.
    again = load_table("hrss_a", "enrolment", DAY1, "run-3", spark)
    assert again["rows_written"] == 5


def test_a_batch_is_read_compiled_or_not_by_its_expected_rows(
    spark, source_dir, tmp_path, monkeypatch, evaluation_modes
):
    """A batch's size is known only once it is read: the read runs in the mode of the least of
    what the last committed batch read (a rerun: this batch's own) and what the source holds
    (a database's count; a file's records, decoded in Python before Spark reads them); its
    validation and write in the mode of the rows it read. The threshold rule is
    Settings.compiles (test_spark.py), here set at the first night's five rows."""
    from govlake.settings import Settings

    rows = [(i, f"42070219900101{i:04d}", "2026-11-25 10:00:00") for i in range(1, 6)]
    db = db_source(source_dir, tmp_path, "hrss_size", rows)
    monkeypatch.setattr(Settings, "compiles", lambda self, n: n is None or n >= len(rows))

    assert load_table("hrss_size", "enrolment", DAY1, "run-1", spark)["rows_read"] == 5
    assert evaluation_modes == [True, True]  # read: the database holds 5; write: 5 rows
    late = [(i, f"42070219900101{i:04d}", "2026-11-26 09:00:00") for i in (6, 7, 8)]
    make_db(db, late)
    assert load_table("hrss_size", "enrolment", DAY2, "run-2", spark)["rows_read"] == 3
    assert evaluation_modes[2:] == [True, False]  # read: last batch's 5 (of 8); write: 3
    assert load_table("hrss_size", "enrolment", DAY2, "run-3", spark)["status"] == "unchanged"
    assert evaluation_modes[4:] == [False]  # read: this batch's own 3; nothing written

    db_source(source_dir, tmp_path, "hrss_few", rows[:4])
    assert load_table("hrss_few", "enrolment", DAY1, "run-4", spark)["rows_read"] == 4
    assert evaluation_modes[5:] == [False, False]  # read: the database holds 4
    file_source(source_dir, tmp_path, "vital_size", BIRTHS)
    assert load_table("vital_size", "birth", DAY2, "run-5", spark)["rows_read"] == 4
    assert evaluation_modes[7:] == [False, False]  # read: a first file of 4 records
    file_source(source_dir, tmp_path, "vital_more", BIRTHS + "Q005,钱小燕,女\r\n")
    assert load_table("vital_more", "birth", DAY2, "run-6", spark)["rows_read"] == 5
    assert evaluation_modes[9:] == [True, True]  # read: a first file of 5 records


def test_load_killed_half_way_leaves_previous_version(spark, source_dir, tmp_path, monkeypatch):
    rows = [(i, f"id{i}", "2026-11-25 10:00:00") for i in range(1, 50)]
    db = db_source(source_dir, tmp_path, "hrss_b", rows)
    load_table("hrss_b", "enrolment", DAY1, "run-1", spark)
    before = version_of(spark, "ods.hrss_b__enrolment")
    make_db(db, [(99, "id99", "2026-11-26 08:00:00")])

    def crash_mid_write(ctx, ingested_at):
        from pyspark.sql import functions as F

        def step(df):
            boom = F.raise_error(F.lit("executor lost"))
            return df.withColumn("_run_id", F.when(F.col("enrol_id") == 99, boom).otherwise("x"))

        return step

    original = ingest.with_run_metadata
    monkeypatch.setattr(ingest, "with_run_metadata", _chain(original, crash_mid_write))
    with pytest.raises(SourceError, match="executor lost"):
        load_table("hrss_b", "enrolment", DAY2, "run-2", spark)
    assert version_of(spark, "ods.hrss_b__enrolment") == before
    assert rows_of(spark, "ods.hrss_b__enrolment", DAY2).count() == 0
    monkeypatch.setattr(ingest, "with_run_metadata", original)
    retried = load_table("hrss_b", "enrolment", DAY2, "run-3", spark)
    assert retried["rows_written"] == 1, "the watermark must not have advanced on failure"


def _chain(first, second):
    def make(ctx, ingested_at):
        a, b = first(ctx, ingested_at), second(ctx, ingested_at)
        return lambda df: b(a(df))

    return make


def test_refused_connection_is_retried_then_fails_only_that_source(
    spark, source_dir, tmp_path, monkeypatch
):
    db_source(source_dir, tmp_path, "hrss_c", [(1, "a", "2026-11-25 10:00:00")])
    monkeypatch.setenv("AIRFLOW_CONN_HRSS_C_DB", "postgresql://u:p@127.0.0.1:9/none")
    with pytest.raises(SourceError) as err:
        load_table("hrss_c", "enrolment", DAY1, "run-1", spark)
    text = str(err.value)
    assert "after 3 attempts" in text and "127.0.0.1:9" in text and "p@" not in text
    file_source(source_dir, tmp_path, "vital_e", BIRTHS, day=DAY1)
    assert load_table("vital_e", "birth", DAY1, "run-1", spark)["rows_written"] == 2


def test_a_changed_layout_is_reported_and_follows_the_declared_policy(spark, source_dir, tmp_path):
    folder = file_source(source_dir, tmp_path, "vital_f", BIRTHS, day=DAY1)
    load_table("vital_f", "birth", DAY1, "run-1", spark)
    changed = "出生证编号,新生儿姓名,体重\r\nQ010,钱小宝,3.2\r\n"
    (folder / "birth_20261126.csv").write_bytes(changed.encode("gbk"))
    result = load_table("vital_f", "birth", DAY2, "run-2", spark)
    assert result["schema_change"] == "added ['体重'], dropped ['性别']"
    # Q001 by key: a batch's rows come back in no particular order.
    day1 = rows_of(spark, "ods.vital_f__birth", DAY1).where("birth_cert_no = 'Q001'").first()
    assert day1["性别"] == "男" and day1["体重"] is None, "nothing of yesterday is lost"

    conf = source_dir / "vital_f.yaml"
    conf.write_text(conf.read_text("utf-8") + "    on_schema_change: fail\n", "utf-8")
    before = version_of(spark, "ods.vital_f__birth")
    (folder / "birth_20261126.csv").write_bytes(BIRTHS.encode("gbk"))
    with pytest.raises(
        SourceError, match=r"changed: added \[\], dropped \['体重'\]; the load stopped"
    ):
        load_table("vital_f", "birth", DAY2, "run-3", spark)
    assert version_of(spark, "ods.vital_f__birth") == before


def test_rows_without_a_watermark_are_counted_and_reported(spark, cfg, source_dir, tmp_path):
    """Once a mark exists no incremental read selects a NULL mark: the run counts those rows
    and the night's problems tell the department which table and column to fill."""
    from jobs.feedback.problems import observed

    rows = [(i, f"id{i}", "2026-11-25 10:00:00") for i in range(1, 4)]
    db = db_source(source_dir, tmp_path, "hrss_n", rows)
    first = load_table("hrss_n", "enrolment", DAY1, "run-1", spark)
    assert (first["rows_written"], first["rows_null_watermark"]) == (3, 0)
    make_db(db, [(4, "id4", None), (5, "id5", None), (6, "id6", "2026-11-26 08:00:00")])
    second = load_table("hrss_n", "enrolment", DAY2, "run-2", spark)
    assert (second["rows_written"], second["rows_null_watermark"]) == (1, 2)
    run = spark.sql(
        "SELECT rows_null_watermark FROM ops.load_runs WHERE source_system = 'hrss_n' "
        f"AND batch_date = DATE'{DAY2}' AND status != 'running'"
    ).first()
    assert run.rows_null_watermark == 2

    found = observed(spark, cfg, DAY2, []).where("`table` = 'ods.hrss_n__enrolment'").collect()
    assert [(p.department, p.field, p.value, p.rule, p.origin) for p in found] == [
        ("市人社局", "last_modified", "2 行 rows", "null_watermark", "load")
    ]


def test_rejected_rows_keep_identifiers_masked(spark, source_dir, tmp_path):
    """Issue 17 item 4: ops.rejected_rows is outside the graded ods tables, so a broken row's
    identity number and sole trader's USCC are masked there and in the table's commit log
    (whose column statistics would otherwise copy the raw value); file and line find the row."""
    from govlake.lakehouse import Table

    person, trader = "420704199003071234", "92420704MA4K52Y44R"
    text = (
        f"出生证编号,新生儿姓名,性别\r\nQ101,张小明,男,母亲{person},{trader}\r\nQ102,李小红,女\r\n"
    )
    file_source(source_dir, tmp_path, "vital_m", text)
    assert load_table("vital_m", "birth", DAY2, "run-1", spark)["rows_rejected"] == 1
    [reject] = spark.sql(
        "SELECT source_row, raw_record FROM ops.rejected_rows WHERE source_system = 'vital_m'"
    ).collect()
    assert reject.source_row == 2
    assert reject.raw_record == "Q101,张小明,男,母亲420704********1234,92420704********4R"
    log = Path(Table.parse("ops.rejected_rows").location(settings())) / "_delta_log"
    written = "".join(p.read_bytes().decode("utf-8", "ignore") for p in log.rglob("*.*"))
    assert "Q101" in written and person not in written and trader not in written


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler of the loader records anything."""


def test_a_killed_load_shows_as_abandoned_and_the_rerun_recovers_it(
    spark, cfg, source_dir, tmp_path, monkeypatch
):
    """Issue 20 item 12. A load dies after replacing its batch with a different delivery of
    the same size, before its outcome is recorded: the run shows (abandoned, not a success);
    the rerun with the original delivery says it recovers that run, writes it again (the
    count alone cannot tell) and balances."""
    from jobs.ops import latest_runs_without_jvm

    first = "出生证编号,新生儿姓名\r\nQ001,张小明\r\nQ002,李小红\r\n"
    folder = file_source(source_dir, tmp_path, "nhc_k", first)
    assert load_table("nhc_k", "birth", DAY2, "run-1", spark)["status"] == "success"
    csv = folder / f"birth_{DAY2:%Y%m%d}.csv"
    csv.write_bytes("出生证编号,新生儿姓名\r\nQ001,张大明\r\nQ002,李大红\r\n".encode("gbk"))
    real_write = ingest.write_rows

    def write_then_die(*args):
        real_write(*args)
        raise Killed

    monkeypatch.setattr(ingest, "write_rows", write_then_die)
    with pytest.raises(Killed):
        load_table("nhc_k", "birth", DAY2, "run-2", spark)
    monkeypatch.setattr(ingest, "write_rows", real_write)

    for latest in (latest_runs(spark, cfg, DAY2), latest_runs_without_jvm(cfg)):
        run = latest["ods.nhc_k__birth"]
        assert (run["run_id"], run["status"]) == ("run-2", "abandoned"), run
        assert "killed" in run["error"]

    csv.write_bytes(first.encode("gbk"))
    rerun = load_table("nhc_k", "birth", DAY2, "run-3", spark)
    assert "recovering abandoned run(s) run-2" in rerun["notes"], rerun
    assert (rerun["status"], rerun["balanced"], rerun["rows_written"]) == ("success", True, 2)
    names = {
        r[0] for r in rows_of(spark, "ods.nhc_k__birth", DAY2).select("newborn_name").collect()
    }
    assert names == {"张小明", "李小红"}
    assert latest_runs(spark, cfg, DAY2)["ods.nhc_k__birth"]["run_id"] == "run-3"
    statuses = spark.table("ops.load_runs").where("ods_table = 'ods.nhc_k__birth'")
    assert sorted(r[0] for r in statuses.select("status").collect()) == [
        "running", "running", "running", "success", "success"
    ]  # fmt: skip
    # Recovered once: the night's next rerun is unchanged again, and commits nothing.
    again = load_table("nhc_k", "birth", DAY2, "run-4", spark)
    assert (again["status"], again["delta_version"]) == ("unchanged", rerun["delta_version"])
    assert "recovering" not in (again["notes"] or ""), again


@pytest.mark.parametrize(
    ("system", "lose", "counts"),
    [
        ("vital_lost", "ods.vital_lost__birth WHERE birth_cert_no = 'Q004'",
         "written 1, rejected 2"),
        ("vital_rej", "ops.rejected_rows WHERE source_system = 'vital_rej' AND source_row = 3",
         "written 2, rejected 1"),
    ],
)  # fmt: skip
def test_a_row_lost_after_the_write_unbalances_the_load(
    spark, source_dir, tmp_path, monkeypatch, system, lose, counts
):
    """The balance counts the written side from the tables as they stand (delta-rs), not from
    what the writer reported: a row another process deletes from the batch or its rejects
    between the write and the count fails the load, naming each side."""
    from govlake.errors import GovlakeError

    file_source(source_dir, tmp_path, system, BIRTHS)
    real_write = ingest.write_rows

    def write_then_lose_one(*args):
        real_write(*args)
        spark.sql(f"DELETE FROM {lose}")

    monkeypatch.setattr(ingest, "write_rows", write_then_lose_one)
    with pytest.raises(GovlakeError, match=f"does not balance: read 4, {counts}"):
        load_table(system, "birth", DAY2, "run-1", spark)


def test_writes_beside_the_batch_are_waited_for_and_their_error_raised():
    """The set-aside replaces run beside the batch's write: leaving waits for every one; a
    failed one fails the load after the batch's write, and the batch's own error comes first."""
    import threading
    import time

    from jobs.ingest import running_beside

    release, done = threading.Event(), []

    def slow():
        release.wait(5)
        time.sleep(0.3)  # still running when the body ends: only a wait finds it done
        done.append("slow")

    def broken():
        raise OSError("rejected_rows: disk full")

    with pytest.raises(OSError, match="disk full"):
        with running_beside([slow, broken]):
            release.set()
            done.append("batch")
    assert sorted(done) == ["batch", "slow"]

    release.clear()
    with pytest.raises(ValueError, match="the batch's write"):
        with running_beside([slow, broken]):
            release.set()
            raise ValueError("the batch's write failed")
    assert done.count("slow") == 2  # waited for before the error left
