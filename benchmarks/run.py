"""Benchmark: the ODS load against a raw Spark copy of the same sources, and DagBag parse time.

Usage: python -m benchmarks.run [--sizes 100000 1000000] [--quick]
Each size runs in a fresh interpreter with its own temporary lakehouse and sources folder.
Timings are reported and saved to benchmarks/results/, never asserted; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from govlake.settings import PROJECT_ROOT

DEFAULT_SIZES = [100_000, 1_000_000]
QUICK_SIZES = [10_000, 50_000]
REPEATS = 2
DAGBAG_SOURCES = 200
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
MILLION = 1_000_000
PHASES = ("raw", "ods")
console = Console(width=None if sys.stdout.isatty() else 140)


# --- one size, in its own interpreter -------------------------------------------------------


class Steps:
    """A rich progress bar over the timed steps of one size."""

    def __init__(self, progress: Progress, total: int):
        self.progress = progress
        self.task = progress.add_task("", total=total)

    def start(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def done(self) -> None:
        self.progress.advance(self.task)


def physical_tables() -> list[tuple]:
    """(source, spec) of every table the ODS load copies (logical systems are skipped)."""
    from govlake.sources import load_sources

    return [(s, t) for s in load_sources() if s.mode == "physical" for t in s.tables]


def table_key(source, spec) -> str:
    return f"{source.system}.{spec.name}"


def source_kind(source, spec, targets: dict) -> str:
    if spec.is_api:
        return "http json"
    if not spec.file:
        return f"{targets[source.system].url.split(':')[1]} jdbc"
    return f"csv {spec.encoding}" if spec.format == "csv" else spec.format


def uptime() -> str:
    """The `uptime` line (load averages) recorded beside a benchmark's figures."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def timed(action: Callable[[], object]) -> tuple[float, object, str | None]:
    """Wall seconds of one action, its value, and its error (a failed step is reported)."""
    start = time.perf_counter()
    try:
        value = action()
    except Exception as exc:
        return time.perf_counter() - start, None, f"{type(exc).__name__}: {exc}"[:500]
    return time.perf_counter() - start, value, None


def xlsx_frame(spark, path: str, sheet: str | None):
    """A workbook through openpyxl as the naive copy would: header row, every cell as text."""
    from openpyxl import load_workbook
    from pyspark.sql.types import StringType, StructField, StructType

    book = load_workbook(path, read_only=True, data_only=True)
    rows = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
    header = [str(c) for c in next(rows) if c is not None]
    width = len(header)
    data = [
        tuple(None if v is None else str(v) for v in (*row, *[None] * width)[:width])
        for row in rows
    ]
    book.close()
    return spark.createDataFrame(data, StructType([StructField(c, StringType()) for c in header]))


def xls_frame(spark, path: str, sheet: str | None):
    """A legacy workbook through xlrd as the naive copy would: every row of the sheet as text,
    columns c0, c1, ... (its two-row header is copied as rows)."""
    import xlrd
    from pyspark.sql.types import StringType, StructField, StructType

    book = xlrd.open_workbook(path)
    rows = (book.sheet_by_name(sheet) if sheet else book.sheet_by_index(0)).get_rows()
    data = [tuple(None if c.value == "" else str(c.value) for c in row) for row in rows]
    width = max((len(row) for row in data), default=0)
    data = [row + (None,) * (width - len(row)) for row in data]
    schema = StructType([StructField(f"c{i}", StringType()) for i in range(width)])
    return spark.createDataFrame(data, schema)


def api_frame(spark, source, spec):
    """An HTTP JSON interface as the naive copy would: every page with the bearer token until
    a short page, the records at `records_path` read by spark.read.json."""
    import urllib.request
    from urllib.parse import urlencode

    from jobs.connections import resolve_http

    target = resolve_http(source, use_airflow=False)
    lines, page = [], 1
    while True:
        query = urlencode({spec.page_param: page, spec.size_param: spec.page_size})
        request = urllib.request.Request(
            f"{target.url(spec.endpoint)}?{query}",
            headers={"Authorization": f"Bearer {target.token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        for key in spec.records_path.split("."):
            body = body[key]
        lines += [json.dumps(record, ensure_ascii=False) for record in body]
        if len(body) < spec.page_size:
            return spark.read.json(spark.sparkContext.parallelize(lines or ["{}"]))
        page += 1


def raw_frame(spark, source, spec, day: dt.date, cfg, targets: dict):
    """The table read the plain way: spark.read.csv/json, one JDBC read, openpyxl for xlsx,
    xlrd for xls, urllib for an HTTP interface's pages."""
    from jobs import readers

    if spec.is_api:
        return api_frame(spark, source, spec)
    if not spec.file:
        reader = spark.read.format("jdbc").option("dbtable", spec.dbtable)
        for key, value in targets[source.system].options().items():
            reader = reader.option(key, value)
        return reader.load()
    path = str(readers.resolve_file(source, spec, day, cfg).path)
    if spec.format == "csv":
        charset = readers.JAVA_CHARSETS.get(spec.encoding.lower(), spec.encoding)
        return spark.read.option("header", True).option("encoding", charset).csv(path)
    if spec.format == "json":
        return spark.read.json(path)
    if spec.format == "xls":
        return xls_frame(spark, path, spec.sheet)
    return xlsx_frame(spark, path, spec.sheet)


def raw_copy(spark, source, spec, day: dt.date, cfg, targets: dict, out: Path) -> None:
    raw_frame(spark, source, spec, day, cfg, targets).write.mode("overwrite").parquet(str(out))


def run_raw(spark, tables, day: dt.date, cfg, targets: dict, out_dir: Path, steps: Steps) -> dict:
    """Baseline: every physical table copied into plain Parquet, one after another."""
    results = {}
    for source, spec in tables:
        key = table_key(source, spec)
        steps.start(f"raw copy  {key}")
        out = out_dir / f"{source.system}__{spec.name}.parquet"
        seconds, _, error = timed(partial(raw_copy, spark, source, spec, day, cfg, targets, out))
        results[key] = {"seconds": seconds, "error": error}
        steps.done()
    return results


def run_ods(spark, tables, day: dt.date, run_tag: str, steps: Steps) -> dict:
    """The real ODS load (jobs.ingest.load_table) of every physical table."""
    from jobs.ingest import load_table

    results = {}
    for source, spec in tables:
        key = table_key(source, spec)
        steps.start(f"ODS load  {key}")
        load = partial(load_table, source.system, spec.name, day, f"{run_tag}__{key}", spark)
        seconds, value, error = timed(load)
        results[key] = {"seconds": seconds, "error": error, **(value or {})}
        steps.done()
    return results


def use_lakehouse(spark, path: Path):
    """Point settings() at an empty lakehouse so every round loads a first night from scratch."""
    from govlake.lakehouse import named_tables
    from govlake.settings import settings

    for name in sorted(named_tables(spark, ("ods", "ops", "quarantine"))):
        spark.sql(f"DROP TABLE IF EXISTS {name}")
    os.environ["GOVLAKE_LAKEHOUSE"] = str(path)
    settings.cache_clear()
    return settings()


def run_round(number: int, spark, tables, workdir: Path, targets: dict, steps: Steps) -> dict:
    """One raw copy and one ODS load; odd rounds copy first, even rounds load first."""
    cfg = use_lakehouse(spark, workdir / f"lakehouse-{number}")
    day = cfg.demo_logical_date
    order = ("raw", "ods") if number % 2 else ("ods", "raw")
    result: dict = {"order": list(order)}
    for phase in order:
        start = time.perf_counter()
        if phase == "raw":
            out = workdir / f"raw-{number}"
            tables_out = run_raw(spark, tables, day, cfg, targets, out, steps)
        else:
            tables_out = run_ods(spark, tables, day, f"bench__r{number}", steps)
        result[phase] = {"seconds": time.perf_counter() - start, "tables": tables_out}
    return result


def count_raw(spark, tables, out_dir: Path) -> dict:
    """Rows in each raw Parquet copy (counted after the timing, from Parquet footers)."""
    counts = {}
    for source, spec in tables:
        path = out_dir / f"{source.system}__{spec.name}.parquet"
        counts[table_key(source, spec)] = (
            spark.read.parquet(str(path)).count() if path.exists() else None
        )
    return counts


def start_spark(tables, cfg):
    """The one Spark session of this size, and the JDBC targets resolved once (both untimed)."""
    from govlake.spark import get_spark
    from jobs.connections import resolve_jdbc

    spark = get_spark(cfg, app_name="govlake-bench")
    targets = {s.system: resolve_jdbc(s, cfg) for s, t in tables if not (t.file or t.is_api)}
    return spark, targets


def run_size(persons: int, workdir: Path, repeats: int, out: Path) -> None:
    """Generate the sources, start Spark, run the rounds and write the raw figures as JSON."""
    from govlake.demo import sample_interfaces
    from govlake.sample import generate_sources
    from govlake.settings import settings

    cfg = settings()
    day = cfg.demo_logical_date
    with console.status(f"Generating sample sources for {persons:,} persons on {day} ..."):
        start = time.perf_counter()
        manifest = generate_sources(cfg.sources_root, persons, day).to_dict()
        gen_seconds = time.perf_counter() - start
    console.print(f"  sources generated in {gen_seconds:.1f}s (not part of the ratio)")
    tables = physical_tables()
    console.print("  starting Spark (not timed) ...")
    start = time.perf_counter()
    spark, targets = start_spark(tables, cfg)
    spark_seconds = time.perf_counter() - start
    console.print(f"  Spark started in {spark_seconds:.1f}s, {len(tables)} physical tables")
    columns = [
        TextColumn("  {task.description:<48}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ]
    # The HTTP interface tables are read from the demo's sample server, as on a demo night.
    with sample_interfaces(cfg, console), Progress(*columns, console=console) as progress:
        steps = Steps(progress, total=repeats * 2 * len(tables))
        load_before = os.getloadavg()[0]
        rounds = [
            run_round(n, spark, tables, workdir, targets, steps) for n in range(1, repeats + 1)
        ]
        steps.start("rounds done")
    result = {
        "persons": persons,
        "logical_date": str(day),
        "generate_seconds": gen_seconds,
        "spark_start_seconds": spark_seconds,
        "tables": {table_key(s, t): source_kind(s, t, targets) for s, t in tables},
        "manifest_rows": {
            table_key(s, t): manifest["sources"][s.system][t.name]["rows"] for s, t in tables
        },
        "raw_rows": count_raw(spark, tables, workdir / "raw-1"),
        "rounds": rounds,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark.stop()
    out.write_text(json.dumps(result, default=str), encoding="utf-8")


# --- the driver: sizes in subprocesses, summary, DagBag ---------------------------------------


def in_fresh_interpreter(module: str, label: str, args: list[str]) -> dict:
    """`python -m module --workdir W --out O *args` in a fresh interpreter with its own
    lakehouse, sources and Airflow home under a temporary folder; its JSON result, timed."""
    with tempfile.TemporaryDirectory(prefix=f"govlake-bench-{label}-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "GOVLAKE_LAKEHOUSE": str(root / "lakehouse-1"),
            "GOVLAKE_SOURCES": str(root / "sources"),
            "AIRFLOW_HOME": str(root / "airflow"),
        }
        out = root / "result.json"
        command = [sys.executable, "-m", module, *args, "--workdir", tmp, "--out", str(out)]
        seconds, done, error = timed(lambda: subprocess.run(command, env=env, cwd=PROJECT_ROOT))
        if error or done.returncode != 0 or not out.exists():
            reason = error or f"the size's process exited with code {done.returncode}"
            return {"error": reason, "child_seconds": seconds}
        result = json.loads(out.read_text(encoding="utf-8"))
    result["child_seconds"] = seconds
    return result


def run_child(persons: int, repeats: int) -> dict:
    """One size in a fresh interpreter with its own lakehouse, sources and Airflow home."""
    args = ["--child", str(persons), "--repeats", str(repeats)]
    return {"persons": persons, **in_fresh_interpreter("benchmarks.run", str(persons), args)}


def best(entries: list[dict]) -> dict | None:
    """The fastest run of a table that did not fail, or None when every run failed."""
    ok = [e for e in entries if not e.get("error")]
    return min(ok, key=lambda e: e["seconds"]) if ok else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def per_million(seconds: float | None, rows: int | None) -> float | None:
    return seconds / rows * MILLION if seconds is not None and rows else None


def summarize_table(result: dict, key: str) -> dict:
    """Best-of-N raw and ODS seconds of one table, its ratio and the ODS throughput."""
    raw = best([r["raw"]["tables"][key] for r in result["rounds"]])
    ods = best([r["ods"]["tables"][key] for r in result["rounds"]])
    errors = [r[phase]["tables"][key]["error"] for r in result["rounds"] for phase in PHASES]
    rows = ods["rows_read"] if ods else None
    raw_s, ods_s = raw and raw["seconds"], ods and ods["seconds"]
    return {
        "source": result["tables"][key],
        "rows_in_source": result["manifest_rows"][key],
        "rows_read": rows,
        "rows_written": ods and ods["rows_written"],
        "rows_rejected": ods and ods["rows_rejected"],
        "raw_rows": result["raw_rows"][key],
        "raw_seconds": raw_s,
        "ods_seconds": ods_s,
        "ratio": ratio(ods_s, raw_s),
        "ods_rows_per_second": ratio(rows, ods_s),
        "status": ods["status"] if ods else "failed",
        "error": next((e for e in errors if e), None),
    }


def summarize(result: dict) -> dict:
    """Per-table and overall figures of one size (overall = the best round's phase total)."""
    if "rounds" not in result:
        return {"persons": result["persons"], "error": result.get("error")}
    tables = {key: summarize_table(result, key) for key in result["tables"]}
    rows = sum(t["rows_read"] or 0 for t in tables.values())
    raw_s = min(r["raw"]["seconds"] for r in result["rounds"])
    ods_s = min(r["ods"]["seconds"] for r in result["rounds"])
    return {
        "persons": result["persons"],
        "generate_seconds": result["generate_seconds"],
        "spark_start_seconds": result["spark_start_seconds"],
        "size_process_seconds": result["child_seconds"],
        "load_average_1min": result["load_average_1min"],
        "rows_read": rows,
        "raw_seconds": raw_s,
        "ods_seconds": ods_s,
        "ratio": ratio(ods_s, raw_s),
        "ods_rows_per_second": ratio(rows, ods_s),
        "raw_seconds_per_million_rows": per_million(raw_s, rows),
        "ods_seconds_per_million_rows": per_million(ods_s, rows),
        "round_seconds": [
            {"order": r["order"], "raw": r["raw"]["seconds"], "ods": r["ods"]["seconds"]}
            for r in result["rounds"]
        ],
        "tables": tables,
    }


def marginal(small: dict, large: dict, key: str) -> tuple[float | None, float | None]:
    """Seconds per extra 1M rows between two sizes, and the fixed cost that line implies."""
    per_m = per_million(large[key] - small[key], large["rows_read"] - small["rows_read"])
    fixed = None if per_m is None else small[key] - per_m * small["rows_read"] / MILLION
    return per_m, fixed


def growth(summaries: list[dict]) -> list[dict]:
    """How cost grows from each size to the next, against how the rows grow."""
    done = sorted((s for s in summaries if "tables" in s), key=lambda s: s["persons"])
    out = []
    for small, large in zip(done, done[1:], strict=False):
        raw_m, raw_fixed = marginal(small, large, "raw_seconds")
        ods_m, ods_fixed = marginal(small, large, "ods_seconds")
        out.append(
            {
                "from_persons": small["persons"],
                "to_persons": large["persons"],
                "row_factor": ratio(large["rows_read"], small["rows_read"]),
                "raw_time_factor": ratio(large["raw_seconds"], small["raw_seconds"]),
                "ods_time_factor": ratio(large["ods_seconds"], small["ods_seconds"]),
                "raw_marginal_seconds_per_million_rows": raw_m,
                "ods_marginal_seconds_per_million_rows": ods_m,
                "raw_fixed_seconds": raw_fixed,
                "ods_fixed_seconds": ods_fixed,
            }
        )
    return out


def dagbag(n_sources: int) -> dict:
    """benchmarks.dagbag_parse.measure(n) in a fresh interpreter, or why it could not run."""
    if importlib.util.find_spec("benchmarks.dagbag_parse") is None:
        return {"status": "missing", "n_sources": n_sources}
    code = (
        "import json; from benchmarks.dagbag_parse import measure; "
        f"print(json.dumps(measure({n_sources})))"
    )
    run = partial(
        subprocess.run,
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds, done, error = timed(run)
    if error or done.returncode != 0:
        detail = error or (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        status = "missing" if "cannot import name 'measure'" in detail else "failed"
        return {"status": status, "n_sources": n_sources, "error": detail}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"status": "measured", "benchmark_seconds": round(seconds, 1), **result}


def fmt(value, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def print_size(summary: dict) -> None:
    if "tables" not in summary:
        console.print(f"[red]{summary['persons']:,} persons failed:[/] {summary['error']}")
        return
    table = Table(
        title=f"{summary['persons']:,} persons: ODS load vs raw Parquet copy (best of rounds)"
    )
    for name in (
        "table",
        "source",
        "rows read",
        "raw copy s",
        "ODS load s",
        "ratio",
        "ODS rows/s",
        "status",
    ):
        table.add_column(name, justify="left" if name in ("table", "source", "status") else "right")
    for key, t in summary["tables"].items():
        status = t["status"] if not t["error"] else f"[red]{t['status']}: {t['error'][:60]}[/]"
        table.add_row(
            key,
            t["source"],
            fmt(t["rows_read"], "{:,}"),
            fmt(t["raw_seconds"]),
            fmt(t["ods_seconds"]),
            fmt(t["ratio"], "{:.1f}x"),
            fmt(t["ods_rows_per_second"], "{:,.0f}"),
            status,
        )
    table.add_section()
    table.add_row(
        "overall",
        "",
        fmt(summary["rows_read"], "{:,}"),
        fmt(summary["raw_seconds"]),
        fmt(summary["ods_seconds"]),
        fmt(summary["ratio"], "{:.1f}x"),
        fmt(summary["ods_rows_per_second"], "{:,.0f}"),
        "",
    )
    console.print(table)
    console.print(
        f"  generation {summary['generate_seconds']:.1f}s, "
        f"Spark start {summary['spark_start_seconds']:.1f}s, "
        f"whole size {summary['size_process_seconds']:.0f}s; 1-min load average "
        f"{summary['load_average_1min'][0]:.1f} before the rounds, "
        f"{summary['load_average_1min'][1]:.1f} after, on {os.cpu_count()} CPUs"
    )


def print_growth(summaries: list[dict], steps: list[dict]) -> None:
    table = Table(title="Cost per million rows read, and its growth with size")
    for name in ("persons", "rows read", "raw s / 1M rows", "ODS s / 1M rows", "ratio"):
        table.add_column(name, justify="right")
    for s in summaries:
        if "tables" in s:
            table.add_row(
                f"{s['persons']:,}",
                f"{s['rows_read']:,}",
                fmt(s["raw_seconds_per_million_rows"]),
                fmt(s["ods_seconds_per_million_rows"]),
                fmt(s["ratio"], "{:.1f}x"),
            )
    console.print(table)
    for g in steps:
        console.print(
            f"  {g['from_persons']:,} -> {g['to_persons']:,} persons: "
            f"rows x{fmt(g['row_factor'])}, raw copy time x{fmt(g['raw_time_factor'])}, "
            f"ODS load time x{fmt(g['ods_time_factor'])}"
        )
        console.print(
            f"    per extra 1M rows: raw copy {fmt(g['raw_marginal_seconds_per_million_rows'])}s, "
            f"ODS load {fmt(g['ods_marginal_seconds_per_million_rows'])}s; implied fixed cost "
            f"raw {fmt(g['raw_fixed_seconds'])}s, ODS {fmt(g['ods_fixed_seconds'])}s"
        )


def print_dagbag(result: dict) -> None:
    if result["status"] != "measured":
        console.print(
            f"DagBag parse ({result['n_sources']} sources): "
            f"[yellow]{result['status']}[/] {result.get('error', '')}"
        )
        return
    console.print(
        f"DagBag parse of dags/ with {result['n_sources']} sources: "
        f"median {result['parse_seconds_median']}s cold "
        f"({result['dags']} DAGs, {result['tasks']} tasks), "
        f"warm re-parse {result['warm_reparse_seconds_median']}s"
    )


def python_path() -> str:
    """This interpreter as the user would type it (.venv/bin/python inside the project)."""
    path = Path(sys.executable)
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def environment() -> dict:
    from govlake.settings import settings

    cfg = settings()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyspark": version("pyspark"),
        "delta_spark": version("delta-spark"),
        "spark_master": cfg.spark_master,
        "driver_memory": cfg.driver_memory,
        "shuffle_partitions": cfg.shuffle_partitions,
        "jdbc_partitions": cfg.jdbc_partitions,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_size(args.child, Path(args.workdir), args.repeats, Path(args.out))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeats = args.repeats or (1 if args.quick else REPEATS)
    started = dt.datetime.now()
    summaries = []
    for persons in sizes:
        console.rule(f"{persons:,} persons, {repeats} round(s)")
        summaries.append(summarize(run_child(persons, repeats)))
        print_size(summaries[-1])
    steps = growth(summaries)
    print_growth(summaries, steps)
    if args.quick:
        parse = {"status": "skipped (--quick)", "n_sources": DAGBAG_SOURCES}
    else:
        with console.status(f"DagBag parse of dags/ with {DAGBAG_SOURCES} generated sources ..."):
            parse = dagbag(DAGBAG_SOURCES)
    print_dagbag(parse)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([python_path(), "-m", "benchmarks.run", *sys.argv[1:]]),
        "repeats": repeats,
        "environment": environment(),
        "sizes": summaries,
        "growth": steps,
        "dagbag": parse,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"Results: {path}")
    return 0 if all("tables" in s for s in summaries) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", help=f"persons per size (default {DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES}, one round, no DagBag parse"
    )
    parser.add_argument(
        "--repeats", type=int, help=f"rounds per size, best taken (default {REPEATS})"
    )
    for hidden in ("--child", "--workdir", "--out"):
        parser.add_argument(
            hidden, type=int if hidden == "--child" else str, help=argparse.SUPPRESS
        )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
