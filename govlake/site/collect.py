"""Collect the ledger from the lakehouse: catalog, lineage, quality and ops tables when present.

Every input may be missing (a fresh lakehouse, or a milestone not built yet). Then the
collector falls back to what configuration and Delta already say (conf/sources, libraries/,
lineage/declared.py, table schemas) and leaves a note the site shows, instead of failing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govlake.access.control import city_today
from govlake.lakehouse import Table, all_tables, rows_without_jvm
from govlake.libraries import Library, load_libraries
from govlake.owned import (
    AUDIT_QUERIES,
    CATALOG_ITEMS,
    CATALOG_REGISTRATIONS,
    CATALOG_RESOURCES,
    CATALOG_SYSTEMS,
)
from govlake.settings import Settings
from govlake.site import portal
from govlake.site.catalog_map import catalog_item, catalog_registration, catalog_resource
from govlake.site.model import (
    UNKNOWN,
    Access,
    Freshness,
    Item,
    Ledger,
    OpenDataset,
    QualityScore,
    Registration,
    Resource,
    SystemInfo,
)
from govlake.sources import SourceSystem, load_sources
from govlake.themes import themes_or_error
from lineage.declared import ColumnEdge, all_library_edges, all_theme_edges, ods_edges

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RESOURCE_LAYERS = ("ods", "base", "theme")
COLUMN_EDGES = Table("lineage", "column_edges")
LIBRARY_RUNS = Table("ops", "library_runs")
SCORES = Table("quality", "scores")
DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness", "timeliness")
DATA_DOCS = Path("quality") / "data_docs"
CJK = re.compile(r"[\u4e00-\u9fff]")


def collect_ledger(spark: SparkSession, cfg: Settings) -> Ledger:
    """The whole ledger of the lakehouse as it stands now."""
    notes: dict[str, str] = {}
    sources, libraries = load_sources(), load_libraries()
    # One version per table for the whole ledger, each asked of Delta once.
    versions: dict[Table, int | None] = {}
    inferred = configured_resources(spark, cfg, sources, libraries, versions)
    resources = _catalog_resources(spark, cfg, notes) or []
    covered = {t for r in resources for t in r.tables}
    # Tables without a catalog entry stay visible, marked 未编目, so the ledger is complete.
    resources += [r for r in inferred if not set(r.tables) & covered]
    tables = sorted({t for r in resources for t in r.tables})
    data_docs = _data_docs(cfg, tables, notes)
    return Ledger(
        generated_at=dt.datetime.now().replace(microsecond=0),
        resources=resources,
        edges=_edges(spark, cfg, sources, libraries, notes, versions),
        systems=_systems(spark, cfg, sources, notes),
        freshness=_freshness(spark, cfg, tables, notes, versions),
        scores=_scores(spark, cfg, tables, notes),
        department_scores=_department_scores(spark, cfg),
        data_docs=data_docs,
        registrations=_registrations(spark, cfg, notes),
        access=_access(spark, cfg, notes),
        open_data=open_datasets(cfg.lakehouse / OPEN_DIR, notes),
        requests=portal.share_requests(spark, cfg, notes, city_today(cfg)),
        source_freshness=portal.source_freshness(spark, cfg, sources, dt.datetime.now(dt.UTC)),
        score_history=portal.score_history(spark, cfg),
        problems=portal.problems(spark, cfg, notes),
        deliveries=portal.deliveries(spark, cfg, notes),
        releases=portal.sandbox_releases(spark, cfg, notes),
        duplicates=portal.duplicates(spark, cfg, notes),
        budgets=portal.sandbox_budgets(spark, cfg),
        notes=notes,
    )


@lru_cache(maxsize=512)
def _schema(
    spark: SparkSession, cfg: Settings, table: Table, version: int
) -> list[tuple[str, str]]:
    schema = table.schema(spark, cfg, version)
    return [(f.name, f.dataType.simpleString()) for f in schema] if schema else []


@lru_cache(maxsize=512)
def _count(cfg: Settings, table: Table, version: int) -> int:
    return rows_without_jvm(table, version, cfg)


def _rows(df: DataFrame) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in df.collect()]


def current(df: DataFrame) -> DataFrame:
    """The current version of a table kept with history (is_current, valid_to or run_date)."""
    from pyspark.sql import functions as F

    if "is_current" in df.columns:
        return df.where(F.col("is_current"))
    if "valid_to" in df.columns:
        return df.where(F.col("valid_to").isNull())
    if "run_date" in df.columns:
        latest = df.agg(F.max("run_date")).first()[0]
        return df.where(F.col("run_date") == F.lit(latest))
    return df


# --- resources -------------------------------------------------------------------------------


def _catalog_resources(spark, cfg, notes) -> list[Resource] | None:
    resources = CATALOG_RESOURCES.table.read_if_exists(spark, cfg)
    if resources is None:
        notes["catalog"] = (
            "catalog.resources 尚未发布: resources below are inferred from conf/sources and "
            "libraries/ (not yet registered in the catalog)."
        )
        return None
    items_df = CATALOG_ITEMS.table.read_if_exists(spark, cfg)
    items = [catalog_item(r) for r in _rows(current(items_df))] if items_df is not None else []
    found = [catalog_resource(r, items) for r in _rows(current(resources))]
    notes["catalog"] = (
        f"catalog.resources: {len(found)} registered resources; tables without an entry are "
        "inferred from configuration and marked 未编目."
    )
    return sorted(found, key=lambda r: (r.layer, r.resource_id))


def configured_resources(
    spark: SparkSession,
    cfg: Settings,
    sources: list[SourceSystem],
    libraries: list[Library],
    versions: dict[Table, int | None],
) -> list[Resource]:
    """One inferred resource per configured ods table and library, and per other Delta table."""
    found = [_source_resource(spark, cfg, s, t, versions) for s in sources for t in s.tables]
    found += [_library_resource(spark, cfg, lib, sources, versions) for lib in libraries]
    known = {t for r in found for t in r.tables}
    for table in all_tables(spark, cfg):
        name = table.qualified
        if table.database in RESOURCE_LAYERS and name not in known:
            columns = delta_columns(spark, cfg, name, versions) or []
            items = [Item(c, "", t, table=name) for c, t in columns]
            found.append(Resource(name, name, [name], layer=table.database, items=items))
    return found


def _version(spark, cfg, table: Table, versions: dict[Table, int | None]) -> int | None:
    """The table's current version (None: never written), asked of Delta once per ledger."""
    if table not in versions:
        versions[table] = table.version(spark, cfg)
    return versions[table]


def delta_columns(spark, cfg, name: str, versions) -> list[tuple[str, str]] | None:
    """(column, Spark type) of a Delta table without its `_` meta columns; None if absent."""
    table = Table.parse(name)
    version = _version(spark, cfg, table, versions)
    if version is None:
        return None
    return [(c, t) for c, t in _schema(spark, cfg, table, version) if not c.startswith("_")]


def _source_resource(spark, cfg, source: SourceSystem, spec, versions) -> Resource:
    table = source.ods_table(spec)
    source_name = {ods: src for src, ods in spec.columns.items()}
    columns = delta_columns(spark, cfg, table, versions)
    if columns is None:  # never loaded (or logical): what the configuration names
        names = dict.fromkeys([*spec.ods_primary_key, *spec.columns.values()])
        columns = [(c, "") for c in names]
    items = [
        Item(c, _zh(source_name.get(c, "")), t, table=table, description=source_name.get(c, ""))
        for c, t in columns
    ]
    return Resource(
        resource_id=table,
        name=spec.description or spec.name,
        tables=[table],
        abstract=source.description,
        layer="ods",
        department=source.department,
        department_code=source.department_code,
        systems=[source.system],
        items=items,
    )


def _library_resource(spark, cfg, library: Library, sources, versions) -> Resource:
    types = dict(delta_columns(spark, cfg, library.table, versions) or [])
    names = [*library.all_key_columns, *library.attributes]
    items = [
        Item(
            name,
            "",
            types.get(name) or _attribute_type(library, name),
            table=library.table,
            description=library.attributes[name].description if name in library.attributes else "",
        )
        for name in names
    ]
    inputs = {Table.parse(i.table).name.split("__")[0] for i in library.inputs.values()}
    return Resource(
        resource_id=library.table,
        name=library.title,
        tables=[library.table],
        abstract=library.description,
        layer=library.database,
        systems=sorted(inputs & {s.system for s in sources}),
        items=items,
    )


def _attribute_type(library: Library, name: str) -> str:
    if name == library.key:
        return library.key_type
    if name in library.key_columns:
        return library.key_columns[name]
    return library.attributes[name].type


def _zh(text: str) -> str:
    """A department's own column name is the Chinese name when it is written in Chinese."""
    return text if CJK.search(text) else ""


# --- systems and lineage ---------------------------------------------------------------------


def _systems(spark, cfg, sources, notes) -> dict[str, SystemInfo]:
    configured = {
        s.system: SystemInfo(
            s.system, s.department, s.information_system, s.department_code, s.mode
        )
        for s in sources
    }
    df = CATALOG_SYSTEMS.table.read_if_exists(spark, cfg)
    if df is None:
        return configured
    from govlake.site.catalog_map import catalog_system

    published = {s.system: s for s in map(catalog_system, _rows(current(df)))}
    return {**configured, **published}


def _edges(spark, cfg, sources, libraries, notes, versions) -> list[ColumnEdge]:
    """Declared column edges plus those recorded by the latest run of each table."""
    declared = all_library_edges(libraries) + all_theme_edges(themes_or_error()[0])
    for source in sources:
        for spec in source.tables:
            cols = delta_columns(spark, cfg, source.ods_table(spec), versions)
            if cols is None:
                cols = [
                    (c, "") for c in dict.fromkeys([*spec.ods_primary_key, *spec.columns.values()])
                ]
            declared += ods_edges(source, spec.name, [c for c, _ in cols])
    df = COLUMN_EDGES.read_if_exists(spark, cfg)
    if df is None:
        notes["lineage"] = "lineage.column_edges 尚未生成: graphs show declared lineage."
        return sorted(set(declared))
    recorded = _latest_recorded(df)
    notes["lineage"] = (
        f"declared lineage plus lineage.column_edges ({len(recorded)} edges of the latest run "
        "of each table), as `govlake lineage` answers."
    )
    return sorted(set(declared) | recorded)


def _latest_recorded(df: DataFrame) -> set[ColumnEdge]:
    """Edges of the latest recorded run of each target table (a dropped column drops out)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keep = ["target_table", "target_column", "source_table", "source_column", "transformation"]
    if "recorded_at" in df.columns:
        latest = F.max("recorded_at").over(Window.partitionBy("target_table"))
        df = df.withColumn("_latest", latest).where(F.col("recorded_at") == F.col("_latest"))
    return {ColumnEdge(**r) for r in _rows(df.select(*keep).distinct())}


# --- freshness, quality, Data Docs, registrations --------------------------------------------


def _freshness(spark, cfg, tables: list[str], notes, versions) -> dict[str, Freshness]:
    from jobs.ops import latest_runs

    runs = latest_runs(spark, cfg)
    builds = _library_builds(spark, cfg)
    if not runs:
        notes["freshness"] = "ops.load_runs 尚无记录: no load has run yet."
    found = {}
    for table in tables:
        total = _row_count(spark, cfg, table, versions)
        run, build = runs.get(table), builds.get(table)
        if run:
            loaded = run["source_rows"] if run["mode"] == "logical" else run["rows_written"]
            found[table] = Freshness(
                run["finished_at"], run["batch_date"], run["status"], loaded,
                run["rows_rejected"], total if total is not None else run["source_rows"],
                run.get("notes"),
            )  # fmt: skip
        elif build:
            found[table] = Freshness(
                build["finished_at"], build["batch_date"], "success", build["changed_keys"],
                build["quarantined"], total,
            )  # fmt: skip
        elif total is not None:
            found[table] = Freshness(rows_total=total)
    return found


def _row_count(spark, cfg, name: str, versions) -> int | None:
    table = Table.parse(name)
    version = _version(spark, cfg, table, versions)
    return None if version is None else _count(cfg, table, version)


def _library_builds(spark, cfg) -> dict[str, dict]:
    """Latest build per library table from ops.library_runs, with its quarantined rows summed."""
    from pyspark.sql import functions as F

    df = LIBRARY_RUNS.read_if_exists(spark, cfg)
    if df is None:
        return {}
    latest = df.groupBy("library").agg(F.max("finished_at").alias("finished_at"))
    rows = (
        df.join(latest, ["library", "finished_at"])
        .groupBy("library", "finished_at", "batch_date")
        .agg(F.max("changed_keys").alias("changed_keys"), F.sum("quarantined").alias("quarantined"))
    )
    tables = {lib.library: lib.table for lib in load_libraries()}
    return {tables.get(r["library"], f"base.{r['library']}"): r for r in _rows(rows)}


def _scores(spark, cfg, tables: list[str], notes) -> dict[str, QualityScore]:
    """Latest table score from quality.scores, by `db.table`."""
    df = SCORES.read_if_exists(spark, cfg)
    if df is None:
        notes["quality"] = "quality.scores 尚未生成: no quality score yet."
        return {}
    found = {_full_name(k, tables): v for k, v in _latest_scores(df, "table", "table").items()}
    notes["quality"] = f"quality.scores: latest score of {len(found)} tables."
    return found


def _department_scores(spark, cfg) -> dict[str, QualityScore]:
    """Latest department score (scope 'department') from quality.scores."""
    df = SCORES.read_if_exists(spark, cfg)
    if df is None or "scope" not in df.columns:
        return {}
    return _latest_scores(df, "department", "department")


def _latest_scores(df: DataFrame, scope: str, key: str) -> dict[str, QualityScore]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if "scope" in df.columns:
        df = df.where(F.col("scope") == scope)
    order = [F.col(c).desc() for c in ("run_date", "run_id") if c in df.columns]
    newest = Window.partitionBy(key).orderBy(*order)
    rows = _rows(df.withColumn("_n", F.row_number().over(newest)).where("_n = 1"))
    return {
        row[key]: QualityScore(
            row["run_date"], row.get("overall"), {d: row.get(d) for d in DIMENSIONS}
        )
        for row in rows
        if row[key]
    }


def _full_name(table: str, tables: list[str]) -> str:
    """`db.table` for a name given with or without its database."""
    if "." in table:
        return table
    return next((t for t in tables if Table.parse(t).name == table), table)


def _data_docs(cfg: Settings, tables: list[str], notes) -> dict[str, str]:
    """Data Docs page per table (path under data_docs/), newest first; '' is the index."""
    root = cfg.lakehouse / DATA_DOCS
    if not (root / "index.html").exists():
        notes["data_docs"] = "Data Docs 尚未生成 (quality/data_docs/index.html)."
        return {}
    pages = sorted(root.rglob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    found = {"": "index.html"}
    for table in tables:
        keys = {table, table.replace(".", "_"), Table.parse(table).name}
        for page in pages:
            rel = page.relative_to(root).as_posix()
            if "validations" in rel and any(k in rel for k in keys):
                found[table] = rel
                break
    return found


def _registrations(spark, cfg, notes) -> list[Registration] | None:
    df = CATALOG_REGISTRATIONS.table.read_if_exists(spark, cfg)
    if df is None:
        notes["registrations"] = "catalog.registrations 尚未发布: deadlines are not tracked yet."
        return None
    today = dt.date.today()
    found = [catalog_registration(r, today) for r in _rows(current(df))]
    return sorted(found, key=lambda r: (r.status != "overdue", r.due_date or dt.date.max))


# --- governed access (共享过程可追溯) -------------------------------------------------------------

ACCESS_DAYS = 30  # the access page counts the statements of this many days


def _access(spark, cfg, notes) -> list[Access] | None:
    """Statements per table, reading department and verdict over the last ACCESS_DAYS days,
    counted in Spark from audit.queries (a statement naming two tables counts for each)."""
    from pyspark.sql import functions as F

    df = AUDIT_QUERIES.table.read_if_exists(spark, cfg)
    if df is None:
        notes["access"] = "audit.queries 尚无记录: nobody has read through governed access yet."
        return None
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=ACCESS_DAYS)
    masked = F.exists("reads", lambda r: r["mask"].isNotNull())
    counted = (
        df.where(F.col("at") >= F.lit(since))
        .select(
            F.explode_outer("tables").alias("table"),
            F.coalesce("department", F.lit(UNKNOWN)).alias("department"),
            "verdict",
            "principal",
            F.coalesce("rows", F.lit(0)).alias("rows"),
            masked.alias("masked"),
        )
        .groupBy(F.coalesce("table", F.lit("—")).alias("table"), "department", "verdict")
        .agg(
            F.count("*").alias("statements"),
            F.sum("rows").alias("rows"),
            F.count_if("masked").alias("masked"),
            F.count_distinct("principal").alias("principals"),
        )
    )
    notes["access"] = f"audit.queries, the last {ACCESS_DAYS} days (counts only)."
    rows = [Access(**r.asDict()) for r in counted.collect()]
    return sorted(rows, key=lambda a: (a.table, a.department, a.verdict))


# --- open data (数据开放) ---------------------------------------------------------------------

OPEN_DIR = "open"  # <lakehouse>/open/: the packages and catalog.jsonld of jobs/open_data.py


def open_datasets(root: Path, notes: dict[str, str]) -> list[OpenDataset] | None:
    """The packages the DCAT catalogue lists, with their rows counted in the CSV (records)."""
    catalogue = root / "catalog.jsonld"
    if not catalogue.is_file():
        notes["open_data"] = "open/catalog.jsonld 尚无: nothing published as open data yet."
        return None
    out = []
    for entry in json.loads(catalogue.read_text(encoding="utf-8")).get("dcat:dataset", []):
        name = entry["dct:identifier"]
        package = json.loads((root / name / "datapackage.json").read_text(encoding="utf-8"))
        with (root / name / "data.csv").open(encoding="utf-8", newline="") as fh:
            rows = max(sum(1 for _ in csv.reader(fh)) - 1, 0)
        meta = package.get("govlake", {})
        out.append(
            OpenDataset(
                name=name,
                title=entry["dct:title"],
                publisher=entry["dct:publisher"]["foaf:name"],
                resource_code=meta.get("code", ""),
                rows=rows,
                version=package.get("version", ""),
                modified=entry.get("dct:modified"),
                priority=meta.get("priority"),
                license=package["licenses"][0]["name"] if package.get("licenses") else "",
                description=entry.get("dct:description", ""),
            )
        )
    notes["open_data"] = "open/catalog.jsonld (DCAT) and each package's datapackage.json."
    return out
