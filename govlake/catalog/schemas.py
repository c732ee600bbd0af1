"""What the lakehouse knows about each table: its columns (Delta schema, else declarations),
its source systems (数据—系统) and column lineage, so entries are checked against the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.lakehouse import Table, all_tables, may_hold_tables
from govlake.libraries import Library, load_libraries
from govlake.settings import Settings
from govlake.sources import SourceSystem, load_sources
from govlake.themes import Theme, themes_or_error
from govlake.warehouse.config import App, load_apps
from lineage.declared import ColumnEdge, all_app_edges, all_library_edges, all_theme_edges

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


CONFLICTS = "base.conflicts"


@dataclass
class TableInfo:
    """A lakehouse table as far as it is known: from its Delta schema or from configuration."""

    table: str
    columns: dict[str, str]  # column -> type (Spark type when read from Delta)
    complete: bool  # every column is known (Delta schema, or a library declaration)
    origin: str  # delta | declared
    systems: set[str] = field(default_factory=set)
    department: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class ModelGrade:
    """A grade a theme model's YAML gives a column, with the reason when it is looser."""

    grade: str
    reason: str | None = None


@dataclass
class Lakehouse:
    """Tables, configured sources and declared lineage, as validation and publishing need them;
    `grades` are those theme models declare for their columns."""

    tables: dict[str, TableInfo]
    sources: dict[str, SourceSystem]
    edges: list[ColumnEdge]
    grades: dict[tuple[str, str], ModelGrade] = field(default_factory=dict)
    theme_error: str | None = None  # the theme models do not load: why


def source_table_info(source: SourceSystem) -> list[TableInfo]:
    """ods tables as their source file declares them: keys, watermark and renamed columns.
    Columns not renamed are unknown until the first load, so the list is incomplete."""
    infos = []
    for spec in source.tables:
        known = [*spec.ods_primary_key, *spec.columns.values()]
        known += [spec.ods_column(c) for c in (spec.watermark, spec.partition_column) if c]
        infos.append(
            TableInfo(
                table=source.ods_table(spec),
                columns=dict.fromkeys(known, "declared"),
                complete=False,
                origin="declared",
                systems={source.system},
                department=source.department,
                mode=source.mode,
            )
        )
    return infos


def library_table_info(library: Library, sources: dict[str, SourceSystem]) -> TableInfo:
    """A library table exactly as its build writes it: key, attributes, link flags, provenance."""
    columns = {library.key: library.key_type, **library.key_columns}
    for name, attribute in library.attributes.items():
        columns[name] = attribute.type
    for name in library.linked_columns:
        columns[f"{name}_linked"] = "boolean"
    columns["provenance"] = "map"
    systems = {Table.parse(spec.table).name.split("__", 1)[0] for spec in library.inputs.values()}
    return TableInfo(
        table=library.table,
        columns=columns,
        complete=True,
        origin="declared",
        systems={s for s in systems if s in sources},
        mode="library",
    )


def theme_table_info(theme: Theme, tables: dict[str, TableInfo]) -> TableInfo:
    """A theme table as its model declares it; its systems are those of its inputs."""
    systems = set()
    for name in theme.inputs:
        known = tables.get(name)
        systems |= known.systems if known else set()
    return TableInfo(
        table=theme.table,
        columns=dict.fromkeys(theme.columns, "declared"),
        complete=True,
        origin="declared",
        systems=systems,
        department=theme.owner,
        mode="theme",
    )


def app_table_info(app: App, tables: dict[str, TableInfo]) -> dict[str, TableInfo]:
    """An application's warehouse tables (一应用一数仓) as its YAML draws them; their systems
    are those of the drawn tables."""
    out = {}
    for draw in app.draws:
        known = tables.get(draw.table)
        target = str(app.target(draw))
        out[target] = TableInfo(
            table=target,
            columns=dict.fromkeys(draw.columns, "declared"),
            complete=True,
            origin="declared",
            systems=set(known.systems) if known else set(),
            department=app.department,
            mode="app",
        )
    return out


def model_grades(themes: list[Theme]) -> dict[tuple[str, str], ModelGrade]:
    return {
        (theme.table, name): ModelGrade(column.grade, column.grade_reason)
        for theme in themes
        for name, column in theme.columns.items()
        if column.grade
    }


def declared_lakehouse() -> Lakehouse:
    """Tables as configuration declares them, without reading any data."""
    sources = {s.system: s for s in load_sources()}
    libraries = load_libraries()
    tables = {i.table: i for s in sources.values() for i in source_table_info(s)}
    for library in libraries:
        tables[library.table] = library_table_info(library, sources)
    if libraries:
        # Every library build writes its multi-source disagreements here (多源比对); its
        # columns are known once it exists.
        systems = {s for lib in libraries for s in tables[lib.table].systems}
        tables[CONFLICTS] = TableInfo(CONFLICTS, {}, False, "declared", systems, mode="library")
    # In build order: a theme's input themes are known before it. Models that do not load
    # are a finding of the review, not a failure of every library's publication.
    themes, error = themes_or_error()
    for theme in themes:
        tables[theme.table] = theme_table_info(theme, tables)
    apps = load_apps()
    for app in apps:
        tables.update(app_table_info(app, tables))
    edges = all_library_edges(libraries) + all_theme_edges(themes) + all_app_edges(apps)
    lake = Lakehouse(tables, sources, edges, model_grades(themes))
    lake.theme_error = str(error) if error else None
    return lake


def delta_schemas(
    spark: SparkSession, cfg: Settings, databases: list[str], prefix: str
) -> dict[str, dict[str, str]]:
    """Columns and Spark types of every Delta table in the registered databases (log only)."""
    schemas = {}
    for table in all_tables(spark, cfg):
        if table.database not in databases:
            continue
        schemas[table.qualified] = {
            name: kind
            for name, kind in table.fields(spark, cfg).items()
            if not name.startswith(prefix)
        }
    return schemas


def has_delta_tables(cfg: Settings, databases: list[str]) -> bool:
    """Whether any registered database may hold a Delta table (answered without Spark)."""
    return may_hold_tables(databases, cfg)


def real_lakehouse(
    spark: SparkSession | None, cfg: Settings, databases: list[str], prefix: str
) -> Lakehouse:
    """Declarations, overridden by the real Delta schema of every table that exists."""
    lake = declared_lakehouse()
    if spark is None:
        return lake
    for table, columns in delta_schemas(spark, cfg, databases, prefix).items():
        known = lake.tables.get(table)
        info = TableInfo(table, columns, True, "delta")
        if known:
            info.systems, info.department, info.mode = known.systems, known.department, known.mode
        lake.tables[table] = info
    return lake
