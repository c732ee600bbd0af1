"""Declared column lineage: library attributes trace back to ods columns and department systems."""

from govlake.libraries import get_library
from govlake.sources import load_sources
from lineage.declared import library_edges, ods_edges


def test_marital_status_comes_from_civil_affairs_marriage_registrations():
    edges = [
        e for e in library_edges(get_library("population")) if e.target_column == "marital_status"
    ]
    assert {(e.source_table, e.source_column) for e in edges} == {
        ("ods.mca_marriage__marriage", "registration_type")
    }
    assert all("code mapping" in e.transformation for e in edges)


def test_authority_ranks_first_and_key_comes_from_every_input():
    edges = library_edges(get_library("population"))
    name = [e for e in edges if e.target_column == "name"]
    assert ("ods.psb_hukou__hj_resident", "xm", "authoritative") in {
        (e.source_table, e.source_column, e.transformation) for e in name
    }
    keys = {e.source_table for e in edges if e.target_column == "id_number"}
    assert "ods.nhc_vital__death" in keys and "ods.psb_hukou__hj_resident" in keys


def test_ods_columns_trace_to_the_department_system_without_meta_columns():
    psb = next(s for s in load_sources() if s.system == "psb_hukou")
    edges = ods_edges(psb, "hj_resident", ["rec_id", "xm", "_batch_date", "_source_row"])
    assert [(e.source_table, e.source_column) for e in edges] == [
        ("system:psb_hukou.hj_resident", "rec_id"),
        ("system:psb_hukou.hj_resident", "xm"),
    ]
