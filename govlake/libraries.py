"""Base and theme libraries as configuration: one YAML file per library in libraries/.

A library declares its key, its attributes with their type and the order of departments that
supply each one (the first is authoritative: 一数一源; the rest are fallbacks), and the ods
inputs with the column that carries each attribute.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from govlake.conffile import read_mapping, read_yaml
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

LIBRARIES_DIR = PROJECT_ROOT / "libraries"
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
AttributeType = Literal[
    "text", "date", "sex", "code", "number", "ric", "uscc", "cert", "industry", "year"
]
# Types of the further key columns of a library keyed by more than its identifier.
KeyPartType = Literal["year", "text", "date"]
# Between the parts of a composite key in the build's one key column (`_key`) and in
# base.conflicts.key / quarantine key_value: no identifier or year contains it.
KEY_SEPARATOR = "|"


class Attribute(BaseModel):
    """One attribute of the library and who may supply it, authority first."""

    model_config = ConfigDict(extra="forbid")

    type: AttributeType = "text"
    sources: list[str] = Field(min_length=1)
    required: bool = False
    derived_from_key: Literal["ric_birth_date", "ric_sex", "ric_division"] | None = None
    codes: str | None = Field(
        None, description="code table in libraries/codes/ the values are normalized to"
    )
    links: list[str] = Field(
        default_factory=list,
        description="libraries whose key this value may be (adds <name>_linked)",
    )
    blocking: bool = Field(
        False,
        description="a value that is there but does not parse (or fails its identifier check, "
        "e.g. an industry code GB/T 4754 lacks; an identifier passing neither its type's check "
        "nor a linked library's key check) quarantines the row instead of becoming NULL",
    )
    description: str = ""


class Input(BaseModel):
    """An ods table feeding the library: its key column and attribute columns."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=r"^ods\.[a-z0-9_]+$")
    department: str
    key: str
    key_columns: dict[str, str] = Field(
        default_factory=dict,
        description="the library's further key columns -> ods column (a year); an input that "
        "maps none states its values for every key of its identifier (adds_keys: false)",
    )
    columns: dict[str, str] = Field(default_factory=dict, description="attribute -> ods column")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="attribute -> {department's value: library code}"
    )
    as_of: str | None = Field(None, description="column saying when the department stated it")
    where: str | None = Field(None, description="Spark SQL filter on the ods rows")
    prefix_of_key: int | None = Field(
        None,
        ge=1,
        description="the input's key is the first N characters of the library key (a parcel "
        "code is a unit code's first 19, GB/T 37346): its statements hold for every key that "
        "starts with it; it adds no keys",
    )
    adds_keys: bool = Field(
        True,
        description="false: the department only states attributes of entities that other "
        "inputs register (a legal representative's name from 市场监管); it adds no rows",
    )


class Library(BaseModel):
    """A base or theme library (基础库 / 主题库) built from ods inputs."""

    model_config = ConfigDict(extra="forbid")

    library: str = Field(pattern=IDENTIFIER)
    title: str
    database: Literal["base", "theme"] = "base"
    description: str = ""
    key: str = Field(pattern=IDENTIFIER)
    key_type: Literal["ric", "uscc", "cert", "unit_code"]
    key_columns: dict[str, KeyPartType] = Field(
        default_factory=dict,
        description="further key columns and their type: one row per identifier and year",
    )
    key_links: list[str] = Field(
        default_factory=list,
        description="libraries whose key this library's identifier may be (adds <key>_linked)",
    )
    attributes: dict[str, Attribute]
    inputs: dict[str, Input]
    file_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Library:
        for name, attribute in self.attributes.items():
            if not re.match(IDENTIFIER, name):
                raise ValueError(f"attribute '{name}' must be snake_case")
            if attribute.codes and not (CODES_DIR / f"{attribute.codes}.yaml").exists():
                raise ValueError(f"attribute '{name}' names unknown code table '{attribute.codes}'")
            unknown = [s for s in attribute.sources if s not in self.inputs]
            if unknown:
                raise ValueError(f"attribute '{name}' names unknown inputs {unknown}")
            missing = [s for s in attribute.sources if name not in self.inputs[s].columns]
            if missing:
                raise ValueError(f"inputs {missing} supply '{name}' but map no column to it")
        for name, source in self.inputs.items():
            extra = [a for a in source.columns if a not in self.attributes]
            if extra:
                raise ValueError(f"input '{name}' maps columns to unknown attributes {extra}")
            if source.prefix_of_key and source.adds_keys:
                raise ValueError(
                    f"input '{name}' states a prefix of the key (prefix_of_key): set adds_keys: "
                    "false, as it only describes keys other inputs register"
                )
            self._check_key_columns(name, source)
        return self

    def _check_key_columns(self, name: str, source: Input) -> None:
        """An input maps all of the further key columns, or none (then it states about every
        key of its identifier and adds none)."""
        unknown = sorted(set(source.key_columns) - set(self.key_columns))
        if unknown:
            raise ValueError(f"input '{name}' maps unknown key columns {unknown}")
        if source.key_columns and set(source.key_columns) != set(self.key_columns):
            raise ValueError(f"input '{name}' must map every key column {list(self.key_columns)}")
        if self.key_columns and not source.key_columns and source.adds_keys:
            raise ValueError(
                f"input '{name}' maps no key column {list(self.key_columns)}: set adds_keys: "
                "false, as it states values for every key of its identifier"
            )
        if self.key_columns and source.prefix_of_key:
            raise ValueError(f"input '{name}': prefix_of_key and key_columns do not combine")

    def partial(self, input_name: str) -> bool:
        """The input names only a prefix of the key (a parcel of a unit code, or an identifier
        without the further key columns): its statements hold for every key starting with it."""
        source = self.inputs[input_name]
        return bool(source.prefix_of_key) or bool(self.key_columns and not source.key_columns)

    @property
    def all_key_columns(self) -> list[str]:
        """The columns of the library's key: its identifier, then the further key columns."""
        return [self.key, *self.key_columns]

    @property
    def table(self) -> str:
        return f"{self.database}.{self.library}"

    @property
    def links(self) -> set[str]:
        """Libraries this one links to, which must be built before it."""
        return {other for others in self.linked_columns.values() for other in others}

    @property
    def linked_columns(self) -> dict[str, list[str]]:
        """Column -> the libraries whose key its value may be: the identifier (key_links),
        then the attributes declaring links; each adds a column <column>_linked."""
        linked = {self.key: self.key_links} if self.key_links else {}
        return linked | {name: a.links for name, a in self.attributes.items() if a.links}

    def std_table(self, input_name: str) -> str:
        """std.<library>__<input>: one input's standardized rows."""
        return f"std.{self.library}__{input_name}"

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.library}"

    @property
    def input_tables(self) -> list[str]:
        """What a build reads: its ods inputs, then the libraries it links to."""
        inputs = sorted({source.table for source in self.inputs.values()})
        return inputs + sorted(f"base.{other}" for other in self.links)

    @property
    def output_tables(self) -> list[str]:
        """What a build writes: the library, its std inputs, quarantine and base.conflicts."""
        std = [self.std_table(name) for name in sorted(self.inputs)]
        return [self.table, *std, self.quarantine_table, "base.conflicts"]


def load_library(path: Path) -> Library:
    """Read and validate one library file; errors name the file, the field and the fix."""
    raw, _ = read_mapping(path, "see libraries/README.md for the fields of a library.")
    try:
        return Library(**raw, file_path=path)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise ConfigError(
            f"field '{field}': {err['msg'].removeprefix('Value error, ')}.",
            file=str(path),
            fix="see libraries/README.md for the fields of a library.",
        ) from None


def load_libraries(directory: Path | None = None) -> list[Library]:
    """All libraries, sorted by name."""
    directory = directory or Path(os.environ.get("GOVLAKE_LIBRARIES_DIR", LIBRARIES_DIR))
    return [load_library(p) for p in sorted(directory.glob("*.yaml"))]


def build_order(libraries: list[Library]) -> list[Library]:
    """Libraries with every linked library before the ones linking to it."""
    from graphlib import CycleError, TopologicalSorter

    by_name = {lib.library: lib for lib in libraries}
    graph = {lib.library: {x for x in lib.links if x in by_name} for lib in libraries}
    try:
        return [by_name[n] for n in TopologicalSorter(graph).static_order()]
    except CycleError as exc:
        raise ConfigError(f"libraries link to each other in a cycle: {exc.args[1]}.") from None


def get_library(name: str) -> Library:
    libraries = {lib.library: lib for lib in load_libraries()}
    if name not in libraries:
        raise ConfigError(
            f"no library '{name}'.", fix=f"use one of {', '.join(sorted(libraries))}."
        )
    return libraries[name]


CODES_DIR = LIBRARIES_DIR / "codes"


def code_table(name: str) -> dict[str, str]:
    """A code table of libraries/codes/<name>.yaml as {code: name} (GB/T 3304, GB/T 2260 ...)."""
    path = CODES_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in CODES_DIR.glob("*.yaml")))
        raise ConfigError(f"no code table '{name}'.", fix=f"use one of {known}.")
    codes = read_yaml(path)["codes"]
    return {str(code): str(label) for code, label in codes.items()}


def code_spellings(name: str) -> dict[str, str]:
    """Every way departments write a code of the table, mapped to the code: the code, the code
    without leading zeros, the name, and the name without its generic suffix (族)."""
    spellings: dict[str, str] = {}
    for code, label in code_table(name).items():
        spellings[code] = code
        spellings[code.lstrip("0") or "0"] = code
        spellings[label] = code
        if name == "ethnicity" and label.endswith("族") and len(label) >= 2:
            spellings.setdefault(label[:-1], code)
    return spellings
