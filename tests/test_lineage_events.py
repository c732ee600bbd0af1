"""OpenLineage events per task run: START then COMPLETE or FAIL, schema-valid, column lineage."""

from __future__ import annotations

import copy
import datetime as dt
import json
import sqlite3

import pytest

from govlake.lakehouse import Table
from govlake.sources import get_table
from govlake.tasks import source_task, traced
from lineage.declared import ods_edges
from lineage.emit import Dataset, task_run
from lineage.validate import LineageSchemaError, schema_errors, validate_event

DAY = dt.date(2026, 11, 26)


def events_of(cfg, run_id: str) -> list[dict]:
    """The event files written for one run, oldest first."""
    folder = cfg.lakehouse / "lineage" / "events" / "_openlineage"
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return [e for e in found if e["run"]["runId"] == run_id]


def delta_rows(spark, cfg, table: str, run_id: str) -> list[dict]:
    df = Table.parse(f"lineage.{table}").read(spark, cfg).where(f"run_id = '{run_id}'")
    return [r.asDict() for r in df.collect()]


def marriage_run(**kwargs):
    """A run shaped like the mca_marriage ODS load, with the declared column edges."""
    source, _ = get_table("mca_marriage", "marriage")
    edges = ods_edges(source, "marriage", ["registration_type", "husband_name", "_batch_date"])
    fields = {"registration_type": "string", "husband_name": "string"}
    inputs = [Dataset("system:mca_marriage.marriage", {"登记类型": "string", "男方姓名": "string"})]
    outputs = [Dataset("ods.mca_marriage__marriage", fields)]
    return task_run(
        "ods__mca_marriage.load_marriage", inputs, outputs, "scheduled__x", edges=edges, **kwargs
    )


def test_successful_run_emits_start_then_complete_with_counts(spark, cfg):
    with marriage_run() as run:
        run.dataset("system:mca_marriage.marriage").rows = 3
        run.dataset("ods.mca_marriage__marriage").rows = 2

    events = events_of(cfg, run.run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert all(schema_errors(e) == [] for e in events)
    start, complete = events
    assert "outputStatistics" not in start["outputs"][0]["outputFacets"]
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 3
    schema = complete["outputs"][0]["facets"]["schema"]["fields"]
    assert [f["name"] for f in schema] == ["registration_type", "husband_name"]

    rows = delta_rows(spark, cfg, "events", run.run_id)
    assert sorted(r["event_type"] for r in rows) == ["COMPLETE", "START"]
    assert {r["job_name"] for r in rows} == {"ods__mca_marriage.load_marriage"}
    assert rows[0]["outputs"] == ["ods.mca_marriage__marriage"]
    assert rows[0]["orchestrator_run_id"] == "scheduled__x"
    assert json.loads(rows[0]["event"])["run"]["runId"] == run.run_id
    edges = delta_rows(spark, cfg, "column_edges", run.run_id)
    assert {(e["target_column"], e["source_column"]) for e in edges} == {
        ("registration_type", "登记类型"),
        ("husband_name", "男方姓名"),
    }


def test_rerun_with_the_same_edges_records_them_once(spark, cfg):
    """Issue 20 item 11: a rerun keeps its own events but adds no second copy of the same
    column edges; the recorded lineage readers see is unchanged."""
    from pyspark.sql import functions as F

    from lineage.query import recorded_edges

    def edge_rows() -> int:
        table = Table.parse("lineage.column_edges").read(spark, cfg)
        return table.where(F.col("job_name") == "ods__mca_marriage.load_marriage").count()

    with marriage_run():
        pass
    before, seen = edge_rows(), sorted(recorded_edges(spark))
    with marriage_run() as rerun:
        pass
    assert before >= 2
    assert edge_rows() == before
    assert sorted(recorded_edges(spark)) == seen
    rows = delta_rows(spark, cfg, "events", rerun.run_id)
    assert len(rows) == 2  # START, COMPLETE
    # Appended to the existing table without Spark (delta-rs): each instant read back as sent.
    for row in rows:
        sent = dt.datetime.fromisoformat(json.loads(row["event"])["eventTime"])
        assert row["event_time"] == sent.astimezone().replace(tzinfo=None), row["event_type"]


def test_column_lineage_facet_names_the_department_column(cfg, spark):
    with marriage_run() as run:
        pass
    complete = events_of(cfg, run.run_id)[-1]
    fields = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert set(fields) == {"registration_type", "husband_name"}, "no meta columns"
    (source,) = fields["registration_type"]["inputFields"]
    assert source["namespace"] == "ezhou-govlake"
    assert (source["name"], source["field"]) == ("system:mca_marriage.marriage", "登记类型")
    assert source["transformations"] == [
        {"type": "DIRECT", "subtype": "IDENTITY", "description": "rename", "masking": False}
    ]


def test_failing_run_emits_start_then_fail_and_reraises(spark, cfg):
    with pytest.raises(ValueError, match="workbook is empty"), marriage_run() as run:
        raise ValueError("workbook is empty")

    events = events_of(cfg, run.run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert all(schema_errors(e) == [] for e in events)
    error = events[1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "workbook is empty" and error["programmingLanguage"] == "python"
    assert "ValueError" in error["stackTrace"]
    rows = delta_rows(spark, cfg, "events", run.run_id)
    assert sorted(r["event_type"] for r in rows) == ["FAIL", "START"]
    assert delta_rows(spark, cfg, "column_edges", run.run_id) == [], "a failed run adds no edges"


def test_schema_invalid_event_fails_the_run_loudly_and_writes_nothing(spark, cfg):
    with pytest.raises(LineageSchemaError, match="rowCount.*is not of type 'integer'"):
        with marriage_run() as run:
            # A job that reports its count as text, as a CSV-minded job might.
            run.dataset("ods.mca_marriage__marriage").rows = "2"
    events = events_of(cfg, run.run_id)
    assert [e["eventType"] for e in events] == ["START"], "the bad COMPLETE was not written"


def test_validator_rejects_broken_envelopes_and_unknown_facets(cfg, spark):
    with marriage_run() as run:
        pass
    good = events_of(cfg, run.run_id)[-1]
    assert validate_event(good) is good

    no_time = copy.deepcopy(good)
    no_time["eventTime"] = "last night"
    bad_id = copy.deepcopy(good)
    bad_id["run"]["runId"] = "not-a-uuid"
    unknown = copy.deepcopy(good)
    unknown["run"]["facets"]["parent"] = {
        "_producer": "x",
        "_schemaURL": "https://openlineage.io/spec/facets/9-9-9/ParentRunFacet.json",
    }
    no_name = copy.deepcopy(good)
    del no_name["outputs"][0]["name"]
    assert "eventTime: 'last night' is not a 'date-time'" in schema_errors(no_time)
    assert any("runId" in e and "uuid" in e for e in schema_errors(bad_id))
    assert any("no vendored schema" in e for e in schema_errors(unknown))
    assert any("'name' is a required property" in e for e in schema_errors(no_name))
    with pytest.raises(LineageSchemaError, match="does not match the OpenLineage schema"):
        validate_event(no_name)


def test_ods_hook_on_a_real_load_records_counts_schema_and_columns(spark, cfg, tax_source):
    from jobs.ingest import load_table

    tax_source("tax_lineage", [("91420700MA4XXXXX1A", "A"), ("91420700MA4XXXXX2B", "B")], DAY)
    with traced(source_task(*get_table("tax_lineage", "credit_rating"))) as run:
        run.complete(load_table("tax_lineage", "credit_rating", DAY, "run-lineage", spark))

    complete = events_of(cfg, run.run_id)[-1]
    assert complete["job"]["name"] == "ods__tax_lineage.load_credit_rating"
    (output,) = complete["outputs"]
    assert output["name"] == "ods.tax_lineage__credit_rating"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 2
    columns = [f["name"] for f in output["facets"]["schema"]["fields"]]
    assert {"taxpayer_id", "credit_level", "_batch_date"} <= set(columns)
    lineage = output["facets"]["columnLineage"]["fields"]
    assert set(lineage) == {"taxpayer_id", "credit_level"}
    assert lineage["taxpayer_id"]["inputFields"][0]["field"] == "纳税人识别号"
    source_fields = complete["inputs"][0]["facets"]["schema"]["fields"]
    assert {f["name"] for f in source_fields} == {"纳税人识别号", "信用级别"}


LOGICAL = """\
system: nhsa_lineage
department: 市医保局
information_system: 医疗保障信息平台
mode: logical
location:
  conn_id: nhsa_lineage_absent
  default_url: jdbc:sqlite:{db}
tables:
  - name: mi_insured
    dbtable: mi_insured
    primary_key: [psn_no]
"""


def test_logical_registration_traces_its_sql_with_sqlglot(spark, cfg, source_dir, tmp_path):
    from jobs.logical import register_table

    db = tmp_path / "nhsa.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE mi_insured (psn_no INTEGER, certno TEXT, insutype TEXT)")
        conn.execute("INSERT INTO mi_insured VALUES (1, '420702199001011234', '310')")
    (source_dir / "nhsa_lineage.yaml").write_text(LOGICAL.format(db=db), encoding="utf-8")

    with traced(source_task(*get_table("nhsa_lineage", "mi_insured"))) as run:
        run.complete(register_table("nhsa_lineage", "mi_insured", DAY, "run-logical", spark))

    start, complete = events_of(cfg, run.run_id)
    assert complete["job"]["facets"]["sql"]["query"] == "SELECT * FROM mi_insured"
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 1
    lineage = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert set(lineage) == {"psn_no", "certno", "insutype"}
    assert {(f["name"], f["field"]) for f in lineage["certno"]["inputFields"]} == {
        ("system:nhsa_lineage.mi_insured", "certno")
    }
    assert schema_errors(complete) == []

    # The recorded edges join the declared ones: certno is known only from the run.
    from lineage.query import all_edges, upstream

    (edge,) = upstream("ods.nhsa_lineage__mi_insured", "certno", all_edges(spark=spark))
    assert (edge.source_table, edge.source_column) == ("system:nhsa_lineage.mi_insured", "certno")
