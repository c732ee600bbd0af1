"""Declared column lineage: library attributes trace back through the standardized inputs to
ods columns and department systems; quarantine and conflicts are outputs of the build."""

import json

from govlake.cli import main
from govlake.libraries import get_library
from govlake.sources import load_sources
from govlake.tasks import all_tasks, library_task
from lineage.declared import library_edges, ods_edges
from lineage.query import declared_edges, upstream


def test_marital_status_comes_from_civil_affairs_marriage_registrations_via_std():
    edges = library_edges(get_library("population"))
    base = {
        (e.source_table, e.source_column, e.transformation)
        for e in edges
        if (e.target_table, e.target_column) == ("base.population", "marital_status")
    }
    assert base == {
        ("std.population__mca_husband", "marital_status", "authoritative"),
        ("std.population__mca_wife", "marital_status", "fallback 1"),
    }
    std = [
        e
        for e in edges
        if e.target_table.startswith("std.") and e.target_column == "marital_status"
    ]
    assert {(e.source_table, e.source_column) for e in std} == {
        ("ods.mca_marriage__marriage", "registration_type")
    }
    assert all("code mapping" in e.transformation for e in std)


def test_authority_ranks_first_and_key_comes_from_every_input():
    edges = library_edges(get_library("population"))
    name = [e for e in edges if e.target_column == "name" and e.target_table.startswith("std.")]
    assert ("ods.psb_hukou__hj_resident", "xm", "standardized text") in {
        (e.source_table, e.source_column, e.transformation) for e in name
    }
    keys = {
        (e.target_table, e.source_table)
        for e in edges
        if e.target_column == "id_number" and e.source_table.startswith("ods.")
    }
    assert ("std.population__nhc_death", "ods.nhc_vital__death") in keys
    assert ("std.population__psb_resident", "ods.psb_hukou__hj_resident") in keys


def test_std_tables_stand_between_ods_and_base_in_the_declarations():
    population = get_library("population")
    build = library_task(population)
    std = {population.std_table(name) for name in population.inputs}
    # Every std output of the declared build feeds base.population and is fed by ods only.
    assert std <= {str(t) for t in build.outputs}
    found = upstream("base.population", None, list(build.edges))
    feeding_base = {e.source_table for e in found if e.target_table == "base.population"}
    assert feeding_base == std
    assert {e.source_table.split(".")[0] for e in found if e.target_table in std} == {"ods"}
    # No attribute skips the standardized layer.
    assert not [
        e for e in found if e.target_table == "base.population" and "ods." in e.source_table
    ]


def test_quarantine_and_conflicts_are_declared_outputs_with_lineage():
    tasks = [t for t in all_tasks() if t.job == "jobs.library:build_library"]
    for task in tasks:
        library = get_library(*task.args)
        targets = {e.target_table for e in task.edges}
        assert {library.quarantine_table, "base.conflicts"} <= targets
        assert targets == {str(t) for t in task.outputs}, "every output has column lineage"
    population = get_library("population")
    edges = library_edges(population)
    raw = {(e.source_table, e.source_column) for e in edges if e.target_column == "raw"}
    assert ("ods.mca_marriage__marriage", "registration_type") in raw
    # Conflicts compare standardized values: they come from the std tables, not from ods.
    conflicts = {e.source_table for e in edges if e.target_table == "base.conflicts"}
    assert conflicts == {population.std_table(name) for name in population.inputs}


def test_cli_upstream_of_base_population_lists_the_std_tables(capsys):
    assert main(["lineage", "base.population", "--upstream", "--declared-only", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    sources = {e["source_table"] for e in found}
    population = get_library("population")
    assert {population.std_table(name) for name in population.inputs} <= sources
    assert "ods.psb_hukou__hj_resident" in sources and "system:psb_hukou.hj_resident" in sources
    assert main(["lineage", "base.population.name", "--upstream", "--declared-only"]) == 0
    out = capsys.readouterr().out
    assert "standardized input psb_resident of library population" in out
    assert out.index("std.population__psb_resident") < out.index("ods.psb_hukou__hj_resident")


def test_downstream_of_an_ods_column_reaches_quarantine_and_conflicts():
    from lineage.query import downstream

    found = downstream("ods.mca_marriage__marriage", "registration_type", declared_edges())
    targets = {(e.target_table, e.target_column) for e in found}
    assert ("quarantine.population", "raw") in targets
    assert ("base.conflicts", "value") in targets
    assert ("base.population", "marital_status") in targets


def test_ods_columns_trace_to_the_department_system_without_meta_columns():
    psb = next(s for s in load_sources() if s.system == "psb_hukou")
    edges = ods_edges(psb, "hj_resident", ["rec_id", "xm", "_batch_date", "_source_row"])
    assert [(e.source_table, e.source_column) for e in edges] == [
        ("system:psb_hukou.hj_resident", "rec_id"),
        ("system:psb_hukou.hj_resident", "xm"),
    ]


def test_a_library_run_records_the_std_layer_in_its_events_and_edges(spark):
    """The lineage run of the declared build (its body here returns counts without building):
    the COMPLETE event names the std outputs, base.population's column lineage reads them,
    and the recorded edges put them upstream of base.population."""
    from govlake.tasks import traced
    from lineage.query import recorded_edges

    population = get_library("population")
    with traced(library_task(population)) as run:
        run.complete({"keys": 0, "conflicts": 0, "inputs": []})
    complete = run.events[-1]
    assert complete["eventType"] == "COMPLETE"
    outputs = {d["name"]: d for d in complete["outputs"]}
    std = {population.std_table(name) for name in population.inputs}
    assert std | {"quarantine.population", "base.conflicts"} <= set(outputs)
    fields = outputs["base.population"]["facets"]["columnLineage"]["fields"]
    assert {f["name"] for f in fields["marital_status"]["inputFields"]} == {
        "std.population__mca_husband",
        "std.population__mca_wife",
    }
    found = upstream("base.population", None, recorded_edges(spark))
    assert std <= {e.source_table for e in found if e.target_table == "base.population"}
