"""Airflow's metadata database comes from the settings row: SQLite by default, a URL, or an
environment variable holding one; a password never sits in conf/settings.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from govlake.errors import ConfigError
from govlake.orchestration import airflow_env, metadata_db_url, pool_args
from govlake.settings import PROJECT_ROOT, load_settings

SETTINGS = PROJECT_ROOT / "conf" / "settings.yaml"


def one_row(tmp_path: Path, **changes) -> Path:
    """conf/settings.yaml's local row, changed, as the only row of a settings file."""
    row = {**yaml.safe_load(SETTINGS.read_text(encoding="utf-8"))["local"], **changes}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"local": row}), encoding="utf-8")
    return path


def test_an_empty_airflow_db_is_sqlite_under_the_airflow_home(tmp_path):
    cfg = load_settings("local", one_row(tmp_path, airflow_db=None))
    url = airflow_env(cfg)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url == f"sqlite:///{cfg.airflow_home / 'airflow.db'}"


def test_the_cluster_row_reads_the_url_from_the_variable_it_names(monkeypatch):
    cfg = load_settings("cluster")
    assert cfg.airflow_db == "GOVLAKE_AIRFLOW_DB" and cfg.spark_task_slots == 8
    monkeypatch.delenv("GOVLAKE_AIRFLOW_DB", raising=False)
    with pytest.raises(ConfigError) as unset:
        metadata_db_url(cfg)
    assert "GOVLAKE_AIRFLOW_DB" in str(unset.value) and "export" in str(unset.value)
    url = "postgresql+psycopg2://airflow:s3cret@db:5432/airflow"
    monkeypatch.setenv("GOVLAKE_AIRFLOW_DB", url)
    assert airflow_env(cfg)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    assert metadata_db_url(cfg, environ={"GOVLAKE_AIRFLOW_DB": "postgresql://x@y/z"}).endswith("/z")


def test_a_url_without_a_password_may_stand_in_the_row(tmp_path):
    url = "postgresql+psycopg2://airflow@db.internal:5432/airflow"
    cfg = load_settings("local", one_row(tmp_path, airflow_db=url))
    assert metadata_db_url(cfg) == url


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("postgresql+psycopg2://airflow:s3cret@db/airflow", "carries a password"),
        ("localhost/airflow", "neither a SQLAlchemy URL"),
    ],
)
def test_a_password_or_a_malformed_value_fails_loading_the_row(tmp_path, value, says):
    path = one_row(tmp_path, airflow_db=value)
    with pytest.raises(ConfigError) as refused:
        load_settings("local", path)
    text = str(refused.value)
    assert "airflow_db" in text and says in text and str(path) in text
    assert "s3cret" not in text


def test_the_spark_pool_is_set_from_the_row_and_needs_a_slot(tmp_path):
    cfg = load_settings("local", one_row(tmp_path, spark_task_slots=3))
    assert pool_args(cfg)[:4] == ["pools", "set", "spark", "3"]
    with pytest.raises(ConfigError, match="spark_task_slots"):
        load_settings("local", one_row(tmp_path, spark_task_slots=0))
