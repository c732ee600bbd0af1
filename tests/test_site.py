"""The ledger site (一本账): built from a tiny ledger, checked in a real headless chromium.

The browser tests skip when Debian's chromium is missing, unless GOVLAKE_REQUIRE_BROWSER=1
(set by .ci/run), where a missing browser is a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

import pytest
from touched import record_rows_read, undeclared

from govlake.lakehouse import Table
from govlake.site.model import (
    Access,
    Delivery,
    DuplicateCollection,
    Freshness,
    Item,
    Ledger,
    OpenDataset,
    Problems,
    QualityScore,
    Registration,
    Resource,
    SandboxRelease,
    ShareRequest,
    SourceFreshness,
    SystemInfo,
)
from govlake.site.render import render_site
from lineage.declared import ColumnEdge

CHROMIUM = Path(os.environ.get("GOVLAKE_CHROMIUM", "/usr/bin/chromium"))
RESIDENT, MARRIAGE, POPULATION = (
    "ods.psb_hukou__hj_resident",
    "ods.mca_marriage__marriage",
    "base.population",
)
MCA = "system:mca_marriage.marriage"


def tiny_ledger() -> Ledger:
    """Two department tables and the population library built from them."""
    resident = Resource(
        RESIDENT,
        "户籍人口",
        [RESIDENT],
        code="3-01-001-0001",
        layer="ods",
        department="市公安局",
        systems=["psb_hukou"],
        grade="重要",
        sharing_type="有条件共享",
        sharing_condition="仅限人口库建设",
        open_type="不予开放",
        items=[Item("sfzh", "公民身份号码", "string", "核心", RESIDENT), Item("xm", "姓名")],
        registered=True,
    )
    marriage = Resource(
        MARRIAGE,
        "婚姻登记",
        [MARRIAGE],
        layer="ods",
        department="市民政局",
        systems=["mca_marriage"],
        items=[Item("husband_id_number"), Item("registration_type", "登记类型", "string")],
        review="returned",
        review_findings=["sharing.condition: 有条件共享 needs its condition"],
    )
    population = Resource(
        POPULATION,
        "人口库",
        [POPULATION],
        code="1-01-001-0001",
        layer="base",
        department="市行政审批局",
        grade="核心",
        sharing_type="无条件共享",
        open_type="不予开放",
        related=["3-01-001-0001"],
        items=[Item("id_number", "公民身份号码"), Item("name", "姓名"), Item("marital_status")],
        registered=True,
    )
    edges = [
        ColumnEdge(RESIDENT, "sfzh", "system:psb_hukou.hj_resident", "sfzh", "copy"),
        ColumnEdge(RESIDENT, "xm", "system:psb_hukou.hj_resident", "xm", "copy"),
        ColumnEdge(MARRIAGE, "registration_type", MCA, "登记类型", "rename"),
        ColumnEdge(MARRIAGE, "husband_id_number", MCA, "男方身份证号", "rename"),
        ColumnEdge(POPULATION, "id_number", RESIDENT, "sfzh", "key"),
        ColumnEdge(POPULATION, "id_number", MARRIAGE, "husband_id_number", "key"),
        ColumnEdge(POPULATION, "name", RESIDENT, "xm", "authoritative"),
        ColumnEdge(POPULATION, "marital_status", MARRIAGE, "registration_type", "authoritative"),
    ]
    day = dt.date(2026, 11, 26)
    loaded = Freshness(dt.datetime(2026, 11, 27, 1, 5), day, "success", 120, 3, 900)
    return Ledger(
        generated_at=dt.datetime(2026, 11, 27, 2, 30),
        resources=[resident, marriage, population],
        edges=edges,
        systems={
            "psb_hukou": SystemInfo("psb_hukou", "市公安局", "人口户籍管理系统"),
            "mca_marriage": SystemInfo("mca_marriage", "市民政局", "婚姻登记系统"),
        },
        freshness={RESIDENT: loaded},
        scores={POPULATION: QualityScore(day, 93.5, {"completeness": 99.0, "validity": 88.0})},
        department_scores={
            "市公安局": QualityScore(day, 88.5),
            "市民政局": QualityScore(day, None),
        },
        data_docs={"": "index.html", POPULATION: "validations/base.population/run/page.html"},
        registrations=[
            Registration("市民政局", MARRIAGE, "new table", day, dt.date(2026, 12, 24)),
            Registration(
                "市公安局", RESIDENT, "new column", day, dt.date(2026, 11, 1), None, "overdue"
            ),
            Registration("市公安局", RESIDENT, "changed abstract", day, day, day, "done"),
        ],
        access=[
            Access(POPULATION, "420704000", "allowed", 12, 340, 12, 2),
            Access(POPULATION, "420704000", "refused", 3, 0, 0, 1),
            Access(RESIDENT, "420700008", "allowed", 5, 50, 0, 1),
        ],
        open_data=[
            OpenDataset(
                "marriage_counts",
                "婚姻登记统计",
                "市民政局",
                "3-01-001-0001",
                2,
                "7",
                "2026-11-26T02:00:00Z",
                1,
                "CC-BY-4.0",
                "按年度统计",
            )
        ],  # fmt: skip
        requests=tiny_requests(day),
        source_freshness=[
            SourceFreshness(RESIDENT, "市公安局", "30 1 * * *", day, day, "on_time"),
            SourceFreshness(MARRIAGE, "市民政局", "0 2 * * *", day, day - dt.timedelta(3), "late"),
        ],
        score_history={"市公安局": [(day - dt.timedelta(1), 80.0), (day, 88.5)]},
        problems={
            "市民政局": Problems("市民政局", 4, 2, 3.5),
            "市公安局": Problems("市公安局", 0, 1, 1.0),
        },
        deliveries=[
            Delivery(
                "health",
                "app_health.ods__mca_marriage__marriage",
                MARRIAGE,
                day,
                40,
                "delivered",
                "r-approved",
            ),
            Delivery(
                "grid",
                "app_grid.ods__mca_marriage__marriage",
                MARRIAGE,
                day,
                0,
                "emptied",
                "r-rejected",
                "request r-rejected is rejected",
            ),
        ],  # fmt: skip
        releases=[
            SandboxRelease("health_study", "rel-1", dt.datetime(2026, 11, 27, 3), "dp", 0.5, 3,
                           "SELECT division, count(*) FROM base.population GROUP BY division"),
        ],
        budgets={"health_study": (0.5, 1.0)},
        duplicates=[
            DuplicateCollection("市公安局", RESIDENT, "xm", "市民政局", MARRIAGE, "husband_name",
                                "ric", 40, 80.0, 97.5, 0.4, None),
            DuplicateCollection("市公安局", RESIDENT, "xm", "市民政局", MARRIAGE, "wife_name",
                                "ric", 38, 76.0, 96.0, 0.5, "population.name"),
        ],
        notes={"lineage": "declared lineage (test)"},
    )  # fmt: skip


def tiny_requests(day: dt.date) -> list[ShareRequest]:
    """Three requests to 市民政局: approved on time, rejected late, and pending past its due."""
    due = day + dt.timedelta(days=28)
    ask = {"principal": "hrss_analyst", "department": "420700002", "resource": MARRIAGE,
           "items": "registration_type", "provider": "市民政局", "delivery": "query",
           "requested_on": day, "due_on": due}  # fmt: skip
    return [
        ShareRequest("r-approved", **ask, state="approved", decided_on=day, age_working_days=0,
                     overdue=False, on_time=True),
        ShareRequest("r-rejected", **ask, state="rejected", decided_on=due + dt.timedelta(1),
                     age_working_days=21, overdue=False, on_time=False, reason="《个人信息保护法》"),  # noqa: E501
        ShareRequest("r-pending", **ask, state="pending", decided_on=None, age_working_days=25,
                     overdue=True, on_time=None),
    ]  # fmt: skip


@pytest.fixture()
def site(tmp_path) -> Path:
    docs = tmp_path / "data_docs"
    (docs / "validations" / "base.population" / "run").mkdir(parents=True)
    (docs / "index.html").write_text("<!doctype html><title>Data Docs</title>", encoding="utf-8")
    page = docs / "validations" / "base.population" / "run" / "page.html"
    page.write_text("<!doctype html><title>population</title>", encoding="utf-8")
    opened = tmp_path / "open"
    (opened / "marriage_counts").mkdir(parents=True)
    (opened / "marriage_counts" / "data.csv").write_text("year,count\r\n2025,3\r\n2026,4\r\n")
    (opened / "marriage_counts" / "datapackage.json").write_text('{"name": "marriage_counts"}')
    (opened / "catalog.jsonld").write_text('{"@type": "dcat:Catalog"}')
    return render_site(tiny_ledger(), tmp_path / "site", data_docs=docs, open_dir=opened)


def test_site_has_every_page_and_a_search_index(site):
    names = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert names == [
        "access.html",
        "duplicates.html",
        "index.html",
        "lineage/base_population.html",
        "lineage/ods_mca_marriage__marriage.html",
        "lineage/ods_psb_hukou__hj_resident.html",
        "open.html",
        "portal.html",
        "quality/data_docs/index.html",
        "quality/data_docs/validations/base.population/run/page.html",
        "requests.html",
        "resources/base_population.html",
        "resources/ods_mca_marriage__marriage.html",
        "resources/ods_psb_hukou__hj_resident.html",
        "stats.html",
    ]
    script = (site / "assets" / "search-index.js").read_text(encoding="utf-8")
    index = json.loads(script.removeprefix("window.LEDGER_INDEX = ").rstrip(";\n"))
    marriage = next(e for e in index if e["id"] == "ods_mca_marriage__marriage")
    assert marriage["grade"] == "未定级" and marriage["sharing"] == "未登记"
    assert "登记类型" in marriage["text"] and marriage["department"] == "市民政局"
    page = (site / "resources" / "ods_mca_marriage__marriage.html").read_text(encoding="utf-8")
    assert "退回纠正" in page and "有条件共享 needs its condition" in page


def test_resource_page_shows_freshness_score_items_and_data_docs(site):
    html = (site / "resources" / "base_population.html").read_text(encoding="utf-8")
    assert "93.5" in html and "核心" in html and "无条件共享" in html
    assert 'href="../quality/data_docs/validations/base.population/run/page.html"' in html
    assert 'href="../resources/ods_psb_hukou__hj_resident.html"' not in html  # related: by slug
    assert 'href="ods_psb_hukou__hj_resident.html">户籍人口</a>' in html
    resident = (site / "resources" / "ods_psb_hukou__hj_resident.html").read_text(encoding="utf-8")
    assert "2026-11-27 01:05:00" in resident and "900" in resident and "公民身份号码" in resident


def test_lineage_reaches_department_systems_through_ods(site):
    html = (site / "lineage" / "base_population.html").read_text(encoding="utf-8")
    assert 'data-from="system:mca_marriage.marriage.登记类型"' in html
    assert 'data-to="base.population.marital_status"' in html
    assert "市民政局" in html and "婚姻登记系统 · marriage" in html


def test_stats_count_resources_and_open_registrations(site):
    html = (site / "stats.html").read_text(encoding="utf-8")
    assert "待登记 due: <b>1</b>" in html and '已逾期 overdue: <b class="bad">1</b>' in html
    assert "changed abstract" not in html  # done registrations are not listed
    assert '<a href="resources/ods_mca_marriage__marriage.html">婚姻登记</a>' in html
    assert "<title>市公安局: 1</title>" in html  # a bar of the department chart
    assert "<title>市公安局: 88.5</title>" in html and "市民政局: None" not in html


def test_access_page_counts_reads_per_table_and_department_without_values(site):
    """Issue 15: the ledger's access page, from audit.queries counts only."""
    html = (site / "access.html").read_text(encoding="utf-8")
    assert "允许 allowed: <b>17</b>" in html and '拒绝 refused: <b class="bad">3</b>' in html
    row = "<td>420704000</td><td>allowed</td><td>12</td><td>340</td><td>12</td><td>2</td>"
    assert row in html and 'href="resources/base_population.html">base.population</a>' in html
    assert 'href="access.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_duplicates_page_lists_column_pairs_with_rates_and_declared(site):
    """Issue 14 item 5: duplicate collection found from the data, names and rates only."""
    html = (site / "duplicates.html").read_text(encoding="utf-8")
    assert 'declared by no library: <b class="bad">1</b>' in html
    row = (f"<td>市公安局</td><td>{RESIDENT}.xm</td><td>市民政局</td>"
           f"<td>{MARRIAGE}.husband_name</td><td>ric</td><td>40</td><td>80.0</td><td>97.5</td>"
           "<td>0.4</td><td>—</td>")  # fmt: skip
    assert row in html and "<td>population.name</td>" in html
    assert 'href="duplicates.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_open_page_lists_datasets_with_download_links_inside_the_site(site):
    """Issue 16 item 4: the open datasets with links to the copied packages."""
    html = (site / "open.html").read_text(encoding="utf-8")
    assert "<b>婚姻登记统计</b>" in html and "<td>市民政局</td>" in html
    for link in ("open/marriage_counts/data.csv", "open/marriage_counts/datapackage.json"):
        assert f'href="{link}"' in html
        assert (site / link).is_file()
    assert 'href="open/catalog.jsonld"' in html and (site / "open" / "catalog.jsonld").is_file()
    assert 'href="resources/ods_psb_hukou__hj_resident.html">3-01-001-0001</a>' in html
    assert 'href="open.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_requests_page_lists_every_request_with_its_answer(site):
    """Issue 16 item 1: the site shows every request, its state and how long it took."""
    html = (site / "requests.html").read_text(encoding="utf-8")
    assert "申请 requests: <b>3</b>" in html and "已答复 answered: <b>2</b>" in html
    assert (
        "按时答复 on time: <b>1</b>" in html and '逾期未答复 overdue: <b class="bad">1</b>' in html
    )
    assert '<tr class="pending overdue" id="request-r-pending">' in html
    rejected = html.split('id="request-r-rejected">')[1].split("</tr>")[0]
    assert '<td class="state">已驳回</td>' in rejected and '<td class="num">21</td>' in rejected
    assert '<b class="bad">否</b>' in rejected and "个人信息保护法" in rejected
    assert 'href="resources/ods_mca_marriage__marriage.html">婚姻登记</a>' in html
    assert "<title>市民政局: 3</title>" in html  # received, by provider
    assert 'href="requests.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_portal_page_counts_per_department(site):
    """Issue 16 item 5: per department, freshness, quality trend, problems, requests, open data."""
    html = (site / "portal.html").read_text(encoding="utf-8")
    row = html.split('id="dept-市民政局">')[1].split("</tr>")[0]
    cells = [c.split(">", 1)[1] for c in row.split("</td>")[:-1]]
    # department, resources, tables, late, score, trend, open, fixed, median, received,
    # answered, on time, overdue, open data, warehouses (an emptied one is not served)
    assert [cells[i] for i in (0, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14)] == [
        "市民政局", "1", "1", "4", "2", "3.5", "3", "2", "1", "1", "1", "1",
    ]  # fmt: skip
    served = html.split('id="deliveries"')[1].split("</table>")[0]
    assert (
        served.count('<tr class="delivered">') == 1 and "request r-rejected is rejected" in served
    )
    assert 'href="requests.html#request-r-approved"' in served
    assert '<span class="budget" id="budget-health_study">health_study: ε 0.50 / 1.00 spent' in html
    released = html.split('id="releases"')[1].split("</table>")[0]
    assert "<code>rel-1</code>" in released and "差分隐私 noisy" in released
    police = html.split('id="dept-市公安局">')[1].split("</tr>")[0]
    assert '<td class="num">88.5</td>' in police and police.count("<circle") == 2
    assert "<title>2026-11-25: 80.0</title>" in police
    fresh = html.split('id="freshness"')[1]
    late = fresh.split('<tr class="late">')[1].split("</tr>")[0]
    assert "2026-11-23" in late and "迟到" in late and '<td class="num">3</td>' in late
    assert "<title>市民政局: 1</title>" in html and "<title>市民政局: 4</title>" in html


def test_rebuild_replaces_the_site_in_place(site):
    (site / "stale.html").write_text("old", encoding="utf-8")
    render_site(tiny_ledger(), site)
    assert not (site / "stale.html").exists() and (site / "index.html").exists()
    assert not (site / "quality").exists()  # no Data Docs given this time: no stale copy


# --- in a real browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    problem = None
    if not CHROMIUM.exists():
        problem = f"no chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "the playwright package is not installed"
    if problem:
        if os.environ.get("GOVLAKE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GOVLAKE_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(f"browser test skipped: {problem}")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root otherwise
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


class Watched:
    """A page that records console errors, uncaught exceptions and failed requests."""

    def __init__(self, browser):
        self.page = browser.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="load")


def test_every_page_loads_without_errors_from_the_file_system(site, browser):
    watched = Watched(browser)
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        watched.open(page.as_uri())
        assert watched.page.locator("body").count() == 1
    assert watched.problems == [], watched.problems
    assert len(pages) == 15


def test_search_and_facets_narrow_the_catalog(site, browser):
    watched = Watched(browser)
    watched.open((site / "index.html").as_uri())
    rows = watched.page.locator("#resources tbody tr:visible")
    assert rows.count() == 3
    watched.page.fill("#q", "登记类型")  # a data item's Chinese name, not the resource name
    assert rows.count() == 1 and "婚姻登记" in rows.first.inner_text()
    assert watched.page.inner_text("#count") == "1 / 3"
    watched.page.fill("#q", "")
    watched.page.select_option("select[data-facet=grade]", "核心")
    assert rows.count() == 1 and "人口库" in rows.first.inner_text()
    watched.page.select_option("select[data-facet=department]", "市公安局")
    assert rows.count() == 0 and watched.page.is_visible("#none")
    assert watched.problems == []


def test_lineage_graph_renders_and_highlights_a_path(site, browser):
    watched = Watched(browser)
    watched.open((site / "lineage" / "base_population.html").as_uri())
    svg = watched.page.locator("svg.lineage")
    assert svg.count() == 1 and svg.bounding_box()["width"] > 500
    assert watched.page.locator("svg.lineage g.node").count() == 5  # 2 systems, 2 ods, 1 base
    assert watched.page.locator("svg.lineage g.node.system").count() == 2
    assert watched.page.locator("svg.lineage path.edge").count() == 8
    watched.page.click('g.col[data-id="base.population.marital_status"]')
    lit = watched.page.locator("svg.lineage path.edge.on")
    assert lit.count() == 2  # marriage.registration_type, and its system column
    assert watched.problems == []


def test_docs_serve_serves_the_site_over_http(site, browser):
    from govlake.site.cli import make_server

    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        watched = Watched(browser)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        for path in ("index.html", "stats.html", "resources/base_population.html"):
            watched.open(base + path)
        watched.page.click("text=Data Docs 质量报告 →")
        assert watched.page.title() == "population"
        # The open page's download links are served from inside the site folder.
        watched.open(base + "open.html")
        links = watched.page.locator("a.download")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs == ["open/marriage_counts/data.csv", "open/marriage_counts/datapackage.json"]
        csv_text = watched.page.request.get(base + hrefs[0]).text()
        assert csv_text.startswith("year,count")
        assert watched.problems == []
    finally:
        server.shutdown()
        server.server_close()


# --- collected from a tiny Spark lakehouse --------------------------------------------------


def _save(spark, cfg, table: str, rows: list[dict], schema: str) -> None:
    """Write a Delta table at its location only. Not Table.write: that also names the table in
    the shared session, which would point e.g. catalog.resources at this test's folder."""
    location = Table.parse(table).location(cfg)
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(location)


@pytest.fixture()
def private_cfg(cfg, tmp_path):
    return cfg.model_copy(update={"lakehouse": tmp_path / "lakehouse"})


def test_collect_ledger_falls_back_to_configuration_and_ops(spark, private_cfg, tax_source):
    from dataclasses import asdict

    from govlake.owned import LOAD_RUNS
    from govlake.site import build_site
    from govlake.site.collect import collect_ledger
    from jobs.ops import LoadRun

    day = dt.date(2026, 11, 26)
    tax_source("site_tax", [], day)  # the source's conf: Chinese source columns, renamed
    rows = [{"taxpayer_id": "91420700MA4900001X", "credit_level": "A", "_source_row": 2}] * 3
    _save(spark, private_cfg, "ods.site_tax__credit_rating", rows,
          "taxpayer_id string, credit_level string, _source_row long")  # fmt: skip
    finished = dt.datetime(2026, 11, 27, 1, 30)
    run = LoadRun("run-1", "site_tax", "市税务局", "credit_rating", "ods.site_tax__credit_rating",
                  "physical", day, finished, finished, "success", 4, 3, 1, True)  # fmt: skip
    _save(spark, private_cfg, "ops.load_runs", [asdict(run)], LOAD_RUNS.schema)

    ledger = collect_ledger(spark, private_cfg)

    tax = next(r for r in ledger.resources if r.resource_id == "ods.site_tax__credit_rating")
    assert (tax.department, tax.systems, tax.registered) == ("市税务局", ["site_tax"], False)
    assert [(i.name, i.name_zh, i.data_type) for i in tax.items] == [
        ("taxpayer_id", "纳税人识别号", "string"),
        ("credit_level", "信用级别", "string"),
    ]
    fresh = ledger.freshness["ods.site_tax__credit_rating"]
    assert (fresh.last_load, fresh.rows_loaded, fresh.rows_rejected, fresh.rows_total) == (
        finished, 3, 1, 3,
    )  # fmt: skip
    assert any(r.resource_id == "base.population" for r in ledger.resources)  # from libraries/
    assert ledger.freshness.get("base.population") is None  # never built here
    assert ColumnEdge(
        "ods.site_tax__credit_rating", "taxpayer_id", "system:site_tax.credit_rating",
        "纳税人识别号", "rename",
    ) in ledger.edges  # fmt: skip
    assert ledger.registrations is None and ledger.scores == {} and ledger.data_docs == {}
    assert {"catalog", "lineage", "quality", "registrations"} <= set(ledger.notes)

    # Delivered for 11-26 only; today (after 2026-12-04) the schedule expects a later batch.
    fresh = next(f for f in ledger.source_freshness if f.table == "ods.site_tax__credit_rating")
    assert (fresh.department, fresh.latest_batch, fresh.status) == ("市税务局", day, "late")
    assert fresh.expected_batch >= dt.date(2026, 12, 3) and fresh.days_late >= 7
    assert ledger.requests is None and ledger.problems is None and ledger.score_history == {}
    assert ledger.duplicates is None and "not looked for yet" in ledger.notes["duplicates"]

    site = build_site(spark, private_cfg)
    assert site == private_cfg.lakehouse / "site"
    page = (site / "resources" / "ods_site_tax__credit_rating.html").read_text(encoding="utf-8")
    assert "纳税人识别号" in page and "本资源尚未在目录中登记" in page and "quality.scores" in page


def _save_audit(spark, cfg) -> None:
    """Four statements in audit.queries: two reads by 鄂城区 (one masked), a refusal, and one
    read older than the page's 30 days."""
    from govlake.owned import AUDIT_QUERIES

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    masked = [{"table": "base.population", "column": "id_number", "grade": "L4", "mask": "id"}]
    plain = [{"table": "base.population", "column": "division", "grade": "L2", "mask": None}]
    base = {"principal_kind": "person", "impersonated": False, "client": "127.0.0.1",
            "reason": None, "statement_kind": "query", "fingerprint": "f", "statement": "SELECT",
            "filters": [], "duration_ms": 5}  # fmt: skip
    rows = [
        {**base, "at": now, "principal": "ec1", "department": "420704000", "verdict": "allowed",
         "tables": ["base.population"], "reads": masked, "rows": 7},
        {**base, "at": now, "principal": "ec2", "department": "420704000", "verdict": "allowed",
         "tables": ["base.population"], "reads": plain, "rows": 3},
        {**base, "at": now, "principal": "ec1", "department": "420704000", "verdict": "refused",
         "tables": [], "reads": [], "rows": None},
        {**base, "at": now - dt.timedelta(days=40), "principal": "ec1",
         "department": "420704000", "verdict": "allowed", "tables": ["base.population"],
         "reads": masked, "rows": 99},
    ]  # fmt: skip
    _save(spark, cfg, "audit.queries", rows, AUDIT_QUERIES.schema)


def assert_access_counted(ledger) -> None:
    assert ledger.access == [
        Access("base.population", "420704000", "allowed", 2, 10, 1, 2),
        Access("—", "420704000", "refused", 1, 0, 0, 1),
    ]


RAW_ID = "420704199001011234"


def _save_sandbox(spark, cfg) -> None:
    """Two releases of health_study (one naming an identity number in its filter) and its spend."""
    from govlake.owned import SANDBOX_BUDGETS, SANDBOX_RELEASES

    at = dt.datetime(2026, 12, 1, 9, 0)
    base = {"principal": "sb_health", "fingerprint": "f", "delta": None, "k": 10,
            "columns": ["division", "persons"], "result": "[]", "result_sha256": "x"}  # fmt: skip
    rows = [
        {**base, "release_id": "rel-1", "project": "health_study", "at": at, "kind": "dp",
         "epsilon": 0.5, "rows": 3, "statement": "SELECT division, count(*) FROM base.population "
         "GROUP BY division"},
        {**base, "release_id": "rel-2", "project": "health_study", "at": at + dt.timedelta(1),
         "kind": "aggregate", "epsilon": None, "rows": 0,
         "statement": f"SELECT count(*) FROM base.population WHERE id_number <> '{RAW_ID}'"},
    ]  # fmt: skip
    _save(spark, cfg, "share.sandbox_releases", rows, SANDBOX_RELEASES.schema)
    spend = [{"project": "health_study", "epsilon_spent": 0.5, "releases": 1, "updated_at": at}]
    _save(spark, cfg, "share.sandbox_budgets", spend, SANDBOX_BUDGETS.schema)


def _save_duplicates(spark, cfg) -> None:
    """Two nights of quality.discovered_duplicates: the site shows the newer one only."""
    from govlake.owned import DISCOVERED_DUPLICATES

    row = {"department_a": "市公安局", "table_a": RESIDENT, "key_a": "sfzh",
           "department_b": "市民政局", "table_b": MARRIAGE, "key_b": "husband_id",
           "key_kind": "ric", "keys_a": 90, "keys_b": 50, "keys_overlap": 40,
           "overlap_percent": 80.0, "keys_sampled": 40, "column_a": "xm",
           "column_b": "husband_name", "value_class": "text", "rows_compared": 40,
           "chance_percent": 0.4, "declared": False, "declared_by": None}  # fmt: skip
    rows = [
        {**row, "run_id": "n1", "run_date": dt.date(2026, 11, 25), "agree_percent": 90.0},
        {**row, "run_id": "n2", "run_date": dt.date(2026, 11, 26), "agree_percent": 97.5},
    ]
    _save(spark, cfg, "quality.discovered_duplicates", rows, DISCOVERED_DUPLICATES.schema)


def assert_sandbox_collected(ledger) -> None:
    assert [r.release_id for r in ledger.releases] == ["rel-2", "rel-1"]  # newest first
    assert (
        RAW_ID not in ledger.releases[0].statement
        and "WHERE id_number" in ledger.releases[0].statement
    )
    assert ledger.budgets["health_study"] == (0.5, 1.0)  # conf/sandbox/health_study.yaml: ε 1.0


def test_collect_ledger_reads_catalog_quality_and_lineage_tables(
    spark, private_cfg, source_dir, monkeypatch
):
    """Column names as govlake.catalog publishes them (SCD2 history: is_current). Every table
    whose rows the site reads is an input its ledger task declares (its lineage and its size);
    the schemas and counts of the tables it lists are metadata."""
    from govlake.site.collect import collect_ledger

    old, new = dt.date(2026, 11, 25), dt.date(2026, 11, 26)
    entry = {
        "resource": "population",
        "code": "101001-0001",
        "tables": ["base.population"],
        "lei_code": "1",
        "lei_name": "基础信息资源",
        "xiang_code": "01",
        "xiang_name": "人口",
        "provider_department": "市行政审批局",
        "source_systems": ["psb_hukou"],
        "grade": "L4",
        "national_grade": "核心",
        "sharing_type": "有条件共享",
        "sharing_condition": "仅限政务用途",
        "open_type": "不予开放",
        "review_status": "returned",
        "review_findings": ["items: item without a grade"],
    }
    _save(
        spark,
        private_cfg,
        "catalog.resources",
        [
            {**entry, "name": "人口(旧)", "is_current": False},
            {**entry, "name": "人口基础库", "is_current": True},
        ],
        "resource string, code string, name string, tables array<string>, lei_code string, "
        "lei_name string, xiang_code string, xiang_name string, provider_department string, "
        "source_systems array<string>, grade string, national_grade string, "
        "sharing_type string, sharing_condition string, open_type string, "
        "review_status string, review_findings array<string>, is_current boolean",
    )
    _save(
        spark,
        private_cfg,
        "catalog.items",
        [
            {
                "resource": "population",
                "code": "101001-0001",
                "table": "base.population",
                "column": "name",
                "name": "姓名",
                "type": "字符型",
                "physical_type": "string",
                "grade": "L3",
                "national_grade": "重要",
                "inherited_from": ["ods.psb_hukou__hj_resident.xm"],
                "is_current": True,
            }
        ],
        "resource string, code string, table string, column string, name string, "
        "type string, physical_type string, grade string, national_grade string, "
        "inherited_from array<string>, is_current boolean",
    )
    _save(
        spark,
        private_cfg,
        "catalog.systems",
        [
            {
                "system": "psb_hukou",
                "information_system": "人口户籍管理系统",
                "department": "市公安局",
                "mode": "physical",
                "is_current": True,
            }
        ],
        "system string, information_system string, department string, mode string, "
        "is_current boolean",
    )
    _save(
        spark,
        private_cfg,
        "quality.scores",
        [
            {
                "run_id": r,
                "run_date": d,
                "scope": "table",
                "table": "base.population",
                "department": None,
                "overall": o,
                "validity": o,
            }
            for r, d, o in (("r1", old, 50.0), ("r2", new, 91.25))
        ]
        + [
            {
                "run_id": "r2",
                "run_date": new,
                "scope": "department",
                "table": None,
                "department": "市公安局",
                "overall": 77.0,
                "validity": 77.0,
            }
        ],  # fmt: skip
        "run_id string, run_date date, scope string, table string, department string, "
        "overall double, validity double",
    )
    _save(
        spark,
        private_cfg,
        "catalog.registrations",
        [
            {
                "registration_id": "g1",
                "kind": "new_column",
                "detail": "zz",
                "department": "市民政局",
                "resource": "marriage",
                "table": "ods.x",
                "detected_on": old,
                "due_on": dt.date(2020, 1, 2),
                "status": "open",
                "done_on": None,
            },
            {
                "registration_id": "g2",
                "kind": "new_table",
                "detail": "",
                "department": "市民政局",
                "resource": None,
                "table": "ods.y",
                "detected_on": old,
                "due_on": new,
                "status": "done",
                "done_on": new,
            },
        ],
        "registration_id string, kind string, detail string, department string, "
        "resource string, table string, detected_on date, due_on date, status string, "
        "done_on date",
    )
    edge = {"target_table": "base.population", "target_column": "name",
            "source_table": "ods.psb_hukou__hj_resident", "source_column": "xm"}  # fmt: skip
    _save(
        spark,
        private_cfg,
        "lineage.column_edges",
        [
            {
                **edge,
                "run_id": "r1",
                "transformation": "an older run",
                "recorded_at": dt.datetime(2026, 11, 25, 2),
            },
            {
                **edge,
                "run_id": "r2",
                "transformation": "sqlglot",
                "recorded_at": dt.datetime(2026, 11, 26, 2),
            },
        ],
        "target_table string, target_column string, source_table string, source_column string, "
        "run_id string, transformation string, recorded_at timestamp",
    )
    _save_audit(spark, private_cfg)
    _save_sandbox(spark, private_cfg)
    _save_duplicates(spark, private_cfg)

    read = record_rows_read(monkeypatch)
    ledger = collect_ledger(spark, private_cfg)
    assert {"audit.queries", "catalog.items", "share.sandbox_budgets"} <= read
    assert undeclared(read, "build_site") == []
    assert [(d.column_a, d.agree_percent) for d in ledger.duplicates] == [("xm", 97.5)]

    assert_access_counted(ledger)
    assert_sandbox_collected(ledger)
    population = next(r for r in ledger.resources if r.registered)
    assert (population.name, population.code, population.resource_id) == (
        "人口基础库",
        "101001-0001",
        "population",
    )
    assert population.classification == "1 基础信息资源 / 01 人口"
    assert (population.department, population.systems) == ("市行政审批局", ["psb_hukou"])
    assert (population.grade, population.sharing_condition) == ("L4 · 核心", "仅限政务用途")
    assert (population.review, population.review_findings) == (
        "returned",
        ["items: item without a grade"],
    )
    [item] = population.items
    assert (item.name, item.name_zh, item.data_type, item.grade) == (
        "name",
        "姓名",
        "字符型 (string)",
        "L3 · 重要",
    )
    assert "ods.psb_hukou__hj_resident.xm" in item.description
    assert ledger.systems["psb_hukou"].information_system == "人口户籍管理系统"
    assert ledger.scores["base.population"].overall == 91.25
    assert {d: s.overall for d, s in ledger.department_scores.items()} == {"市公安局": 77.0}
    statuses = sorted((r.reason, r.status) for r in ledger.registrations)
    assert statuses == [("new_column · zz", "overdue"), ("new_table", "done")]
    # the other libraries have no entry here: still listed, as not registered
    others = [r for r in ledger.resources if not r.registered]
    assert "base.legal_entity" in {r.resource_id for r in others}
    assert "base.population" not in {t for r in others for t in r.tables}
    name = {
        (e.source_table, e.source_column, e.transformation)
        for e in ledger.edges
        if (e.target_table, e.target_column) == ("base.population", "name")
    }
    assert ("ods.psb_hukou__hj_resident", "xm", "sqlglot") in name  # latest recorded run
    assert ("std.population__psb_resident", "name", "authoritative") in name  # declared


def test_docs_commands_are_wired_and_serve_needs_a_built_site(tmp_path):
    from govlake.cli import build_parser
    from govlake.errors import GovlakeError
    from govlake.site.cli import cmd_docs_build, cmd_docs_serve, make_server

    args = build_parser().parse_args(["docs", "serve", "--port", "8123"])
    assert (args.func, args.port) == (cmd_docs_serve, 8123)
    assert build_parser().parse_args(["docs", "build"]).func is cmd_docs_build
    with pytest.raises(GovlakeError, match="govlake docs build"):
        make_server(tmp_path / "site", 0)


@pytest.mark.parametrize(
    ("schedule", "now_utc", "expected"),
    [
        # 01:30 in Ezhou (UTC+8) on 12-04 is 17:30 UTC on 12-03: its run loads 12-03.
        ("30 1 * * *", dt.datetime(2026, 12, 3, 17, 29), dt.date(2026, 12, 2)),
        ("30 1 * * *", dt.datetime(2026, 12, 3, 17, 31), dt.date(2026, 12, 3)),
        # Weekly on Monday 02:00: on Thursday 12-03 the last run was Monday 11-30.
        ("0 2 * * 1", dt.datetime(2026, 12, 3, 12, 0), dt.date(2026, 11, 29)),
    ],
)
def test_expected_batch_follows_the_schedule_in_the_city_time_zone(schedule, now_utc, expected):
    """Issue 16 item 5: the batch a source owes by now (dbt-style source freshness)."""
    from govlake.site.portal import expected_batch

    now = now_utc.replace(tzinfo=dt.UTC)
    assert expected_batch(schedule, "Asia/Shanghai", now) == expected
