"""The govlake command line: tables by name, JSON output, one-paragraph errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from govlake.cli import main
from jobs.ingest import load_table
from jobs.ops import latest_runs


def test_sql_tables_and_sources(spark, cfg, tax_source, capsys, monkeypatch):
    ratings = [("91420700MA4900001X", "A"), ("91420700MA4900002Y", "B")]
    tax_source("cli_tax", ratings, dt.date(2026, 11, 26))
    load_table("cli_tax", "credit_rating", dt.date(2026, 11, 26), "run-1", spark)

    query = "SELECT taxpayer_id, credit_level FROM ods.cli_tax__credit_rating ORDER BY 1"
    assert main(["sql", query, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"taxpayer_id": "91420700MA4900001X", "credit_level": "A"},
        {"taxpayer_id": "91420700MA4900002Y", "credit_level": "B"},
    ]
    assert main(["sql", query, "--json", "--limit", "1"]) == 0
    cut = capsys.readouterr()
    assert len(json.loads(cut.out)) == 1 and "only the first 1 rows are shown" in cut.err

    # The table view tells NULL from an empty string (issue 20): NULL is written, "" is blank.
    assert main(["sql", "SELECT 'x' AS a, '' AS b, NULL AS c, '[a]' AS d"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "x" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == ["x", "", "NULL", "[a]"]

    # Listing reads only metadata: delta-rs answers, no Spark session is asked for (issue 19).
    def no_spark(*args, **kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr("govlake.spark.get_spark", no_spark)
    monkeypatch.setattr("govlake.inventory.get_spark", no_spark)
    assert main(["tables", "--json"]) == 0
    tables = {t["table"]: t for t in json.loads(capsys.readouterr().out)}
    entry = tables["ods.cli_tax__credit_rating"]
    assert entry["layer"] == "ods" and entry["rows"] == 2 and entry["delta_version"] == 0
    assert tables["ops.load_runs"]["rows"] >= 1

    spark_runs = latest_runs(spark, cfg)
    assert main(["sources", "--json"]) == 0
    sources = json.loads(capsys.readouterr().out)
    assert sources == [
        {
            "system": "cli_tax",
            "department": "市税务局",
            "mode": "physical",
            "table": "ods.cli_tax__credit_rating",
            # As Spark shows it (the session's time zone), read by an independent reader.
            "last_load": str(spark_runs["ods.cli_tax__credit_rating"]["finished_at"]),
            "batch": "2026-11-26",
            "status": "success",
            "rows": 2,
            "rejected": 0,
        }
    ]


def test_errors_are_one_paragraph_without_java_stack(source_dir, capsys):
    assert main(["sql", "SELECT * FROM ods.no_such_table"]) == 1
    err = capsys.readouterr().err
    assert "TABLE_OR_VIEW_NOT_FOUND" in err and "ods" in err
    assert "\tat org.apache" not in err and "Traceback" not in err

    assert main(["load", "no_such_system"]) == 1
    assert "no source system 'no_such_system'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["quality"], "No validation has run yet"),
        (["catalog", "validate"], "checked against declared columns"),
        # Issue 19: listings of small Delta tables read by delta-rs (117-140 s each before).
        (["share", "list", "--json"], "[]"),
        (["sandbox", "releases", "--json"], "[]"),
        (["quality", "feedback", "--department", "市公安局"], "No open problems for 市公安局"),
    ],
)
def test_commands_answer_without_spark_on_an_empty_lakehouse(
    argv, says, cfg, tmp_path, monkeypatch, capsys
):
    """Nothing written yet: the answer comes from configuration, without starting a JVM."""

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark was started")

    empty = cfg.model_copy(update={"lakehouse": tmp_path / "lakehouse", "tables_uri": None})
    monkeypatch.setattr("govlake.settings.settings", lambda: empty)
    monkeypatch.setattr("govlake.spark.get_spark", no_spark)
    main(argv)
    assert says in capsys.readouterr().out


def test_quality_summary_counts_the_latest_validation_of_each_table(
    spark, cfg, capsys, monkeypatch
):
    """`govlake quality` from quality.results by delta-rs: the newest validation per table only,
    failures counted per policy (rows written here, counts by hand)."""
    from govlake.owned import RESULTS

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark was started")

    old, new = dt.datetime(2026, 11, 26, 2, 0), dt.datetime(2026, 11, 27, 2, 0)
    rows = [
        # table, run, success, policy, unexpected, validated_at
        ("ods.q_a", "r1", False, "fail", 9, old),  # an older validation: left out
        ("ods.q_a", "r2", True, "warn", 0, new),
        ("ods.q_a", "r2", False, "warn", 3, new),
        ("ods.q_a", "r2", False, "quarantine", 2, new),
        ("ods.q_b", "r2", False, "fail", 1, new),
    ]
    frame = spark.createDataFrame(
        [
            {
                "run_id": r,
                "run_date": at.date(),
                "table": t,
                "rule": "x",
                "policy": p,
                "success": ok,
                "unexpected_count": n,
                "validated_at": at,
            }
            for t, r, ok, p, n, at in rows
        ],  # fmt: skip
        RESULTS.schema,
    )
    RESULTS.table.write(frame, "append", cfg=cfg)
    monkeypatch.setattr("govlake.spark.get_spark", no_spark)
    capsys.readouterr()
    assert main(["quality", "--json"]) == 0
    got = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    counts = ("rules", "passed", "warned", "quarantine_rules_hit", "failed", "unexpected_values")
    assert [got["ods.q_a"][c] for c in counts] == [3, 1, 1, 1, 0, 5]
    assert [got["ods.q_b"][c] for c in counts] == [1, 0, 0, 0, 1, 1]
    assert got["ods.q_a"]["run_id"] == "r2"


# What a command that reads metadata must not pay for at start-up (issue 19): Spark's Python
# side, the SQL parser of governed access, and the enforcement point itself.
HEAVY_AT_START = ("pyspark", "sqlglot", "govlake.access.control", "govlake.share.workflow")


def test_the_command_line_starts_without_spark_or_the_sql_parser():
    """Building the parser (every command registered) imports none of HEAVY_AT_START: they
    cost about 0.7 s of CPU in each `govlake sources`, `quality`, `share list` before. A fresh
    interpreter, since the suite's own process has them all."""
    import subprocess
    import sys

    probe = (
        "import sys; from govlake.cli import build_parser; build_parser(); "
        f"print([m for m in {HEAVY_AT_START!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


# Modules of the environment no test imports (so no test process could have written their
# bytecode) and those every night task imports, and the project's own.
COMPILED_MODULES = (
    "pyspark.mllib.fpm",
    "airflow.providers.standard.sensors.time_delta",
    "pyspark.sql.functions",
    "airflow.sdk",
    "great_expectations",
    "govlake.cli",
    "jobs.identifiers",
)


def test_the_environment_was_compiled_to_bytecode():
    """scripts/bootstrap.sh writes the environment's and the project's bytecode: where
    PYTHONDONTWRITEBYTECODE is set (as on CI), nothing else does, and every new process (an
    Airflow task, a command, a test's subprocess) compiled pyspark, Airflow and GX from source,
    2.7x the CPU (benchmarks.startup)."""
    import importlib.util

    missing = []
    for name in COMPILED_MODULES:
        origin = importlib.util.find_spec(name).origin
        if not Path(importlib.util.cache_from_source(origin)).is_file():
            missing.append(name)
    assert not missing, f"no bytecode for {missing}: run `make venv` (scripts/bootstrap.sh)"


def test_the_access_and_share_packages_still_name_their_classes():
    """`from govlake.access import AccessControl` (and share's) resolve, lazily, to the classes
    of their modules; an unknown name is an AttributeError, as for any module."""
    import govlake.access
    import govlake.share
    from govlake.access import AccessControl, Refused
    from govlake.access.control import AccessControl as Home
    from govlake.access.enforce import Refused as RefusedHome
    from govlake.share import Share
    from govlake.share.workflow import Share as ShareHome

    assert (AccessControl, Refused, Share) == (Home, RefusedHome, ShareHome)
    with pytest.raises(AttributeError):
        govlake.access.Nothing  # noqa: B018
    with pytest.raises(AttributeError):
        govlake.share.Nothing  # noqa: B018
