"""`govlake app refresh | list`: refresh application warehouses (一应用一数仓) now, or list them
with their last delivery."""

from __future__ import annotations

import argparse

from govlake.console import console, iso_date, print_rows
from govlake.owned import SHARE_DELIVERIES
from govlake.settings import settings
from govlake.warehouse.config import get_app, load_apps


def cmd_app_refresh(args: argparse.Namespace) -> int:
    """Refresh the named applications (default: all) for a night (default: today, city time)."""
    from govlake.access.control import city_today
    from jobs.warehouse import refresh_app

    cfg = settings()
    night = args.date or city_today(cfg)
    names = args.names or [a.name for a in load_apps()]
    results = []
    for name in names:
        get_app(name)  # an unknown name is refused before Spark starts
        with console.status(f"Refreshing app_{name} for {night} ..."):
            results.append(refresh_app(name, night))
    print_rows(results, args.json, title="Application warehouses (一应用一数仓)")
    return 0


def cmd_app_list(args: argparse.Namespace) -> int:
    """Each application's tables with their latest delivery (share.deliveries)."""
    from govlake.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg, tables={SHARE_DELIVERIES.name})
    df = SHARE_DELIVERIES.table.read_if_exists(spark, cfg)
    rows = [] if df is None else [r.asDict() for r in df.orderBy("recorded_at").collect()]
    latest = {(r["app"], r["warehouse_table"]): r for r in rows}
    out = []
    for app in load_apps():
        for draw in app.draws:
            target = str(app.target(draw))
            last = latest.get((app.name, target), {})
            out.append(
                {
                    "app": app.name,
                    "scenario": app.scenario,
                    "principal": app.principal,
                    "table": target,
                    "source": draw.table,
                    "night": last.get("night"),
                    "state": last.get("state"),
                    "rows": last.get("rows"),
                    "version": last.get("warehouse_version"),
                    "request": last.get("request_id"),
                    "reason": last.get("reason"),
                }
            )
    print_rows(out, args.json, title="Application warehouses (一应用一数仓)")
    return 0


def register(add) -> None:
    """Add `app refresh` and `app list` with the CLI's own `add(name, func, help)`."""
    add("app", None, "application warehouses (一应用一数仓, conf/apps/)")
    refresh = add("app refresh", cmd_app_refresh, "fill or empty app_<name> for a night")
    refresh.add_argument("names", nargs="*", help="applications (default: all of conf/apps/)")
    refresh.add_argument("--date", type=iso_date, default=None, help="night (default today)")
    listing = add("app list", cmd_app_list, "each warehouse table and its latest delivery")
    for parser in (refresh, listing):
        parser.add_argument("--json", action="store_true", help="rows as JSON")
