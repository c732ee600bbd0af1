"""Legacy Excel 97-2003 (.xls) deliveries (issue 13: 市应急管理局): a two-row header with merged
group cells, an extra header row, a corrupt file, an .xlsx under an .xls name, and the
generated mem_hazchem workbooks read back as the generator wrote them.

Expected values come from the cells written here (or the generator's rows), never from the
reader."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from test_bad_inputs import DAY, DAY0, deliver, fails, loads, ods_rows

HEADER = (
    "    header_row: 2\n    columns: {id: id, 名称: name, 检查日期: checked, 隐患数: hazards}\n"
)


def xls_bytes(rows, title=None, groups=((0, 2, "检查情况"),)) -> bytes:
    """A workbook as a department writes it: an optional title row merged over the width,
    then `id` and 名称 merged over two header rows, and each group title merged over the
    columns it heads. `rows` are the data rows."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("检查")
    top = 0
    if title:
        sheet.write_merge(0, 0, 0, 3, title)
        top = 1
    sheet.write_merge(top, top + 1, 0, 0, "id")
    sheet.write_merge(top, top + 1, 1, 1, "名称")
    for first, last, name in groups:
        sheet.write_merge(top, top, first + 2, last + 1, name)
    sheet.write(top + 1, 2, "检查日期")
    sheet.write(top + 1, 3, "隐患数")
    dates, plain = xlwt.easyxf(num_format_str="yyyy-mm-dd"), xlwt.Style.default_style
    for number, row in enumerate(rows, start=top + 2):
        for col, value in enumerate(row):
            if value is not None:
                sheet.write(number, col, value, dates if isinstance(value, dt.date) else plain)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ROWS = [["1", "鄂州市甲化工有限公司", dt.date(2026, 3, 2), 2], ["2", "乙公司", "2026/04/01", 0]]
SYSTEM = "xls_hz"


def deliver_on(source_dir, tmp_path, data: bytes, day=DAY, fmt="xls", extra=HEADER):
    """The workbook as the delivery of `day` (test_bad_inputs.deliver writes DAY's file)."""
    path = deliver(source_dir, tmp_path, SYSTEM, data, fmt=fmt, extra=extra)
    if day != DAY:
        path.rename(path.with_name(f"t_{day:%Y%m%d}.{fmt}"))


@pytest.fixture(scope="module")
def loaded(spark, tmp_path_factory):
    """One good delivery on DAY0: every bad delivery of DAY below must leave it as it is."""
    import os

    folder = tmp_path_factory.mktemp("xls")
    conf = folder / "conf_sources"
    conf.mkdir()
    before = os.environ.get("GOVLAKE_SOURCES_DIR")
    os.environ["GOVLAKE_SOURCES_DIR"] = str(conf)
    try:
        deliver_on(conf, folder, xls_bytes(ROWS), day=DAY0)
        # Read: the group row (dropped, counted) and two data rows.
        loads(spark, SYSTEM, 3, day=DAY0, written=2, dropped=1)
    finally:
        if before is None:
            os.environ.pop("GOVLAKE_SOURCES_DIR")
        else:
            os.environ["GOVLAKE_SOURCES_DIR"] = before
    return folder


def test_a_merged_two_row_header_loads_dates_and_numbers_as_the_clerk_reads_them(spark, loaded):
    rows = ods_rows(spark, SYSTEM, "id", "name", "checked", "hazards", "_source_row", day=DAY0)
    assert rows == [
        ("1", "鄂州市甲化工有限公司", "2026-03-02", "2", 3),
        ("2", "乙公司", "2026/04/01", "0", 4),
    ]


def test_an_extra_header_row_fails_naming_the_row_that_holds_the_header(
    spark, loaded, source_dir, tmp_path
):
    titled = xls_bytes(ROWS, title="鄂州市危险化学品企业监督检查台账（2026年11月）")
    deliver_on(source_dir, tmp_path, titled)
    message = fails(spark, SYSTEM, "row 3 holds them")
    assert f"source {SYSTEM}" in message and "t_20261126.xls" in message and "row 2" in message
    assert "1 extra row(s) above its header" in message
    assert "header_row: 3" in message and "市民政局" in message


def test_a_corrupt_xls_fails_and_leaves_the_table(spark, loaded, source_dir, tmp_path):
    # A transfer cut the file short: the OLE2 signature is there, the sectors are not.
    deliver_on(source_dir, tmp_path, xls_bytes(ROWS)[:1500])
    message = fails(spark, SYSTEM, "is not a readable Excel 97-2003 workbook (.xls)")
    assert "t_20261126.xls" in message and "save it again as Excel 97-2003" in message


def read_back(tmp_path, data: bytes, extra=HEADER):
    """The reader alone (no Spark) on one delivery: its columns and rows, or its SourceError."""
    from govlake.sources import load_source
    from jobs.readers import FileInput, xls_rows

    deliver(tmp_path, tmp_path, "xls_read", data, fmt="xls", extra=extra)
    source = load_source(tmp_path / "xls_read.yaml")
    path = tmp_path / "xls_read" / f"t_{DAY:%Y%m%d}.xls"
    return xls_rows(FileInput(source, source.tables[0], path))


def test_an_xlsx_delivered_as_xls_says_so(tmp_path):
    from openpyxl import Workbook

    from govlake.errors import SourceError

    book = Workbook()
    book.active.append(["id"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(SourceError, match=r"it is an \.xlsx workbook \(a ZIP archive\)") as err:
        read_back(tmp_path, out.getvalue())
    assert "format: xlsx" in str(err.value) and "source xls_read" in str(err.value)


def test_an_empty_xls_is_an_empty_delivery(tmp_path):
    from govlake.errors import SourceError

    with pytest.raises(SourceError, match=r"the delivery is empty \(0 bytes\)"):
        read_back(tmp_path, b"")


def test_several_sheets_and_none_named_fail_naming_them(tmp_path):
    import xlwt

    from govlake.errors import SourceError

    book = xlwt.Workbook(encoding="utf-8")
    for name in ("鄂城区", "华容区"):
        book.add_sheet(name).write(0, 0, "id")
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(SourceError, match=r"several sheets \['鄂城区', '华容区'\]"):
        read_back(tmp_path, out.getvalue(), extra="")


def test_rows_past_the_header_width_are_rejected_by_the_shared_sheet_logic(tmp_path):
    """The reader gives xls rows to the same record logic as xlsx (no Spark needed here)."""

    rows = [*ROWS, ["3", "丙公司", dt.date(2026, 5, 6), 1, "补录"]]
    columns, got = read_back(tmp_path, xls_bytes(rows))
    assert columns == ["id", "name", "checked", "hazards"]
    rejected = [(r[5], r[7]) for r in got if r[7]]
    assert rejected == [(5, "has 1 value(s) beyond the header's 4 columns")]


def test_the_generated_hazchem_workbooks_read_back_as_generated(tmp_path):
    """Each generated .xls, read by the project's reader, gives the generator's rows (defect-free
    rows compared value by value; a row's sheet row is its data position + 2)."""
    from govlake.sample import sources_hazchem as hz
    from govlake.sample.config import load_config
    from govlake.sample.generate import build_world
    from govlake.sample.writers import write_xls
    from govlake.sources import get_table
    from jobs.readers import FileInput, xls_rows

    world = build_world(1500, DAY, 7, load_config())
    data = hz.inspection_table(world, "20261126")
    path = tmp_path / "inspection.xls"
    write_xls(path, data.spec, data.rows)
    source, spec = get_table("mem_hazchem", "inspection")
    columns, rows = xls_rows(FileInput(source, spec, path))
    got = [r[: len(columns)] for r in rows if r[-1] is None]
    assert [r[len(columns) + 1] for r in rows if r[-1] is None][0] == 3
    assert len(got) == len(data.rows) > 0

    def text(v):
        return None if v is None else v.isoformat() if isinstance(v, dt.date) else str(v)

    assert got == [tuple(text(v) for v in row) for row in data.rows]
