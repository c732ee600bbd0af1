"""conf/open/: one file per published open dataset, checked at load against the catalog's open
attribute and the effective grades governed access uses, with file/field/fix errors."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp

from govlake.access.policy import ColumnInfo, Resource, resources
from govlake.catalog.grades import GradeScheme
from govlake.catalog.loader import load_catalog, load_rules
from govlake.catalog.review import Review
from govlake.catalog.schemas import declared_lakehouse, real_lakehouse
from govlake.conffile import read_mapping
from govlake.errors import ConfigError
from govlake.masking import Masking, load_masking
from govlake.open.tables import PRIORITY_FILE
from govlake.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

OPEN_DIR = PROJECT_ROOT / "conf" / "open"
UNCONDITIONAL, CONDITIONAL, NOT_OPEN = "无条件开放", "有条件开放", "不予开放"

FIXES = {
    "title": "give the dataset's Chinese title, e.g. 纳税信用A级纳税人名单.",
    "description": "say in a sentence or two what the dataset holds and what was left out.",
    "resource": "name a catalog resource (its file name in conf/catalog/) or its 资源代码.",
    "table": "name one of the resource's tables (目录—数据), e.g. ods.tax_credit__credit_rating.",
    "columns": "list columns of the resource's table (its catalog items).",
    "masked": "list columns (among `columns`) published masked by their mask kind.",
    "row_filter": "a SQL predicate over the table's columns, e.g. credit_level = 'A'.",
    "aggregate": "give group_by (columns) and count (the name of the count column).",
    "condition": "copy the catalog entry's open.condition and publish only what it allows.",
    "license": "give name (an SPDX id or a short name), title and path (the licence's URL).",
    "update_cycle": "one of 实时 每日 每周 每月 每季度 每半年 每年 不定期.",
    "constraints": "per column: required, unique, pattern, enum, minimum, maximum.",
}


class Aggregate(BaseModel):
    """Publish counts per group instead of rows (statistics only)."""

    model_config = ConfigDict(extra="forbid")

    group_by: list[str] = Field(min_length=1)
    count: str = Field("count", pattern=r"^[a-z][a-z0-9_]*$")
    count_title: str = "数量"


class License(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    path: str


class Constraints(BaseModel):
    """Frictionless field constraints declared by the dataset (added to derived ones)."""

    model_config = ConfigDict(extra="forbid")

    required: bool | None = None
    unique: bool | None = None
    pattern: str | None = None
    enum: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None


class DatasetConf(BaseModel):
    """conf/open/<dataset>.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str
    file: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    resource: str
    table: str | None = None
    columns: list[str] = Field(min_length=1)
    masked: list[str] = Field(default_factory=list)
    row_filter: str | None = None
    aggregate: Aggregate | None = None
    condition: str | None = None
    license: License
    update_cycle: str = Field(pattern="^(实时|每日|每周|每月|每季度|每半年|每年|不定期)$")
    constraints: dict[str, Constraints] = Field(default_factory=dict)


class PriorityEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    reason: str = Field(min_length=1)


class PriorityFile(BaseModel):
    """conf/open/priority.yaml: the 重点清单, datasets in the order they are prioritised."""

    model_config = ConfigDict(extra="forbid")

    priority: list[PriorityEntry]


@dataclass(frozen=True)
class OpenDataset:
    """A dataset checked against the catalog: its resource, the columns it publishes (with grade
    and mask kind) and where it stands in the priority list (None: not on it)."""

    conf: DatasetConf
    resource: Resource
    open_type: str
    columns: dict[str, ColumnInfo]
    priority: int | None
    priority_reason: str | None
    titles: dict[str, str]  # column -> the catalog item's Chinese name
    entry_name: str  # the catalog resource's Chinese name

    @property
    def name(self) -> str:
        return self.conf.name

    @property
    def table(self) -> str:
        return self.resource.table


def open_dir(directory: Path | None = None) -> Path:
    """conf/open/, or GOVLAKE_OPEN_DIR (tests and other deployments)."""
    return Path(directory or os.environ.get("GOVLAKE_OPEN_DIR") or OPEN_DIR)


def _explain(exc: ValidationError, path: Path) -> ConfigError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    top = str(err["loc"][0]) if err["loc"] else ""
    return ConfigError(
        f"field '{field}': {err['msg']}.",
        file=str(path),
        fix=FIXES.get(top, "remove fields that are not described in conf/open/README.md."),
    )


def _parse(model: type[BaseModel], path: Path, **extra: Any) -> Any:
    raw, _text = read_mapping(path, "write the fields as a YAML mapping.")
    try:
        return model(**raw, **extra)
    except ValidationError as exc:
        raise _explain(exc, path) from None


def catalog_review(cfg: Settings | None = None, spark: SparkSession | None = None) -> Review:
    """The catalog as governed access reviews it (declared tables, or real Delta schemas)."""
    entries, rules = load_catalog(), load_rules()
    if spark is None or cfg is None:
        lake = declared_lakehouse()
    else:
        lake = real_lakehouse(spark, cfg, rules.registered_databases, rules.technical_column_prefix)
    return Review(entries, rules, lake, GradeScheme(rules.grades))


def load_datasets(
    directory: Path | None = None,
    cfg: Settings | None = None,
    spark: SparkSession | None = None,
    masking: Masking | None = None,
) -> list[OpenDataset]:
    """Every dataset of conf/open/, checked; the first refusal is raised (file, field, fix)."""
    folder = open_dir(directory)
    review = catalog_review(cfg, spark)
    tables = resources(review, masking or load_masking())
    entries = {e.resource: e for e in review.entries} | {e.code: e for e in review.entries}
    paths = sorted(p for p in folder.glob("*.yaml") if p.name != PRIORITY_FILE)
    confs = [_parse(DatasetConf, p, name=p.stem, file=str(p)) for p in paths]
    priority = _priority(folder, {c.name for c in confs})
    out = []
    for conf in confs:
        if not dataset_name_ok(conf.name):
            raise ConfigError(
                f"the file name '{conf.name}' is not a Data Package name.",
                file=conf.file,
                fix="name the file with lower case letters, digits, '-', '_' or '.'.",
            )
        entry = entries.get(conf.resource)
        if entry is None:
            raise ConfigError(
                f"field 'resource': '{conf.resource}' is not a catalog resource.",
                file=conf.file,
                fix=FIXES["resource"],
            )
        resource = _table(conf, entry.tables, tables)
        check_open(conf, entry.open.type, entry.open.condition)
        columns = check_columns(conf, resource, review.scheme)
        rank, reason = priority.get(conf.name, (None, None))
        titles = {i.column: i.name for i in entry.items}
        out.append(
            OpenDataset(conf, resource, entry.open.type, columns, rank, reason, titles, entry.name)
        )
    return out


def _priority(folder: Path, names: set[str]) -> dict[str, tuple[int, str]]:
    path = folder / PRIORITY_FILE
    if not path.is_file():
        return {}
    listed = _parse(PriorityFile, path).priority
    for index, entry in enumerate(listed):
        if entry.dataset not in names:
            raise ConfigError(
                f"field 'priority.{index}.dataset': '{entry.dataset}' is not a dataset of "
                f"{folder}.",
                file=str(path),
                fix=f"name one of {', '.join(sorted(names)) or '(none)'}.",
            )
    return {e.dataset: (i + 1, e.reason) for i, e in enumerate(listed)}


def _table(conf: DatasetConf, entry_tables: list[str], tables: dict[str, Resource]) -> Resource:
    if conf.table is None and len(entry_tables) == 1:
        chosen = entry_tables[0]
    elif conf.table in entry_tables:
        chosen = conf.table
    else:
        raise ConfigError(
            f"field 'table': '{conf.table}' is not one table of {conf.resource} "
            f"({', '.join(entry_tables)}).",
            file=conf.file,
            fix=FIXES["table"],
        )
    return tables[chosen]


def check_open(conf: DatasetConf, open_type: str, condition: str | None) -> None:
    """A 不予开放 resource is never published; a 有条件开放 one only with its condition stated."""
    if open_type == NOT_OPEN:
        raise ConfigError(
            f"field 'resource': {conf.resource} is 不予开放 in the catalog; it cannot be "
            "published as open data.",
            file=conf.file,
            fix="delete this file, or have the provider change the catalog entry's open.type "
            "(conf/catalog/) through review first.",
        )
    if open_type == CONDITIONAL and (conf.condition or "").strip() != (condition or "").strip():
        raise ConfigError(
            f"field 'condition': {conf.resource} is 有条件开放 under the condition "
            f"'{condition}', which this file does not state"
            + (f" (it says '{conf.condition}')." if conf.condition else "."),
            file=conf.file,
            fix=FIXES["condition"],
        )


def check_columns(conf: DatasetConf, resource: Resource, scheme: GradeScheme) -> dict:
    """Columns of the table only; none graded above 一般 leaves unless masked or counted."""
    known = resource.columns
    for field in ("columns", "masked"):
        unknown = [c for c in getattr(conf, field) if c not in known]
        if unknown:
            raise ConfigError(
                f"field '{field}': {', '.join(unknown)} "
                f"{'is not a column' if len(unknown) == 1 else 'are not columns'} of "
                f"{resource.table}.",
                file=conf.file,
                fix=f"list only columns the table has: {', '.join(sorted(known))}.",
            )
    outside = [c for c in conf.masked if c not in conf.columns]
    if outside:
        raise ConfigError(
            f"field 'masked': {', '.join(outside)} not among 'columns'.",
            file=conf.file,
            fix=FIXES["masked"],
        )
    published = _published(conf)
    if conf.row_filter:
        check_row_filter(conf, set(known))
    for column in published:
        info = known[column]
        if column not in conf.masked and above_open(info.grade, scheme):
            raise ConfigError(
                f"field 'columns': {column} is graded {info.grade or '(ungraded)'}, above "
                f"{scheme.rules.national[0]}: it cannot be published as is.",
                file=conf.file,
                fix=f"drop {column}, list it under 'masked' (mask kind {info.mask}), or publish "
                "counts with 'aggregate' that do not group by it.",
            )
    unknown_c = [c for c in conf.constraints if c not in published]
    if unknown_c:
        raise ConfigError(
            f"field 'constraints': {', '.join(unknown_c)} not published by this dataset.",
            file=conf.file,
            fix="declare constraints only for the published columns.",
        )
    return {c: known[c] for c in published}


def _published(conf: DatasetConf) -> list[str]:
    """The columns that reach the file: all of them, or only the group-by of an aggregate."""
    if conf.aggregate is None:
        return list(conf.columns)
    missing = [c for c in conf.aggregate.group_by if c not in conf.columns]
    if missing:
        raise ConfigError(
            f"field 'aggregate.group_by': {', '.join(missing)} not among 'columns'.",
            file=conf.file,
            fix=FIXES["aggregate"],
        )
    return list(conf.aggregate.group_by)


def above_open(grade: str | None, scheme: GradeScheme) -> bool:
    """Graded above the loosest national level (一般); an ungraded column counts as strictest."""
    if grade is None or not scheme.known(grade):
        return True
    return scheme.national(grade) != scheme.rules.national[0]


def check_row_filter(conf: DatasetConf, known: set[str]) -> None:
    """The filter parses as one plain predicate over the table's columns (no subquery)."""
    try:
        node = sqlglot.parse_one(conf.row_filter, read="spark")
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(
            f"field 'row_filter': not a SQL predicate ({exc}).",
            file=conf.file,
            fix=FIXES["row_filter"],
        ) from None
    unknown = sorted({c.name for c in node.find_all(exp.Column)} - known)
    bad = [n for n in node.walk() if isinstance(n, exp.Query | exp.Table | exp.Star)]
    if unknown or bad or not isinstance(node, exp.Predicate | exp.Connector | exp.Not):
        what = f"unknown columns {', '.join(unknown)}" if unknown else "not a plain predicate"
        raise ConfigError(f"field 'row_filter': {what}.", file=conf.file, fix=FIXES["row_filter"])


def dataset_name_ok(name: str) -> bool:
    """Data Package names are lower case letters, digits, '-', '_' and '.'."""
    return re.fullmatch(r"[a-z0-9._-]+", name) is not None
