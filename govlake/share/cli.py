"""`govlake share request | approve | reject | revoke | list`: the request workflow from the
command line, acting `--as` a principal (local use: the administrator impersonates)."""

from __future__ import annotations

import argparse

from govlake.console import console, iso_date, print_rows
from govlake.owned import SHARE_DECISIONS, SHARE_REQUESTS
from govlake.settings import settings


def _share(spark_needed: bool = True):
    from govlake.access.control import AccessControl
    from govlake.share.workflow import Share
    from govlake.spark import get_spark

    cfg = settings()
    # A listing reads by delta-rs; decisions write with Spark.
    tables = {SHARE_REQUESTS.name, SHARE_DECISIONS.name}
    spark = get_spark(cfg, tables=tables) if spark_needed else None
    return Share(spark, cfg, AccessControl.load(cfg))


def _items(text: str | None) -> list[str] | None:
    return [i.strip() for i in text.split(",") if i.strip()] if text else None


def _show(row: dict, args: argparse.Namespace, what: str) -> int:
    if args.json:
        print_rows([row], True)
    else:
        console.print(f"{what} {row['request_id']}: {row['state']}", highlight=False)
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    from govlake.share.workflow import NewRequest

    share = _share()
    p = share.ac.principal(args.as_principal)
    new = NewRequest(
        args.resource,
        _items(args.items) or [],
        args.purpose,
        args.basis,
        args.start,
        args.end,
        args.delivery,
    )
    row = share.request(p, new)
    due = row["due_on"] or "unknown until the holiday calendar covers it (`govlake share list`)"
    return _show(row, args, f"requested (due {due}, to {row['provider_department']})")


def cmd_approve(args: argparse.Namespace) -> int:
    share = _share()
    actor = share.ac.principal(args.as_principal)
    row = share.approve(actor, args.request_id, _items(args.items), args.reason)
    return _show(row, args, "approved")


def cmd_reject(args: argparse.Namespace) -> int:
    share = _share()
    row = share.reject(share.ac.principal(args.as_principal), args.request_id, args.reason)
    return _show(row, args, "rejected")


def cmd_revoke(args: argparse.Namespace) -> int:
    share = _share()
    row = share.revoke(share.ac.principal(args.as_principal), args.request_id, args.reason)
    return _show(row, args, "revoked")


def cmd_list(args: argparse.Namespace) -> int:
    rows = _share(spark_needed=False).listing(args.date)
    if args.state:
        rows = [r for r in rows if r["state"] == args.state]
    if args.overdue:
        rows = [r for r in rows if r["overdue"]]
    if args.json:
        print_rows(rows, True)
        return 0
    # The table shows what fits a terminal; --json has every field (items, period, reason).
    shown = [{k: r[k] for k in TABLE_COLUMNS} for r in rows]
    print_rows(shown, False, title="Requests (age and due date in working days)")
    uncovered = sorted({r["calendar"] for r in rows if r["calendar"]})
    for reason in uncovered:  # once, not once per request: the holiday calendar's gap
        console.print(f"Due date unknown for some requests: {reason}", highlight=False)
    return 0


TABLE_COLUMNS = (
    "request_id", "principal", "resource", "provider", "delivery", "state", "age_working_days",
    "due_on", "overdue",
)  # fmt: skip


def register(add) -> None:
    """Add `govlake share request | approve | reject | revoke | list`."""
    share = add("share", lambda args: share.print_help() or 2, "requests and approvals (供需对接)")
    request = add("share request", cmd_request, "request items of a catalog resource")
    request.add_argument("resource", help="catalog resource name or 资源代码, e.g. population")
    request.add_argument("--items", required=True, help="columns, comma-separated")
    request.add_argument("--purpose", required=True)
    request.add_argument("--basis", required=True, help="the legal basis (law, 三定 duty)")
    request.add_argument("--start", type=iso_date, required=True, help="first day, YYYY-MM-DD")
    request.add_argument("--end", type=iso_date, required=True, help="last day, YYYY-MM-DD")
    request.add_argument("--delivery", choices=["query", "warehouse", "sandbox"], default="query")
    approve = add("share approve", cmd_approve, "approve a request, fully or for fewer items")
    approve.add_argument("request_id")
    approve.add_argument("--items", default=None, help="approve only these (default: all)")
    approve.add_argument("--reason", default=None)
    reject = add("share reject", cmd_reject, "reject a request, citing the legal reason")
    reject.add_argument("request_id")
    reject.add_argument("--reason", required=True)
    revoke = add("share revoke", cmd_revoke, "end an approved request's grant")
    revoke.add_argument("request_id")
    revoke.add_argument("--reason", default=None)
    listing = add("share list", cmd_list, "requests: state, age in working days, overdue")
    listing.add_argument("--date", type=iso_date, default=None, help="as of (default today)")
    listing.add_argument("--state", default=None)
    listing.add_argument("--overdue", action="store_true", help="only overdue requests")
    for parser in (request, approve, reject, revoke, listing):
        parser.add_argument("--json", action="store_true")
        if parser is not listing:
            parser.add_argument("--as", dest="as_principal", required=True, help="who acts")
