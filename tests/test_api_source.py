"""HTTP JSON interface sources (`format: api`): configuration, the token, and loads of the 双公示
penalties of ndrc_sgs from the sample server (govlake/sample/api_server.py) on tiny inline
records: paging, incremental by update time, balance, and the bad inputs (HTTP 500 on a page,
a refused token, a body that is not JSON), each naming the source and page and leaving the ods
table at its previous version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from govlake.errors import ConfigError, SourceError
from govlake.lakehouse import Table
from govlake.sample.api_server import MALFORMED, ROUTES, ApiServer
from govlake.sample.sources_credit import PENALTY
from govlake.sources import SOURCES_DIR, load_source

CONN = "AIRFLOW_CONN_EZHOU_NDRC_SGS"
PATH = "/api/sgs/v1/xzcf"
TABLE = "ods.ndrc_sgs__admin_penalty"
NIGHT = dt.date(2026, 11, 26)


def penalty(n: int, updated: str, uscc: str = "91420700MA4F000001") -> dict:
    values = [
        f"CF{n:04d}",
        f"鄂州罚字〔2026〕{n:05d}号",
        f"企业{n}",
        uscc,
        "张三",
        None,
        "无证经营",
        "罚款",
        5000,
        "2026-03-01",
        "鄂州市市场监督管理局",
        updated,
    ]
    return dict(zip(PENALTY.columns, values, strict=True))


FIRST = [
    penalty(1, "2026-11-20 08:00:00"),
    penalty(2, "2026-11-21 08:00:00"),
    "{'cf_id': 'CF0003', 'cf_wsh'",  # a record the department's export broke
    penalty(4, "2026-11-25 09:30:00"),
    penalty(5, "2026-11-25 09:30:00"),
]


def serve(root: Path, records: list) -> None:
    path = root / PENALTY.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"watermark": "gxsj", "records": records}), encoding="utf-8")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The sample server over a folder of records, and conf/sources with ndrc_sgs paged by 2."""
    root = tmp_path_factory.mktemp("api")
    conf = tmp_path_factory.mktemp("sources")
    text = (SOURCES_DIR / "ndrc_sgs.yaml").read_text(encoding="utf-8")
    (conf / "ndrc_sgs.yaml").write_text(text.replace("page_size: 200", "page_size: 2"), "utf-8")
    serve(root, FIRST)
    # No GX suite here: the interface's reading is tested, not the ods suite (tests/test_quality).
    (conf / "no_suites").mkdir()
    server = ApiServer(root, "s3cret")
    server.start()
    yield server, root, conf
    server.stop()


@pytest.fixture
def env(api, monkeypatch):
    server, root, conf = api
    monkeypatch.setenv("GOVLAKE_SOURCES_DIR", str(conf))
    monkeypatch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(conf / "no_suites"))
    monkeypatch.setenv(CONN, server.connection_uri())
    server.faults.clear()
    server.requests.clear()
    return server, root


def load(day: dt.date, spark) -> dict:
    from jobs.ingest import load_table

    return load_table("ndrc_sgs", "admin_penalty", day, spark=spark)


# -- configuration and token, no Spark ------------------------------------------------------


def write_source(folder: Path, table: str, location: str = "conn_id: ezhou_x") -> Path:
    path = folder / "x_api.yaml"
    path.write_text(
        "system: x_api\ndepartment: 市发展改革委\ninformation_system: 信用平台\nmode: physical\n"
        f"location:\n  {location}\ntables:\n{table}",
        encoding="utf-8",
    )
    return path


def test_an_interface_table_is_a_plain_path_with_format_api(tmp_path):
    ok = "  - {name: p, format: api, endpoint: /api/v1/p, primary_key: [id], watermark: gxsj}\n"
    assert load_source(write_source(tmp_path, ok)).tables[0].is_api
    template = "  - {name: p, format: api, endpoint: '/api/{x}?page=1', primary_key: [id]}\n"
    with pytest.raises(ConfigError, match="is not a plain path.*Fix: give the interface's path"):
        load_source(write_source(tmp_path, template))
    no_format = "  - {name: p, endpoint: /api/v1/p, primary_key: [id]}\n"
    with pytest.raises(ConfigError, match="an 'endpoint' goes with format: api"):
        load_source(write_source(tmp_path, no_format))
    with pytest.raises(ConfigError, match="HTTP interfaces.*'conn_id'"):
        load_source(write_source(tmp_path, ok, location="path: x"))


def test_the_token_comes_from_the_connection_and_its_absence_fails_loudly(monkeypatch):
    from jobs.connections import resolve_http

    source = load_source(SOURCES_DIR / "ndrc_sgs.yaml")
    monkeypatch.setenv(CONN, "http://:tok%2Fen@127.0.0.1:8080")
    target = resolve_http(source, use_airflow=False)
    assert (target.base_url, target.token) == ("http://127.0.0.1:8080", "tok/en")
    assert "tok" not in repr(target) and "tok" not in target.display
    monkeypatch.setenv(CONN, "http://127.0.0.1:8080")
    with pytest.raises(SourceError, match="source ndrc_sgs: connection 'ezhou_ndrc_sgs' holds no"):
        resolve_http(source, use_airflow=False)
    monkeypatch.delenv(CONN)
    with pytest.raises(SourceError, match="'ezhou_ndrc_sgs' is not defined.*Fix: set " + CONN):
        resolve_http(source, use_airflow=False)


def test_the_sample_server_serves_the_configured_endpoints():
    source = load_source(SOURCES_DIR / "ndrc_sgs.yaml")
    assert sorted(t.endpoint for t in source.tables) == sorted(ROUTES)


# -- loads ------------------------------------------------------------------------------------


def no_backoff(patch) -> None:
    """The retries' backoff without its sleeps (connections.with_retries): the attempts are
    what is tested, not the waiting."""
    import jobs.connections

    patch.setattr(jobs.connections, "time", SimpleNamespace(sleep=lambda _seconds: None))


@pytest.fixture(scope="module")
def first(api, spark):
    server, _, conf = api
    server.faults[(PATH, 2)] = [500]  # fails once: fetched again after the backoff
    with pytest.MonkeyPatch.context() as patch:
        no_backoff(patch)
        patch.setenv("GOVLAKE_SOURCES_DIR", str(conf))
        patch.setenv("GOVLAKE_EXPECTATIONS_DIR", str(conf / "no_suites"))
        patch.setenv(CONN, server.connection_uri())
        result = load(NIGHT, spark)
    return result, list(server.requests)


def test_a_first_load_reads_every_page_and_balances(first, spark, cfg, api):
    first, requests = first
    assert [r.split("?")[1] for r in requests] == [
        "page=1&page_size=2",
        "page=2&page_size=2",
        "page=2&page_size=2",  # HTTP 500 the first time, fetched again
        "page=3&page_size=2",
    ]
    assert first["status"] == "success" and first["balanced"]
    assert (first["rows_read"], first["rows_written"], first["rows_rejected"]) == (5, 4, 1)
    assert first["watermark_high"] == "2026-11-25 09:30:00"
    rows = Table.parse(TABLE).read(spark, cfg).collect()
    assert sorted(r["record_id"] for r in rows) == ["CF0001", "CF0002", "CF0004", "CF0005"]
    assert {r["fine_amount"] for r in rows} == {"5000"}  # a JSON number, as its text
    rejected = Table.parse("ops.rejected_rows").read(spark, cfg).collect()
    assert [(r["source_row"], r["reason"]) for r in rejected] == [
        (3, "record 3 (page 2) is not a JSON object")
    ]
    assert rejected[0]["source_file"] == f"{PATH}?page=2&page_size=2"  # no host: stable


def test_the_next_night_asks_from_the_high_mark_and_reads_only_what_changed(first, env, spark, cfg):
    server, root = env
    changed = penalty(2, "2026-11-26 10:00:00")
    changed["cf_lb"] = "警告"
    serve(root, [*FIRST[:1], changed, *FIRST[2:], penalty(6, "2026-11-26 11:00:00")])
    try:
        second = load(NIGHT + dt.timedelta(days=1), spark)
    finally:
        serve(root, FIRST)
    assert all("updated_since=2026-11-25+09%3A30%3A00" in r for r in server.requests)
    # Served: 4, 5 (on the mark, loaded before: dropped), 2 and 6 changed, the broken record.
    assert (second["rows_read"], second["rows_written"], second["rows_rejected"]) == (3, 2, 1)
    assert second["balanced"] and second["watermark_high"] == "2026-11-26 11:00:00"
    rows = Table.parse(TABLE).read(spark, cfg).where(f"_batch_date = DATE'{NIGHT}' + 1")
    assert sorted((r["record_id"], r["penalty_kind"]) for r in rows.collect()) == [
        ("CF0002", "警告"),
        ("CF0006", "罚款"),
    ]


def failed_load(spark, cfg, day: dt.date = NIGHT) -> str:
    version = Table.parse(TABLE).version(spark, cfg)
    with pytest.raises(SourceError) as err:
        load(day, spark)
    assert Table.parse(TABLE).version(spark, cfg) == version
    return str(err.value)


def test_a_page_that_keeps_failing_fails_the_load_naming_the_page(
    first, env, spark, cfg, monkeypatch
):
    server, _ = env
    no_backoff(monkeypatch)
    server.faults[(PATH, 3)] = [500] * cfg.connect_attempts
    message = failed_load(spark, cfg)
    assert message.startswith("source ndrc_sgs: cannot read page 3 at http://127.0.0.1:")
    assert f"{PATH}?page=3&page_size=2" in message and "HTTP 500" in message
    assert f"after {cfg.connect_attempts} attempts" in message
    assert "Fix: ask 市发展改革委 whether the interface is up" in message


def test_a_refused_token_fails_at_once_with_the_fix(first, env, spark, cfg, monkeypatch):
    server, _ = env
    monkeypatch.setenv(CONN, server.connection_uri().replace("s3cret", "old-token-2025"))
    message = failed_load(spark, cfg, NIGHT + dt.timedelta(days=2))
    assert "refused the token (HTTP 401) for page 1" in message
    assert "old-token" not in message and "s3cret" not in message  # tokens are never shown
    assert "Fix: ask 市发展改革委 for a valid token" in message and CONN in message
    assert len(server.requests) == 1, "a refused token is not retried"


def test_a_page_that_is_not_json_fails_naming_the_page(first, env, spark, cfg):
    server, _ = env
    server.faults[(PATH, 1)] = [MALFORMED]
    message = failed_load(spark, cfg, NIGHT + dt.timedelta(days=2))
    assert "source ndrc_sgs: page 1 at http://127.0.0.1:" in message
    assert "is not valid JSON" in message and "nothing was loaded" in message
    assert "Fix: ask 市发展改革委 to correct the interface's output" in message


def test_the_demo_serves_the_generated_records(tmp_path):
    """The server pages a generated sample's records and refuses a wrong token."""
    import requests

    from govlake.sample import DefectRates, generate_sources

    generate_sources(tmp_path, 300, NIGHT, rates=DefectRates())
    records = json.loads((tmp_path / PENALTY.path).read_text(encoding="utf-8"))["records"]
    with ApiServer(tmp_path, "t") as url:
        page = requests.get(
            url + PATH, params={"page": 1, "page_size": 500}, headers={"Authorization": "Bearer t"}
        ).json()
        refused = requests.get(url + PATH, headers={"Authorization": "Bearer x"})
    assert page["data"]["records"] == records and page["data"]["total"] == len(records) > 0
    assert refused.status_code == 401
