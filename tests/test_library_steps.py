"""Each step of the library build on its own: tests/fixtures/library/<step>.yaml gives a step's
input rows and the rows it must make, written by hand from the rules (like sqlglot's
tests/fixtures/optimizer/*.sql). One test runs them all; a failure prints both sides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pyspark.sql.types import DecimalType
from pyspark.testing import assertDataFrameEqual

from govlake.libraries import Library
from jobs.library import BuildContext
from jobs.library.incremental import Plan, known_fingerprints, why_full
from jobs.library.steps import ALL_STEPS, run

FIXTURES = Path(__file__).parent / "fixtures" / "library"
DEFAULT_LIBRARY = yaml.safe_load((FIXTURES / "library.yaml").read_text(encoding="utf-8"))


def cases() -> list:
    found = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        if path.name == "library.yaml":
            continue
        fixture = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert fixture["step"] == path.stem, f"{path.name} names step {fixture['step']}"
        for case in fixture["cases"]:
            found.append(pytest.param(fixture, case, id=f"{path.stem}: {case['title']}"))
    return found


def context(fixture: dict, case: dict) -> BuildContext:
    declared = dict(case.get("library") or fixture.get("library") or DEFAULT_LIBRARY)
    primary_keys = declared.pop("primary_keys", {})
    library = Library(**declared)
    started = dt.datetime(2026, 11, 25, 2, 0)
    return BuildContext(library, dt.date(2026, 11, 25), "fixture", None, started, primary_keys)


def frame(spark, table: dict):
    """A DataFrame from a fixture table: a Spark DDL schema and rows (lists, in its order)."""
    schema = spark.createDataFrame([], table["schema"]).schema
    # YAML has no decimals: a number in a decimal column is read from its text (10.5 exactly).
    decimal = [isinstance(f.dataType, DecimalType) for f in schema.fields]
    rows = [
        tuple(
            Decimal(str(v)) if d and v is not None else v for v, d in zip(row, decimal, strict=True)
        )
        for row in table["rows"]
    ]
    return spark.createDataFrame(rows, schema)


@pytest.mark.parametrize(("fixture", "case"), cases())
def test_step(spark, fixture, case):
    step = fixture["step"]
    if step == "why_full":
        facts = case["plan"]
        plan = Plan("full", "", facts["config_hash"], facts["versions"], facts["links"])
        plan.target_version = facts["target_version"]
        assert why_full(case["previous"], plan, fixture["library_table"]) == case["expected"]
        return
    if step == "known_fingerprints":
        plan = Plan("full", "", case["plan"]["config_hash"], case["plan"]["versions"], {})
        assert known_fingerprints(case["previous"], plan) == case["expected"]
        return
    ctx = context(fixture, case)
    given = {"ctx": ctx, **{name: frame(spark, t) for name, t in case["given"].items()}}
    if "input" in case:
        name = case["input"]
        given |= {"name": name, "source": ctx.library.inputs[name]}
        given |= {"primary_key": tuple(ctx.primary_keys[name])} if name in ctx.primary_keys else {}
    function, output = ALL_STEPS[step]
    actual = run([(function, output)], given)[output].drop(*fixture.get("ignore", []))
    assertDataFrameEqual(actual, frame(spark, case["expected"]), checkRowOrder=False)


def test_every_step_has_its_fixture():
    """A step added to the build without a fixture file fails here."""
    files = {p.stem for p in FIXTURES.glob("*.yaml")} - {"library"}
    assert files == set(ALL_STEPS) | {"why_full", "known_fingerprints"}
