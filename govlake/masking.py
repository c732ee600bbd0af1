"""Identifier masking, configured once in conf/masking.yaml, for Python strings and Spark columns.

An identifier is found anywhere inside a value (a raw CSV line holds several), as long as it is
not part of a longer run of digits or letters; the middle is replaced, first and last kept.
Every value that leaves the lakehouse for people is masked here: quality.results samples,
quality.problems, the feedback workbooks and CSVs, the CLI.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govlake.conffile import read_yaml
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import Column

MASKING_FILE = PROJECT_ROOT / "conf" / "masking.yaml"
# Neither a letter nor a digit (half- or full-width) may touch an identifier on either side.
EDGE = "0-9A-Za-z０-９Ａ-Ｚａ-ｚ"


class ValueMask(BaseModel):
    """How many characters of a masked value stay visible at each end."""

    model_config = ConfigDict(extra="forbid")

    keep_first: int = Field(ge=0)
    keep_last: int = Field(ge=0)


class IdentifierMask(ValueMask):
    pattern: str


class Masking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mask_char: str = Field("*", min_length=1, max_length=1)
    identifiers: dict[str, IdentifierMask]
    # A value of an identifier column in which no identifier is recognised (a malformed
    # number); without this entry such a value is hidden whole.
    column_value: ValueMask | None = None

    def regexes(self) -> list[tuple[str, IdentifierMask]]:
        """Per identifier kind, a regex with groups (kept head)(hidden middle)(kept tail)."""
        out = []
        for mask in self.identifiers.values():
            body = f"(?=(?:{mask.pattern})(?![{EDGE}]))"
            head = f"(.{{{mask.keep_first}}})"
            tail = f"(.{{{mask.keep_last}}})"
            # Lookahead fixes the identifier's extent; the groups then split it by position.
            regex = f"(?<![{EDGE}]){body}{head}(.*?){tail}(?![{EDGE}])"
            out.append((regex, mask))
        return out


def load_masking(path: Path | None = None) -> Masking:
    """The masking rules (conf/masking.yaml unless `path`); a malformed file is a clear error
    naming the file."""
    return _load_masking(Path(path or MASKING_FILE))


@lru_cache(maxsize=4)
def _load_masking(path: Path) -> Masking:
    try:
        raw = read_yaml(path)
        masking = Masking(**raw)
        for mask in masking.identifiers.values():
            re.compile(mask.pattern)
    except (TypeError, re.error) as exc:
        raise ConfigError(f"cannot read the masking rules: {exc}.", file=str(path)) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"field '{field}': {err['msg']}.",
            file=str(path),
            fix="each identifier needs pattern, keep_first and keep_last.",
        ) from None
    return masking


def mask_text(value: str | None, masking: Masking | None = None) -> str | None:
    """The value with every identifier in it masked (Python side: CSV, workbook, CLI)."""
    if value is None:
        return None
    masking = masking or load_masking()
    for regex, _mask in masking.regexes():
        value = re.sub(
            regex, lambda m: m.group(1) + masking.mask_char * len(m.group(2)) + m.group(3), value
        )
    return value


def mask_column_value(value: str | None, masking: Masking | None = None) -> str | None:
    """A value of a column that carries identifiers (a quality sample of an ID column): its
    identifiers masked as configured; when none is recognised (a malformed number), only
    column_value's first and last characters are shown, or nothing when it is too short."""
    if value is None:
        return None
    masking = masking or load_masking()
    masked = mask_text(value, masking)
    if masked != value:
        return masked
    keep = masking.column_value or ValueMask(keep_first=0, keep_last=0)
    hidden = len(value) - keep.keep_first - keep.keep_last
    if hidden <= 0:
        return masking.mask_char * len(value)
    return (
        value[: keep.keep_first] + masking.mask_char * hidden + value[len(value) - keep.keep_last :]
    )


def mask_column(col: Column, masking: Masking | None = None) -> Column:
    """The same masking as a Spark expression, so raw values never leave the executors."""
    from pyspark.sql import functions as F

    masking = masking or load_masking()
    for regex, _mask in masking.regexes():
        # A Java replacement cannot repeat a character len(group) times: mark the middle
        # with two control characters, then mask every character between the marks.
        col = F.regexp_replace(col, regex, "$1\u0000$2\u0001$3")
        col = _hide_marked(col, masking.mask_char)
    return col


def _hide_marked(col: Column, mask_char: str) -> Column:
    """Replace every character between the \\0 and \\1 markers by mask_char, drop the markers."""
    from pyspark.sql import functions as F

    # The middle holds no marker; a lookbehind-free way: each char followed (lazily) by \1
    # before any \0 is inside a marked span.
    hidden = F.regexp_replace(col, "[^\u0000\u0001](?=[^\u0000]*\u0001)", mask_char)
    return F.regexp_replace(hidden, "[\u0000\u0001]", "")
