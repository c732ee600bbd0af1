"""Benchmark: a per-key theme night's change detection on a snapshot input
(jobs.theme_plan.differing) against the two `exceptAll` it replaced, on the same two batches.

Usage: python -m benchmarks.differing [--rows 100000 713000] [--rounds 3]
Two versions of a snapshot table of `rows` rows and eight columns are written to Parquet, the
second with 1% of rows changed, 0.5% gone and 0.5% new. Then, alternating within each round:
the two `exceptAll` of before ccde16c (baseline) and the one aggregate of `differing`. Best of
the rounds, with the load average; both must find the same changed rows' keys. (6241d7e also
measured an aggregate over two row hashes carrying only the key column: no faster at 713,000
rows, so it was not kept; benchmarks/README.md.) Nothing is asserted (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


def batches(spark, rows: int, folder: Path):
    """Old and new batch as Parquet: an id_number and seven value columns, some NULL."""
    from pyspark.sql import functions as F

    def version(shift: int, changed_mod: int):
        df = spark.range(shift, rows + shift).select(
            F.format_string("4207%014d", "id").alias("id_number"),
            *[
                F.when((F.col("id") + i) % 11 == 0, None)
                .otherwise(F.concat(F.lit(f"v{i}-"), (F.col("id") * (i + 3)).cast("string")))
                .alias(f"c{i}")
                for i in range(6)
            ],
            F.when(F.col("id") % changed_mod == 0, "changed").otherwise("same").alias("status"),
        )
        return df.withColumn("_batch_date", F.lit(str(shift)))

    # 0.5% of ids leave and 0.5% arrive (the shift); 1% of rows change a value.
    shift = rows // 200
    for name, df in (("old", version(0, 10**9)), ("new", version(shift, 100))):
        df.write.mode("overwrite").parquet(str(folder / name))
    return (spark.read.parquet(str(folder / n)) for n in ("old", "new"))


def ways(old, new) -> dict:
    from jobs.theme_plan import differing

    columns = [c for c in new.columns if not c.startswith("_")]
    o, n = old.select(*columns), new.select(*columns)
    return {
        "exceptAll (before)": lambda: n.exceptAll(o).unionByName(o.exceptAll(n)),
        "one aggregate": lambda: differing(old, new),
    }


def measure(spark, rows: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="govlake-bench-differing-") as tmp:
        old, new = batches(spark, rows, Path(tmp))
        seconds: dict[str, list[float]] = {}
        keys: dict[str, int] = {}
        for _ in range(rounds):
            for name, frame in ways(old, new).items():
                began = time.perf_counter()
                keys[name] = frame().select("id_number").distinct().count()
                seconds.setdefault(name, []).append(time.perf_counter() - began)
    best = {name: min(values) for name, values in seconds.items()}
    base = best["exceptAll (before)"]
    return {
        "rows": rows,
        "best_seconds": best,
        "all_seconds": seconds,
        "over_baseline": {name: value / base for name, value in best.items()},
        "changed_keys": keys,
    }


def main(argv: list[str] | None = None) -> int:
    from govlake.settings import settings
    from govlake.spark import get_spark

    parser = argparse.ArgumentParser(prog="python -m benchmarks.differing")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 713_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    started, load = dt.datetime.now(), [os.getloadavg()[0]]
    spark = get_spark(settings(), app_name="govlake-bench-differing", tables=set())
    sizes = [measure(spark, rows, args.rounds) for rows in args.rows]
    load.append(os.getloadavg()[0])
    for size in sizes:
        print(f"{size['rows']:,} rows: changed keys {size['changed_keys']}")
        for name, value in size["best_seconds"].items():
            print(f"  {name:22} {value:6.2f} s  {size['over_baseline'][name]:.0%} of exceptAll")
    print(f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"differing-{started:%Y%m%dT%H%M%S}.json"
    result = {"started": started.isoformat(timespec="seconds"), "load_1min": load, "sizes": sizes}
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
