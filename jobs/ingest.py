"""Physical copy (物理汇聚) of one department table into its Delta table in the ods layer.

The load is a short pipeline of DataFrame -> DataFrame steps over the raw rows, then one
atomic Delta write that replaces the batch's partition, so a rerun of the same logical date
changes nothing and a load killed half way leaves the table at its previous version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from govlake.errors import GovlakeError, SourceError, summarize_java_error
from govlake.lakehouse import Table, count_without_jvm
from govlake.objectstore import refused_write_fix
from govlake.owned import BALANCED, UNBALANCED
from govlake.settings import Settings, settings
from govlake.sources import SourceSystem, TableSpec
from jobs import ops, readers
from jobs.connections import resolve_http, resolve_jdbc, with_retries

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Step = Callable[["DataFrame"], "DataFrame"]
META_COLUMNS = ("_source_system", "_batch_date", "_run_id", "_ingested_at")
REJECT_COLUMNS = ("_raw_record", "_reject_reason", "_drop_reason")


@dataclass(frozen=True)
class LoadContext:
    """Everything one load needs to know, fixed before any data moves."""

    source: SourceSystem
    spec: TableSpec
    day: dt.date
    run_id: str
    cfg: Settings
    # Validate and write even an unchanged delivery (after the rules changed): `load --force`.
    force: bool = False
    # The table's run records as read when the load started (ops.History).
    past: ops.History = ops.History()

    @property
    def ods_table(self) -> str:
        return self.source.ods_table(self.spec)

    @property
    def table(self) -> Table:
        return Table.parse(self.ods_table)


def with_run_metadata(ctx: LoadContext, ingested_at: dt.datetime) -> Step:
    """Stamp each row with the system, batch date, run id and ingestion time."""

    def step(df: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        return df.select(
            "*",
            F.lit(ctx.source.system).alias("_source_system"),
            F.lit(ctx.day).cast("date").alias("_batch_date"),
            F.lit(ctx.run_id).alias("_run_id"),
            F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        )

    return step


def without_loaded_ties(ctx: LoadContext, spark: SparkSession, low: str | None) -> Step:
    """Drop rows sitting exactly on the previous mark that an earlier batch already loaded."""

    def step(df: DataFrame) -> DataFrame:
        if not (ctx.spec.watermark and low):
            return df
        table = ctx.table.read_if_exists(spark, ctx.cfg)
        if table is None:
            return df
        from pyspark.sql import functions as F

        mark = ctx.spec.ods_column(ctx.spec.watermark)
        keys = [*ctx.spec.ods_primary_key, mark]
        loaded = table.where(
            (F.col("_batch_date") < F.lit(ctx.day)) & (F.col(mark) == F.lit(low))
        ).select(*keys)
        return df.join(loaded, on=keys, how="left_anti")

    return step


def run_steps(df: DataFrame, steps: list[Step]) -> DataFrame:
    for step in steps:
        df = step(df)
    return df


def read_source(
    spark: SparkSession, ctx: LoadContext, run: ops.LoadRun, committed
) -> tuple[DataFrame, readers.FileInput | None, int | None]:
    """The raw rows of this batch: the day's file, or the database rows in the watermark window;
    the file, which must still be as found once its rows are read; and the rows the source
    holds when it is known before Spark reads (a file's, decoded in Python; a database's
    count: the batch has no more)."""
    if ctx.spec.file:
        item = readers.resolve_file(ctx.source, ctx.spec, ctx.day, ctx.cfg)
        run.location = str(item.path)
        reader = {
            "csv": readers.read_csv,
            "json": readers.read_json,
            "xlsx": readers.read_xlsx,
            "xls": readers.read_xls,
        }
        frame, rows = reader[ctx.spec.format](spark, item)
        return frame, item, rows
    if ctx.spec.is_api:
        return read_interface(spark, ctx, run, committed), None, None
    target = resolve_jdbc(ctx.source, ctx.cfg)
    run.location = f"{target.display} {ctx.spec.dbtable}"
    stats = with_retries(
        lambda: readers.probe(spark, target, ctx.spec, ctx.cfg),
        f"table {ctx.spec.dbtable} at {target.display}",
        ctx.source.system,
        ctx.cfg,
    ).asDict()
    window = plan_window(spark, ctx, committed, stats.get("high"))
    run.watermark_low, run.watermark_high = window.low, window.high
    if ctx.spec.watermark:
        # Rows without a mark are never selected once a mark exists: counted, and reported to
        # the department as a problem (jobs.feedback.problems.from_null_watermarks).
        run.rows_null_watermark = 0 if window.reads_null_marks() else stats["nulls"]
    bounds = stats if "lo" in stats else None
    frame = readers.read_database(
        spark, target, ctx.spec, ctx.cfg, window, bounds, system=ctx.source.system
    )
    return frame, None, int(stats["n"])


def read_interface(spark: SparkSession, ctx: LoadContext, run: ops.LoadRun, committed):
    """The records of an HTTP JSON interface updated since the last load's high mark (a rerun
    of the batch asks again from its own low mark and keeps its own high one)."""
    from jobs.api import read_api

    target = resolve_http(ctx.source)
    run.location = target.url(ctx.spec.endpoint)
    window = plan_window(spark, ctx, committed, None)
    frame, read = read_api(spark, ctx.source, ctx.spec, target, ctx.cfg, window)
    run.watermark_low, run.watermark_high = window.low, read.high
    if ctx.spec.watermark:
        run.rows_null_watermark = read.null_marks
    return frame


def plan_window(spark: SparkSession, ctx: LoadContext, committed, high_now) -> readers.Increment:
    """Reuse the committed window of this batch on a rerun; else continue from the last one."""
    if not ctx.spec.watermark:
        return readers.Increment(None, None)
    if committed is not None:
        return readers.Increment(committed.watermark_low, committed.watermark_high)
    earlier = ctx.past.last_committed(ctx.day, before=True)
    low = earlier.watermark_high if earlier is not None else None
    high = None if high_now is None else str(high_now)
    if low is not None and high is not None and _precedes(high, low):
        raise SourceError(
            f"the watermark {ctx.spec.watermark} of {ctx.spec.dbtable} moved backwards: its "
            f"newest value is {high}, older than {low} already loaded on "
            f"{earlier.batch_date}; nothing was read and {ctx.ods_table} is unchanged.",
            source=ctx.source.system,
            fix=f"ask {ctx.source.department} whether the database was restored from an older "
            "copy or its clock changed; once settled, reload the table in full (a first load) "
            "so rows changed since that copy are not skipped.",
        )
    return readers.Increment(low, high)


def _precedes(a: str, b: str) -> bool:
    """a < b, as numbers when both are numbers (9 < 10), else as the text of a timestamp."""
    try:
        return float(a) < float(b)
    except ValueError:
        return a < b


def schema_change(spark: SparkSession, ctx: LoadContext, staged: DataFrame) -> str | None:
    """Columns the department added or dropped since the table's last version (a rename is
    both); under on_schema_change: fail the load stops before anything is written."""
    columns = ctx.table.fields(spark, ctx.cfg)
    if not columns:
        return None
    ignore = {*REJECT_COLUMNS}
    current = set(columns)
    incoming = set(staged.columns) - ignore
    added, dropped = sorted(incoming - current), sorted(current - incoming)
    if not (added or dropped):
        return None
    change = f"added {added or '[]'}, dropped {dropped or '[]'}"
    if ctx.spec.on_schema_change == "fail":
        raise SourceError(
            f"the columns of table '{ctx.spec.name}' changed: {change}; the load stopped and "
            f"{ctx.ods_table} is unchanged.",
            source=ctx.source.system,
            fix=f"agree the new layout with {ctx.source.department}, then map it in 'columns' or "
            f"set on_schema_change: evolve in {ctx.source.file_path}.",
        )
    return change


def batch_stats(df: DataFrame, run: ops.LoadRun, is_file: bool) -> None:
    """Rows read, rejected and dropped and a content fingerprint, in one pass over the batch."""
    from pyspark.sql import functions as F

    content = [c for c in df.columns if c not in (*META_COLUMNS, "_reject_reason", "_drop_reason")]
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.count("_reject_reason").alias("rejected"),
        F.count("_drop_reason").alias("dropped"),
        F.count_if(F.col("_drop_reason").startswith("title")).alias("titles"),
        F.coalesce(F.sum(F.xxhash64(*content).cast("decimal(38,0)")), F.lit(0)).alias("fp"),
    ).first()
    run.rows_read, run.rows_rejected, run.rows_dropped = row["n"], row["rejected"], row["dropped"]
    run.fingerprint = f"{row['n']}:{row['fp']}"
    run.notes = delivery_notes(row["n"], row["dropped"], row["titles"]) if is_file else None


def delivery_notes(read: int, dropped: int, titles: int) -> str | None:
    """What the run record says about a file that is empty or carries rows that are not data."""
    notes = []
    if read - dropped == 0:
        notes.append("empty delivery: no data rows (a header only, or nothing but dropped rows)")
    if titles:
        notes.append(f"dropped {titles} title row(s) above the header")
    if dropped - titles:
        notes.append(f"dropped {dropped - titles} row(s) listed in drop_rows (totals)")
    return "; ".join(notes) + "; see ops.dropped_rows" if dropped else "; ".join(notes) or None


def write_batch(
    spark: SparkSession, ctx: LoadContext, staged: DataFrame, run: ops.LoadRun, committed
):
    """Validate, then write the batch; returns the Delta version of its commit (a later writer's
    commit may follow it before this returns). The validation's results are
    appended while the batch is written, and committed before this returns."""
    from pyspark.sql import functions as F

    from govlake.spark import evaluating
    from jobs import quality

    data = F.col("_reject_reason").isNull() & F.col("_drop_reason").isNull()
    rows = staged.where(data).drop(*REJECT_COLUMNS)
    with evaluating(spark, ctx.cfg.compiles(run.rows_read)):
        checked = quality.check_load(spark, ctx, rows, run)  # may raise: nothing is written
        with checked.settling() as valid_rows:
            return write_rows(spark, ctx, staged, valid_rows, run, committed)


def write_rows(spark: SparkSession, ctx: LoadContext, staged, rows, run, committed) -> int:
    """The batch's rows in one atomic replace of the batch's partition, and beside it (other
    tables, so no conflict) its rejects and dropped rows; returns the batch's version once all
    are committed."""

    had = committed.asDict() if committed is not None else {}
    aside = []
    if run.rows_rejected or had.get("rows_rejected"):
        rejects = _set_aside(staged, ctx, "_reject_reason", "rejected_at")
        aside.append(lambda: ops.replace_rejects(spark, ctx.cfg, rejects, run))
    if run.rows_dropped or had.get("rows_dropped"):
        dropped = _set_aside(staged, ctx, "_drop_reason", "dropped_at")
        aside.append(lambda: ops.replace_dropped(spark, ctx.cfg, dropped, run))
    with running_beside(aside):
        return ctx.table.replace(
            rows,
            {"_batch_date": ctx.day},
            small=ctx.cfg.is_small(run.rows_read),
            partition_by=("_batch_date",),
            # Library builds read what changed since their last build from the change data feed.
            properties={"delta.enableChangeDataFeed": "true"},
            options={"mergeSchema": "true"},
            cfg=ctx.cfg,
        )


@contextmanager
def running_beside(writes: list[Callable[[], None]]) -> Iterator[None]:
    """Run `writes` in threads while the body runs, and wait for every one on leaving.

    Each Delta write of a small batch is mostly fixed latency (planning, the log, the commit),
    not work for the two cores, so the set-aside tables' replaces overlap the batch's own. The
    body's error is raised first; else the first write's error."""
    if not writes:
        yield
        return
    pool = ThreadPoolExecutor(max_workers=len(writes), thread_name_prefix="set-aside")
    futures = [pool.submit(write) for write in writes]
    pool.shutdown(wait=False)
    try:
        yield
    except BaseException:
        wait(futures)
        raise
    wait(futures)
    for future in futures:
        future.result()  # raises the first write's error


def _set_aside(staged: DataFrame, ctx: LoadContext, reason: str, stamped: str) -> DataFrame:
    """The staged rows with a reject or drop reason, as rows of ops.rejected/dropped_rows."""
    from pyspark.sql import functions as F

    from govlake.masking import mask_column

    return staged.where(F.col(reason).isNotNull()).select(
        F.col("_run_id").alias("run_id"),
        F.col("_source_system").alias("source_system"),
        F.lit(ctx.spec.name).alias("table_name"),
        F.col("_batch_date").alias("batch_date"),
        F.col("_source_file").alias("source_file"),
        F.col("_source_row").alias("source_row"),
        # Outside the graded ods tables: identifiers masked (the file and line find the row).
        mask_column(F.col("_raw_record")).alias("raw_record"),
        mask_column(F.col(reason)).alias("reason"),
        F.col("_ingested_at").alias(stamped),
    )


def rows_in_batch(spark: SparkSession, ctx: LoadContext) -> int:
    """The batch's rows in the ods table now (0 before its first write), counted from the
    table's files by delta-rs, apart from the count of what was read."""
    return count_without_jvm(ctx.table, {"_batch_date": ctx.day}, ctx.cfg)


def expected_rows(ctx: LoadContext, committed, source_rows: int | None) -> int | None:
    """About how many rows the batch holds before it is read: the least of what this batch
    read when last committed (else what the previous batch read) and what the source holds;
    None when neither is known (an interface's first load)."""
    last = committed or ctx.past.last_committed(ctx.day, before=True)
    known = [n for n in (None if last is None else last.rows_read, source_rows) if n is not None]
    return min(known, default=None)


def read_batch(spark: SparkSession, ctx: LoadContext, run: ops.LoadRun, committed):
    """The batch's rows staged (persisted) and counted, compiled or not by its expected size
    (its real size is known only once counted); and the file it came from, if any."""
    from govlake.spark import evaluating

    raw, item, source_rows = read_source(spark, ctx, run, committed)
    with evaluating(spark, ctx.cfg.compiles(expected_rows(ctx, committed, source_rows))):
        steps = [
            without_loaded_ties(ctx, spark, run.watermark_low),
            with_run_metadata(ctx, run.started_at),
        ]
        staged = run_steps(raw, steps).persist()
        try:
            run.schema_change = schema_change(spark, ctx, staged)
            batch_stats(staged, run, is_file=bool(ctx.spec.file))
        except BaseException:
            staged.unpersist()
            raise
    return staged, item


def _load(spark: SparkSession, ctx: LoadContext, run: ops.LoadRun, recovering: bool) -> None:
    committed = ctx.past.last_committed(ctx.day, before=False)
    staged, item = read_batch(spark, ctx, run, committed)
    try:
        if item is not None:
            readers.check_settled(item)  # the rows are read (persisted): is the file still whole?
        same = committed is not None and committed.fingerprint == run.fingerprint
        altered = rewrite_reason(spark, ctx, committed, recovering) if same else None
        written = None
        if same and not altered:
            run.status, run.delta_version = "unchanged", committed.delta_version
            run.rows_quarantined = committed.asDict().get("rows_quarantined")  # as first loaded
            # altered_outside has just counted the batch in the table: it holds these rows.
            written = committed.rows_written
        else:
            version = write_batch(spark, ctx, staged, run, committed)
            run.status, run.delta_version = "success", version
            run.notes = "; ".join(n for n in (altered, run.notes) if n) or None
    finally:
        staged.unpersist()
    ctx.table.register(spark, ctx.cfg)
    check_balance(spark, ctx, run, written)


def rewrite_reason(spark: SparkSession, ctx: LoadContext, committed, recovering: bool):
    """Why a delivery unchanged since its last committed load is written again, or None."""
    if ctx.force:
        return "forced: validated and written again on request (load --force)"
    if recovering:
        # The abandoned run may have replaced the batch with another delivery and died before
        # recording it: the batch's row count cannot tell, so write the delivery again.
        return "rewritten: an abandoned run of this batch may have replaced it unrecorded"
    return altered_outside(spark, ctx, committed)


def altered_outside(spark: SparkSession, ctx: LoadContext, committed) -> str | None:
    """Why an unchanged delivery must still be written: its batch in ods no longer holds the
    rows its load wrote (a DELETE or INSERT outside the loader). Rewriting the partition repairs
    it; without this every rerun would find the same fingerprint, skip, and fail the balance."""
    now = rows_in_batch(spark, ctx)
    if now == committed.rows_written:
        return None
    return (
        f"repaired: the batch held {now} rows, not the {committed.rows_written} its load "
        f"{committed.run_id} wrote (changed outside the loader); rewritten from the delivery"
    )


def check_balance(
    spark: SparkSession, ctx: LoadContext, run: ops.LoadRun, written: int | None = None
) -> None:
    """Count what the tables now hold for the batch, each side on its own: read (counted from
    the source) must equal written + rejected + quarantined + dropped (counted in their tables).
    `written` is the batch's count in the table when the caller has just counted it."""
    run.rows_written = rows_in_batch(spark, ctx) if written is None else written
    if run.rows_rejected:
        run.rows_rejected = ops.count_rejects(spark, ctx.cfg, run)
    if run.rows_dropped:
        run.rows_dropped = ops.count_dropped(spark, ctx.cfg, run)
    quarantined = run.rows_quarantined or 0
    held = run.rows_written + run.rows_rejected + quarantined + (run.rows_dropped or 0)
    run.balanced = run.rows_read == held
    run.balance = BALANCED if run.balanced else UNBALANCED
    if not run.balanced:
        raise GovlakeError(
            f"load of {ctx.ods_table} for {ctx.day} does not balance: read {run.rows_read}, "
            f"written {run.rows_written}, rejected {run.rows_rejected}, quarantined {quarantined}, "
            f"dropped {run.rows_dropped or 0}.",
            source=ctx.source.system,
            fix="look for another process writing the same batch, then rerun the load.",
        )


def finish(spark: SparkSession, cfg: Settings, run: ops.LoadRun, recovering: str | None) -> None:
    """Append the run's outcome row (same run_id as its running row)."""
    run.finished_at = dt.datetime.now()
    run.notes = "; ".join(n for n in (recovering, run.notes) if n) or None
    ops.record_run(spark, cfg, run)


def load_table(
    system: str,
    table: str,
    logical_date: dt.date,
    run_id: str | None = None,
    spark: SparkSession | None = None,
    force: bool = False,
) -> dict:
    """Copy one configured source table for one logical date into ods; returns its counts.
    `force` validates and writes a delivery even when it is unchanged since its last load."""
    from govlake.spark import get_spark

    cfg = settings()
    source, spec, run = ops.begin_run(system, table, logical_date, run_id, "physical")
    spark = spark or get_spark(cfg)
    past = ops.history(spark, cfg, run.ods_table)
    ctx = LoadContext(source, spec, logical_date, run.run_id, cfg, force, past)
    # Recorded as running first: a load killed from here on leaves that row, and the next run
    # of this table and night says it recovers it (issue 20 item 12).
    recovering = ops.start_run(spark, cfg, run, past)
    try:
        _load(spark, ctx, run, recovering is not None)
    except Exception as exc:
        run.status = "failed"
        run.error = str(exc) if isinstance(exc, GovlakeError) else summarize_java_error(exc)
        finish(spark, cfg, run, recovering)
        if isinstance(exc, GovlakeError):
            raise
        location = Table.parse(ctx.ods_table).location(cfg)
        raise SourceError(
            f"load of {ctx.ods_table} failed: {run.error}",
            source=system,
            fix=refused_write_fix(cfg, location, run.error),
        ) from exc
    finish(spark, cfg, run, recovering)
    return {
        "ods_table": ctx.ods_table,
        "status": run.status,
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "rows_rejected": run.rows_rejected,
        "rows_quarantined": run.rows_quarantined,
        "rows_dropped": run.rows_dropped,
        "notes": run.notes,
        "balanced": run.balanced,
        "delta_version": run.delta_version,
        "watermark_high": run.watermark_high,
        "rows_null_watermark": run.rows_null_watermark,
        "schema_change": run.schema_change,
    }
