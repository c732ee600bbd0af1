"""The governed endpoint (govlake serve) through ordinary HiveServer2 clients: PyHive and impyla.

The server runs in this process on a free port, on the test module's Spark session, with the real
enforcement point (govlake.access) and principals whose passwords the test sets.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from frames import write_population
from pyhive import hive
from pyhive.exc import OperationalError
from thrift.transport.TTransport import TTransportException

PROJECT = Path(__file__).resolve().parent.parent
PASSWORDS = {"ec_official": "district-pw", "admin": "admin-pw"}
POPULATION = [
    # id_number, name, birth_date, division, _is_current
    ("420704199001011234", "张三", dt.date(1990, 1, 1), "420704", True),
    ("420704198505052345", "欧阳娜娜", dt.date(1985, 5, 5), "420704", True),
    ("420702199203033456", "李四", dt.date(1992, 3, 3), "420702", True),  # another district
    ("420704197001014567", "王五", dt.date(1970, 1, 1), "420704", False),  # retired row
]
QUERY = "SELECT id_number, name, birth_date, division FROM base.population ORDER BY id_number"
# What the 鄂城区 official sees: his district's current rows, identity numbers 6+4, given names
# masked, birth dates generalised to the year.
OFFICIAL_ROWS = [
    ("420704********1234", "张*", "1990", "420704"),
    ("420704********2345", "欧阳**", "1985", "420704"),
]
ADMIN_ROWS = [(i, n, b.isoformat(), d) for i, n, b, d, _ in sorted(POPULATION)]


@pytest.fixture(scope="module")
def access_dir(tmp_path_factory) -> Path:
    """conf/access/ with known passwords for two principals (the hashes are scrypt)."""
    from govlake.access.config import hash_password

    target = tmp_path_factory.mktemp("serve") / "access"
    shutil.copytree(PROJECT / "conf" / "access", target)
    path = target / "principals.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in doc["principals"]:
        if entry["id"] in PASSWORDS:
            entry["password_hash"] = hash_password(PASSWORDS[entry["id"]])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def lake(spark, cfg):
    write_population(spark, cfg, POPULATION)
    return spark


@pytest.fixture(scope="module")
def server(lake, cfg, access_dir):
    from govlake.serve.server import Server, build

    # The product path: rules loaded with Spark and reloaded when they change (LiveAccess).
    gateway = build(cfg, spark=lake, directory=access_dir)
    srv = Server(gateway, "127.0.0.1", 0, max_sessions=32)
    srv.start()
    yield srv
    srv.stop()


def connect(server, user: str, password: str | None = None):
    password = PASSWORDS.get(user, "x") if password is None else password
    return hive.connect("127.0.0.1", server.port, username=user, password=password, auth="CUSTOM")


def rows_of(server, user: str, sql: str) -> list[tuple]:
    with connect(server, user) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()


def audit_rows(server, spark, marker: str, count: int = 1, timeout: float = 30.0) -> list:
    """audit.queries rows whose statement contains `marker`, once `count` of them are written."""
    deadline = time.monotonic() + timeout
    while True:
        server.gateway.flush_audits()
        found = []
        if spark.catalog.tableExists("audit.queries"):
            query = "SELECT * FROM audit.queries WHERE statement LIKE ?"
            found = spark.sql(query.replace("?", f"'%{marker}%'")).collect()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_official_sees_his_district_masked_and_the_admin_sees_raw_rows(server):
    assert rows_of(server, "ec_official", QUERY) == OFFICIAL_ROWS
    assert rows_of(server, "admin", QUERY) == ADMIN_ROWS


def test_impyla_reads_the_same_masked_rows(server):
    from impala.dbapi import connect as impala_connect

    conn = impala_connect(
        host="127.0.0.1",
        port=server.port,
        user="ec_official",
        password=PASSWORDS["ec_official"],
        auth_mechanism="PLAIN",
    )
    try:
        cursor = conn.cursor()
        cursor.execute(QUERY)
        assert [d[0] for d in cursor.description] == ["id_number", "name", "birth_date", "division"]
        assert cursor.fetchall() == OFFICIAL_ROWS
        # Closed here, not by the garbage collector: impyla's cursor finalizer opens a new
        # connection to close its session, from whatever thread the collector runs in.
        cursor.close()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT household_address FROM base.population", "household_address"),
        ("DELETE FROM base.population WHERE 1 = 1", "DELETE"),
        ("SELECT * FROM delta.`/etc/passwd`", "path"),
    ],
)
def test_refused_statements_come_back_with_the_reason(server, sql, reason):
    with connect(server, "ec_official") as conn, pytest.raises(OperationalError) as err:
        conn.cursor().execute(sql)
    message = err.value.args[0].status.errorMessage
    assert message.startswith("refused:") and reason.lower() in message.lower()
    assert "Traceback" not in message and "at org.apache" not in message


def test_wrong_password_and_unknown_user_get_one_message_and_nosasl_is_refused(server, lake):
    with pytest.raises(TTransportException) as wrong:
        connect(server, "ec_official", "not-the-password")
    with pytest.raises(TTransportException) as unknown:
        connect(server, "nobody", "district-pw")
    assert "unknown user or wrong password" in str(wrong.value)
    assert str(wrong.value) == str(unknown.value)
    logins = audit_rows(server, lake, "LOGIN", 2)
    assert sorted((r.principal, r.verdict) for r in logins) == [
        ("ec_official", "refused"),
        ("nobody", "refused"),
    ]
    with pytest.raises(TTransportException):
        hive.connect("127.0.0.1", server.port, username="admin", auth="NOSASL").cursor().execute(
            "SELECT 1"
        )


def test_a_statement_of_1_mb_is_refused(server):
    sql = "SELECT name FROM base.population WHERE name IN (" + "'x', " * 200_000 + "'x')"
    assert len(sql) > 1_000_000
    with connect(server, "ec_official") as conn, pytest.raises(OperationalError) as err:
        conn.cursor().execute(sql)
    assert "limit" in err.value.args[0].status.errorMessage
    assert rows_of(server, "ec_official", "SELECT count(*) FROM base.population") == [(2,)]


def test_a_client_gone_mid_result_leaves_the_server_healthy_and_is_audited(server, lake):
    marker = "gone_mid_result"
    conn = connect(server, "admin")
    cursor = conn.cursor()
    cursor.arraysize = 100
    cursor.execute(f"SELECT id AS {marker} FROM range(0, 20000, 1, 4)")
    assert cursor.fetchone() == (0,)  # one batch of 100 rows was fetched
    conn._transport.close()  # the socket goes away without CloseOperation or CloseSession
    [row] = audit_rows(server, lake, marker)
    assert (row.principal, row.verdict, row.rows) == ("admin", "allowed", 100)
    assert "client disconnected after 100 rows" in row.reason
    assert rows_of(server, "ec_official", "SELECT count(*) FROM base.population") == [(2,)]


def test_every_statement_gives_one_audit_row_with_verdict_and_rows(server, lake):
    with connect(server, "ec_official") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT name AS audited_ok FROM base.population")
        assert len(cursor.fetchall()) == 2
        with pytest.raises(OperationalError):
            cursor.execute("SELECT household_address AS audited_refused FROM base.population")
    rows = {
        r.statement.split(" AS ")[1].split()[0]: r for r in audit_rows(server, lake, "audited_", 2)
    }
    assert set(rows) == {"audited_ok", "audited_refused"}
    ok, refused = rows["audited_ok"], rows["audited_refused"]
    assert (ok.principal, ok.verdict, ok.rows) == ("ec_official", "allowed", 2)
    assert ok.filters and ok.client.startswith("127.0.0.1:")
    assert (refused.verdict, refused.rows) == ("refused", 0)
    assert "household_address" in refused.reason


def test_metadata_calls_list_only_what_the_principal_reads(server):
    with connect(server, "ec_official") as conn:
        cursor = conn.cursor()
        client = conn.client
        from TCLIService import ttypes

        response = client.GetColumns(
            ttypes.TGetColumnsReq(conn.sessionHandle, schemaName="base", tableName="population")
        )
        cursor._operationHandle = response.operationHandle
        cursor._state = cursor._STATE_RUNNING
        columns = [row[3] for row in cursor.fetchall()]
    assert "id_number" in columns and "division" in columns
    assert "household_address" not in columns  # not in the official's grant


def test_20_concurrent_sessions_each_get_their_own_rows(server):
    users = ["ec_official", "admin"] * 10
    want = {"ec_official": [(2,)], "admin": [(4,)]}
    got: dict[int, object] = {}

    def run(i: int, user: str) -> None:
        try:
            got[i] = (user, rows_of(server, user, "SELECT count(*) FROM base.population"))
        except Exception as exc:  # reported below with the session that failed
            got[i] = (user, exc)

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert {i: rows for i, (user, rows) in got.items() if rows != want[user]} == {}
    assert len(got) == 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_govlake_serve_detach_then_stop(access_dir, lake):
    port = free_port()
    env = {**os.environ, "GOVLAKE_ACCESS_DIR": str(access_dir), "PYTHONPATH": str(PROJECT)}
    govlake = [sys.executable, "-m", "govlake.cli", "serve"]

    def run(*args):
        return subprocess.run(
            [*govlake, *args], env=env, capture_output=True, text=True, timeout=240
        )

    started = run("--detach", "--port", str(port))
    assert started.returncode == 0, started.stderr
    try:
        assert run("--status").returncode == 0
        # A session opened and closed (no statement: the endpoint's queries are tested above,
        # and a statement would cost a first Delta append in the new JVM at --stop).
        from impala.dbapi import connect as impala_connect

        conn = impala_connect(
            host="127.0.0.1",
            port=port,
            user="ec_official",
            password=PASSWORDS["ec_official"],
            auth_mechanism="PLAIN",
        )
        conn.cursor().close()
        conn.close()
    finally:
        stopped = run("--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert run("--status").returncode == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sqlalchemy_hive_dialect_lists_granted_schemas_and_columns(server):
    """What Superset does with `hive://user:password@host:port/default?auth=CUSTOM`. (Its table
    list reads column 0 of Spark's SHOW TABLES, the database: a known PyHive quirk with Spark,
    dropbox/PyHive#150, the same with the Spark Thrift Server; queries are not affected.)"""
    from sqlalchemy import create_engine, inspect

    url = f"hive://ec_official:{PASSWORDS['ec_official']}@127.0.0.1:{server.port}/default"
    engine = create_engine(url + "?auth=CUSTOM")
    try:
        found = inspect(engine)
        assert "base" in found.get_schema_names()
        columns = [c["name"] for c in found.get_columns("population", schema="base")]
        assert "id_number" in columns and "household_address" not in columns
    finally:
        engine.dispose()


def test_cancel_stops_a_running_statement_and_is_audited(server, lake):
    from TCLIService.ttypes import TOperationState

    with connect(server, "admin") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) AS cancelled_one FROM range(0, 5000000000)", async_=True)
        time.sleep(0.5)
        cursor.cancel()
        assert cursor.poll().operationState == TOperationState.CANCELED_STATE
        cursor.execute("SELECT 1")  # the session goes on
        assert cursor.fetchall() == [(1,)]
    [row] = audit_rows(server, lake, "cancelled_one")
    assert row.verdict == "allowed" and "cancelled by the client after 0 rows" in row.reason


def test_connections_beyond_the_bound_are_refused_with_a_clear_message(server):
    from govlake.serve.server import Server

    small = Server(server.gateway, "127.0.0.1", 0, max_sessions=1)
    small.start()
    try:
        first = hive.connect(
            "127.0.0.1", small.port, username="admin", password=PASSWORDS["admin"], auth="CUSTOM"
        )
        with pytest.raises(TTransportException, match="1 connections at most"):
            hive.connect(
                "127.0.0.1",
                small.port,
                username="admin",
                password=PASSWORDS["admin"],
                auth="CUSTOM",
            )
        first.close()
    finally:
        small.stop()


def test_an_approval_and_its_revocation_apply_to_the_next_statement(server, lake, cfg, access_dir):
    """Issues 15/16: the endpoint reloads its rules when share.requests changes, so a provider's
    approval opens the requested column on the same connection, and a revocation closes it,
    without a restart. household_address (graded above the official's clearance) comes masked;
    the approval has no row filter, so it adds the other districts' current rows."""
    from govlake.access import AccessControl
    from govlake.share.workflow import NewRequest, Share

    sql = "SELECT household_address FROM base.population"
    share = Share(lake, cfg, AccessControl.load(cfg, access_dir))
    today = dt.date.today()
    with connect(server, "ec_official") as conn:
        cursor = conn.cursor()
        with pytest.raises(OperationalError, match="household_address"):
            cursor.execute(sql)
        asked = NewRequest(
            "population", ["household_address"], "核实户籍地址", "《户口登记条例》第四条",
            today, today + dt.timedelta(days=30),
        )  # fmt: skip
        official, admin = share.ac.principal("ec_official"), share.ac.principal("admin")
        request_id = share.request(official, asked)["request_id"]
        share.approve(admin, request_id)
        cursor.execute(sql)
        assert cursor.fetchall() == [(None,), (None,), (None,)]
        share.revoke(admin, request_id, "核实完毕")
        with pytest.raises(OperationalError, match="household_address"):
            cursor.execute(sql)
    assert server.gateway.access.reloads >= 2


def test_rules_that_change_and_no_longer_load_refuse_every_statement(
    lake, cfg, access_dir, tmp_path
):
    """Fail closed: a grant file broken while the endpoint runs must not leave the old rules in
    force (a revocation made at the same time would be lost); fixed, statements run again."""
    from govlake.access import AccessControl, Refused
    from govlake.serve.live import LiveAccess, rules_signature

    folder = tmp_path / "access"
    shutil.copytree(access_dir, folder)
    live = LiveAccess(
        lambda: AccessControl.load(cfg, folder),
        lambda: rules_signature(lake, cfg, [folder]),
        0,
    )
    official = live.current().principal("ec_official")
    assert live.plan(official, QUERY).tables == ("base.population",)
    broken = folder / "grants" / "broken.yaml"
    broken.write_text("role: no_such_role\nresource: population\ncolumns: all\n", "utf-8")
    with pytest.raises(Refused, match=r"cannot be loaded \(file .*broken\.yaml"):
        live.plan(official, QUERY)
    broken.unlink()
    assert live.plan(official, QUERY).tables == ("base.population",)
