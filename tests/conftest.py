"""Shared fixtures: one Spark session for the whole run, a private lakehouse, test sources."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Settings are read once per process, so point them at a private folder before any import.
SESSION_DIR = Path(tempfile.mkdtemp(prefix="govlake-test-"))
os.environ["GOVLAKE_LAKEHOUSE"] = str(SESSION_DIR / "lakehouse")
os.environ["GOVLAKE_SOURCES"] = str(SESSION_DIR / "sources")
os.environ["AIRFLOW_HOME"] = str(SESSION_DIR / "airflow")
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark():
    from govlake.spark import get_spark

    return get_spark()


@pytest.fixture(scope="session")
def cfg():
    from govlake.settings import settings

    return settings()


@pytest.fixture()
def source_dir(tmp_path, monkeypatch) -> Path:
    """A private conf/sources folder for the test; load_sources() reads it."""
    folder = tmp_path / "conf_sources"
    folder.mkdir()
    monkeypatch.setenv("GOVLAKE_SOURCES_DIR", str(folder))
    return folder


def postgres_url() -> str | None:
    """The test PostgreSQL written by scripts/postgres.sh, as an Airflow connection URI."""
    if os.environ.get("GOVLAKE_TEST_PG"):
        return os.environ["GOVLAKE_TEST_PG"]
    env_file = PROJECT / "var" / "pg" / "test-connection.env"
    if env_file.exists():
        return env_file.read_text().strip().split("=", 1)[1]
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = postgres_url()
    if url is None:
        if os.environ.get("GOVLAKE_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required here: run scripts/postgres.sh start")
        pytest.skip("no PostgreSQL: run `make postgres` (scripts/postgres.sh) to enable")
    return url


TAX_SOURCE = """\
system: {system}
department: 市税务局
information_system: 纳税信用管理系统
mode: physical
location:
  path: {folder}
tables:
  - name: credit_rating
    file: credit_rating_{{ds}}.csv
    format: csv
    encoding: utf-8-sig
    primary_key: [纳税人识别号]
    columns: {{纳税人识别号: taxpayer_id, 信用级别: credit_level}}
"""


@pytest.fixture()
def tax_source(source_dir, tmp_path):
    """Write a tax-credit CSV source (UTF-8 with BOM) for a day and configure it."""

    def make(system: str, ratings: list[tuple[str, str]], day) -> Path:
        folder = tmp_path / system
        folder.mkdir(parents=True)
        lines = ["纳税人识别号,信用级别", *[f"{uscc},{level}" for uscc, level in ratings]]
        path = folder / f"credit_rating_{day:%Y%m%d}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
        conf = TAX_SOURCE.format(system=system, folder=folder)
        (source_dir / f"{system}.yaml").write_text(conf, encoding="utf-8")
        return path

    return make
