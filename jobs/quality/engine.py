"""The validation step of a load: one pass of row rules, GX on the same batch, then policies.

warn keeps the row and records it; quarantine removes the row from what is written and keeps
it in quality.failed_rows with the rule's name; fail stops the task before the target table
changes. A table threshold turns too many quarantined rows into a failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.settings import Settings
from jobs.quality import results
from jobs.quality.rules import failing
from jobs.quality.suites import Suite, check_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)
FAILED = "_quality_failed"
SAMPLE = 10  # failing values kept per rule in quality.results (identifiers masked)


class QualityError(GovlakeError):
    """A batch broke a fail rule or the quarantine threshold: the table was not updated."""


@dataclass
class Batch:
    """Who the rows are, so results and failed rows name the table, system and department."""

    table: str
    run_id: str
    run_date: dt.date
    key_columns: list[str]
    system: str | None = None
    department: str | None = None
    row_department: Callable[[str], Column] | None = None  # per rule column, for base tables
    source_row: Column | None = None


@dataclass
class Outcome:
    """What validation did: rows to write, counts, per-rule results, and timings."""

    rows: DataFrame
    total: int = 0
    quarantined: int = 0
    rules: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def flag_rows(df: DataFrame, suite: Suite) -> DataFrame:
    """The batch plus one array of {rule, value} per row: every rule the row fails."""
    from pyspark.sql import functions as F

    failures = []
    for rule in suite.expectations:
        condition = failing(rule)
        if condition is None:
            continue
        value = F.concat_ws("|", *[F.col(f"`{c}`").cast("string") for c in rule.columns])
        failures.append(
            F.when(condition, F.struct(F.lit(rule.name).alias("rule"), value.alias("value")))
        )
    if not failures:
        return df.withColumn(FAILED, F.array().cast("array<struct<rule:string,value:string>>"))
    return df.withColumn(FAILED, F.filter(F.array(*failures), lambda x: x.isNotNull()))


def _has_rule(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.exists(FAILED, lambda x: x["rule"] == F.lit(name))


def _sample(name: str) -> Column:
    """Up to SAMPLE distinct failing values of a rule (the set is built from failing rows only)."""
    from pyspark.sql import functions as F

    value = F.get(F.filter(FAILED, lambda x: x["rule"] == F.lit(name)), 0)["value"]
    return F.slice(F.array_sort(F.collect_set(value)), 1, SAMPLE)


def count_failures(flagged: DataFrame, suite: Suite) -> dict:
    """Rows, rows failing each rule, samples and rows to quarantine, in one Spark job."""
    from pyspark.sql import functions as F

    quarantine = [r.name for r in suite.rules("quarantine")]
    in_quarantine = (
        F.exists(FAILED, lambda x: x["rule"].isin(quarantine)) if quarantine else F.lit(False)
    )
    names = [r.name for r in suite.expectations]
    row = flagged.agg(
        F.count(F.lit(1)).alias("total"),
        F.count(F.when(in_quarantine, 1)).alias("quarantined"),
        *[F.count(F.when(_has_rule(n), 1)).alias(f"r{i}") for i, n in enumerate(names)],
        *[_sample(n).alias(f"s{i}") for i, n in enumerate(names)],
    ).first()
    return {
        "total": row["total"],
        "quarantined": row["quarantined"],
        "rules": {n: row[f"r{i}"] for i, n in enumerate(names)},
        "samples": {n: row[f"s{i}"] for i, n in enumerate(names)},
        "quarantine_filter": in_quarantine,
    }


def validate(
    spark: SparkSession, cfg: Settings, suite: Suite, df: DataFrame, batch: Batch
) -> Outcome:
    """Validate a batch against its suite and apply the policies; raises QualityError on fail."""
    from jobs.quality.gx_run import validate_with_gx

    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - started - sum(phases.values()), 3)

    check_columns(suite, df.columns)
    flagged = flag_rows(df, suite).localCheckpoint(eager=False)
    # GX and our one pass read the same cached batch independently, and the two result tables
    # are separate commits: run them side by side, as most of their cost is fixed overhead
    # (planning, GX's metric graph, Delta commits) rather than work on the rows.
    with ThreadPoolExecutor(max_workers=2) as pool:
        gx_job = pool.submit(validate_with_gx, cfg, suite, df, batch.run_id)
        counts = count_failures(flagged, suite)
        lap("row_rules")
        gx = gx_job.result()
        lap("gx_after_row_rules")
        rows = results.rule_results(suite, batch, gx, counts)
        failed_job = pool.submit(results.write_failed_rows, spark, cfg, suite, batch, flagged)
        results.write_results(spark, cfg, batch, rows)
        failed_job.result()
        lap("write_results_and_failed_rows")
    outcome = Outcome(df, counts["total"], counts["quarantined"], rows, phases=phases)
    if counts["quarantined"]:
        outcome.rows = flagged.where(~counts["quarantine_filter"]).drop(FAILED)
    outcome.seconds = time.perf_counter() - started
    log.info("validated %s in %.1fs: %s", suite.table, outcome.seconds, phases)
    enforce(suite, batch, outcome)
    return outcome


def enforce(suite: Suite, batch: Batch, outcome: Outcome) -> None:
    """Raise when a fail rule failed or too many rows were quarantined."""
    failed = [r for r in outcome.rules if r["policy"] == "fail" and not r["success"]]
    if failed:
        what = "; ".join(
            f"rule {r['rule']} failed on {r['unexpected_count']} of {r['element_count']} rows"
            for r in failed
        )
        raise QualityError(
            f"validation of {suite.table} for {batch.run_date} failed: {what}. "
            f"{suite.table} was not updated.",
            source=batch.system,
            file=str(suite.file_path),
            fix="see quality.failed_rows for the rows; ask the department to correct them, or "
            "change the rule's policy in the suite if the rule is wrong.",
        )
    limit = suite.meta.threshold.max_quarantined_fraction
    share = outcome.quarantined / outcome.total if outcome.total else 0.0
    if share > limit:
        rules = sorted(
            (r["rule"], r["unexpected_count"]) for r in outcome.rules if r["policy"] == "quarantine"
        )
        raise QualityError(
            f"validation of {suite.table} for {batch.run_date} failed: {outcome.quarantined} of "
            f"{outcome.total} rows ({share:.1%}) broke quarantine rules, over the threshold "
            f"max_quarantined_fraction {limit:.1%} (by rule: {rules}). {suite.table} was not "
            "updated.",
            source=batch.system,
            file=str(suite.file_path),
            fix="a broken batch: ask the department to resend it (quality.failed_rows lists the "
            "rows), or raise meta.threshold in the suite if this share is acceptable.",
        )
