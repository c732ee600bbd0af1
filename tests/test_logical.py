"""Logical connection (逻辑接入) against a real PostgreSQL: queried in place, never copied."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from govlake.cli import main
from govlake.owned import BALANCED, NOT_COPIED, UNBALANCED
from jobs.ingest import load_table
from jobs.logical import register_table

DAY = dt.date(2026, 11, 26)

LOGICAL = """\
system: {system}
department: 市医保局
information_system: 医疗保障信息平台
mode: {mode}
location:
  conn_id: {system}_pg
tables:
  - name: mi_insured
    dbtable: {table}
    primary_key: [psn_no]
"""


def pg_table(spark, pg_url, monkeypatch, system, table, rows):
    """Create a department table in PostgreSQL through Spark's JDBC writer."""
    from govlake.connections import parse_value
    from jobs.connections import jdbc_target

    monkeypatch.setenv(f"AIRFLOW_CONN_{system.upper()}_PG", pg_url)
    target = jdbc_target(parse_value(pg_url))
    df = spark.createDataFrame(rows, "psn_no long, certno string, insutype string")
    df.write.format("jdbc").options(**target.options(), dbtable=table).mode("overwrite").save()
    return target


def configure(source_dir, system, table, mode="logical"):
    text = LOGICAL.format(system=system, table=table, mode=mode)
    (source_dir / f"{system}.yaml").write_text(text, encoding="utf-8")


def test_logical_table_is_queried_in_place(spark, cfg, pg_url, source_dir, monkeypatch, capsys):
    rows = [(1, "420702199001011234", "310"), (2, "420703198512120021", "390")]
    target = pg_table(spark, pg_url, monkeypatch, "nhsa_pg", "mi_insured_a", rows)
    configure(source_dir, "nhsa_pg", "mi_insured_a")

    result = register_table("nhsa_pg", "mi_insured", DAY, "run-1", spark)
    assert result == {
        "ods_table": "ods.nhsa_pg__mi_insured",
        "status": "registered",
        "source_rows": 2,
        "rows_read": None,  # no suite: nothing was validated
        "balance": NOT_COPIED,
    }
    assert not (cfg.lakehouse / "ods" / "nhsa_pg__mi_insured").exists(), "nothing is copied"

    more = spark.createDataFrame(
        [(3, "420704200002020042", "390")], "psn_no long, certno string, insutype string"
    )
    more.write.format("jdbc").options(**target.options(), dbtable="mi_insured_a").mode(
        "append"
    ).save()
    query = (
        "SELECT insutype, count(*) AS n FROM ods.nhsa_pg__mi_insured GROUP BY insutype ORDER BY 1"
    )
    assert main(["sql", query, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"insutype": "310", "n": 1},
        {"insutype": "390", "n": 2},
    ]

    assert main(["tables", "--json"]) == 0
    tables = {t["table"]: t for t in json.loads(capsys.readouterr().out)}
    logical = tables["ods.nhsa_pg__mi_insured"]
    assert logical["layer"] == "logical" and logical["delta_version"] is None
    assert "jdbc:postgresql://" in logical["path"] and "password" not in logical["path"]


def test_physical_copy_from_postgresql_balances(spark, pg_url, source_dir, monkeypatch):
    rows = [(i, f"4207021990010{i:05d}", "310") for i in range(1, 1001)]
    pg_table(spark, pg_url, monkeypatch, "nhsa_copy", "mi_insured_b", rows)
    configure(source_dir, "nhsa_copy", "mi_insured_b", mode="physical")
    result = load_table("nhsa_copy", "mi_insured", DAY, "run-1", spark)
    assert (result["rows_read"], result["rows_written"], result["balanced"]) == (1000, 1000, True)
    ids = spark.table("ods.nhsa_copy__mi_insured").agg({"psn_no": "sum"}).first()[0]
    assert ids == sum(range(1, 1001))


SUITE = """\
name: ods.{system}__mi_insured
meta: {{title: 医保参保人员, threshold: {{max_quarantined_fraction: 0.9}}}}
expectations:
- type: expect_column_values_to_be_valid_ric
  kwargs: {{column: certno}}
  meta: {{policy: {policy}, rule_zh: 身份证号码无效, rule_en: invalid ID number}}
"""


def logical_suite(tmp_path, monkeypatch, system, policy):
    folder = tmp_path / "expectations" / "ods"
    folder.mkdir(parents=True)
    text = SUITE.format(system=system, policy=policy)
    (folder / f"{system}__mi_insured.yml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(folder.parent))


def test_a_logical_table_is_validated_in_place(
    spark, cfg, pg_url, source_dir, tmp_path, monkeypatch
):
    """Its problem rows are recorded for the department; nothing is copied or held back."""
    rows = [(1, "420702199001011239", "310"), (2, "420702199001011235", "390")]
    pg_table(spark, pg_url, monkeypatch, "nhsa_pgq", "mi_insured_q", rows)
    configure(source_dir, "nhsa_pgq", "mi_insured_q")
    logical_suite(tmp_path, monkeypatch, "nhsa_pgq", "quarantine")

    result = register_table("nhsa_pgq", "mi_insured", DAY, "run-q", spark)
    assert result["status"] == "registered" and result["source_rows"] == 2
    # The rows validated in place were read; nothing was copied, so no balance is claimed.
    run = spark.table("ops.load_runs").where("source_system = 'nhsa_pgq'").first()
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (2, None, None)
    assert (run.balanced, run.balance) == (None, NOT_COPIED)
    table = "ods.nhsa_pgq__mi_insured"
    failed = spark.table("quality.failed_rows").where(f"`table` = '{table}'").collect()
    assert [(r.key, r.department, r.policy) for r in failed] == [("2", "市医保局", "quarantine")]
    (res,) = spark.table("quality.results").where(f"`table` = '{table}'").collect()
    assert (res.element_count, res.unexpected_count, res.success) == (2, 1, False)
    assert spark.table(table).count() == 2  # still queried in place, row 2 included


def test_a_logical_table_breaking_a_fail_rule_fails_its_task(
    spark, cfg, pg_url, source_dir, tmp_path, monkeypatch
):
    from jobs.quality import QualityError

    rows = [(1, "420702199001011235", "310")]
    pg_table(spark, pg_url, monkeypatch, "nhsa_pgf", "mi_insured_f", rows)
    configure(source_dir, "nhsa_pgf", "mi_insured_f")
    logical_suite(tmp_path, monkeypatch, "nhsa_pgf", "fail")

    with pytest.raises(QualityError, match="failed on 1 of 1 rows"):
        register_table("nhsa_pgf", "mi_insured", DAY, "run-f", spark)
    runs = spark.table("ops.load_runs").where("ods_table = 'ods.nhsa_pgf__mi_insured'")
    (run,) = runs.collect()
    assert run.status == "failed" and "certno" in run.error


def test_the_night_and_the_demo_treat_a_logical_balance_as_not_applicable():
    """n/a lands and does not fail the demo's verdict, but is not summed as balanced rows."""
    from rich.console import Console

    from govlake.demo import print_summary
    from jobs.nightly import _landing

    logical = {"run_id": "r1", "status": "registered", "rows_written": None, "balance": NOT_COPIED}
    landed = _landing("ods.a__t", logical, DAY, "night")
    assert (landed["landed"], landed["balance"]) == (True, NOT_COPIED)
    broken = {"run_id": "r2", "status": "success", "rows_written": 5, "balance": UNBALANCED}
    assert _landing("ods.b__t", broken, DAY, "night")["landed"] is False

    def row(table, mode, read, written, balanced):
        return {
            "table": table, "mode": mode, "status": "success", "read": read,
            "written": written, "rejected": 0, "quarantined": 0, "balanced": balanced,
            "in_source": None,
        }  # fmt: skip

    rows = [
        row("ods.a__t", "physical", 5, 5, BALANCED),
        row("ods.b__t", "logical", 2, None, NOT_COPIED),
    ]
    console = Console(record=True, width=200)
    assert print_summary(rows, DAY, console)
    text = console.export_text()
    assert "n/a (logical, not copied)" in text
    assert "Rows read 5 = written 5 + rejected 0 + quarantined 0: balanced" in text
