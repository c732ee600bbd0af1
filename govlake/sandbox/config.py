"""conf/sandbox/<project>.yaml: one sandbox project per file (its principal, resources with their
unit column, k, privacy budget, overlap limit, join keys, value bounds), validated with
file/field/fix errors. Imports nothing of governed access: access loads it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govlake.conffile import explain_validation, read_mapping
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

SANDBOX_DIR = PROJECT_ROOT / "conf" / "sandbox"

FIXES = {
    "title": "give the project's title, e.g. 人口健康统计研究.",
    "principal": "name a principal of kind sandbox in conf/access/principals.yaml.",
    "k": "give the least number of distinct persons or enterprises per result group (>= 2).",
    "epsilon": "give the project's total privacy budget ε, a positive number such as 1.0.",
    "delta": "give δ of each noisy release, a small positive number such as 1.0e-6.",
    "overlap_per_day": "give how many differently filtered queries over one grouping a day "
    "allows (>= 1).",
    "resources": "list tables with their unit column: {table: base.population, unit: id_number}.",
    "table": "name a catalogued table as <database>.<table>.",
    "unit": "name the column identifying a person (公民身份号码) or an enterprise "
    "(统一社会信用代码).",
    "joins": "list pairs of table.column that may be joined, e.g. "
    "[base.population.id_number, theme.social_security.id_number].",
    "bounds": "give per table.column the [lowest, highest] value a noisy sum or mean clips to.",
}


class SandboxResource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    unit: str


class Project(BaseModel):
    """One sandbox project."""

    model_config = ConfigDict(extra="forbid")

    title: str
    principal: str
    k: int = Field(10, ge=2)
    epsilon: float = Field(gt=0)
    delta: float = Field(1e-6, gt=0, lt=1)
    overlap_per_day: int = Field(5, ge=1)
    resources: list[SandboxResource] = Field(min_length=1)
    joins: list[tuple[str, str]] = Field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    name: str = Field("", exclude=True)
    file: str = Field("", exclude=True)

    @field_validator("joins")
    @classmethod
    def _columns(cls, joins: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for pair in joins:
            for side in pair:
                if side.count(".") != 2:
                    raise ValueError(f"'{side}' is not <database>.<table>.<column>")
        return joins

    @property
    def units(self) -> dict[str, str]:
        """table -> its unit column."""
        return {r.table: r.unit for r in self.resources}

    def keys(self, table: str) -> list[str]:
        """The declared join columns of a table."""
        found = [s.rpartition(".") for pair in self.joins for s in pair]
        return sorted({col for tab, _, col in found if tab == table})

    def joinable(self, left: str, right: str) -> bool:
        """Whether table.column `left` may be joined to `right` (either order)."""
        return (left, right) in self.joins or (right, left) in self.joins


def sandbox_dir(directory: Path | None = None) -> Path:
    """conf/sandbox/, or GOVLAKE_SANDBOX_DIR (tests and other deployments)."""
    return Path(directory or os.environ.get("GOVLAKE_SANDBOX_DIR") or SANDBOX_DIR)


def _explain(exc: ValidationError, path: Path) -> ConfigError:
    return explain_validation(exc, path, FIXES, "govlake/sandbox/README.md")


def load_projects(directory: Path | None = None) -> dict[str, Project]:
    """Every project by name (its file name); one principal serves one project."""
    out: dict[str, Project] = {}
    owners: dict[str, str] = {}
    for path in sorted(sandbox_dir(directory).glob("*.yaml")):
        raw, _ = read_mapping(path, "write the project's fields as a YAML mapping.")
        try:
            project = Project(**raw, name=path.stem, file=str(path))
        except ValidationError as exc:
            raise _explain(exc, path) from None
        if project.principal in owners:
            raise ConfigError(
                f"field 'principal': {project.principal} already serves project "
                f"{owners[project.principal]}.",
                file=str(path),
                fix="give each sandbox project its own principal.",
            )
        owners[project.principal] = project.name
        out[project.name] = project
    return out


def check_projects(
    projects: dict[str, Project], kinds: dict[str, str], columns: dict[str, set[str]]
) -> None:
    """Each project's principal is a sandbox principal, its tables catalogued and its unit,
    join and bound columns columns of them; refused at load with file, field and fix."""
    for project in projects.values():
        if kinds.get(project.principal) != "sandbox":
            raise ConfigError(
                f"field 'principal': '{project.principal}' is not a principal of kind sandbox.",
                file=project.file,
                fix=FIXES["principal"],
            )
        for i, res in enumerate(project.resources):
            if res.table not in columns:
                raise ConfigError(
                    f"field 'resources.{i}.table': {res.table} is not a catalogued table.",
                    file=project.file,
                    fix=FIXES["table"],
                )
            _column(project, f"resources.{i}.unit", f"{res.table}.{res.unit}", columns)
        for i, pair in enumerate(project.joins):
            for side in pair:
                _column(project, f"joins.{i}", side, columns)
        for name in project.bounds:
            _column(project, "bounds", name, columns)


def _column(project: Project, field: str, name: str, columns: dict[str, set[str]]) -> None:
    table, _, column = name.rpartition(".")
    if table not in project.units or column not in columns.get(table, set()):
        raise ConfigError(
            f"field '{field}': {name} is not a column of the project's resources "
            f"({', '.join(sorted(project.units))}).",
            file=project.file,
            fix=FIXES[field.split(".")[0]] if field.split(".")[0] in FIXES else FIXES["unit"],
        )
