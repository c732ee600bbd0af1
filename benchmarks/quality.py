"""Benchmark: validation of the largest ods table as a share of its load, and its Spark jobs.

Usage: python -m benchmarks.quality [--sizes 20000 200000]
Each size runs in a fresh interpreter with its own lakehouse and sample sources. The table is
loaded with its committed suite (expectations/ods/<table>.yml); the validation step is timed
inside the same load and its Spark jobs counted by job group. Target: validation < 25% of the
load without it. Results go to benchmarks/results/quality-<time>.json; nothing is asserted.
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

from govlake.settings import PROJECT_ROOT

DEFAULT_SIZES = [20_000, 200_000]
TABLE = ("psb_hukou", "hj_resident")  # the largest ods table: one row per resident
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
DAY = dt.date(2026, 11, 26)


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
        start = time.perf_counter()
        try:
            outcome = inner(*args, **kwargs)
            record["phases"] = outcome.phases
            return outcome
        finally:
            record["validation_s"] = time.perf_counter() - start
            record["validation_jobs"] = len(all_jobs() - record["jobs_before"])
            sc.setLocalProperty("spark.jobGroup.id", None)

    # Warm up GX (imports, context) so the figure is the per-table cost of a nightly process.
    quality.build_data_docs(cfg)
    quality.validate = timed_validate
    import jobs.quality.engine  # noqa: F401

    jobs_before = all_jobs()
    start = time.perf_counter()
    out = load_table(*TABLE, DAY, spark=spark)
    load_s = time.perf_counter() - start
    quality.validate = inner
    without = load_s - record["validation_s"]
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
        "validation_jobs": record["validation_jobs"],
        "validation_phases_s": record.get("phases"),
        "load_jobs_total": len(all_jobs() - jobs_before),
    }


def run_size(persons: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="govlake-bench-q-") as tmp:
        env = {
            **os.environ,
            "GOVLAKE_LAKEHOUSE": f"{tmp}/lakehouse",
            "GOVLAKE_SOURCES": f"{tmp}/sources",
            "AIRFLOW_HOME": f"{tmp}/airflow",
        }
        # A module, not `python -c`: pyspark.sql.connect exits a `-c` process on import.
        command = [sys.executable, "-m", "benchmarks.quality", "--child", str(persons)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
        if not lines:
            return {"persons": persons, "error": (proc.stderr or proc.stdout)[-2000:]}
        return json.loads(lines[-1].removeprefix("RESULT"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT" + json.dumps(measure_one(args.child)))
        return 0
    rows = [run_size(n) for n in args.sizes]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"quality-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"command": " ".join(sys.argv), "runs": rows}, indent=2))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"saved {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
