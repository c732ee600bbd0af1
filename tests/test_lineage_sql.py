"""Column lineage of SQL-defined tables from sqlglot, checked on a golden fixture file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from govlake.errors import GovlakeError
from lineage.sql import column_lineage

GOLDEN = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "lineage_sql.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_golden_sql_lineage(case):
    edges = column_lineage(case["sql"], case["schema"], target=case.get("target"))
    got = [[e.target_column, e.source_table, e.source_column, e.transformation] for e in edges]
    assert got == case["edges"]
    expected_target = case.get("target") or case["sql"].split()[2]
    assert {e.target_table for e in edges} == {expected_target}


def test_a_column_the_schema_does_not_have_is_an_error():
    with pytest.raises(GovlakeError, match="cannot resolve"):
        column_lineage("SELECT nosuch FROM mi_insured", {"mi_insured": {"psn_no": "string"}})


def test_sql_that_does_not_parse_is_an_error():
    with pytest.raises(GovlakeError, match="does not parse"):
        column_lineage("SELECT FROM WHERE (", {})
