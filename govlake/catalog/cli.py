"""`govlake catalog validate | publish | due`: the catalog from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict

from govlake.console import console, iso_date, print_rows


def cmd_validate(args: argparse.Namespace) -> int:
    """Review every entry (退回纠正); exit 1 when any entry is returned."""
    from govlake.catalog import has_delta_tables, load_catalog, load_rules, validate_catalog
    from govlake.settings import settings

    cfg, rules = settings(), load_rules()
    entries = load_catalog()
    spark = None
    if not args.declared and has_delta_tables(cfg, rules.registered_databases):
        from govlake.spark import get_spark

        spark = get_spark(cfg)
    findings = validate_catalog(entries, rules, spark=spark, cfg=cfg)
    rows = [asdict(f) for f in findings]
    if args.json:
        print_rows(rows, True)
    elif findings:
        print_rows(rows, False, title="Catalog entries returned for correction (退回纠正)")
    returned = len({f.entry for f in findings})
    if not args.json:
        schema = "Delta schemas" if spark else "declared columns"
        console.print(
            f"{len(entries)} entries checked against {schema}: "
            + (f"{len(findings)} failures in {returned} entries." if findings else "all pass.")
        )
    return 1 if findings else 0


def cmd_publish(args: argparse.Namespace) -> int:
    import uuid

    from govlake.catalog import publish_catalog
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    day = args.date or cfg.demo_logical_date
    with console.status(f"Publishing the catalog for {day} ..."):
        result = publish_catalog(get_spark(cfg), cfg, day, f"manual__{uuid.uuid4()}")
    console.print_json(data=result, default=str)
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    """Registrations due and overdue per department, in working days."""
    from govlake.catalog.registrations import due_report, per_department
    from govlake.settings import settings

    cfg = settings()
    as_of = args.date or dt.date.today()
    rows = due_report(cfg, as_of, args.department)
    if args.json:
        print_rows(rows, True)
        return 0
    if not rows:
        console.print(f"No registration is due or overdue on {as_of}.")
        return 0
    print_rows(per_department(rows), False, title=f"Registrations due and overdue on {as_of}")
    print_rows(rows, False, title="Open registrations (working days left; < 0 overdue)")
    return 0


def register(add) -> None:
    """Add `govlake catalog validate | publish | due` with the CLI's `add(name, func, help)`."""
    catalog = add("catalog", lambda args: catalog.print_help() or 2, "the government data catalog")
    validate = add("catalog validate", cmd_validate, "review every entry; list failures with fixes")
    validate.add_argument("--json", action="store_true")
    validate.add_argument(
        "--declared", action="store_true", help="check declared columns only (no Spark)"
    )
    publish = add(
        "catalog publish", cmd_publish, "write catalog.resources/items/systems/registrations"
    )
    publish.add_argument("--date", type=iso_date, default=None)
    due = add("catalog due", cmd_due, "registrations due and overdue per department (working days)")
    due.add_argument("--department", default=None)
    due.add_argument("--date", type=iso_date, default=None, help="as of (default today)")
    due.add_argument("--json", action="store_true")
