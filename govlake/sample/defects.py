"""Defect injection: each chosen row gets exactly one defect kind, and every one is counted."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from govlake.sample.config import KINDS
from govlake.sample.dates import impossible_like
from govlake.sample.identifiers import USCC_ALPHABET, fullwidth, is_ric, is_uscc, wrong_check
from govlake.sample.land_codes import UNIT_DEFECTS, unit_code_shape
from govlake.sample.tables import RawLine, TableData
from govlake.sample.writers import csv_line, json_line

EXTRA_CELLS = ("补录", "备注：待核实")


@dataclass
class Injected:
    """Rows after injection, counts per applicable kind, and which original rows were hit."""

    rows: list
    counts: dict[str, int]
    hit: dict[int, str]
    columns: dict[int, list[str]] = field(default_factory=dict)
    positions: list[int] = field(default_factory=list)
    notes: dict[int, dict] = field(default_factory=dict)

    def records(self) -> list[dict]:
        """One ground-truth record per defective row: kind, columns touched, and `row`, its
        1-based place in the written table (file data row; SQLite insert order, which is
        also the generated key where the table has one)."""
        return [
            {
                "kind": kind,
                "columns": self.columns.get(index, []),
                "row": (self.positions[index] if self.positions else index) + 1,
                **self.notes.get(index, {}),
            }
            for index, kind in sorted(self.hit.items())
        ]


def _valid_uscc(value: object) -> bool:
    """A clean USCC that is not also a valid ID number (certificate holders can be either)."""
    return is_uscc(value) and not is_ric(value)


def _filled(value: object) -> bool:
    """A value that is neither NULL nor empty."""
    return value is not None and value != ""


def _text(value: object) -> bool:
    """A non-empty string."""
    return isinstance(value, str) and value != ""


def _swap(
    row: list,
    data: TableData,
    cols: Iterable[str],
    test: Callable[[object], bool],
    make: Callable[[object], object],
    rng: random.Random,
) -> list | None:
    """Replace one column value that passes `test` by `make(value)`; None when none passes."""
    spec = data.spec
    usable = [spec.col(c) for c in cols if test(row[spec.col(c)])]
    if not usable:
        return None
    pos = rng.choice(usable)
    new = list(row)
    new[pos] = make(row[pos])
    return new


def _invalid_id(row: list, data: TableData, rng: random.Random) -> list | None:
    """An ID number with a wrong check character."""
    make = partial(wrong_check, alphabet="0123456789X", rng=rng)
    return _swap(row, data, data.spec.id_cols, is_ric, make, rng)


def _invalid_uscc(row: list, data: TableData, rng: random.Random) -> list | None:
    """A USCC with a wrong check character."""
    make = partial(wrong_check, alphabet=USCC_ALPHABET, rng=rng)
    return _swap(row, data, data.spec.uscc_cols, _valid_uscc, make, rng)


def _impossible(row: list, data: TableData, rng: random.Random) -> list | None:
    """A date that does not exist, shaped like the original."""
    make = partial(impossible_like, rng=rng)
    return _swap(row, data, data.spec.date_cols, _filled, make, rng)


# Unit-code defects that make the code invalid (blanks are missing_required's, full-width and
# padded spellings are fullwidth_or_whitespace's: both leave a valid code).
BROKEN_UNIT = {k: f for k, f in UNIT_DEFECTS.items() if k not in ("blank", "fullwidth", "padded")}


def _invalid_unit(row: list, data: TableData, rng: random.Random) -> tuple[list, dict] | None:
    """A real-estate unit code broken one way (27 characters, another city's county, a
    lowercase fixture letter ...), with the reason `govlake check-ids` must give."""
    spec = data.spec
    usable = [spec.col(c) for c in spec.unit_cols if unit_code_shape(row[spec.col(c)])]
    if not usable:
        return None
    pos = rng.choice(usable)
    new = list(row)
    new[pos], reason = BROKEN_UNIT[rng.choice(sorted(BROKEN_UNIT))](rng, row[pos])
    return new, {"reason": reason}


def _missing(row: list, data: TableData, rng: random.Random) -> list | None:
    """A required field emptied: NULL in databases and JSON, an empty cell in CSV, xlsx and xls."""
    fmt = data.spec.fmt
    empty = None if fmt in ("sqlite", "jsonl", "api") and rng.random() < 0.8 else ""

    def make(value: object) -> object:
        # A database keeps '' only in a text column: a number column left empty is NULL (a ''
        # in SQLite's REAL column fails the whole load, as it should for a real department).
        return None if fmt == "sqlite" and not isinstance(value, str) else empty

    return _swap(row, data, data.spec.required, _filled, make, rng)


def _padded(value: str, rng: random.Random) -> str:
    """Full-width digits/letters for codes; a leading or trailing space or U+3000 otherwise."""
    if value.isascii() and rng.random() < 0.7:
        cut = rng.choice((len(value), 6))
        return fullwidth(value[:cut]) + value[cut:]
    pad = rng.choice((" ", "\u3000", "  "))
    return pad + value if rng.random() < 0.4 else value + pad


def _whitespace(row: list, data: TableData, rng: random.Random) -> list | None:
    """A full-width or whitespace-padded text value."""
    return _swap(row, data, data.spec.text_cols, _text, partial(_padded, rng=rng), rng)


def _broken_csv(row: list, rng: random.Random) -> RawLine:
    """A CSV line with too few fields (cut short) or too many (an unquoted comma)."""
    fields = ["" if v is None else str(v) for v in row]
    if rng.random() < 0.5:
        return RawLine(csv_line(fields[: rng.randint(1, len(fields) - 2)]))
    pos = rng.randrange(len(fields))
    head, tail = csv_line(fields[:pos]), csv_line(fields[pos + 1 :])
    broken = f"{fields[pos]},补录"
    return RawLine(",".join(part for part in (head, broken, tail) if part != ""))


def _broken_json(line: str, rng: random.Random) -> RawLine:
    """A JSON line cut short, or written with single quotes as a Python repr."""
    if rng.random() < 0.7:
        return RawLine(line[: rng.randint(10, len(line) - 5)])
    return RawLine(line.replace('"', "'"))


def _unparseable(row: list, data: TableData, rng: random.Random) -> list | None:
    """A row no reader can take as a record of the table."""
    fmt = data.spec.fmt
    if fmt == "csv":
        return _broken_csv(row, rng)
    if fmt in ("jsonl", "api"):  # api: a record the interface serves as a broken string
        return _broken_json(json_line(data.spec.columns, row), rng)
    if fmt in ("xlsx", "xls"):
        return list(row) + list(EXTRA_CELLS[: rng.randint(1, 2)])
    return None


def _conflict(row: list, data: TableData, rng: random.Random) -> list | None:
    """The row's entity stated differently from its authoritative source."""
    return data.conflict(row, rng) if data.conflict else None


MUTATORS: dict[str, Callable[[list, TableData, random.Random], list | None]] = {
    "invalid_id_checksum": _invalid_id,
    "invalid_uscc_checksum": _invalid_uscc,
    "impossible_date": _impossible,
    "conflicting_value": _conflict,
    "missing_required": _missing,
    "fullwidth_or_whitespace": _whitespace,
    "unparseable_row": _unparseable,
    "invalid_unit_code": _invalid_unit,
}


def applicable(data: TableData) -> list[str]:
    """The defect kinds this table can carry, in manifest order."""
    spec = data.spec
    usable = {
        "invalid_id_checksum": bool(spec.id_cols),
        "invalid_uscc_checksum": bool(spec.uscc_cols),
        "impossible_date": bool(spec.date_cols),
        "duplicate_row": spec.duplicates,
        "conflicting_value": data.conflict is not None,
        "missing_required": bool(spec.required),
        "fullwidth_or_whitespace": bool(spec.text_cols),
        "unparseable_row": spec.fmt != "sqlite",
        "invalid_unit_code": bool(spec.unit_cols),
    }
    return [kind for kind in KINDS if usable[kind]]


def _stochastic_round(value: float, rng: random.Random) -> int:
    """Round so that the expected count equals value (small tables still get defects)."""
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


def _apply(
    kind: str,
    want: int,
    order: Iterable[int],
    data: TableData,
    rng: random.Random,
    hit: dict[int, str],
    touched: dict[int, list[str]],
    notes: dict[int, dict],
) -> int:
    """Apply one kind to the first `want` unhit rows of `order` it fits; return how many."""
    done = 0
    if want <= 0:
        return 0
    for index in order:
        if index in hit:
            continue
        new = MUTATORS[kind](data.rows[index], data, rng)
        if new is None:
            continue
        if isinstance(new, tuple):  # (row, what the ground truth notes besides the kind)
            new, notes[index] = new
        if isinstance(new, list) and len(new) == len(data.spec.columns):
            old = data.rows[index]
            touched[index] = [
                c for c, a, b in zip(data.spec.columns, old, new, strict=True) if a != b
            ]
        data.rows[index], hit[index] = new, kind
        done += 1
        if done == want:
            break
    return done


def _with_copies(rows: list, sources: list[int], rng: random.Random) -> tuple[list, list[int]]:
    """Rows with an exact copy of each source row inserted at a random later-or-earlier place,
    and where each original row ended up."""
    after: dict[int, list] = {}
    for source in sources:
        after.setdefault(rng.randrange(len(rows)), []).append(list(rows[source]))
    out: list = []
    positions: list[int] = []
    start = 0
    for pos in sorted(after):
        positions.extend(range(len(out), len(out) + pos + 1 - start))
        out.extend(rows[start : pos + 1])
        out.extend(after[pos])
        start = pos + 1
    positions.extend(range(len(out), len(out) + len(rows) - start))
    out.extend(rows[start:])
    return out, positions


def _order(pool: list[int] | range, total: int, rng: random.Random) -> Callable[[], Iterator[int]]:
    """A random visiting order without repeats: a sample big enough, then everything else."""
    sample = rng.sample(pool, min(len(pool), 4 * total + 50))

    def visit() -> Iterator[int]:
        seen = set(sample)
        yield from sample
        yield from (i for i in pool if i not in seen)

    return visit


def inject(data: TableData, rates: Mapping[str, float], rng: random.Random) -> Injected:
    """Inject defects into data.rows at the given per-row rates; one kind per defective row."""
    n = len(data.rows)
    kinds = applicable(data)
    want = {kind: _stochastic_round(n * rates.get(kind, 0.0), rng) for kind in kinds}
    counts = dict.fromkeys(kinds, 0)
    hit: dict[int, str] = {}
    touched: dict[int, list[str]] = {}
    notes: dict[int, dict] = {}
    if n == 0:
        return Injected(rows=data.rows, counts=counts, hit=hit)
    if "conflicting_value" in kinds:
        eligible = list(data.eligible) if data.eligible is not None else range(n)
        order = _order(eligible, want["conflicting_value"], rng)()
        counts["conflicting_value"] = _apply(
            "conflicting_value", want["conflicting_value"], order, data, rng, hit, touched, notes
        )
    visit = _order(range(n), sum(want.values()), rng)
    for kind in kinds:
        if kind not in ("conflicting_value", "duplicate_row"):
            counts[kind] = _apply(kind, want[kind], visit(), data, rng, hit, touched, notes)
    rows, positions = data.rows, []
    if want.get("duplicate_row"):
        sources = list(
            itertools.islice((i for i in visit() if i not in hit), want["duplicate_row"])
        )
        counts["duplicate_row"] = len(sources)
        rows, positions = _with_copies(rows, sources, rng)
    return Injected(
        rows=rows, counts=counts, hit=hit, columns=touched, positions=positions, notes=notes
    )
