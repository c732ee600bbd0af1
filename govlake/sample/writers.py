"""Writers for the source formats: SQLite, CSV (GBK / UTF-8 BOM), xlsx, xls and JSON lines."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from govlake.sample.tables import RawLine, TableSpec

_CORE_TIMES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def csv_line(fields: list) -> str:
    """One CSV record as the csv module writes it, without the line end."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def json_line(columns: tuple[str, ...], row: list) -> str:
    """One JSON object with keys in column order, non-ASCII kept as is."""
    return json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False)


def _ddl(spec: TableSpec) -> str:
    """CREATE TABLE for a SQLite source table; no NOT NULL, departments' data is dirty."""
    cols = [f"{spec.pk} INTEGER PRIMARY KEY"] if spec.pk else []
    for name in spec.columns:
        kind = spec.types.get(name, "TEXT")
        cols.append(f"{name} {kind}")
    return f"CREATE TABLE {spec.table} ({', '.join(cols)})"


def write_sqlite(path: Path, tables: list[tuple[TableSpec, list[list]]]) -> None:
    """Replace the database file with the given tables, keys numbered from 1."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        for spec, rows in tables:
            con.execute(_ddl(spec))
            marks = ", ".join("?" * (len(spec.columns) + (1 if spec.pk else 0)))
            data = ((i, *row) for i, row in enumerate(rows, 1)) if spec.pk else map(tuple, rows)
            con.executemany(f"INSERT INTO {spec.table} VALUES ({marks})", data)
            if spec.watermark:
                index = f"ix_{spec.table}_{spec.watermark}"
                con.execute(f"CREATE INDEX {index} ON {spec.table} ({spec.watermark})")
        con.commit()
    finally:
        con.close()


def write_csv(path: Path, spec: TableSpec, rows: list[list]) -> None:
    """Header plus rows, CRLF line ends, quotes only where needed, in the table's encoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=spec.encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(spec.columns)
        for row in rows:
            if isinstance(row, RawLine):
                handle.write(row + "\r\n")
            else:
                writer.writerow(row)


def write_jsonl(path: Path, spec: TableSpec, rows: list[list]) -> None:
    """One JSON object per line, UTF-8, LF line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            line = row if isinstance(row, RawLine) else json_line(spec.columns, row)
            handle.write(line + "\n")


def _cells(ws, row: list) -> list:
    """Dates become real Excel date cells; everything else stays as is."""
    out = []
    for value in row:
        if isinstance(value, datetime.date):
            cell = WriteOnlyCell(ws, value=value)
            cell.number_format = "yyyy-mm-dd"
            out.append(cell)
        else:
            out.append(value)
    return out


def _pin_zip(path: Path, moment: datetime.datetime) -> None:
    """Rewrite the xlsx archive with fixed entry times and document properties."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>" + stamp + rb"\g<2>", data)
            info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def write_xlsx(path: Path, spec: TableSpec, rows: list[list], moment: datetime.datetime) -> None:
    """A write-only workbook with one sheet; timestamps pinned so reruns are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)
    book.properties.creator = "govlake.sample"
    book.properties.created = moment
    sheet = book.create_sheet(spec.sheet or spec.table)
    if spec.title:
        sheet.append([spec.title])
    sheet.append(list(spec.columns))
    for row in rows:
        sheet.append(_cells(sheet, row))
    book.save(path)
    _pin_zip(path, moment)


def _xls_header(sheet, spec: TableSpec, style) -> None:
    """Two header rows as a department's .xls has them: each group title merged over the
    columns it heads, every other column name merged over both rows."""
    grouped = {c: title for title, cols in spec.header_groups for c in cols}
    col = 0
    while col < len(spec.columns):
        name = spec.columns[col]
        title = grouped.get(name)
        if title is None:
            sheet.write_merge(0, 1, col, col, name, style)
            col += 1
            continue
        width = sum(1 for c in spec.columns[col:] if grouped.get(c) == title)
        sheet.write_merge(0, 0, col, col + width - 1, title, style)
        for offset in range(width):
            sheet.write(1, col + offset, spec.columns[col + offset], style)
        col += width


def write_xls(path: Path, spec: TableSpec, rows: list[list]) -> None:
    """A legacy Excel 97-2003 workbook (BIFF8, xlwt) with one sheet and a two-row merged
    header; dates are real date cells, other values as they are (None: a blank cell)."""
    import xlwt

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(spec.sheet or spec.table)
    header = xlwt.easyxf("font: bold on; align: horiz center, vert center")
    dates = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    _xls_header(sheet, spec, header)
    for number, row in enumerate(rows, start=2):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime.date):
                sheet.write(number, col, value, dates)
            else:
                sheet.write(number, col, value)
    book.save(str(path))
