"""Benchmark: base-library and theme builds (full and second night) and check-ids throughput.

Usage: python -m benchmarks.libraries [--sizes 100000 1000000] [--quick] [--id-values N]
Each size, and the identifier check, runs in a fresh interpreter with its own temporary
lakehouse and sources folder (helpers shared with benchmarks/run.py). Timings are reported
and saved to benchmarks/results/libraries-<timestamp>.json, never asserted; see
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import shutil
import sys
import time
from functools import partial
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.run import (
    RESULTS_DIR,
    Steps,
    console,
    environment,
    fmt,
    in_fresh_interpreter,
    physical_tables,
    python_path,
    ratio,
    run_ods,
    timed,
    uptime,
)

DEFAULT_SIZES = [100_000, 1_000_000]
QUICK_SIZES = [10_000, 50_000]
ID_VALUES = 1_000_000
QUICK_ID_VALUES = 100_000
CHANGED_FRACTION = 0.01
SAMPLE_SEED = 20261126  # generate_sources' default seed; the increment must use the same pools
INVALID_SHARE = 0.2
SPARK_REPEATS = 2
REWRITE_METRICS = ("numTargetRowsUpdated", "numTargetRowsInserted", "numTargetRowsCopied")


# --- one size, in its own interpreter -------------------------------------------------------


def libraries_in_order(only: list[str] | None = None) -> list:
    """The base libraries in build order; `only`: these and the libraries they link to (a
    link is read by the build, so it is built first, as the night does)."""
    from govlake.libraries import build_order, load_libraries

    libs = build_order(load_libraries())
    if not only:
        return libs
    wanted, unknown = set(only), set(only) - {lib.library for lib in libs}
    if unknown:
        raise SystemExit(
            f"--libraries: no library {sorted(unknown)}; known: {[x.library for x in libs]}"
        )
    for lib in reversed(libs):
        if lib.library in wanted:
            wanted |= set(lib.links)
    return [lib for lib in libs if lib.library in wanted]


def themes_in_order(libs: list) -> list:
    """The themes in dependency order whose base-library inputs are all among `libs`."""
    from govlake.themes import build_order, load_themes

    built = {lib.table for lib in libs}
    themes, kept = build_order(load_themes()), set()
    for theme in themes:
        reads = {t for t in theme.inputs if t.startswith(("base.", "theme."))}
        if all(t in built or t in kept for t in reads):
            kept.add(theme.table)
    return [theme for theme in themes if theme.table in kept]


def run_theme_builds(spark, themes, day: dt.date, night: str, steps: Steps) -> dict:
    """jobs.theme.build_theme for every theme in dependency order, each timed."""
    from jobs.theme import build_theme

    results = {}
    for theme in themes:
        steps.start(f"{night} build  {theme.table}")
        run_id = f"bench__{night}__{theme.theme}"
        seconds, value, error = timed(partial(build_theme, theme.theme, day, run_id, spark))
        results[theme.theme] = {"seconds": seconds, "error": error, **(value or {})}
        steps.done()
    return results


def run_plain_themes(spark, cfg, themes, day: dt.date, out: Path, steps: Steps) -> dict:
    """Baseline: the same SQL over the same inputs (jobs.theme.result binds them), written
    to Parquet. No key check, row hash, validation, diff or MERGE."""
    from jobs.theme import result

    results = {}
    for theme in themes:
        steps.start(f"baseline  {theme.table} (Spark SQL -> Parquet)")

        def plain(theme=theme):
            result(spark, cfg, theme, day).write.mode("overwrite").parquet(str(out / theme.theme))

        seconds, _, error = timed(plain)
        results[theme.theme] = {"seconds": seconds, "error": error}
        steps.done()
    return results


def naive_library(spark, cfg, lib, out: Path) -> None:
    """Baseline: each ODS input read plainly, grouped by its key (first value of every
    column), written to Parquet. No standardization, checks, resolution, history or MERGE."""
    from pyspark.sql import functions as F

    from govlake.lakehouse import Table as LakeTable

    for name, source in lib.inputs.items():
        df = LakeTable.parse(source.table).read(spark, cfg)
        if source.where:
            df = df.where(source.where)
        columns = [c for c in dict.fromkeys(source.columns.values()) if c != source.key]
        grouped = df.groupBy(source.key).agg(*[F.first(c).alias(c) for c in columns])
        grouped.write.mode("overwrite").parquet(str(out / f"{lib.library}__{name}"))


def run_baseline(spark, cfg, libs, out: Path, steps: Steps) -> dict:
    results = {}
    for lib in libs:
        steps.start(f"baseline  {lib.library}")
        seconds, _, error = timed(partial(naive_library, spark, cfg, lib, out))
        results[lib.library] = {"seconds": seconds, "error": error}
        steps.done()
    return results


def run_builds(spark, libs, day: dt.date, night: str, steps: Steps) -> dict:
    """jobs.library.build_library for every library in build order, each timed."""
    from jobs.library import build_library

    results = {}
    for lib in libs:
        steps.start(f"{night} build  base.{lib.library}")
        run_id = f"bench__{night}__{lib.library}"
        build = partial(build_library, lib.library, day, run_id, spark=spark)
        seconds, value, error = timed(build)
        results[lib.library] = {"seconds": seconds, "error": error, "run_id": run_id}
        results[lib.library].update(value or {})
        steps.done()
    return results


def redeliver_files(cfg, tables, day: dt.date, next_day: dt.date) -> list[str]:
    """The file departments deliver a full snapshot every night; generate_increment writes the
    next-day files of the credit and hazchem departments (with their changes), and every other
    next-day file is today's, unchanged, under the next name."""
    from jobs.readers import resolve_file

    copied = []
    for source, spec in tables:
        if spec.file:
            path = resolve_file(source, spec, day, cfg).path
            target = path.parent / spec.file.format(ds=next_day.strftime("%Y%m%d"))
            if not target.exists():  # written by generate_increment: keep tonight's changes
                shutil.copyfile(path, target)
                copied.append(target.name)
    return copied


def history_metrics(spark, table, version: int, cfg=None) -> dict | None:
    """The operation and numeric operationMetrics of one version of a lakehouse table
    (govlake.lakehouse.Table), from its Delta history, with rewritten_rows = rows updated +
    inserted + copied (unchanged rows a MERGE had to rewrite as they share a file with a
    changed one)."""
    rows = table.history(spark, cfg).where(f"version = {int(version)}")
    row = rows.select("operation", "operationMetrics").first()
    if row is None:
        return None
    metrics = {k: int(v) for k, v in (row["operationMetrics"] or {}).items() if v.isdigit()}
    rewritten = sum(metrics.get(k, 0) for k in REWRITE_METRICS)
    return {"operation": row["operation"], "metrics": metrics, "rewritten_rows": rewritten}


def reported_changed_keys(spark, cfg, run_id: str) -> int | None:
    """changed_keys of one build as recorded in ops.library_runs."""
    from pyspark.sql import functions as F

    from govlake.owned import LIBRARY_RUNS

    runs = LIBRARY_RUNS.table.read(spark, cfg)
    return runs.where(F.col("run_id") == run_id).agg(F.max("changed_keys")).first()[0]


def merge_cost(spark, cfg, build: dict) -> dict:
    """Rewritten rows per changed key of one second-night build."""
    from govlake.lakehouse import Table as LakeTable

    changed = reported_changed_keys(spark, cfg, build["run_id"])
    history = None
    if changed and build.get("delta_version") is not None:
        table = LakeTable.parse(build["library"])
        history = history_metrics(spark, table, build["delta_version"], cfg)
    rewritten = history and history["operation"] == "MERGE" and history["rewritten_rows"]
    return {
        "changed_keys": changed,
        "history": history,
        "rewritten_rows": rewritten or None,
        "rewritten_per_changed_key": ratio(rewritten or None, changed),
    }


def progress_bar() -> Progress:
    columns = [
        TextColumn("  {task.description:<48}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=console)


def phase(action) -> dict:
    """Seconds of a whole phase and its per-item results."""
    start = time.perf_counter()
    items = action()
    return {"seconds": time.perf_counter() - start, "items": items}


def first_night(spark, cfg, tables, libs, themes, workdir: Path, steps: Steps) -> dict:
    day = cfg.demo_logical_date
    plain = workdir / "plain_themes"
    return {
        "ods": phase(lambda: run_ods(spark, tables, day, "bench__night1", steps)),
        "baseline": phase(lambda: run_baseline(spark, cfg, libs, workdir / "naive", steps)),
        "build": phase(lambda: run_builds(spark, libs, day, "night1", steps)),
        "themes": phase(lambda: run_theme_builds(spark, themes, day, "night1", steps)),
        # After the builds: a theme reading another theme reads the table just built.
        "themes_baseline": phase(lambda: run_plain_themes(spark, cfg, themes, day, plain, steps)),
    }


def next_night(spark, cfg, tables, libs, themes, steps: Steps, number: int) -> dict:
    """Night `number` (2, 3): a 1% increment for its day, the ODS load, every build (each
    chooses full or incremental itself, jobs.library.choice) and the MERGE cost of each."""
    from govlake.sample import generate_increment

    day = cfg.demo_logical_date + dt.timedelta(days=number - 2)
    next_day = day + dt.timedelta(days=1)
    steps.start(f"increment {CHANGED_FRACTION:.0%} for {next_day}")
    seconds, changes, error = timed(
        lambda: generate_increment(cfg.sources_root, next_day, SAMPLE_SEED, CHANGED_FRACTION)
    )
    copied = redeliver_files(cfg, tables, day, next_day)
    steps.done()
    name = f"night{number}"
    night = {
        "logical_date": str(next_day),
        "increment": {"seconds": seconds, "error": error, "changes": changes, "copied": copied},
        "ods": phase(lambda: run_ods(spark, tables, next_day, f"bench__{name}", steps)),
        "build": phase(lambda: run_builds(spark, libs, next_day, name, steps)),
        "themes": phase(lambda: run_theme_builds(spark, themes, next_day, name, steps)),
    }
    night["merge"] = {
        name: merge_cost(spark, cfg, build)
        for name, build in night["build"]["items"].items()
        if not build["error"]
    }
    return night


def run_size(
    persons: int, workdir: Path, out: Path, only: list[str] | None = None, nights: int = 3
) -> None:
    """Generate, load the first night, baseline and full build, then the next nights (the
    third is the first whose build can choose from a recorded incremental night)."""
    from govlake.demo import sample_interfaces
    from govlake.sample import generate_sources
    from govlake.settings import settings
    from govlake.spark import get_spark

    cfg = settings()
    with console.status(f"Generating sample sources for {persons:,} persons ..."):
        gen_seconds, _, _ = timed(
            lambda: generate_sources(cfg.sources_root, persons, cfg.demo_logical_date)
        )
    console.print(f"  sources generated in {gen_seconds:.1f}s (not timed in any ratio)")
    spark_seconds, spark, _ = timed(lambda: get_spark(cfg, app_name="govlake-bench-libraries"))
    console.print(f"  Spark started in {spark_seconds:.1f}s (not timed)")
    libs = libraries_in_order(only)
    themes = themes_in_order(libs)
    inputs = {source.table for lib in libs for source in lib.inputs.values()}
    inputs |= {table for theme in themes for table in theme.inputs}
    tables = [(s, t) for s, t in physical_tables() if s.ods_table(t) in inputs]
    load_before = os.getloadavg()[0]
    # The 双公示 interface is served while the nights run, as the demo serves it.
    with progress_bar() as progress, sample_interfaces(cfg, console):
        per_night = len(tables) + len(libs) + len(themes) + 1
        steps = Steps(progress, total=nights * per_night - 1 + len(libs) + len(themes))
        result = {
            "persons": persons,
            "logical_date": str(cfg.demo_logical_date),
            "generate_seconds": gen_seconds,
            "spark_start_seconds": spark_seconds,
            "night1": first_night(spark, cfg, tables, libs, themes, workdir, steps),
        }
        for number in range(2, nights + 1):
            result[f"night{number}"] = next_night(spark, cfg, tables, libs, themes, steps, number)
        steps.start("done")
    result["load_average_1min"] = [load_before, os.getloadavg()[0]]
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark.stop()
    out.write_text(json.dumps(result, default=str), encoding="utf-8")


# --- check-ids throughput, in its own interpreter --------------------------------------------


def _ric(rng: random.Random, districts: list[str]) -> str:
    from govlake.sample.identifiers import ric_number, wrong_check

    # Born after 1990, when every Ezhou district code existed (stdnum checks code by year).
    birth = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(12_000))
    value = ric_number(rng.choice(districts), f"{birth:%Y%m%d}", rng.randrange(1000))
    if rng.random() >= INVALID_SHARE:
        return value
    if rng.random() < 0.5:
        return wrong_check(value, "0123456789X", rng)
    return ric_number(value[:6], f"{birth:%Y}13{birth:%d}", rng.randrange(1000))  # no month 13


def _uscc_valid(rng: random.Random, districts: list[str]) -> str:
    from govlake.sample.identifiers import org_code, random_org_body, uscc_number

    return uscc_number("9", "1", rng.choice(districts), org_code(random_org_body(rng)))


def _uscc(rng: random.Random, districts: list[str]) -> str:
    from govlake.sample.identifiers import USCC_ALPHABET, wrong_check

    value = _uscc_valid(rng, districts)
    if rng.random() >= INVALID_SHARE:
        return value
    if rng.random() < 0.5:
        return wrong_check(value, USCC_ALPHABET, rng)
    return value[:12] + rng.choice("IOSVZ") + value[13:]  # letters GB 32100 forbids


def _cert(rng: random.Random, districts: list[str], types: list[str]) -> str:
    from govlake.sample.identifiers import ecert_id, wrong_check

    serial = f"{rng.randrange(2010, 2027)}{rng.randrange(10**8):08d}"
    value = ecert_id(rng.choice(types), _uscc_valid(rng, districts), serial)
    if rng.random() >= INVALID_SHARE:
        return value
    return wrong_check(value, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", rng)


def id_values(kind: str, count: int, seed: int = SAMPLE_SEED) -> list[str]:
    """`count` identifiers of one kind, ~80% valid, built with govlake.sample's helpers;
    invalid ones have a wrong check character, an impossible date or a forbidden letter."""
    from govlake.sample.config import load_config

    config = load_config()
    rng = random.Random(f"{seed}:check-ids:{kind}")
    districts = sorted(config.districts)
    make = {
        "ric": partial(_ric, rng, districts),
        "uscc": partial(_uscc, rng, districts),
        "cert": partial(_cert, rng, districts, [t["code"] for t in config.certificate_types]),
    }[kind]
    return [make() for _ in range(count)]


def stdnum_checks() -> dict:
    """python-stdnum's validity test per kind (the oracle of tests/test_identifiers.py)."""
    from stdnum.cn import ric, uscc
    from stdnum.iso7064 import mod_37_36

    from jobs.identifiers import CERT_ROOT

    def ric_valid(value: str) -> bool:
        try:
            return ric.is_valid(value)
        except KeyError:  # stdnum 2.2 raises it for some 18-character strings
            return False

    def cert_valid(value: str) -> bool:
        rest = value[len(CERT_ROOT) :].replace(".", "")
        return value.startswith(CERT_ROOT) and mod_37_36.is_valid(rest)

    return {"ric": ric_valid, "uscc": uscc.is_valid, "cert": cert_valid}


def spark_checks() -> dict:
    """The Spark expressions, without the embedded organisation-code check (GB 11714) that
    stdnum does not make, so both sides check the same thing. The library build does make it:
    a USCC key whose organisation code fails its check is quarantined (bad_org_code_check)."""
    from jobs import identifiers

    return {
        "ric": identifiers.ric_check,
        "uscc": partial(identifiers.uscc_check, check_org_code=False),
        "cert": partial(identifiers.cert_check, check_org_code=False),
    }


def spark_pass(df, column) -> tuple[float, int]:
    """Seconds and result of one aggregate over every row (forces full evaluation)."""
    from pyspark.sql import functions as F

    seconds, row, _ = timed(lambda: df.agg(F.count_if(column)).first())
    return seconds, row[0]


def measure_kind(spark, kind: str, count: int, workdir: Path) -> dict:
    """Python-stdnum over an in-memory list against the Spark expression over a cached
    DataFrame of the same values (read from a text file; caching not timed)."""
    from pyspark.sql import functions as F

    gen_seconds, values, _ = timed(lambda: id_values(kind, count))
    path = workdir / f"{kind}.txt"
    path.write_text("\n".join(values) + "\n", encoding="utf-8")
    check = stdnum_checks()[kind]
    py_seconds, py_valid, _ = timed(lambda: sum(map(check, values)))
    df = spark.read.text(str(path)).cache()
    cache_seconds, rows, _ = timed(df.count)
    scans = [spark_pass(df, F.length("value") > 0) for _ in range(SPARK_REPEATS)]
    spark_check = spark_checks()[kind]
    checks = [spark_pass(df, spark_check("value")["valid"]) for _ in range(SPARK_REPEATS)]
    df.unpersist()
    spark_seconds = min(s for s, _ in checks)
    return {
        "values": count,
        "rows_in_spark": rows,
        "generate_seconds": gen_seconds,
        "stdnum_seconds": py_seconds,
        "stdnum_valid": py_valid,
        "spark_cache_seconds": cache_seconds,
        "spark_scan_seconds": [s for s, _ in scans],
        "spark_check_seconds": [s for s, _ in checks],
        "spark_valid": checks[0][1],
        "stdnum_values_per_second": ratio(count, py_seconds),
        "spark_values_per_second": ratio(count, spark_seconds),
        "spark_over_stdnum": ratio(py_seconds, spark_seconds),
    }


def run_ids(count: int, workdir: Path, out: Path) -> None:
    from govlake.settings import settings
    from govlake.spark import get_spark

    load_before = os.getloadavg()[0]
    with console.status("Starting Spark for check-ids (timed separately) ..."):
        start_seconds, spark, _ = timed(lambda: get_spark(settings(), tables=set()))
    result = {"spark_start_seconds": start_seconds, "kinds": {}}
    for kind in ("ric", "uscc", "cert"):
        with console.status(f"check-ids {kind}: {count:,} values, stdnum then Spark ..."):
            result["kinds"][kind] = measure_kind(spark, kind, count, workdir)
    result["load_average_1min"] = [load_before, os.getloadavg()[0]]
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark.stop()
    out.write_text(json.dumps(result, default=str), encoding="utf-8")


# --- the driver ------------------------------------------------------------------------------


def total(items: dict) -> float | None:
    """Sum of item seconds, or None when one failed."""
    if any(i.get("error") for i in items.values()):
        return None
    return sum(i["seconds"] for i in items.values())


def summarize_library(name: str, night1: dict, night2: dict) -> dict:
    base = night1["baseline"]["items"][name]
    full, second = night1["build"]["items"][name], night2["build"]["items"][name]
    merge = night2["merge"].get(name, {})
    history = merge.get("history") or {}
    errors = [x["error"] for x in (base, full, second) if x["error"]]
    return {
        "baseline_seconds": base["seconds"],
        "full_build_seconds": full["seconds"],
        "build_over_baseline": ratio(full["seconds"], base["seconds"]),
        "keys": full.get("keys"),
        "second_build_seconds": second["seconds"],
        "second_over_full": ratio(second["seconds"], full["seconds"]),
        # CPU seconds each build recorded (govlake.cpu), which the load does not inflate.
        "full_build_cpu_seconds": full.get("build_cpu_seconds"),
        "second_build_cpu_seconds": second.get("build_cpu_seconds"),
        "changed_keys": merge.get("changed_keys"),
        # How the second night built (full / incremental / unchanged) and why, as recorded.
        "second_mode": second.get("mode"),
        "second_reason": second.get("reason"),
        "merge_operation": history.get("operation"),
        "merge_metrics": history.get("metrics"),
        "rewritten_rows": merge.get("rewritten_rows"),
        "rewritten_per_changed_key": merge.get("rewritten_per_changed_key"),
        "notes": [i["note"] for i in second.get("inputs", []) if i.get("note")],
        "error": errors[0] if errors else None,
    }


def summarize_later(full: dict, later: dict | None, merge: dict | None = None) -> dict:
    """A night after the second (the third: the first that can choose from a recorded
    incremental night): its seconds against the full build, mode, reason, changed keys."""
    if later is None:
        return {}
    return {
        "third_build_seconds": later["seconds"],
        "third_over_full": ratio(later["seconds"], full["seconds"]),
        "third_build_cpu_seconds": later.get("build_cpu_seconds"),
        "third_changed_keys": (merge or {}).get("changed_keys", later.get("changed_keys")),
        "third_mode": later.get("mode"),
        "third_reason": later.get("reason"),
        "third_phase_seconds": later.get("phase_seconds"),
        "third_error": later.get("error"),
    }


def summarize_theme(name: str, night1: dict, night2: dict) -> dict:
    plain = night1["themes_baseline"]["items"][name]
    full, second = night1["themes"]["items"][name], night2["themes"]["items"][name]
    errors = [x["error"] for x in (plain, full, second) if x["error"]]
    return {
        "rows": full.get("rows"),
        "refresh": full.get("refresh"),
        "plain_sql_seconds": plain["seconds"],
        "full_build_seconds": full["seconds"],
        "build_over_plain": ratio(full["seconds"], plain["seconds"]),
        "second_build_seconds": second["seconds"],
        "second_over_full": ratio(second["seconds"], full["seconds"]),
        "changed_keys": second.get("changed_keys"),
        "removed_keys": second.get("removed_keys"),
        "second_mode": second.get("mode"),
        "second_reason": second.get("reason"),
        # Wall seconds per phase (jobs.theme_cost.Laps): plan, model, diff, write (the
        # validation and MERGE), summary.
        "full_phase_seconds": full.get("phase_seconds"),
        "second_phase_seconds": second.get("phase_seconds"),
        "error": errors[0] if errors else None,
    }


def summarize_themes(night1: dict, night2: dict, night3: dict | None = None) -> dict:
    if "themes" not in night1:
        return {}
    names = night1["themes"]["items"]
    themes = {name: summarize_theme(name, night1, night2) for name in names}
    for name, theme in themes.items():
        third = night3 and night3["themes"]["items"].get(name)
        theme.update(summarize_later(night1["themes"]["items"][name], third))
    full, plain = total(night1["themes"]["items"]), total(night1["themes_baseline"]["items"])
    second = total(night2["themes"]["items"])
    return {
        "themes": themes,
        "themes_plain_seconds": plain,
        "themes_full_seconds": full,
        "themes_build_over_plain": ratio(full, plain),
        "themes_second_seconds": second,
        "themes_second_over_full": ratio(second, full),
        **later_totals(night3, "themes", full),
    }


def later_totals(night3: dict | None, phase_name: str, full: float | None) -> dict:
    """The third night's sum over libraries or themes, and its share of the full builds."""
    if night3 is None:
        return {}
    third = total(night3[phase_name]["items"])
    prefix = "" if phase_name == "build" else "themes_"
    return {f"{prefix}third_seconds": third, f"{prefix}third_over_full": ratio(third, full)}


def summarize(result: dict) -> dict:
    if "night1" not in result:
        return {"persons": result["persons"], "error": result.get("error")}
    night1, night2, night3 = result["night1"], result["night2"], result.get("night3")
    libraries = {name: summarize_library(name, night1, night2) for name in night1["build"]["items"]}
    for name, lib in libraries.items():
        third = night3 and night3["build"]["items"].get(name)
        merge = night3 and night3["merge"].get(name)
        lib.update(summarize_later(night1["build"]["items"][name], third, merge))
    full, base = total(night1["build"]["items"]), total(night1["baseline"]["items"])
    second = total(night2["build"]["items"])
    return {
        "persons": result["persons"],
        "generate_seconds": result["generate_seconds"],
        "spark_start_seconds": result["spark_start_seconds"],
        "size_process_seconds": result["child_seconds"],
        "load_average_1min": result["load_average_1min"],
        "ods_night1_seconds": night1["ods"]["seconds"],
        "ods_night2_seconds": night2["ods"]["seconds"],
        "ods_night3_seconds": night3 and night3["ods"]["seconds"],
        "increment": night2["increment"],
        # A load that failed leaves its library or theme without an input: say which.
        "ods_errors": {
            f"{night}:{table}": load["error"]
            for night, ods in (
                (n, result[n]["ods"]) for n in ("night1", "night2", "night3") if n in result
            )
            for table, load in ods["items"].items()
            if load.get("error")
        },
        "baseline_seconds": base,
        "full_build_seconds": full,
        "build_over_baseline": ratio(full, base),
        "second_build_seconds": second,
        "second_over_full": ratio(second, full),
        "libraries": libraries,
        **later_totals(night3, "build", full),
        **summarize_themes(night1, night2, night3),
    }


def print_size(s: dict) -> None:
    if "libraries" not in s:
        console.print(f"[red]{s['persons']:,} persons failed:[/] {s['error']}")
        return
    table = Table(title=f"{s['persons']:,} persons: base-library builds")
    headers = ("library", "keys", "baseline s", "full build s", "ratio", "2nd night s")
    headers += ("2nd/full", "changed keys", "rewritten rows", "rewritten/changed")
    headers += ("3rd night s", "3rd/full", "3rd mode")
    for name in headers:
        table.add_column(name, justify="left" if name in ("library", "3rd mode") else "right")
    for name, lib in s["libraries"].items():
        table.add_row(*_library_cells(f"base.{name}", lib))
    table.add_section()
    table.add_row(
        "all three",
        "",
        fmt(s["baseline_seconds"]),
        fmt(s["full_build_seconds"]),
        fmt(s["build_over_baseline"], "{:.1f}x"),
        fmt(s["second_build_seconds"]),
        fmt(s["second_over_full"], "{:.0%}"),
        "",
        "",
        "",
        fmt(s.get("third_seconds")),
        fmt(s.get("third_over_full"), "{:.0%}"),
        "",
    )
    console.print(table)
    for name, lib in s["libraries"].items():
        cpu = [lib.get(f"{n}_build_cpu_seconds") for n in ("full", "second", "third")]
        console.print(
            f"  base.{name} CPU s (govlake.cpu): full {fmt(cpu[0])}, 2nd night {fmt(cpu[1])}, "
            f"3rd night {fmt(cpu[2])}",
            highlight=False,
        )
        if lib.get("third_reason"):
            console.print(f"  base.{name} 3rd night: {lib['third_reason']}", highlight=False)
        for problem in filter(None, [lib["error"], lib.get("third_error"), *lib["notes"]]):
            console.print(f"  [yellow]base.{name}:[/] {problem}", highlight=False)
    console.print(
        f"  ODS load night 1 {s['ods_night1_seconds']:.1f}s, night 2 "
        f"{s['ods_night2_seconds']:.1f}s; increment {s['increment']['seconds']:.1f}s; "
        f"generation {s['generate_seconds']:.1f}s, Spark start {s['spark_start_seconds']:.1f}s, "
        f"whole size {s['size_process_seconds']:.0f}s; 1-min load average "
        f"{s['load_average_1min'][0]:.1f} before, {s['load_average_1min'][1]:.1f} after"
    )


def print_themes(s: dict) -> None:
    if not s.get("themes"):
        return
    table = Table(title=f"{s['persons']:,} persons: theme builds vs the same SQL to Parquet")
    headers = ("theme", "rows", "plain SQL s", "full build s", "ratio", "2nd night s")
    headers += ("2nd/full", "changed keys", "2nd night mode", "3rd night s", "3rd/full")
    for name in headers:
        table.add_column(name, justify="left" if name in ("theme", "2nd night mode") else "right")
    for name, t in s["themes"].items():
        table.add_row(
            f"theme.{name}",
            fmt(t["rows"], "{:,}"),
            fmt(t["plain_sql_seconds"]),
            fmt(t["full_build_seconds"]),
            fmt(t["build_over_plain"], "{:.1f}x"),
            fmt(t["second_build_seconds"]),
            fmt(t["second_over_full"], "{:.0%}"),
            fmt(t["changed_keys"], "{:,}"),
            t["second_mode"] or "",
            fmt(t.get("third_build_seconds")),
            fmt(t.get("third_over_full"), "{:.0%}"),
        )
    table.add_section()
    table.add_row(
        "all themes",
        "",
        fmt(s["themes_plain_seconds"]),
        fmt(s["themes_full_seconds"]),
        fmt(s["themes_build_over_plain"], "{:.1f}x"),
        fmt(s["themes_second_seconds"]),
        fmt(s["themes_second_over_full"], "{:.0%}"),
        "",
        "",
        fmt(s.get("themes_third_seconds")),
        fmt(s.get("themes_third_over_full"), "{:.0%}"),
    )
    console.print(table)
    for name, t in s["themes"].items():
        nights = (("full", "full"), ("second", "2nd"), ("third", "3rd"))
        spent = [f"{label} {phases(t.get(f'{n}_phase_seconds'))}" for n, label in nights]
        console.print(f"  theme.{name} seconds by phase: {'; '.join(spent)}", highlight=False)
        if t["error"]:
            console.print(f"  [yellow]theme.{name}:[/] {t['error']}", highlight=False)


def phases(seconds: dict | None) -> str:
    """A build's phase seconds as `plan 1.2 model 3.4 ...`, or a dash when not recorded."""
    if not seconds:
        return "-"
    return " ".join(f"{name} {value:.1f}" for name, value in seconds.items())


def _library_cells(name: str, lib: dict) -> list[str]:
    return [
        name,
        fmt(lib["keys"], "{:,}"),
        fmt(lib["baseline_seconds"]),
        fmt(lib["full_build_seconds"]),
        fmt(lib["build_over_baseline"], "{:.1f}x"),
        fmt(lib["second_build_seconds"]),
        fmt(lib["second_over_full"], "{:.0%}"),
        fmt(lib["changed_keys"], "{:,}"),
        fmt(lib["rewritten_rows"], "{:,}"),
        fmt(lib["rewritten_per_changed_key"], "{:.1f}"),
        fmt(lib.get("third_build_seconds")),
        fmt(lib.get("third_over_full"), "{:.0%}"),
        lib.get("third_mode") or "",
    ]


def print_ids(result: dict) -> None:
    if "kinds" not in result:
        console.print(f"[red]check-ids benchmark failed:[/] {result.get('error')}")
        return
    table = Table(title="check-ids: Spark expression vs python-stdnum on the same values")
    headers = ("kind", "values", "stdnum s", "stdnum values/s", "Spark s (best)")
    headers += ("Spark values/s", "Spark/stdnum", "scan only s", "valid stdnum", "valid Spark")
    for name in headers:
        table.add_column(name, justify="left" if name == "kind" else "right")
    for kind, k in result["kinds"].items():
        table.add_row(
            kind,
            f"{k['values']:,}",
            fmt(k["stdnum_seconds"]),
            fmt(k["stdnum_values_per_second"], "{:,.0f}"),
            fmt(min(k["spark_check_seconds"])),
            fmt(k["spark_values_per_second"], "{:,.0f}"),
            fmt(k["spark_over_stdnum"], "{:.1f}x"),
            fmt(min(k["spark_scan_seconds"])),
            f"{k['stdnum_valid']:,}",
            f"{k['spark_valid']:,}",
        )
    console.print(table)
    console.print(
        f"  Spark session start {result['spark_start_seconds']:.1f}s (excluded); "
        f"1-min load average {result['load_average_1min'][0]:.1f} before, "
        f"{result['load_average_1min'][1]:.1f} after"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_size(args.child, Path(args.workdir), Path(args.out), args.libraries, args.nights)
        return 0
    if args.ids:
        run_ids(args.ids, Path(args.workdir), Path(args.out))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    values = args.id_values or (QUICK_ID_VALUES if args.quick else ID_VALUES)
    started, load_before = dt.datetime.now(), uptime()
    console.print(f"uptime before: {load_before}")
    summaries = []
    for persons in sizes:
        nights = f"{args.nights - 1} nights"
        console.rule(f"{persons:,} persons: full build, then {nights} with 1% changed")
        child_args = ["--child", str(persons), "--nights", str(args.nights)]
        if args.libraries:
            child_args += ["--libraries", *args.libraries]
        child = in_fresh_interpreter("benchmarks.libraries", str(persons), child_args)
        summaries.append(summarize({"persons": persons, **child}))
        print_size(summaries[-1])
        print_themes(summaries[-1])
        for where, error in summaries[-1].get("ods_errors", {}).items():
            console.print(f"  ODS load {where}: {error}")
    console.rule(f"check-ids throughput, {values:,} values per kind")
    ids = in_fresh_interpreter("benchmarks.libraries", "ids", ["--ids", str(values)])
    print_ids(ids)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([python_path(), "-m", "benchmarks.libraries", *sys.argv[1:]]),
        "uptime": [load_before, uptime()],
        "environment": environment(),
        "changed_fraction": CHANGED_FRACTION,
        "sizes": summaries,
        "check_ids": ids,
    }
    console.print(f"uptime after: {results['uptime'][1]}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"libraries-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"Results: {path}")
    return 0 if all("libraries" in s for s in summaries) and "kinds" in ids else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.libraries", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", help=f"persons per size (default {DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {QUICK_SIZES} and {QUICK_ID_VALUES:,} identifiers per kind",
    )
    parser.add_argument(
        "--libraries",
        nargs="+",
        help="only these base libraries (and those they link to), and the themes they feed",
    )
    parser.add_argument(
        "--nights",
        type=int,
        choices=(2, 3),
        default=3,
        help="nights per size (default 3: the third chooses full or incremental from the "
        "recorded second)",
    )
    parser.add_argument(
        "--id-values", type=int, help=f"identifiers per kind for check-ids (default {ID_VALUES:,})"
    )
    for hidden, kind in (("--child", int), ("--ids", int), ("--workdir", str), ("--out", str)):
        parser.add_argument(hidden, type=kind, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
