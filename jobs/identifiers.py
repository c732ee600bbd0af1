"""Identifier checks as Spark columns, so nightly jobs validate without Python UDFs.

Each check returns a struct `{valid: boolean, reason: string}` (reason NULL when valid) for
GB 11643 ID numbers (ric), GB 32100 unified social credit codes (uscc), GB/T 36904
electronic certificate identifiers (cert), GB/T 37346 real-estate unit codes (unit_code) and
GB/T 4754-2017 industry codes (industry). Values are normalised first: surrounding
whitespace (also U+3000) trimmed, full-width ASCII turned half-width, letters upper-cased
(except in unit codes, where a lowercase letter is a defect of its own: the registration
system writes upper case, so a lower one was typed by hand and may be mistyped otherwise).
The ID number, USCC and certificate checks sum weights over every character: they are Java
functions (jobs/jvm, compiled by govlake.jvm_functions) that Spark calls from its generated
code; the others are Spark expressions.

Address codes: GB/T 2260 changes every year, while an ID number keeps the code that was
current when it was first issued, so a correct check needs every code ever assigned and
the year it was valid. No official machine-readable history exists; python-stdnum ships a
compilation from Wikipedia that still misses codes. A missing code would reject a real
person, so by default only the province (first two digits) is checked; pass
`address_codes=stdnum_address_codes()` or your own prefixes for a stricter check.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

if TYPE_CHECKING:
    import argparse

    from pyspark.sql import SparkSession

ColumnOrName = Column | str

TRIM_CHARS = " \t\r\n\u3000\u00a0\u200b\ufeff"
FULL_WIDTH = "".join(chr(code) for code in range(0xFF01, 0xFF5F))
HALF_WIDTH = "".join(chr(code) for code in range(0x21, 0x7F))

RIC_FORM = r"^\d{17}[\dX]$"
RIC_OLD_FORM = r"^\d{15}$"
EARLIEST_BIRTH = dt.date(1900, 1, 1)
PROVINCES = frozenset(
    f"{code}"
    for code in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
    )
)

# GB 32100-2015 Annex A with its amendments: registering authority -> entity-type characters.
ENTITY_TYPES: Mapping[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 编办直管群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律所, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国 / 港澳台旅游部门常驻代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商 / 市场监管: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级 / 村级 / 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他
}

CERT_ROOT = "1.2.156.3005.2."

# GB/T 37346-2019 不动产单元设定与代码编制规则, 8.2 and the code tables of 8.6: the parcel
# (宗地 / 宗海) feature code is the land ownership, then the type of right on the parcel. The
# letters A B S X C D E F H G W Y are those of the 2015 trial rules the standard took over (as
# summarised in public registration notes); L and N, the non-contract forest and farm land
# rights, were added by the 2019 standard (not confirmed here against its text: a real code with
# another letter is reported as bad_right_type, so the table is one place to correct).
UNIT_CODE_LENGTH = 28
UNIT_OWNERSHIP = "GJZ"  # 国家, 集体, 土地所有权未确定或有争议
UNIT_RIGHT_TYPES: Mapping[str, str] = {
    "A": "集体土地所有权宗地",
    "B": "建设用地使用权宗地（地表）",
    "S": "建设用地使用权宗地（地上）",
    "X": "建设用地使用权宗地（地下）",
    "C": "宅基地使用权宗地",
    "D": "土地承包经营权宗地（耕地）",
    "E": "土地承包经营权宗地（林地）",
    "F": "土地承包经营权宗地（草地）",
    "L": "林地使用权宗地（承包经营以外的）",
    "N": "农用地使用权宗地（承包经营以外的、非林地）",
    "H": "海域使用权宗海",
    "G": "无居民海岛使用权海岛",
    "W": "使用权未确定或有争议的土地",
    "Y": "其他土地使用权宗地（特征码扩展）",
}
# 定着物特征码: 房屋等建筑物、构筑物; 森林、林木; 其他定着物; 无定着物 (then W00000000).
UNIT_FIXTURES = "FLQW"
NO_FIXTURE_NUMBER = "00000000"

INDUSTRY_FORM = r"^([A-Z]?)(\d{2,4})$"

REASONS_ZH: Mapping[str, str] = {
    "missing": "为空",
    "bad_length": "长度错误",
    "bad_char": "含非法字符",
    "old_15_digit": "15位旧身份证号码",
    "bad_check": "校验码错误",
    "bad_birth_date": "出生日期不存在",
    "birth_before_1900": "出生日期早于1900年",
    "birth_in_future": "出生日期晚于当前日期",
    "unknown_division": "行政区划代码未知",
    "bad_authority": "登记管理部门代码错误",
    "bad_entity_type": "机构类别代码错误",
    "bad_division": "登记管理机关行政区划码错误",
    "bad_org_code_check": "组织机构代码校验码错误",
    "bad_root": "证照标识根编码错误",
    "bad_format": "证照标识结构错误",
    "bad_version": "版本号错误",
    "bad_issuer": "颁证单位代码错误",
    "lowercase": "含小写字母",
    "not_ezhou": "非本市县级行政区划代码",
    "bad_cadastral_district": "地籍区代码错误",
    "bad_cadastral_subdistrict": "地籍子区代码错误",
    "bad_ownership": "宗地特征码所有权类型错误",
    "bad_right_type": "宗地特征码权利类型错误",
    "bad_parcel_number": "宗地顺序号错误",
    "bad_fixture": "定着物特征码错误",
    "bad_fixture_number": "定着物单元编号错误",
    "no_fixture_not_zero": "无定着物（W）的单元编号不为00000000",
    "bad_pattern": "格式错误（应为门类字母加2至4位数字）",
    "bad_section": "门类代码错误",
    "unknown_code": "行业代码不存在",
    "section_mismatch": "门类与行业代码不符",
}


def _col(value: ColumnOrName) -> Column:
    return F.col(value) if isinstance(value, str) else value


def _trimmed_half_width(col: ColumnOrName) -> Column:
    """Trimmed, half-width text, its case kept."""
    value = _col(col)
    # translate looks up every character; most values are plain ASCII (one byte per character,
    # which needs no regular expression to see) and skip it.
    half = F.when(
        F.octet_length(value) != F.length(value), F.translate(value, FULL_WIDTH, HALF_WIDTH)
    )
    return F.btrim(F.coalesce(half, value), F.lit(TRIM_CHARS))


def normalize_id(col: ColumnOrName) -> Column:
    """Trimmed, half-width, upper-case text, as people type identifiers into forms."""
    return F.upper(_trimmed_half_width(col))


def _first_failure(*checks: tuple[Column, str]) -> Column:
    """The reason of the first failed check (most basic first); NULL when all pass.

    A COALESCE of CASEs: later checks are skipped once one failed, and Spark normalises the
    value once as every branch uses it.
    """
    return F.coalesce(*[F.when(test, reason) for test, reason in checks])


def _result(reason: Column) -> Column:
    return F.struct(reason.isNull().alias("valid"), reason.alias("reason"))


def _missing(value: Column) -> Column:
    return F.coalesce(value, F.lit("")) == ""


def _char(value: Column, pos: int) -> Column:
    return F.substring(value, pos, 1)


def _today(today: dt.date | str | Column | None) -> Column:
    if today is None:
        return F.current_date()
    if isinstance(today, Column):
        return today
    return F.lit(dt.date.fromisoformat(today) if isinstance(today, str) else today)


def _prefix_spec(prefixes: Iterable[str]) -> str:
    """Address code prefixes as the JVM check reads them ("11,12,4207"): digit strings of
    length 2 to 6, checked here so a wrong one fails where it is given."""
    chosen = sorted(set(prefixes))
    for prefix in chosen:
        if not (prefix.isascii() and prefix.isdigit() and 2 <= len(prefix) <= 6):
            raise ValueError(f"address code prefix {prefix!r} is not 2 to 6 digits")
    if not chosen:
        raise ValueError("address_codes is empty")
    return ",".join(chosen)


@lru_cache(maxsize=1)
def stdnum_address_codes() -> frozenset[str]:
    """Every 6-digit address code python-stdnum lists for any year (opt-in stricter check)."""
    from stdnum import numdb

    codes = set()
    for _, low, high, _, children in numdb.get("cn/loc").prefixes:
        for _, sub_low, sub_high, _, _ in children:
            for sub in range(int(sub_low), int(sub_high) + 1):
                codes.update(f"{p}{sub:04d}" for p in range(int(low), int(high) + 1))
    return frozenset(codes)


def _ric_date(value: Column) -> Column:
    return F.try_to_date(F.substring(value, 7, 8), "yyyyMMdd")


def _jvm_check(function: str, col: ColumnOrName, *arguments: Column) -> Column:
    """The result of a JVM check (jobs/jvm, govlake.jvm_functions) of the raw value: it
    normalises as normalize_id does, then applies every rule in one call per value. The
    per-character sums cost string copies or an interpreted lambda as Spark expressions."""
    from govlake.jvm_functions import function as registered

    return _result(F.call_udf(registered(function), _col(col), *arguments))


def ric_check(
    col: ColumnOrName,
    today: dt.date | str | Column | None = None,
    address_codes: Iterable[str] = PROVINCES,
) -> Column:
    """GB 11643 ID number check; reason codes in order: missing, old_15_digit, bad_length,
    bad_char, bad_check (MOD 11-2), bad_birth_date, birth_before_1900, birth_in_future
    (after `today`, by default the current date), unknown_division (not one of
    `address_codes`' prefixes)."""
    day = F.date_format(_today(today), "yyyyMMdd")
    return _jvm_check("govlake_ric_reason", col, day, F.lit(_prefix_spec(address_codes)))


def ric_birth_date(col: ColumnOrName) -> Column:
    """Birth date stated by an 18- or 15-digit ID number (check character not verified)."""
    value = normalize_id(col)
    old = F.try_to_date(F.concat(F.lit("19"), F.substring(value, 7, 6)), "yyyyMMdd")
    birth = F.when(value.rlike(RIC_FORM), _ric_date(value)).when(value.rlike(RIC_OLD_FORM), old)
    return F.when(birth >= F.lit(EARLIEST_BIRTH), birth)


def ric_sex(col: ColumnOrName) -> Column:
    """GB/T 2261.1 sex code from the sequence number: '1' male (odd), '2' female (even)."""
    value = normalize_id(col)
    digit = F.when(value.rlike(RIC_FORM), _char(value, 17)).when(
        value.rlike(RIC_OLD_FORM), _char(value, 15)
    )
    return F.when(digit.isin("1", "3", "5", "7", "9"), "1").when(digit.isNotNull(), "2")


def ric_division(col: ColumnOrName) -> Column:
    """The 6-digit GB/T 2260 address code of an 18- or 15-digit ID number."""
    value = normalize_id(col)
    well_formed = value.rlike(RIC_FORM) | value.rlike(RIC_OLD_FORM)
    return F.when(well_formed, F.substring(value, 1, 6))


def entity_types_spec(entity_types: Mapping[str, str]) -> str:
    """ENTITY_TYPES as the JVM checks read it: "1:1239;2:19;..."."""
    for authority, types in entity_types.items():
        if len(authority) != 1 or not (authority + types).isascii() or ";" in types + authority:
            raise ValueError(
                f"entity types {authority!r}: {types!r}: an authority is one ASCII character "
                "and its entity types ASCII characters (GB 32100 Annex A)"
            )
    return ";".join(f"{authority}:{types}" for authority, types in sorted(entity_types.items()))


def _entity_arguments(entity_types: Mapping[str, str], org_check: bool) -> tuple[Column, ...]:
    return F.lit(entity_types_spec(entity_types)), F.lit(bool(org_check))


def uscc_check(
    col: ColumnOrName,
    entity_types: Mapping[str, str] = ENTITY_TYPES,
    check_org_code: bool = True,
) -> Column:
    """GB 32100 USCC check; reason codes in order: missing, bad_length, bad_char,
    bad_authority, bad_entity_type, bad_division, bad_check (MOD 31), bad_org_code_check
    (GB 11714, characters 9 to 17)."""
    arguments = _entity_arguments(entity_types, check_org_code)
    return _jvm_check("govlake_uscc_reason", col, *arguments)


def cert_check(
    col: ColumnOrName,
    entity_types: Mapping[str, str] = ENTITY_TYPES,
    check_org_code: bool = True,
) -> Column:
    """GB/T 36904 certificate identifier check (root 1.2.156.3005.2., then type, issuer USCC,
    serial, version and an ISO/IEC 7064 MOD 37,36 check character); reason codes in order:
    missing, bad_root, bad_format, bad_char, bad_version, bad_issuer, bad_check."""
    arguments = _entity_arguments(entity_types, check_org_code)
    return _jvm_check("govlake_cert_reason", col, *arguments)


@lru_cache(maxsize=1)
def ezhou_counties() -> tuple[str, ...]:
    """The county-level GB/T 2260 codes of Ezhou (its districts) from libraries/codes/division."""
    from govlake.libraries import code_table

    return tuple(
        sorted(c for c in code_table("division") if c.startswith("4207") and c[4:] != "00")
    )


def _digits(value: Column, start: int, length: int) -> Column:
    return F.substring(value, start, length).rlike(rf"^\d{{{length}}}$")


def _unit_reason(value: Column, counties: Iterable[str]) -> Column:
    fixture = _char(value, 20)
    return _first_failure(
        (_missing(value), "missing"),
        (F.length(value) != UNIT_CODE_LENGTH, "bad_length"),
        (~value.rlike(r"^[0-9A-Za-z]+$"), "bad_char"),
        (value.rlike("[a-z]"), "lowercase"),
        (~_digits(value, 1, 6), "bad_division"),
        (~F.substring(value, 1, 6).isin(sorted(counties)), "not_ezhou"),
        (~_digits(value, 7, 3), "bad_cadastral_district"),
        (~_digits(value, 10, 3), "bad_cadastral_subdistrict"),
        (~_char(value, 13).isin(*UNIT_OWNERSHIP), "bad_ownership"),
        (~_char(value, 14).isin(*sorted(UNIT_RIGHT_TYPES)), "bad_right_type"),
        (~_digits(value, 15, 5), "bad_parcel_number"),
        (~fixture.isin(*UNIT_FIXTURES), "bad_fixture"),
        (~_digits(value, 21, 8), "bad_fixture_number"),
        (
            (fixture == "W") & (F.substring(value, 21, 8) != NO_FIXTURE_NUMBER),
            "no_fixture_not_zero",
        ),
    )


def unit_code_check(col: ColumnOrName, counties: Iterable[str] | None = None) -> Column:
    """GB/T 37346 28-character real-estate unit code (不动产单元代码) check: county division
    (one of `counties`, by default Ezhou's), cadastral district and sub-district, parcel feature
    code (ownership, right type), parcel number, fixture code and unit number. Reason codes in
    order: missing, bad_length, bad_char, lowercase, bad_division, not_ezhou,
    bad_cadastral_district, bad_cadastral_subdistrict, bad_ownership, bad_right_type,
    bad_parcel_number, bad_fixture, bad_fixture_number, no_fixture_not_zero."""
    chosen = ezhou_counties() if counties is None else tuple(counties)
    if not chosen:
        raise ValueError("counties is empty")
    return _result(_unit_reason(_trimmed_half_width(col), chosen))


@lru_cache(maxsize=1)
def industry_table() -> tuple[frozenset[str], dict[str, str]]:
    """GB/T 4754-2017 from libraries/codes/industry.yaml: the 2- to 4-digit codes, and the
    section letter of each 2-digit division (from the sections' division ranges)."""
    from govlake.libraries import CODES_DIR, read_yaml

    table = read_yaml(CODES_DIR / "industry.yaml")
    codes = frozenset(str(c) for c in table["codes"] if str(c).isdigit())
    sections = {}
    for letter, span in table["sections"].items():
        low, high = (int(n) for n in str(span).split("-"))
        sections.update({f"{d:02d}": str(letter) for d in range(low, high + 1)})
    return codes, sections


def _industry_parts(value: Column) -> tuple[Column, Column, Column]:
    """The written section letter ('' when none), the digits, and the digits' own section."""
    _, sections = industry_table()
    # Substrings, not regexp_extract: the reason checks the form first; 1.6 times faster.
    lettered = _char(value, 1).between("A", "Z")
    letter = F.when(lettered, _char(value, 1)).otherwise(F.lit(""))
    digits = F.when(lettered, F.substring(value, 2, 1 << 16)).otherwise(value)
    mapping = F.create_map(*[F.lit(x) for pair in sorted(sections.items()) for x in pair])
    return letter, digits, mapping[F.substring(digits, 1, 2)]


def _industry_reason(value: Column) -> Column:
    codes, sections = industry_table()
    letter, digits, section = _industry_parts(value)
    return _first_failure(
        (_missing(value), "missing"),
        (~value.rlike(INDUSTRY_FORM), "bad_pattern"),
        ((letter != "") & ~letter.isin(*sorted(set(sections.values()))), "bad_section"),
        (~digits.isin(*sorted(codes)), "unknown_code"),
        ((letter != "") & (letter != section), "section_mismatch"),
    )


def industry_check(col: ColumnOrName) -> Column:
    """GB/T 4754-2017 industry code check: an optional section letter (门类, A-T) and a 2-, 3-
    or 4-digit code of libraries/codes/industry.yaml; departments write C3311, 3311 or c3311.
    Reason codes in order: missing, bad_pattern, bad_section, unknown_code, section_mismatch."""
    return _result(_industry_reason(normalize_id(col)))


def industry_code(col: ColumnOrName) -> Column:
    """The canonical form of a valid industry code, its section letter first (C3311); NULL
    when the value is not valid, so a standardized column holds codes of the table only."""
    value = normalize_id(col)
    _, digits, section = _industry_parts(value)
    return F.when(_industry_reason(value).isNull(), F.concat(section, digits))


CHECKS = {
    "ric": ric_check,
    "uscc": uscc_check,
    "cert": cert_check,
    "unit_code": unit_code_check,
    "industry": industry_check,
}


def passes_or_blank(check: Column) -> Column:
    """TRUE for a valid value and for a NULL or blank one: an identifier expectation judges the
    values that are there; a missing one is the not-null (or blank) rule's to report, so one
    defect is not counted twice."""
    return F.coalesce(check["valid"] | (check["reason"] == "missing"), F.lit(True))


def check_values(spark: SparkSession, values: list[str], kind: str) -> list[tuple]:
    """(value, valid, reason) per value in input order, computed in one Spark job."""
    df = spark.createDataFrame(list(enumerate(values)), "pos long, value string")
    checked = df.select("pos", "value", CHECKS[kind]("value").alias("check"))
    # Sorting here, not in Spark, saves a shuffle for what is at most a few million rows.
    rows = sorted(checked.collect(), key=lambda r: r["pos"])
    return [(r["value"], r["check"]["valid"], r["check"]["reason"]) for r in rows]


def _lines(text: str) -> list[str]:
    """Input lines without their line ends (CR LF too); no line after a final newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def cmd_check_ids(args: argparse.Namespace) -> int:
    """`govlake check-ids --kind ric|uscc|cert|unit_code|industry [--strict]`: value,
    valid|invalid, reason per stdin line. Exit 0 (a report); with --strict, exit 1 when a
    value is invalid, like a linter."""
    from govlake.spark import get_spark

    values = _lines(sys.stdin.read())
    invalid = 0
    if values:
        for value, valid, reason in check_values(get_spark(tables=set()), values, args.kind):
            sys.stdout.write(f"{value}\t{'valid' if valid else 'invalid'}\t{reason or ''}\n")
            invalid += not valid
    return 1 if invalid and getattr(args, "strict", False) else 0
