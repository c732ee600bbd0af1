"""Real-estate unit codes (GB/T 37346) and industry codes (GB/T 4754-2017) as departments
write them: valid ones, and ones with exactly one planted defect, each with its ground truth
(the reason code `govlake check-ids` must give, None for a valid value).

Built from the standards' structure and libraries/codes/, never from jobs.identifiers, so a
test comparing the two compares independent work.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache

from govlake.libraries import CODES_DIR, code_table, read_yaml
from govlake.sample.identifiers import fullwidth

# Parcel feature codes seen in a city registration: ownership letter + right-type letter.
FEATURES = ("GB", "GB", "GB", "GS", "GX", "JA", "JC", "JC", "JD", "JE", "JL", "JN", "GW", "ZW")
NOT_OWNERSHIP = "ABCKMPRT"  # letters that are not G, J or Z
NOT_RIGHT_TYPE = "IJKMOPQRTUVZ"  # letters outside GB/T 37346's right-type table
NOT_FIXTURE = "ABCGKMP"  # letters other than F, L, Q and W
OTHER_CITIES = ("420102", "420106", "420502", "421002", "110101")  # Wuhan, Yichang, ...

Truth = tuple[str, str | None]


@lru_cache(maxsize=1)
def ezhou_counties() -> tuple[str, ...]:
    """Ezhou's district codes (420702 梁子湖区, 420703 华容区, 420704 鄂城区)."""
    return tuple(sorted(c for c in code_table("division") if c[:4] == "4207" and c[4:] != "00"))


def _fixture(rng: random.Random) -> str:
    """A fixture code and unit number: a flat (building, room), a forest, other, or none."""
    kind = rng.choices("FLQW", weights=(70, 5, 5, 20))[0]
    if kind == "W":
        return "W00000000"
    if kind == "F":
        return f"F{rng.randint(1, 60):04d}{rng.randint(1, 32):02d}{rng.randint(1, 8):02d}"
    return f"{kind}{rng.randint(1, 9999):08d}"


def unit_code(rng: random.Random, county: str | None = None) -> str:
    """A valid 28-character unit code: county, cadastral district and sub-district, parcel
    feature code, parcel number, fixture code and unit number."""
    county = county or rng.choice(ezhou_counties())
    district = f"{rng.randint(1, 20):03d}{rng.randint(1, 40):03d}"
    parcel = f"{rng.choice(FEATURES)}{rng.randint(1, 99999):05d}"
    return f"{county}{district}{parcel}{_fixture(rng)}"


def unit_code_shape(value: object) -> bool:
    """A clean 28-character unit code of Ezhou as this module writes them (a defect can be
    planted in it)."""
    return (
        isinstance(value, str)
        and len(value) == 28
        and value.isascii()
        and value.isalnum()
        and value[:6] in ezhou_counties()
    )


def _put(code: str, pos: int, char: str) -> str:
    return code[:pos] + char + code[pos + 1 :]


def _short(rng: random.Random, code: str) -> Truth:
    pos = rng.randrange(len(code))
    return code[:pos] + code[pos + 1 :], "bad_length"


def _separated(rng: random.Random, code: str) -> Truth:
    return f"{code[:6]}-{code[6:12]}-{code[12:19]}-{code[19:]}", "bad_length"


def _other_city(rng: random.Random, code: str) -> Truth:
    return rng.choice(OTHER_CITIES) + code[6:], "not_ezhou"


def _lowercase_fixture(rng: random.Random, code: str) -> Truth:
    return _put(code, 19, code[19].lower()), "lowercase"


def _bad_ownership(rng: random.Random, code: str) -> Truth:
    return _put(code, 12, rng.choice(NOT_OWNERSHIP)), "bad_ownership"


def _bad_right_type(rng: random.Random, code: str) -> Truth:
    return _put(code, 13, rng.choice(NOT_RIGHT_TYPE)), "bad_right_type"


def _letter_o_in_parcel(rng: random.Random, code: str) -> Truth:
    return _put(code, rng.randrange(14, 19), "O"), "bad_parcel_number"


def _bad_fixture(rng: random.Random, code: str) -> Truth:
    return _put(code, 19, rng.choice(NOT_FIXTURE)), "bad_fixture"


def _numbered_no_fixture(rng: random.Random, code: str) -> Truth:
    return code[:19] + f"W{rng.randint(1, 9999):08d}", "no_fixture_not_zero"


def _blank(rng: random.Random, code: str) -> Truth:
    return rng.choice(["", " ", "\u3000"]), "missing"


def _fullwidth(rng: random.Random, code: str) -> Truth:
    return fullwidth(code), None  # typed with a Chinese input method: still valid


def _padded(rng: random.Random, code: str) -> Truth:
    return rng.choice([" ", "\u3000"]) + code + rng.choice(["", " "]), None


UNIT_DEFECTS: dict[str, Callable[[random.Random, str], Truth]] = {
    "short": _short,
    "separated": _separated,
    "other_city": _other_city,
    "lowercase_fixture": _lowercase_fixture,
    "bad_ownership": _bad_ownership,
    "bad_right_type": _bad_right_type,
    "letter_o_in_parcel": _letter_o_in_parcel,
    "bad_fixture": _bad_fixture,
    "numbered_no_fixture": _numbered_no_fixture,
    "blank": _blank,
    "fullwidth": _fullwidth,
    "padded": _padded,
}


def unit_code_samples(rng: random.Random, count: int, defect_share: float = 0.4) -> list[Truth]:
    """`count` unit codes with their expected reason; about `defect_share` carry one planted
    defect (or a harmless spelling), spread evenly over UNIT_DEFECTS."""
    samples = []
    for _ in range(count):
        code = unit_code(rng)
        if rng.random() < defect_share:
            samples.append(rng.choice(list(UNIT_DEFECTS.values()))(rng, code))
        else:
            samples.append((code, None))
    return samples


@lru_cache(maxsize=1)
def industry_sections() -> dict[str, str]:
    """Section letter of each 2-digit division, from the ranges in industry.yaml."""
    sections = {}
    for letter, span in read_yaml(CODES_DIR / "industry.yaml")["sections"].items():
        low, high = (int(n) for n in str(span).split("-"))
        sections.update({f"{n:02d}": str(letter) for n in range(low, high + 1)})
    return sections


@lru_cache(maxsize=1)
def industry_classes() -> tuple[str, ...]:
    """Every 2- to 4-digit code of GB/T 4754-2017 (divisions, groups and classes)."""
    return tuple(sorted(c for c in code_table("industry") if c.isdigit()))


def industry_code(rng: random.Random) -> str:
    """A valid code as departments write it: mostly a 4-digit class, with or without its
    section letter (C3311, 3311), sometimes a division or group."""
    codes = industry_classes()
    digits = rng.choice([c for c in codes if len(c) == 4] if rng.random() < 0.8 else codes)
    letter = industry_sections()[digits[:2]]
    return rng.choice([letter + digits, digits, letter.lower() + digits])


def _unknown_class(rng: random.Random, digits: str) -> Truth:
    """A class the standard does not have, next to a real one (3311 -> 3317), as a typo makes."""
    known = set(industry_classes())
    nearby = [digits[:3] + n for n in "0123456789"] + [digits[:2] + f"{n:02d}" for n in range(100)]
    return rng.choice([c for c in nearby if c not in known]), "unknown_code"


def _wrong_section(rng: random.Random, digits: str) -> Truth:
    own = industry_sections()[digits[:2]]
    return rng.choice([s for s in "ABCDEFGHIJKLMNOPQRST" if s != own]) + digits, "section_mismatch"


def _no_section(rng: random.Random, digits: str) -> Truth:
    return rng.choice("UVWXYZ") + digits, "bad_section"


def _dotted(rng: random.Random, digits: str) -> Truth:
    return f"{digits[:2]}.{digits[2:]}" if len(digits) > 2 else f"{digits}.", "bad_pattern"


def _padded_zero(rng: random.Random, digits: str) -> Truth:
    return digits + "0" * (5 - len(digits)), "bad_pattern"  # five digits, as some exports pad


def _industry_blank(rng: random.Random, digits: str) -> Truth:
    return "", "missing"


INDUSTRY_DEFECTS: dict[str, Callable[[random.Random, str], Truth]] = {
    "unknown_class": _unknown_class,
    "wrong_section": _wrong_section,
    "no_section": _no_section,
    "dotted": _dotted,
    "padded_zero": _padded_zero,
    "blank": _industry_blank,
}


def industry_code_samples(rng: random.Random, count: int, defect_share: float = 0.4) -> list[Truth]:
    """`count` industry codes with their expected reason; about `defect_share` defective."""
    samples = []
    codes = [c for c in industry_classes() if len(c) == 4]
    for _ in range(count):
        if rng.random() < defect_share:
            defect = rng.choice(list(INDUSTRY_DEFECTS.values()))
            samples.append(defect(rng, rng.choice(codes)))
        else:
            samples.append((industry_code(rng), None))
    return samples
