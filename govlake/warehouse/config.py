"""conf/apps/<name>.yaml: one application warehouse (一应用一数仓) each, read into pydantic with
file/field/fix errors. Configuration only (no Spark, no catalog): DAG files read it to parse."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govlake.conffile import explain_validation, read_mapping
from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.settings import PROJECT_ROOT

APPS_DIR = PROJECT_ROOT / "conf" / "apps"
_NAME = r"^[a-z][a-z0-9_]*$"

FIXES = {
    "title": "give the application's Chinese title, e.g. 城市治理综合应用.",
    "principal": "name the application's principal of conf/access/principals.yaml (kind "
    "application, warehouse app_<file name>).",
    "department": "give the code of the department that runs the application.",
    "scenario": "name the scenario, e.g. 城市治理, 卫生健康, 应急管理.",
    "draws": "list what the warehouse holds: {table, columns, row_filter?, request?}.",
    "table": "name the source table as <database>.<name>, e.g. base.population.",
    "columns": "list the columns to deliver, each an item approved in the share request.",
    "row_filter": "a SQL predicate over the table's columns, e.g. division = '420704'.",
    "request": "give the share request id (`govlake share list`), or leave it out to use the "
    "principal's approved warehouse request for the table's resource.",
}


class Draw(BaseModel):
    """One table of the warehouse: what it draws from which source table, under which request."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    columns: list[str] = Field(min_length=1)
    row_filter: str | None = None
    request: str | None = None

    @property
    def source(self) -> Table:
        return Table.parse(self.table)


class App(BaseModel):
    """conf/apps/<name>.yaml; `name` is the file's stem, the warehouse is app_<name>."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    title: str
    principal: str
    department: str
    scenario: str
    description: str = ""
    # The legal basis its warehouse requests cite (申请依据); the demo files its requests with it.
    basis: str = ""
    draws: list[Draw] = Field(min_length=1)
    file: str = Field("", exclude=True)

    @property
    def database(self) -> str:
        return f"app_{self.name}"

    def target(self, draw: Draw) -> Table:
        """The warehouse table of a draw: app_<name>.<db>__<table> (as access control reads it)."""
        return Table(self.database, f"{draw.source.database}__{draw.source.name}")

    @property
    def inputs(self) -> tuple[Table, ...]:
        return tuple(dict.fromkeys(d.source for d in self.draws))

    @property
    def outputs(self) -> tuple[Table, ...]:
        return tuple(self.target(d) for d in self.draws)


def apps_dir(directory: Path | None = None) -> Path:
    """conf/apps/, or GOVLAKE_APPS_DIR (tests and other deployments)."""
    return Path(directory or os.environ.get("GOVLAKE_APPS_DIR") or APPS_DIR)


def load_app(path: Path) -> App:
    raw, _text = read_mapping(path, "write the application's fields as a YAML mapping.")
    try:
        app = App(**raw, name=path.stem, file=str(path))
    except ValidationError as exc:
        raise _explain(exc, path) from None
    targets = [app.target(d) for d in app.draws]
    for i, target in enumerate(targets):
        if targets.index(target) != i:
            raise ConfigError(
                f"field 'draws.{i}.table': {app.draws[i].table} is drawn twice.",
                file=str(path),
                fix="give each source table one draw (list all its columns there).",
            )
    return app


def load_apps(directory: Path | None = None) -> list[App]:
    """Every application of conf/apps/, sorted by name."""
    folder = apps_dir(directory)
    return [load_app(p) for p in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []


def get_app(name: str, directory: Path | None = None) -> App:
    folder = apps_dir(directory)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(a.name for a in load_apps(directory)) or "(none)"
        raise ConfigError(
            f"there is no application '{name}'.",
            file=str(path),
            fix=f"name one of {known}, or write {path.name} (see govlake/warehouse/README.md).",
        )
    return load_app(path)


def _explain(exc: ValidationError, path: Path) -> ConfigError:
    if [str(p) for p in exc.errors()[0]["loc"]] == ["name"]:
        return ConfigError(
            f"the file name '{path.stem}' is not an application name.",
            file=str(path),
            fix="name the file in lower case letters, digits and '_' (it names app_<name>).",
        )
    return explain_validation(exc, path, FIXES, "govlake/warehouse/README.md")
