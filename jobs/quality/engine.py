"""The validation step of a load: one pass of row rules, GX on its counts, then policies.

One Spark pass over the batch evaluates every row rule once, counts each rule's failing rows
and keeps only the failing rows (for quality.failed_rows). GX's own expectation classes then
judge each rule from those counts, so GX runs Spark jobs only for expectations without a row
rule. Validation therefore costs about one pass and two appends, whatever the suite's size.

warn keeps the row and records it; quarantine removes the row from what is written and keeps
it in quality.failed_rows with the rule's name; fail stops the task before the target table
changes. A table threshold turns too many quarantined rows into a failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError
from govlake.settings import Settings
from jobs.quality import results
from jobs.quality.batch import Batch
from jobs.quality.rules import (
    department_column,
    failing,
    flag_column,
    flagged_rules,
    unique_by_values,
)
from jobs.quality.suites import Rule, Suite, check_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)
SAMPLE = 10  # failing values kept per rule in quality.results (identifiers masked)


class QualityError(GovlakeError):
    """A batch broke a fail rule or the quarantine threshold: the table was not updated."""


@dataclass
class Outcome:
    """What validation did: rows to write, counts, per-rule results, and timings."""

    rows: DataFrame
    total: int = 0
    quarantined: int = 0
    rules: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    validated_at: dt.datetime | None = None
    pending: Pending | None = None

    def settle(self) -> None:
        """Wait for the result appends (counted in `seconds`); raises if one failed."""
        if self.pending is None:
            return
        started = time.perf_counter()
        pending, self.pending = self.pending, None
        try:
            pending.wait()
        finally:
            waited = time.perf_counter() - started
            self.seconds += waited
            self.phases["write_results_and_failed_rows"] = round(waited, 3)

    @contextlib.contextmanager
    def settling(self) -> Iterator[DataFrame]:
        """The rows to write; on leaving, the result appends are waited for. When the caller's
        write fails, its error is the one raised."""
        try:
            yield self.rows
        except BaseException:
            with contextlib.suppress(Exception):
                self.settle()
            raise
        self.settle()


def _value(rule: Rule) -> Column:
    from pyspark.sql import functions as F

    return F.concat_ws("|", *[F.col(f"`{c}`").cast("string") for c in rule.columns])


def conditions(df: DataFrame, suite: Suite) -> dict[str, Column]:
    """Per row rule, the condition TRUE on a failing row; uniqueness by its duplicated values
    of a plain type (rules.unique_by_values), so the row pass needs no window."""
    out = {}
    for _, rule in flagged_rules(suite):
        out[rule.name] = unique_by_values(df, rule)
        if out[rule.name] is None:
            out[rule.name] = failing(rule)
    return out


def flag_rows(df: DataFrame, suite: Suite, when: dict[str, Column] | None = None) -> DataFrame:
    """The batch plus, per row rule, the row's value when the row fails it (NULL when it passes).

    Plain columns rather than an array of failures: Spark compiles them into one projection,
    and counting a rule's failures is a count of its column. `when`: conditions() of the batch
    (each rule's own expression when not given)."""
    from pyspark.sql import functions as F

    flags = [
        F.when(_condition(rule, when), _value(rule)).alias(flag_column(i))
        for i, rule in flagged_rules(suite)
    ]
    return df.select("*", *flags)


def _condition(rule: Rule, when: dict[str, Column] | None) -> Column:
    return when[rule.name] if when and rule.name in when else failing(rule)


def _any_flag(suite: Suite, policy: str | None = None) -> Column:
    from pyspark.sql import functions as F

    out = F.lit(False)
    for i, rule in flagged_rules(suite):
        if policy is None or rule.meta.policy == policy:
            out = out | F.col(flag_column(i)).isNotNull()
    return out


def _metrics(suite: Suite) -> list[Column]:
    """Aggregates of the row pass: rows, rows to quarantine, per rule its failing rows and a
    sample of failing values, and what GX's metrics need besides (NULLs per column, the rows a
    compound uniqueness rule does not ignore)."""
    from pyspark.sql import functions as F

    out = [
        F.count(F.lit(1)).alias("total"),
        F.count_if(_any_flag(suite, "quarantine")).alias("quarantined"),
    ]
    for i, _ in flagged_rules(suite):
        flag = F.col(flag_column(i))
        out.append(F.count(flag).alias(f"c{i}"))
        out.append(F.slice(F.array_sort(F.collect_set(flag)), 1, SAMPLE).alias(f"s{i}"))
        rule = suite.expectations[i]
        if rule.type == "expect_compound_columns_to_be_unique":
            present = F.lit(False)
            for column in rule.columns:
                present = present | F.col(f"`{column}`").isNotNull()
            out.append(F.count_if(present).alias(f"p{i}"))
    columns = sorted({r.kwargs["column"] for r in suite.expectations if "column" in r.kwargs})
    out += [F.count_if(F.col(f"`{c}`").isNull()).alias(f"n:{c}") for c in columns]
    return out


def count_failures(flagged: DataFrame, suite: Suite, batch: Batch) -> tuple[dict, DataFrame]:
    """Every rule's failing rows, samples and NULL counts, and the failing rows themselves
    (cached, for quality.failed_rows), in one Spark pass over the batch.

    The counts are observed on the way while only the failing rows are kept: the rules are
    evaluated once per row and nothing but the failures is held in memory."""
    from pyspark.sql import Observation

    observation = Observation(f"quality-{uuid.uuid4().hex}")
    observed = flagged.observe(observation, *_metrics(suite))
    failed = failing_rows(observed, suite, batch).persist()
    failed_rows = failed.count()
    row = observation.get
    ids = [i for i, _ in flagged_rules(suite)]
    names = {i: suite.expectations[i].name for i in ids}
    counts = {
        "total": row["total"],
        "quarantined": row["quarantined"],
        "failed_rows": failed_rows,
        "rules": {names[i]: row[f"c{i}"] for i in ids},
        "samples": {names[i]: row[f"s{i}"] for i in ids},
        "present": {names[i]: row[f"p{i}"] for i in ids if f"p{i}" in row},
        "nulls": {k[2:]: v for k, v in row.items() if k.startswith("n:")},
    }
    return counts, failed


def failing_rows(flagged: DataFrame, suite: Suite, batch: Batch) -> DataFrame:
    """Rows failing any rule: the rules' flags, the row's key, where it came from and, for base
    tables, the department that supplied each failing rule's column."""
    from pyspark.sql import functions as F

    key = F.concat_ws("|", *[F.col(f"`{c}`").cast("string") for c in batch.key_columns])
    source_row = F.concat(F.lit(f"{batch.table}:"), key)
    if batch.source_row is not None:
        source_row = F.coalesce(batch.source_row, source_row)
    departments = []
    if batch.row_department is not None:
        departments = [
            batch.row_department(rule.column).cast("string").alias(department_column(i))
            for i, rule in flagged_rules(suite)
        ]
    flags = [flag_column(i) for i, _ in flagged_rules(suite)]
    return flagged.where(_any_flag(suite)).select(
        *flags, key.alias("_quality_key"), source_row.alias("_quality_ref"), *departments
    )


def validate(
    spark: SparkSession,
    cfg: Settings,
    suite: Suite,
    df: DataFrame,
    batch: Batch,
    defer_writes: bool = False,
) -> Outcome:
    """Validate a batch against its suite and apply the policies; raises QualityError on fail.

    `defer_writes`: the results are appended in the background while the caller writes its
    table, and the caller must call `outcome.settle()` after that write. A batch that fails
    validation always has its results written before QualityError is raised."""
    from jobs.quality.gx_run import validate_with_gx

    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - started - sum(phases.values()), 3)

    check_columns(suite, df.columns)
    validated_at = dt.datetime.now()
    when = conditions(df, suite)
    lap("duplicates_lookup")
    counts, failed = count_failures(flag_rows(df, suite, when), suite, batch)
    lap("row_rules")
    try:
        gx = validate_with_gx(cfg, suite, df, batch.run_id, counts)
    except BaseException:
        failed.unpersist()
        raise
    lap("gx")
    rows = results.rule_results(suite, batch, gx, counts, validated_at)
    outcome = Outcome(df, counts["total"], counts["quarantined"], rows, phases=phases)
    outcome.validated_at = validated_at
    if counts["quarantined"]:
        outcome.rows = without_quarantined(df, suite, when)
    problem = verdict(suite, batch, outcome)
    if batch.unchecked is not None:
        rows = results.widen(rows, suite, counts, batch.unchecked)
    write = Writes(spark, cfg, suite, batch, failed, counts["failed_rows"])
    outcome.pending = write.start(rows, validated_at)
    outcome.seconds = time.perf_counter() - started
    if problem is not None or not defer_writes:
        outcome.settle()
    log.info("validated %s in %.1fs: %s", suite.table, outcome.seconds, phases)
    if problem is not None:
        raise problem
    return outcome


class Writes:
    """The two appends of one validation (quality.results, quality.failed_rows), started in
    background threads: they are separate small Delta commits, mostly fixed overhead, so they
    run beside each other and beside the caller's own table write."""

    def __init__(self, spark, cfg, suite, batch, failed, failing: int) -> None:
        self.spark, self.cfg, self.suite, self.batch = spark, cfg, suite, batch
        self.failed, self.failing = failed, failing

    def start(self, rows: list[dict], validated_at: dt.datetime) -> Pending:
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="quality-results")
        jobs = [
            pool.submit(
                self._labelled, results.write_results, self.spark, self.cfg, self.batch, rows
            )
        ]
        other = self.batch.unchecked
        carried = other is not None and other.failures is not None
        if self.failing or carried:
            jobs.append(pool.submit(self._labelled, self._failed_rows, validated_at))
        else:
            self.failed.unpersist()
        pool.shutdown(wait=False)
        return Pending(jobs)

    def _labelled(self, write: Callable, *args) -> None:
        # Spark UI and job counts show these jobs as the table's validation, not as anonymous.
        self.spark.sparkContext.setJobGroup("quality", f"results of {self.suite.table}")
        write(*args)

    def _failed_rows(self, validated_at: dt.datetime) -> None:
        try:
            results.write_failed_rows(
                self.spark,
                self.cfg,
                self.suite,
                self.batch,
                self.failed,
                validated_at,
                self.failing,
                self.batch.unchecked.failures if self.batch.unchecked else None,
            )
        finally:
            self.failed.unpersist()


@dataclass
class Pending:
    """Result appends still running; `wait` returns when all are committed (or raises)."""

    jobs: list[Future]

    def wait(self) -> None:
        errors = []
        for job in self.jobs:
            try:
                job.result()
            except Exception as exc:  # every append is waited for before the first error
                errors.append(exc)
        if errors:
            raise errors[0]


def without_quarantined(
    df: DataFrame, suite: Suite, when: dict[str, Column] | None = None
) -> DataFrame:
    """The batch without the rows that break a quarantine rule (the rules evaluated again, only
    the quarantine ones, as the batch is written)."""
    from pyspark.sql import functions as F

    quarantine = [(i, r) for i, r in flagged_rules(suite) if r.meta.policy == "quarantine"]
    broken = F.lit(False)
    for _, rule in quarantine:
        broken = broken | F.coalesce(_condition(rule, when), F.lit(False))
    return df.withColumn("_quality_q", broken).where(~F.col("_quality_q")).drop("_quality_q")


def verdict(suite: Suite, batch: Batch, outcome: Outcome) -> QualityError | None:
    """The error to raise when a fail rule failed or too many rows were quarantined."""
    failed = [r for r in outcome.rules if r["policy"] == "fail" and not r["success"]]
    if failed:
        what = "; ".join(
            f"rule {r['rule']} failed on {r['unexpected_count']} of {r['element_count']} rows"
            for r in failed
        )
        return QualityError(
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
        return QualityError(
            f"validation of {suite.table} for {batch.run_date} failed: {outcome.quarantined} of "
            f"{outcome.total} rows ({share:.1%}) broke quarantine rules, over the threshold "
            f"max_quarantined_fraction {limit:.1%} (by rule: {rules}). {suite.table} was not "
            "updated.",
            source=batch.system,
            file=str(suite.file_path),
            fix="a broken batch: ask the department to resend it (quality.failed_rows lists the "
            "rows), or raise meta.threshold in the suite if this share is acceptable.",
        )
    return None
