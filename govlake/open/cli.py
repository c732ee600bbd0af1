"""`govlake open export | list`: publish the open datasets of conf/open/, or list them with what is
published now."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from govlake.console import console, print_rows
from govlake.settings import settings


def cmd_open_export(args: argparse.Namespace) -> int:
    """Export every open dataset (jobs/open_data.py); an invalid package is not published."""
    from jobs.open_data import export_open_data

    with console.status("Exporting open data (数据开放) ..."):
        results = export_open_data(directory=args.conf)
    print_rows(results, args.json, title="Open data packages")
    return 0


def published(root: Path, name: str) -> dict:
    """Rows, version and modified time of the published package (empty when none is)."""
    descriptor = root / name / "datapackage.json"
    if not descriptor.is_file():
        return {"published": False, "rows": None, "version": None, "modified": None}
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    with (root / name / "data.csv").open(encoding="utf-8", newline="") as fh:
        rows = max(sum(1 for _ in csv.reader(fh)) - 1, 0)  # records, not lines (经营范围 may wrap)
    return {
        "published": True,
        "rows": rows,
        "version": package.get("version"),
        "modified": package.get("govlake", {}).get("modified"),
    }


def cmd_open_list(args: argparse.Namespace) -> int:
    """The datasets of conf/open/ (checked at load) with their priority and published state."""
    from govlake.open.config import load_datasets

    root = Path(settings().lakehouse) / "open"
    rows = []
    for ds in sorted(load_datasets(args.conf), key=lambda d: (d.priority is None, d.priority)):
        rows.append(
            {
                "dataset": ds.name,
                "title": ds.conf.title,
                "resource": ds.resource.resource,
                "open": ds.open_type,
                "priority": ds.priority,
                "columns": len(ds.columns),
                "masked": ", ".join(ds.conf.masked) or None,
                "row_filter": ds.conf.row_filter,
                **published(root, ds.name),
            }
        )
    print_rows(rows, args.json, title="Open datasets (数据开放)")
    return 0


def register(add) -> None:
    """Add `open export` and `open list` with the CLI's own `add(name, func, help)`."""
    add("open", None, "open data (数据开放): Data Packages and the DCAT catalogue")
    for name, func, text in (
        ("export", cmd_open_export, "write <lakehouse>/open/<dataset>/ and catalog.jsonld"),
        ("list", cmd_open_list, "the datasets of conf/open/ and what is published"),
    ):
        parser = add(f"open {name}", func, text)
        parser.add_argument("--conf", type=Path, default=None, help="another conf/open folder")
        parser.add_argument("--json", action="store_true", help="rows as JSON")
