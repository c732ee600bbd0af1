"""Theme libraries (主题库) as SQL models: `libraries/themes/<name>.sql` plus `<name>.yaml`.

A model is one Spark SQL SELECT over base libraries, other themes, ods tables and logical
sources, named as `<database>.<table>`; its inputs are found by parsing the SQL with sqlglot
(no ref() boilerplate), so the SQL an analyst reads is the SQL the build runs. The YAML beside
it says what the rows are (title, grain and key, owner department), how it is refreshed, and
per output column a description and, where needed, a grade (a looser one only with a reason).
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from govlake.conffile import read_mapping
from govlake.errors import ConfigError
from govlake.libraries import IDENTIFIER, LIBRARIES_DIR, load_libraries
from govlake.sources import load_sources

THEMES_DIR = LIBRARIES_DIR / "themes"
DIALECT = "spark"
README = "see libraries/themes/README.md for the fields of a theme model."


class ThemeColumn(BaseModel):
    """One output column: what it means and, only where inheritance is not enough, its grade."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    grade: str | None = Field(
        None,
        description="a level of conf/catalog.yaml; stricter than inherited, or looser "
        "with grade_reason",
    )
    grade_reason: str | None = Field(
        None, description="why a looser grade than the inherited one is right (an aggregate)"
    )

    @model_validator(mode="after")
    def _reason_needs_grade(self) -> ThemeColumn:
        if self.grade_reason is not None and not self.grade:
            raise ValueError("grade_reason is given without a grade")
        if self.grade_reason is not None and not self.grade_reason.strip():
            raise ValueError("grade_reason is empty: write why the looser grade is right")
        return self


class Refresh(BaseModel):
    """How the theme is rebuilt: `incremental` (only changed keys are written) or `full`."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["incremental", "full"]
    reason: str = Field(min_length=1)


class Theme(BaseModel):
    """A theme library model: its metadata, its SQL and the inputs the SQL names."""

    model_config = ConfigDict(extra="forbid")

    theme: str = Field(pattern=IDENTIFIER)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="the department answerable for the theme")
    grain: str = Field(min_length=1, description="what one row is")
    key: list[str] = Field(min_length=1)
    refresh: Refresh
    columns: dict[str, ThemeColumn] = Field(min_length=1)
    sql: str = Field("", exclude=True)
    file_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _key_is_a_column(self) -> Theme:
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key columns {missing} are not among the columns")
        return self

    @property
    def table(self) -> str:
        return f"theme.{self.theme}"

    @property
    def sql_path(self) -> Path | None:
        return self.file_path.with_suffix(".sql") if self.file_path else None

    @cached_property
    def parsed(self) -> Parsed:
        return parse_sql(self.sql, str(self.sql_path or self.theme))

    @property
    def inputs(self) -> list[str]:
        """The tables the SQL reads, `<database>.<table>`, sorted."""
        return sorted(self.parsed.tables)


class Parsed:
    """A model's SQL parsed once: the statement, the tables it reads (first line each) and the
    names of its output columns."""

    def __init__(self, tree, tables: dict[str, int], outputs: list[str]) -> None:
        self.tree = tree
        self.tables = tables
        self.outputs = outputs


# Every build, refresh and review of a night loads the models again; the same text parses to
# the same tree, which its readers copy before changing (jobs.theme, lineage.declared).
@lru_cache(maxsize=256)
def parse_sql(sql: str, where: str) -> Parsed:
    """Parse one model's SQL (Spark dialect): a syntax error names the file and line; CTE
    names are not inputs; a table without its database is refused."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ConfigError(
            f"SQL syntax error at line {first.get('line')}, column {first.get('col')}: "
            f"{first.get('description', exc)}.",
            file=where,
            row=first.get("line"),
            fix="correct the SQL (Spark SQL dialect); try it with `govlake sql`.",
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ConfigError(
            "a theme model is exactly one SELECT statement.",
            file=where,
            fix="write one SELECT (WITH ... SELECT allowed); the build writes its result.",
        )
    tree = statements[0]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: dict[str, int] = {}
    for table in tree.find_all(exp.Table):
        if not table.db and table.name in ctes:
            continue
        line = table.this.meta.get("line", 0) if isinstance(table.this, exp.Expression) else 0
        if not table.db:
            raise ConfigError(
                f"table '{table.name}' (line {line}) names no database.",
                file=where,
                row=line,
                fix=f"qualify it as <database>.{table.name} (base., theme. or ods.).",
            )
        name = f"{table.db}.{table.name}".lower()
        tables[name] = min(tables.get(name, line), line) if line else tables.get(name, line)
    if any(isinstance(s, exp.Star) or s.is_star for s in tree.selects):
        raise ConfigError(
            "the model's result selects '*'.",
            file=where,
            fix="name every output column, so each has a description and a lineage.",
        )
    return Parsed(tree, tables, list(tree.named_selects))


def load_theme(path: Path) -> Theme:
    """Read one model (YAML + SQL) and check it on its own; errors name file, field and fix."""
    raw, _ = read_mapping(path, README)
    sql_path = path.with_suffix(".sql")
    if not sql_path.exists():
        raise ConfigError("the model has no SQL beside it.", file=str(sql_path), fix=README)
    try:
        theme = Theme(**raw, sql=sql_path.read_text(encoding="utf-8"), file_path=path)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"field '{field}': {msg}.", file=str(path), fix=README) from None
    if theme.theme != path.stem:
        raise ConfigError(
            f"field 'theme': '{theme.theme}' differs from the file name '{path.stem}'.",
            file=str(path),
            fix=f"name the model {path.stem} or rename the files.",
        )
    check_columns(theme)
    return theme


def check_columns(theme: Theme) -> None:
    """The YAML describes exactly the columns the SQL returns."""
    outputs = theme.parsed.outputs
    duplicated = sorted({c for c in outputs if outputs.count(c) > 1})
    undescribed = [c for c in outputs if c not in theme.columns]
    absent = [c for c in theme.columns if c not in outputs]
    if duplicated or undescribed or absent:
        problems = []
        if duplicated:
            problems.append(f"the SQL returns {duplicated} twice")
        if undescribed:
            problems.append(f"columns {undescribed} of the SQL have no description")
        if absent:
            problems.append(f"described columns {absent} are not returned by the SQL")
        raise ConfigError(
            "; ".join(problems) + ".",
            file=str(theme.file_path),
            fix="describe under `columns` exactly the columns the SELECT returns.",
        )


def known_tables() -> set[str]:
    """Tables a model may read besides themes: base libraries and ods tables of the sources
    (physical copies and logical, queried-in-place tables alike)."""
    tables = {f"base.{lib.library}" for lib in load_libraries()}
    tables |= {s.ods_table(t) for s in load_sources() for t in s.tables}
    return tables


def check_inputs(themes: list[Theme], known: set[str]) -> None:
    """Every table a model names exists (base, ods, or another model) and no models form a
    cycle; otherwise the model's file, the line and the fix."""
    names = {t.table for t in themes}
    for theme in themes:
        for table, line in sorted(theme.parsed.tables.items()):
            if table in known or table in names:
                continue
            name = table.partition(".")[2]
            alike = sorted(t for t in known | names if t.partition(".")[2] == name)
            hint = f"did you mean {', '.join(alike)}? " if alike else ""
            raise ConfigError(
                f"model {theme.theme} reads unknown table {table} (line {line}).",
                file=str(theme.sql_path),
                row=line,
                fix=f"{hint}a model reads base.<library>, theme.<model> or an ods table of "
                "conf/sources (ods.<system>__<table>).",
            )
    build_order(themes)


def build_order(themes: list[Theme]) -> list[Theme]:
    """Models with every model they read before them; a cycle is refused."""
    from graphlib import CycleError, TopologicalSorter

    by_table = {t.table: t for t in themes}
    graph = {t.table: {i for i in t.inputs if i in by_table} for t in themes}
    try:
        return [by_table[n] for n in TopologicalSorter(graph).static_order()]
    except CycleError as exc:
        chain = exc.args[1][::-1]  # graphlib lists each model before the one reading it
        first, reads = by_table[chain[0]], chain[1]
        line = first.parsed.tables.get(reads, 0)
        raise ConfigError(
            f"models read each other in a cycle: {' reads '.join(chain)}; "
            f"{first.table} reads {reads} at line {line}.",
            file=str(first.sql_path),
            row=line,
            fix="break the cycle: a model may read only models that do not read it back.",
        ) from None


def load_themes(directory: Path | None = None, known: set[str] | None = None) -> list[Theme]:
    """All models, in build order, each checked and their inputs resolved."""
    directory = directory or Path(os.environ.get("GOVLAKE_THEMES_DIR", THEMES_DIR))
    themes = [load_theme(p) for p in sorted(directory.glob("*.yaml"))]
    check_inputs(themes, known_tables() if known is None else known)
    return build_order(themes)


def themes_or_error() -> tuple[list[Theme], ConfigError | None]:
    """The models, or none and the error: for readers beside the themes (the catalog review,
    lineage, the site), which a broken model must not stop; its own DAG and build still fail."""
    try:
        return load_themes(), None
    except ConfigError as exc:
        return [], exc


def get_theme(name: str) -> Theme:
    themes = {t.theme: t for t in load_themes()}
    if name not in themes:
        raise ConfigError(f"no theme '{name}'.", fix=f"use one of {', '.join(sorted(themes))}.")
    return themes[name]
