"""`govlake`: the front door to the lakehouse for data engineers and analysts."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from govlake.console import console, err_console, iso_date, print_rows
from govlake.errors import GovlakeError, summarize_java_error
from govlake.settings import settings


def cmd_demo(args: argparse.Namespace) -> int:
    from govlake.demo import run_demo

    return run_demo(persons=args.persons, day=args.date, console=console, report=args.report)


def cmd_generate(args: argparse.Namespace) -> int:
    from govlake.sample import generate_sources

    cfg = settings()
    with console.status(f"Generating sample sources for {args.persons} persons..."):
        manifest = generate_sources(
            cfg.sources_root, args.persons, args.date or cfg.demo_logical_date
        )
    console.print(f"Wrote sample sources to {cfg.sources_root} (manifest.json lists the defects).")
    print_rows(_manifest_rows(manifest.to_dict()), as_json=False)
    return 0


def _manifest_rows(manifest: dict) -> list[dict]:
    return [
        {
            "system": system,
            "table": table,
            "rows": info["rows"],
            "defects": sum(info["defects"].values()),
        }
        for system, tables in manifest["sources"].items()
        for table, info in tables.items()
    ]


def cmd_load(args: argparse.Namespace) -> int:
    from govlake.sources import load_sources
    from jobs.ingest import load_table
    from jobs.logical import register_table

    day = args.date or settings().demo_logical_date
    chosen = [s for s in load_sources() if s.system == args.system]
    if not chosen:
        raise GovlakeError(f"no source system '{args.system}'.", fix="run `govlake sources`.")
    rows = []
    for spec in chosen[0].tables:
        if args.table and spec.name != args.table:
            continue
        physical = chosen[0].mode == "physical"
        with console.status(f"Loading {chosen[0].ods_table(spec)} for {day}..."):
            if physical:
                rows.append(load_table(args.system, spec.name, day, force=args.force))
            else:
                rows.append(register_table(args.system, spec.name, day))
    print_rows(rows, args.json)
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from govlake.inventory import source_rows

    print_rows(source_rows(), args.json, title="Configured department sources")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from govlake.inventory import table_rows

    print_rows(table_rows(), args.json, title="Lakehouse tables")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from govlake.spark import get_spark
    from jobs.logical import referenced_tables, register_referenced

    cfg = settings()
    if args.as_principal:
        from govlake.access.cli import run_as

        def spark_for(tables: set[str]):
            spark = get_spark(cfg, tables=tables)
            register_referenced(spark, cfg, tables)
            return spark

        return run_as(args, spark_for)
    err_console.print(
        "as the administrator: unrestricted and unaudited (use --as <principal> for a "
        "principal's masked, filtered and audited view).",
        highlight=False,
    )
    tables = referenced_tables(args.query)
    spark = get_spark(cfg, tables=tables)
    register_referenced(spark, cfg, tables)
    df = spark.sql(args.query)
    rows = [r.asDict(recursive=True) for r in df.limit(args.limit + 1).collect()]
    if len(rows) > args.limit:
        rows = rows[: args.limit]
        # On stderr, so --json output stays valid JSON; silently cut rows look like all rows.
        err_console.print(
            f"only the first {args.limit} rows are shown; the query returns more. "
            "Use --limit N for more, or LIMIT/aggregates in the query.",
            highlight=False,
        )
    if not rows and not args.json:
        console.print(f"(no rows; columns: {', '.join(df.columns)})")
        return 0
    print_rows(rows, args.json)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from govlake.libraries import build_order, load_libraries
    from jobs.library import build_library

    day = args.date or settings().demo_logical_date
    ordered = [lib.library for lib in build_order(load_libraries())]
    names = [args.library] if args.library else ordered
    rows = []
    for name in names:
        with console.status(f"Building library {name} for {day} ..."):
            result = build_library(name, day, full=args.full or None)
        rows += [
            {"library": result["library"], "mode": result["mode"], **i, "keys": result["keys"]}
            for i in result["inputs"]
        ]
    print_rows(rows, args.json, title=f"Base libraries, night of {day}")
    return 0


def cmd_theme(args: argparse.Namespace) -> int:
    from govlake.themes import load_themes
    from jobs.theme import build_theme

    day = args.date or settings().demo_logical_date
    names = [args.theme] if args.theme else [t.theme for t in load_themes()]
    rows = []
    for name in names:
        with console.status(f"Building theme {name} for {day} ..."):
            rows.append(build_theme(name, day))
    print_rows(rows, args.json, title=f"Theme libraries, night of {day}")
    return 0


# The reason splits the count: a department's own newer statement is also a differing value,
# but not a conflict between departments (the demo's "planted" count leaves it out).
CONFLICTS_SQL = """
SELECT library, department, winner_department, attribute, reason, count(*) AS conflicts
FROM c
GROUP BY library, department, winner_department, attribute, reason
ORDER BY conflicts DESC, library, attribute, reason, department, winner_department
"""


def cmd_conflicts(args: argparse.Namespace) -> int:
    from govlake.lakehouse import Table, query_without_jvm

    # Read by delta-rs: counting a small table starts no JVM (issue 19). The library is picked
    # from the counted rows, so the user's text never becomes SQL.
    rows = query_without_jvm(CONFLICTS_SQL, {"c": Table("base", "conflicts")}, settings())
    if rows is None:
        console.print("No conflict recorded yet (base.conflicts is empty): build a library first.")
        return 0
    rows = [r for r in rows if args.library in (None, r["library"])]
    title = "Multi-source conflicts (多源比对) by department pair and reason"
    print_rows(rows, args.json, title=title)
    if not args.json:
        for line in conflict_counts_explained(args.library):
            console.print(line, highlight=False)
    return 0


def conflict_counts_explained(library: str | None) -> list[str]:
    """Per library, why its total here differs from the demo's "conflicts N of N planted"
    (issue 20): a department's own newer statement differs from the winner but is no conflict
    between departments, and the demo counts each (key, attribute) once, of generated inputs."""
    from govlake.lakehouse import Table, query_without_jvm
    from govlake.sample.truth import SAME_DEPARTMENT as OWN

    sql = f"""
    SELECT library, count(*) AS statements,
      sum(CASE WHEN reason = '{OWN}' THEN 1 ELSE 0 END) AS own,
      count(DISTINCT CASE WHEN reason <> '{OWN}' THEN concat("key", '|', attribute) END) AS pairs
    FROM c GROUP BY library ORDER BY library"""
    rows = query_without_jvm(sql, {"c": Table("base", "conflicts")}, settings()) or []
    return [
        f"{r['library']}: {r['statements']} differing statements = {r['own']} a department's "
        f"own newer statement (not between departments) + {r['statements'] - r['own']} between "
        f"departments, on {r['pairs']} (key, attribute) pairs. The demo's \"conflicts N of N "
        'planted" counts those pairs, and only among the inputs the generator wrote.'
        for r in rows
        if library in (None, r["library"])
    ]


def cmd_check_ids(args: argparse.Namespace) -> int:
    from jobs.identifiers import cmd_check_ids as check

    return check(args)


def cmd_spark_conf(args: argparse.Namespace) -> int:
    from govlake.inventory import write_spark_client_files

    conf, init = write_spark_client_files()
    bin_dir = Path(sys.executable).parent
    console.print(f"PATH={bin_dir}:$PATH spark-sql --properties-file {conf} -i {init}")
    return 0


def cmd_class_archive(args: argparse.Namespace) -> int:
    from govlake import class_archive
    from govlake.spark import get_spark

    cfg = settings()
    existed = class_archive.archive_path(cfg, args.folder).is_file()
    path = class_archive.build(
        cfg, lambda options: get_spark(cfg, "govlake-class-archive", set(), options), args.folder
    )
    if path is None:
        err_console.print(
            f"class archive: {class_archive.java_binary()} wrote none that fits its class path; "
            "Spark drivers start without one.",
            highlight=False,
        )
    else:
        console.print(f"class archive {'kept' if existed else 'written'}: {path}", highlight=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govlake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = _adder(sub)
    demo = add("demo", cmd_demo, "generate sample sources and run the nightly DAGs through Airflow")
    demo.add_argument("--persons", type=int, default=None, help="size of the sample city")
    demo.add_argument("--date", type=iso_date, default=None, help="logical date (default in conf)")
    demo.add_argument(
        "--report", type=Path, default=None, help="write each DAG's state and seconds"
    )
    gen = add("generate", cmd_generate, "write sample department sources only")
    gen.add_argument("--persons", type=int, default=settings().demo_persons)
    gen.add_argument("--date", type=iso_date, default=None)
    load = add("load", cmd_load, "load one source system now, without Airflow")
    load.add_argument("system")
    load.add_argument("--table", default=None)
    load.add_argument("--date", type=iso_date, default=None)
    load.add_argument(
        "--force",
        action="store_true",
        help="validate and write the delivery even if unchanged (after its rules changed)",
    )
    load.add_argument("--json", action="store_true")
    for name, func, text in (
        ("sources", cmd_sources, "each configured source: mode, last load, rows"),
        ("tables", cmd_tables, "every table: layer, path, Delta version, rows"),
    ):
        add(name, func, text).add_argument("--json", action="store_true")
    sql = add("sql", cmd_sql, "run Spark SQL against the lakehouse by table name")
    sql.add_argument("query")
    sql.add_argument("--json", action="store_true")
    sql.add_argument(
        "--as",
        dest="as_principal",
        default=None,
        metavar="PRINCIPAL",
        help="run as a principal of conf/access/: masked, row-filtered, audited",
    )
    sql.add_argument(
        "--limit", type=int, default=1000, help="rows to print (default 1000); stderr says if cut"
    )
    build = add("build", cmd_build, "build the base libraries (or one) from ods, without Airflow")
    build.add_argument("library", nargs="?", default=None)
    build.add_argument("--date", type=iso_date, default=None)
    build.add_argument("--json", action="store_true")
    build.add_argument(
        "--full", action="store_true", help="rebuild from every input row, not the changed keys"
    )
    theme = add("theme", cmd_theme, "build the theme libraries (or one) from their SQL models")
    theme.add_argument("theme", nargs="?", default=None)
    theme.add_argument("--date", type=iso_date, default=None)
    theme.add_argument("--json", action="store_true")
    conflicts = add("conflicts", cmd_conflicts, "summarize conflicts by department pair, attribute")
    conflicts.add_argument("--library", default=None)
    conflicts.add_argument("--json", action="store_true")
    ids = add("check-ids", cmd_check_ids, "validate identifiers read from stdin, one per line")
    ids.add_argument(
        "--kind", choices=["ric", "uscc", "cert", "unit_code", "industry"], required=True
    )
    ids.add_argument(
        "--strict", action="store_true", help="exit 1 if any value is invalid (default: exit 0)"
    )
    add("spark-conf", cmd_spark_conf, "write spark-defaults and init SQL for spark-sql users")
    archive = add(
        "class-archive", cmd_class_archive, "write this machine's Spark driver class archive"
    )
    archive.add_argument("--folder", type=Path, default=None, help="instead of the jar cache")
    for register in command_groups():
        register(add)
    return parser


def command_groups() -> list[Callable]:
    """Subcommand groups that live beside their feature, each a `register(add)`; a group's
    parent comes before the groups that add to it (quality before its feedback commands)."""
    from govlake.access.cli import register as access
    from govlake.catalog.cli import register as catalog
    from govlake.open.cli import register as open_data
    from govlake.sandbox.cli import register as sandbox
    from govlake.serve.cli import register as serve
    from govlake.share.cli import register as share
    from govlake.site.cli import register as docs
    from govlake.warehouse.cli import register as apps
    from jobs.feedback.cli import register as feedback
    from jobs.quality.cli import register as quality
    from lineage.cli import register as lineage

    return [
        catalog, lineage, quality, feedback, docs, access, serve, share, open_data, apps, sandbox,
    ]  # fmt: skip


def _adder(sub) -> Callable[..., argparse.ArgumentParser]:
    """`add(name, func, help)` for every command: "quality scores" adds `scores` under
    `quality`. A group without a function of its own requires one of its subcommands."""
    parsers: dict[str, argparse.ArgumentParser] = {}
    groups: dict[str, argparse._SubParsersAction] = {"": sub}

    def add(name: str, func, text: str) -> argparse.ArgumentParser:
        parent, _, child = name.rpartition(" ")
        if parent not in groups:
            required = parsers[parent].get_default("func") is None
            dest = f"{parent.replace(' ', '_')}_command"
            groups[parent] = parsers[parent].add_subparsers(dest=dest, required=required)
        parser = groups[parent].add_parser(child, help=text, description=text)
        parser.set_defaults(func=func)
        parsers[name] = parser
        return parser

    return add


def quiet_library_logs() -> None:
    """Spark's Python side logs each failed query as JSON and py4j its shutdown; errors are ours."""
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    quiet_library_logs()
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except GovlakeError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            err_console.print(f"[bold red]Error:[/] {summarize_java_error(exc)}", highlight=False)
        else:
            raise
    return 1


if __name__ == "__main__":
    sys.exit(main())
