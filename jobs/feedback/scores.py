"""Quality scores (质量评分) per table and per department per run, and their trend.

Every dimension is a share of good units, 0-100: score = 100 * (1 - bad / checked).
- completeness, validity, uniqueness: the night's quality.results of that dimension,
  bad = unexpected_count, checked = element_count, summed over the table's rules.
  Validity also counts the load: bad = rows rejected as unparseable (ops.load_runs
  rows_rejected), checked = rows read less rows dropped (title and total rows).
- consistency (多源比对): bad = statements of the department that lost against the
  authoritative department or against what the identity number encodes (base.conflicts),
  checked = rows of that input in the library's standardized layer after the night's build
  (ops.library_runs current_standardized), plus any
  quality.results rules of the consistency dimension.
- timeliness: age = run date - batch date of the table's latest committed load; cycle = days
  between two firings of the source's cron schedule (at least 1); missed = floor(age / cycle)
  expected deliveries that did not arrive; score = max(0, 100 - 25 * missed).
- overall: the mean of the dimensions that could be measured (a dimension with nothing checked
  is NULL, not 100).
A department's score pools its tables' counts (bad and checked summed), so a big table weighs
more than a small one; its timeliness is the mean of its tables'.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.owned import LOAD_RUNS, RESULTS, SCORES
from govlake.settings import Settings
from jobs.feedback.common import (
    COMMITTED,
    CONFLICTS,
    LIBRARY_RUNS,
    night_predicate,
    night_rows,
    qualified_table,
    split_ods,
    write_slice,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness", "timeliness")
MISSED_DELIVERY_PENALTY = 25


def cycle_days(schedule: str) -> int:
    """Days between two consecutive firings of a cron schedule (daily 1, weekly 7, ...)."""
    from croniter import croniter

    it = croniter(schedule, dt.datetime(2024, 1, 1))
    first, second = it.get_next(dt.datetime), it.get_next(dt.datetime)
    return max(1, round((second - first).total_seconds() / 86400))


def timeliness_score(age_days: int, cycle: int) -> float:
    """100 while the newest batch is within one cycle, minus 25 per missed delivery."""
    missed = max(0, age_days) // cycle
    return float(max(0, 100 - MISSED_DELIVERY_PENALTY * missed))


def results_measures(spark: SparkSession, cfg: Settings, run_date: dt.date) -> list[dict]:
    """Counts from the night's GX results (quality.results), per table and dimension."""
    from pyspark.sql import functions as F

    results = RESULTS.table.read_if_exists(spark, cfg)
    if results is None:
        return []
    rows = (
        night_rows(results, run_date)
        .where(F.col("dimension").isin(*DIMENSIONS[:4]))
        .withColumn("table", qualified_table())
        .groupBy("table", "department", "dimension")
        .agg(
            F.sum("unexpected_count").cast("double").alias("bad"),
            F.sum("element_count").cast("double").alias("checked"),
        )
        .collect()
    )
    return [r.asDict() for r in rows]


def latest_loads(spark: SparkSession, cfg: Settings, run_date: dt.date) -> DataFrame | None:
    """Per ods table, its newest committed load on or before the run date."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = LOAD_RUNS.table.read_if_exists(spark, cfg)
    if runs is None:
        return None
    newest = Window.partitionBy("ods_table").orderBy(
        F.col("batch_date").desc(), F.col("finished_at").desc()
    )
    return (
        runs.where(F.col("status").isin(*COMMITTED) & (F.col("batch_date") <= F.lit(run_date)))
        .withColumn("_n", F.row_number().over(newest))
        .where("_n = 1")
    )


def load_measures(spark: SparkSession, cfg: Settings, run_date: dt.date) -> list[dict]:
    """Validity from rows rejected tonight, timeliness from the age of every table's data."""
    from govlake.sources import load_sources

    loads = latest_loads(spark, cfg, run_date)
    if loads is None:
        return []
    cycles = {
        source.ods_table(spec): cycle_days(source.schedule)
        for source in load_sources()
        for spec in source.tables
    }
    out = []
    for row in loads.collect():
        table = row["ods_table"]
        # Title and total rows dropped on purpose are not rows to validate.
        checked = (row["rows_read"] or 0) - (row.asDict().get("rows_dropped") or 0)
        if row["batch_date"] == run_date and checked > 0:
            rejected = row["rows_rejected"] or 0
            out.append(measure(table, row["department"], "validity", rejected, checked))
        age = (run_date - row["batch_date"]).days
        score = timeliness_score(age, cycles.get(table, 1))
        # As a share of one unit, so a department's timeliness is the mean of its tables'.
        out.append(measure(table, row["department"], "timeliness", 1 - score / 100, 1))
    return out


def measure(table: str, department: str | None, dimension: str, bad, checked) -> dict:
    return {
        "table": table,
        "department": department,
        "dimension": dimension,
        "bad": float(bad),
        "checked": float(checked),
    }


def consistency_measures(spark: SparkSession, cfg: Settings, run_date: dt.date) -> list[dict]:
    """Statements that lost against the authority, per input table, over rows standardized."""
    from pyspark.sql import functions as F

    from jobs.feedback.problems import input_tables, lost_conflicts

    runs = LIBRARY_RUNS.read_if_exists(spark, cfg)
    conflicts = CONFLICTS.read_if_exists(spark, cfg)
    if runs is None:
        return []
    tables = input_tables()
    # An incremental build standardizes only the changed keys' rows; the input's whole
    # standardized layer after the build is what the conflicts are counted against.
    standardized = (
        F.coalesce("current_standardized", "standardized")
        if "current_standardized" in runs.columns
        else F.col("standardized")
    )
    newest = (
        runs.where(F.col("batch_date") == F.lit(run_date))
        .groupBy("library", "input", "department")
        .agg(
            # The night's last build of the input (a rerun replaces the earlier counts).
            F.max_by(standardized, F.coalesce("finished_at", F.lit(0).cast("timestamp"))).alias(
                "standardized"
            )
        )
        .collect()
    )
    lost: dict[tuple[str, str], int] = {}
    if conflicts is not None:
        counted = (
            lost_conflicts(conflicts)
            .groupBy("library", "input")
            .agg(F.countDistinct("key").alias("n"))
            .collect()
        )
        lost = {(r["library"], r["input"]): r["n"] for r in counted}
    out = []
    for r in newest:
        table = tables.get((r["library"], r["input"]))
        if table and r["standardized"]:
            bad = lost.get((r["library"], r["input"]), 0)
            out.append(measure(table, r["department"], "consistency", bad, r["standardized"]))
    return out


def score_rows(measures: list[dict], key: str) -> dict[str, dict[str, float | None]]:
    """Pool the measures by table or department into one score per dimension, plus overall."""
    pooled: dict[str, dict[str, list[float]]] = {}
    for m in measures:
        name = m[key]
        if name is None:
            continue
        bad_checked = pooled.setdefault(name, {}).setdefault(m["dimension"], [0.0, 0.0])
        bad_checked[0] += m["bad"]
        bad_checked[1] += m["checked"]
    scores = {}
    for name, dims in pooled.items():
        row = {
            d: round(100 * (1 - dims[d][0] / dims[d][1]), 2) if dims.get(d, [0, 0])[1] else None
            for d in DIMENSIONS
        }
        measured = [v for v in row.values() if v is not None]
        row["overall"] = round(sum(measured) / len(measured), 2) if measured else None
        scores[name] = row
    return scores


def compute_scores(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str):
    """Score rows (dicts of the quality.scores columns) for every table and department."""
    measures = (
        results_measures(spark, cfg, run_date)
        + load_measures(spark, cfg, run_date)
        + consistency_measures(spark, cfg, run_date)
    )
    department_of = {m["table"]: m["department"] for m in measures if m["department"]}
    for m in measures:
        m["department"] = m["department"] or department_of.get(m["table"])
    base = {"run_id": run_id, "run_date": run_date}
    rows = [
        {**base, "scope": "table", "table": t, "department": department_of.get(t), **s}
        for t, s in sorted(score_rows(measures, "table").items())
    ]
    rows += [
        {**base, "scope": "department", "table": None, "department": d, **s}
        for d, s in sorted(score_rows(measures, "department").items())
    ]
    return rows


def write_scores(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str) -> int:
    """Compute and write the night's scores into quality.scores. A rerun of the night, under
    any run id, replaces the night's rows, so a trend never counts a night twice."""
    rows = compute_scores(spark, cfg, run_date, run_id)
    df = spark.createDataFrame(rows, SCORES.schema)
    write_slice(df, cfg, SCORES, night_predicate(run_date))
    return len(rows)


def score_trend(
    spark: SparkSession, cfg: Settings, department: str | None = None, runs: int = 5
) -> list[dict]:
    """Per table and department: the latest run's scores, the change against the previous run
    and the overall score of the last `runs` runs, oldest first."""
    from pyspark.sql import functions as F

    scores = SCORES.table.read_if_exists(spark, cfg)
    if scores is None:
        return []
    if department:
        scores = scores.where(F.col("department") == department)
    history: dict[tuple, list[dict]] = {}
    for r in scores.orderBy("run_date", "run_id").collect():
        name = r["table"] if r["scope"] == "table" else r["department"]
        rows = history.setdefault((r["scope"], name), [])
        if rows and rows[-1]["run_date"] == r["run_date"]:
            rows.pop()  # a night scored twice before reruns replaced it: the later run counts
        rows.append(r.asDict())
    out = []
    for (scope, name), rows in sorted(
        history.items(), key=lambda kv: (kv[0][0] != "department", kv[0][1] or "")
    ):
        latest, previous = rows[-1], rows[-2] if len(rows) > 1 else None
        row = {"scope": scope, "name": short_name(name), "run_date": latest["run_date"]}
        row.update({d: latest[d] for d in (*DIMENSIONS, "overall")})
        change = None
        if previous and latest["overall"] is not None and previous["overall"] is not None:
            change = round(latest["overall"] - previous["overall"], 2)
        row["change"] = change
        row["trend"] = " ".join(
            "-" if x["overall"] is None else f"{x['overall']:.0f}" for x in rows[-runs:]
        )
        out.append(row)
    return out


def short_name(table: str | None) -> str | None:
    """system.table for an ods table (how departments know it), the full name otherwise."""
    if table is None:
        return None
    system, name = split_ods(table)
    return f"{system}.{name}" if system else table
