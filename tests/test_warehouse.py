"""One warehouse per application (一应用一数仓): a request approved for warehouse delivery fills
app_<name> with exactly the approved columns and the drawn rows, masked by the application's
grade; a rerun writes nothing; a revoked grant empties it; a YAML asking for more is refused;
the application reads only its own warehouse (real Spark, tiny inline rows)."""

from __future__ import annotations

import datetime as dt

import pytest

from govlake.access import AccessControl, Refused
from govlake.errors import ConfigError
from govlake.lakehouse import Table, all_tables
from govlake.masking import mask_value
from govlake.owned import SHARE_DELIVERIES
from govlake.share import NewRequest, Share
from govlake.warehouse.config import load_app
from jobs.warehouse import refresh
from tests.frames import assert_frames_equal, write_population

NOW = dt.datetime(2026, 12, 1, 10, 0)
NIGHT, NEXT = dt.date(2026, 12, 2), dt.date(2026, 12, 3)
# Its principal city_governance_app (conf/access/principals.yaml) is bound to app_city_governance.
APP = "city_governance"
TARGET = Table("app_city_governance", "base__population")
PEOPLE = [  # id_number, name, birth_date, division, _is_current
    ("420704199001011234", "张三", dt.date(1990, 1, 1), "420704", True),
    ("420704198505052345", "欧阳娜娜", dt.date(1985, 5, 5), "420704", True),
    ("420703197003033456", "李四", dt.date(1970, 3, 3), "420703", True),  # other district
    ("420704196006064567", "王五", dt.date(1960, 6, 6), "420704", False),  # retired row
]
ASKED = ["id_number", "name", "birth_date", "division"]
APPROVED = ["id_number", "name", "division"]
DRAW = """\
title: 城市治理综合应用
principal: city_governance_app
department: '420700020'
scenario: 城市治理
draws:
  - table: base.population
    columns: {columns}
    row_filter: division = '420704'
"""


def app_file(tmp_path, columns=APPROVED):
    path = tmp_path / f"{APP}.yaml"
    path.write_text(DRAW.format(columns=columns), encoding="utf-8")
    return load_app(path)


@pytest.fixture(scope="module")
def approved(spark, cfg):
    """base.population from PEOPLE; the application asks for four items for its warehouse, the
    provider (市行政审批局, as admin) approves three."""
    write_population(spark, cfg, PEOPLE)
    share = Share(spark, cfg, AccessControl.load(cfg))
    me = share.ac.principal("city_governance_app")
    asked = NewRequest(
        "population",
        ASKED,
        "网格化社会治理：核实辖区常住人口",
        "《湖北省城市综合管理条例》",
        dt.date(2026, 12, 1),
        dt.date(2027, 6, 30),
        delivery="warehouse",
    )
    row = share.request(me, asked, now=NOW)
    share.approve(share.ac.principal("admin"), row["request_id"], APPROVED, now=NOW)
    return share, row["request_id"]


def deliveries(spark, cfg):
    return [
        r.asDict() for r in SHARE_DELIVERIES.table.read(spark, cfg).orderBy("recorded_at").collect()
    ]


def test_refresh_delivers_the_approved_columns_of_the_drawn_rows_masked(
    approved, spark, cfg, tmp_path
):
    share, request_id = approved
    ac = AccessControl.load(cfg, spark=spark)
    result = refresh(spark, cfg, app_file(tmp_path), ac, NIGHT, "run-1")
    assert result["recorded"] == 1 and result["emptied"] == 0
    got = TARGET.read(spark, cfg)
    assert got.columns == APPROVED
    # Oracle: the inline rows, current and of district 420704, masked by the catalog's kinds
    # with mask_value (the application's clearance L2 shows division, L2, raw).
    expected = [
        (mask_value("resident_id", i), mask_value("person_name", n), d)
        for i, n, _b, d, current in PEOPLE
        if current and d == "420704"
    ]
    assert_frames_equal(got, expected)
    assert "420704199001011234" not in {r.id_number for r in got.collect()}
    (rec,) = deliveries(spark, cfg)
    assert rec["state"] == "delivered" and rec["rows"] == 2 and rec["request_id"] == request_id
    assert rec["source_version"] == Table.parse("base.population").version(spark, cfg)
    assert rec["warehouse_version"] == TARGET.version(spark, cfg)
    assert rec["night"] == NIGHT and rec["columns"] == APPROVED

    # The same night again, inputs unchanged: no commit anywhere.
    before = (TARGET.version(spark, cfg), SHARE_DELIVERIES.table.version(spark, cfg))
    assert refresh(spark, cfg, app_file(tmp_path), ac, NIGHT, "run-2")["recorded"] == 0
    assert (TARGET.version(spark, cfg), SHARE_DELIVERIES.table.version(spark, cfg)) == before
    # The next night, inputs unchanged: the night is recorded, the table is not rewritten.
    refresh(spark, cfg, app_file(tmp_path), ac, NEXT, "run-3")
    assert TARGET.version(spark, cfg) == before[0]
    assert [r["night"] for r in deliveries(spark, cfg)] == [NIGHT, NEXT]
    assert TARGET in all_tables(spark, cfg)


def test_a_yaml_asking_for_more_than_approved_is_refused_and_nothing_is_written(
    approved, spark, cfg, tmp_path
):
    ac = AccessControl.load(cfg, spark=spark)
    before = (TARGET.version(spark, cfg), SHARE_DELIVERIES.table.version(spark, cfg))
    greedy = app_file(tmp_path, ["id_number", "name", "division", "birth_date"])
    with pytest.raises(ConfigError) as err:
        refresh(spark, cfg, greedy, ac, NIGHT + dt.timedelta(days=5), "run-greedy")
    text = str(err.value)
    assert f"{APP}.yaml" in text and "draws.0.columns" in text
    assert "birth_date was not approved" in text and "file a new request" in text
    assert (TARGET.version(spark, cfg), SHARE_DELIVERIES.table.version(spark, cfg)) == before


def test_the_application_reads_only_its_own_warehouse(approved, spark, cfg):
    ac = AccessControl.load(cfg, spark=spark)
    me = ac.principal("city_governance_app")
    plan = ac.plan(me, f"SELECT id_number, division FROM {TARGET}", today=NIGHT)
    assert plan.tables == (str(TARGET),)
    assert spark.sql(plan.sql).count() == 2
    for other in (
        "SELECT id_number FROM base.population",
        "SELECT * FROM app_health.base__population",
    ):
        with pytest.raises(Refused):
            ac.plan(me, other, today=NIGHT)
    # Another principal (a 鄂城区 official) cannot read the application's warehouse.
    with pytest.raises(Refused):
        ac.plan(ac.principal("ec_official"), f"SELECT division FROM {TARGET}", today=NIGHT)


def test_a_revoked_grant_empties_the_warehouse_and_records_why(approved, spark, cfg, tmp_path):
    share, request_id = approved
    share.revoke(
        share.ac.principal("admin"), request_id, "应用下线", now=NOW + dt.timedelta(days=2)
    )
    ac = AccessControl.load(cfg, spark=spark)
    night = NEXT + dt.timedelta(days=1)
    result = refresh(spark, cfg, app_file(tmp_path), ac, night, "run-4")
    assert result["emptied"] == 1
    emptied = TARGET.read(spark, cfg)
    assert emptied.count() == 0 and emptied.columns == APPROVED
    last = deliveries(spark, cfg)[-1]
    assert last["state"] == "emptied" and last["rows"] == 0 and last["night"] == night
    assert request_id in last["reason"] and "revoked by admin" in last["reason"]
    assert "应用下线" in last["reason"]
    # Rerun of that night: nothing new.
    version = SHARE_DELIVERIES.table.version(spark, cfg)
    refresh(spark, cfg, app_file(tmp_path), ac, night, "run-5")
    assert SHARE_DELIVERIES.table.version(spark, cfg) == version


def test_the_cli_lists_each_warehouse_table_with_its_last_delivery(approved, spark, cfg, capsys):
    import json

    from govlake.cli import main

    assert main(["app", "list", "--json"]) == 0
    rows = {(r["app"], r["table"]): r for r in json.loads(capsys.readouterr().out)}
    assert {"city_governance", "health"} <= {app for app, _ in rows}
    mine = rows[("city_governance", str(TARGET))]
    assert mine["source"] == "base.population" and mine["state"] is not None


def test_the_refresh_task_declares_an_edge_from_each_column_to_its_source_column():
    """Lineage: app_<name>.<db>__<table>.<column> <- <db>.<table>.<column>; the library's own
    declared edges carry it on to the department's ods column."""
    from govlake.tasks import app_task
    from govlake.warehouse.config import get_app

    task = app_task(get_app("health"))
    assert [str(t) for t in task.inputs] == ["base.population"]
    edges = {(e.target_table, e.target_column, e.source_table, e.source_column) for e in task.edges}
    assert edges == {
        ("app_health.base__population", c, "base.population", c)
        for c in ["id_number", "name", "birth_date", "death_date"]
    }


def test_only_an_application_principal_may_be_bound_to_a_warehouse(cfg, tmp_path):
    import shutil

    from govlake.settings import PROJECT_ROOT

    folder = tmp_path / "access"
    shutil.copytree(PROJECT_ROOT / "conf" / "access", folder)
    path = folder / "principals.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("roles: [echeng_official]", "roles: [echeng_official]\n    warehouse: app_x"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="principals.1.warehouse.*only an application"):
        AccessControl.load(cfg, folder)


def _row(**kw) -> dict:
    """A share.requests row as the workflow writes it (the fields plan_app reads)."""
    return {
        "request_id": "req-1",
        "principal": "city_governance_app",
        "resource": "population",
        "resource_code": "101001-0001",
        "items": ASKED,
        "approved_items": APPROVED,
        "delivery": "warehouse",
        "state": "approved",
        "period_start": dt.date(2026, 12, 1),
        "period_end": dt.date(2027, 6, 30),
        "requested_at": NOW,
        "revoked_at": None,
        "revoked_by": None,
        "reason": None,
    } | kw


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (_row(principal="ec_official"), "made by ec_official, not city_governance_app"),
        (_row(delivery="query"), "asked for delivery query, not warehouse"),
        (_row(resource_code="201001-0001", resource="person_profile"), "is for person_profile"),
    ],
)
def test_a_draw_on_someone_elses_or_a_query_request_is_refused(cfg, tmp_path, row, says):
    """Configuration only: plan_app refuses before any Spark work (nothing to write)."""
    from govlake.warehouse.plan import plan_app

    app = app_file(tmp_path).model_copy()
    app.draws[0].request = "req-1"
    with pytest.raises(ConfigError, match="draws.0.request") as err:
        plan_app(app, AccessControl.load(cfg), [row], NIGHT)
    assert says in str(err.value) and f"{APP}.yaml" in str(err.value)


def test_an_expired_grant_empties_and_the_decision_is_pure(cfg, tmp_path):
    from govlake.warehouse.plan import Step, plan_app
    from jobs.warehouse import RECORD, SKIP, WRITE, decide

    app = app_file(tmp_path)
    (step,) = plan_app(app, AccessControl.load(cfg), [_row(period_end=NIGHT)], NEXT)
    assert step.state == "emptied" and "expired: its period ended on 2026-12-02" in step.reason
    live = Step(APP, app.draws[0], TARGET, "req-1", "SELECT 1", None)
    last = {"plan_hash": live.plan_hash, "state": "delivered", "reason": None}
    last |= {"source_version": 3, "night": NIGHT}
    assert decide(live, 3, last, NIGHT) == SKIP
    assert decide(live, 3, last, NEXT) == RECORD
    assert decide(live, 4, last, NEXT) == WRITE  # the source changed
    assert decide(step, None, last, NEXT) == WRITE  # the grant ended: empty it
