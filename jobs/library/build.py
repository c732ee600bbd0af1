"""One library build: plan, read, run the steps, check, write, record."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake import owned
from govlake.errors import GovlakeError
from govlake.lakehouse import Table
from jobs.library import read, steps, write
from jobs.library.context import KEY, BuildContext, ods_table
from jobs.library.incremental import Plan, plan_build, restricted_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def landed_rows(spark: SparkSession, ctx: BuildContext, name: str, plan: Plan) -> DataFrame:
    """The input's current rows (of the changed keys only, on an incremental night)."""
    source = ctx.library.inputs[name]
    read.require_landed(spark, ctx, source)
    if plan.incremental:
        return restricted_rows(spark, ctx, name, plan)
    # At the version the plan recorded: a reload committed while the build runs must not be
    # read in part (its rows counted in one step and not another); the next build takes it.
    return read.current_rows(spark, ctx.cfg, source, version=plan.versions[name])


def run_inputs(spark: SparkSession, ctx: BuildContext, plan: Plan) -> tuple[dict, list[dict]]:
    """Per input: read its rows, run INPUT_STEPS, publish its standardized rows and count its
    balance. Returns the frames the library steps start from, and the balance per input."""
    from pyspark.sql import functions as F

    stated, quarantined, seen, balance = [], [], [], []
    for name, source in ctx.library.inputs.items():
        given = {"ctx": ctx, "name": name, "source": source, "primary_key": ctx.primary_key(name)}
        given["landed"] = landed_rows(spark, ctx, name, plan)
        frames = steps.run(steps.INPUT_STEPS, given)
        checked = frames["checked"].persist()
        counts = checked.agg(
            F.count(F.lit(1)).alias("n"), F.count_if(F.size("_violations") > 0).alias("bad")
        ).first()
        committed = write.publish_standardized(spark, ctx, plan, name, checked)
        if committed is not None:
            plan.std_rows[name] = committed
        stated.append(frames["stated"])
        quarantined.append(steps.quarantine_rows(ctx, source, checked))
        seen.append(checked.select(KEY, "_input"))
        balance.append(
            {
                "input": name,
                "department": source.department,
                "rows_in": counts["n"],
                # Counted on the written side: Delta's count of the rows a full build's write
                # committed, or (incremental night) the std table's rows of tonight's keys,
                # counted for every such input at once after the loop.
                "standardized": committed,
                "quarantined": counts["bad"],
                "note": read.stale_note(spark, ctx, source),
                "ods_version": plan.versions[name],
            }
        )
    uncounted = [b["input"] for b in balance if b["standardized"] is None]
    counted = write.standardized_counts(spark, ctx, plan, uncounted) if uncounted else {}
    for b in balance:
        b["standardized"] = counted.get(b["input"], b["standardized"])
    frames = {"ctx": ctx, "stated": steps.union_all(stated), "seen": steps.union_all(seen)}
    return frames | {"quarantined": steps.union_all(quarantined)}, balance


def build(spark: SparkSession, ctx: BuildContext, full: bool | None = None) -> dict:
    """One library build, on one Spark session: full, or the changed keys only (`full`: see
    incremental.plan_build). Compiled or interpreted by the size of its inputs (a small
    library's queries cost more to compile than to evaluate: Settings.compile_from_rows)."""
    from govlake.spark import evaluating_by_rows

    inputs = [ods_table(source) for source in ctx.library.inputs.values()]
    with evaluating_by_rows(spark, inputs, ctx.cfg):
        return built(spark, ctx, full)


def built(spark: SparkSession, ctx: BuildContext, full: bool | None) -> dict:
    """The steps of `build`: plan, read and standardize, resolve, check, publish, record."""
    from pyspark.sql import functions as F

    from jobs import quality

    plan = plan_build(spark, ctx, full)
    if plan.incremental and not plan.changed and not plan.null_key_inputs:
        return unchanged(spark, ctx, plan)
    given, balance = run_inputs(spark, ctx, plan)
    given["stated"] = given["stated"].persist()
    given["link_keys"] = read.link_keys(spark, ctx)
    frames = steps.run(steps.LIBRARY_STEPS, given)
    rows = frames["rows"].persist()
    rebuilt = plan.keys.withColumnRenamed(KEY, "key") if plan.incremental else None
    checked = quality.check_library(spark, ctx, rows, rebuilt)  # may raise: no MERGE
    with checked.settling() as valid_rows:
        found = steps.union_all([frames["conflicts"], frames["derived_conflicts"]])
        found = found.withColumn("run_id", F.lit(ctx.run_id).cast("string"))
        conflicts = write.publish_findings(spark, ctx, plan, frames["quarantined"], found)
        version, changed, retired = write.merge_changed(
            spark, ctx, plan, valid_rows, frames["registered"]
        )
    given["stated"].unpersist()
    rows.unpersist()
    return finish(spark, ctx, plan, balance, (version, changed, retired), conflicts)


def unchanged(spark: SparkSession, ctx: BuildContext, plan: Plan) -> dict:
    """No input or linked library changed since the last build: nothing is read or written.
    The run is still recorded in ops.library_runs (runs are an audit trail, never replaced),
    marked build_mode 'unchanged' so a rerun of a night reads as one; readers summarizing a
    night take each library's latest build."""
    plan.mode = "unchanged"
    plan.reason = f"nothing to rebuild: {plan.reason}"
    balance = [
        {
            "input": name,
            "department": source.department,
            "rows_in": 0,
            "standardized": 0,
            "quarantined": 0,
            "note": read.stale_note(spark, ctx, source),
            "ods_version": plan.versions[name],
        }
        for name, source in ctx.library.inputs.items()
    ]
    return finish(spark, ctx, plan, balance, (plan.target_version, 0, 0))


def finish(spark, ctx: BuildContext, plan: Plan, balance, merged, conflicts=None) -> dict:
    """Name the tables, record the run (and the versions the next build starts from); a build
    whose rows do not balance is recorded, then fails. `merged`: (Delta version, changed keys,
    retired keys); `conflicts`: the library's conflicts as just published (else counted)."""
    from pyspark.sql import functions as F

    lib = ctx.library
    version, changed, retired = merged
    for table in (Table.parse(lib.table), owned.quarantine(lib.library).table):
        if table.exists(spark, ctx.cfg):
            table.register(spark, ctx.cfg)
    published = owned.CONFLICTS.table.read_if_exists(spark, ctx.cfg)
    found = conflicts or 0
    if published is not None:
        owned.CONFLICTS.table.register(spark, ctx.cfg)
        if conflicts is None:
            found = published.where(F.col("library") == lib.library).count()
    totals = {
        "keys": write.current_keys(spark, ctx),
        "changed_keys": changed,
        "retired_keys": retired,
        "conflicts": found,
        "delta_version": version,
    }
    plan.release()
    cost = write.record_build(spark, ctx, plan, balance, totals)
    if not all(write.balanced(b) for b in balance):
        raise GovlakeError(
            f"library {lib.library} does not balance (rows in != standardized + quarantined): "
            f"{balance}",
            fix="the standardized layer lost or duplicated rows; rebuild with govlake build "
            f"{lib.library} --full and report the run if it persists.",
        )
    inputs = [{k: v for k, v in b.items() if k != "ods_version"} for b in balance]
    return {
        "library": lib.table,
        **totals,
        "mode": plan.mode,
        "reason": plan.reason,
        **cost,
        "inputs": inputs,
    }


def build_library(
    name: str,
    logical_date: dt.date,
    run_id: str | None = None,
    spark=None,
    full: bool | None = None,
) -> dict:
    """Build one base library for a night from its ods inputs; returns counts per input.
    Incremental when the last build's record allows it, unless `full` is asked for or (the
    default, `full=None`) the recorded builds say a full one is cheaper (jobs.library.choice);
    `full=False` builds incrementally whenever the record allows, whatever it costs."""
    import uuid

    from govlake.catalog import assert_publishable
    from govlake.libraries import get_library
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    ctx = BuildContext(
        get_library(name), logical_date, run_id or f"manual__{uuid.uuid4()}", cfg, dt.datetime.now()
    )
    assert_publishable(ctx.library.table)  # 退回纠正: no entry passing review, no MERGE
    return build(spark or get_spark(cfg), ctx, full)
