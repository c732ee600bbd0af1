"""Identifier construction: GB 11643 ID numbers, GB 32100 USCCs, GB/T 36904 certificate IDs."""

from __future__ import annotations

import datetime
import random
from functools import lru_cache

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_37_36

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ECERT_ROOT = "1.2.156.3005.2"
_FULLWIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}


def ric_number(code: str, birth: str, seq: int) -> str:
    """An 18-character ID number: address code + YYYYMMDD + 3-digit sequence + check."""
    body = f"{code}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


@lru_cache(maxsize=4096)
def code_valid_in(code: str, year: int) -> bool:
    """Whether stdnum knows the address code as assigned in that birth year."""
    try:
        ric.get_birth_place(f"{code}{year}0101000X")
    except ValidationError:
        return False
    return True


def is_ric(value: object) -> bool:
    """stdnum's ID number check, also for strings on which stdnum 2.2 raises KeyError."""
    if not isinstance(value, str) or len(value) != 18:
        return False
    try:
        return ric.is_valid(value)
    except KeyError:
        return False


def is_uscc(value: object) -> bool:
    """stdnum's USCC check for an 18-character string."""
    return isinstance(value, str) and len(value) == 18 and uscc.is_valid(value)


def org_code(body: str) -> str:
    """A GB 11714 organisation code: 8 characters plus their check character."""
    total = sum(int(ch, 36) * w for ch, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def uscc_number(authority: str, kind: str, division: str, org: str) -> str:
    """An 18-character USCC with the GB 32100 check character computed by stdnum."""
    body = f"{authority}{kind}{division}{org}"
    return body + uscc.calc_check_digit(body)


def random_org_body(rng: random.Random) -> str:
    """Eight organisation-code characters: post-2015 'MA' codes or legacy all-digit codes."""
    if rng.random() < 0.7:
        tail = "".join(rng.choice(USCC_ALPHABET) for _ in range(5))
        return "MA4" + tail
    return f"{rng.randrange(10**8):08d}"


def ecert_check(type_code: str, issuer: str, serial: str, version: str) -> str:
    """The ISO 7064 MOD 37,36 check character over the identifier without root and dots."""
    return mod_37_36.calc_check_digit(f"{type_code}{issuer}{serial}{version}")


def ecert_id(type_code: str, issuer: str, serial: str, version: str = "001") -> str:
    """A GB/T 36904 electronic certificate identifier."""
    check = ecert_check(type_code, issuer, serial, version)
    return f"{ECERT_ROOT}.{type_code}.{issuer}.{serial}.{version}.{check}"


def wrong_check(value: str, alphabet: str, rng: random.Random) -> str:
    """The same identifier with its last character replaced by a different valid-looking one."""
    choices = [ch for ch in alphabet if ch != value[-1]]
    return value[:-1] + rng.choice(choices)


def fullwidth(text: str) -> str:
    """ASCII letters and digits turned into their full-width forms (０-９, Ａ-Ｚ)."""
    return text.translate(_FULLWIDTH)


def compact_date(day: datetime.date) -> str:
    """YYYYMMDD, as inside ID numbers."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"
