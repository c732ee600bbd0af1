"""Fast date and timestamp formatting through precomputed tables indexed by ordinal day."""

from __future__ import annotations

import datetime
import random
import re
import zlib
from collections.abc import Sequence

import numpy as np

_IMPOSSIBLE = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 5), (0, 12))
_DATE_SHAPE = re.compile(r"^(\d{4})(\D?)(\d{1,2})(\D?)(\d{1,2})(\D?)$")


class DateBook:
    """Date strings for every day of a range, so formatting a million rows is a list lookup."""

    def __init__(self, first: datetime.date, last: datetime.date) -> None:
        self.base = first.toordinal()
        days = [datetime.date.fromordinal(o) for o in range(self.base, last.toordinal() + 1)]
        self.iso = [d.isoformat() for d in days]
        self.compact = [f"{d.year:04d}{d.month:02d}{d.day:02d}" for d in days]
        self.slash = [s.replace("-", "/") for s in self.iso]
        self.cn = [f"{d.year:04d}年{d.month:02d}月{d.day:02d}日" for d in days]
        self.clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]

    def iso_of(self, ordinal: int) -> str:
        """'YYYY-MM-DD' of an ordinal day."""
        return self.iso[ordinal - self.base]

    def compact_of(self, ordinal: int) -> str:
        """'YYYYMMDD' of an ordinal day."""
        return self.compact[ordinal - self.base]

    def stamp(self, ordinal: int, second: int) -> str:
        """'YYYY-MM-DD HH:MM:SS' of an ordinal day and a second of that day."""
        return f"{self.iso[ordinal - self.base]} {self.clock[second]}"

    def stamps(self, ordinals: list[int], seconds: list[int]) -> list[str]:
        """Many timestamps at once."""
        iso, clock, base = self.iso, self.clock, self.base
        return [f"{iso[o - base]} {clock[s]}" for o, s in zip(ordinals, seconds, strict=True)]


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform ordinal day in [low, high]; high wins when the range is empty."""
    return high if high <= low else rng.randint(low, high)


def impossible_like(value: str | datetime.date, rng: random.Random) -> str:
    """A non-existent date shaped like value: 20230231, 2023-13-05, 2023/04/31, 2023年02月30日."""
    month, day = rng.choice(_IMPOSSIBLE)
    if isinstance(value, datetime.date):
        return f"{value.year:04d}年{month:02d}月{day:02d}日"
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}{month:02d}{day:02d}"
    match = _DATE_SHAPE.match(value)
    if not match:
        return f"{value[:4]}-{month:02d}-{day:02d}"
    year, sep1, _, sep2, _, tail = match.groups()
    return f"{year}{sep1}{month:02d}{sep2}{day:02d}{tail}"


def np_rng(seed: int, name: str) -> np.random.Generator:
    """A numpy generator for one named stream of a run, independent of the other streams."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def days_between(gen: np.random.Generator, lows: Sequence[int], high: int) -> list[int]:
    """One uniform ordinal day per low in [low, high] (high when low is later)."""
    low = np.minimum(np.asarray(lows, dtype=np.int64), high)
    return (low + (gen.random(len(low)) * (high - low + 1)).astype(np.int64)).tolist()


def stamps_between(
    book: DateBook, gen: np.random.Generator, lows: Sequence[int], high: int
) -> list[str]:
    """One 'YYYY-MM-DD HH:MM:SS' per low, from that day up to the end of day high."""
    days = days_between(gen, lows, high)
    return book.stamps(days, gen.integers(0, 86400, len(days)).tolist())
