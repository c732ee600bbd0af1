"""The catalogue of bad inputs (issue 17 item 3, docs/bad_inputs.md): each kind fed to the loader
from a small inline input, with the message the user sees, where its rows go and the balance.

Expected values are read off the bytes written here, never from the loader. The balance is
counted on each side independently: read is the number of records the test wrote; written,
rejected and dropped are counted in ods, ops.rejected_rows and ops.dropped_rows (no test source
has a quality suite, so nothing is quarantined: quality.failed_rows holds none of its rows).
A run that fails must leave the target table at its previous version (or not created).
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3

import pytest

from govlake.errors import GovlakeError
from jobs.ingest import load_table

DAY0, DAY = dt.date(2026, 11, 25), dt.date(2026, 11, 26)

FILE_SOURCE = """\
system: {system}
department: 市民政局
information_system: 测试系统
mode: physical
location:
  path: {folder}
tables:
  - name: t
    file: t_{{ds}}.{fmt}
    format: {fmt}
    encoding: {encoding}
    primary_key: [id]
{extra}"""

DB_SOURCE = """\
system: {system}
department: 市人社局
information_system: 社会保险信息系统
mode: physical
location:
  conn_id: {system}_db
  default_url: jdbc:sqlite:{db}
tables:
  - name: t
    dbtable: t
    primary_key: [id]
{extra}"""


def deliver(source_dir, tmp_path, system, data: bytes, fmt="csv", encoding="utf-8", extra=""):
    folder = tmp_path / system
    folder.mkdir(exist_ok=True)
    (folder / f"t_{DAY:%Y%m%d}.{fmt}").write_bytes(data)
    conf = FILE_SOURCE.format(system=system, folder=folder, fmt=fmt, encoding=encoding, extra=extra)
    (source_dir / f"{system}.yaml").write_text(conf, "utf-8")
    return folder / f"t_{DAY:%Y%m%d}.{fmt}"


def database(source_dir, tmp_path, system, ddl, rows, extra=""):
    db = tmp_path / f"{system}.db"
    with sqlite3.connect(db) as con:
        con.execute(ddl)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    conf = DB_SOURCE.format(system=system, db=db, extra=extra)
    (source_dir / f"{system}.yaml").write_text(conf, "utf-8")
    return db


def version(spark, system):
    table = f"ods.{system}__t"
    if not spark.catalog.tableExists(table):
        return None
    return spark.sql(f"DESCRIBE HISTORY {table}").agg({"version": "max"}).first()[0]


def _count(spark, table, system, day):
    if not spark.catalog.tableExists(table):
        return 0
    where = f"source_system = '{system}' AND batch_date = DATE'{day}'"
    return spark.table(table).where(where).count()


def held(spark, system, day=DAY) -> dict:
    """Where the batch's rows are now, each counted in its own table."""
    ods = f"ods.{system}__t"
    written = (
        spark.table(ods).where(f"_batch_date = DATE'{day}'").count()
        if spark.catalog.tableExists(ods)
        else 0
    )
    failed = 0
    if spark.catalog.tableExists("quality.failed_rows"):
        failed = spark.table("quality.failed_rows").where(f"`table` = '{ods}'").count()
    return {
        "written": written,
        "rejected": _count(spark, "ops.rejected_rows", system, day),
        "quarantined": failed,
        "dropped": _count(spark, "ops.dropped_rows", system, day),
    }


def fails(spark, system, match, day=DAY):
    """The load fails with `match` in its message; the table stays where it was."""
    before = version(spark, system)
    with pytest.raises(GovlakeError) as err:
        load_table(system, "t", day, f"run-{system}-{day}", spark)
    text = str(err.value)
    assert match in text, text
    assert "Traceback" not in text
    assert version(spark, system) == before
    return text


def loads(spark, system, read, day=DAY, **where):
    """The load succeeds, `read` records balance as counted in the tables, rows go to `where`."""
    result = load_table(system, "t", day, f"run-{system}-{day}", spark)
    counts = held(spark, system, day)
    expected = {"written": 0, "rejected": 0, "quarantined": 0, "dropped": 0, **where}
    assert counts == expected
    assert read == sum(counts.values())
    assert result["rows_read"] == read and result["balanced"]
    return result


def ods_rows(spark, system, *columns, day=DAY):
    df = spark.table(f"ods.{system}__t").where(f"_batch_date = DATE'{day}'")
    return sorted(tuple(r[c] for c in columns) for r in df.collect())


def rejects(spark, system):
    rows = spark.table("ops.rejected_rows").where(f"source_system = '{system}'").collect()
    return sorted((r.source_row, r.reason) for r in rows)


# -- encodings ---------------------------------------------------------------------------------


def test_gb18030_only_characters_in_a_gbk_file_name_the_line_and_the_encoding(
    spark, source_dir, tmp_path
):
    """刘䶮: 䶮 (U+4DAE) exists in GB18030 only; GBK cannot hold it, so the file is GB18030."""
    text = "id,name\n1,张三\n2,刘䶮\n"
    deliver(source_dir, tmp_path, "bi_gb", text.encode("gb18030"), encoding="gbk")
    message = fails(spark, "bi_gb", "is not in the declared encoding 'gbk'")
    assert "row 3" in message and "declare encoding: gb18030" in message


def test_a_utf8_bom_before_gbk_text_is_skipped(spark, source_dir, tmp_path):
    data = b"\xef\xbb\xbf" + "id,name\n1,张三\n2,李四\n".encode("gbk")
    deliver(source_dir, tmp_path, "bi_bom", data, encoding="gbk")
    loads(spark, "bi_bom", 2, written=2)
    assert ods_rows(spark, "bi_bom", "id", "name") == [("1", "张三"), ("2", "李四")]


# -- field contents ----------------------------------------------------------------------------


def test_a_1_mb_field_lands_whole(spark, source_dir, tmp_path):
    big = "长" * 1_000_000
    deliver(source_dir, tmp_path, "bi_big", f"id,note\n1,{big}\n2,短\n".encode())
    loads(spark, "bi_big", 2, written=2)
    lengths = [(i, len(n)) for i, n in ods_rows(spark, "bi_big", "id", "note")]
    assert lengths == [("1", 1_000_000), ("2", 1)]


def test_nul_bytes_reject_their_row_with_its_line(spark, source_dir, tmp_path):
    deliver(source_dir, tmp_path, "bi_nul", b"id,name\n1,ab\x00c\n2,ok\n\n3,\x00\n")
    loads(spark, "bi_nul", 3, written=1, rejected=2)
    assert ods_rows(spark, "bi_nul", "id", "name") == [("2", "ok")]
    assert [line for line, _ in rejects(spark, "bi_nul")] == [2, 5]
    assert all("NUL" in reason for _, reason in rejects(spark, "bi_nul"))


def test_duplicate_column_names_fail_before_writing(spark, source_dir, tmp_path):
    deliver(source_dir, tmp_path, "bi_dup", b"id,name,name\n1,a,b\n")
    fails(spark, "bi_dup", "repeated column names")


def test_text_where_a_number_was_lands_as_text(spark, source_dir, tmp_path):
    """Delivered files land as text: a changed type is the quality rules' to report."""
    path = deliver(source_dir, tmp_path, "bi_type", b"id,amount\n1,100\n")
    loads(spark, "bi_type", 1, day=DAY, written=1)
    path.write_bytes("id,amount\n1,一百\n2,100.5\n".encode())
    (path.parent / f"t_{DAY + dt.timedelta(1):%Y%m%d}.csv").write_bytes(path.read_bytes())
    next_day = DAY + dt.timedelta(1)
    loads(spark, "bi_type", 2, day=next_day, written=2)
    assert ods_rows(spark, "bi_type", "id", "amount", day=next_day) == [
        ("1", "一百"),
        ("2", "100.5"),
    ]


# -- JSON --------------------------------------------------------------------------------------


def test_a_json_array_instead_of_lines_says_so(spark, source_dir, tmp_path):
    data = '[{"id": "1", "name": "张三"},\n {"id": "2", "name": "李四"}]\n'.encode()
    deliver(source_dir, tmp_path, "bi_arr", data, fmt="json")
    message = fails(spark, "bi_arr", "a JSON array")
    assert "one object per line" in message


# -- xlsx --------------------------------------------------------------------------------------


def workbook(build) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    build(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_merged_cells_give_their_value_to_every_row_they_span(spark, source_dir, tmp_path):
    def build(book):
        sheet = book.active
        for row in (["id", "district"], ["1", "鄂城区"], ["2", None], ["3", "华容区"]):
            sheet.append(row)
        sheet.merge_cells("B2:B3")

    deliver(source_dir, tmp_path, "bi_merge", workbook(build), fmt="xlsx")
    loads(spark, "bi_merge", 3, written=3)
    assert ods_rows(spark, "bi_merge", "id", "district") == [
        ("1", "鄂城区"),
        ("2", "鄂城区"),
        ("3", "华容区"),
    ]


def test_xlsx_with_several_sheets_and_none_named_fails_naming_them(spark, source_dir, tmp_path):
    def build(book):
        book.active.title = "鄂城区"
        book.active.append(["id"])
        book.active.append(["1"])
        other = book.create_sheet("华容区")
        other.append(["id"])
        other.append(["2"])

    deliver(source_dir, tmp_path, "bi_sheets", workbook(build), fmt="xlsx")
    message = fails(spark, "bi_sheets", "several sheets")
    assert "['鄂城区', '华容区']" in message and "'sheet'" in message


def test_xlsx_formula_without_a_computed_value_rejects_its_row(spark, source_dir, tmp_path):
    """openpyxl (and other tools) write formulas without the value Excel computes on save."""

    def build(book):
        sheet = book.active
        for row in (["id", "qty", "total"], ["1", 2, 4], ["2", 3, "=B3*2"]):
            sheet.append(row)

    deliver(source_dir, tmp_path, "bi_formula", workbook(build), fmt="xlsx")
    loads(spark, "bi_formula", 2, written=1, rejected=1)
    assert ods_rows(spark, "bi_formula", "id", "total") == [("1", "4")]
    [(line, reason)] = rejects(spark, "bi_formula")
    assert line == 3 and "C3" in reason and "=B3*2" in reason


def test_xlsx_dates_as_numbers(spark, source_dir, tmp_path):
    """A date cell is stored as a serial number; formatted as a date it lands as yyyy-mm-dd,
    unformatted it lands as the number the clerk sees (a quality rule reports it)."""

    def build(book):
        sheet = book.active
        sheet.append(["id", "born"])
        sheet.append(["1", dt.datetime(1990, 1, 2)])
        sheet.append(["2", 32875])  # 1990-01-02 as a serial number, general format
        sheet.append(["3", dt.datetime(1990, 1, 2, 8, 30)])

    deliver(source_dir, tmp_path, "bi_xdate", workbook(build), fmt="xlsx")
    loads(spark, "bi_xdate", 3, written=3)
    assert ods_rows(spark, "bi_xdate", "id", "born") == [
        ("1", "1990-01-02"),
        ("2", "32875"),
        ("3", "1990-01-02 08:30:00"),
    ]


# -- keys and increments (database sources) ----------------------------------------------------

TABLE = "CREATE TABLE t (id INTEGER, name TEXT, modified TEXT)"


def test_duplicate_keys_within_a_batch_land_as_delivered(spark, source_dir, tmp_path):
    """ods is the delivery as it came: both rows land; the library build picks one per key."""
    rows = [(1, "张三", "a"), (1, "张叁", "b"), (2, "李四", "c")]
    database(source_dir, tmp_path, "bi_dupkey", TABLE, rows)
    loads(spark, "bi_dupkey", 3, written=3)
    assert ods_rows(spark, "bi_dupkey", "id", "name") == [(1, "张三"), (1, "张叁"), (2, "李四")]


def test_a_key_in_two_batches_lands_in_each(spark, source_dir, tmp_path):
    db = database(source_dir, tmp_path, "bi_keys2", TABLE, [(1, "张三", "a")])
    loads(spark, "bi_keys2", 1, day=DAY0, written=1)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE t SET name = '张叁'")
    loads(spark, "bi_keys2", 1, day=DAY, written=1)
    assert ods_rows(spark, "bi_keys2", "name", day=DAY0) == [("张三",)]
    assert ods_rows(spark, "bi_keys2", "name", day=DAY) == [("张叁",)]


def test_rows_deleted_at_the_source_leave_earlier_batches_whole(spark, source_dir, tmp_path):
    db = database(source_dir, tmp_path, "bi_del", TABLE, [(1, "a", "x"), (2, "b", "x")])
    loads(spark, "bi_del", 2, day=DAY0, written=2)
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM t WHERE id = 2")
    loads(spark, "bi_del", 1, day=DAY, written=1)
    assert ods_rows(spark, "bi_del", "id", day=DAY) == [(1,)]
    assert ods_rows(spark, "bi_del", "id", day=DAY0) == [(1,), (2,)]


def test_a_watermark_that_moves_backwards_fails_naming_both_marks(spark, source_dir, tmp_path):
    """The department restored an older copy: continuing from the loaded mark would skip every
    row changed since the copy was taken, silently."""
    rows = [(1, "a", "2026-11-25 10:00:00"), (2, "b", "2026-11-25 11:00:00")]
    db = database(source_dir, tmp_path, "bi_back", TABLE, rows, "    watermark: modified\n")
    loads(spark, "bi_back", 2, day=DAY0, written=2)
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM t WHERE id = 2")
        con.execute("UPDATE t SET modified = '2026-11-24 09:00:00'")
    message = fails(spark, "bi_back", "moved backwards")
    assert "2026-11-24 09:00:00" in message and "2026-11-25 11:00:00" in message


def test_a_database_failing_mid_read_fails_the_load_and_writes_nothing(spark, source_dir, tmp_path):
    """The probe answers, then the first pass over the rows breaks part way (as a timeout or a
    dropped connection does): SQLite evaluates json('…') of row 2 only when rows are fetched.
    (For SQLite that pass is the check of number columns: the view's computed column has no
    declared type, so the driver reads it as a number.)"""
    view = (
        "CREATE VIEW t AS SELECT id, name, CASE WHEN id = 2 AND (SELECT broken FROM flag) "
        "THEN json('not json') ELSE modified END AS modified FROM t0"
    )
    ddl = "CREATE TABLE t0 (id INTEGER, name TEXT, modified INTEGER)"
    db = database(source_dir, tmp_path, "bi_mid", ddl, [])
    with sqlite3.connect(db) as con:
        rows = [(1, "a", 20261125), (2, "b", 20261126)]
        con.executemany("INSERT INTO t0 VALUES (?, ?, ?)", rows)
        con.execute("CREATE TABLE flag (broken INTEGER)")
        con.execute("INSERT INTO flag VALUES (0)")
        con.execute(view)
    loads(spark, "bi_mid", 2, day=DAY0, written=2)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE flag SET broken = 1")
    message = fails(spark, "bi_mid", "malformed JSON")
    assert "load of ods.bi_mid__t failed" in message


def test_a_file_still_being_written_fails_and_writes_nothing(
    spark, source_dir, tmp_path, monkeypatch
):
    """The department's copy is still running: the file grows while the loader reads it."""
    from jobs import records

    path = deliver(source_dir, tmp_path, "bi_grow", b"id,name\n1,a\n2,b\n")
    parse = records.csv_records

    def growing(handle):
        for n, record in enumerate(parse(handle)):
            if n == 1:
                with path.open("ab") as out:
                    out.write(b"3,c\n4,d\n")
            yield record

    monkeypatch.setattr(records, "csv_records", growing)
    message = fails(spark, "bi_grow", "changed while it was read")
    assert "still being written" in message
    assert held(spark, "bi_grow")["rejected"] == 0


def test_text_where_a_database_number_was_fails_naming_the_column(spark, source_dir, tmp_path):
    """SQLite keeps any value in an INTEGER column; its driver would read 一百 as 0, silently."""
    ddl = "CREATE TABLE t (id INTEGER, amount INTEGER)"
    db = database(source_dir, tmp_path, "bi_dbtype", ddl, [(1, 100), (2, 200)])
    loads(spark, "bi_dbtype", 2, day=DAY0, written=2)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE t SET amount = '一百' WHERE id = 1")
    message = fails(spark, "bi_dbtype", "column amount holds text in 1 row(s)")
    assert "would read them as 0" in message
