"""govlake.sample: the generated sources really contain what the manifest says they contain."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_37_36

from govlake.errors import ConfigError
from govlake.sample import DefectRates, Manifest, generate_increment, generate_sources
from govlake.sample.config import KINDS, load_config

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 11, 26)
DS = "20261126"
SEED = 7
EZHOU = {"420702", "420703", "420704"}
ODD_WIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日")

# What the tests expect of each table, written from the contract, not from the generator.
RULES = {
    ("psb_hukou", "hj_resident"): {
        "pk": "rec_id",
        "required": ("sfzh", "xm", "xb", "csrq", "hh"),
        "ids": ("sfzh",),
        "dates": ("csrq",),
    },
    ("psb_hukou", "hj_household"): {
        "pk": None,
        "required": ("hzsfzh", "hjdz", "xzqh"),
        "ids": ("hzsfzh",),
        "dates": ("lhrq",),
    },
    ("hrss_social_insurance", "si_enrolment"): {
        "pk": "enrol_id",
        "required": ("id_number", "name", "insurance_type", "status"),
        "ids": ("id_number",),
        "usccs": ("unit_uscc",),
        "dates": ("start_date",),
        "names": (("id_number", "name"),),
    },
    ("nhsa_medical_insurance", "mi_insured"): {
        "pk": "psn_no",
        "required": ("certno", "psn_name", "insutype", "psn_insu_stas"),
        "ids": ("certno",),
        "dates": ("begndate",),
        "names": (("certno", "psn_name"),),
    },
    ("samr_enterprise", "qy_jbxx"): {
        "pk": "id",
        "required": ("tyshxydm", "qymc", "fddbr", "clrq", "jyzt"),
        "ids": ("fddbr_zjhm",),
        "usccs": ("tyshxydm",),
        "dates": ("clrq",),
        "names": (("fddbr_zjhm", "fddbr"),),
    },
    ("nhc_vital", "birth"): {
        "required": ("出生证编号", "新生儿姓名", "性别", "出生日期", "母亲姓名", "母亲身份证号"),
        "ids": ("母亲身份证号", "父亲身份证号"),
        "dates": ("出生日期", "签发日期"),
        "names": (("母亲身份证号", "母亲姓名"), ("父亲身份证号", "父亲姓名")),
    },
    ("nhc_vital", "death"): {
        "required": ("死亡证编号", "姓名", "身份证号", "死亡日期"),
        "ids": ("身份证号",),
        "dates": ("死亡日期", "填报日期"),
        "names": (("身份证号", "姓名"),),
        "sex": ("身份证号", "性别"),
    },
    ("mca_marriage", "marriage"): {
        "required": ("登记证号", "登记类型", "男方身份证号", "女方身份证号", "登记日期"),
        "ids": ("男方身份证号", "女方身份证号"),
        "dates": ("登记日期",),
        "names": (("男方身份证号", "男方姓名"), ("女方身份证号", "女方姓名")),
    },
    ("tax_credit", "credit_rating"): {
        "required": ("纳税人识别号", "纳税人名称", "信用级别"),
        "usccs": ("纳税人识别号",),
        "dates": ("评价日期",),
        "firms": (("纳税人识别号", "纳税人名称"),),
    },
    ("approval_certificate", "certificate"): {
        "required": (
            "certificate_id",
            "cert_type_code",
            "holder_name",
            "holder_id",
            "issuer_uscc",
            "issue_date",
        ),
        "usccs": ("issuer_uscc",),
        "dates": ("issue_date", "valid_from", "valid_to"),
    },
    # 双公示 records served by the ndrc_sgs interface: the rep's id only for a 个体工商户.
    ("ndrc_sgs", "admin_license"): {
        "required": ("xk_wsh", "xdr_mc", "xdr_shxym", "xk_jdrq"),
        "ids": ("fddbr_zjhm",),
        "usccs": ("xdr_shxym",),
        "dates": ("xk_jdrq",),
        "names": (("fddbr_zjhm", "fddbr"),),
        "firms": (("xdr_shxym", "xdr_mc"),),
    },
    ("ndrc_sgs", "admin_penalty"): {
        "required": ("cf_wsh", "xdr_mc", "xdr_shxym", "cf_jdrq"),
        "ids": ("fddbr_zjhm",),
        "usccs": ("xdr_shxym",),
        "dates": ("cf_jdrq",),
        "names": (("fddbr_zjhm", "fddbr"),),
        "firms": (("xdr_shxym", "xdr_mc"),),
    },
    ("ndrc_credit_list", "red_black_list"): {
        "required": ("名单类型", "主体名称", "统一社会信用代码", "列入日期"),
        "usccs": ("统一社会信用代码",),
        "dates": ("列入日期", "有效期至"),
        "firms": (("统一社会信用代码", "主体名称"),),
    },
}
HAZCHEM = {
    "usccs": ("统一社会信用代码",),
    "firms": (("统一社会信用代码", "企业名称"),),
}
RULES[("mem_hazchem", "enterprise")] = {
    **HAZCHEM,
    "required": ("统一社会信用代码", "企业名称", "许可证编号"),
    "dates": ("有效期至", "更新日期"),
}
RULES[("mem_hazchem", "inspection")] = {
    **HAZCHEM,
    "required": ("检查编号", "统一社会信用代码", "检查日期"),
    "dates": ("检查日期", "整改期限"),
}
RULES[("mem_hazchem", "incident")] = {
    **HAZCHEM,
    "required": ("事故编号", "统一社会信用代码", "事故日期", "事故类型"),
    "dates": ("事故日期",),
}
RULES[("nr_realestate", "bdc_unit")] = {
    "pk": "id",
    "required": ("bdcdyh", "zddm", "qlrmc", "qlrlx", "qlrzjhm", "qllx", "djsj"),
    "units": ("bdcdyh",),
    "dates": ("djsj", "bgsj"),
}
RULES[("nr_land_survey", "parcel_land_use")] = {
    "required": ("宗地代码", "地类编码"),
    "dates": ("调查日期",),
    "land_use": ("宗地代码", "地类编码"),
}
RULES[("stats_enterprise", "annual_figures")] = {
    "required": ("统一社会信用代码", "统计年度"),
    "usccs": ("统一社会信用代码",),
    "dates": (),
    "industry": ("统一社会信用代码", "行业代码"),
}
RULES[("tax_levy", "nd_sjse")] = {
    "pk": "id",
    "required": ("nsrsbh", "nd", "sjse"),
    "usccs": ("nsrsbh",),
    "dates": (),
}
PSB_ORDER = [
    ("psb_hukou", "hj_resident"),
    ("samr_enterprise", "qy_jbxx"),
    ("nr_realestate", "bdc_unit"),
]
# GB/T 37346 as the contract states it: an Ezhou county, cadastral district and sub-district,
# ownership G/J/Z and a right-type letter, parcel number, fixture F/L/Q/W and unit number.
UNIT_CODE = re.compile(r"42070[234]\d{6}[GJZ][ABSXCDEFHWYLN]\d{5}([FLQ]\d{8}|W0{8})")


def ric_ok(value: object) -> bool:
    """stdnum's check; stdnum 2.2 raises KeyError for some province-only prefixes."""
    try:
        return isinstance(value, str) and ric.is_valid(value)
    except KeyError:
        return False


def date_ok(value: object) -> bool:
    """A real date in one of the formats departments use (or an Excel date cell)."""
    if isinstance(value, datetime.date):
        return True
    for fmt in DATE_FORMATS:
        try:
            datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return True
    return False


def empty(value: object) -> bool:
    return value is None or value == ""


def padded(value: object) -> bool:
    return isinstance(value, str) and (value != value.strip() or bool(ODD_WIDTH.search(value)))


# ---------------------------------------------------------------- reading the sources


def read_sqlite(path: Path, table: str) -> tuple[list[dict], int]:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(f"SELECT * FROM {table}")]
    con.close()
    return rows, 0


def read_csv(path: Path, encoding: str) -> tuple[list[dict], int]:
    text = path.read_bytes().decode(encoding)
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, body = records[0], records[1:]
    good = [dict(zip(header, r, strict=True)) for r in body if len(r) == len(header)]
    return good, len(body) - len(good)


def read_jsonl(path: Path, columns: list[str]) -> tuple[list[dict], int]:
    good, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(obj, dict) and list(obj) == columns:
            good.append(obj)
        else:
            bad += 1
    return good, bad


def read_xlsx(path: Path, title_rows: int = 0) -> tuple[list[dict], int]:
    """A generated workbook's one sheet: `title_rows` above its header (a form's title)."""
    book = openpyxl.load_workbook(path)
    rows = list(book.worksheets[0].iter_rows(values_only=True))[title_rows:]
    header = [h for h in rows[0] if h is not None]
    good, bad = [], 0
    for row in rows[1:]:
        if any(v is not None for v in row[len(header) :]):
            bad += 1
        else:
            good.append(dict(zip(header, row[: len(header)], strict=True)))
    return good, bad


def read_xls(path: Path) -> tuple[list[dict], int]:
    """A generated .xls read with xlrd alone: the second header row names the columns."""
    import xlrd

    book = xlrd.open_workbook(str(path))
    sheet = book.sheet_by_index(0)

    def value(cell):
        if cell.ctype == xlrd.XL_CELL_DATE:
            return xlrd.xldate_as_datetime(cell.value, book.datemode).date()
        return None if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK) else cell.value

    # A column without a group is merged over both header rows: its name is in the first.
    pairs = zip(sheet.row_values(0), sheet.row_values(1), strict=True)
    header = [low or top for top, low in pairs if low or top]
    good, bad = [], 0
    for r in range(2, sheet.nrows):
        row = [value(c) for c in sheet.row(r)]
        if any(v is not None for v in row[len(header) :]):
            bad += 1
        else:
            good.append(
                dict(
                    zip(header, row[: len(header)] + [None] * (len(header) - len(row)), strict=True)
                )
            )
    return good, bad


CERT_KEYS = [
    "certificate_id",
    "cert_type_code",
    "cert_type_name",
    "holder_type",
    "holder_name",
    "holder_id",
    "issuer_name",
    "issuer_uscc",
    "issue_date",
    "valid_from",
    "valid_to",
    "status",
]


def read_interface(path: Path) -> tuple[list[dict], int]:
    """The records an interface serves: a broken export is a string instead of an object."""
    records = json.loads(path.read_text(encoding="utf-8"))["records"]
    good = [r for r in records if isinstance(r, dict)]
    return good, len(records) - len(good)


def read_table(root: Path, entry: dict, table: str) -> tuple[list[dict], int]:
    path = root / entry["path"]
    if path.suffix == ".json":
        return read_interface(path)
    if path.suffix == ".db":
        return read_sqlite(path, table)
    if path.suffix == ".csv":
        encodings = {"nhc_vital": "gbk", "nr_land_survey": "gb18030"}
        return read_csv(path, encodings.get(entry["path"].split("/")[0], "utf-8-sig"))
    if path.suffix == ".jsonl":
        return read_jsonl(path, CERT_KEYS)
    if path.suffix == ".xls":
        return read_xls(path)
    return read_xlsx(path, entry.get("title_rows", 0))


# ---------------------------------------------------------------- classifying rows


class Classifier:
    """Finds the one defect of each row from the data alone, with psb and samr as authorities."""

    def __init__(self) -> None:
        self.person_names: dict[str, str] = {}
        self.firm_names: dict[str, str] = {}
        self.land_uses: dict[str, str] = {}
        self.industries: dict[str, str] = {}

    def ids_of(self, key: tuple, row: dict) -> tuple[list, list]:
        rule = RULES[key]
        ids = [row[c] for c in rule.get("ids", ())]
        codes = [row[c] for c in rule.get("usccs", ())]
        if key[1] == "certificate":
            (ids if row["holder_type"] == "person" else codes).append(row["holder_id"])
        if key[1] == "bdc_unit":  # a right holder: a resident (个人) or a legal entity (单位)
            (ids if row["qlrlx"] == "个人" else codes).append(row["qlrzjhm"])
        return ids, codes

    def conflict(self, key: tuple, row: dict) -> bool:
        rule = RULES[key]
        if key == ("psb_hukou", "hj_resident"):
            return row["xb"] != ("1" if int(row["sfzh"][16]) % 2 else "2") or (
                row["csrq"] != row["sfzh"][6:14]
            )
        if "industry" in rule:  # 市统计局 writes 市场监管's class without its section letter
            firm, code = (row[c] for c in rule["industry"])
            known = self.industries.get(firm)
            return known is not None and known[1:] != str(code)
        if "land_use" in rule:
            parcel, use = (row[c] for c in rule["land_use"])
            known = self.land_uses.get(parcel)
            return known is not None and known != use.zfill(4)
        pairs = list(rule.get("names", ()))
        firms = list(rule.get("firms", ()))
        if key[1] == "certificate":
            target = pairs if row["holder_type"] == "person" else firms
            target.append(("holder_id", "holder_name"))
        for id_col, name_col in pairs:
            known = self.person_names.get(row[id_col])
            if known is not None and known != row[name_col]:
                return True
        for id_col, name_col in firms:
            known = self.firm_names.get(row[id_col])
            if known is not None and known != row[name_col]:
                return True
        if "sex" in rule:
            id_col, sex_col = rule["sex"]
            return row[sex_col] != ("男" if int(row[id_col][16]) % 2 else "女")
        return False

    def kind(self, key: tuple, row: dict) -> str | None:
        rule = RULES[key]
        ids, codes = self.ids_of(key, row)
        if any(empty(row[c]) for c in rule["required"]):
            return "missing_required"
        if any(padded(v) for v in row.values()):
            return "fullwidth_or_whitespace"
        if any(not empty(v) and not ric_ok(v) for v in ids):
            return "invalid_id_checksum"
        if any(not empty(v) and not uscc.is_valid(v) for v in codes):
            return "invalid_uscc_checksum"
        if any(not UNIT_CODE.fullmatch(row[c]) for c in rule.get("units", ())):
            return "invalid_unit_code"
        if any(not empty(row[c]) and not date_ok(row[c]) for c in rule["dates"]):
            return "impossible_date"
        if self.conflict(key, row):
            return "conflicting_value"
        return None

    def classify(self, key: tuple, rows: list[dict], unparseable: int) -> tuple[Counter, list]:
        counts: Counter = Counter()
        if unparseable:
            counts["unparseable_row"] = unparseable
        pk = RULES[key].get("pk")
        clean = []
        for row in rows:
            kind = self.kind(key, row)
            if kind:
                counts[kind] += 1
            else:
                clean.append(row)
        keys = [tuple(v for k, v in r.items() if k != pk) for r in clean]
        if len(keys) != len(set(keys)):
            counts["duplicate_row"] = len(keys) - len(set(keys))
        return counts, clean

    def learn(self, key: tuple, clean: list[dict]) -> None:
        if key == ("psb_hukou", "hj_resident"):
            self.person_names = {r["sfzh"]: r["xm"] for r in clean}
        if key == ("samr_enterprise", "qy_jbxx"):
            self.firm_names = {r["tyshxydm"]: r["qymc"] for r in clean}
            self.industries = {r["tyshxydm"]: r["hydm"] for r in clean}
        if key == ("nr_realestate", "bdc_unit"):
            self.land_uses = {r["zddm"]: r["tdyt"] for r in clean}


def classify_all(root: Path, manifest: dict) -> dict[tuple, Counter]:
    found = {}
    clf = Classifier()
    order = PSB_ORDER + [k for k in RULES if k not in PSB_ORDER]
    for key in order:
        system, table = key
        rows, bad = read_table(root, manifest["sources"][system][table], table)
        counts, clean = clf.classify(key, rows, bad)
        clf.learn(key, clean)
        found[key] = counts
    return found


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[Path, Manifest, list[str]]:
    root = tmp_path_factory.mktemp("dirty")
    messages: list[str] = []
    manifest = generate_sources(
        root, 400, DAY, seed=SEED, rates=DefectRates.uniform(0.04), progress=messages.append
    )
    return root, manifest, messages


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("clean")
    return root, generate_sources(root, 300, DAY, seed=SEED + 1, rates=DefectRates())


@pytest.fixture(scope="module")
def heavy(tmp_path_factory) -> tuple[Path, Manifest]:
    """A tenth of the rows per kind: most rows defective, small tables hit the caps."""
    root = tmp_path_factory.mktemp("heavy")
    return root, generate_sources(root, 300, DAY, seed=SEED + 2, rates=DefectRates.uniform(0.1))


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory) -> tuple[Path, Manifest]:
    """Many unparseable rows, so every file format carries some."""
    root = tmp_path_factory.mktemp("broken")
    rates = DefectRates(unparseable_row=0.5, duplicate_row=0.05)
    return root, generate_sources(root, 300, DAY, seed=SEED + 3, rates=rates)


def data_rows(root: Path, entry: dict, table: str) -> int:
    path = root / entry["path"]
    if path.suffix == ".db":
        con = sqlite3.connect(path)
        count = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        con.close()
        return count
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        return sum(1 for _ in sheet.iter_rows(values_only=True)) - 1 - entry.get("title_rows", 0)
    if path.suffix == ".xls":
        good, bad = read_xls(path)
        return len(good) + bad
    if path.suffix == ".json":
        return len(json.loads(path.read_text(encoding="utf-8"))["records"])
    lines = path.read_bytes().splitlines()
    return len(lines) - (0 if path.suffix == ".jsonl" else 1)


def all_rows(root: Path, system: str, table: str) -> list[dict]:
    entry = Manifest.load(root / "manifest.json").table(system, table)
    return read_table(root, entry, table)[0]


# ---------------------------------------------------------------- tests


def test_manifest_shape_and_file(dirty) -> None:
    root, manifest, messages = dirty
    data = manifest.to_dict()
    assert data["persons"] == 400 and data["seed"] == SEED and data["logical_date"] == "2026-11-26"
    assert json.loads((root / "manifest.json").read_text(encoding="utf-8")) == data
    assert {(s, t) for s, tables in data["sources"].items() for t in tables} == set(RULES)
    for tables in data["sources"].values():
        for entry in tables.values():
            assert (root / entry["path"]).is_file()
            assert set(entry["defects"]) <= set(KINDS)
    assert data["sources"]["nhc_vital"]["birth"]["path"] == f"nhc_vital/birth_{DS}.csv"
    assert len(messages) >= len(RULES)


def test_rows_in_manifest_are_rows_in_files(dirty) -> None:
    root, manifest, _ = dirty
    for system, tables in manifest.sources.items():
        for table, entry in tables.items():
            assert data_rows(root, entry, table) == entry["rows"], (system, table)


@pytest.mark.parametrize("dataset", ["dirty", "heavy", "broken_files"])
def test_every_defect_counted_is_found_and_nothing_else(dataset, request) -> None:
    root, manifest = request.getfixturevalue(dataset)[:2]
    found = classify_all(root, manifest.to_dict())
    totals: Counter = Counter()
    for (system, table), counts in found.items():
        expected = {k: v for k, v in manifest.table(system, table)["defects"].items() if v}
        assert dict(counts) == expected, (system, table)
        totals.update(expected)
    if dataset != "broken_files":
        assert set(totals) == set(KINDS), "every defect kind occurs somewhere"


def test_zero_rates_give_clean_sources(clean) -> None:
    root, manifest = clean
    found = classify_all(root, manifest.to_dict())
    assert all(not counts for counts in found.values()), found
    for tables in manifest.sources.values():
        assert all(n == 0 for entry in tables.values() for n in entry["defects"].values())


def test_db_sources_have_no_unparseable_and_households_no_duplicates(dirty) -> None:
    _, manifest, _ = dirty
    for system, table in RULES:
        entry = manifest.table(system, table)
        if entry["path"].endswith(".db"):
            assert "unparseable_row" not in entry["defects"]
    assert "duplicate_row" not in manifest.table("psb_hukou", "hj_household")["defects"]


def test_residents_are_ezhou_people(clean) -> None:
    root, manifest = clean
    residents = all_rows(root, "psb_hukou", "hj_resident")
    assert len(residents) == 300
    for r in residents:
        assert ric.is_valid(r["sfzh"])
        assert r["xb"] == ("1" if int(r["sfzh"][16]) % 2 else "2")
        assert r["csrq"] == r["sfzh"][6:14]
        assert r["xzqh"] in EZHOU and r["hjdz"].startswith("湖北省鄂州市")
        assert re.fullmatch(r"\d{2}", r["mz"]) and re.fullmatch(r"\d{2}", r["yhzgx"])
        age = (DAY - ric.get_birth_date(r["sfzh"])).days / 365.2425
        assert 0 <= age < 97
        assert r["update_time"] <= "2026-11-26 23:59:59"
    prefixes = Counter(r["sfzh"][:6] for r in residents)
    assert all(p.startswith("42") for p in prefixes)
    assert sum(n for p, n in prefixes.items() if p in EZHOU) > 0.2 * len(residents)
    assert Counter(r["mz"] for r in residents).most_common(1)[0][0] == "01"
    heads = {r["sfzh"] for r in residents if r["yhzgx"] == "02"}
    households = all_rows(root, "psb_hukou", "hj_household")
    assert {h["hzsfzh"] for h in households} == heads


def test_vital_events_refer_to_residents(clean) -> None:
    root, _ = clean
    people = {r["sfzh"]: r for r in all_rows(root, "psb_hukou", "hj_resident")}
    births = all_rows(root, "nhc_vital", "birth")
    assert len(births) == 3
    for b in births:
        assert people[b["母亲身份证号"]]["xb"] == "2" and people[b["父亲身份证号"]]["xb"] == "1"
        newborn = [p for p in people.values() if p["xm"] == b["新生儿姓名"]]
        assert any(p["csrq"] == b["出生日期"].replace("-", "").replace("/", "") for p in newborn)
    for d in all_rows(root, "nhc_vital", "death"):
        assert people[d["身份证号"]]["xm"] == d["姓名"] and d["死亡日期"] <= "2026-11-26"
    for m in all_rows(root, "mca_marriage", "marriage"):
        assert people[m["男方身份证号"]]["xb"] == "1" and people[m["女方身份证号"]]["xb"] == "2"
        assert m["登记类型"] in ("结婚", "离婚")
        assert re.fullmatch(r"[JL]42070[234]-\d{4}-\d{6}", m["登记证号"])


def test_enterprises_and_credit(clean) -> None:
    root, _ = clean
    people = {r["sfzh"]: r["xm"] for r in all_rows(root, "psb_hukou", "hj_resident")}
    firms = all_rows(root, "samr_enterprise", "qy_jbxx")
    assert firms
    for f in firms:
        assert uscc.is_valid(f["tyshxydm"]) and f["tyshxydm"][0] == "9"
        assert f["tyshxydm"][2:8] in EZHOU
        assert people[f["fddbr_zjhm"]] == f["fddbr"]
        assert f["jyzt"] in ("存续", "在业", "注销", "吊销") and isinstance(f["zczb"], float)
        assert f["clrq"] <= f["gxsj"][:10] <= "2026-11-26"
    for t in all_rows(root, "tax_credit", "credit_rating"):
        assert uscc.is_valid(t["纳税人识别号"]) and t["信用级别"] in "ABMCD"
        assert t["评价年度"] == "2025"


def test_organisation_codes_match_real_registered_uscc() -> None:
    """GB 11714 reads letters as base-36 values (A=10 ... Z=35), as real USCCs show."""
    from govlake.sample.identifiers import org_code

    assert org_code("MA2PBM9H") == "MA2PBM9HX"  # from 91340600MA2PBM9HXD
    assert org_code("L0151012") == "L01510128"  # from 91620105L015101280


def test_insurance_tables(clean) -> None:
    root, _ = clean
    people = {r["sfzh"] for r in all_rows(root, "psb_hukou", "hj_resident")}
    enrol = all_rows(root, "hrss_social_insurance", "si_enrolment")
    assert 0.5 * 300 < len({e["id_number"] for e in enrol}) < 0.7 * 300
    for e in enrol:
        assert e["id_number"] in people and e["insurance_type"] in (
            "110",
            "120",
            "170",
            "210",
            "410",
        )
        assert (e["unit_uscc"] is None) == (e["insurance_type"] == "170")
        assert e["status"] in "123" and e["start_date"] <= e["last_modified"][:10] <= "2026-11-26"
    insured = all_rows(root, "nhsa_medical_insurance", "mi_insured")
    assert len(insured) == 270
    assert {i["insutype"] for i in insured} <= {"310", "390"}


def test_certificate_identifiers(dirty) -> None:
    root, _, _ = dirty
    certs = all_rows(root, "approval_certificate", "certificate")
    assert certs
    for c in certs:
        if empty(c["certificate_id"]):
            continue
        parts = c["certificate_id"].split(".")
        assert ".".join(parts[:5]) == "1.2.156.3005.2" and len(parts) == 10
        type_code, issuer, serial, version, check = parts[5:]
        assert mod_37_36.is_valid(type_code + issuer + serial + version + check)
        assert re.fullmatch(r"\d{3}", version) and uscc.is_valid(issuer)
        assert type_code == c["cert_type_code"]
        assert c["holder_type"] in ("person", "legal_entity")
        assert c["status"] in ("valid", "revoked", "expired")
        if c["status"] == "expired":
            assert c["valid_to"] < "2026-11-26"


def test_encodings_and_line_ends(dirty) -> None:
    root, _, _ = dirty
    for name in (f"birth_{DS}.csv", f"death_{DS}.csv"):
        raw = (root / "nhc_vital" / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert raw.decode("gbk").startswith(("出生证编号,", "死亡证编号,"))
        assert raw.count(b"\r\n") == raw.count(b"\n") > 1
    raw = (root / "tax_credit" / f"credit_rating_{DS}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert (
        raw[3:].decode("utf-8").startswith("纳税人识别号,纳税人名称,评价年度,信用级别,评价日期\r\n")
    )
    for line in (root / "approval_cert" / f"certificates_{DS}.jsonl").read_bytes().splitlines():
        line.decode("utf-8")


def test_marriage_workbook(dirty) -> None:
    root, _, _ = dirty
    book = openpyxl.load_workbook(root / "mca_marriage" / f"marriage_{DS}.xlsx")
    assert book.sheetnames == ["婚姻登记"]
    rows = list(book["婚姻登记"].iter_rows(values_only=True))
    assert list(rows[0][:8]) == [
        "登记证号",
        "登记类型",
        "男方姓名",
        "男方身份证号",
        "女方姓名",
        "女方身份证号",
        "登记日期",
        "登记机关",
    ]
    dates = [r[6] for r in rows[1:]]
    assert sum(isinstance(d, datetime.datetime) for d in dates) > len(dates) / 2
    texts = [d for d in dates if isinstance(d, str)]
    assert all(re.fullmatch(r"\d{4}年\d{2}月\d{2}日", d) for d in texts)


def test_unparseable_rows_really_do_not_parse(broken_files) -> None:
    root, manifest = broken_files
    for system, table in (
        ("nhc_vital", "birth"),
        ("nhc_vital", "death"),
        ("tax_credit", "credit_rating"),
    ):
        entry = manifest.table(system, table)
        text = (
            (root / entry["path"])
            .read_bytes()
            .decode("gbk" if system == "nhc_vital" else "utf-8-sig")
        )
        records = list(csv.reader(io.StringIO(text, newline="")))
        wrong = [r for r in records[1:] if len(r) != len(records[0])]
        assert len(wrong) == entry["defects"]["unparseable_row"] > 0, table
        assert len(records) - 1 == entry["rows"] == len(text.splitlines()) - 1
    entry = manifest.table("approval_certificate", "certificate")
    bad = 0
    for line in (root / entry["path"]).read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    assert bad == entry["defects"]["unparseable_row"] > 0
    entry = manifest.table("mca_marriage", "marriage")
    sheet = openpyxl.load_workbook(root / entry["path"])["婚姻登记"]
    wide = [r for r in sheet.iter_rows(min_row=2, values_only=True) if any(r[8:])]
    assert len(wide) == entry["defects"]["unparseable_row"] > 0
    assert sheet.cell(1, 9).value is None


def test_same_inputs_give_identical_files(tmp_path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    rates = DefectRates.uniform(0.03)
    generate_sources(first, 300, DAY, seed=11, rates=rates)
    generate_sources(second, 300, DAY, seed=11, rates=rates)
    generate_sources(other, 300, DAY, seed=12, rates=rates)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    # department files (3 .xls, 2 api JSON, the 一套表 .xlsx, the tax .db), manifest, defects.jsonl
    assert len(files) == 21
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    assert (first / "psb_hukou.db").read_bytes() != (other / "psb_hukou.db").read_bytes()


def test_identical_across_processes(tmp_path) -> None:
    """No dependence on str hashing: another interpreter with another hash seed agrees."""
    here, there = tmp_path / "here", tmp_path / "there"
    generate_sources(here, 300, DAY, seed=5)
    code = (
        "import datetime, pathlib, sys; from govlake.sample import generate_sources; "
        "generate_sources(pathlib.Path(sys.argv[1]), 300, datetime.date(2026, 11, 26), seed=5)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(there)], check=True, env=env, cwd=ROOT)
    for path in here.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (there / path.relative_to(here)).read_bytes(), path


def test_rerun_overwrites(tmp_path) -> None:
    generate_sources(tmp_path, 300, DAY, seed=3)
    again = generate_sources(tmp_path, 200, DAY, seed=3)
    assert (
        data_rows(tmp_path, again.table("psb_hukou", "hj_resident"), "hj_resident")
        == (again.table("psb_hukou", "hj_resident")["rows"])
    )


def test_rates_come_from_conf_and_overrides_apply() -> None:
    config = load_config()
    assert DefectRates.load() == config.rates
    assert 0 < config.rates.invalid_id_checksum < 0.1
    rates = DefectRates.from_mapping(
        {"duplicate_row": 0.01, "tables": {"psb_hukou.hj_resident": {"duplicate_row": 0.2}}}
    )
    assert rates.for_table("psb_hukou.hj_resident")["duplicate_row"] == 0.2
    assert rates.for_table("nhsa_medical_insurance.mi_insured")["duplicate_row"] == 0.01
    with pytest.raises(ConfigError):
        DefectRates.from_mapping({"typo_kind": 0.1})
    with pytest.raises(ConfigError):
        DefectRates.from_mapping({"duplicate_row": 2})


def test_increment_changes_only_the_next_day(clean, tmp_path) -> None:
    source, manifest = clean
    root = tmp_path / "night"
    shutil.copytree(source, root)
    night = DAY + datetime.timedelta(days=1)
    counts = generate_increment(root, night, seed=SEED, changed_fraction=0.05)
    tables = {
        "psb_hukou.hj_resident": ("psb_hukou.db", "hj_resident", "update_time"),
        "psb_hukou.hj_household": ("psb_hukou.db", "hj_household", "update_time"),
        "hrss_social_insurance.si_enrolment": ("hrss_si.db", "si_enrolment", "last_modified"),
        "samr_enterprise.qy_jbxx": ("samr_reg.db", "qy_jbxx", "gxsj"),
        "nr_realestate.bdc_unit": ("nr_bdc.db", "bdc_unit", "gxsj"),
    }
    assert set(counts) == set(tables) | set(FILE_CHANGES)
    for key, (db, table, mark) in tables.items():
        system, name = key.split(".")
        con = sqlite3.connect(root / db)
        total = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        touched = con.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {mark} >= ?", (f"{night} 00:00:00",)
        ).fetchone()[0]
        later = con.execute(f"SELECT MAX({mark}) FROM {table}").fetchone()[0]
        con.close()
        assert counts[key]["updated"] > 0 and counts[key]["inserted"] > 0, key
        assert total == manifest.table(system, name)["rows"] + counts[key]["inserted"]
        assert touched == counts[key]["updated"] + counts[key]["inserted"], key
        assert later <= f"{night} 23:59:59"
    con = sqlite3.connect(root / "psb_hukou.db")
    born = [
        r[0]
        for r in con.execute(
            "SELECT sfzh FROM hj_resident WHERE csrq = ?", (night.strftime("%Y%m%d"),)
        )
    ]
    con.close()
    assert born and all(ric.is_valid(n) for n in born)
    for check in (interface_changes, rating_and_list_changes, hazchem_changes):
        check(root, source, manifest, night, counts)


FILE_CHANGES = (
    "ndrc_sgs.admin_license",
    "ndrc_sgs.admin_penalty",
    "tax_credit.credit_rating",
    "ndrc_credit_list.red_black_list",
    "mem_hazchem.enterprise",
    "mem_hazchem.inspection",
    "mem_hazchem.incident",
)


def interface_changes(root, _source, manifest, night, counts) -> None:
    """New 双公示 decisions served after every earlier one (a later gxsj, inside the night)."""
    for name in ("admin_license", "admin_penalty"):
        path = root / manifest.table("ndrc_sgs", name)["path"]
        records = json.loads(path.read_text(encoding="utf-8"))["records"]
        stamps = [r["gxsj"] for r in records if isinstance(r, dict)]
        new = [g for g in stamps if g >= f"{night} 00:00:00"]
        assert len(new) == counts[f"ndrc_sgs.{name}"]["inserted"] > 0
        assert len(records) == manifest.table("ndrc_sgs", name)["rows"] + len(new)
        assert max(stamps) <= f"{night} 23:59:59" and stamps[-len(new) :] == new


def next_file(root, source, manifest, system: str, table: str, night) -> tuple[Path, Path]:
    """Yesterday's delivery (as generated) and tonight's (written by the increment)."""
    path = manifest.table(system, table)["path"]
    ds = DAY.strftime("%Y%m%d")
    return source / path, root / path.replace(ds, night.strftime("%Y%m%d"))


def read_rows(path: Path, system: str, table: str) -> list[tuple]:
    """A delivery's rows as the project's reader takes them."""
    from govlake.sources import get_table
    from jobs.readers import FileInput, csv_records_of, xls_rows

    item = FileInput(*get_table(system, table), path)
    columns, rows = (xls_rows if path.suffix == ".xls" else csv_records_of)(item)
    return [r[: len(columns)] for r in rows]


def rating_and_list_changes(root, source, manifest, night, counts) -> None:
    """Ratings revised tonight (a new level, dated tonight), black-list entries added."""
    old, new = next_file(root, source, manifest, "tax_credit", "credit_rating", night)
    before, after = (
        read_rows(old, "tax_credit", "credit_rating"),
        read_rows(new, "tax_credit", "credit_rating"),
    )
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == counts["tax_credit.credit_rating"]["updated"] > 0
    assert all(a[3] != b[3] and a[4] == night.isoformat() for b, a in changed)
    old, new = next_file(root, source, manifest, "ndrc_credit_list", "red_black_list", night)
    before = read_rows(old, "ndrc_credit_list", "red_black_list")
    after = read_rows(new, "ndrc_credit_list", "red_black_list")
    assert after[: len(before)] == before
    added = after[len(before) :]
    assert len(added) == counts["ndrc_credit_list.red_black_list"]["inserted"]
    assert all(r[1] == "黑名单" and r[7] == night.isoformat() for r in added)


def hazchem_changes(root, source, manifest, night, counts) -> None:
    """Enterprises updated tonight and new inspections; incidents as they were."""
    rows = {
        table: [
            read_rows(p, "mem_hazchem", table)
            for p in next_file(root, source, manifest, "mem_hazchem", table, night)
        ]
        for table in ("enterprise", "inspection", "incident")
    }
    before, after = rows["enterprise"]
    changed = [a for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == counts["mem_hazchem.enterprise"]["updated"] > 0
    assert all(a[8] == night.isoformat() for a in changed)
    before, after = rows["inspection"]
    assert after[: len(before)] == before
    added = after[len(before) :]
    assert len(added) == counts["mem_hazchem.inspection"]["inserted"] > 0
    assert all(r[3] == night.isoformat() for r in added)
    assert len({r[0] for r in after}) == len(after), "inspection numbers stay unique"
    assert rows["incident"][0] == rows["incident"][1]


def test_a_department_a_user_added_is_left_out_of_the_ground_truth_comparison(clean):
    """Issue 20 item 10: after a user adds a department to a library, the demo compared its
    quarantined rows and conflicts with a generator that never planted them ("137 of 126 ...
    DO NOT agree"). Only inputs whose table the generator wrote are compared, and conflicts
    count only between two of them."""
    from govlake.libraries import Input, load_libraries
    from govlake.sample.truth import generated_inputs, without_inputs

    _, manifest = clean
    population = next(lib for lib in load_libraries() if lib.library == "population")
    assert generated_inputs(population, manifest.sources) == set(population.inputs)

    added = Input(table="ods.dpf_disability__cjr_jbxx", department="市残联", key="sfzh")
    grown = population.model_copy(update={"inputs": {**population.inputs, "disability": added}})
    generated = generated_inputs(grown, manifest.sources)
    assert generated == set(population.inputs)

    one, other = sorted(population.inputs)[:2]
    skipped = set(grown.inputs) - generated
    encoded = "identity_number"  # what the identity number encodes wins: no input
    recorded = {
        ("k1", "name", one, other),
        ("k2", "name", "disability", one),
        ("k3", "name", one, "disability"),
        ("k4", "sex", one, encoded),
    }
    kept = {("k1", "name", one, other), ("k4", "sex", one, encoded)}
    assert without_inputs(recorded, skipped, (2, 3)) == kept
    quarantined = {(one, "r1"), ("disability", "r2")}
    assert without_inputs(quarantined, skipped, (0,)) == {(one, "r1")}


def test_a_missing_number_in_a_database_is_null_never_empty_text():
    """A database keeps '' only in a text column: an emptied REAL value is NULL (a '' there made
    the 税务局 load fail whole at 10,000 persons, as the loader's guard must for such a table)."""
    import random

    from govlake.sample.defects import _missing
    from govlake.sample.sources_economy import TAX
    from govlake.sample.tables import TableData

    class Empty(random.Random):
        def random(self):  # the branch that leaves '' rather than NULL
            return 0.9

    row = ["91420704MA4K12345X", "甲公司", "2025", 12.5, "2026-11-25 10:00:00"]
    data = TableData(TAX, [row])
    numbers = {TAX.col(c) for c in TAX.types}
    for seed in range(20):
        new = _missing(row, data, Empty(seed))
        (changed,) = [i for i in range(len(row)) if new[i] != row[i]]
        assert new[changed] == (None if changed in numbers else ""), (seed, new)
