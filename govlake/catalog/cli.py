"""`govlake catalog validate | publish | due`: the catalog from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict

from govlake.console import console, iso_date, print_rows


def cmd_validate(args: argparse.Namespace) -> int:
    """Review every entry (退回纠正); exit 1 when any entry is returned."""
    from govlake.catalog import has_delta_tables, load_catalog, load_rules, validate_catalog
    from govlake.catalog.review import blocking
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
    failures = blocking(findings)
    returned = len({f.entry for f in failures})
    drafts = len(findings) - len(failures)
    if not args.json:
        schema = "Delta schemas" if spark else "declared columns"
        console.print(
            f"{len(entries)} entries checked against {schema}: "
            + (f"{len(failures)} failures in {returned} entries." if failures else "all pass.")
            + (f" {drafts} drafts for their departments to complete." if drafts else "")
        )
    return 1 if failures or (drafts and args.strict) else 0


def cmd_draft(args: argparse.Namespace) -> int:
    """Draft entries from a source's YAML for its tables without an entry (issue 20 item 9)."""
    from govlake.catalog import load_catalog, load_rules
    from govlake.catalog.draft import write_drafts
    from govlake.catalog.loader import catalog_dir
    from govlake.errors import ConfigError
    from govlake.sources import load_sources

    chosen = [s for s in load_sources() if s.system == args.system]
    if not chosen:
        raise ConfigError(f"no source system '{args.system}'.", fix="run `govlake sources`.")
    written = write_drafts(chosen[0], load_catalog(), load_rules(), catalog_dir(), dt.date.today())
    for path in written:
        console.print(f"wrote {path}: a draft for {chosen[0].department} to complete")
    if written:
        console.print(
            f"next: `govlake quality init {args.system}` writes its starting quality suite from "
            "the same YAML, before its first load."
        )
    if not written:
        console.print(f"every table of {args.system} has a catalog entry: nothing to draft.")
    return 0


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
    """Add `govlake catalog validate | draft | publish | due` with the CLI's `add(...)`."""
    catalog = add("catalog", lambda args: catalog.print_help() or 2, "the government data catalog")
    validate = add("catalog validate", cmd_validate, "review every entry; list failures with fixes")
    validate.add_argument("--json", action="store_true")
    validate.add_argument(
        "--declared", action="store_true", help="check declared columns only (no Spark)"
    )
    validate.add_argument("--strict", action="store_true", help="exit 1 on drafts too")
    draft = add(
        "catalog draft", cmd_draft, "write draft entries for a source's uncatalogued tables"
    )
    draft.add_argument("system", help="a source system of conf/sources/")
    publish = add(
        "catalog publish", cmd_publish, "write catalog.resources/items/systems/registrations"
    )
    publish.add_argument("--date", type=iso_date, default=None)
    due = add("catalog due", cmd_due, "registrations due and overdue per department (working days)")
    due.add_argument("--department", default=None)
    due.add_argument("--date", type=iso_date, default=None, help="as of (default today)")
    due.add_argument("--json", action="store_true")
