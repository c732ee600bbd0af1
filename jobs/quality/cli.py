"""`govlake quality`: the latest validation per table, Data Docs, and starting suites."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from govlake.console import console, print_rows

# DataFusion's dialect (read by delta-rs, no JVM): CASE sums where Spark would use count_if.
SUMMARY_SQL = """
SELECT "table", run_date, run_id,
       count(*) AS rules,
       sum(CASE WHEN success THEN 1 ELSE 0 END) AS passed,
       sum(CASE WHEN NOT success AND policy = 'warn' THEN 1 ELSE 0 END) AS warned,
       sum(CASE WHEN NOT success AND policy = 'quarantine' THEN 1 ELSE 0 END)
         AS quarantine_rules_hit,
       sum(CASE WHEN NOT success AND policy = 'fail' THEN 1 ELSE 0 END) AS failed,
       sum(unexpected_count) AS unexpected_values
FROM (
  SELECT *, dense_rank() OVER (PARTITION BY "table" ORDER BY validated_at DESC) AS _n
  FROM results
) AS latest WHERE _n = 1
GROUP BY "table", run_date, run_id
ORDER BY "table"
"""


def cmd_summary(args: argparse.Namespace) -> int:
    from govlake.lakehouse import Table, query_without_jvm
    from govlake.settings import settings
    from jobs.quality.gx_run import docs_dir

    cfg = settings()
    # Read by delta-rs: the summary of a small table starts no JVM (issue 19).
    rows = query_without_jvm(SUMMARY_SQL, {"results": Table("quality", "results")}, cfg)
    if not rows:
        console.print("No validation has run yet (quality.results is empty): run a load first.")
        return 0
    print_rows(rows, args.json, title="Latest validation per table (quality.results)")
    index = docs_dir(cfg) / "index.html"
    if not args.json:
        state = "" if index.exists() else " (not built yet: govlake quality docs)"
        console.print(f"Data Docs: {index}{state}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from govlake.settings import settings
    from jobs.quality import build_data_docs

    console.print(f"Data Docs: {build_data_docs(settings())}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from govlake.settings import settings
    from govlake.spark import get_spark
    from jobs.quality import generate

    cfg = settings()
    spark = get_spark(cfg, tables=set())
    if args.library:
        suites = generate.library_suite(spark, cfg, args.name)
    elif args.theme:
        suites = generate.theme_suite(spark, cfg, args.name)
    else:
        suites = generate.source_suites(spark, cfg, args.name)
    for path in generate.write_suites(suites, None, args.force):
        console.print(f"wrote {path}: edit the policies, then commit it")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `govlake quality [docs|init]` with the CLI's `add(name, func, help)`."""
    quality = add("quality", cmd_summary, "latest validation per table and the Data Docs path")
    quality.add_argument("--json", action="store_true")
    add("quality docs", cmd_docs, "build GX Data Docs into <lakehouse>/quality/data_docs")
    init = add("quality init", cmd_init, "a starting suite for a source (or --library, --theme)")
    init.add_argument("name", help="source system (conf/sources/<name>.yaml), library or theme")
    kind = init.add_mutually_exclusive_group()
    kind.add_argument("--library", action="store_true", help="name is a base library")
    kind.add_argument("--theme", action="store_true", help="name is a theme (libraries/themes)")
    init.add_argument("--force", action="store_true", help="overwrite an existing suite")
