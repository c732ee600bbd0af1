"""What the portal's weekly pages count (统计分析): requests and their answers, each source's
delivery against its schedule, quality scores over the nights, problems open and fixed, and
the facts departments collect twice.

Each reader returns what the site model holds, or None (with a note) when its table is not
written yet; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from croniter import croniter

from govlake.owned import PROBLEMS, SHARE_DELIVERIES, SHARE_REQUESTS
from govlake.site.model import (
    Delivery,
    DuplicateCollection,
    Problems,
    SandboxRelease,
    ShareRequest,
    SourceFreshness,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings
    from govlake.sources import SourceSystem

PORTAL_NIGHTS = 14  # the quality trend shows this many nights per department
COMMITTED = ("success", "unchanged")  # a batch that arrived (jobs.ops.COMMITTED)
REQUEST_FIELDS = tuple(ShareRequest.__dataclass_fields__)


def share_requests(spark: SparkSession, cfg: Settings, notes: dict, today: dt.date):
    """Every request as `govlake share list` derives it (expired, overdue, on time)."""
    from govlake.share.workflow import Share

    if SHARE_REQUESTS.table.read_if_exists(spark, cfg) is None:
        notes["requests"] = "share.requests 尚无记录: nobody has requested a resource yet."
        return None
    rows = Share(spark, cfg, None).listing(today)
    notes["requests"] = f"share.requests as of {today} (state, working days, on time)."
    found = [ShareRequest(**{k: r[k] for k in REQUEST_FIELDS}) for r in rows]
    return sorted(found, key=lambda r: (r.requested_on, r.request_id), reverse=True)


def expected_batch(schedule: str, timezone: str, now: dt.datetime) -> dt.date:
    """The batch the schedule should have loaded by `now`: a night's run loads the day before
    its run day (conf/sources/README.md), so the last run that started before now, minus a day."""
    local = now.astimezone(ZoneInfo(timezone))
    last_run = croniter(schedule, local).get_prev(dt.datetime)
    return last_run.date() - dt.timedelta(days=1)


def source_freshness(
    spark: SparkSession, cfg: Settings, sources: list[SourceSystem], now: dt.datetime
) -> list[SourceFreshness]:
    """Each physically copied ods table: the batch its schedule expects and the newest that
    arrived (logical sources are read in place: nothing is delivered)."""
    newest = _newest_batches(spark, cfg)
    found = []
    for source in sources:
        if source.mode != "physical":
            continue
        expected = expected_batch(source.schedule, source.timezone, now)
        for spec in source.tables:
            table = source.ods_table(spec)
            latest = newest.get(table)
            status = "never" if latest is None else "on_time" if latest >= expected else "late"
            found.append(
                SourceFreshness(table, source.department, source.schedule, expected, latest, status)
            )
    return found


def _newest_batches(spark: SparkSession, cfg: Settings) -> dict[str, dt.date]:
    from pyspark.sql import functions as F

    from govlake.owned import LOAD_RUNS

    runs = LOAD_RUNS.table.read_if_exists(spark, cfg)
    if runs is None:
        return {}
    newest = (
        runs.where(F.col("status").isin(*COMMITTED))
        .groupBy("ods_table")
        .agg(F.max("batch_date").alias("batch"))
    )
    return {r["ods_table"]: r["batch"] for r in newest.collect()}


def score_history(spark: SparkSession, cfg: Settings) -> dict[str, list[tuple[dt.date, float]]]:
    """Department -> its overall quality score per night, the last PORTAL_NIGHTS nights, oldest
    first (a rerun of a night counts once: its latest run)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from govlake.owned import SCORES

    df = SCORES.table.read_if_exists(spark, cfg)
    if df is None:
        return {}
    latest_run = Window.partitionBy("department", "run_date").orderBy(F.col("run_id").desc())
    nights = Window.partitionBy("department").orderBy(F.col("run_date").desc())
    rows = (
        df.where((F.col("scope") == "department") & F.col("overall").isNotNull())
        .withColumn("_run", F.row_number().over(latest_run))
        .where("_run = 1")
        .withColumn("_night", F.row_number().over(nights))
        .where(F.col("_night") <= PORTAL_NIGHTS)
        .select("department", "run_date", "overall")
        .collect()
    )
    history: dict[str, list[tuple[dt.date, float]]] = {}
    for r in sorted(rows, key=lambda r: (r["department"], r["run_date"])):
        history.setdefault(r["department"], []).append((r["run_date"], float(r["overall"])))
    return history


def problems(spark: SparkSession, cfg: Settings, notes: dict) -> dict[str, Problems] | None:
    """Problems per department from quality.problems: open, fixed, median days to a fix."""
    from pyspark.sql import functions as F

    df = PROBLEMS.table.read_if_exists(spark, cfg)
    if df is None:
        notes["problems"] = "quality.problems 尚无记录: no problem has been sent back yet."
        return None
    counted = df.groupBy("department").agg(
        F.count_if(F.col("status") == "open").alias("open"),
        F.count_if(F.col("status") == "fixed").alias("fixed"),
        F.median("days_to_fix").alias("median_days_to_fix"),
    )
    notes["problems"] = "quality.problems (opened, seen again and fixed night by night)."
    return {r["department"]: Problems(**r.asDict()) for r in counted.collect()}


def deliveries(spark: SparkSession, cfg: Settings, notes: dict) -> list[Delivery] | None:
    """The latest delivery of each application warehouse table (share.deliveries)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = SHARE_DELIVERIES.table.read_if_exists(spark, cfg)
    if df is None:
        notes["deliveries"] = "share.deliveries 尚无记录: no application warehouse served yet."
        return None
    newest = Window.partitionBy("warehouse_table").orderBy(
        F.col("night").desc(), F.col("recorded_at").desc()
    )
    fields = list(Delivery.__dataclass_fields__)
    rows = df.withColumn("_n", F.row_number().over(newest)).where("_n = 1").select(*fields)
    notes["deliveries"] = "share.deliveries: the latest delivery of each warehouse table."
    found = [Delivery(**r.asDict()) for r in rows.collect()]
    return sorted(found, key=lambda d: (d.app, d.warehouse_table))


def sandbox_releases(spark: SparkSession, cfg: Settings, notes: dict):
    """Every sandbox release, newest first, its statement masked (govlake.masking.mask_text)."""
    from govlake.masking import mask_text
    from govlake.owned import SANDBOX_RELEASES

    df = SANDBOX_RELEASES.table.read_if_exists(spark, cfg)
    if df is None:
        notes["releases"] = "share.sandbox_releases 尚无记录: nothing released from a sandbox yet."
        return None
    fields = list(SandboxRelease.__dataclass_fields__)
    rows = [r.asDict() for r in df.select(*fields).collect()]
    notes["releases"] = "share.sandbox_releases (statements with identifiers masked)."
    found = [SandboxRelease(**{**r, "statement": mask_text(r["statement"])}) for r in rows]
    return sorted(found, key=lambda r: r.at, reverse=True)


def sandbox_budgets(spark: SparkSession, cfg: Settings) -> dict[str, tuple[float, float]]:
    """Per configured sandbox project: ε spent (share.sandbox_budgets) and its budget."""
    from govlake.owned import SANDBOX_BUDGETS
    from govlake.sandbox.config import load_projects

    df = SANDBOX_BUDGETS.table.read_if_exists(spark, cfg)
    spent = {} if df is None else {r["project"]: r["epsilon_spent"] for r in df.collect()}
    return {
        name: (float(spent.get(name) or 0.0), float(project.epsilon))
        for name, project in sorted(load_projects().items())
    }


def duplicates(spark: SparkSession, cfg: Settings, notes: dict):
    """The newest night's duplicate collection found from the data, most shared keys first."""
    from pyspark.sql import functions as F

    from govlake.owned import DISCOVERED_DUPLICATES

    df = DISCOVERED_DUPLICATES.table.read_if_exists(spark, cfg)
    if df is None:
        notes["duplicates"] = "quality.discovered_duplicates 尚未生成: not looked for yet."
        return None
    fields = list(DuplicateCollection.__dataclass_fields__)
    newest = df.where(F.col("run_date") == df.agg(F.max("run_date")).first()[0])
    notes["duplicates"] = "quality.discovered_duplicates: the newest night (names and rates)."
    found = [DuplicateCollection(**r.asDict()) for r in newest.select(*fields).collect()]
    return sorted(found, key=lambda d: (d.department_a, d.department_b, -d.keys_overlap))
