"""Incremental library builds: the keys a night changed, so only they are rebuilt (issue 3).

A build records per input the version of the ods table it read, and a hash of everything
that shapes its output (library file, code tables, input specs, build code). The next build
reads them back: same hash and readable versions -> incremental, otherwise full, with the
reason. Changed keys come from the change data feed of incremental (watermark) inputs, from
the difference of two batches for snapshot inputs, and from keys that appeared in a linked
library (a legal representative who became a resident).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from govlake import cpu
from govlake.lakehouse import Table, retry_concurrent
from govlake.libraries import code_table, get_library
from govlake.owned import LIBRARY_RUNS
from jobs import identifiers, standardize
from jobs.library.choice import PastBuild, full_is_cheaper
from jobs.library.context import (
    KEY,
    BuildContext,
    input_spec,
    joined_key,
    key_of,
    key_prefix,
    ods_table,
)
from jobs.library.read import current_rows, fingerprints, library_table
from jobs.library.steps import union_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PACKAGE_DIR = Path(__file__).resolve().parent


def build_code() -> list[Path]:
    """The code whose change forces a full build: every module of this package and the
    standardization and identifier checks its steps call."""
    imported = [Path(inspect.getsourcefile(m)) for m in (standardize, identifiers)]
    return sorted(PACKAGE_DIR.rglob("*.py")) + imported


@dataclass
class Plan:
    """How tonight's build runs: full, or incremental over `keys` (standardized key values)."""

    mode: str
    reason: str
    config_hash: str
    versions: dict[str, int | None]
    links: dict[str, int | None]
    target_version: int | None = None
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    keys: DataFrame | None = None
    changes: DataFrame | None = None  # (_key, _input): which input changed which key
    changed: int = 0
    changed_inputs: set[str] = field(default_factory=set)
    null_key_inputs: set[str] = field(default_factory=set)
    # Per input, its std table's rows after a full build's write (no need to count them again).
    std_rows: dict[str, int] = field(default_factory=dict)
    # When the build began (time.monotonic) and where the CPU clocks stood (govlake.cpu): its
    # wall and CPU seconds are recorded for the next night's choice (jobs.library.choice).
    began: float = field(default_factory=time.monotonic)
    cpu_began: cpu.CpuMark | None = None

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def release(self) -> None:
        for df in (self.keys, self.changes):
            if df is not None:
                df.unpersist()


def config_hash(ctx: BuildContext) -> str:
    """What decides a build's output besides the data; a change forces a full build."""
    lib = ctx.library
    parts = [lib.model_dump_json()]
    parts += [input_spec(s.table).model_dump_json() for s in lib.inputs.values()]
    parts += [
        json.dumps(code_table(a.codes), sort_keys=True) for a in lib.attributes.values() if a.codes
    ]
    parts += [path.read_text(encoding="utf-8") for path in build_code()]
    return hashlib.sha256("\u0000".join(parts).encode()).hexdigest()[:16]


def last_build(spark: SparkSession, ctx: BuildContext) -> dict | None:
    """The versions and hash recorded by the library's last balanced build, and under
    `history` every balanced build's mode, wall and CPU seconds and keys, newest first
    (jobs.library.choice). Records from before a figure was kept lack its column: None."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = LIBRARY_RUNS.table.read_if_exists(spark, ctx.cfg)
    if runs is None or "ods_fingerprint" not in runs.columns:
        return None
    mine = runs.where((F.col("library") == ctx.library.library) & F.col("config_hash").isNotNull())
    # A retried task records its build again under the same run id: the latest record counts
    # (a run's inputs twice would put a key twice in the maps below, which Spark refuses).
    latest = F.max("finished_at").over(Window.partitionBy("run_id"))
    mine = mine.withColumn("_latest", latest).where(F.col("finished_at") == F.col("_latest"))
    seconds, cpu_seconds = (recorded(runs, c) for c in ("build_seconds", "build_cpu_seconds"))
    last = mine.groupBy("run_id").agg(
        F.max("finished_at").alias("finished_at"),
        F.bool_and("balanced").alias("balanced"),
        F.first("config_hash").alias("config_hash"),
        F.first("link_versions").alias("links"),
        F.map_from_entries(F.collect_list(F.struct("input", "ods_version"))).alias("versions"),
        F.map_from_entries(F.collect_list(F.struct("input", "ods_fingerprint"))).alias(
            "fingerprints"
        ),
        F.first("build_mode").alias("mode"),
        F.max(seconds).alias("seconds"),
        F.max(cpu_seconds).alias("cpu_seconds"),
        F.max("keys").alias("keys"),
        F.max("changed_keys").alias("changed"),
    )
    rows = last.where("balanced").orderBy(F.col("finished_at").desc()).collect()
    if not rows:
        return None
    history = [
        PastBuild(r.mode, r.seconds, r.keys or 0, r.changed or 0, r.cpu_seconds) for r in rows
    ]
    return rows[0].asDict() | {"history": history}


def recorded(runs: DataFrame, column: str):
    """A figure of ops.library_runs, null in a table written before it was recorded."""
    from pyspark.sql import functions as F

    return F.col(column) if column in runs.columns else F.lit(None).cast("double")


def why_full(previous: dict | None, plan: Plan, library: str = "the library") -> str | None:
    """Why tonight cannot build on the last build, or None when it can: a pure function of the
    last build's record and tonight's facts (hash, input and link versions, target version)."""
    if previous is None:
        return "no earlier build recorded"
    if previous["config_hash"] != plan.config_hash:
        return "the library, its code tables, input specs or build code changed"
    before = previous["versions"] or {}
    if set(before) != set(plan.versions) or None in before.values():
        return "the inputs differ from the last build's"
    for other, version in plan.links.items():
        if (previous["links"] or {}).get(other) is None and version is not None:
            return f"linked library {other} did not exist at the last build"
    if plan.target_version is None:
        return f"{library} does not exist yet"
    return None


def plan_build(spark: SparkSession, ctx: BuildContext, full: bool | None = None) -> Plan:
    """Decide full or incremental; for incremental, find and count the changed keys.
    `full`: True builds in full; None (the night's default) also builds in full when the
    recorded builds say it is cheaper (jobs.library.choice); False never chooses by cost."""
    from pyspark.errors import AnalysisException

    lib, cfg = ctx.library, ctx.cfg
    versions = {n: ods_table(s).version(spark, cfg) for n, s in lib.inputs.items()}
    links = {other: library_table(other).version(spark, cfg) for other in sorted(lib.links)}
    plan = Plan("full", "", config_hash(ctx), versions, links)
    plan.cpu_began = cpu.mark(spark)
    plan.target_version = Table.parse(lib.table).version(spark, cfg)
    previous = last_build(spark, ctx)
    plan.fingerprints = batch_fingerprints(spark, ctx, versions, known_fingerprints(previous, plan))
    reason = "a full build was asked for" if full else why_full(previous, plan, lib.table)
    if reason is None and full is None and not nothing_moved(previous, plan):
        reason = full_is_cheaper(previous["keys"] or 0, previous["history"])
    if reason:
        plan.reason = reason
        return plan
    try:
        find_changes(spark, ctx, previous, plan)
    except AnalysisException as exc:  # e.g. change data feed not kept for those versions
        plan.reason = f"changes since the last build cannot be read: {str(exc).splitlines()[0]}"
        return plan
    prefixed = sorted(n for n in plan.changed_inputs if lib.partial(n))
    if prefixed:
        # A changed prefix (a parcel) changes every key that starts with it, keys the prefix
        # input's own rows cannot name: rebuild all (a survey is delivered a few times a year).
        plan.reason = f"{', '.join(prefixed)} changed, and states prefixes of the key"
        plan.release()
        plan.keys = plan.changes = None
        plan.changed, plan.changed_inputs, plan.null_key_inputs = 0, set(), set()
        return plan
    plan.mode = "incremental"
    plan.reason = f"{plan.changed} changed keys since run {previous['run_id']}"
    return plan


def batch_fingerprints(
    spark: SparkSession, ctx: BuildContext, versions, known: dict[str, str] | None = None
) -> dict[str, str]:
    """Per snapshot input: a content hash of the columns the library reads in its current batch
    (at the planned version), so a re-delivery of the same content is known in one pass (one
    Spark job for all the inputs). `known` inputs are not read again."""
    known = known or {}
    return known | fingerprints(
        {
            name: current_rows(spark, ctx.cfg, s, versions[name]).select(*compared_columns(s))
            for name, s in ctx.library.inputs.items()
            if name not in known
            and not input_spec(s.table).watermark
            and ods_table(s).exists(spark, ctx.cfg)
        }
    )


def known_fingerprints(previous: dict | None, plan: Plan) -> dict[str, str]:
    """The last build's fingerprint of each input still at the version it recorded, under the
    same library file and code (which decide the columns hashed): the same Delta version is
    the same content, so a rerun night reads no input to fingerprint it (2.1 s of an
    unchanged population build's 6 s, benchmarks/README.md seventh profile)."""
    if previous is None or previous["config_hash"] != plan.config_hash:
        return {}
    before, recorded = previous["versions"] or {}, previous.get("fingerprints") or {}
    return {
        name: recorded[name]
        for name, version in plan.versions.items()
        if version is not None and before.get(name) == version and recorded.get(name)
    }


def unchanged_input(previous: dict, plan: Plan, name: str) -> bool:
    """The input's table has no new version, or its new batch has the same content."""
    if previous["versions"][name] == plan.versions[name]:
        return True
    before = (previous.get("fingerprints") or {}).get(name)
    return before is not None and before == plan.fingerprints.get(name)


def nothing_moved(previous: dict, plan: Plan) -> bool:
    """No input and no linked library changed: tonight is an unchanged night, cheaper than
    either build, so the cost choice does not apply."""
    links = previous["links"] or {}
    return all(unchanged_input(previous, plan, n) for n in plan.versions) and all(
        links.get(other) == version for other, version in plan.links.items()
    )


def find_changes(spark: SparkSession, ctx: BuildContext, previous: dict, plan: Plan) -> None:
    """Fill the plan with the standardized keys each input (or a link) changed since the last
    build; `_input` is null for keys whose link changed."""
    from pyspark.sql import functions as F

    parts = []
    for name, source in ctx.library.inputs.items():
        if not unchanged_input(previous, plan, name):
            since, now = previous["versions"][name], plan.versions[name]
            changes = input_changes(spark, ctx, source, since, now)
            parts.append(changes.withColumn("_input", F.lit(name)))
    links = link_changes(spark, ctx, previous["links"] or {}, plan.links)
    parts += [p.withColumn("_input", F.lit(None).cast("string")) for p in links]
    if not parts:
        plan.keys = spark.createDataFrame([], f"{KEY} string")
        plan.changes = spark.createDataFrame([], f"{KEY} string, _input string")
        return
    # Checkpointed: every input's read joins these keys, and a plan that carried their whole
    # derivation (two versions of every input) would grow past what the driver can print.
    plan.changes = union_all(parts).distinct().localCheckpoint()
    per_input = plan.changes.groupBy("_input").agg(F.count_if(F.col(KEY).isNull()).alias("keyless"))
    for row in per_input.collect():
        if row["_input"] is not None:
            plan.changed_inputs.add(row["_input"])
        if row["keyless"] and row["_input"] is not None:
            plan.null_key_inputs.add(row["_input"])
    plan.keys = plan.changes.where(F.col(KEY).isNotNull()).select(KEY).distinct().localCheckpoint()
    plan.changed = plan.keys.count()


def keys_changed_by(plan: Plan, name: str, column: str) -> DataFrame:
    """The keys one input itself changed (its standardized rows and quarantine depend on no
    other input), named `column`."""
    from pyspark.sql import functions as F

    changed = plan.changes.where((F.col("_input") == name) & F.col(KEY).isNotNull())
    return changed.select(F.col(KEY).alias(column))


def compared_columns(source) -> list[str]:
    """The ods columns an input reads: a change elsewhere in the row cannot change the library.
    The key's other columns (a year) are among them: the key is computed from these columns."""
    read = [source.key, *source.key_columns.values(), *source.columns.values()]
    return list(dict.fromkeys([*read, *filter(None, [source.as_of])]))


def input_changes(spark: SparkSession, ctx: BuildContext, source, since: int, now: int):
    """Keys whose current rows of this input differ between versions `since` and `now` (the
    planned version: a reload committed during the build is the next build's)."""

    spec = input_spec(source.table)
    restrict = None
    if spec.watermark:
        feed = ods_table(source).changes(spark, since + 1, now, cfg=ctx.cfg)
        changes = feed.select(*spec.ods_primary_key).distinct()

        def restrict(df):
            return df.join(changes, spec.ods_primary_key, "left_semi")

    columns = compared_columns(source)
    old = current_rows(spark, ctx.cfg, source, version=since, restrict=restrict).select(*columns)
    new = current_rows(spark, ctx.cfg, source, version=now, restrict=restrict).select(*columns)
    differ = new.exceptAll(old).unionByName(old.exceptAll(new))
    return differ.select(key_of(ctx.library, source).alias(KEY))


def link_changes(
    spark: SparkSession, ctx: BuildContext, before: dict, now: dict
) -> list[DataFrame]:
    """This library's keys whose linked value became a key of the linked library since then."""
    from pyspark.sql import functions as F

    lib = ctx.library
    target = Table.parse(lib.table)
    parts = []
    for name, links in lib.linked_columns.items():
        for other in links:
            if before.get(other) == now.get(other):
                continue
            linked = get_library(other)
            feed = library_table(other).changes(spark, before[other] + 1, cfg=ctx.cfg)
            appeared = feed.where(F.col("_change_type") == "insert").select(
                F.col(linked.key).alias(name)
            )
            rows = target.read(spark, ctx.cfg).join(appeared, name, "left_semi")
            parts.append(rows.select(joined_key(lib).alias(KEY)))
    return parts


def tonight_keys(plan: Plan, lib, name: str) -> DataFrame:
    """The changed keys as an input's rows name them (`_key`): their prefixes for an input
    keyed by a prefix of the library key."""
    from pyspark.sql import functions as F

    if not lib.partial(name):
        return plan.keys
    return plan.keys.select(key_prefix(lib, name, F.col(KEY)).alias(KEY)).distinct()


def restricted_rows(spark: SparkSession, ctx: BuildContext, name: str, plan: Plan) -> DataFrame:
    """The input's current rows whose standardized key is one of tonight's changed keys, plus
    its keyless rows when those changed. An incremental input is narrowed to the primary keys
    that ever carried such a key before the newest row per primary key is chosen."""
    from pyspark.sql import functions as F

    source, version = ctx.library.inputs[name], plan.versions[name]
    key = key_of(ctx.library, source)
    keys = tonight_keys(plan, ctx.library, name)

    def wanted(df: DataFrame) -> DataFrame:
        marked = df.withColumn(KEY, key)
        chosen = marked.join(keys, KEY, "left_semi")
        if name in plan.null_key_inputs:
            chosen = chosen.unionByName(marked.where(F.col(KEY).isNull()))
        return chosen.drop(KEY)

    primary_key = input_spec(source.table).ods_primary_key
    if not input_spec(source.table).watermark:
        return current_rows(spark, ctx.cfg, source, version, restrict=wanted)

    def ever_wanted(df: DataFrame) -> DataFrame:
        return df.join(wanted(df).select(*primary_key).distinct(), primary_key, "left_semi")

    return wanted(current_rows(spark, ctx.cfg, source, version, restrict=ever_wanted))


def replace_keys(spark: SparkSession, ctx: BuildContext, table: Table, rows, markers, match: str):
    """One atomic MERGE: delete the target rows any marker matches, insert `rows`.

    Markers must match disjoint target rows (a target row may match only one source row)."""
    from pyspark.sql import functions as F

    target = table.read_if_exists(spark, ctx.cfg)
    if target is None:
        table.write(rows, "append", cfg=ctx.cfg)
        return
    flagged = markers.withColumn("_marker", F.lit(True))
    touched = target.alias("t").join(flagged.alias("s"), F.expr(match), "left_semi")
    if rows.isEmpty() and touched.isEmpty():
        return  # a MERGE has a fixed cost of several seconds; skip one that would do nothing
    source = rows.withColumn("_marker", F.lit(False)).unionByName(flagged, allowMissingColumns=True)
    values = {f"`{c}`": f"s.`{c}`" for c in rows.columns}

    def merge() -> None:
        (
            table.delta(spark, ctx.cfg)
            .alias("t")
            .merge(source.alias("s"), f"s._marker AND ({match})")
            .whenMatchedDelete()
            .whenNotMatchedInsert(condition="NOT s._marker", values=values)
            .execute()
        )

    retry_concurrent(merge)
