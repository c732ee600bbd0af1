"""Render a ledger into a static site: HTML from Jinja2 templates, CSS/JS from static/.

The site works from the file system (file:// URLs, no server): the search index is a script
that sets a global rather than a JSON file fetched at view time, and nothing comes from a CDN.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from govlake.site.charts import bar_chart, counts, sparkline
from govlake.site.graph import downstream_tables, lineage_svg, page_name, upstream
from govlake.site.model import UNGRADED, UNKNOWN, Ledger, Resource, slug

HERE = Path(__file__).resolve().parent
STATUS_ZH = {"due": "待登记", "overdue": "已逾期", "done": "已完成"}
STATE_ZH = {
    "pending": "待审核",
    "approved": "已授权",
    "partially_approved": "部分授权",
    "rejected": "已驳回",
    "revoked": "已撤销",
    "expired": "已到期",
}
FRESHNESS_ZH = {"on_time": "按时", "late": "迟到", "never": "未送达"}
LAYER_ZH = {"ods": "贴源层 ODS", "base": "基础库", "theme": "主题库"}


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["blank"] = lambda v: "—" if v in (None, "") else v
    env.filters["number"] = lambda v: "—" if v is None else f"{v:,}"
    env.filters["when"] = lambda v: "—" if v is None else str(v)[:19]
    env.filters["score"] = lambda v: "—" if v is None else f"{v:.1f}"
    return env


def facets(resource: Resource) -> dict[str, str]:
    """The filterable attributes of a resource, with a label for what is not registered."""
    return {
        "department": resource.department or UNKNOWN,
        "grade": resource.grade or UNGRADED,
        "sharing": resource.sharing_type or UNKNOWN,
        "open": resource.open_type or UNKNOWN,
    }


def _search_text(resource: Resource) -> str:
    words = [resource.resource_id, resource.name, resource.code or "", resource.abstract]
    words += resource.tables + resource.systems
    words += [f"{i.name} {i.name_zh} {i.description}" for i in resource.items]
    return " ".join(words).lower()


def search_index(ledger: Ledger) -> list[dict]:
    """What the client-side search filters on, one entry per resource."""
    return [
        {
            "id": r.slug,
            "url": f"resources/{r.slug}.html",
            "name": r.name,
            "text": _search_text(r),
            **facets(r),
        }
        for r in ledger.resources
    ]


def _table_view(ledger: Ledger, table: str, columns: list[str], root: str) -> dict:
    links = _lineage_links(ledger, root)
    docs = ledger.data_docs.get(table)
    return {
        "name": table,
        "freshness": ledger.freshness.get(table),
        "score": ledger.scores.get(table),
        "data_docs": f"{root}quality/data_docs/{docs}" if docs else None,
        "lineage_url": f"{root}lineage/{page_name(table)}",
        "svg": lineage_svg(ledger.edges, table, columns, ledger.systems, links),
        "downstream": [(t, links.get(t)) for t in downstream_tables(ledger.edges, table)],
    }


def _lineage_links(ledger: Ledger, root: str) -> dict[str, str]:
    return {t: f"{root}lineage/{page_name(t)}" for t in lineage_tables(ledger)}


def lineage_tables(ledger: Ledger) -> list[str]:
    """Every lakehouse table that gets a lineage page (department systems do not)."""
    named = {t for r in ledger.resources for t in r.tables}
    named |= {e.target_table for e in ledger.edges}
    named |= {e.source_table for e in ledger.edges if not e.source_table.startswith("system:")}
    return sorted(named)


def _columns(ledger: Ledger, table: str) -> list[str]:
    resource = ledger.resource_of(table)
    if resource is None:
        return []
    return [i.name for i in resource.items if i.table in (None, table)]


def _stats(ledger: Ledger) -> dict:
    rows = [facets(r) for r in ledger.resources]
    charts = {
        "按部门 by department": counts([f["department"] for f in rows]),
        "按共享属性 by sharing type": counts([f["sharing"] for f in rows]),
        "按分级 by grade": counts([f["grade"] for f in rows]),
        "按开放属性 by open attribute": counts([f["open"] for f in rows]),
        "按层 by layer": counts([LAYER_ZH.get(r.layer, r.layer) for r in ledger.resources]),
    }
    view = {
        "total": len(ledger.resources),
        "registered": sum(r.registered for r in ledger.resources),
        "charts": [(title, bar_chart(title, data)) for title, data in charts.items()],
        "registrations": None,
        "quality": _quality_chart(ledger),
    }
    if ledger.registrations is not None:
        open_ = [r for r in ledger.registrations if r.status != "done"]
        view["registrations"] = {
            "rows": open_,
            "due": bar_chart(
                "待登记 due", counts([r.department for r in open_ if r.status == "due"]), "b"
            ),
            "overdue": bar_chart(
                "已逾期 overdue",
                counts([r.department for r in open_ if r.status == "overdue"]),
                "c",
            ),
            "count_due": sum(r.status == "due" for r in open_),
            "count_overdue": sum(r.status == "overdue" for r in open_),
        }
    return view


def _access(ledger: Ledger) -> dict | None:
    """The access page: statements per table and department, and the reads per table chart."""
    if ledger.access is None:
        return None
    allowed = [a for a in ledger.access if a.verdict == "allowed"]
    per_table: dict[str, int] = {}
    for a in allowed:
        per_table[a.table] = per_table.get(a.table, 0) + a.statements
    links = {t: r for r in ledger.resources for t in r.tables}
    return {
        "rows": ledger.access,
        "links": links,
        "chart": bar_chart("读取 reads by table", sorted(per_table.items()), "a"),
        "allowed": sum(a.statements for a in allowed),
        "refused": sum(a.statements for a in ledger.access if a.verdict == "refused"),
    }


def _requests(ledger: Ledger) -> dict | None:
    """The requests page: every request with its state, and the answers per provider."""
    if ledger.requests is None:
        return None
    answered = [r for r in ledger.requests if r.decided_on is not None]
    return {
        "rows": ledger.requests,
        "links": {k: r for r in ledger.resources for k in (r.resource_id, r.code) if k},
        "states": bar_chart(
            "状态 by state", counts([STATE_ZH.get(r.state, r.state) for r in ledger.requests])
        ),
        "by_provider": bar_chart("收到 received", counts([r.provider for r in ledger.requests])),
        "answered": len(answered),
        "on_time": sum(bool(r.on_time) for r in answered),
        "overdue": sum(bool(r.overdue) for r in ledger.requests),
    }


def _duplicates(ledger: Ledger) -> dict | None:
    """The duplicate-collection page: column pairs, and the pairs per department pair."""
    if ledger.duplicates is None:
        return None
    pairs = counts([f"{d.department_a} · {d.department_b}" for d in ledger.duplicates])
    return {
        "rows": ledger.duplicates,
        "chart": bar_chart("重复采集字段 columns collected twice", pairs, "b"),
        "undeclared": sum(d.declared_by is None for d in ledger.duplicates),
    }


def _portal(ledger: Ledger) -> dict:
    """The portal page (统计分析): one row per department, with the charts a data office reads."""
    rows = [_department_row(ledger, d) for d in _departments(ledger)]
    late = [f for f in ledger.source_freshness if f.status != "on_time"]
    return {
        "rows": rows,
        "freshness": ledger.source_freshness,
        "late": late,
        "late_chart": bar_chart("迟到 late tables", counts([f.department for f in late]), "c"),
        "problems_chart": bar_chart("未整改 open problems", _open_problems(ledger), "b"),
    }


def _open_problems(ledger: Ledger) -> list[tuple[str, int]]:
    found = [(d, p.open) for d, p in (ledger.problems or {}).items() if p.open]
    return sorted(found, key=lambda kv: (-kv[1], kv[0]))


def _departments(ledger: Ledger) -> list[str]:
    found = {r.department for r in ledger.resources if r.department}
    found |= {f.department for f in ledger.source_freshness}
    found |= set(ledger.score_history) | set(ledger.problems or {})
    found |= {r.provider for r in ledger.requests or []}
    found |= {d.publisher for d in ledger.open_data or []}
    return sorted(found)


def _department_row(ledger: Ledger, department: str) -> dict:
    tables = [f for f in ledger.source_freshness if f.department == department]
    received = [r for r in ledger.requests or [] if r.provider == department]
    history = ledger.score_history.get(department, [])
    return {
        "department": department,
        "resources": sum(r.registered and r.department == department for r in ledger.resources),
        "tables": len(tables),
        "late": sum(f.status != "on_time" for f in tables),
        "score": history[-1][1] if history else None,
        "trend": sparkline(department, [(str(night), v) for night, v in history]),
        "problems": (ledger.problems or {}).get(department),
        "received": len(received),
        "answered": sum(r.decided_on is not None for r in received),
        "on_time": sum(bool(r.on_time) for r in received),
        "overdue": sum(bool(r.overdue) for r in received),
        "open_data": sum(d.publisher == department for d in ledger.open_data or []),
        "warehouses": len(_served(ledger, department)),
    }


def _served(ledger: Ledger, department: str) -> set[str]:
    """Applications whose warehouse was last delivered a table this department provides."""
    providers = {t: r.department for r in ledger.resources for t in r.tables}
    return {
        d.app
        for d in ledger.deliveries or []
        if d.state == "delivered" and providers.get(d.source_table) == department
    }


def _quality_chart(ledger: Ledger) -> str | None:
    scored = [(d, s.overall) for d, s in ledger.department_scores.items() if s.overall is not None]
    if not scored:
        return None
    rows = sorted(scored, key=lambda kv: (kv[1], kv[0]))  # weakest first: who to call
    return bar_chart("质量评分 by department", rows, "q", top=100)


def render_site(
    ledger: Ledger, out: Path, data_docs: Path | None = None, open_dir: Path | None = None
) -> Path:
    """Write the whole site to `out` (replaced in one rename, so no reader sees half a site);
    the open-data packages the ledger lists are copied in, so download links stay inside it."""
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "resources").mkdir(parents=True)
    (staging / "lineage").mkdir()
    shutil.copytree(HERE / "static", staging / "assets")
    # At the root too: pages we do not write (Data Docs) make browsers ask for /favicon.ico.
    shutil.copy2(HERE / "static" / "favicon.ico", staging / "favicon.ico")
    if data_docs and (data_docs / "index.html").exists():
        shutil.copytree(data_docs, staging / "quality" / "data_docs")
    env = _env()
    common = {
        "ledger": ledger,
        "status_zh": STATUS_ZH,
        "state_zh": STATE_ZH,
        "freshness_zh": FRESHNESS_ZH,
        "layer_zh": LAYER_ZH,
        "facets": facets,
    }
    _write(env, staging, "index.html", "index.html", "", common, facet_values=_facet_values(ledger))
    index = json.dumps(search_index(ledger), ensure_ascii=False, sort_keys=True)
    (staging / "assets" / "search-index.js").write_text(
        f"window.LEDGER_INDEX = {index};\n", encoding="utf-8"
    )
    by_id = {r.resource_id: r for r in ledger.resources}
    _write(env, staging, "stats.html", "stats.html", "", common, stats=_stats(ledger), by_id=by_id)
    _write(env, staging, "access.html", "access.html", "", common, access=_access(ledger))
    _write(env, staging, "requests.html", "requests.html", "", common, requests=_requests(ledger))
    _write(env, staging, "portal.html", "portal.html", "", common, portal=_portal(ledger))
    _write(env, staging, "duplicates.html", "duplicates.html", "", common,
           duplicates=_duplicates(ledger))  # fmt: skip
    _copy_open_data(ledger, open_dir, staging / "open")
    _write(env, staging, "open.html", "open.html", "", common, by_code=_by_code(ledger))
    for resource in ledger.resources:
        tables = [_table_view(ledger, t, _columns(ledger, t), "../") for t in resource.tables]
        _write(env, staging, f"resources/{resource.slug}.html", "resource.html", "../", common,
               resource=resource, tables=tables, related=_related(ledger, resource))  # fmt: skip
    for table in lineage_tables(ledger):
        view = _table_view(ledger, table, _columns(ledger, table), "../")
        edges = upstream(ledger.edges, table)
        owner = ledger.resource_of(table)
        _write(env, staging, f"lineage/{page_name(table)}", "lineage.html", "../", common,
               table=view, edges=edges, owner=owner)  # fmt: skip
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def _copy_open_data(ledger: Ledger, open_dir: Path | None, target: Path) -> None:
    """Each listed package's folder and the DCAT catalogue, under the site's open/."""
    if not ledger.open_data or open_dir is None:
        return
    target.mkdir()
    for dataset in ledger.open_data:
        if (open_dir / dataset.name).is_dir():
            shutil.copytree(open_dir / dataset.name, target / dataset.name)
    if (open_dir / "catalog.jsonld").is_file():
        shutil.copy2(open_dir / "catalog.jsonld", target / "catalog.jsonld")


def _by_code(ledger: Ledger) -> dict[str, Resource]:
    return {r.code: r for r in ledger.resources if r.code}


def _related(ledger: Ledger, resource: Resource) -> list[tuple[str, Resource | None]]:
    """Related resource codes with the resource each names, when the ledger has it."""
    known = {key: r for r in ledger.resources for key in (r.resource_id, r.code) if key}
    return [(code, known.get(code)) for code in resource.related]


def _facet_values(ledger: Ledger) -> dict[str, list[str]]:
    rows = [facets(r) for r in ledger.resources]
    return {
        key: sorted({row[key] for row in rows})
        for key in ("department", "grade", "sharing", "open")
    }


def _write(env, staging: Path, path: str, template: str, root: str, common: dict, **page) -> None:
    html = env.get_template(template).render(root=root, slug=slug, **common, **page)
    (staging / path).write_text(html, encoding="utf-8")
