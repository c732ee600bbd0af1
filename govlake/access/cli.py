"""`govlake access hash-password | show`, `govlake audit reads | refused`, and the governed path
of `govlake sql --as <principal>` (plan, run, audit)."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from govlake.console import console, err_console, iso_date, print_rows
from govlake.errors import GovlakeError
from govlake.owned import AUDIT_QUERIES, SHARE_REQUESTS
from govlake.settings import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.access.control import Principal

CLIENT = "govlake sql --as"


def cmd_hash_password(args: argparse.Namespace) -> int:
    """A password from stdin (or a prompt on a terminal) to its scrypt hash for principals.yaml."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise GovlakeError("empty password.", fix="type a password, or pipe one on stdin.")
    from govlake.access.config import hash_password

    print(hash_password(password))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """What a principal reads: tables, columns, grades, masks and row filters (YAML grants:
    loaded without Spark; `govlake share list` shows the approved requests)."""
    from govlake.access.control import AccessControl
    from govlake.access.policy import shows_unmasked

    ac = AccessControl.load(settings())
    p = ac.principal(args.principal)
    rows = []
    if p.is_admin:
        console.print(f"{p.id} is an administrator: statements run unchanged (audited).")
        return 0
    for table, acc in sorted(ac.readable(p, args.date).items()):
        for name, column in acc.resource.columns.items():
            if name in acc.columns:
                raw = shows_unmasked(column, p.clearance, ac.scheme)
                rows.append(
                    {
                        "table": table,
                        "column": name,
                        "grade": column.grade,
                        "shown": "raw" if raw else f"masked ({column.mask})",
                        "rows": acc.row_filter or "all",
                    }
                )
    title = f"What {p.id} reads (clearance {p.clearance}, roles {', '.join(p.roles) or '-'})"
    print_rows(rows, args.json, title=title)
    return 0


def run_as(args: argparse.Namespace, spark_for: Callable[[set[str]], SparkSession]) -> int:
    """`govlake sql --as P`: the statement goes through the enforcement point, runs as planned,
    and is audited, allowed, refused or failed alike."""
    from govlake.access.control import AccessControl, AuditEvent
    from govlake.access.enforce import Refused

    cfg = settings()
    # With the session, approved requests (share.requests) are grants, as at the endpoint.
    ac = AccessControl.load(cfg, spark=spark_for({SHARE_REQUESTS.name}))
    p = ac.principal(args.as_principal)
    err_console.print(
        f"as {p.id} ({p.kind}), impersonated by the local administrator without its password; "
        "masks, row filters and the audit apply.",
        highlight=False,
    )
    start = time.perf_counter()
    try:
        plan = ac.plan(p, args.query)
    except Refused as refused:
        spark = spark_for({AUDIT_QUERIES.name})
        event = AuditEvent(p, CLIENT, args.query, None, "refused", refused.reason, None, 0)
        ac.audit(spark, event)
        raise GovlakeError(f"refused: {refused.reason}") from None
    spark = spark_for({*plan.tables, AUDIT_QUERIES.name})
    try:
        df = spark.sql(plan.sql)
        rows = [r.asDict(recursive=True) for r in df.limit(args.limit + 1).collect()]
    except Exception as exc:
        _audit(ac, spark, p, args.query, plan, "failed", type(exc).__name__, None, start)
        raise
    _audit(ac, spark, p, args.query, plan, "allowed", None, min(len(rows), args.limit), start)
    if len(rows) > args.limit:
        err_console.print(f"only the first {args.limit} rows are shown.", highlight=False)
    if not rows and not args.json:
        console.print(f"(no rows; columns: {', '.join(df.columns)})")
        return 0
    print_rows(rows[: args.limit], args.json)
    return 0


def _audit(ac, spark, p: Principal, sql, plan, verdict, reason, rows, start) -> None:
    from govlake.access.control import AuditEvent, elapsed_ms

    ac.audit(spark, AuditEvent(p, CLIENT, sql, plan, verdict, reason, rows, elapsed_ms(start)))


# -- govlake audit ---------------------------------------------------------------------------


def _period(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    from govlake.access.control import city_today

    until = args.until or city_today(settings())
    since = args.since or until.replace(day=1)
    return since, until


def _audit_spark():
    from govlake.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg, tables={AUDIT_QUERIES.name})
    if not AUDIT_QUERIES.table.exists(spark, cfg):
        return None
    return spark


def read_rows(spark, tables: list[str], since: dt.date, until: dt.date) -> list[dict]:
    """Who read graded columns of these tables in the period (allowed statements only)."""
    from pyspark.sql import functions as F

    df = (
        spark.table(AUDIT_QUERIES.name)
        .where((F.col("verdict") == "allowed") & F.to_date("at").between(since, until))
        .select("principal", "department", "at", F.explode("reads").alias("r"))
        .where(F.col("r.grade").isNotNull() & F.col("r.table").isin(tables))
        .groupBy(
            "principal",
            "department",
            F.col("r.table").alias("table"),
            F.col("r.column").alias("column"),
            F.col("r.grade").alias("grade"),
            F.coalesce("r.mask", F.lit("raw")).alias("shown"),
        )
        .agg(F.count("*").alias("statements"), F.max("at").alias("last_read"))
        .orderBy("table", "column", "principal")
    )
    return [r.asDict() for r in df.collect()]


def refused_rows(spark, since: dt.date, until: dt.date) -> list[dict]:
    """Principals refused (or whose statement failed) in the period, by reason."""
    from pyspark.sql import functions as F

    df = (
        spark.table(AUDIT_QUERIES.name)
        .where((F.col("verdict") != "allowed") & F.to_date("at").between(since, until))
        .groupBy("principal", "verdict", "reason")
        .agg(F.count("*").alias("statements"), F.max("at").alias("last_at"))
        .orderBy(F.desc("statements"), "principal", "reason")
    )
    return [r.asDict() for r in df.collect()]


def cmd_reads(args: argparse.Namespace) -> int:
    from govlake.access.control import AccessControl

    ac = AccessControl.load(settings())
    tables = sorted({r.table for r in ac.index.get(args.resource, [])})
    if not tables:
        raise GovlakeError(
            f"'{args.resource}' is not a catalog resource.",
            fix="name a resource of conf/catalog/ by its file name or its 资源代码.",
        )
    since, until = _period(args)
    spark = _audit_spark()
    rows = []
    if spark is not None:
        rows = read_rows(spark, tables, since, until)
    title = f"Reads of {args.resource}'s graded columns, {since} to {until}"
    print_rows(rows, args.json, title=title)
    return 0


def cmd_refused(args: argparse.Namespace) -> int:
    since, until = _period(args)
    spark = _audit_spark()
    rows = []
    if spark is not None:
        rows = refused_rows(spark, since, until)
    print_rows(rows, args.json, title=f"Refused and failed statements, {since} to {until}")
    return 0


def register(add) -> None:
    """Add `govlake access hash-password | show` and `govlake audit reads | refused`."""
    access = add("access", lambda args: access.print_help() or 2, "governed access (issue 15)")
    add("access hash-password", cmd_hash_password, "scrypt hash of a password read from stdin")
    show = add("access show", cmd_show, "what a principal reads: columns, grades, masks, rows")
    show.add_argument("principal")
    show.add_argument("--date", type=iso_date, default=None, help="grants valid on (default today)")
    show.add_argument("--json", action="store_true")
    audit = add("audit", lambda args: audit.print_help() or 2, "the audit of governed access")
    reads = add("audit reads", cmd_reads, "who read a resource's graded columns in a period")
    reads.add_argument("resource", help="catalog resource name or code, e.g. population")
    refused = add("audit refused", cmd_refused, "which principals were refused and why")
    for parser in (reads, refused):
        parser.add_argument("--since", type=iso_date, default=None, help="default: 1st of month")
        parser.add_argument("--until", type=iso_date, default=None, help="default: today")
        parser.add_argument("--json", action="store_true")
