"""Department source systems as configuration: one YAML file per system in conf/sources/."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from govlake.conffile import read_mapping
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT, settings

SOURCES_DIR = PROJECT_ROOT / "conf" / "sources"
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# Names this project writes into SQL sent to a department database (the probe's MIN/MAX, the
# table read): letters (any script), digits and underscores, a table optionally schema-qualified.
SQL_NAME = re.compile(r"[^\W\d]\w*", re.UNICODE)
SQL_TABLE = re.compile(rf"{SQL_NAME.pattern}(\.{SQL_NAME.pattern}){{0,2}}", re.UNICODE)
# The only placeholder of default_url; anything else in braces is refused.
URL_PLACEHOLDER = "{sources_root}"

# What to tell the user for each field that can be wrong.
FIXES = {
    "system": "use a lower-case snake_case name such as psb_hukou, equal to the file name.",
    "department": "name the providing department, e.g. 市公安局.",
    "information_system": "name the department's information system (数据—系统).",
    "mode": "use 'physical' (copy rows into ods) or 'logical' (query in place over JDBC).",
    "location": "give either 'conn_id' (a database) or 'path' (a folder of files).",
    "conn_id": "name an Airflow connection (AIRFLOW_CONN_<ID> or `airflow connections add`).",
    "tables": "list at least one table or file with name and primary_key.",
    "name": "use a lower-case snake_case table name.",
    "primary_key": "list the column(s) that identify a row, e.g. [rec_id].",
    "format": "use csv, json, xlsx or xls (Excel 97-2003) for files.",
    "schedule": "use a cron expression such as '0 2 * * *' (02:00 every night).",
    "encoding": "use a Python/Java charset such as gbk, gb18030, utf-8, utf-8-sig or utf-16.",
    "dbtable": "give the table's name, optionally schema-qualified (schema.table): letters, "
    "digits and underscores only; filters and expressions are not allowed.",
    "watermark": "give one column name (letters, digits and underscores only).",
    "partition_column": "give one column name (letters, digits and underscores only).",
    "default_url": "give a plain JDBC URL; {sources_root} is the only placeholder.",
    "endpoint": "give the interface's path below the connection's base URL, e.g. "
    "/api/v1/xzxk: no query string and no placeholders (paging and the watermark are sent "
    "as query parameters).",
    "page_size": "give the number of records per page the interface allows (1 to 10000).",
    "records_path": "give the dot path of the records list in a page's JSON body, e.g. "
    "data.records.",
}
# An interface path: segments of letters, digits, '-', '_' and '.', nothing else (no query
# string, no placeholders, no scheme or host: those come from the connection).
ENDPOINT = re.compile(r"(/[A-Za-z0-9._-]+)+/?")


class Location(BaseModel):
    """Where a system's data lives: a database connection or a folder of delivered files."""

    model_config = ConfigDict(extra="forbid")

    conn_id: str | None = None
    default_url: str | None = Field(
        None, description="JDBC URL of the embedded default when the connection is not defined"
    )
    path: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Location:
        if bool(self.conn_id) == bool(self.path):
            raise ValueError("give exactly one of 'conn_id' (a database) or 'path' (files)")
        if self.default_url and re.search(r"(password|pwd)=", self.default_url, re.I):
            raise ValueError("credentials must not be written in a conf file")
        return self

    @field_validator("default_url")
    @classmethod
    def _plain_url(cls, url: str | None) -> str | None:
        """Not a format string: only {sources_root} is replaced, as text (jobs.connections)."""
        if url and re.search(r"[{}]", url.replace(URL_PLACEHOLDER, "")):
            raise ValueError(f"{url!r} has braces other than the placeholder {URL_PLACEHOLDER}")
        return url

    @property
    def is_database(self) -> bool:
        return self.conn_id is not None


class TableSpec(BaseModel):
    """One table of a department database, or one kind of delivered file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    primary_key: list[str] = Field(min_length=1)
    dbtable: str | None = None
    file: str | None = Field(None, description="file name template; {ds} is the logical date")
    endpoint: str | None = Field(
        None, description="HTTP JSON interface: path below the connection's base URL"
    )
    format: Literal["csv", "json", "xlsx", "xls", "api"] | None = None
    encoding: str = "utf-8"
    sheet: str | None = None
    header_row: int | None = Field(
        None,
        ge=1,
        description="line (csv) or sheet row (xlsx, xls) of the header; rows above it "
        "are titles, dropped and counted. Default: the first row holding the declared columns",
    )
    drop_rows: list[str] = Field(
        default_factory=list,
        description="rows whose first value is one of these (合计, 总计) are dropped and counted",
    )
    columns: dict[str, str] = Field(default_factory=dict, description="source column -> ods name")
    watermark: str | None = None
    partition_column: str | None = None
    page_size: int = Field(500, ge=1, le=10000, description="api: records per page")
    records_path: str = Field(
        "data.records",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="api: dot path of the records list in a page's JSON body",
    )
    page_param: str = Field("page", pattern=IDENTIFIER, description="api: page number (from 1)")
    size_param: str = Field("page_size", pattern=IDENTIFIER, description="api: page size")
    since_param: str = Field(
        "updated_since", pattern=IDENTIFIER, description="api: the watermark's low bound"
    )
    on_schema_change: Literal["evolve", "fail"] = Field(
        "evolve",
        description="evolve: add new columns, keep dropped ones as NULL; fail: stop the load",
    )

    @field_validator("dbtable", "watermark", "partition_column")
    @classmethod
    def _sql_name(cls, name: str | None, info: ValidationInfo) -> str | None:
        """These names are written into SQL sent to the department's database: plain names only."""
        pattern = SQL_TABLE if info.field_name == "dbtable" else SQL_NAME
        if name is not None and not pattern.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain name")
        return name

    @field_validator("endpoint")
    @classmethod
    def _plain_path(cls, path: str | None) -> str | None:
        """Not a template: the path is sent as written; values go in as query parameters."""
        if path is not None and not ENDPOINT.fullmatch(path):
            raise ValueError(f"{path!r} is not a plain path such as /api/v1/xzxk")
        return path

    @model_validator(mode="after")
    def _file_or_table(self) -> TableSpec:
        if sum(map(bool, (self.dbtable, self.file, self.endpoint))) != 1:
            raise ValueError(
                "give exactly one of 'dbtable' (database), 'file' (files) or 'endpoint' "
                "(an HTTP JSON interface)"
            )
        if self.file and self.format not in ("csv", "json", "xlsx", "xls"):
            raise ValueError("a file needs 'format' (csv, json, xlsx or xls)")
        if bool(self.endpoint) != (self.format == "api"):
            raise ValueError("an 'endpoint' goes with format: api, and format: api with one")
        if self.dbtable and not self.partition_column and len(self.primary_key) == 1:
            # A single key is the default partition column of parallel reads: also SQL.
            if not SQL_NAME.fullmatch(self.primary_key[0]):
                raise ValueError(
                    f"primary_key {self.primary_key[0]!r} of a database table is not a plain "
                    "name; set partition_column to one"
                )
        bad = [c for c in self.columns.values() if not re.match(IDENTIFIER, c)]
        if bad:
            raise ValueError(f"ods column names must be snake_case, not {bad}")
        return self

    @model_validator(mode="after")
    def _readable(self) -> TableSpec:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"encoding '{self.encoding}' is not known (gbk, gb18030, utf-8, utf-8-sig, utf-16)"
            ) from None
        # JSON lines are split on the byte 0x0A by Spark: UTF-16/32 would split mid-character.
        if self.format == "json" and "\n".encode(self.encoding) != b"\n":
            raise ValueError(
                f"encoding '{self.encoding}' cannot be read as JSON lines; ask for "
                "UTF-8 or GB18030 (csv and xlsx accept UTF-16)"
            )
        if self.format not in ("csv", "xlsx", "xls") and (self.header_row or self.drop_rows):
            raise ValueError("'header_row' and 'drop_rows' apply to csv, xlsx and xls files only")
        return self

    def ods_column(self, source_column: str) -> str:
        return self.columns.get(source_column, source_column)

    @property
    def is_api(self) -> bool:
        return self.endpoint is not None

    @property
    def ods_primary_key(self) -> list[str]:
        return [self.ods_column(c) for c in self.primary_key]


class SourceSystem(BaseModel):
    """A department information system that the city collects data from (归集)."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(pattern=IDENTIFIER)
    department: str
    department_code: str | None = None
    information_system: str
    mode: Literal["physical", "logical"]
    location: Location
    schedule: str = "0 2 * * *"
    # Schedules and business days; by default the city's (conf/settings.yaml `timezone`).
    timezone: str = Field(default_factory=lambda: settings().timezone)
    description: str = ""
    tables: list[TableSpec] = Field(min_length=1)
    file_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> SourceSystem:
        files = [t.name for t in self.tables if t.file]
        apis = [t.name for t in self.tables if t.is_api]
        if apis and (len(apis) != len(self.tables) or not self.location.is_database):
            raise ValueError(
                f"tables {apis} are HTTP interfaces: every table of the system must be one, "
                "and the location a 'conn_id' (an HTTP connection with the token)"
            )
        if apis and (self.mode == "logical" or self.location.default_url):
            raise ValueError("an HTTP interface is copied (mode: physical) and has no default_url")
        if self.location.is_database and files:
            raise ValueError(f"tables {files} are files but the location is a database")
        if not self.location.is_database and len(files) != len(self.tables):
            raise ValueError("a file location needs 'file' on every table")
        if self.mode == "logical" and not self.location.is_database:
            raise ValueError("logical connection needs a database location (conn_id)")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"table names repeat: {names}")
        if len(self.schedule.split()) != 5:
            raise ValueError(f"schedule '{self.schedule}' is not a 5-field cron expression")
        return self

    def ods_table(self, table: TableSpec) -> str:
        """Name analysts query: ods.<system>__<table>."""
        return f"ods.{self.system}__{table.name}"


def _explain(exc: ValidationError, path: Path) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc) or "(file)"
    named = [p for p in loc if p in FIXES]
    fix = FIXES[named[-1]] if named else "see conf/sources/README.md for the fields."
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "this required field is missing"
    elif err["type"] == "extra_forbidden":
        message = "this field is not known"
        fix = "remove it or correct its spelling; see conf/sources/README.md."
    elif err["type"] == "literal_error":
        message = f"{err['input']!r} is not allowed ({err['msg']})"
    return ConfigError(f"field '{field}': {message}.", file=str(path), fix=fix)


def load_source(path: Path) -> SourceSystem:
    """Read and validate one source file; errors name the file, the field and the fix."""
    raw, _ = read_mapping(path, FIXES["tables"])
    try:
        source = SourceSystem(**raw, file_path=path)
    except ValidationError as exc:
        raise _explain(exc, path) from None
    if source.system != path.stem:
        raise ConfigError(
            f"field 'system': '{source.system}' differs from the file name '{path.stem}'.",
            file=str(path),
            fix="name the file <system>.yaml so each system has exactly one file.",
        )
    return source


def load_sources(directory: Path | None = None) -> list[SourceSystem]:
    """All source systems, sorted by name so generated DAGs are stable."""
    directory = directory or Path(os.environ.get("GOVLAKE_SOURCES_DIR", SOURCES_DIR))
    return [load_source(p) for p in sorted(directory.glob("*.yaml"))]


def get_table(system: str, table: str) -> tuple[SourceSystem, TableSpec]:
    """The configured source system and table, or an error listing what exists."""
    sources = {s.system: s for s in load_sources()}
    if system not in sources:
        raise ConfigError(
            f"no source system '{system}' is configured.",
            fix=f"use one of {', '.join(sorted(sources))} or add conf/sources/{system}.yaml.",
        )
    source = sources[system]
    for spec in source.tables:
        if spec.name == table:
            return source, spec
    raise ConfigError(
        f"source system '{system}' has no table '{table}'.",
        file=str(source.file_path),
        fix=f"use one of {', '.join(t.name for t in source.tables)}.",
    )
