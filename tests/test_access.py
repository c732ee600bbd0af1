"""Governed access: configuration, authentication, planning with masks and row filters, audit."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from govlake.access import AccessControl, AuditEvent, AuthenticationFailed, Refused
from govlake.access.config import check_password, hash_password
from govlake.errors import ConfigError, GovlakeError
from govlake.masking import load_masking, mask_sql, mask_value

PROJECT = Path(__file__).resolve().parent.parent
# Demo passwords, as README.md gives them (demo only).
OFFICIAL = ("ec_official", "ezhou-420704")


@pytest.fixture(scope="module")
def ac(cfg):
    return AccessControl.load(cfg)


@pytest.fixture()
def access_dir(tmp_path) -> Path:
    target = tmp_path / "access"
    shutil.copytree(PROJECT / "conf" / "access", target)
    return target


def test_password_hash_is_scrypt_and_checks():
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert check_password("s3cret", stored)
    assert not check_password("s3cret!", stored)


def test_authenticate_one_message_for_unknown_user_and_wrong_password(ac):
    p = ac.authenticate(*OFFICIAL)
    assert p.id == "ec_official" and p.clearance == "L2" and not p.impersonated
    with pytest.raises(AuthenticationFailed) as wrong:
        ac.authenticate("ec_official", "nope")
    with pytest.raises(AuthenticationFailed) as unknown:
        ac.authenticate("nobody", "nope")
    assert str(wrong.value) == str(unknown.value)


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("admin", "admin-demo-2026"),
        ("ec_official", "ezhou-420704"),
        ("hrss_analyst", "hrss-demo-2026"),
        ("bi_app", "bi-app-demo-2026"),
        ("city_governance_app", "city-governance-demo"),
        ("health_app", "health-demo"),
        ("sb_health", "sandbox-demo-2026"),
    ],
)
def test_demo_passwords_of_the_readme_authenticate(ac, user, password):
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert f"`{user}` / `{password}`" in readme
    assert ac.authenticate(user, password).id == user


def test_impersonation_is_marked(ac):
    assert ac.principal("ec_official").impersonated
    with pytest.raises(GovlakeError, match="unknown principal"):
        ac.principal("nobody")


def test_district_official_plan_masks_by_grade_and_filters_rows(ac):
    p = ac.principal("ec_official")
    plan = ac.plan(p, "SELECT id_number, name, division FROM base.population")
    assert plan.kind == "query"
    reads = {r.column: (r.grade, r.mask) for r in plan.reads}
    # id_number inherits L4, name L3 (就高从严 from ods), division L2 = the role's clearance.
    assert reads == {
        "id_number": ("L4", "resident_id"),
        "name": ("L3", "person_name"),
        "division": ("L2", None),
    }
    assert plan.filters == ("base.population: (division = '420704')",)
    assert "`_is_current`" in plan.sql and "division = '420704'" in plan.sql


def test_analyst_sees_names_but_not_identity_numbers(ac):
    p = ac.principal("hrss_analyst")
    plan = ac.plan(p, "SELECT id_number, name FROM theme.social_security")
    assert {r.column: r.mask for r in plan.reads} == {"id_number": "resident_id", "name": None}
    assert plan.filters == ()


def test_admin_statement_unchanged(ac):
    sql = "DELETE FROM base.population WHERE 1=1"
    plan = ac.plan(ac.principal("admin"), sql)
    assert plan.sql == sql


def test_not_granted_table_and_column_refused(ac):
    p = ac.principal("ec_official")
    with pytest.raises(Refused, match="theme.social_security is not granted"):
        ac.plan(p, "SELECT * FROM theme.social_security")
    # household_address is not in the official's grant.
    with pytest.raises(Refused, match="household_address"):
        ac.plan(p, "SELECT household_address FROM base.population")


def test_expired_grant_does_not_apply(ac):
    p = ac.principal("ec_official")
    ac.plan(p, "SELECT division FROM base.population", today=dt.date(2027, 12, 31))
    with pytest.raises(Refused, match="not granted"):
        ac.plan(p, "SELECT division FROM base.population", today=dt.date(2028, 1, 1))


def test_fingerprint_ignores_literals_comments_and_case(ac):
    p = ac.principal("ec_official")
    a = ac.plan(p, "SELECT name FROM base.population WHERE division = '1'")
    b = ac.plan(p, "select NAME /* hi */ from base.population where division = '2'")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64


@pytest.mark.parametrize(
    ("path", "edit", "message"),
    [
        (
            "grants/echeng_population.yaml",
            ("role: echeng_official", "role: nobody"),
            "unknown role",
        ),
        (
            "grants/echeng_population.yaml",
            ("resource: population", "resource: nope"),
            "not a catalog",
        ),
        ("grants/echeng_population.yaml", ("death_date]", "death_date, favourite]"), "favourite"),
        ("grants/echeng_population.yaml", ("division = '420704'", "nope = 1"), "nope"),
        (
            "grants/echeng_population.yaml",
            ("basis:", "basys:"),
            "field .basis.: this required field is missing",
        ),
        ("roles/echeng_official.yaml", ("clearance: L2", "clearance: L9"), "unknown grade"),
        ("principals.yaml", ("roles: [bi_reader]", "roles: [ghost]"), "unknown role"),
    ],
)
def test_bad_access_files_name_file_and_field(cfg, access_dir, path, edit, message):
    file = access_dir / path
    file.write_text(file.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        AccessControl.load(cfg, access_dir)
    assert "Fix:" in str(err.value) and file.name in str(err.value)


def test_grant_of_a_dropped_column_is_refused(cfg, access_dir, tmp_path, monkeypatch):
    """marital_status removed from the catalog entry (dropped from base.population)."""
    catalog = tmp_path / "catalog"
    shutil.copytree(PROJECT / "conf" / "catalog", catalog)
    entry = catalog / "population.yaml"
    lines = entry.read_text(encoding="utf-8").splitlines(keepends=True)
    entry.write_text("".join(x for x in lines if "marital_status" not in x), encoding="utf-8")
    monkeypatch.setenv("GOVLAKE_CATALOG_DIR", str(catalog))
    with pytest.raises(ConfigError, match="marital_status is not a column of population"):
        AccessControl.load(cfg, access_dir)


def test_grant_of_a_column_dropped_from_the_delta_table_is_refused(cfg, spark):
    """base.population as Delta holds no marital_status any more: the grant naming it fails."""
    from govlake.lakehouse import Table

    columns = ["id_number", "name", "sex", "birth_date", "division", "death_date"]
    df = spark.createDataFrame(
        [("420704199001011234", "张三", "1", None, "420704", None, True)],
        ", ".join(f"{c} string" for c in columns) + ", _is_current boolean",
    )
    Table.parse("base.population").write(df, "overwrite", cfg=cfg)
    with pytest.raises(ConfigError, match="marital_status is not a column of population") as err:
        AccessControl.load(cfg, spark=spark)
    assert "echeng_population.yaml" in str(err.value)


def test_admin_statements_sqlglot_cannot_parse_still_run_unchanged(ac):
    plan = ac.plan(ac.principal("admin"), "OPTIMIZE base.population ZORDER BY (id_number)")
    assert plan.sql.startswith("OPTIMIZE") and len(plan.fingerprint) == 64
    odd = ac.plan(ac.principal("admin"), "VACUUM base.population RETAIN (168 HOURS")
    assert odd.kind == "command" and odd.sql.startswith("VACUUM")


MASK_CASES = [
    ("resident_id", "420702199001011234"),
    ("resident_id", "42070219900101123X"),
    ("resident_id", "12345"),
    ("phone", "13912345678"),
    ("person_name", "张三"),
    ("person_name", "欧阳娜娜"),
    ("person_name", "欧阳"),
    ("person_name", "李"),
    ("hidden", "anything"),
]


def test_sql_masks_agree_with_python_masks(spark):
    """The Python mask is the oracle of the Spark SQL expression, on the same values."""
    masking = load_masking()
    selects = [
        f"SELECT {mask_sql(kind, 'v', masking)} AS m FROM VALUES ('{value}') AS t(v)"
        for kind, value in MASK_CASES
    ]
    dates = f"SELECT {mask_sql('year', 'v', masking)} AS m FROM VALUES (DATE'1990-03-04') AS t(v)"
    got = [r.m for r in spark.sql(" UNION ALL ".join([*selects, dates])).collect()]
    want = [mask_value(k, v, masking) for k, v in MASK_CASES] + [
        mask_value("year", dt.date(1990, 3, 4), masking)
    ]
    assert got == want
    assert want[0] == "420702********1234" and want[5] == "欧阳**" and want[4] == "张*"


def test_audit_appends_masked_statement(ac, spark, cfg):
    p = ac.principal("ec_official")
    sql = "SELECT name FROM base.population WHERE id_number = '420702199001011234'"
    plan = ac.plan(p, sql)
    ac.audit(spark, AuditEvent(p, "test", sql, plan, "allowed", None, 3, 12))
    ac.audit(
        spark,
        AuditEvent(p, "test", "DROP TABLE x", None, "refused", "DROP refused", None, 1),
        AuditEvent("mallory", "test", "", None, "refused", "authentication failed", None, 0),
    )
    rows = spark.sql("SELECT * FROM audit.queries ORDER BY at, principal").collect()
    assert [(r.principal, r.verdict) for r in rows] == [
        ("ec_official", "allowed"),
        ("ec_official", "refused"),
        ("mallory", "refused"),
    ]
    assert rows[1].fingerprint and rows[1].principal_kind == "person"
    assert "420702********1234" in rows[0].statement and "199001011234" not in rows[0].statement
    assert rows[0].fingerprint == plan.fingerprint and rows[0].rows == 3
    assert {(r.column, r.mask) for r in rows[0].reads} == {
        ("name", "person_name"),
        ("id_number", "resident_id"),
    }
    # Append-only: Delta itself refuses to delete or update an audit row.
    with pytest.raises(Exception, match="(?i)append"):
        spark.sql("DELETE FROM audit.queries WHERE verdict = 'refused'")


def test_hash_password_command_reads_stdin(monkeypatch, capsys):
    import io

    from govlake.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["access", "hash-password"]) == 0
    stored = capsys.readouterr().out.strip()
    assert check_password("correct horse", stored) and "correct horse" not in stored


def test_access_show_lists_masks_and_row_filter(capsys):
    import json

    from govlake.cli import main

    assert main(["access", "show", "ec_official", "--json"]) == 0
    rows = {(r["table"], r["column"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("base.population", "id_number")]["shown"] == "masked (resident_id)"
    assert rows[("base.population", "division")]["shown"] == "raw"
    assert rows[("base.population", "division")]["rows"] == "(division = '420704')"
    assert ("base.population", "household_address") not in rows


def test_twenty_concurrent_plans_agree_with_sequential_ones(cfg):
    """The endpoint shares one AccessControl between sessions: plans do not interfere."""
    from concurrent.futures import ThreadPoolExecutor

    ac = AccessControl.load(cfg)  # fresh: its per-principal caches fill concurrently
    users = ["ec_official", "hrss_analyst", "bi_app", "admin"] * 5
    queries = {
        "ec_official": "SELECT name, division FROM base.population",
        "hrss_analyst": "SELECT id_number, name FROM theme.social_security",
        "bi_app": "SELECT * FROM theme.social_security_by_district",
        "admin": "SELECT 1",
    }
    with ThreadPoolExecutor(20) as pool:
        plans = list(pool.map(lambda u: ac.plan(ac.principal(u), queries[u]), users))
    fresh = AccessControl.load(cfg)
    assert plans == [fresh.plan(fresh.principal(u), queries[u]) for u in users]
