"""Benchmark: end-to-end latency through the governed endpoint against a plain Spark session.

Usage: python -m benchmarks.serve [--sizes 100000,1000000] [--repeats 5]
One interpreter, its own temporary lakehouse: per size, base.population is filled with synthetic
rows (two districts), the endpoint starts in-process on a free port with the real enforcement
point, and a point lookup and an aggregate run (a) in the plain Spark session (the baseline),
(b) the enforcement point alone (parse, check, rewrite: `AccessControl.plan` for the 鄂城区
official), (c) through PyHive as the administrator (statements unchanged: the protocol's cost),
(d) through PyHive as the official (masked, row-filtered rewrite). Median of the repeats after
one warm-up each, ratios against (a) of the same run, the 1-minute load average before and
after each size; nothing is asserted. Results go to benchmarks/results/serve-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(tempfile.mkdtemp(prefix="govlake-bench-serve-"))
os.environ.setdefault("GOVLAKE_ENV", "local")
os.environ["GOVLAKE_LAKEHOUSE"] = str(ROOT / "lakehouse")

from govlake.settings import PROJECT_ROOT, settings  # noqa: E402  (after the environment)

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
PASSWORDS = {"admin": "bench-admin", "ec_official": "bench-official"}
POINT = "SELECT name, division FROM base.population WHERE id_number = '420704000000000042'"
AGGREGATE = (
    "SELECT division, count(*) AS persons, min(birth_date) AS oldest "
    "FROM base.population GROUP BY division ORDER BY division"
)
SYNTHETIC = """
SELECT concat(d, lpad(CAST(id AS STRING), 12, '0')) AS id_number,
       concat('张', CAST(id % 997 AS STRING)) AS name, '1' AS sex,
       date_add(DATE'1940-01-01', CAST(id % 25000 AS INT)) AS birth_date, '01' AS ethnicity,
       '鄂州市某路1号' AS household_address, d AS division, '20' AS marital_status,
       CAST(NULL AS DATE) AS death_date, '1' AS social_insurance_status,
       map('name', 'psb') AS provenance, true AS _is_current
FROM (SELECT id, IF(id % 2 = 0, '420704', '420702') AS d FROM range({n}))
"""


def access_dir() -> Path:
    import yaml

    from govlake.access.config import hash_password

    target = ROOT / "access"
    shutil.copytree(PROJECT_ROOT / "conf" / "access", target)
    path = target / "principals.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in doc["principals"]:
        if entry["id"] in PASSWORDS:
            entry["password_hash"] = hash_password(PASSWORDS[entry["id"]])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


def timed(run, repeats: int) -> float:
    run()  # warm-up: code generation, Delta snapshot
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="persons, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from govlake.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg, app_name="bench-serve")
    access = access_dir()
    sizes = [int(n) for n in args.sizes.split(",")]
    record = {"repeats": args.repeats, "sizes": [measure(spark, cfg, access, n, args.repeats)
                                                 for n in sizes]}  # fmt: skip
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"serve-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for size in record["sizes"]:
        for row in size["rows"]:
            print(json.dumps({"persons": size["persons"], **row}, ensure_ascii=False))
    print(f"saved to {out}")
    shutil.rmtree(ROOT, ignore_errors=True)
    return 0


def measure(spark, cfg, access: Path, persons: int, repeats: int) -> dict:
    """One size: fill base.population, start the endpoint, time each path of both queries."""
    from pyhive import hive

    from govlake.access import AccessControl
    from govlake.lakehouse import Table
    from govlake.serve.server import Server, build

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    population = spark.sql(SYNTHETIC.format(n=persons))
    Table.parse("base.population").write(population, "overwrite", cfg=cfg)
    fill_s = round(time.perf_counter() - start, 1)
    control = AccessControl.load(cfg, access)
    official = control.principal("ec_official")
    server = Server(build(cfg, spark, control), "127.0.0.1", 0)
    server.start()
    conns = {
        user: hive.connect("127.0.0.1", server.port, username=user, password=pw, auth="CUSTOM")
        for user, pw in PASSWORDS.items()
    }

    def through(user: str, sql: str):
        def run():
            cursor = conns[user].cursor()
            cursor.execute(sql)
            cursor.fetchall()
            cursor.close()

        return run

    rows = []
    for name, sql in (("point lookup", POINT), ("aggregate", AGGREGATE)):
        row = {
            "query": name,
            "plain_spark_ms": timed(lambda s=sql: spark.sql(s).collect(), repeats),
            "plan_only_ms": timed(lambda s=sql: control.plan(official, s), repeats),
            "endpoint_admin_ms": timed(through("admin", sql), repeats),
            "endpoint_official_ms": timed(through("ec_official", sql), repeats),
        }
        base = row["plain_spark_ms"] or 1
        for key in ("plan_only", "endpoint_admin", "endpoint_official"):
            row[f"{key}_ratio"] = round(row[f"{key}_ms"] / base, 3)
        rows.append(row)
    for conn in conns.values():
        conn.close()
    server.stop()
    load = [load_before, os.getloadavg()[0]]
    return {"persons": persons, "fill_s": fill_s, "load_average_1min": load, "rows": rows}


if __name__ == "__main__":
    raise SystemExit(main())
