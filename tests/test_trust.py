"""Injection and trust boundaries (issue 17 item 5): what comes from a department's database or
from configuration never becomes SQL or code, department databases are only ever read, and a
password shows in no plan, log line or error message."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from govlake.errors import ConfigError, GovlakeError
from govlake.sources import load_source
from jobs.ingest import load_table

DAY0, DAY = dt.date(2026, 11, 25), dt.date(2026, 11, 26)

DB_SOURCE = """\
system: {system}
department: 市人社局
information_system: 社会保险信息系统
mode: {mode}
location:
  conn_id: {system}_db
  default_url: {url}
tables:
  - name: t
    dbtable: {dbtable}
    primary_key: [id]
{extra}"""


def configure(source_dir, system, url, dbtable="t", extra="", mode="physical"):
    text = DB_SOURCE.format(system=system, url=url, dbtable=dbtable, extra=extra, mode=mode)
    path = source_dir / f"{system}.yaml"
    path.write_text(text, "utf-8")
    return path


def written(spark, table, day):
    return sorted(r.id for r in spark.table(table).where(f"_batch_date = DATE'{day}'").collect())


# -- values from the department's database ------------------------------------------------------

MARKS = [
    (1, "2026-11-25 10:00:00"),
    (2, "2026-11-25 11:00:00'; DROP TABLE t; --"),
    (3, "2026-11-25 12:00:00' OR '1'='1"),
]


def test_watermark_marks_with_quotes_load_and_never_run(spark, source_dir, tmp_path):
    """The newest mark (row 3) is pasted-SQL bait: as a bound value it selects exactly the rows
    at or after it; pasted into SQL it would select every row (OR '1'='1')."""
    db = tmp_path / "marks.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (id INTEGER, modified TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", MARKS)
    configure(source_dir, "tr_mark", f"jdbc:sqlite:{db}", extra="    watermark: modified\n")

    first = load_table("tr_mark", "t", DAY0, "run-0", spark)
    assert first["watermark_high"] == MARKS[2][1]
    assert written(spark, "ods.tr_mark__t", DAY0) == [1, 2, 3]
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO t VALUES (4, '2026-11-26 09:00:00')")
    second = load_table("tr_mark", "t", DAY, "run-1", spark)
    assert written(spark, "ods.tr_mark__t", DAY) == [4]
    assert second["balanced"]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM t").fetchone() == (4,), "table t still there"


def test_the_window_is_a_filter_spark_pushes_down(spark, source_dir, tmp_path):
    """Spark's JDBC source has no bound parameters; the mark reaches the database as a literal
    that Spark's JDBC dialect writes (quotes doubled), never through this project's SQL text."""
    from jobs.connections import JdbcTarget
    from jobs.readers import Increment, read_database

    db = tmp_path / "push.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (id INTEGER, modified TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", MARKS)
    path = configure(source_dir, "tr_push", f"jdbc:sqlite:{db}", extra="    watermark: modified\n")
    spec = load_source(path).tables[0]
    target = JdbcTarget(f"jdbc:sqlite:{db}", "org.sqlite.JDBC")
    from govlake.settings import settings

    df = read_database(spark, target, spec, settings(), Increment(MARKS[1][1], None), None)
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "PushedFilters: [*IsNotNull(modified), *GreaterThanOrEqual(modified," in plan
    assert sorted(r.id for r in df.collect()) == []  # high None: only NULL marks, none here
    df = read_database(spark, target, spec, settings(), Increment(MARKS[1][1], MARKS[2][1]), None)
    assert sorted(r.id for r in df.collect()) == [2, 3]


# -- names from configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dbtable", "t; DROP TABLE t"),
        ("dbtable", "(SELECT * FROM t WHERE 1=1) s"),
        ("dbtable", "t --"),
        ("watermark", "modified) OR (1=1"),
        ("partition_column", "id; --"),
    ],
)
def test_sql_names_in_configuration_are_refused_with_file_field_and_fix(source_dir, field, value):
    extra = f"    {field}: '{value}'\n" if field != "dbtable" else ""
    dbtable = f"'{value}'" if field == "dbtable" else "t"
    path = configure(source_dir, "tr_names", "jdbc:sqlite:/x.db", dbtable=dbtable, extra=extra)
    with pytest.raises(ConfigError) as err:
        load_source(path)
    text = str(err.value)
    assert str(path) in text and f"'tables.0.{field}'" in text and "not a plain name" in text
    assert "letters, digits and underscores" in text


def test_names_that_are_plain_are_accepted(source_dir):
    extra = "    watermark: 更新时间\n    partition_column: rec_id\n"
    path = configure(source_dir, "tr_plain", "jdbc:sqlite:/x.db", "hr.人员_2026", extra)
    spec = load_source(path).tables[0]
    assert (spec.dbtable, spec.watermark) == ("hr.人员_2026", "更新时间")


def test_a_where_clause_is_not_a_field(source_dir):
    path = configure(source_dir, "tr_where", "jdbc:sqlite:/x.db", extra="    where: '1=1'\n")
    with pytest.raises(ConfigError, match=r"field 'tables.0.where': this field is not known"):
        load_source(path)


def test_default_url_is_not_a_format_string(source_dir, cfg):
    """str.format on a conf value reads attributes: {sources_root.__class__...} is refused, and
    the one placeholder is replaced as text."""
    from jobs.connections import resolve_jdbc

    bad = "jdbc:sqlite:{sources_root.__class__.__init__.__globals__}/x.db"
    path = configure(source_dir, "tr_url", bad)
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "'location.default_url'" in str(err.value) and "{sources_root}" in str(err.value)

    path = configure(source_dir, "tr_url", "jdbc:sqlite:{sources_root}/x.db")
    target = resolve_jdbc(load_source(path), cfg, use_airflow=False)
    assert target.url == f"jdbc:sqlite:{cfg.sources_root}/x.db"


# -- department databases are only read; passwords stay out of sight ----------------------------


@pytest.fixture()
def pg_source(spark, pg_url, source_dir, monkeypatch):
    """A department table in the test PostgreSQL, as a logical source read with its password."""
    from govlake.connections import parse_value
    from jobs.connections import jdbc_target

    target = jdbc_target(parse_value(pg_url))
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    df.write.format("jdbc").options(**target.options(), dbtable="tr_dept").mode("overwrite").save()
    monkeypatch.setenv("AIRFLOW_CONN_TR_PG_DB", pg_url)
    configure(source_dir, "tr_pg", "jdbc:sqlite:/unused.db", dbtable="tr_dept", mode="logical")
    return target


def department_rows(spark, target) -> int:
    return spark.read.format("jdbc").options(**target.options(), dbtable="tr_dept").load().count()


def test_govlake_sql_never_writes_to_a_department_database(spark, pg_source, capsys):
    from govlake.cli import main

    statement = "INSERT INTO ods.tr_pg__t SELECT 3 AS id, 'c' AS name"
    assert main(["sql", "--as", "hrss_analyst", statement]) == 1  # refused before Spark
    assert "INSERT statements are refused" in capsys.readouterr().err
    assert main(["sql", statement]) == 1  # the administrator
    capsys.readouterr()
    assert department_rows(spark, pg_source) == 2
    # This session refuses INSERT into a JDBC table anyway (schema evolution on), which another
    # session need not do: the connection the table is registered with refuses the write.
    described = spark.sql("DESCRIBE TABLE EXTENDED ods.tr_pg__t").collect()
    storage = next(r[1] for r in described if r[0] == "Storage Properties")
    assert "readOnlyMode=always" in storage and "readOnly=true" in storage
    from jobs.connections import JdbcTarget

    registered = JdbcTarget(pg_source.url, pg_source.driver, pg_source.properties)
    rows = spark.createDataFrame([(3, "c")], "id long, name string")
    writer = rows.write.format("jdbc").options(**registered.read_options(), dbtable="tr_dept")
    with pytest.raises(Exception, match="read-only transaction"):
        writer.mode("append").save()
    assert department_rows(spark, pg_source) == 2
    assert main(["sql", "--json", "SELECT count(*) AS n FROM ods.tr_pg__t"]) == 0
    assert '"n": 2' in capsys.readouterr().out


def test_a_password_is_in_no_plan_log_or_error(
    spark, pg_source, pg_url, source_dir, monkeypatch, capfd
):
    from jobs.connections import resolve_jdbc
    from jobs.logical import register

    password = pg_source.properties["password"]
    assert len(password) >= 4
    from govlake.settings import settings
    from govlake.sources import get_table

    source, spec = get_table("tr_pg", "t")
    name = register(spark, settings(), source, spec)
    df = spark.table(name)
    shown = [
        df._jdf.queryExecution().toString(),  # what EXPLAIN EXTENDED prints
        "\n".join(r[0] for r in spark.sql(f"EXPLAIN EXTENDED SELECT * FROM {name}").collect()),
        "\n".join(f"{r[0]} {r[1]}" for r in spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()),
        spark.sql(f"SHOW CREATE TABLE {name}").first()[0],
        resolve_jdbc(source, settings()).display,
    ]
    for text in shown:
        assert password not in text, text[:300]

    # A wrong password: the failed connection's message names user and host, not the password.
    wrong = "Wr0ng-" + password[::-1]
    monkeypatch.setenv("AIRFLOW_CONN_TR_PG_DB", pg_url.replace(f":{password}@", f":{wrong}@"))
    configure(source_dir, "tr_pg", "jdbc:sqlite:/unused.db", dbtable="tr_dept")
    with pytest.raises(GovlakeError) as err:
        load_table("tr_pg", "t", DAY, "run-pw", spark)
    logged = capfd.readouterr()
    assert "after 3 attempts" in str(err.value) and "(user " in str(err.value)
    for text in (str(err.value), logged.out, logged.err):
        assert wrong not in text and password not in text
    errors = spark.table("ops.load_runs").where("source_system = 'tr_pg'").collect()
    assert errors and all(wrong not in (r.error or "") for r in errors)


def test_a_sqlite_department_database_is_opened_read_only(spark, tmp_path):
    from jobs.connections import JdbcTarget

    db = tmp_path / "dept.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (id INTEGER)")
    target = JdbcTarget(f"jdbc:sqlite:{db}", "org.sqlite.JDBC")
    rows = spark.createDataFrame([(1,)], "id long")
    writer = rows.write.format("jdbc").options(**target.read_options(), dbtable="t")
    with pytest.raises(Exception, match="readonly"):
        writer.mode("append").save()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
