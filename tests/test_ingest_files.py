"""Files departments really send (issue 20): RFC 4180 quoting, multi-line fields, blank lines,
xlsx title and total rows, UTF-16, empty deliveries, repeated YAML keys, paths outside the root.

Every input is written inline: the expected values are read off the bytes in the test, never
from the loader."""

from __future__ import annotations

import datetime as dt

import pytest

from govlake.errors import ConfigError, SourceError
from govlake.settings import load_settings
from govlake.sources import load_source
from jobs.ingest import load_table

DAY = dt.date(2026, 11, 26)

SOURCE = """\
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
    primary_key: [{key}]
{extra}"""


def configure(source_dir, folder, system, fmt="csv", encoding="utf-8", key="id", extra=""):
    conf = SOURCE.format(
        system=system, folder=folder, fmt=fmt, encoding=encoding, key=key, extra=extra
    )
    path = source_dir / f"{system}.yaml"
    path.write_text(conf, "utf-8")
    return path


def deliver(source_dir, tmp_path, system, data: bytes, **kw):
    folder = tmp_path / system
    folder.mkdir()
    (folder / f"t_{DAY:%Y%m%d}.{kw.get('fmt', 'csv')}").write_bytes(data)
    configure(source_dir, folder, system, **kw)
    return folder


def landed(spark, system, *columns):
    rows = spark.table(f"ods.{system}__t").orderBy("_source_row").collect()
    return [tuple(r[c] for c in columns) for r in rows]


def set_aside(spark, table, system):
    return [
        (r.source_row, r.raw_record, r.reason)
        for r in spark.table(table)
        .where(f"source_system = '{system}'")
        .orderBy("source_row")
        .collect()
    ]


# -- 1-3: silent corruption ------------------------------------------------------------------


def test_doubled_quotes_in_a_quoted_field_are_one_quote(spark, source_dir, tmp_path):
    """RFC 4180 2.7, as Excel writes it: `""` inside a quoted field stands for one `"`."""
    text = 'id,name,note\n1,"Smith, John","He said ""hi"""\n2,"鄂州市""优银""公司",""""\n'
    deliver(source_dir, tmp_path, "q_quotes", text.encode())
    result = load_table("q_quotes", "t", DAY, "run-1", spark)
    assert (result["rows_written"], result["rows_rejected"], result["balanced"]) == (2, 0, True)
    assert landed(spark, "q_quotes", "id", "name", "note") == [
        ("1", "Smith, John", 'He said "hi"'),
        ("2", '鄂州市"优银"公司', '"'),
    ]


def test_a_quoted_line_break_stays_in_one_record_numbered_by_its_first_line(
    spark, source_dir, tmp_path
):
    """A cell with Alt+Enter is one value; a multi-line record that does not fit the header is
    rejected whole with its lines; a quote never closed costs its own line only."""
    text = (
        "id,name,note\r\n"  # line 1
        '1,张三,"第一行\n第二行"\r\n'  # lines 2-3: one record
        '2,"李四\n",x,extra\r\n'  # lines 4-5: four fields, rejected whole
        '3,"王五,never closed\r\n'  # line 6: rejected alone
        "4,赵六,ok\r\n"  # line 7
    )
    deliver(source_dir, tmp_path, "q_multiline", text.encode())
    result = load_table("q_multiline", "t", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (4, 2, 2)
    assert result["balanced"]
    assert landed(spark, "q_multiline", "id", "note", "_source_row") == [
        ("1", "第一行\n第二行", 2),
        ("4", "ok", 7),
    ]
    rejects = set_aside(spark, "ops.rejected_rows", "q_multiline")
    assert [(line, raw) for line, raw, _ in rejects] == [
        (4, '2,"李四\n",x,extra'),
        (6, '3,"王五,never closed'),
    ]
    assert "lines 4-5" in rejects[0][2] and "never closed" in rejects[1][2]
    assert spark.table("ods.q_multiline__t").where("id = '2' OR id = '3'").count() == 0


def test_blank_lines_do_not_shift_line_numbers(spark, source_dir, tmp_path):
    """Rows and rejects name the physical line a clerk sees in an editor."""
    text = "id,name\n\n1,a\n\n\n2,b,extra\n3,c\n"
    deliver(source_dir, tmp_path, "q_blank", text.encode())
    result = load_table("q_blank", "t", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (3, 2, 1)
    assert landed(spark, "q_blank", "id", "_source_row") == [("1", 3), ("3", 7)]
    assert [r[:2] for r in set_aside(spark, "ops.rejected_rows", "q_blank")] == [(6, "2,b,extra")]


# -- 4: xlsx with a title row and a total row --------------------------------------------------

DISABLED = """\
    columns: {身份证号: id_number, 姓名: name}
    drop_rows: [合计]
"""


def xlsx_bytes(rows) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_title_and_total_rows_are_dropped_counted_and_balanced(spark, source_dir, tmp_path):
    """The holdout 残联 layout: a title above the header (found by the declared columns) and a
    合计 row listed in drop_rows; both are counted, kept and named in the run record."""
    sheet = [
        ("鄂州市残疾人基本信息表（2026年11月）",),
        ("身份证号", "姓名", "残疾类别"),
        ("420702199001011234", "张三", "肢体"),
        (None, None, None),
        ("420702198512120021", "李四", "视力"),
        ("合计", None, 500),
    ]
    deliver(
        source_dir,
        tmp_path,
        "q_cdpf",
        xlsx_bytes(sheet),
        fmt="xlsx",
        key="身份证号",
        extra=DISABLED,
    )
    result = load_table("q_cdpf", "t", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (4, 2, 0)
    assert (result["rows_dropped"], result["balanced"]) == (2, True)
    assert "1 title row" in result["notes"] and "1 row(s) listed in drop_rows" in result["notes"]
    assert landed(spark, "q_cdpf", "id_number", "name", "残疾类别", "_source_row") == [
        ("420702199001011234", "张三", "肢体", 3),
        ("420702198512120021", "李四", "视力", 5),
    ]
    dropped = set_aside(spark, "ops.dropped_rows", "q_cdpf")
    assert [(line, raw) for line, raw, _ in dropped] == [
        (1, "鄂州市残疾人基本信息表（2026年11月）"),
        (6, "合计\t\t500"),
    ]
    assert "title" in dropped[0][2] and "合计" in dropped[1][2]
    run = spark.sql(
        "SELECT rows_dropped, balance FROM ops.load_runs WHERE source_system = 'q_cdpf' "
        "AND status != 'running'"
    )
    assert [tuple(r) for r in run.collect()] == [(2, "balanced")]


def test_header_row_option_and_a_missing_column_named_once(source_dir, tmp_path):
    """header_row names the header's line; a missing key column is listed once, not twice."""
    from jobs.readers import FileInput, csv_records_of

    text = "报表\n身份证号,姓名\n1,a\n".encode()
    folder = deliver(
        source_dir, tmp_path, "q_hdr", text, key="身份证号", extra="    header_row: 2\n"
    )
    source = load_source(source_dir / "q_hdr.yaml")
    item = FileInput(source, source.tables[0], folder / f"t_{DAY:%Y%m%d}.csv")
    columns, rows = csv_records_of(item)
    assert columns == ["身份证号", "姓名"]
    assert [(r[3], r[-1] is not None) for r in rows] == [(1, True), (3, False)]

    (folder / f"t_{DAY:%Y%m%d}.csv").write_bytes("报表\n证件号码,姓名\n1,a\n".encode())
    configure(
        source_dir, folder, "q_hdr", key="身份证号", extra="    columns: {身份证号: id_number}\n"
    )
    source = load_source(source_dir / "q_hdr.yaml")
    item = FileInput(source, source.tables[0], folder / f"t_{DAY:%Y%m%d}.csv")
    with pytest.raises(SourceError) as err:
        csv_records_of(item)
    assert "lacks column(s) ['身份证号'];" in str(err.value)


# -- 5-6: encodings and empty deliveries -----------------------------------------------------


def test_utf16_csv_with_bom_loads(spark, source_dir, tmp_path):
    text = "id,name\r\n1,张三\r\n2,李四\r\n"
    deliver(source_dir, tmp_path, "q_utf16", text.encode("utf-16"), encoding="utf-16")
    result = load_table("q_utf16", "t", DAY, "run-1", spark)
    assert (result["rows_written"], result["rows_rejected"]) == (2, 0)
    assert landed(spark, "q_utf16", "id", "name", "_source_row") == [
        ("1", "张三", 2),
        ("2", "李四", 3),
    ]


@pytest.mark.parametrize(
    ("fmt", "encoding", "message"),
    [("json", "utf-16", "cannot be read as JSON lines"), ("csv", "gbk2", "is not known")],
)
def test_unreadable_encoding_is_refused_when_the_config_is_read(
    source_dir, tmp_path, fmt, encoding, message
):
    path = configure(source_dir, tmp_path, "q_enc", fmt=fmt, encoding=encoding)
    with pytest.raises(ConfigError, match=message):
        load_source(path)


def test_empty_file_says_the_delivery_is_empty(spark, source_dir, tmp_path):
    deliver(source_dir, tmp_path, "q_empty", b"")
    with pytest.raises(SourceError) as err:
        load_table("q_empty", "t", DAY, "run-1", spark)
    assert "the delivery is empty (0 bytes)" in str(err.value)
    assert "correct 'columns'" not in str(err.value)


def test_header_only_file_is_recorded_as_an_empty_delivery(spark, source_dir, tmp_path):
    deliver(source_dir, tmp_path, "q_header_only", b"id,name\r\n")
    result = load_table("q_header_only", "t", DAY, "run-1", spark)
    assert (result["status"], result["rows_read"], result["balanced"]) == ("success", 0, True)
    run = spark.sql(
        "SELECT notes FROM ops.load_runs WHERE source_system = 'q_header_only' "
        "AND status != 'running'"
    )
    assert run.first().notes.startswith("empty delivery")


# -- 7: repeated YAML keys -------------------------------------------------------------------


def test_a_repeated_yaml_key_is_refused_with_both_lines(source_dir, tmp_path):
    path = configure(source_dir, tmp_path, "q_dup", encoding="gbk", extra="    encoding: utf-8\n")
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "key 'encoding' appears twice, at lines 11 and 13" in str(err.value)


def test_a_repeated_key_in_the_settings_is_refused(tmp_path):
    from govlake.settings import PROJECT_ROOT

    shipped = (PROJECT_ROOT / "conf" / "settings.yaml").read_text("utf-8")
    path = tmp_path / "settings.yaml"
    path.write_text(shipped.replace("local:\n", "local:\n  spark_master: local[1]\n", 1), "utf-8")
    with pytest.raises(ConfigError, match=r"key 'spark_master' appears twice, at lines 5 and \d+"):
        load_settings("local", path)


# -- 8: paths outside the sources root -------------------------------------------------------


def test_a_path_outside_the_sources_root_is_refused(spark, cfg, source_dir, monkeypatch):
    from govlake.settings import settings

    conf = SOURCE.format(
        system="q_escape",
        folder="../../../../../../../../etc",
        fmt="csv",
        encoding="utf-8",
        key="root",
        extra="",
    ).replace("t_{ds}.csv", "passwd")
    (source_dir / "q_escape.yaml").write_text(conf, "utf-8")
    cfg.sources_root.mkdir(parents=True, exist_ok=True)  # so that ../ resolves through it
    monkeypatch.delenv("GOVLAKE_SOURCE_ROOTS")
    settings.cache_clear()
    try:
        with pytest.raises(SourceError, match="outside the sources root"):
            load_table("q_escape", "t", DAY, "run-1", spark)
        monkeypatch.setenv("GOVLAKE_SOURCE_ROOTS", "/etc")
        settings.cache_clear()
        # Allowed by this environment's roots: read, and refused for its content instead.
        with pytest.raises(SourceError, match="lacks column"):
            load_table("q_escape", "t", DAY, "run-2", spark)
    finally:
        settings.cache_clear()


# -- holdout: a GB18030 CSV with mixed date formats, from its YAML alone ---------------------


def test_gb18030_csv_with_mixed_dates_loads_from_its_yaml_and_balances(spark, source_dir, tmp_path):
    text = (
        "登记编号,姓名,登记日期\r\n"
        "D1,𠮷乐,2026-11-01\r\n"  # 𠮷 is outside GBK: only GB18030 has it
        "D2,欧阳娜娜,2026/11/2\r\n"
        "D3,钱多多,20261103\r\n"
        "D4,孙悟空,2026年11月4日\r\n"
    )
    deliver(
        source_dir,
        tmp_path,
        "q_gb18030",
        text.encode("gb18030"),
        encoding="gb18030",
        key="登记编号",
    )
    result = load_table("q_gb18030", "t", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["balanced"]) == (4, 4, True)
    assert landed(spark, "q_gb18030", "姓名", "登记日期") == [
        ("𠮷乐", "2026-11-01"),
        ("欧阳娜娜", "2026/11/2"),
        ("钱多多", "20261103"),
        ("孙悟空", "2026年11月4日"),
    ]


def test_blank_lines_in_json_lines_do_not_shift_line_numbers(spark, source_dir, tmp_path):
    text = '{"id": "1", "v": "a"}\n\n{"id": "2", "v": "b"}\n  \nnot json\n{"id": "3", "v": "c"}\n'
    deliver(source_dir, tmp_path, "q_jsonl", text.encode(), fmt="json")
    result = load_table("q_jsonl", "t", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (4, 3, 1)
    assert landed(spark, "q_jsonl", "id", "_source_row") == [("1", 1), ("2", 3), ("3", 6)]
    assert [r[:2] for r in set_aside(spark, "ops.rejected_rows", "q_jsonl")] == [(5, "not json")]


# -- 13: a batch changed outside the loader --------------------------------------------------


def test_a_batch_deleted_outside_the_loader_is_repaired_by_a_rerun(spark, source_dir, tmp_path):
    deliver(source_dir, tmp_path, "q_repair", b"id,name\n1,a\n2,b\n3,c\n")
    assert load_table("q_repair", "t", DAY, "run-1", spark)["rows_written"] == 3
    spark.sql("DELETE FROM ods.q_repair__t WHERE id = '2'")
    again = load_table("q_repair", "t", DAY, "run-2", spark)
    assert (again["status"], again["rows_written"], again["balanced"]) == ("success", 3, True)
    assert again["notes"].startswith("repaired: the batch held 2 rows, not the 3")
    assert [r[0] for r in landed(spark, "q_repair", "id")] == ["1", "2", "3"]
