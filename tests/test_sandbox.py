"""The sandbox (可用不可见, issue 16 item 3) of conf/sandbox/health_study.yaml (k=10, ε=1.0,
5 filtered variants a day): its principal sb_health runs aggregates only, small groups are
suppressed, tricks are refused, noisy releases spend the budget, exports re-check. Ground
truth: the inline population below (20 residents of 420702, 19 of 420703, 1 of 420704)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from frames import write_population
from stdnum.cn import ric

from govlake.access import AccessControl, Refused
from govlake.errors import ConfigError
from govlake.owned import AUDIT_QUERIES, SANDBOX_BUDGETS, SANDBOX_RELEASES
from govlake.sandbox.release import Sandbox, SandboxError, result_digest

DISTRICTS = {"420702": 20, "420703": 19, "420704": 1}
LONE = "420704"  # the district of one resident: no statistic may single them out
BY_DISTRICT = "SELECT division, count(*) AS persons FROM base.population GROUP BY division"


def _person(division: str, n: int) -> tuple:
    # Valid 公民身份号码 (checksum included) with serials per district: the export's check knows
    # them. The birthplace is stdnum's example 110105; the district is the division column.
    body = f"1101051980{(n % 12) + 1:02d}01{division[-1]}{n:02d}"
    return (
        body + ric.calc_check_digit(body + "0"),
        f"居民{division}{n}",
        dt.date(1980, 1, 1),
        division,
    )


PEOPLE = [(*_person(d, i)[:3], d, True) for d, count in DISTRICTS.items() for i in range(count)]


@pytest.fixture(scope="module")
def lake(spark, cfg):
    write_population(spark, cfg, PEOPLE)
    return spark


@pytest.fixture(scope="module")
def ac(cfg, lake):
    return AccessControl.load(cfg, spark=lake)


@pytest.fixture(scope="module")
def sb(ac):
    return ac.principal("sb_health")


def _run(spark, ac, p, sql, today=None) -> list[dict]:
    return [r.asDict() for r in spark.sql(ac.plan(p, sql, today=today).sql).collect()]


def test_a_group_of_one_person_is_suppressed(lake, ac, sb):
    rows = _run(lake, ac, sb, BY_DISTRICT)
    got = {r["division"]: (r["persons"], r["__k"]) for r in rows}
    assert got == {d: (n, n) for d, n in DISTRICTS.items() if n >= 10}
    lone = f"SELECT count(*) AS n FROM base.population WHERE division = '{LONE}'"
    assert _run(lake, ac, sb, lone) == []


REFUSED = [
    ("SELECT division FROM base.population", "row-level output"),
    ("SELECT * FROM base.population", "row-level output"),
    ("SELECT DISTINCT division FROM base.population", "DISTINCT"),
    (BY_DISTRICT + " LIMIT 1", "LIMIT"),
    (
        "SELECT division, count(*) FROM base.population GROUP BY division HAVING count(*) >= 1",
        "k=10",
    ),
    ("SELECT count(*) FROM base.population HAVING count(*) > 0 OR sum(1) > 0", "k=10"),
    ("SELECT division, min(birth_date) FROM base.population GROUP BY division", "min"),
    (
        "SELECT division, collect_list(id_number) FROM base.population GROUP BY division",
        "array_agg",
    ),
    ("SELECT division, count(*) OVER () FROM base.population", "window"),
    (
        "SELECT division, sum(CASE WHEN id_number LIKE '4207041980%' THEN 1 END) "
        "FROM base.population GROUP BY division",
        "aggregate a column itself",
    ),
    (
        "SELECT count(*) FROM base.population GROUP BY id_number = '420704198001010001'",
        "without conditions",
    ),
    ("SELECT count(*) FROM (SELECT division FROM base.population LIMIT 1) x", "subqueries"),
    (
        "SELECT p.division, count(*) FROM base.population p JOIN theme.social_security s "
        "ON p.division = s.division GROUP BY p.division",
        "not declared",
    ),
    (
        "SELECT count(*) FROM base.population p, theme.social_security s",
        "cross join",
    ),
    ("SELECT count(*) FROM theme.person_profile", "not granted"),
    # the raw unit and keys the rewrite adds are not the principal's columns
    ("SELECT count(DISTINCT __unit) FROM base.population", "__unit"),
    ("SELECT __key_id_number, count(*) FROM base.population GROUP BY 1", "__key_id_number"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_tricks_are_refused_with_the_reason(ac, sb, sql, reason):
    with pytest.raises(Refused, match=reason):
        ac.plan(sb, sql)


def test_having_trick_leaves_state_unchanged(cfg, lake, ac):
    """The bad input of the issue: a clear message; no release, no budget, no counted query."""
    sandbox = Sandbox(lake, cfg, ac)
    before = (len(sandbox.releases()), sandbox.spent("health_study"), dict(ac.overlap._seen))
    trick = BY_DISTRICT + " HAVING count(*) >= 1"
    with pytest.raises(SandboxError, match=r"HAVING COUNT\(\*\) >= 1 is refused.*k=10"):
        sandbox.release("health_study", trick)
    with pytest.raises(SandboxError, match="k=10"):
        sandbox.release("health_study", trick, epsilon=0.1)
    after = (len(sandbox.releases()), sandbox.spent("health_study"), dict(ac.overlap._seen))
    assert after == before


def test_declared_join_runs_on_raw_keys(ac, sb):
    plan = ac.plan(
        sb,
        "SELECT p.division, count(*) AS n FROM base.population p JOIN theme.social_security s "
        "ON p.id_number = s.id_number GROUP BY p.division",
    )
    assert "`p`.`__key_id_number` = `s`.`__key_id_number`" in plan.sql
    assert "LEAST(COUNT(DISTINCT `p`.`__unit`), COUNT(DISTINCT `s`.`__unit`)) >= 10" in plan.sql


def test_differencing_is_bounded_per_day_and_survives_a_reload(cfg, lake, ac, sb):
    day = dt.date(2027, 3, 1)
    plans = [
        ac.plan(sb, f"SELECT count(*) AS n FROM base.population WHERE birth_date <> '{y}'", day)
        for y in range(1980, 1985)
    ]
    # The same query again is no new variant; another day starts again.
    ac.plan(sb, "SELECT count(*) AS n FROM base.population WHERE birth_date <> '1980'", day)
    sixth = "SELECT count(*) AS n FROM base.population WHERE division <> '420704'"
    with pytest.raises(Refused, match="query 6 today over the same grouping"):
        ac.plan(sb, sixth, day)
    ac.plan(sb, sixth, day + dt.timedelta(days=1))
    # Audited plans are kept in share.sandbox_queries: a fresh load (a restart) still refuses.
    from govlake.access import AuditEvent

    ac.audit(lake, *(AuditEvent(sb, "test", "q", p, "allowed") for p in plans))
    reloaded = AccessControl.load(cfg, spark=lake)
    with pytest.raises(Refused, match="query 6 today"):
        reloaded.plan(reloaded.principal("sb_health"), sixth, day)


def test_noisy_release_spends_the_budget_until_it_runs_out(cfg, lake, ac):
    sandbox = Sandbox(lake, cfg, ac)
    total = "SELECT count(*) AS persons FROM base.population"
    row = sandbox.release("health_study", total, epsilon=0.6)
    assert row["kind"] == "dp" and row["epsilon"] == 0.6
    (released,) = json.loads(row["result"])
    # Laplace noise of scale ~1/ε on the true 40: far closer than 25 (P > 0.9999).
    assert abs(released["persons"] - sum(DISTRICTS.values())) < 25
    assert sandbox.spent("health_study") == pytest.approx(0.6)
    ledger = SANDBOX_RELEASES.table.version(lake, cfg)
    budget = SANDBOX_BUDGETS.table.version(lake, cfg)
    # Repeating the release to average the noise away is what the budget stops.
    with pytest.raises(SandboxError, match=r"spent ε=0.6 of its budget ε=1.*refused before"):
        sandbox.release("health_study", total, epsilon=0.6)
    assert SANDBOX_RELEASES.table.version(lake, cfg) == ledger
    assert SANDBOX_BUDGETS.table.version(lake, cfg) == budget
    assert sandbox.spent("health_study") == pytest.approx(0.6)


def test_export_rechecks_and_refuses_a_tampered_result(cfg, lake, ac, tmp_path):
    sandbox = Sandbox(lake, cfg, ac)
    row = sandbox.release("health_study", BY_DISTRICT)
    path = sandbox.export(row["release_id"], folder=tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "division,persons,__k"
    assert sorted(lines[1:]) == ["420702,20,20", "420703,19,19"]

    lone = [{"division": LONE, "persons": 1, "__k": 1}]
    honest = json.dumps(json.loads(row["result"]) + lone, ensure_ascii=False)
    someone = [{"division": PEOPLE[-1][0], "persons": 12, "__k": 12}]
    forged = {
        "altered": (honest, row["result_sha256"], "differs from what was released"),
        "small": (honest, result_digest(honest), "fewer than k=10"),
        "identifier": (json.dumps(someone), result_digest(json.dumps(someone)), "identifier"),
    }
    rows = [
        row | {"release_id": f"forged-{n}", "result": r, "result_sha256": h}
        for n, (r, h, _) in forged.items()
    ]
    df = lake.createDataFrame(rows, SANDBOX_RELEASES.schema)
    SANDBOX_RELEASES.table.write(df, "append", cfg=cfg)
    for name, (_r, _h, reason) in forged.items():
        with pytest.raises(SandboxError, match=reason):
            sandbox.export(f"forged-{name}", folder=tmp_path)
        assert not (tmp_path / "health_study" / f"forged-{name}.csv").exists()
    audit = AUDIT_QUERIES.table.read(lake, cfg).where("client LIKE 'govlake sandbox export%'")
    verdicts = {r.client.rpartition(" ")[2]: r.verdict for r in audit.collect()}
    assert verdicts == {row["release_id"]: "allowed"} | {f"forged-{n}": "refused" for n in forged}


def test_a_project_naming_an_unknown_table_is_refused_at_load(cfg, tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text(
        "title: x\nprincipal: sb_health\nepsilon: 1\nresources:\n"
        "  - {table: base.nowhere, unit: id_number}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GOVLAKE_SANDBOX_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"bad.yaml.*resources.0.table.*base.nowhere"):
        AccessControl.load(cfg)


def test_two_concurrent_spends_cannot_both_fit_the_budget(cfg, lake, ac):
    """After the noisy test's 0.6 of 1.0, two spends of 0.3 race (past the pre-check): the
    MERGE's condition lets exactly one in, the loser retries against the winner's spend."""
    sandbox = Sandbox(lake, cfg, ac)
    project = sandbox.project("health_study")
    before = sandbox.spent("health_study")
    barrier, results = threading.Barrier(2), []

    def spend():
        barrier.wait()
        try:
            sandbox._spend(project, 0.3, dt.datetime(2026, 12, 5, 9))
            results.append("spent")
        except SandboxError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[1] == "spent" and "would exceed it" in sorted(results)[0], results
    assert sandbox.spent("health_study") == pytest.approx(before + 0.3)


def test_released_groups_sort_with_a_null_key_last():
    """Found by `make demo` at 10k persons: a district group of NULL (residents without a
    district) survived partition selection, and sorting the release raised a TypeError."""
    from govlake.sandbox.dp import by_group

    released = [(("420704", 1990), "a"), ((None, 1990), "b"), (("420702", None), "c")]
    assert by_group(released) == [
        (("420702", None), "c"),
        (("420704", 1990), "a"),
        ((None, 1990), "b"),
    ]
