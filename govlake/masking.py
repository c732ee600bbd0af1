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


BUILTIN_KINDS = ("person_name", "year", "hidden")


class ColumnMasks(BaseModel):
    """Which mask a whole column gets in governed access, chosen from its catalog item."""

    model_config = ConfigDict(extra="forbid")

    by_name_ending: dict[str, str] = Field(default_factory=dict)
    by_item_type: dict[str, str] = Field(default_factory=dict)
    default: str = "hidden"
    compound_surnames: list[str] = Field(default_factory=list)


class Masking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mask_char: str = Field("*", min_length=1, max_length=1)
    identifiers: dict[str, IdentifierMask]
    # A value of an identifier column in which no identifier is recognised (a malformed
    # number); without this entry such a value is hidden whole.
    column_value: ValueMask | None = None
    columns: ColumnMasks = ColumnMasks()

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
        _check_kinds(masking, path)
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


# -- column masks of governed access -------------------------------------------------------


def _check_kinds(masking: Masking, path: Path) -> None:
    cols = masking.columns
    named = {**{f"by_name_ending.{k}": v for k, v in cols.by_name_ending.items()}}
    named |= {f"by_item_type.{k}": v for k, v in cols.by_item_type.items()}
    named["default"] = cols.default
    known = (*masking.identifiers, *BUILTIN_KINDS)
    for field, kind in named.items():
        if kind not in known:
            raise ConfigError(
                f"field 'columns.{field}': unknown mask kind '{kind}'.",
                file=str(path),
                fix=f"use one of {', '.join(known)}.",
            )


def column_mask_kind(item_name: str, item_type: str, masking: Masking | None = None) -> str:
    """The mask kind of a catalog item: by the longest configured ending of its name, else by
    its type, else the default."""
    cols = (masking or load_masking()).columns
    endings = [e for e in cols.by_name_ending if item_name.endswith(e)]
    if endings:
        return cols.by_name_ending[max(endings, key=len)]
    return cols.by_item_type.get(item_type, cols.default)


def mask_value(kind: str, value, masking: Masking | None = None):
    """A whole column value masked by `kind` (the Python side, and the oracle of mask_sql)."""
    masking = masking or load_masking()
    if value is None or kind == "hidden":
        return None
    if kind == "year":
        return str(value.year) if hasattr(value, "year") else str(value)[:4]
    text = str(value)
    if kind == "person_name":
        surnames = masking.columns.compound_surnames
        keep = 2 if len(text) > 2 and text[:2] in surnames else 1
        if len(text) <= 1:
            keep = 0
        return text[:keep] + masking.mask_char * (len(text) - keep)
    ident = masking.identifiers[kind]
    hidden = len(text) - ident.keep_first - ident.keep_last
    if hidden <= 0:
        return masking.mask_char * len(text)
    return (
        text[: ident.keep_first] + masking.mask_char * hidden + text[len(text) - ident.keep_last :]
    )


def mask_sql(kind: str, column: str, masking: Masking | None = None) -> str:
    """The same mask as Spark SQL over the column expression `column` (e.g. `id_number`), so
    the raw value never leaves the subquery that masks it."""
    masking = masking or load_masking()
    if kind == "hidden":
        return "CAST(NULL AS STRING)"
    if kind == "year":
        return f"CAST(year({column}) AS STRING)"
    v = f"CAST({column} AS STRING)"
    n = f"char_length({v})"
    star = "'" + masking.mask_char.replace("'", "\\'") + "'"
    if kind == "person_name":
        names = ", ".join("'" + s + "'" for s in masking.columns.compound_surnames) or "NULL"
        return (
            f"CASE WHEN {v} IS NULL THEN NULL WHEN {n} <= 1 THEN repeat({star}, {n}) "
            f"WHEN {n} > 2 AND substr({v}, 1, 2) IN ({names}) "
            f"THEN concat(substr({v}, 1, 2), repeat({star}, {n} - 2)) "
            f"ELSE concat(substr({v}, 1, 1), repeat({star}, {n} - 1)) END"
        )
    ident = masking.identifiers[kind]
    first, last = ident.keep_first, ident.keep_last
    tail = f"substr({v}, {n} - {last} + 1, {last})" if last else "''"
    return (
        f"CASE WHEN {v} IS NULL THEN NULL WHEN {n} <= {first + last} THEN repeat({star}, {n}) "
        f"ELSE concat(substr({v}, 1, {first}), repeat({star}, {n} - {first + last}), {tail}) END"
    )
