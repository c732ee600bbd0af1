"""Read one department table or delivered file into a raw DataFrame.

Every reader returns the source's own columns (renamed per conf) as they arrived, plus
`_source_file`, `_source_row` and `_raw_record` / `_reject_reason` for rows that do not
parse, so nothing is dropped and every row can be traced back to its origin.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.errors import SourceError
from govlake.settings import Settings
from govlake.sources import SourceSystem, TableSpec
from jobs import records

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CORRUPT = "_corrupt_record"
UTF8_BOM = b"\xef\xbb\xbf"
JAVA_CHARSETS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf8": "UTF-8", "gbk": "GBK"}
SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class FileInput:
    """A delivered file resolved for one logical date."""

    source: SourceSystem
    spec: TableSpec
    path: Path
    # (size, modification time) when the load found the file; compared after the read.
    seen: tuple[int, int] = (0, 0)

    @property
    def conf_file(self) -> str:
        return str(self.source.file_path)


def resolve_file(source: SourceSystem, spec: TableSpec, day: dt.date, cfg: Settings) -> FileInput:
    """The file for this logical date, or a clear error when the department did not deliver it."""
    folder = Path(source.location.path)
    folder = folder if folder.is_absolute() else cfg.sources_root / folder
    path = folder / spec.file.format(ds=day.strftime("%Y%m%d"))
    _check_inside_roots(source, path, cfg)
    if not path.is_file():
        raise SourceError(
            f"the {spec.format} file for table '{spec.name}' on {day} was not delivered.",
            source=source.system,
            file=str(path),
            fix=f"ask {source.department} to deliver it, or correct 'file'/'path' in "
            f"{source.file_path}; other sources are not affected.",
        )
    return FileInput(source, spec, path, _stat(path))


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def check_settled(item: FileInput) -> None:
    """The file is as it was when the load found it: a department still copying it, or
    rewriting it, would give a batch of half the old and half the new delivery."""
    now = _stat(item.path) if item.path.exists() else (-1, -1)
    if now != item.seen:
        raise SourceError(
            f"changed while it was read (size {item.seen[0]} -> {now[0]} bytes): it was "
            "still being written or was replaced; nothing was written.",
            source=item.source.system,
            file=str(item.path),
            fix=f"ask {item.source.department} to deliver under a temporary name and rename "
            "when complete; rerun the load once the file stays unchanged.",
        )


def _check_inside_roots(source: SourceSystem, path: Path, cfg: Settings) -> None:
    """A file source reads under sources_root or a root the environment allows, nowhere else
    (`path: ../../../../etc` with `file: passwd` must not load /etc/passwd)."""
    real = path.resolve()
    roots = [cfg.sources_root.resolve(), *cfg.source_roots]
    if not any(real.is_relative_to(root) for root in roots):
        raise SourceError(
            f"the file resolves to {real}, outside the sources root {roots[0]} and the allowed "
            f"roots {[str(r) for r in cfg.source_roots]}; it was not read.",
            source=source.system,
            file=str(path),
            fix=f"give a 'path' inside the sources root in {source.file_path}, or add its folder "
            "to source_roots of this environment in conf/settings.yaml.",
        )


def _skips_bom(item: FileInput) -> int:
    """Bytes of a UTF-8 byte-order mark ahead of text declared in a non-UTF encoding: a tool
    converting a GBK export sometimes keeps it; decoded as GBK it would garble the header."""
    if item.spec.encoding.lower().replace("_", "-").startswith("utf"):
        return 0
    with item.path.open("rb") as handle:
        return len(UTF8_BOM) if handle.read(len(UTF8_BOM)) == UTF8_BOM else 0


def open_text(item: FileInput):
    """The file as text in its declared encoding (newline='' for the csv module), a UTF-8 BOM
    ahead of GBK text skipped."""
    handle = item.path.open("rb")
    handle.seek(_skips_bom(item))
    return io.TextIOWrapper(handle, encoding=item.spec.encoding, newline="")


def check_encoding(item: FileInput) -> None:
    """Decode the whole file strictly in the declared encoding; name the first bad line."""
    encoding = item.spec.encoding
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with item.path.open("rb") as handle:
        handle.seek(_skips_bom(item))
        for chunk in iter(lambda: handle.read(SNIFF_BYTES), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                row = line + chunk[: exc.start].count(b"\n")
                raise _encoding_error(item, row, _wider_encoding(item)) from None
            line += chunk.count(b"\n")
    if encoding.lower() not in JAVA_CHARSETS or encoding.lower().startswith("utf"):
        return
    head = item.path.read_bytes()[_skips_bom(item) :][:SNIFF_BYTES]
    if not head.isascii() and _is_utf8(head):
        raise _encoding_error(item, None, "it decodes as UTF-8, which a GBK export never does")


def _wider_encoding(item: FileInput) -> str:
    """Why a GBK file may not decode: GB18030 holds characters GBK lacks (rare name characters
    such as 䶮); say so when the whole file decodes as GB18030."""
    if item.spec.encoding.lower() not in ("gbk", "gb2312", "cp936"):
        return ""
    try:
        item.path.read_bytes()[_skips_bom(item) :].decode("gb18030")
    except UnicodeDecodeError:
        return ""
    return "it decodes as gb18030, which holds characters GBK lacks: declare encoding: gb18030"


def _is_utf8(data: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data)
    except UnicodeDecodeError:
        return False
    return True


def _encoding_error(item: FileInput, row: int | None, why: str = "") -> SourceError:
    detail = f" ({why})" if why else ""
    return SourceError(
        f"is not in the declared encoding '{item.spec.encoding}'{detail}.",
        source=item.source.system,
        file=str(item.path),
        row=row,
        fix=f"ask {item.source.department} to re-export it as {item.spec.encoding}, or correct "
        f"'encoding' for table '{item.spec.name}' in {item.conf_file}.",
    )


def _check_columns(item: FileInput, header: list[str], row: int = 1) -> list[str]:
    declared = list(dict.fromkeys([*item.spec.primary_key, *item.spec.columns]))
    missing = [c for c in declared if c not in header]
    if missing:
        raise SourceError(
            f"the header lacks column(s) {missing}; it has {header}.",
            source=item.source.system,
            file=str(item.path),
            row=row,
            fix=f"correct 'columns'/'primary_key' (or 'header_row') of table '{item.spec.name}' "
            f"in {item.conf_file}, or ask {item.source.department} for the agreed layout.",
        )
    names = [item.spec.ods_column(c.strip()) for c in header]
    if len(set(names)) != len(names) or not all(names):
        raise SourceError(
            f"the header has empty or repeated column names: {header}.",
            source=item.source.system,
            file=str(item.path),
            row=row,
            fix="ask the department for a header with one distinct name per column.",
        )
    return names


def _empty(item: FileInput) -> SourceError:
    size = item.path.stat().st_size
    what = "0 bytes" if size == 0 else "no header and no rows, only blank lines"
    return SourceError(
        f"the delivery is empty ({what}).",
        source=item.source.system,
        file=str(item.path),
        fix=f"ask {item.source.department} to deliver the file again with its header and rows; "
        "the configuration is not at fault.",
    )


def _rows_schema(columns: list[str]):
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType(
        [StructField(c, StringType()) for c in columns]
        + [
            StructField("_source_file", StringType()),
            StructField("_source_row", LongType()),
            StructField("_raw_record", StringType()),
            StructField("_reject_reason", StringType()),
            StructField("_drop_reason", StringType()),
        ]
    )


def file_rows(item: FileInput, found: Iterator[records.Record], strict_width: bool):
    """The ods columns and rows of a file's records: titles above the header and listed total
    rows dropped with a reason, records that do not fit the header rejected with theirs."""
    header, above = records.split_header(found, item.spec, _empty(item))
    columns = _check_columns(item, records.header_names(header), header.line)
    rows = records.to_rows(header, above, found, item.spec, str(item.path), strict_width)
    return columns, rows


def read_csv(spark: SparkSession, item: FileInput) -> tuple[DataFrame, int]:
    """CSV in the declared encoding, parsed as RFC 4180 (jobs.records); every record keeps the
    physical line it starts on, and records that do not parse are kept with their raw text.
    With the frame, its rows: decoded here in Python, so known before Spark reads them."""
    columns, rows = csv_records_of(item)
    # One partition in file order, as Spark's CSV reader gave: the batch is written as one file.
    return spark.createDataFrame(rows, _rows_schema(columns)).coalesce(1), len(rows)


def csv_records_of(item: FileInput) -> tuple[list[str], list[tuple]]:
    """The ods columns and the rows of a CSV file, after checking its encoding."""
    check_encoding(item)
    with open_text(item) as handle:
        return file_rows(item, records.csv_records(handle), strict_width=True)


def _string_schema(columns: list[str]):
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(c, StringType()) for c in [*columns, CORRUPT]])


def record_lines(item: FileInput) -> list[int]:
    """The physical line of each JSON record: Spark skips blank lines, so the n-th record sits
    on the n-th non-blank line, not on line n."""
    with item.path.open(encoding=item.spec.encoding) as handle:
        return [n for n, line in enumerate(handle, start=1) if line.strip(" \t\r\n")]


def with_line_numbers(
    spark: SparkSession, df: DataFrame, item: FileInput, reason: str, lines: list[int]
) -> DataFrame:
    """Number records in file order by their physical line; Spark's corrupt-record column
    becomes a reason."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.orderBy("_mid")
    physical = spark.createDataFrame(list(enumerate(lines, start=1)), "_nth long, _source_row long")
    numbered = (
        df.withColumn("_mid", F.monotonically_increasing_id())
        .withColumn("_nth", F.row_number().over(order).cast("long"))
        .join(F.broadcast(physical), on="_nth", how="left")
        .drop("_mid", "_nth")
    )
    return numbered.select(
        *[c for c in df.columns if c != CORRUPT],
        F.lit(str(item.path)).alias("_source_file"),
        "_source_row",
        F.col(CORRUPT).alias("_raw_record"),
        F.when(F.col(CORRUPT).isNotNull(), F.lit(reason)).alias("_reject_reason"),
        F.lit(None).cast("string").alias("_drop_reason"),
    )


def json_keys(item: FileInput, sample_lines: int = 1000) -> list[str]:
    """Keys of the first records, in first-seen order (JSON lines carry no header)."""
    keys: dict[str, None] = {}
    with item.path.open(encoding=item.spec.encoding) as handle:
        for _, line in zip(range(sample_lines), handle, strict=False):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
    return list(keys)


def _refuse_json_array(item: FileInput) -> None:
    """A file holding one JSON array is a different format: read as lines, its first line has
    no keys and every record would be rejected (or the header said to lack every column)."""
    with item.path.open(encoding=item.spec.encoding) as handle:
        first = handle.read(SNIFF_BYTES).lstrip("\ufeff \t\r\n")[:1]
    if first == "[":
        raise SourceError(
            "is a JSON array ([...]), not JSON lines (one object per line).",
            source=item.source.system,
            file=str(item.path),
            row=1,
            fix=f"ask {item.source.department} to export JSON lines: one object per line, "
            "no enclosing brackets and no commas between records.",
        )


def read_json(spark: SparkSession, item: FileInput) -> tuple[DataFrame, int]:
    """JSON lines; values kept as their raw text, lines that are not JSON objects kept raw.
    With the frame, its rows: one per non-blank line, counted before Spark reads them."""
    check_encoding(item)
    lines = record_lines(item)
    if not lines:
        raise _empty(item)
    _refuse_json_array(item)
    source_columns = json_keys(item)
    ods_columns = _check_columns(item, source_columns)
    df = (
        spark.read.schema(_string_schema(source_columns))
        .option("encoding", JAVA_CHARSETS.get(item.spec.encoding.lower(), item.spec.encoding))
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        # Strict JSON: a Python-style {'k': 'v'} line is a broken export, not a record.
        .option("allowSingleQuotes", False)
        .json(str(item.path))
    )
    df = df.withColumnsRenamed(dict(zip(source_columns, ods_columns, strict=True)))
    return with_line_numbers(spark, df, item, "is not a complete JSON object", lines), len(lines)


def _cell_text(value: object) -> str | None:
    """Excel cells as the text a department clerk would read off the sheet."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d" if value.time() == dt.time() else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip("\n") if isinstance(value, str) else str(value)


def sheet_records(sheet, merged: dict, formulas: dict) -> Iterator[records.Record]:
    """The rows of an openpyxl worksheet as records numbered by sheet row (see cell_records)."""
    return cell_records(sheet.iter_rows(values_only=True), merged, formulas)


def cell_records(rows, merged: dict, formulas: dict) -> Iterator[records.Record]:
    """Rows of cell values (xlsx or xls) as records numbered by sheet row. A merged cell's value
    stands in every cell it spans (as the clerk reads it); a formula without a computed value
    rejects its row, as its value is unknown."""
    for number, cells in enumerate(rows, start=1):
        values = [merged.get((number, col), v) for col, v in enumerate(cells, start=1)]
        texts = [_cell_text(c) for c in values]
        raw = "\t".join("" if t is None else t for t in texts).rstrip("\t")
        lost = [
            f"cell {ref} holds the formula {formulas[number, col]} without a computed value"
            for col, v in enumerate(values, start=1)
            if v is None and (number, col) in formulas
            for ref in [f"{_column_letter(col)}{number}"]
        ]
        error = "; ".join(lost) + " (open and save the file in Excel)" if lost else None
        yield records.Record(number, number, texts, raw, error)


def _column_letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col)


def _merged_values(sheet) -> dict:
    """(row, column) -> the value of the merged range covering it, for every cell of a range."""
    out = {}
    for cells in sheet.merged_cells.ranges:
        value = sheet.cell(cells.min_row, cells.min_col).value
        for row, col in cells.cells:
            out[row, col] = value
    return out


def _formulas(path: Path, title: str) -> dict:
    """(row, column) -> formula text of the sheet's formula cells (a second, formula-only read:
    openpyxl gives either the formulas or the values Excel computed, not both)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=False)
    try:
        return {
            (cell.row, cell.column): cell.value
            for row in book[title].iter_rows()
            for cell in row
            if getattr(cell, "data_type", None) == "f"
        }
    finally:
        book.close()


def _sheet(book, item: FileInput):
    """The declared sheet of an openpyxl workbook (see sheet_name)."""
    return book[sheet_name(book.sheetnames, item)]


def sheet_name(names: list[str], item: FileInput) -> str:
    """The declared sheet; with none declared, the only sheet (several: which one is unknown)."""
    if item.spec.sheet is None and len(names) > 1:
        raise SourceError(
            f"has several sheets {names} and table '{item.spec.name}' names none.",
            source=item.source.system,
            file=str(item.path),
            fix=f"set 'sheet' of table '{item.spec.name}' in {item.conf_file} to the sheet "
            f"to load, or ask {item.source.department} for one sheet per file.",
        )
    if item.spec.sheet is not None and item.spec.sheet not in names:
        raise SourceError(
            f"has no sheet '{item.spec.sheet}'; it has {names}.",
            source=item.source.system,
            file=str(item.path),
            fix=f"correct 'sheet' of table '{item.spec.name}' in {item.conf_file}.",
        )
    return item.spec.sheet or names[0]


def _declared_on(found: list[records.Record], spec: TableSpec) -> int | None:
    """The first sheet row holding every declared column, if any."""
    declared = set(records.declared(spec))
    return next((r.line for r in found if declared <= set(records.header_names(r))), None)


def sheet_rows(item: FileInput, found: list[records.Record]) -> tuple[list[str], list[tuple]]:
    """file_rows of a whole worksheet. When the declared header row lacks the declared columns
    but a later row holds them, the sheet gained a row above its header (a title, or a
    second group row of a merged header): say where the header is now."""
    try:
        return file_rows(item, iter(found), strict_width=False)
    except SourceError:
        declared, moved = item.spec.header_row, _declared_on(found, item.spec)
        if declared is None or moved is None or moved == declared:
            raise
        raise SourceError(
            f"row {declared}, the declared header row, lacks the declared columns; row {moved} "
            f"holds them: the sheet has {moved - declared} extra row(s) above its header "
            "(a title or another header row); nothing was loaded.",
            source=item.source.system,
            file=str(item.path),
            row=declared,
            fix=f"ask {item.source.department} to deliver the agreed layout (header on row "
            f"{declared}), or, if the layout changed for good, set 'header_row: {moved}' of "
            f"table '{item.spec.name}' in {item.conf_file}.",
        ) from None


def xlsx_rows(item: FileInput) -> tuple[list[str], list[tuple]]:
    """Header and rows of the declared sheet; rows wider than the header are rejects."""
    from openpyxl import load_workbook

    # Not read-only: merged ranges are known only to a fully loaded sheet.
    book = load_workbook(item.path, data_only=True)
    try:
        sheet = _sheet(book, item)
        merged, formulas = _merged_values(sheet), _formulas(item.path, sheet.title)
        return sheet_rows(item, list(sheet_records(sheet, merged, formulas)))
    finally:
        book.close()


def read_xlsx(spark: SparkSession, item: FileInput) -> tuple[DataFrame, int]:
    """An Excel workbook, read with openpyxl (Spark has no built-in xlsx reader); and its
    rows."""
    columns, rows = xlsx_rows(item)
    return spark.createDataFrame(rows, _rows_schema(columns)), len(rows)


# Magic bytes: an OLE2 compound document (BIFF8 .xls), and a ZIP archive (.xlsx).
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


def _unreadable_xls(item: FileInput, why: str) -> SourceError:
    return SourceError(
        f"is not a readable Excel 97-2003 workbook (.xls): {why}; nothing was loaded.",
        source=item.source.system,
        file=str(item.path),
        fix=f"ask {item.source.department} to save it again as Excel 97-2003 (.xls) and "
        f"deliver it again; if they now deliver .xlsx, set 'format: xlsx' and 'file' of table "
        f"'{item.spec.name}' in {item.conf_file}.",
    )


def _xls_book(item: FileInput):
    """The workbook, with formatting (merged ranges are known only then)."""
    import xlrd

    head = item.path.read_bytes()[:8]
    if not head:
        raise _empty(item)
    if head.startswith(ZIP_MAGIC):
        raise _unreadable_xls(item, "it is an .xlsx workbook (a ZIP archive)")
    if head != OLE2_MAGIC:
        raise _unreadable_xls(item, "it does not start as an OLE2 compound document")
    try:
        return xlrd.open_workbook(str(item.path), formatting_info=True)
    # xlrd reports a broken BIFF stream with several exception types (XLRDError,
    # CompDocError, struct.error, AssertionError, IndexError): each is a corrupt delivery.
    except Exception as exc:  # noqa: BLE001
        raise _unreadable_xls(item, f"{type(exc).__name__}: {exc}") from None


def _xls_value(cell, datemode: int) -> object:
    """A cell as openpyxl would give it: dates as datetimes, empty cells as None."""
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        return xlrd.xldate_as_datetime(cell.value, datemode)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    return cell.value


def xls_rows(item: FileInput) -> tuple[list[str], list[tuple]]:
    """Header and rows of the declared sheet of a legacy .xls workbook (BIFF), read with xlrd.
    Formula cells hold the value Excel computed (BIFF always stores it)."""
    book = _xls_book(item)
    try:
        sheet = book.sheet_by_name(sheet_name(book.sheet_names(), item))
        rows = [[_xls_value(c, book.datemode) for c in sheet.row(r)] for r in range(sheet.nrows)]
        merged = {
            (row + 1, col + 1): rows[top][left]
            for top, bottom, left, right in sheet.merged_cells
            for row in range(top, bottom)
            for col in range(left, right)
            if left < len(rows[top])
        }
        return sheet_rows(item, list(cell_records(rows, merged, {})))
    finally:
        book.release_resources()


def read_xls(spark: SparkSession, item: FileInput) -> tuple[DataFrame, int]:
    """A legacy Excel 97-2003 workbook (.xls), read with xlrd (Spark reads neither Excel); and
    its rows."""
    columns, rows = xls_rows(item)
    return spark.createDataFrame(rows, _rows_schema(columns)), len(rows)


@dataclass(frozen=True)
class Increment:
    """The watermark window of one load: rows with low <= mark <= high (ties resolved later)."""

    low: str | None
    high: str | None

    def reads_null_marks(self) -> bool:
        """Whether the window selects rows whose watermark is NULL: only a first load of a
        table with no mark at all does (see window_filter); any other comparison leaves them out."""
        return self.low is None and self.high is None


def jdbc_reader(spark: SparkSession, target, fetchsize: int):
    reader = spark.read.format("jdbc").option("fetchsize", fetchsize)
    for key, value in target.read_options().items():
        reader = reader.option(key, value)
    return reader


def window_filter(spec: TableSpec, window: Increment | None, schema):
    """The watermark window as a DataFrame filter, or None. Spark pushes it to the database,
    writing each mark as a literal through its JDBC dialect (quotes escaped): a mark read from
    the department's database is never pasted into SQL text by this project. Spark's JDBC
    source offers no bound parameters for reads; this is the nearest it has."""
    if not spec.watermark or window is None:
        return None
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    name = next(f.name for f in schema.fields if f.name.lower() == spec.watermark.lower())
    mark = F.col(f"`{name}`")
    kind = schema[name].dataType

    def value(text: str):
        literal = F.lit(text)
        return literal if isinstance(kind, StringType) else literal.cast(kind)

    high = mark <= value(window.high) if window.high else mark.isNull()
    return (mark >= value(window.low)) & high if window.low else high


def partition_column(spec: TableSpec) -> str | None:
    """The declared partition column, or a single-column primary key (numeric keys split well)."""
    return spec.partition_column or (spec.primary_key[0] if len(spec.primary_key) == 1 else None)


def probe(spark: SparkSession, target, spec: TableSpec, cfg: Settings):
    """One small query: key range for parallel reads, the current high watermark and the rows
    without a watermark (NULL), which no incremental read selects."""
    column = partition_column(spec)
    select, types = ["COUNT(*) AS n"], ["n LONG"]
    if column:
        select += [f"MIN({column}) AS lo", f"MAX({column}) AS hi"]
        types += ["lo STRING", "hi STRING"]
    if spec.watermark:
        select += [f"MAX({spec.watermark}) AS high", f"COUNT(*) - COUNT({spec.watermark}) AS nulls"]
        types += ["high STRING", "nulls LONG"]
    query = f"SELECT {', '.join(select)} FROM {spec.dbtable}"
    reader = jdbc_reader(spark, target, cfg.jdbc_fetchsize).option("query", query)
    # Aggregates carry no declared type in some drivers (SQLite): read them as text.
    return reader.option("customSchema", ", ".join(types)).load().first()


def _numeric(bounds: dict | None, key: str) -> int | None:
    """An integer key bound, or None when the key is not numeric (no parallel split then)."""
    try:
        return int(bounds[key])
    except (TypeError, ValueError, KeyError):
        return None


def _check_sqlite_numbers(
    spark: SparkSession, target, spec: TableSpec, cfg: Settings, schema, system
):
    """SQLite stores any value in any column; for a column declared a number its driver reads
    text as 0, silently. Count such values first and stop the load, naming the column."""
    from pyspark.sql.types import NumericType

    numbers = [f.name for f in schema.fields if isinstance(f.dataType, NumericType)]
    if not numbers:
        return
    quoted = {n: '"' + n.replace('"', '""') + '"' for n in numbers}
    select = ", ".join(f"SUM(typeof({q}) = 'text') AS c{i}" for i, q in enumerate(quoted.values()))
    query = f"SELECT {select} FROM {spec.dbtable}"
    types = ", ".join(f"c{i} LONG" for i in range(len(numbers)))
    row = jdbc_reader(spark, target, cfg.jdbc_fetchsize).option("query", query)
    counts = row.option("customSchema", types).load().first()
    texts = {n: counts[f"c{i}"] for i, n in enumerate(numbers) if counts[f"c{i}"]}
    if texts:
        name, n = next(iter(texts.items()))
        raise SourceError(
            f"column {name} holds text in {n} row(s) of {spec.dbtable}, where the table declares "
            f"a number (all such columns: {sorted(texts)}); its driver would read them as 0, so "
            "nothing was read.",
            source=system,
            fix="ask the department to correct those values, or to declare the column as TEXT "
            "if it now holds text.",
        )


def read_database(
    spark: SparkSession,
    target,
    spec: TableSpec,
    cfg: Settings,
    window: Increment | None,
    bounds,
    system: str | None = None,
) -> DataFrame:
    """Rows of a department table inside the watermark window, over parallel JDBC reads."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    reader = jdbc_reader(spark, target, cfg.jdbc_fetchsize).option("dbtable", spec.dbtable)
    column = partition_column(spec)
    lo, hi = _numeric(bounds, "lo"), _numeric(bounds, "hi")
    schema = reader.load().schema
    if target.url.startswith("jdbc:sqlite:"):
        _check_sqlite_numbers(spark, target, spec, cfg, schema, system)
    numeric = column and isinstance(schema[column].dataType, NumericType)
    if numeric and lo is not None and hi is not None and hi > lo:
        reader = (
            reader.option("partitionColumn", column)
            .option("lowerBound", lo)
            .option("upperBound", hi)
            .option("numPartitions", cfg.jdbc_partitions)
        )
    df = reader.load()
    selected = window_filter(spec, window, schema)
    df = df if selected is None else df.where(selected)
    df = df.withColumnsRenamed({c: spec.ods_column(c) for c in spec.columns})
    return df.select(
        "*",
        F.lit(None).cast("string").alias("_source_file"),
        F.lit(None).cast("long").alias("_source_row"),
        F.lit(None).cast("string").alias("_raw_record"),
        F.lit(None).cast("string").alias("_reject_reason"),
        F.lit(None).cast("string").alias("_drop_reason"),
    )
