"""Two Spark processes on one lakehouse at once: no shared metastore, so no lock to break on."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from jobs.ingest import load_table

SOURCE = """\
system: {system}
department: 市税务局
information_system: 纳税信用管理系统
mode: physical
location:
  path: {folder}
tables:
  - name: credit_rating
    file: credit_rating_{{ds}}.csv
    format: csv
    encoding: utf-8-sig
    primary_key: [taxpayer_id]
"""


def make_source(source_dir, tmp_path, system, rows, day):
    folder = tmp_path / system
    folder.mkdir(parents=True)
    lines = ["taxpayer_id,credit_level"] + [f"9142070000000{i:04d}X,A" for i in range(rows)]
    (folder / f"credit_rating_{day:%Y%m%d}.csv").write_text("\n".join(lines) + "\n", "utf-8-sig")
    (source_dir / f"{system}.yaml").write_text(SOURCE.format(system=system, folder=folder), "utf-8")


def test_an_analyst_queries_while_a_load_writes(spark, source_dir, tmp_path):
    day1, day2 = dt.date(2026, 11, 25), dt.date(2026, 11, 26)
    make_source(source_dir, tmp_path, "conc_a", 300, day1)
    load_table("conc_a", "credit_rating", day1, "run-1", spark)
    make_source(source_dir, tmp_path / "b", "conc_b", 500, day2)

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
