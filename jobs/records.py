"""Records of a delivered CSV or xlsx file, each with the physical line (or sheet row) it starts on.

CSV is parsed by Python's csv module, which follows RFC 4180 as Excel writes it: `""` inside a
quoted field is one `"`, and a quoted field may hold line breaks (Excel's Alt+Enter). Spark's CSV
reader does neither by default and cannot say on which line a record starts; blank lines shift
its row numbers. A quoted field that is never closed would swallow the rest of the file: its
first line alone is rejected and reading resumes on the next line, so one stray quote costs one
row, never half a record written as data. An empty field, quoted or not, is NULL (RFC 4180 does
not tell `""` from nothing, and Excel writes both for an empty cell).

Rows above the header (a title such as 鄂州市残疾人基本信息表（2026年11月）) and rows whose first
value is listed in the table's `drop_rows` (a total row such as 合计) are dropped with a reason:
they are counted, and kept in ops.dropped_rows, so a load still balances.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from govlake.errors import SourceError
from govlake.sources import TableSpec

# How many non-blank records may sit above a header found by its declared columns.
HEADER_SEARCH = 20
# The csv module refuses fields over 128 KB by default; a long remark or an embedded document
# of a few MB is still one value (Delta stores it), so the limit is raised well above that.
FIELD_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)


@dataclass(frozen=True)
class Record:
    """One record: its first and last physical line, its cells (None: it did not parse)."""

    line: int
    last: int
    cells: list[str | None] | None
    raw: str
    error: str | None = None

    @property
    def blank(self) -> bool:
        return self.cells is not None and all(c is None or not str(c).strip() for c in self.cells)

    def lines(self) -> str:
        return f"line {self.line}" if self.last == self.line else f"lines {self.line}-{self.last}"


class _Lines:
    """Physical lines of a text file with their numbers; lines taken for a record that did not
    parse can be put back, so parsing resumes on the line after that record's first line."""

    def __init__(self, handle: Iterable[str]) -> None:
        self._source = iter(handle)
        self._number = 0
        self._pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._pending:
            item = self._pending.popleft()
        else:
            self._number += 1
            item = (self._number, next(self._source))
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []

    def put_back_all_but_first(self) -> None:
        self._pending.extendleft(reversed(self.taken[1:]))


def csv_records(handle: Iterable[str]) -> Iterator[Record]:
    """RFC 4180 records of an open text file (opened with newline=''), numbered by physical line."""
    lines = _Lines(handle)
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_record()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number, text = lines.taken[0]
            why = "a quoted field is never closed" if "end of data" in str(exc) else str(exc)
            yield Record(number, number, None, text.rstrip("\r\n"), why)
            lines.put_back_all_but_first()
            reader = csv.reader(lines, strict=True)
            continue
        if not cells:
            continue  # a blank line: no record, but it still counts as a line
        raw = "".join(text for _, text in lines.taken).rstrip("\r\n")
        yield Record(lines.taken[0][0], lines.taken[-1][0], list(cells), raw)


def declared(spec: TableSpec) -> list[str]:
    """The source columns the configuration names, each once (a key may also be in columns)."""
    return list(dict.fromkeys([*spec.primary_key, *spec.columns]))


def _names(record: Record) -> list[str]:
    return [str(c).strip().lstrip("\ufeff") if c is not None else "" for c in record.cells or []]


def split_header(
    records: Iterator[Record], spec: TableSpec, empty: SourceError
) -> tuple[Record, list[Record]]:
    """The header record and the records above it (titles); `records` then yields the data.

    With `header_row` the header is that line; without it, the first record holding every
    declared column, or else the first record (whose missing columns are then reported)."""
    above: list[Record] = []
    for record in records:
        if record.blank:
            continue
        if spec.header_row is not None:
            if record.line >= spec.header_row:
                return record, above
        elif set(declared(spec)) <= set(_names(record)):
            return record, above
        above.append(record)
        if spec.header_row is None and len(above) >= HEADER_SEARCH:
            break
    if not above:
        raise empty
    # No record holds the declared columns: the first is the header and its check names them.
    return above[0], []


def header_names(record: Record) -> list[str]:
    names = _names(record)
    while names and not names[-1]:
        names.pop()  # trailing empty cells of a sheet row are not columns
    return names


def title_drop(record: Record) -> str:
    return f"title row above the header ({record.lines()})"


def _width_error(record: Record, width: int, strict_width: bool) -> str | None:
    cells = record.cells or []
    if strict_width and len(cells) != width:
        return f"has {len(cells)} fields where the header has {width} fields ({record.lines()})"
    extra = [c for c in cells[width:] if c is not None and c != ""]
    if extra:
        return f"has {len(extra)} value(s) beyond the header's {width} columns"
    return None


def _nul(record: Record) -> str | None:
    """A NUL character is no text a clerk typed: a binary or corrupted export. PostgreSQL and
    most tools cannot store it, and it breaks key matching, so its row is rejected."""
    fields = [n for n, c in enumerate(record.cells or [], start=1) if c and "\x00" in c]
    if fields:
        return f"holds a NUL byte (0x00) in field(s) {fields} ({record.lines()})"
    return None


def classify(record: Record, spec: TableSpec, width: int, strict_width: bool):
    """(values, reject reason, drop reason) of one data record."""
    empty = [None] * width
    if record.cells is None:
        return (
            empty,
            f"does not parse as a CSV record of the header's {width} fields: "
            + (record.error or "malformed"),
            None,
        )
    first = next((str(c).strip() for c in record.cells if c is not None and str(c).strip()), "")
    if first in spec.drop_rows:
        return empty, None, f"'{first}' row listed in drop_rows (a total or footer row)"
    rejected = record.error or _width_error(record, width, strict_width) or _nul(record)
    if rejected:
        return empty, rejected, None
    values = [None if c == "" else c for c in record.cells[:width]]
    return values + [None] * (width - len(values)), None, None


def to_rows(
    header: Record,
    above: list[Record],
    data: Iterator[Record],
    spec: TableSpec,
    file: str,
    strict_width: bool,
) -> list[tuple]:
    """Rows (*values, file, line, raw, reject reason, drop reason) of titles and data records."""
    width = len(header_names(header))
    out = [(*[None] * width, file, r.line, r.raw, None, title_drop(r)) for r in above]
    for record in data:
        if record.blank:
            continue
        values, rejected, dropped = classify(record, spec, width, strict_width)
        raw = record.raw if rejected or dropped else None
        out.append((*values, file, record.line, raw, rejected, dropped))
    return out
