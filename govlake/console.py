"""What every `govlake` command shares for talking to the terminal: the consoles, rows as a
table or JSON, and the date argument type. The sub-CLIs beside their features import it
instead of govlake.cli, which imports them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Pipes and CI logs get a wide console so tables are not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def iso_date(text: str) -> dt.date:
    """An argparse type: a date written like 2026-11-26."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2026-11-26") from None


def print_rows(rows: list[dict], as_json: bool, title: str | None = None) -> None:
    """Rows as a rich table for people, or as JSON for scripts."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    table = Table(title=title, show_lines=False)
    for column in rows[0] if rows else ["(no rows)"]:
        table.add_column(str(column), overflow="fold")
    for row in rows:
        table.add_row(*[cell(v) for v in row.values()])
    console.print(table)


def cell(value: object) -> Text:
    """A value as a table cell: NULL is written NULL (dimmed, as the DuckDB shell does), so a
    missing value is told apart from an empty string, which stays empty."""
    if value is None:
        return Text("NULL", style="dim italic")
    return Text(str(value))
