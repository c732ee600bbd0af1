"""Two Spark processes on one lakehouse at once: no shared metastore, so no lock to break on."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from jobs.ingest import load_table


def ratings(n: int) -> list[tuple[str, str]]:
    return [(f"9142070000000{i:04d}X", "A") for i in range(n)]


def test_an_analyst_queries_while_a_load_writes(spark, tax_source, tmp_path):
    """The analyst's Spark starts while this process's session is live and writing."""
    day1, day2 = dt.date(2026, 11, 25), dt.date(2026, 11, 26)
    tax_source("conc_a", ratings(300), day1)
    load_table("conc_a", "credit_rating", day1, "run-1", spark)
    tax_source("conc_b", ratings(500), day2)

    query = "SELECT count(*) AS n FROM ods.conc_a__credit_rating"
    analyst = subprocess.Popen(
        [sys.executable, "-m", "govlake.cli", "sql", query, "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loaded = load_table("conc_b", "credit_rating", day2, "run-1", spark)
    out, err = analyst.communicate(timeout=300)

    assert analyst.returncode == 0, err[-2000:]
    assert json.loads(out) == [{"n": 300}]
    assert loaded["rows_written"] == 500 and loaded["balanced"]
    assert not (tmp_path / "metastore_db").exists()
