"""Nightly open-data export (数据开放): each dataset of conf/open/ from its table's current rows,
filtered, masked and aggregated as declared, written as a Frictionless Data Package under
`<lakehouse>/open/<dataset>/`, validated, published by rename; then the DCAT catalogue.

The rows come from the same current view the theme builds read (jobs.theme): base tables their
`_is_current` rows, ods tables the latest batch (or newest version per key). A dataset whose
package fails validation is not published (its previous package stays); the others are, and the
job then raises naming every failure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.lakehouse import Table
from govlake.masking import Masking, load_masking, mask_sql
from govlake.open.config import OpenDataset, catalog_review, load_datasets
from govlake.open.package import (
    CSV_NAME,
    DESCRIPTOR,
    Field,
    Version,
    csv_bytes,
    descriptor,
    json_bytes,
    write_catalogue,
    write_package,
)
from govlake.settings import Settings, settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# Frictionless types of Spark's simple types (anything else is published as string).
TYPES = {
    "string": "string",
    "int": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "tinyint": "integer",
    "double": "number",
    "float": "number",
    "date": "date",
    "timestamp": "datetime",
    "timestamp_ntz": "datetime",
    "boolean": "boolean",
}
# Quality rules whose failing rows never reach the table: their constraint holds in open files.
KEPT_OUT = ("quarantine", "fail")


def open_root(cfg: Settings) -> Path:
    return Path(cfg.lakehouse) / "open"


def current_rows(spark: SparkSession, cfg: Settings, table: str) -> DataFrame:
    """What a reader should see of the table now, as a theme reads its inputs."""
    from jobs.library.read import current_of

    return current_of(spark, cfg, table)


def dataset_frame(df: DataFrame, ds: OpenDataset, masking: Masking) -> DataFrame:
    """Filter, select (masked where declared), aggregate: the rows of the open file, sorted."""
    from pyspark.sql import functions as F

    conf = ds.conf
    # Standardized before the filter: a full-width "９2…" is a sole trader's USCC too.
    df = df.select(*[published_value(F.col(f"`{n}`"), k).alias(n) for n, k in df.dtypes])
    if conf.row_filter:
        df = df.where(F.expr(conf.row_filter))  # checked by sqlglot at load (configuration)
    cols = [
        F.expr(mask_sql(ds.columns[c].mask, f"`{c}`", masking)).alias(c)
        if c in conf.masked
        else F.col(f"`{c}`")
        for c in conf.columns
        if c in ds.columns
    ]
    df = df.select(*cols)
    if conf.aggregate:
        agg = conf.aggregate
        df = df.groupBy(*agg.group_by).agg(F.count(F.lit(1)).alias(agg.count))
    return df.orderBy(*df.columns)


def published_value(col: Column, kind: str) -> Column:
    """Text as the libraries standardize it (half-width, single spaces, trimmed): a department's
    full-width or padded spelling of a valid code (９1420…, "…235　") is the same value and
    must not keep the whole package from publishing; anything else is published as stored."""
    from jobs.standardize import clean_text

    return clean_text(col) if kind == "string" else col


def suite_constraints(table: str) -> dict[str, dict]:
    """Simple constraints from the table's quality suite, for rules whose failing rows are kept
    out of the table: not null -> required, unique -> unique, in set -> enum."""
    from govlake.conffile import read_yaml
    from govlake.settings import PROJECT_ROOT

    parsed = Table.parse(table)
    path = PROJECT_ROOT / "expectations" / parsed.database / f"{parsed.name}.yml"
    if not path.is_file():
        return {}
    out: dict[str, dict] = {}
    for rule in (read_yaml(path) or {}).get("expectations", []):
        if (rule.get("meta") or {}).get("policy") not in KEPT_OUT:
            continue
        kwargs = rule.get("kwargs") or {}
        column, kind = kwargs.get("column"), rule.get("type")
        if kind == "expect_column_values_to_not_be_null":
            out.setdefault(column, {})["required"] = True
        elif kind == "expect_column_values_to_be_unique":
            out.setdefault(column, {})["unique"] = True
        elif kind == "expect_column_values_to_be_in_set":
            out.setdefault(column, {})["enum"] = [str(v) for v in kwargs["value_set"]]
    return out


def fields(df: DataFrame, ds: OpenDataset) -> list[Field]:
    """Per output column: name, Chinese title (catalog item), type, constraints (suite rules
    for unmasked columns, then those the dataset declares)."""
    derived = suite_constraints(ds.table)
    out = []
    for f in df.schema.fields:
        kind = TYPES.get(f.dataType.simpleString(), "string")
        if ds.conf.aggregate and f.name == ds.conf.aggregate.count:
            out.append(Field(f.name, ds.conf.aggregate.count_title, "integer", {"required": True}))
            continue
        constraints = {} if f.name in ds.conf.masked else dict(derived.get(f.name, {}))
        declared = ds.conf.constraints.get(f.name)
        if declared:
            constraints |= declared.model_dump(exclude_none=True)
        if ds.conf.aggregate:
            constraints.pop("unique", None)
        out.append(Field(f.name, ds.titles.get(f.name, f.name), kind, constraints))
    return out


def version_of(spark: SparkSession, cfg: Settings, table: str) -> Version:
    """The source table's version and commit time: what the package's version and dct:modified
    say, so a rerun on the same data writes the same bytes."""
    commit = Table.parse(table).commit(spark, cfg)
    if commit is None:
        return Version(None, None)
    utc = commit.timestamp.astimezone(dt.UTC)
    return Version(commit.version, utc.strftime("%Y-%m-%dT%H:%M:%SZ"))


def export_dataset(spark: SparkSession, cfg: Settings, ds: OpenDataset, masking, scheme) -> dict:
    """One dataset: read, shape, write, validate, publish; returns rows and path."""
    df = dataset_frame(current_rows(spark, cfg, ds.table), ds, masking)
    rows = [tuple(r) for r in df.collect()]
    schema_fields = fields(df, ds)
    package = descriptor(ds, schema_fields, version_of(spark, cfg, ds.table))
    files = {CSV_NAME: csv_bytes(schema_fields, rows), DESCRIPTOR: json_bytes(package)}
    path = write_package(open_root(cfg), ds, files, scheme)
    return {"dataset": ds.name, "rows": len(rows), "path": str(path), "status": "published"}


def export_open_data(
    spark: SparkSession | None = None, cfg: Settings | None = None, directory: Path | None = None
) -> list[dict]:
    """Every dataset of conf/open/ (or `directory`), then catalog.jsonld; raises after the
    others are published when any package failed."""
    from govlake.spark import get_spark

    cfg = cfg or settings()
    spark = spark or get_spark(cfg)
    masking = load_masking()
    datasets = load_datasets(directory, cfg, spark, masking)
    scheme = catalog_review().scheme
    results, failures = [], []
    for ds in sorted(datasets, key=lambda d: (d.priority is None, d.priority or 0, d.name)):
        try:
            results.append(export_dataset(spark, cfg, ds, masking, scheme))
        except GovlakeError as exc:
            failures.append(exc)
            results.append({"dataset": ds.name, "rows": None, "status": f"refused: {exc}"})
    write_catalogue(open_root(cfg), [d.name for d in datasets])
    if failures:
        raise GovlakeError(
            f"{len(failures)} open dataset(s) not published: "
            + " | ".join(str(f) for f in failures)
        )
    return results
