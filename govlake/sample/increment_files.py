"""The next night's changes to the credit and hazardous-chemical deliveries (generate_increment).

These departments deliver files or serve an interface, not a database with watermarks, so a
night's change is a new delivery: the interface gains new 双公示 licences and penalties (a
later gxsj than any it served), and the next day's files are yesterday's with changes (tax
credit ratings revised, red/black list entries added, hazardous-chemical enterprises updated,
new inspections). Rows a defect broke are carried over byte for byte, so yesterday's ground
truth (defects.jsonl) still describes them; only the rows counted here are new or changed.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from govlake.sample import sources_hazchem as hz
from govlake.sample.sources_credit import (
    AUTHORITIES,
    BLACK,
    BLACK_REASONS,
    LICENCE,
    LICENCE_NAMES,
    PENALTY,
    PENALTY_KINDS,
    SOLE_TRADER,
    list_spec,
)
from govlake.sample.sources_entities import LEVELS, REGISTRATION, rating_spec
from govlake.sample.writers import write_xls

LIST_OFFICE = "鄂州市发展和改革委员会"


def _register(root: Path) -> list[tuple]:
    """(USCC, name, type, representative, their identity number) of the registered entities."""
    with closing(sqlite3.connect(root / REGISTRATION.path)) as con:
        return con.execute(
            "SELECT tyshxydm, qymc, qylx, fddbr, fddbr_zjhm FROM qy_jbxx"
            " WHERE tyshxydm IS NOT NULL ORDER BY id"
        ).fetchall()


def _decision(spec, night, entity: tuple, serial: int) -> dict:
    """One 双公示 decision tonight for a registered entity, as the interface serves it."""
    rng, year = night.rng, night.day.year
    code, name, kind, rep, rep_id = entity
    rep_id = rep_id if kind == SOLE_TRADER else None  # as the credit office publishes it
    if spec is PENALTY:
        act, what = rng.choice(PENALTY_KINDS)
        fine = None if what == "警告" else rng.choice((2000, 5000, 10000, 50000, 200000))
        row = [f"CF{year}{serial:07d}", f"鄂州罚字〔{year}〕{serial:05d}号", name, code]
        row += [rep, rep_id, act, what, fine]
    else:
        title = rng.choice(LICENCE_NAMES)
        row = [f"XK{year}{serial:07d}", f"鄂州许字〔{year}〕{serial:05d}号", name, code]
        row += [rep, rep_id, title, f"准予{title}"]
    row += [night.day.isoformat(), rng.choice(AUTHORITIES), night.stamp()]
    return dict(zip(spec.columns, row, strict=True))


def _interface(root: Path, night, register: list, fraction: float) -> dict[str, dict[str, int]]:
    """New licences and penalties decided tonight, appended to what the interface serves."""
    counts = {}
    for spec in (LICENCE, PENALTY):
        path = root / spec.path
        if not path.exists() or not register:
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        records = document["records"]
        # Serials of the generator run up to the number of decisions; a copy adds none.
        new = [
            _decision(spec, night, night.rng.choice(register), len(records) + k)
            for k in range(1, night.how_many(len(records), fraction) + 1)
        ]
        document["records"] = records + new
        path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", "utf-8")
        counts[f"{spec.system}.{spec.table}"] = {"updated": 0, "inserted": len(new)}
    return counts


def _csv_lines(path: Path, encoding: str) -> list[str]:
    """The file's lines with their CRLF ends (a broken line stays as the department wrote it)."""
    with path.open(encoding=encoding, newline="") as handle:
        return handle.read().split("\r\n")[:-1]


def _line(values: list) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def _parsed(line: str, width: int) -> list | None:
    """A data line's values when it is a well-formed record of the header's width."""
    found = list(csv.reader([line]))
    return found[0] if len(found) == 1 and len(found[0]) == width else None


def _ratings(root: Path, night, previous: str, fraction: float) -> dict[str, int] | None:
    """Tonight's file of tax credit ratings: some ratings revised (a new level, dated tonight)."""
    spec, nxt = rating_spec(previous), rating_spec(night.day.strftime("%Y%m%d"))
    path = root / spec.path
    if not path.exists():
        return None
    lines = _csv_lines(path, spec.encoding)
    width, level, dated = len(spec.columns), spec.col("信用级别"), spec.col("评价日期")
    clean = [i for i, line in enumerate(lines[1:], 1) if _parsed(line, width)]
    chosen = sorted(night.rng.sample(clean, night.how_many(len(clean), fraction)))
    for i in chosen:
        values = _parsed(lines[i], width)
        values[level] = night.rng.choice([v for v in LEVELS if v != values[level]])
        values[dated] = night.day.isoformat()
        lines[i] = _line(values)
    _write_lines(root / nxt.path, nxt.encoding, lines)
    return {"updated": len(chosen), "inserted": 0}


def _lists(root: Path, night, previous: str, penalised: list, fraction: float):
    """Tonight's red and black list file: entities penalised tonight added to the black list."""
    spec, nxt = list_spec(previous), list_spec(night.day.strftime("%Y%m%d"))
    path = root / spec.path
    if not path.exists():
        return None
    lines = _csv_lines(path, spec.encoding)
    listed = {
        v[spec.col("统一社会信用代码")]
        for v in (_parsed(x, len(spec.columns)) for x in lines[1:])
        if v
    }
    fresh = [e for e in penalised if e[0] not in listed]
    chosen = fresh[: night.how_many(len(lines) - 1, fraction)]
    until = night.day + datetime.timedelta(days=night.rng.choice((365, 730, 1095)))
    for k, (code, name, _kind, rep, _) in enumerate(chosen, start=len(lines)):
        reason = night.rng.choice(BLACK_REASONS)
        day = night.day.isoformat()
        lines.append(
            _line([f"HHMD{k:06d}", BLACK, name, code, rep, reason, LIST_OFFICE, day, until])
        )
    _write_lines(root / nxt.path, nxt.encoding, lines)
    return {"updated": 0, "inserted": len(chosen)}


def _write_lines(path: Path, encoding: str, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        handle.write("".join(line + "\r\n" for line in lines))


def _xls_rows(path: Path) -> list[list]:
    """The data rows of a generated .xls (below its two header rows), values as written:
    date cells as dates, whole numbers as ints, blanks as None."""
    import xlrd

    book = xlrd.open_workbook(str(path))
    try:
        sheet = book.sheet_by_index(0)
        return [[_value(c, book.datemode) for c in sheet.row(r)] for r in range(2, sheet.nrows)]
    finally:
        book.release_resources()


def _value(cell, datemode: int):
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        return xlrd.xldate_as_datetime(cell.value, datemode).date()
    if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
        return int(cell.value)
    return cell.value


def _hazchem(root: Path, night, previous: str, fraction: float) -> dict[str, dict[str, int]]:
    """Tonight's workbooks: some enterprises update their hazard level, some are inspected."""
    ds = night.day.strftime("%Y%m%d")
    specs = {
        "enterprise": (hz.enterprise_spec(previous), hz.enterprise_spec(ds)),
        "inspection": (hz.inspection_spec(previous), hz.inspection_spec(ds)),
        "incident": (hz.incident_spec(previous), hz.incident_spec(ds)),
    }
    if not all((root / old.path).exists() for old, _ in specs.values()):
        return {}
    rows = {table: _xls_rows(root / old.path) for table, (old, _) in specs.items()}
    firms = rows["enterprise"]
    at = {c: i for i, c in enumerate(hz.ENTERPRISE_COLUMNS)}
    whole = [r for r in firms if len(r) == len(at) and isinstance(r[at["统一社会信用代码"]], str)]
    updated = night.rng.sample(whole, night.how_many(len(whole), fraction))
    for row in updated:
        row[at["危险源等级"]] = night.rng.choice(
            [h for h in hz.HAZARD_LEVELS if h != row[at["危险源等级"]]]
        )
        row[at["更新日期"]] = night.day
    inspected = night.rng.sample(whole, night.how_many(len(whole), fraction))
    for k, firm in enumerate(inspected, start=len(rows["inspection"]) + 1):
        found = night.rng.choice((0, 0, 1, 2))
        rows["inspection"].append(
            [
                f"EZAJ-JC-{k:06d}",
                firm[0],
                firm[1],
                night.day,
                night.rng.choice(hz.INSPECTION_TYPES),
                found,
                "整改中" if found else "无隐患",
                night.day + datetime.timedelta(days=30) if found else None,
            ]
        )
    for table, (_, new) in specs.items():
        write_xls(root / new.path, new, rows[table])
    return {
        "mem_hazchem.enterprise": {"updated": len(updated), "inserted": 0},
        "mem_hazchem.inspection": {"updated": 0, "inserted": len(inspected)},
        "mem_hazchem.incident": {"updated": 0, "inserted": 0},
    }


def file_increment(root: Path, night, fraction: float) -> dict[str, dict[str, int]]:
    """The night's changes to the credit interface and the credit and hazchem files; the files
    of the day before must be there (the first night's, or the previous increment's)."""
    previous = (night.day - datetime.timedelta(days=1)).strftime("%Y%m%d")
    register = _register(root)
    counts = _interface(root, night, register, fraction)
    tonight = {r["xdr_shxym"] for r in _served(root / PENALTY.path, night.day)}
    penalised = [e for e in register if e[0] in tonight]
    for key, changed in (
        ("tax_credit.credit_rating", _ratings(root, night, previous, fraction)),
        ("ndrc_credit_list.red_black_list", _lists(root, night, previous, penalised, fraction)),
    ):
        if changed is not None:
            counts[key] = changed
    counts.update(_hazchem(root, night, previous, fraction))
    return counts


def _served(path: Path, day: datetime.date) -> list[dict]:
    """The interface's records decided on `day`."""
    if not path.exists():
        return []
    records = json.loads(path.read_text(encoding="utf-8"))["records"]
    return [r for r in records if isinstance(r, dict) and r.get("cf_jdrq") == day.isoformat()]
