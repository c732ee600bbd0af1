"""`govlake quality init`: a starting suite for a source's tables (or a library) to edit.

The rules come from what is declared (primary keys; a library's key type, required and code
attributes) and from a profile of the landed table in one Spark job: columns without NULLs,
columns whose values are ID numbers / credit codes / certificate ids, and small sets of codes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.settings import Settings
from jobs.quality.gx_expectations import IDENTIFIER_EXPECTATIONS
from jobs.quality.suites import suite_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MAX_CODES = 12  # a column with at most this many values is a code list (accepted codes)
IDENTIFIER_SHARE = 0.9  # share of values that must pass a check to call a column an identifier
CODE_SHARE = 0.01  # a code seen in fewer rows than this share is a defect, not an accepted code
ODS_THRESHOLD = 0.05  # a batch losing more than 5% of its rows to quarantine is broken

RULE_TEXT = {
    "expect_column_values_to_not_be_null": ("{c}为空", "{c} is empty"),
    "expect_column_values_to_be_unique": ("{c}重复", "{c} is duplicated"),
    "expect_compound_columns_to_be_unique": ("{c}组合重复", "{c} combination is duplicated"),
    "expect_column_values_to_be_valid_ric": (
        "{c}不是有效的身份证号码",
        "{c} is not a valid ID number",
    ),
    "expect_column_values_to_be_valid_uscc": (
        "{c}不是有效的统一社会信用代码",
        "{c} is not a valid unified social credit code",
    ),
    "expect_column_values_to_be_valid_cert": (
        "{c}不是有效的电子证照标识",
        "{c} is not a valid e-certificate identifier",
    ),
    "expect_column_values_to_be_in_set": ("{c}代码不在允许值内", "{c} is not an accepted code"),
    "expect_column_values_to_be_valid_date": ("{c}不是有效日期", "{c} is not a real date"),
}


def rule(
    kind: str, columns: list[str], policy: str = "warn", labels: dict | None = None, **kwargs
) -> dict:
    """One expectation in the suite file's shape, with its policy and plain-language text."""
    label = ",".join((labels or {}).get(c, c) for c in columns)
    args = (
        {"column_list": columns} if kind.startswith("expect_compound") else {"column": columns[0]}
    )
    zh, en = RULE_TEXT[kind]
    return {
        "type": kind,
        "kwargs": {**args, **kwargs},
        "meta": {"policy": policy, "rule_zh": zh.format(c=label), "rule_en": en.format(c=label)},
    }


def profile(df: DataFrame) -> dict:
    """Per column: nulls, distinct values (if few) and the share passing each identifier check."""
    from pyspark.sql import functions as F

    from jobs.library import KEY_CHECKS as CHECKS  # the checks the libraries block on
    from jobs.standardize import parse_date

    columns = [c for c, t in df.dtypes if not c.startswith("_")]
    strings = [c for c, t in df.dtypes if t == "string" and not c.startswith("_")]
    aggs = [F.count(F.lit(1)).alias("_n")]
    for c in columns:
        col = F.col(f"`{c}`")
        aggs += [
            F.count(col).alias(f"{c}__nonnull"),
            F.approx_count_distinct(col).alias(f"{c}__distinct"),
        ]
    for c in strings:
        col = F.col(f"`{c}`")
        for kind, check in CHECKS.items():
            aggs.append(F.count(F.when(check(col)["valid"], 1)).alias(f"{c}__{kind}"))
        aggs.append(F.count(parse_date(col)).alias(f"{c}__date"))
    row = df.agg(*aggs).first().asDict()
    return {"rows": row.pop("_n"), "stats": row, "columns": columns, "strings": strings}


def _codes(df: DataFrame, column: str, rows: int) -> list[str]:
    from pyspark.sql import functions as F

    counts = df.groupBy(F.col(f"`{column}`").alias("v")).count().collect()
    floor = max(2, rows * CODE_SHARE)
    return sorted(str(r["v"]) for r in counts if r["v"] is not None and r["count"] >= floor)


def profiled_rules(
    df: DataFrame, keys: list[str], types: dict[str, str], labels: dict | None = None
) -> list[dict]:
    """Rules for columns beyond the key: not-null, identifiers, accepted codes."""
    prof = profile(df)
    rows, stats = prof["rows"], prof["stats"]
    out = []
    for c in prof["columns"]:
        nonnull = stats[f"{c}__nonnull"]
        if rows and nonnull == rows and c not in keys:
            out.append(rule("expect_column_values_to_not_be_null", [c], labels=labels))
        kind = types.get(c) or next(
            (
                k
                for k in ("ric", "uscc", "cert")
                if c in prof["strings"]
                and nonnull
                and stats[f"{c}__{k}"] >= IDENTIFIER_SHARE * nonnull
            ),
            None,
        )
        if kind in IDENTIFIER_EXPECTATIONS:
            out.append(rule(IDENTIFIER_EXPECTATIONS[kind], [c], labels=labels))
        elif _dates(prof, c):
            out.append(rule("expect_column_values_to_be_valid_date", [c], labels=labels))
        elif c in keys:
            continue
        elif c in prof["strings"] and 0 < stats[f"{c}__distinct"] <= MAX_CODES and rows >= 20:
            codes = _codes(df, c, rows)
            out.append(
                rule("expect_column_values_to_be_in_set", [c], labels=labels, value_set=codes)
            )
    return out


def _dates(prof: dict, column: str) -> bool:
    """A text column whose values are nearly all dates, in any format departments write: the
    rest are the impossible dates (2023-02-30) the rule is there to report."""
    stats = prof["stats"]
    nonnull = stats[f"{column}__nonnull"]
    return (
        column in prof["strings"]
        and nonnull
        and stats[f"{column}__date"] >= (IDENTIFIER_SHARE * nonnull)
    )


def key_rules(keys: list[str], policy: str, labels: dict | None = None) -> list[dict]:
    rules = [rule("expect_column_values_to_not_be_null", [k], policy, labels) for k in keys]
    if len(keys) == 1:
        return [*rules, rule("expect_column_values_to_be_unique", keys, labels=labels)]
    return [*rules, rule("expect_compound_columns_to_be_unique", keys, labels=labels)]


# What a department's own column name says its values are (the declaration has no types):
# the identifier checks the libraries block on, and date validity.
DECLARED_KINDS = (
    (re.compile(r"身份证号|身份号码"), "ric"),
    (re.compile(r"统一社会信用代码|信用代码|纳税人识别号"), "uscc"),
    (re.compile(r"证照标识"), "cert"),
    (re.compile(r"不动产单元代码|不动产单元号"), "unit_code"),
)
DATE_NAME = re.compile(r"日期$")


def declared_rules(spec, keys: list[str], labels: dict) -> list[dict]:
    """Rules from a table's declaration before anything is loaded: identifier and date checks
    chosen by the department's own (Chinese) column names. Warn only: nothing is profiled yet."""
    out = []
    for raw, column in spec.columns.items():
        kind = next((k for pattern, k in DECLARED_KINDS if pattern.search(raw)), None)
        if kind in IDENTIFIER_EXPECTATIONS:
            out.append(rule(IDENTIFIER_EXPECTATIONS[kind], [column], labels=labels))
        elif DATE_NAME.search(raw) and column not in keys:
            out.append(rule("expect_column_values_to_be_valid_date", [column], labels=labels))
    return out


def _read(spark: SparkSession, cfg: Settings, table: str, fix: str) -> DataFrame:
    df = Table.parse(table).read_if_exists(spark, cfg)
    if df is None:
        raise ConfigError(f"{table} has not been written yet, so it cannot be profiled.", fix=fix)
    return df


def source_suites(spark: SparkSession, cfg: Settings, system: str) -> dict[str, dict]:
    """Starting suites for every table of a source, keyed by table name: a physical source's
    latest batch is profiled, a logical one's table where it lives."""
    from pyspark.sql import functions as F

    from govlake.sources import load_sources

    sources = {s.system: s for s in load_sources()}
    if system not in sources:
        raise ConfigError(f"no source system '{system}'.", fix="run `govlake sources`.")
    source = sources[system]
    out = {}
    for spec in source.tables:
        table = source.ods_table(spec)
        # The department's own column names (Chinese in its exports) read best in feedback.
        labels = {ods: raw for raw, ods in spec.columns.items()}
        if source.mode == "logical":
            # Queried in place: profiled where it lives, and nothing to hold rows back from.
            from jobs.logical import register

            rows, keys, policy = (
                spark.table(register(spark, cfg, source, spec)),
                spec.primary_key,
                "warn",
            )
        elif not Table.parse(table).exists(spark, cfg):
            # Before the first load: rules from the declaration alone, so the first batch is
            # validated too (profiled rules come from `quality init --force` after it).
            keys = spec.ods_primary_key
            rules = key_rules(keys, "quarantine", labels) + declared_rules(spec, keys, labels)
            out[table] = suite_document(
                table, rules, f"{source.department} {source.information_system}: {spec.description}"
            )
            continue
        else:
            df = _read(spark, cfg, table, f"load it first: govlake load {system}")
            latest = df.agg(F.max("_batch_date")).first()[0]
            rows = df.where(F.col("_batch_date") == F.lit(latest))
            keys, policy = spec.ods_primary_key, "quarantine"
        rules = key_rules(keys, policy, labels) + profiled_rules(rows, keys, {}, labels)
        out[table] = suite_document(
            table, rules, f"{source.department} {source.information_system}: {spec.description}"
        )
    return out


def library_suite(spark: SparkSession, cfg: Settings, name: str) -> dict[str, dict]:
    """A starting suite for a base library from its declaration and its built rows."""
    from govlake.libraries import get_library
    from jobs.library import BLOCKING_KEY_TYPES

    lib = get_library(name)
    df = _read(spark, cfg, lib.table, f"build it first: govlake build {name}")
    # A value linking to libraries of different key types (a holder: person or entity) is
    # not one kind of identifier.
    types = {
        a: x.type
        for a, x in lib.attributes.items()
        if x.type in ("ric", "uscc", "cert") and len(x.links) <= 1
    }
    types[lib.key] = lib.key_type
    # The build already quarantined invalid ID numbers and credit codes (not certificate ids,
    # a warning there): finding one in the built rows would be a bug, so it fails the build.
    key_policy = "fail" if lib.key_type in BLOCKING_KEY_TYPES else "warn"
    rules = key_rules(lib.all_key_columns, "fail")  # (uscc, year): compound uniqueness
    rules.append(rule(IDENTIFIER_EXPECTATIONS[lib.key_type], [lib.key], key_policy))
    rules += [
        r
        for r in profiled_rules(df.select(*lib.attributes), lib.all_key_columns, types)
        if r["kwargs"].get("column") in lib.attributes
    ]
    return {lib.table: suite_document(lib.table, rules, lib.title)}


def theme_suite(spark: SparkSession, cfg: Settings, name: str) -> dict[str, dict]:
    """A starting suite for a theme from its declaration and its built rows: the key fails
    (a theme build refuses a duplicate or NULL key before this, so it is a bug), the scalar
    columns get profiled rules; arrays and structs (a dossier's parts) are left to the model."""
    from govlake.themes import get_theme

    theme = get_theme(name)
    df = _read(spark, cfg, theme.table, f"build it first: govlake theme {name}")
    scalar = [f.name for f in df.schema if f.name in theme.columns and _scalar(f.dataType)]
    rules = key_rules(list(theme.key), "fail") + profiled_rules(df.select(*scalar), theme.key, {})
    for found in rules:
        columns = found["kwargs"].get("column_list") or [found["kwargs"].get("column")]
        if set(columns) <= set(theme.key) and "unique" in found["type"]:
            # The build refuses a duplicate or NULL key before validation: a failure is a bug.
            # A key's identifier check stays warn: a key taken from a department table (not a
            # library's, whose invalid keys are quarantined) may be invalid, and is reported.
            found["meta"]["policy"] = "fail"
    return {theme.table: suite_document(theme.table, rules, theme.title)}


def _scalar(kind) -> bool:
    from pyspark.sql.types import ArrayType, MapType, StructType

    return not isinstance(kind, (ArrayType, MapType, StructType))


def suite_document(table: str, rules: list[dict], title: str) -> dict:
    return {
        "name": table,
        "meta": {"title": title, "threshold": {"max_quarantined_fraction": ODS_THRESHOLD}},
        "expectations": rules,
    }


HEADER = """\
# Great Expectations suite for {table}, generated by `govlake quality init`; edit and commit.
# policy per rule: warn (keep the row, record it), quarantine (keep it out of the table, in
# quality.failed_rows), fail (stop the load; the table is not updated). The threshold turns
# more quarantined rows than max_quarantined_fraction of the batch into a failure.
"""


def write_suites(suites: dict[str, dict], directory: Path | None, force: bool) -> list[Path]:
    """Write each suite file; never overwrite an engineer's edits unless forced."""
    written = []
    for table, doc in suites.items():
        path = suite_path(table, directory)
        if path.exists() and not force:
            raise ConfigError(
                "already exists; it may hold edits.",
                file=str(path),
                fix="pass --force to overwrite it, or edit it by hand.",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(
            doc, allow_unicode=True, sort_keys=False, width=100, default_flow_style=None
        )
        path.write_text(HEADER.format(table=table) + body, encoding="utf-8")
        written.append(path)
    return written
