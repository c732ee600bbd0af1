"""Benchmark: duplicate collection found from the data (jobs.feedback.discovered), its time
against the number of ods tables.

Usage: python -m benchmarks.duplicates [--persons 1500] [--rounds 2]
The generator's department tables (govlake.sample.generate_tables) as in-memory ods frames,
cached, then the discovery over half of them, all of them, and all of them twice (each copy
under its own department, so the copies are duplicate collection of everything): profile,
key samples and the driver's pair loop timed apart; the fastest of the rounds is reported.
Nothing is asserted (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time


def ods_frames(spark, tables: dict, copies: int) -> dict:
    """{OdsTable: cached DataFrame} of the generated tables, `copies` times each."""
    from govlake.sample.generate import record_rows
    from govlake.sources import get_table
    from jobs.feedback.discovered import OdsTable

    frames = {}
    for spec, every in tables.values():
        rows = record_rows(spec, every)
        source, table = get_table(spec.system, spec.table)
        schema = ", ".join(f"`{table.ods_column(c)}` string" for c in spec.columns)
        records = [[None if v is None else str(v) for v in r] for r in rows]
        for copy in range(copies):
            suffix = f"_copy{copy}" if copy else ""
            name = OdsTable(source.ods_table(table) + suffix, source.department + suffix)
            frames[name] = spark.createDataFrame(records, schema).cache()
            frames[name].count()
    return frames


def measure(frames: dict) -> dict:
    """Seconds of each step of one discovery over the frames, and what it found."""
    from jobs.feedback import discovered as d

    started = time.perf_counter()
    by_name = {t.table: df for t, df in frames.items()}
    ids = d.identifier_columns(by_name)
    profiled = time.perf_counter()
    rows = d.key_samples(by_name, ids)
    sampled = time.perf_counter()
    samples = [
        d._sample(t, c, kinds, rows.get((t.table, c), {}), ids[t.table])
        for t in frames
        for c, kinds in ids[t.table].items()
    ]
    found = d.discover(samples, {})
    done = time.perf_counter()
    return {
        "tables": len(frames),
        "identifier_columns": len(samples),
        "profile_s": round(profiled - started, 2),
        "sample_s": round(sampled - profiled, 2),
        "driver_s": round(done - sampled, 2),
        "total_s": round(done - started, 2),
        "pairs_found": len(found),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    from govlake.sample.generate import generate_tables
    from govlake.settings import settings
    from govlake.spark import get_spark

    spark = get_spark(settings(), tables=set())
    _world, tables = generate_tables(args.persons, dt.date(2026, 11, 26), seed=11)
    every = ods_frames(spark, tables, 2)
    once = {t: df for t, df in every.items() if "_copy" not in t.table}
    half = dict(sorted(once.items(), key=lambda kv: kv[0].table)[: len(once) // 2])
    results = []
    for name, frames in (("half", half), ("all", once), ("all twice", every)):
        runs = [measure(frames) for _ in range(args.rounds)]
        best = min(runs, key=lambda r: r["total_s"])
        results.append({"set": name, "persons": args.persons, **best})
        print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
