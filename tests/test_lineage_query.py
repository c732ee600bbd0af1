"""血缘分析: upstream to the department system and column, downstream to library attributes."""

from __future__ import annotations

import json

import pytest

from govlake.cli import main
from govlake.errors import GovlakeError
from lineage.declared import ColumnEdge
from lineage.query import declared_edges, downstream, split_target, upstream


def test_marital_status_upstream_reaches_the_civil_affairs_column():
    found = upstream("base.population", "marital_status", declared_edges())
    hops = {(e.target_table, e.target_column, e.source_table, e.source_column) for e in found}
    assert hops == {
        ("base.population", "marital_status", "std.population__mca_husband", "marital_status"),
        ("base.population", "marital_status", "std.population__mca_wife", "marital_status"),
        (
            "std.population__mca_husband",
            "marital_status",
            "ods.mca_marriage__marriage",
            "registration_type",
        ),
        (
            "std.population__mca_wife",
            "marital_status",
            "ods.mca_marriage__marriage",
            "registration_type",
        ),
        (
            "ods.mca_marriage__marriage",
            "registration_type",
            "system:mca_marriage.marriage",
            "登记类型",
        ),
    }


def test_cli_upstream_names_system_department_ods_column_and_department_column(capsys):
    assert main(["lineage", "base.population.marital_status", "--upstream", "--declared-only"]) == 0
    out = capsys.readouterr().out
    assert "ods.mca_marriage__marriage.registration_type" in out
    assert "source system mca_marriage: 市民政局 婚姻登记管理信息系统" in out
    assert "system:mca_marriage.marriage.登记类型" in out
    assert "(department column '登记类型')" in out
    assert out.index("registration_type") < out.index("登记类型"), "ods first, then the source"


def test_cli_downstream_from_an_ods_column_lists_the_library_attributes(capsys):
    target = "ods.mca_marriage__marriage.husband_id_number"
    assert main(["lineage", target, "--downstream", "--declared-only", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert {(e["target_table"], e["target_column"]) for e in found} == {
        ("std.population__mca_husband", "id_number"),
        ("base.population", "id_number"),
        ("base.conflicts", "key"),
        ("quarantine.population", "key_value"),
        ("quarantine.population", "raw"),
        # the themes' SQL: the person's key, their marriages, a representative's link
        ("theme.person_profile", "id_number"),
        ("theme.person_profile", "marriages"),
        ("theme.social_security", "id_number"),
        ("theme.enterprise_profile", "legal_representative_in_population"),
        ("theme.health", "person_id"),  # a newborn identified in the population library
        # the application warehouses (conf/apps/) that draw base.population.id_number
        ("app_city_governance.base__population", "id_number"),
        ("app_health.base__population", "id_number"),
    }
    assert main(["lineage", "ods.mca_marriage__marriage.registration_type", "--downstream",
                 "--declared-only"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "base.population.marital_status" in out and "人口库" in out


def test_walks_are_recursive_and_survive_cycles():
    edges = [
        ColumnEdge("theme.b", "x", "base.a", "x", "copy"),
        ColumnEdge("base.a", "x", "ods.s", "x", "copy"),
        ColumnEdge("ods.s", "x", "system:s.t", "X", "rename"),
        ColumnEdge("base.a", "x", "theme.b", "x", "feedback loop"),
    ]
    assert [e.source_table for e in upstream("theme.b", "x", edges)] == [
        "base.a",
        "ods.s",
        "theme.b",
        "system:s.t",
    ]
    assert {e.target_table for e in downstream("system:s.t", "X", edges)} == {
        "ods.s",
        "base.a",
        "theme.b",
    }


def test_unknown_column_and_malformed_target_are_clear_errors(capsys):
    with pytest.raises(GovlakeError, match="no lineage is known for 'base.population.nosuch'"):
        upstream("base.population", "nosuch", declared_edges())
    with pytest.raises(GovlakeError, match="not a table name"):
        split_target("population")
    assert main(["lineage", "base.population.nosuch", "--declared-only"]) == 1
    assert "no lineage is known" in capsys.readouterr().err
    assert split_target("system:psb_hukou.hj_resident.xm") == ("system:psb_hukou.hj_resident", "xm")
