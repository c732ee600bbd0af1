"""`govlake quality scores | feedback | duplicates`: quality scores with their trend, a
department's open problems (问题数据可反馈), and the duplicate-collection report.

`register(add)` adds the three subcommands under `govlake quality`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from govlake.console import console, print_rows


def _settings():
    from govlake.settings import settings

    return settings()


def _context():
    from govlake.spark import get_spark

    cfg = _settings()
    return get_spark(cfg), cfg


def cmd_scores(args: argparse.Namespace) -> int:
    from jobs.feedback.scores import score_trend

    spark, cfg = _context()
    rows = score_trend(spark, cfg, department=args.department, runs=args.runs)
    if not rows and not args.json:
        console.print("No quality scores yet: they are written after each nightly run.")
        return 0
    print_rows(rows, args.json, title="Quality scores (质量评分): latest run, change, trend")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from govlake.masking import mask_text
    from jobs.feedback.scores import short_name
    from jobs.feedback.workbooks import open_problems

    cfg = _settings()  # read by delta-rs: no Spark session for a listing
    problems = open_problems(cfg, args.department)
    rows = [
        {
            "department": p["department"],
            "table": short_name(p["table"]),
            "key": mask_text(p["key"]),
            "field": p["field"],
            "value": mask_text(p["value_masked"]),
            "rule": p["rule_zh"],
            "rule_en": p["rule_en"],
            "first_seen": p["first_seen"],
            "times_seen": p["times_seen"],
        }
        for p in problems[: args.limit]
    ]
    if not rows and not args.json:
        who = args.department or "any department"
        console.print(f"No open problems for {who}.")
        return 0
    title = f"Open problems of {args.department or 'all departments'} ({len(problems)})"
    print_rows(rows, args.json, title=title)
    if len(problems) > args.limit and not args.json:
        nights = sorted((cfg.lakehouse / "feedback").glob("*-*-*"))
        where = f"the workbooks in {nights[-1]}" if nights else "the night's workbooks"
        more = f"... {len(problems) - args.limit} more; {where} list them all."
        console.print(more, soft_wrap=True, highlight=False)  # a path must stay copyable
    return 0


FOUND_COLUMNS = (
    "department_a", "table_a", "column_a", "department_b", "table_b", "column_b",
    "key_kind", "keys_overlap", "agree_percent", "chance_percent", "declared_by",
)  # fmt: skip


def cmd_found_duplicates(spark, args: argparse.Namespace, cfg) -> int:
    """`govlake quality duplicates --found`: the newest night's pairs found from the data."""
    from jobs.feedback.discovered import latest_discovered

    rows = [{c: r[c] for c in FOUND_COLUMNS} for r in latest_discovered(spark, cfg)]
    if not rows and not args.json:
        console.print("No duplicate collection found from the data yet (written each night).")
        return 0
    print_rows(rows, args.json, title="Duplicate collection found from the data (重复采集)")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from jobs.feedback.duplicates import latest_report

    spark, cfg = _context()
    if args.found:
        return cmd_found_duplicates(spark, args, cfg)
    report = latest_report(spark, cfg)
    if not report and not args.json:
        console.print("No duplicate-collection report yet: it is written after each nightly run.")
        return 0
    columns = (
        "library",
        "attribute",
        "authoritative_department",
        "department",
        "keys_authority",
        "keys_department",
        "keys_both",
        "keys_agree",
        "agree_percent",
    )
    rows = [{c: r[c] for c in columns} for r in report]
    print_rows(rows, args.json, title="Duplicate collection (重复采集): attribute by department")
    if not args.json:
        for r in report:
            console.print(f"- {r['recommendation']}", highlight=False)
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add scores, feedback and duplicates under `govlake quality` (registered before this)."""

    def command(name: str, func, text: str) -> argparse.ArgumentParser:
        parser = add(f"quality {name}", func, text)
        parser.add_argument("--json", action="store_true")
        return parser

    scores = command(
        "scores", cmd_scores, "quality scores per table and department, with the trend"
    )
    scores.add_argument("--department", default=None, help="only this department, e.g. 市公安局")
    scores.add_argument("--runs", type=int, default=5, help="runs shown in the trend")
    feedback = command("feedback", cmd_feedback, "open problem rows to send back to a department")
    feedback.add_argument("--department", default=None, help="e.g. 市公安局")
    feedback.add_argument("--limit", type=int, default=200, help="rows printed at most")
    duplicates = command(
        "duplicates", cmd_duplicates, "attributes collected by several departments"
    )
    duplicates.add_argument(
        "--found", action="store_true", help="the column pairs found from the data, not declared"
    )
