"""Benchmark: validation of the largest ods table as a share of its load, and its Spark jobs.

Usage: python -m benchmarks.quality [--sizes 20000 200000]
Each size runs in a fresh interpreter with its own lakehouse and sample sources. The table is
loaded with its committed suite (expectations/ods/<table>.yml); the validation step is timed
inside the same load and its Spark jobs counted. Target: validation < 25% of the load without
it. Then the same load runs again in another fresh interpreter with no suite at all, so the
validation's marginal cost shows too: a fresh process pays first-use costs (the first Delta
commit, code generation) in whichever step comes first, and validation comes first.
Results go to benchmarks/results/quality-<time>.json; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import uptime
from govlake.settings import PROJECT_ROOT

DEFAULT_SIZES = [20_000, 200_000]
TABLE = ("psb_hukou", "hj_resident")  # the largest ods table: one row per resident
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
DAY = dt.date(2026, 11, 26)


def cpu_seconds(spark) -> float:
    """CPU time used so far by this process and its Spark JVM (driver and executors, JIT and GC
    threads included): far less sensitive than wall time to other work on a shared machine."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # utime and stime are fields 14 and 15
    jvm = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return jvm + time.process_time()


def measure_without_suite(persons: int) -> dict:
    """Generate and load the table with no suite (nothing validated); child process."""
    from govlake.sample import generate_sources
    from govlake.settings import settings
    from govlake.spark import get_spark
    from jobs.ingest import load_table

    os.environ["GOVLAKE_EXPECTATIONS_DIR"] = tempfile.mkdtemp(prefix="govlake-no-suites-")
    cfg = settings()
    generate_sources(cfg.sources_root, persons, DAY)
    spark = get_spark(cfg, tables=set())
    tracker = spark.sparkContext.statusTracker()
    cpu, start = cpu_seconds(spark), time.perf_counter()
    out = load_table(*TABLE, DAY, spark=spark)
    return {
        "persons": persons,
        "rows_read": out["rows_read"],
        "load_without_suite_s": round(time.perf_counter() - start, 2),
        "load_without_suite_cpu_s": round(cpu_seconds(spark) - cpu, 2),
        "load_without_suite_jobs": len(tracker.getJobIdsForGroup(None)),
    }


def measure_one(persons: int) -> dict:
    """Generate, load the table with validation, and return the timings (child process)."""
    import jobs.quality as quality
    from govlake.sample import generate_sources
    from govlake.settings import settings
    from govlake.spark import get_spark
    from jobs.ingest import load_table

    cfg = settings()
    t0 = time.perf_counter()
    generate_sources(cfg.sources_root, persons, DAY)
    generated = time.perf_counter() - t0
    spark = get_spark(cfg, tables=set())
    sc = spark.sparkContext
    record: dict = {}
    inner = quality.validate

    def all_jobs() -> set[int]:
        # Validation runs jobs from two threads and only one carries a job group: count every
        # job the process ran (nothing else runs during validation).
        tracker = sc.statusTracker()
        return set(tracker.getJobIdsForGroup(None)) | set(tracker.getJobIdsForGroup("quality"))

    def timed_validate(*args, **kwargs):
        sc.setJobGroup("quality", "validation", interruptOnCancel=False)
        record["jobs_before"] = all_jobs()
        cpu, start = cpu_seconds(spark), time.perf_counter()
        try:
            outcome = inner(*args, **kwargs)
            record["phases"] = outcome.phases
            return outcome
        finally:
            record["validation_s"] = time.perf_counter() - start
            record["validation_cpu_s"] = cpu_seconds(spark) - cpu
            sc.setLocalProperty("spark.jobGroup.id", None)

    def timed_settle(outcome):
        # The results are appended while the table is written: only the wait for them after
        # that write adds to the load, and counts as validation.
        cpu, start = cpu_seconds(spark), time.perf_counter()
        try:
            return settle(outcome)
        finally:
            record["validation_s"] += time.perf_counter() - start
            record["validation_cpu_s"] += cpu_seconds(spark) - cpu
            quality_jobs = sc.statusTracker().getJobIdsForGroup("quality")
            record["validation_jobs"] = len(set(quality_jobs) - record["jobs_before"])

    # Warm up GX (imports, context) so the figure is the per-table cost of a nightly process.
    quality.build_data_docs(cfg)
    settle = quality.Outcome.settle
    quality.validate = timed_validate
    quality.Outcome.settle = timed_settle

    jobs_before = all_jobs()
    cpu, start = cpu_seconds(spark), time.perf_counter()
    out = load_table(*TABLE, DAY, spark=spark)
    load_s = time.perf_counter() - start
    load_cpu = cpu_seconds(spark) - cpu
    quality.validate = inner
    quality.Outcome.settle = settle
    without = load_s - record["validation_s"]
    load_jobs = len(all_jobs() - jobs_before)
    warm = validate_again(spark, cfg, out["ods_table"], all_jobs)
    return {
        "persons": persons,
        "table": out["ods_table"],
        "rows_read": out["rows_read"],
        "rows_written": out["rows_written"],
        "rows_quarantined": out["rows_quarantined"],
        "generate_s": round(generated, 2),
        "load_s": round(load_s, 2),
        "validation_s": round(record["validation_s"], 2),
        "load_without_validation_s": round(without, 2),
        "ratio": round(record["validation_s"] / without, 3),
        "share_of_load": round(record["validation_s"] / load_s, 3),
        "load_cpu_s": round(load_cpu, 2),
        "validation_cpu_s": round(record["validation_cpu_s"], 2),
        "cpu_ratio": round(record["validation_cpu_s"] / (load_cpu - record["validation_cpu_s"]), 3),
        "validation_jobs": record["validation_jobs"],
        "validation_phases_s": record.get("phases"),
        "load_jobs_total": load_jobs,
        **warm,
        "warm_ratio": round(warm["warm_validation_s"] / without, 3),
        "warm_cpu_ratio": round(
            warm["warm_validation_cpu_s"] / (load_cpu - record["validation_cpu_s"]), 3
        ),
    }


def validate_again(spark, cfg, table: str, all_jobs) -> dict:
    """Validate the batch just loaded once more in the same process (cached, as in the load):
    the cost once the process has paid its first-use costs (code generation, first commits)."""
    from pyspark.sql import functions as F

    import jobs.quality as quality
    from govlake.lakehouse import Table

    rows = Table.parse(table).read(spark, cfg)
    rows = rows.where(F.col("_batch_date") == F.lit(DAY)).persist()
    rows.count()
    batch = quality.Batch(table, "bench-warm", DAY, ["rec_id"], TABLE[0], "bench")
    before = all_jobs()
    cpu, start = cpu_seconds(spark), time.perf_counter()
    outcome = quality.validate(spark, cfg, quality.find_suite(table), rows, batch)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(spark) - cpu
    rows.unpersist()
    return {
        "warm_validation_s": round(seconds, 2),
        "warm_validation_cpu_s": round(cpu, 2),
        "warm_validation_jobs": len(all_jobs() - before),
        "warm_validation_phases_s": outcome.phases,
    }


def run_size(persons: int) -> dict:
    load_before = os.getloadavg()[0]
    row = _run_child(persons, "--child")
    if "error" not in row:
        plain = _run_child(persons, "--child-without-suite")
        row.update({k: v for k, v in plain.items() if k.startswith("load_without_suite")})
        if "load_without_suite_s" in plain:
            extra = row["load_s"] - plain["load_without_suite_s"]
            row["marginal_ratio"] = round(extra / plain["load_without_suite_s"], 3)
            extra = row["load_cpu_s"] - plain["load_without_suite_cpu_s"]
            row["marginal_cpu_ratio"] = round(extra / plain["load_without_suite_cpu_s"], 3)
    row["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return row


def _run_child(persons: int, mode: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="govlake-bench-q-") as tmp:
        env = {
            **os.environ,
            "GOVLAKE_LAKEHOUSE": f"{tmp}/lakehouse",
            "GOVLAKE_SOURCES": f"{tmp}/sources",
            "AIRFLOW_HOME": f"{tmp}/airflow",
        }
        # A module, not `python -c`: pyspark.sql.connect exits a `-c` process on import.
        command = [sys.executable, "-m", "benchmarks.quality", mode, str(persons)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
        if not lines:
            return {"persons": persons, "error": (proc.stderr or proc.stdout)[-2000:]}
        return json.loads(lines[-1].removeprefix("RESULT"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-without-suite", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT" + json.dumps(measure_one(args.child)))
        return 0
    if args.child_without_suite:
        print("RESULT" + json.dumps(measure_without_suite(args.child_without_suite)))
        return 0
    before = uptime()
    rows = [run_size(n) for n in args.sizes]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"quality-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    record = {"command": " ".join(sys.argv), "uptime": [before, uptime()], "runs": rows}
    out.write_text(json.dumps(record, indent=2))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print("uptime before:", record["uptime"][0])
    print("uptime after: ", record["uptime"][1])
    print(f"saved {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
