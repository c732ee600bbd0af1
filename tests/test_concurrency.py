"""Two Spark processes on one lakehouse at once: no shared metastore, so no lock to break on."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from jobs.ingest import load_table

DAY = dt.date(2026, 11, 25)
# The two contents of the day's file that the loads alternate between: level and row count.
BATCHES = {"A": 300, "B": 500}


def ratings(n: int, level: str) -> list[tuple[str, str]]:
    return [(f"9142070000000{i:04d}X", level) for i in range(n)]


def write_ratings(path, level: str) -> None:
    lines = ["纳税人识别号,信用级别", *[f"{u},{v}" for u, v in ratings(BATCHES[level], level)]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def test_an_analyst_queries_the_table_a_load_is_writing(spark, tax_source, tmp_path):
    """The analyst's Spark reads ods.conc__credit_rating while this process reloads the same
    day of it again and again (A: 300 rows, B: 500, each load one Delta commit replacing the
    day): the analyst sees one whole version, never a mix of the two or the day missing."""
    csv = tax_source("conc", ratings(BATCHES["A"], "A"), DAY)
    assert load_table("conc", "credit_rating", DAY, "run-0", spark)["rows_written"] == 300

    query = "SELECT credit_level, count(*) AS n FROM ods.conc__credit_rating GROUP BY credit_level"
    analyst = subprocess.Popen(
        [sys.executable, "-m", "govlake.cli", "sql", query, "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loads = 0
    # Keep loading until the analyst has answered, so its query runs while a load is under way.
    while analyst.poll() is None and loads < 30:
        level = "B" if loads % 2 == 0 else "A"
        write_ratings(csv, level)
        loaded = load_table("conc", "credit_rating", DAY, f"run-{loads + 1}", spark)
        assert loaded["rows_written"] == BATCHES[level] and loaded["balanced"], loaded
        loads += 1
    out, err = analyst.communicate(timeout=300)

    assert analyst.returncode == 0, err[-2000:]
    seen = json.loads(out)
    assert seen in ([{"credit_level": "A", "n": 300}], [{"credit_level": "B", "n": 500}]), seen
    assert loads < 30, "the analyst did not answer while the loads ran"
    assert not (tmp_path / "metastore_db").exists()
