"""generate_increment: the next night's changes to the SQLite sources that carry watermarks, and
(govlake.sample.increment_files) to the credit interface and the credit and hazchem files."""

from __future__ import annotations

import datetime
import random
import sqlite3
from contextlib import closing
from pathlib import Path

from govlake.sample.config import load_config
from govlake.sample.entities import business_scope, capital, market_name
from govlake.sample.identifiers import org_code, random_org_body, ric_number, uscc_number
from govlake.sample.increment_files import file_increment
from govlake.sample.land_codes import industry_code
from govlake.sample.people import address
from govlake.sample.pools import ENTERPRISE_TYPES, TOWNSHIPS, Pools, build_pools

SI_STATUS = ("1", "2", "3")
NEW_HOUSEHOLD = (
    "INSERT INTO hj_household (hh, hzsfzh, hjdz, xzqh, lhrq, update_time) VALUES (?, ?, ?, ?, ?, ?)"
)
HEAD_OF_NEW_HOUSEHOLD = (
    "UPDATE hj_resident SET hh = ?, hjdz = ?, yhzgx = '02', update_time = ? WHERE rec_id = ?"
)
NEXT_STATE = {"存续": "在业", "在业": "注销", "注销": "注销", "吊销": "注销"}


class _Night:
    """Random choices and watermark stamps for one logical date."""

    def __init__(self, day: datetime.date, seed: int, pools: Pools):
        self.day, self.pools = day, pools
        self.rng = random.Random(f"{seed}:increment:{day.isoformat()}")

    def stamp(self) -> str:
        """A watermark inside the logical date."""
        second = self.rng.randrange(86400)
        return (
            f"{self.day.isoformat()} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        )

    def how_many(self, rows: int, fraction: float, share: float = 1.0) -> int:
        """At least one change per table once it has rows."""
        return min(rows, max(1, round(rows * fraction * share))) if rows else 0

    def district(self, code: object) -> str:
        """A known Ezhou district for an address; defective codes fall back to 鄂城区."""
        return code if isinstance(code, str) and code in TOWNSHIPS else "420704"


def _enrolment_updates(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """Change the status of some enrolments."""
    rows = con.execute("SELECT enrol_id, status FROM si_enrolment ORDER BY enrol_id").fetchall()
    changes = []
    for enrol_id, status in sorted(night.rng.sample(rows, night.how_many(len(rows), fraction))):
        new = night.rng.choice([s for s in SI_STATUS if s != status])
        changes.append((new, night.stamp(), enrol_id))
    con.executemany(
        "UPDATE si_enrolment SET status = ?, last_modified = ? WHERE enrol_id = ?", changes
    )
    return len(changes)


def _enrolment_inserts(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """New unemployment or work-injury enrolments of employees."""
    employees = con.execute(
        "SELECT id_number, name, unit_uscc FROM si_enrolment "
        "WHERE insurance_type = '110' AND unit_uscc IS NOT NULL ORDER BY enrol_id"
    ).fetchall()
    held = set(con.execute("SELECT id_number, insurance_type FROM si_enrolment"))
    want = night.how_many(len(employees), fraction, 0.1)
    rows: list[tuple] = []
    for id_number, name, unit in night.rng.sample(employees, len(employees)):
        kinds = [k for k in ("210", "410") if (id_number, k) not in held]
        if len(rows) == want:
            break
        if kinds:
            kind = night.rng.choice(kinds)
            held.add((id_number, kind))
            rows.append((id_number, name, kind, unit, "1", night.day.isoformat(), night.stamp()))
    con.executemany(
        "INSERT INTO si_enrolment (id_number, name, insurance_type, unit_uscc, status, start_date,"
        " last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def _registration_updates(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """Some enterprises change state (存续 -> 在业 -> 注销) or move."""
    rows = con.execute("SELECT id, tyshxydm, jyzt FROM qy_jbxx ORDER BY id").fetchall()
    changes = []
    for row_id, code, state in sorted(night.rng.sample(rows, night.how_many(len(rows), fraction))):
        district = night.district(code[2:8] if isinstance(code, str) else None)
        moved = address(night.rng, night.pools, district)
        new_state = NEXT_STATE.get(state, "存续") if night.rng.random() < 0.5 else state
        changes.append((new_state, moved, night.stamp(), row_id))
    con.executemany("UPDATE qy_jbxx SET jyzt = ?, zs = ?, gxsj = ? WHERE id = ?", changes)
    return len(changes)


def _new_enterprise(night: _Night, codes: set, names: set, rep: tuple) -> tuple:
    """One newly registered company with a unique USCC and name."""
    rng = night.rng
    district = rng.choice(sorted(TOWNSHIPS))
    code = uscc_number("9", "1", district, org_code(random_org_body(rng)))
    qylx = rng.choice(ENTERPRISE_TYPES["1"])
    name = market_name(rng, night.pools, "1", qylx, district)
    while code in codes or name in names:
        code = uscc_number("9", "1", district, org_code(random_org_body(rng)))
        name = market_name(rng, night.pools, "1", qylx, district)
    codes.add(code)
    names.add(name)
    day = night.day.isoformat()
    place = address(rng, night.pools, district)
    scope = business_scope(rng)
    return (
        code,
        name,
        qylx,
        *rep,
        capital(rng, "1"),
        day,
        "存续",
        place,
        scope,
        industry_code(rng).upper(),  # GB/T 4754: registered with the company
        "鄂州市市场监督管理局",
        night.stamp(),
    )


def _registration_inserts(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """Newly registered companies whose representatives already represent others."""
    existing = con.execute(
        "SELECT tyshxydm, qymc, fddbr, fddbr_zjhm FROM qy_jbxx ORDER BY id"
    ).fetchall()
    codes, names = {r[0] for r in existing}, {r[1] for r in existing}
    reps = [(r[2], r[3]) for r in existing]
    count = night.how_many(len(existing), fraction, 0.2)
    rows = [_new_enterprise(night, codes, names, night.rng.choice(reps)) for _ in range(count)]
    con.executemany(
        "INSERT INTO qy_jbxx (tyshxydm, qymc, qylx, fddbr, fddbr_zjhm, zczb, clrq, jyzt, zs, jyfw,"
        " hydm, djjg, gxsj) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def _transfers(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """Some units change hands (转移登记): another registered holder, the change date tonight."""
    rows = con.execute("SELECT id, qlrmc, qlrlx, qlrzjhm FROM bdc_unit ORDER BY id").fetchall()
    # Only whole holders take a unit over: a row a defect left without its holder kind (NULL)
    # is no one to transfer to (and NULL does not sort; found by the benchmark at 100k).
    holders = sorted({tuple(h) for _, *h in rows if all(h)})
    changes = []
    for row_id, *holder in sorted(night.rng.sample(rows, night.how_many(len(rows), fraction))):
        new = night.rng.choice([h for h in holders if list(h) != holder] or holders)
        changes.append((*new, night.day.isoformat(), night.stamp(), row_id))
    con.executemany(
        "UPDATE bdc_unit SET qlrmc = ?, qlrlx = ?, qlrzjhm = ?, bgsj = ?, gxsj = ? WHERE id = ?",
        changes,
    )
    return len(changes)


def _new_units(con: sqlite3.Connection, night: _Night, fraction: float) -> int:
    """Flats of a new building registered on parcels already in the register (首次登记)."""
    rows = con.execute(
        "SELECT bdcdyh, zddm, qlrmc, qlrlx, qlrzjhm, qllx, tdyt FROM bdc_unit"
        " WHERE bdcdyh LIKE zddm || 'F%' ORDER BY id"
    ).fetchall()
    codes = {r[0] for r in con.execute("SELECT bdcdyh FROM bdc_unit")}
    new = []
    for code, parcel, *rest in night.rng.sample(rows, night.how_many(len(rows), fraction, 0.2)):
        unit = f"{parcel}F{night.rng.randint(61, 99):04d}{night.rng.randint(1, 32):02d}01"
        if unit in codes or len(code) != 28:
            continue
        codes.add(unit)
        area = round(night.rng.uniform(40, 180), 2)
        day = night.day.isoformat()
        new.append((unit, parcel, *rest, area, day, None, night.stamp()))
    con.executemany(
        "INSERT INTO bdc_unit (bdcdyh, zddm, qlrmc, qlrlx, qlrzjhm, qllx, tdyt, mj, djsj, bgsj,"
        " gxsj) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        new,
    )
    return len(new)


def _moves(con: sqlite3.Connection, night: _Night, homes: dict, fraction: float) -> tuple[set, int]:
    """Whole households move: household and member addresses change together."""
    chosen = night.rng.sample(sorted(homes), night.how_many(len(homes), fraction))
    moved = []
    for hh in chosen:
        place = address(night.rng, night.pools, night.district(homes[hh][1]))
        homes[hh] = (place, homes[hh][1])
        moved.append((hh, place, night.stamp()))
    con.execute("CREATE TEMP TABLE moved (hh TEXT PRIMARY KEY, hjdz TEXT, ts TEXT)")
    con.executemany("INSERT INTO moved VALUES (?, ?, ?)", moved)
    con.execute(
        "UPDATE hj_household SET hjdz = (SELECT hjdz FROM moved m WHERE m.hh = hj_household.hh),"
        " update_time = (SELECT ts FROM moved m WHERE m.hh = hj_household.hh)"
        " WHERE hh IN (SELECT hh FROM moved)"
    )
    residents = con.execute(
        "UPDATE hj_resident SET hjdz = (SELECT hjdz FROM moved m WHERE m.hh = hj_resident.hh),"
        " update_time = (SELECT ts FROM moved m WHERE m.hh = hj_resident.hh)"
        " WHERE hh IN (SELECT hh FROM moved)"
    ).rowcount
    con.execute("DROP TABLE moved")
    return set(chosen), residents


def _split_one(
    con: sqlite3.Connection, night: _Night, homes: dict, number: int, candidate: tuple
) -> None:
    """Register one adult child as the head of a new household at a new address."""
    rec_id, sfzh, hh = candidate
    district = night.district(homes[hh][1])
    new_hh = f"{district[4:]}{number:07d}"
    place, stamp = address(night.rng, night.pools, district), night.stamp()
    con.execute(NEW_HOUSEHOLD, (new_hh, sfzh, place, district, night.day.isoformat(), stamp))
    con.execute(HEAD_OF_NEW_HOUSEHOLD, (new_hh, place, stamp, rec_id))


def _splits(
    con: sqlite3.Connection, night: _Night, homes: dict, moved: set, fraction: float
) -> int:
    """Adult children set up their own household (分户): a new household and an updated resident."""
    adult = (night.day.replace(day=1) - datetime.timedelta(days=22 * 366)).strftime("%Y%m%d")
    candidates = [
        r
        for r in con.execute(
            "SELECT rec_id, sfzh, hh FROM hj_resident WHERE yhzgx IN ('20', '30') AND csrq <= ?"
            " ORDER BY rec_id",
            (adult,),
        )
        if r[2] in homes and r[2] not in moved
    ]
    chosen = night.rng.sample(candidates, night.how_many(len(candidates), fraction, 0.05))
    top = max((int(hh[2:]) for hh in homes if hh[2:].isdigit()), default=0)
    for number, candidate in enumerate(chosen, top + 1):
        _split_one(con, night, homes, number, candidate)
    return len(chosen)


def _newborns(
    con: sqlite3.Connection, night: _Night, homes: dict, fraction: float, rows: int
) -> int:
    """Children born on the logical date, registered into existing households."""
    stamp = night.day.strftime("%Y%m%d")
    taken = {r[0] for r in con.execute("SELECT sfzh FROM hj_resident WHERE csrq = ?", (stamp,))}
    chosen = night.rng.sample(sorted(homes), min(len(homes), night.how_many(rows, fraction, 0.1)))
    born = []
    for hh in chosen:
        place, xzqh = homes[hh]
        district = night.district(xzqh)
        sex = night.rng.choice("12")
        number = ""
        while not number or number in taken:
            seq = 2 * night.rng.randint(0, 499) + 1 if sex == "1" else 2 * night.rng.randint(1, 499)
            number = ric_number(district, stamp, seq)
        taken.add(number)
        name = night.rng.choice(night.pools.surnames) + night.pools.given(night.rng, sex)
        relation = "20" if sex == "1" else "30"
        born.append((number, name, sex, "01", stamp, hh, place, district, relation, night.stamp()))
    con.executemany(
        "INSERT INTO hj_resident (sfzh, xm, xb, mz, csrq, hh, hjdz, xzqh, yhzgx, update_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        born,
    )
    return len(born)


def _psb(path: Path, night: _Night, fraction: float) -> dict[str, dict[str, int]]:
    """Moves, household splits and newborns in the household register."""
    with closing(sqlite3.connect(path)) as con:
        homes = {
            hh: (addr, xzqh)
            for hh, addr, xzqh in con.execute("SELECT hh, hjdz, xzqh FROM hj_household")
        }
        residents = con.execute("SELECT COUNT(*) FROM hj_resident").fetchone()[0]
        moved, moved_people = _moves(con, night, homes, fraction)
        splits = _splits(con, night, homes, moved, fraction)
        born = _newborns(con, night, homes, fraction, residents)
        con.commit()
    return {
        "psb_hukou.hj_resident": {"updated": moved_people + splits, "inserted": born},
        "psb_hukou.hj_household": {"updated": len(moved), "inserted": splits},
    }


def _single(path: Path, night: _Night, fraction: float, update, insert) -> dict[str, int]:
    """Apply one table's updates then inserts in one transaction."""
    with closing(sqlite3.connect(path)) as con:
        updated = update(con, night, fraction)
        inserted = insert(con, night, fraction)
        con.commit()
    return {"updated": updated, "inserted": inserted}


def generate_increment(
    root: Path, logical_date: datetime.date, seed: int, changed_fraction: float = 0.01
) -> dict[str, dict[str, int]]:
    """Simulate the night of logical_date in the SQLite sources (watermarks fall inside that
    day), the credit interface (new decisions with a later gxsj) and the next day's credit and
    hazchem files (written beside the day before's, which must be there)."""
    root = Path(root)
    night = _Night(logical_date, seed, build_pools(seed, load_config().pools))
    counts = _psb(root / "psb_hukou.db", night, changed_fraction)
    counts["hrss_social_insurance.si_enrolment"] = _single(
        root / "hrss_si.db", night, changed_fraction, _enrolment_updates, _enrolment_inserts
    )
    counts["samr_enterprise.qy_jbxx"] = _single(
        root / "samr_reg.db", night, changed_fraction, _registration_updates, _registration_inserts
    )
    counts["nr_realestate.bdc_unit"] = _single(
        root / "nr_bdc.db", night, changed_fraction, _transfers, _new_units
    )
    counts.update(file_increment(root, night, changed_fraction))
    return counts
