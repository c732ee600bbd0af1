"""Expectation suites as YAML files in git: one GX suite per table, a policy per rule.

A suite file (expectations/<db>/<table>.yml) is a GX suite in YAML: `name`, `expectations`
(each with GX `type`, `kwargs` and `meta`), plus our `meta.threshold`. Each expectation's
`meta.policy` says what a failing row does (warn | quarantine | fail), as Delta Live Tables
users know it. Errors name the file and the line, so an engineer fixes the right rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from govlake.conffile import read_mapping
from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.settings import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
Policy = Literal["warn", "quarantine", "fail"]
Dimension = Literal["completeness", "validity", "uniqueness", "consistency", "timeliness"]

# The dimension a rule measures when its meta does not say.
DIMENSIONS: dict[str, str] = {
    "expect_column_values_to_not_be_null": "completeness",
    "expect_column_values_to_be_unique": "uniqueness",
    "expect_compound_columns_to_be_unique": "uniqueness",
}


class RuleMeta(BaseModel):
    """What our pipeline needs beside GX's own fields: the policy and how to explain a failure."""

    model_config = ConfigDict(extra="allow")

    policy: Policy
    dimension: Dimension | None = None
    name: str | None = Field(None, description="rule name when type:column is not unique")
    rule_zh: str = ""
    rule_en: str = ""


class Rule(BaseModel):
    """One GX expectation configuration with its policy."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: RuleMeta
    line: int = Field(0, exclude=True)

    @property
    def columns(self) -> list[str]:
        if "column" in self.kwargs:
            return [self.kwargs["column"]]
        return list(self.kwargs.get("column_list", []))

    @property
    def column(self) -> str:
        return ",".join(self.columns)

    @property
    def name(self) -> str:
        """The rule's name in results: expectation type and column(s)."""
        return self.meta.name or f"{self.type}:{self.column}"

    @property
    def dimension(self) -> str:
        return self.meta.dimension or DIMENSIONS.get(self.type, "validity")

    def gx_config(self) -> dict:
        meta = {k: v for k, v in self.meta.model_dump().items() if v not in (None, "")}
        return {"type": self.type, "kwargs": self.kwargs, "meta": meta}


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_quarantined_fraction: float = Field(1.0, ge=0.0, le=1.0)


class SuiteMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    threshold: Threshold = Field(default_factory=Threshold)
    masked_columns: list[str] = Field(
        default_factory=list, description="columns whose sampled values are masked"
    )


class Suite(BaseModel):
    """A table's expectation suite, read from its file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^(ods|base|theme)\.[a-z0-9_]+$")
    meta: SuiteMeta = Field(default_factory=SuiteMeta)
    expectations: list[Rule] = Field(min_length=1)
    file_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        seen: dict[str, int] = {}
        for rule in self.expectations:
            if rule.name in seen:
                raise ValueError(f"rule '{rule.name}' appears twice; give one a distinct meta.name")
            seen[rule.name] = rule.line
        return self

    @property
    def table(self) -> str:
        return self.name

    @property
    def masked(self) -> set[str]:
        """Columns carrying identifiers: masked in samples (ID keeps first 6 and last 4)."""
        from jobs.quality.gx_expectations import IDENTIFIER_EXPECTATIONS

        ids = {
            c
            for r in self.expectations
            if r.type in IDENTIFIER_EXPECTATIONS.values()
            for c in r.columns
        }
        return ids | set(self.meta.masked_columns)

    def rules(self, policy: str | None = None) -> list[Rule]:
        return [r for r in self.expectations if policy is None or r.meta.policy == policy]


def expectations_dir() -> Path:
    return Path(os.environ.get("GOVLAKE_EXPECTATIONS_DIR", EXPECTATIONS_DIR))


def suite_path(table: str, directory: Path | None = None) -> Path:
    """expectations/<db>/<table>.yml for a table named <db>.<table>."""
    parsed = Table.parse(table)
    return (directory or expectations_dir()) / parsed.database / f"{parsed.name}.yml"


def _node_line(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at a pydantic error location (as deep as it exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if k.value == part]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_suite(path: Path) -> Suite:
    """Read and check one suite file; errors name the file, the line and the fix."""
    raw, text = read_mapping(path, "give name, meta and expectations; see expectations/README.md.")
    root = yaml.compose(text)
    items = raw.get("expectations") if isinstance(raw.get("expectations"), list) else []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            item["line"] = _node_line(root, ("expectations", i)) or 0
    try:
        suite = Suite(**raw, file_path=path)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise ConfigError(
            f"line {_node_line(root, err['loc'])}: field '{field}': "
            f"{err['msg'].removeprefix('Value error, ')}.",
            file=str(path),
            fix="see expectations/README.md: each expectation needs a GX type, kwargs and "
            "meta.policy (warn, quarantine or fail).",
        ) from None
    _check_types(suite)
    return suite


def _check_types(suite: Suite) -> None:
    """Every type must be a GX expectation, and row policies need a Spark row rule."""
    from great_expectations.expectations.registry import get_expectation_impl

    import jobs.quality.gx_expectations  # noqa: F401  (registers the identifier rules)
    from jobs.quality.rules import ROW_RULES

    for rule in suite.expectations:
        try:
            get_expectation_impl(rule.type)
        except Exception:
            raise ConfigError(
                f"line {rule.line}: '{rule.type}' is not a Great Expectations expectation.",
                file=str(suite.file_path),
                fix="use a GX expectation name, e.g. expect_column_values_to_not_be_null, or "
                "one of ours: expect_column_values_to_be_valid_ric / _uscc / _cert.",
            ) from None
        if rule.meta.policy != "warn" and rule.type not in ROW_RULES:
            raise ConfigError(
                f"line {rule.line}: rule '{rule.name}' has policy {rule.meta.policy}, but only "
                "warn is possible for expectations without a row rule.",
                file=str(suite.file_path),
                fix=f"set policy: warn, or use one of {', '.join(sorted(ROW_RULES))}.",
            )


def find_suite(table: str) -> Suite | None:
    """The table's suite, or None when no file declares one."""
    path = suite_path(table)
    return load_suite(path) if path.exists() else None


def check_columns(suite: Suite, columns: list[str]) -> None:
    """A rule on a column the table no longer has is an error, never a silent pass."""
    present = set(columns)
    for rule in suite.expectations:
        missing = [c for c in rule.columns if c not in present]
        if missing:
            raise ConfigError(
                f"line {rule.line}: rule '{rule.name}' checks column(s) {missing} that "
                f"{suite.table} does not have (it has {', '.join(sorted(present))}).",
                file=str(suite.file_path),
                fix="the department's layout changed: point the rule at the new column or "
                "remove it, and commit the suite.",
            )
