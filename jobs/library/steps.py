"""The steps of a library build: pure DataFrame -> DataFrame functions run in order by `run`.

No step reads or writes a table: the build reads the inputs first (jobs.library.read), runs
INPUT_STEPS once per input and LIBRARY_STEPS once, and writes afterwards (jobs.library.write).
A step's parameters name what it reads: the context (`ctx`, `name`, `source`, `primary_key`)
or a frame made before it; `run` passes those and keeps the result under the step's output
name (sqlglot's optimizer runs its RULES the same way). tests/fixtures/library/<step>.yaml
holds each step's input and expected rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from functools import reduce
from typing import TYPE_CHECKING, Any

from jobs import identifiers
from jobs.library.context import (
    KEY,
    BuildContext,
    input_spec,
    key_of,
    key_part,
    key_prefix,
    split_key,
)
from jobs.standardize import coded, standardize, typed

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from govlake.libraries import Input

KEY_CHECKS = {
    "ric": identifiers.ric_check,
    "uscc": identifiers.uscc_check,
    "cert": identifiers.cert_check,
    "unit_code": identifiers.unit_code_check,
}
# The e-certificate check is a warning (GB/T 36904 check characters vary between issuers).
# A USCC key is checked in full, its embedded GB 11714 organisation code included.
BLOCKING_KEY_TYPES = ("ric", "uscc", "unit_code")
DERIVED = {
    "ric_birth_date": identifiers.ric_birth_date,
    "ric_sex": identifiers.ric_sex,
    "ric_division": identifiers.ric_division,
}


def row_reference(df: DataFrame, table: str, primary_key: Iterable[str] | None = None) -> Column:
    """Where the row came from: file and line, or the ods table and its primary key."""
    from pyspark.sql import functions as F

    columns = primary_key if primary_key is not None else input_spec(table).ods_primary_key
    key = F.concat_ws(",", *[F.col(c).cast("string") for c in columns])
    by_key = F.concat(F.lit(f"{table}:"), key)
    by_line = F.concat_ws(":", F.col("_source_file"), F.col("_source_row").cast("string"))
    return F.when(F.col("_source_row").isNotNull(), by_line).otherwise(by_key)


def select_input(
    ctx: BuildContext, name: str, source: Input, landed: DataFrame, primary_key=None
) -> DataFrame:
    """Rename to library attributes, keep raw values for quarantine, standardize each value."""
    from pyspark.sql import functions as F

    lib = ctx.library
    raw_columns = {"key": source.key, **source.key_columns, **source.columns}
    values = []
    for attribute, column in source.columns.items():
        declared = lib.attributes[attribute]
        value = standardize(declared.type, F.col(column))
        if declared.codes:
            value = coded(value, declared.codes)
        mapping = source.values.get(attribute)
        if mapping:
            pairs = [F.lit(x) for pair in mapping.items() for x in pair]
            value = F.coalesce(F.create_map(*pairs)[value], value)
        values.append(value.alias(attribute))
    reference = row_reference(landed, source.table, primary_key or ctx.primary_key(name))
    parts = [F.col(c).cast("string").alias(f"_rawkey_{k}") for k, c in source.key_columns.items()]
    return landed.select(
        key_of(lib, source).alias(KEY),
        *parts,
        *values,
        *[F.col(c).cast("string").alias(f"_raw_{a}") for a, c in source.columns.items()],
        F.to_json(F.struct(*[F.col(c).alias(a) for a, c in raw_columns.items()])).alias("_raw"),
        (F.col(source.as_of) if source.as_of else F.lit(None)).cast("string").alias("_as_of"),
        F.col("_batch_date"),
        reference.alias("_row_ref"),
        F.lit(name).alias("_input"),
        F.lit(source.department).alias("_department"),
    )


def with_violations(ctx: BuildContext, source: Input, selected: DataFrame) -> DataFrame:
    """Blocking rules: key present and valid, required attributes present and parseable;
    `_violations` lists every rule a row breaks (empty: the row is accepted)."""
    from pyspark.sql import functions as F

    lib = ctx.library
    ident = key_part(lib, 0, F.col(KEY))
    check = KEY_CHECKS[lib.key_type](ident)
    rules = [F.when(ident.isNull(), F.lit(f"missing_{lib.key}"))]
    # A prefix of the key (a parcel code) is no key of its own: it matches the keys it starts.
    if lib.key_type in BLOCKING_KEY_TYPES and not source.prefix_of_key:
        reason = F.concat(F.lit(f"invalid_{lib.key}:"), check["reason"])
        rules.append(F.when(ident.isNotNull() & ~check["valid"], reason))
    for part, kind in lib.key_columns.items():
        if part in source.key_columns:
            raw = F.col(f"_rawkey_{part}")
            rules += value_rules(part, kind, raw, standardize(kind, raw), required=True)
    for attribute in source.columns:
        declared = lib.attributes[attribute]
        if declared.required or declared.blocking:
            raw, value = F.col(f"_raw_{attribute}"), F.col(attribute)
            kinds = identifier_kinds(declared) if declared.blocking else ()
            rules += value_rules(attribute, declared.type, raw, value, declared.required, kinds)
    return selected.withColumn("_violations", F.filter(F.array(*rules), lambda r: r.isNotNull()))


def identifier_kinds(declared) -> tuple[str, ...]:
    """The identifier checks a blocking ric/uscc/cert attribute must pass one of: its own type's
    and the key type of each library it links to (a right holder is a resident or a legal
    entity). Empty for other types, whose standard form is NULL when the value does not parse."""
    from govlake.libraries import load_libraries

    if declared.type not in KEY_CHECKS:
        return ()
    keyed = {lib.library: lib.key_type for lib in load_libraries()}
    linked = [keyed[x] for x in declared.links if keyed.get(x) in identifiers.CHECKS]
    return tuple(dict.fromkeys((declared.type, *linked)))


def value_rules(
    name: str, kind: str, raw: Column, value: Column, required: bool, kinds: tuple = ()
) -> list:
    """A value's blocking rules: missing (when required), and present but unparseable; for a
    type with an identifier check (industry), the check's reason: invalid_<name>:<reason>; for
    an identifier valid as one of `kinds`, invalid_<name>:<the first kind's reason> when it
    passes none of their checks."""
    from functools import reduce

    from pyspark.sql import functions as F

    text = F.trim(raw)
    blank = text.isNull() | (text == "")
    rules = [F.when(blank, F.lit(f"missing_{name}"))] if required else []
    if kinds:
        checks = [identifiers.CHECKS[k](raw) for k in kinds]
        passes = reduce(lambda a, b: a | b, [c["valid"] for c in checks])
        why = F.concat(F.lit(f"invalid_{name}:"), checks[0]["reason"])
        rules.append(F.when(~blank & ~passes, why))
        return rules
    if kind in identifiers.CHECKS and kind not in KEY_CHECKS:
        why = F.concat(F.lit(f"invalid_{name}:"), identifiers.CHECKS[kind](raw)["reason"])
    else:
        why = F.lit(f"unparseable_{name}")
    rules.append(F.when(~blank & value.isNull(), why))
    return rules


def accepted(checked: DataFrame) -> DataFrame:
    """The rows that broke no blocking rule."""
    from pyspark.sql import functions as F

    return checked.where(F.size("_violations") == 0)


def blocked(checked: DataFrame) -> DataFrame:
    """The rows that broke a blocking rule: they go to quarantine."""
    from pyspark.sql import functions as F

    return checked.where(F.size("_violations") > 0)


def statements(ctx: BuildContext, name: str, source: Input, checked: DataFrame) -> DataFrame:
    """One row per (key, attribute, value) an accepted row states, with the row's rank among
    the key's rows of this input (newest first) and the input's priority for the attribute."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    lib = ctx.library
    newest = Window.partitionBy(KEY).orderBy(
        F.col("_as_of").desc_nulls_last(), F.col("_batch_date").desc(), F.col("_row_ref").desc()
    )
    pairs = [F.struct(F.lit(a).alias("attribute"), F.col(a).alias("value")) for a in source.columns]
    priority = F.create_map(
        *[
            x
            for a in source.columns
            for x in (F.lit(a), F.lit(lib.attributes[a].sources.index(name)))
        ]
    )
    return (
        accepted(checked)
        .withColumn("_rank", F.row_number().over(newest))
        .select(
            KEY, "_input", "_department", "_as_of", "_rank", F.explode(F.array(*pairs)).alias("s")
        )
        .select("*", "s.attribute", "s.value")
        .drop("s")
        .where(F.col("value").isNotNull())
        .withColumn("_priority", priority[F.col("attribute")])
    )


def fanned(ctx: BuildContext, stated: DataFrame) -> DataFrame:
    """The statements of an input keyed by a prefix of the library key (a survey per parcel,
    `prefix_of_key`) as statements about each key that starts with it, among the keys the
    inputs which add keys state; a prefix no such key starts with states nothing."""
    from pyspark.sql import functions as F

    lib = ctx.library
    prefixed = sorted(name for name in lib.inputs if lib.partial(name))
    if not prefixed:
        return stated
    adding = [name for name, source in lib.inputs.items() if source.adds_keys]
    keys = stated.where(F.col("_input").isin(*adding)).select(KEY).distinct()
    parts = [stated.where(~F.col("_input").isin(*prefixed))]
    for name in prefixed:
        mine = stated.where(F.col("_input") == name).withColumnRenamed(KEY, "_prefix")
        starts = keys.withColumn("_prefix", key_prefix(lib, name, F.col(KEY)))
        parts.append(mine.join(starts, "_prefix").select(*stated.columns))
    return union_all(parts)


def resolve(stated: DataFrame) -> DataFrame:
    """Per key and attribute, the authority's newest statement, else the first fallback's."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy(KEY, "attribute").orderBy("_priority", "_rank")
    return stated.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")


def conflict_columns(ctx: BuildContext, winner_input, winner_department, winner_value, reason):
    """The columns of a base.conflicts row: who stated what, who won, and why."""
    from pyspark.sql import functions as F

    return [
        F.lit(ctx.library.library).alias("library"),
        F.col(KEY).alias("key"),
        "attribute",
        F.col("_input").alias("input"),
        F.col("_department").alias("department"),
        "value",
        winner_input.alias("winner_input"),
        winner_department.alias("winner_department"),
        winner_value.alias("winner_value"),
        reason.alias("reason"),
    ]


def conflicts(ctx: BuildContext, stated: DataFrame, winners: DataFrame) -> DataFrame:
    """Every statement that differs from the winning value, with who won and why."""
    from pyspark.sql import functions as F

    won = winners.select(
        KEY,
        "attribute",
        F.col("value").alias("winner_value"),
        F.col("_input").alias("winner_input"),
        F.col("_department").alias("winner_department"),
        F.col("_priority").alias("winner_priority"),
    )
    why = (
        F.when(F.col("_input") == F.col("winner_input"), "newer statement of the same department")
        .when(F.col("winner_priority") == 0, "authoritative department (一数一源)")
        .otherwise("fallback: the authoritative department has no value")
    )
    winner = (F.col("winner_input"), F.col("winner_department"), F.col("winner_value"))
    return (
        stated.join(won, [KEY, "attribute"])
        .where(F.col("value") != F.col("winner_value"))
        .select(*conflict_columns(ctx, *winner, why))
        .distinct()
    )


def derived_conflicts(ctx: BuildContext, stated: DataFrame) -> DataFrame:
    """Statements that disagree with what the identity number itself says (birth date, sex,
    division of first registration), for attributes declared `derived_from_key`."""
    from pyspark.sql import functions as F

    derived = {
        n: a.derived_from_key for n, a in ctx.library.attributes.items() if a.derived_from_key
    }
    pairs = [
        x for a, d in derived.items() for x in (F.lit(a), DERIVED[d](F.col(KEY)).cast("string"))
    ]
    expected = F.create_map(*pairs)[F.col("attribute")] if pairs else F.lit(None).cast("string")
    about = F.col("attribute").isin(*derived) if derived else F.lit(False)
    checked = stated.where(about).withColumn("_derived", expected)
    return (
        checked.where(F.col("_derived").isNotNull() & (F.col("value") != F.col("_derived")))
        .select(
            *conflict_columns(
                ctx,
                F.lit("identity_number"),
                F.lit("(derived)"),
                F.col("_derived"),
                F.lit("differs from what the identity number encodes"),
            ),
        )
        .distinct()
    )


def library_rows(ctx: BuildContext, winners: DataFrame) -> DataFrame:
    """One typed row per key, with provenance: which department supplied each attribute, when;
    `_row_hash` tells a changed row from an unchanged one."""
    from pyspark.sql import functions as F

    lib = ctx.library
    values = [
        typed(
            a.type, F.first(F.when(F.col("attribute") == name, F.col("value")), ignorenulls=True)
        ).alias(name)
        for name, a in lib.attributes.items()
    ]
    origin = F.struct(
        F.col("_input").alias("input"),
        F.col("_department").alias("department"),
        F.col("_as_of").alias("as_of"),
    )
    provenance = F.map_from_entries(F.collect_list(F.struct("attribute", origin)))
    rows = winners.groupBy(KEY).agg(*values, provenance.alias("provenance"))
    sources = F.array_sort(
        F.transform(
            F.map_entries("provenance"),
            lambda e: F.concat(e["key"], F.lit("="), e["value"]["input"]),
        )
    )
    keyed = rows.select(*split_key(lib), *[c for c in rows.columns if c != KEY])
    return keyed.withColumn("_row_hash", F.xxhash64(*lib.attributes, sources))


def registered_only(ctx: BuildContext, stated: DataFrame, rows: DataFrame) -> DataFrame:
    """Rows only for keys that an input which adds keys states; the others only describe them."""
    from pyspark.sql import functions as F

    lib = ctx.library
    adding = [name for name, source in lib.inputs.items() if source.adds_keys]
    if len(adding) == len(lib.inputs):
        return rows
    keys = stated.where(F.col("_input").isin(*adding)).select(*split_key(lib))
    return rows.join(keys.distinct(), lib.all_key_columns, "left_semi")


def with_links(ctx: BuildContext, rows: DataFrame, link_keys: DataFrame) -> DataFrame:
    """`<attribute>_linked`: whether the value is a key of a library the attribute links to
    (a legal representative who is a resident). `link_keys`: (library, key) of those
    libraries as they stand; the flags enter the row hash."""
    from pyspark.sql import functions as F

    flags = []
    for name, links in ctx.library.linked_columns.items():
        flag = f"{name}_linked"
        known = (
            link_keys.where(F.col("library").isin(*links))
            .select(F.col("key").alias("_link"))
            .distinct()
            .withColumn(flag, F.lit(True))
        )
        rows = rows.join(known, rows[name] == known["_link"], "left").drop("_link")
        rows = rows.withColumn(flag, F.coalesce(F.col(flag), F.lit(False)))
        flags.append(flag)
    if not flags:
        return rows
    return rows.withColumn("_row_hash", F.xxhash64("_row_hash", *flags))


def registered(ctx: BuildContext, seen: DataFrame) -> DataFrame:
    """The keys (column `<key>`) that an input which adds keys has a current row for, accepted
    or quarantined: a library key outside them is retired. `seen`: (_key, _input) of every
    input row read."""
    from pyspark.sql import functions as F

    lib = ctx.library
    adding = [name for name, source in lib.inputs.items() if source.adds_keys]
    present = seen.where(F.col(KEY).isNotNull() & F.col("_input").isin(*adding))
    return present.select(*split_key(lib)).distinct()


# (step, the frame it makes), in order. A per-input step runs once per input.
INPUT_STEPS: tuple[tuple[Callable[..., DataFrame], str], ...] = (
    (select_input, "selected"),
    (with_violations, "checked"),
    (statements, "stated"),
)
LIBRARY_STEPS: tuple[tuple[Callable[..., DataFrame], str], ...] = (
    (fanned, "stated"),
    (resolve, "winners"),
    (library_rows, "rows"),
    (registered_only, "rows"),
    (with_links, "rows"),
    (registered, "registered"),
    (conflicts, "conflicts"),
    (derived_conflicts, "derived_conflicts"),
)
ALL_STEPS = {step.__name__: (step, output) for step, output in INPUT_STEPS + LIBRARY_STEPS}


def run(steps: Iterable[tuple[Callable[..., DataFrame], str]], given: dict[str, Any]) -> dict:
    """Run `steps` in order on the frames and facts `given`; returns them with every frame made.
    A step gets what its parameters name (a parameter with a default may be left out)."""
    frames = dict(given)
    for step, output in steps:
        wanted = inspect.signature(step).parameters
        frames[output] = step(**{p: frames[p] for p in wanted if p in frames})
    return frames


def union_all(parts: list[DataFrame]) -> DataFrame:
    """One DataFrame of several with the same columns, matched by name."""
    return reduce(lambda a, b: a.unionByName(b), parts)


def quarantine_rows(ctx: BuildContext, source: Input, checked: DataFrame) -> DataFrame:
    """The rows that broke a blocking rule, with their raw values and every rule they broke."""
    from pyspark.sql import functions as F

    return blocked(checked).select(
        F.lit(ctx.library.library).alias("library"),
        F.col("_input").alias("input"),
        F.col("_department").alias("department"),
        F.lit(source.table).alias("source_table"),
        F.col("_row_ref").alias("row_ref"),
        F.col(KEY).alias("key_value"),
        F.col("_violations").alias("rules"),
        F.col("_raw").alias("raw"),
        F.col("_batch_date").alias("batch_date"),
        F.lit(ctx.run_id).alias("run_id"),
        F.lit(ctx.started_at).cast("timestamp").alias("quarantined_at"),
    )


def standardized_rows(ctx: BuildContext, source: Input, checked: DataFrame) -> DataFrame:
    """The input as the library reads it (std.<library>__<input>): the accepted rows, key and
    attributes cleaned, coded and typed."""
    from pyspark.sql import functions as F

    lib = ctx.library
    return accepted(checked).select(
        *split_key(lib),
        *[typed(lib.attributes[a].type, F.col(a)).alias(a) for a in source.columns],
        F.col("_as_of").alias("as_of"),
        F.col("_department").alias("department"),
        F.col("_row_ref").alias("row_ref"),
        F.col("_batch_date").alias("batch_date"),
    )
