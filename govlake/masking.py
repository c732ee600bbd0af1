"""Identifier masking, configured once in conf/masking.yaml, for Python strings and Spark columns.

An identifier is found anywhere inside a value (a raw CSV line holds several), as long as it is
not part of a longer run of digits or letters; the middle is replaced, first and last kept.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import Column

MASKING_FILE = PROJECT_ROOT / "conf" / "masking.yaml"
# Neither a letter nor a digit (half- or full-width) may touch an identifier on either side.
EDGE = "0-9A-Za-z０-９Ａ-Ｚａ-ｚ"


class IdentifierMask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    keep_first: int = Field(ge=0)
    keep_last: int = Field(ge=0)


class Masking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mask_char: str = Field("*", min_length=1, max_length=1)
    identifiers: dict[str, IdentifierMask]

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


@lru_cache(maxsize=4)
def load_masking(path: Path = MASKING_FILE) -> Masking:
    """The masking rules; a malformed file is a clear error naming the file."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        masking = Masking(**raw)
        for mask in masking.identifiers.values():
            re.compile(mask.pattern)
    except (yaml.YAMLError, TypeError, re.error) as exc:
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
