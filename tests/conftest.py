"""Shared fixtures: one Spark session for the whole run, a private lakehouse per test module.

Each test module gets its own lakehouse folder (like Delta's DeltaTestCase.tempPath), so no
module sees another's tables, ops.* and quality.* included; the Spark session is shared, as
starting one takes seconds, and its catalog is emptied between modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from session_names import session_tables

pytest_plugins = ("pytester",)

# A pytest-xdist worker's __main__ has no file: PySpark's connect package (imported by Great
# Expectations) then takes the process for a doctest run and exits. Name the file.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

# Settings are read from the environment: point them at a private folder before any import.
# The test row of conf/settings.yaml: the local row tuned for a few rows per table.
os.environ["GOVLAKE_ENV"] = "test"
RUN_DIR = Path(tempfile.mkdtemp(prefix="govlake-test-"))
os.environ["GOVLAKE_LAKEHOUSE"] = str(RUN_DIR / "lakehouse")
os.environ["GOVLAKE_SOURCES"] = str(RUN_DIR / "sources")
# One Airflow home for the run: Airflow reads it once per process, at import.
os.environ["AIRFLOW_HOME"] = str(RUN_DIR / "airflow")
# File sources of tests live in pytest's temporary folders, outside sources_root: allow them.
os.environ["GOVLAKE_SOURCE_ROOTS"] = tempfile.gettempdir()
# A developer's object-store root must never receive test tables.
os.environ.pop("GOVLAKE_TABLES_URI", None)
PROJECT = Path(__file__).resolve().parent.parent


def pytest_configure(config) -> None:
    """Write this machine's driver class archive before any test starts Spark, as make test
    does, when there is none: every driver of the run maps it (tests/test_spark.py checks)."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller wrote it before starting the workers
    from govlake.class_archive import archive_path
    from govlake.settings import load_settings

    if not archive_path(load_settings()).is_file():
        subprocess.run([sys.executable, "-m", "govlake.cli", "class-archive"], check=True)


@pytest.fixture(scope="module", autouse=True)
def module_lakehouse(request) -> Path:
    """The test module's own lakehouse and sources folders, in the settings and the catalog."""
    from govlake.settings import settings

    home = RUN_DIR / request.module.__name__.rpartition(".")[2]
    os.environ["GOVLAKE_LAKEHOUSE"] = str(home / "lakehouse")
    os.environ["GOVLAKE_SOURCES"] = str(home / "sources")
    settings.cache_clear()
    forget_tables()
    return home / "lakehouse"


def forget_tables() -> None:
    """Empty the shared Spark session's catalog: its tables name the previous module's folders.

    Tables are dropped (their files stay: they were registered with a LOCATION), and each
    database is pointed at the new lakehouse, as Table.register creates it only if missing.
    """
    if "pyspark.sql" not in sys.modules:
        return
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    from govlake.lakehouse import tables_root

    spark.catalog.clearCache()
    release_jvm_objects(spark)
    names = session_tables(spark)
    for database, table, temporary in names:
        if temporary:
            spark.catalog.dropTempView(table)
        elif table:
            spark.sql(f"DROP TABLE IF EXISTS `{database}`.`{table}`")
    for database in {database for database, _, _ in names} - {"default"}:
        location = f"{tables_root()}/{database}"
        spark.sql(f"ALTER DATABASE `{database}` SET LOCATION '{location}'")


def release_jvm_objects(spark) -> None:
    """Let the shared JVM free what the previous module left: its plans, broadcasts and logs.

    Spark frees a broadcast (a hash join's table: 1 MB or more each) or a shuffle only when the
    driver object holding it is garbage-collected, and the objects Python handed over through
    py4j live until Python collects its side. Over a whole run they filled the 4 GB driver heap
    (full GCs, then a dead JVM), so both sides are collected here, and Delta's cache of table
    logs, which names only the previous module's folders, is emptied.
    """
    import gc

    gc.collect()
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    jvm.System.gc()


@pytest.fixture(scope="session")
def spark():
    from govlake.spark import get_spark

    return get_spark()


@pytest.fixture(scope="module")
def cfg(module_lakehouse):
    """The settings of the test module (its own lakehouse)."""
    from govlake.settings import settings

    return settings()


@pytest.fixture()
def evaluation_modes(monkeypatch) -> list[bool]:
    """The mode (compiled or not) of every `govlake.spark.evaluating` entered while the test
    runs, in order; the session's own mode is left as it is."""
    from contextlib import contextmanager

    modes: list[bool] = []

    @contextmanager
    def recorded(session, compiled):
        modes.append(compiled)
        yield

    monkeypatch.setattr("govlake.spark.evaluating", recorded)
    return modes


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


# pytest-xdist (loadfile, no reorder) hands the first module to one worker, the second to the
# other, and the third to the first worker at once, queued behind the first module (each worker
# is given a second module at the start): checked with dummy modules of set durations, which ran
# test_scheduler_path after test_demo_e2e on the same worker with the former order (e2e,
# imports, scheduler_path, ...). That made e2e + scheduler (1395 s + 276 s in CI of 17:50) a
# floor no other speed-up could lower. So: the end-to-end demo (about 23 of the suite's
# minutes) first; the scheduler night on PostgreSQL second, on the other worker; a quick module
# without Spark third, queued behind the demo; then the other long modules, longest first
# (CI's figures), so that the modules left for the end are short and both workers end together.
# The modules not named here follow in file-name order.
FIRST_MODULES = (
    "test_demo_e2e",
    "test_scheduler_path",
    "test_imports",
    "test_object_store",
    "test_library",
    "test_faults",
    "test_feedback",
    "test_concurrency",
    "test_themes_emergency_health",
    "test_economy",
    "test_access",
    "test_credit_theme",
    "test_isolation",
    "test_themes",
    "test_serve",
    "test_share",
    "test_catalog",
    "test_sandbox",
    "test_natural_resources",
    "test_dags",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Order modules for `pytest -n 2 --dist loadfile --no-loadscope-reorder` (make test),
    keeping each module's tests together and in file order."""

    def rank(item) -> int:
        name = item.module.__name__
        return FIRST_MODULES.index(name) if name in FIRST_MODULES else len(FIRST_MODULES)

    items.sort(key=rank)
