"""Department connections: a connection Airflow cannot read fails the task, naming it; the
embedded default_url stands in only for a connection that no backend defines."""

from __future__ import annotations

import pytest

from govlake.errors import SourceError
from govlake.sources import load_source
from jobs.connections import resolve_jdbc

SOURCE = """\
system: hrss_conn
department: 市人社局
information_system: 社会保险信息系统
mode: physical
location:
  conn_id: ezhou_hrss_conn
  default_url: jdbc:sqlite:{sources_root}/hrss_si.db
tables:
  - {name: si_enrolment, dbtable: si_enrolment, primary_key: [enrol_id]}
"""


class UnreachableVault:
    """A secrets backend whose store is down: every lookup raises, as a Vault client does."""

    def _set_connection_class(self, connection_class) -> None:
        pass

    def get_connection(self, conn_id: str, team_name: str | None = None):
        raise ConnectionError("vault.ezhou.gov.cn:8200 refused the connection")

    def get_variable(self, key: str, team_name: str | None = None):
        raise ConnectionError("vault.ezhou.gov.cn:8200 refused the connection")

    def get_config(self, key: str):
        return None


class EmptyVault(UnreachableVault):
    """A reachable secrets backend that holds no connections."""

    def get_connection(self, conn_id: str, team_name: str | None = None):
        return None


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "hrss_conn.yaml"
    path.write_text(SOURCE, encoding="utf-8")
    return load_source(path)


@pytest.fixture()
def secrets_backend(monkeypatch):
    """Configure Airflow's [secrets] backend for one test (Airflow memoises the backends)."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    monkeypatch.delenv("AIRFLOW_CONN_EZHOU_HRSS_CONN", raising=False)

    def use(backend: type) -> None:
        monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", f"{__name__}.{backend.__name__}")
        clear_secrets_backends_cache()

    yield use
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    clear_secrets_backends_cache()


def test_an_unreadable_secrets_backend_fails_naming_the_connection(source, cfg, secrets_backend):
    secrets_backend(UnreachableVault)
    with pytest.raises(SourceError) as err:
        resolve_jdbc(source, cfg)
    text = str(err.value)
    assert "'ezhou_hrss_conn'" in text and "hrss_conn" in text
    assert "UnreachableVault" in text and "refused the connection" in text
    assert "default_url is not used" in text


def test_an_undefined_connection_uses_the_embedded_default(source, cfg, secrets_backend):
    secrets_backend(EmptyVault)
    target = resolve_jdbc(source, cfg)
    assert target.url == f"jdbc:sqlite:{cfg.sources_root}/hrss_si.db"
    assert target.driver == "org.sqlite.JDBC"


def test_a_defined_connection_wins_over_the_default(source, cfg, secrets_backend, monkeypatch):
    secrets_backend(EmptyVault)
    monkeypatch.setenv("AIRFLOW_CONN_EZHOU_HRSS_CONN", "postgresql://etl:s3cret@db.hrss:5433/si")
    target = resolve_jdbc(source, cfg)
    assert (target.url, target.properties) == (
        "jdbc:postgresql://db.hrss:5433/si",
        {"user": "etl", "password": "s3cret"},
    )


# -- one reader for every connection: the object store's keys read like a department's ---------


def test_uri_and_json_values_read_the_same_connection():
    from govlake.connections import parse_value

    uri = parse_value("aws://AKID:s%2Fecret@s3.ezhou:9000/?endpoint_url=http%3A%2F%2Fs3.ezhou")
    json_value = (
        '{"conn_type": "aws", "host": "s3.ezhou", "port": 9000, "login": "AKID", '
        '"password": "s/ecret", "extra": "{\\"endpoint_url\\": \\"http://s3.ezhou\\"}"}'
    )
    assert parse_value(json_value) == uri
    assert uri.extra == {"endpoint_url": "http://s3.ezhou"} and uri.password == "s/ecret"
    assert "s/ecret" not in repr(uri)


def test_a_malformed_variable_fails_naming_it_for_databases_and_object_store(
    source, cfg, monkeypatch
):
    from govlake.errors import ConfigError
    from govlake.objectstore import s3_keys

    monkeypatch.setenv("AIRFLOW_CONN_EZHOU_HRSS_CONN", "postgresql://etl:pw@db.hrss:54x3/si")
    with pytest.raises(SourceError, match="AIRFLOW_CONN_EZHOU_HRSS_CONN") as err:
        resolve_jdbc(source, cfg)
    assert "default_url is not used" in str(err.value) and "pw@" not in str(err.value)
    store = cfg.model_copy(update={"object_store_conn_id": "ezhou_hrss_conn"})
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_EZHOU_HRSS_CONN"):
        s3_keys(store)


def test_object_store_keys_from_an_unreachable_or_empty_backend_fail(cfg, secrets_backend):
    from govlake.errors import ConfigError
    from govlake.objectstore import s3_keys

    store = cfg.model_copy(update={"object_store_conn_id": "ezhou_lake_s3"})
    secrets_backend(UnreachableVault)
    with pytest.raises(ConfigError, match="UnreachableVault.*refused the connection"):
        s3_keys(store)
    secrets_backend(EmptyVault)
    with pytest.raises(ConfigError, match="'ezhou_lake_s3' .* is not defined"):
        s3_keys(store)
