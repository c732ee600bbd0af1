"""Read conf/catalog/<resource>.yaml entries and conf/catalog.yaml rules, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from govlake.catalog.models import CatalogEntry, CatalogRules
from govlake.conffile import read_mapping
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

CATALOG_DIR = PROJECT_ROOT / "conf" / "catalog"
RULES_FILE = PROJECT_ROOT / "conf" / "catalog.yaml"

# What to tell the department for each field that can be wrong.
FIXES = {
    "resource": "use the file name (snake_case), e.g. psb_hukou__hj_resident.",
    "code": "give the resource code (资源代码) following conf/catalog.yaml code.pattern.",
    "classification": "give lei/xiang/mu (and ximu) each with code and name (类/项/目/细目).",
    "provider": "name the providing department and its code (提供方).",
    "tables": "list the lakehouse tables the entry describes (目录—数据), e.g. [base.population].",
    "items": "list each column as {column, name, type, grade}.",
    "type": "use a GB/T 21063.3 type: 字符型, 数值型, 整型, 浮点型, 货币型, 日期型, 日期时间型, "
    "逻辑型, 备注型 or 复合型 (for an item), or the allowed values named in the message.",
    "sharing": "give sharing.type: 无条件共享, 有条件共享 or 不予共享 (with condition, method).",
    "open": "give open.type: 无条件开放, 有条件开放 or 不予开放.",
    "update_cycle": "use 实时, 每日, 每周, 每月, 每季度, 每半年, 每年 or 不定期.",
    "publish_date": "give the publish date as YYYY-MM-DD.",
}


def yaml_line(text: str, loc: tuple) -> int | None:
    """The line (1-based) of the YAML node at a pydantic error location, if it exists."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == str(key)]
            if not found:
                break
            node = found[0][1]
            line = found[0][0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def explain(exc: ValidationError, path: Path, text: str) -> ConfigError:
    """The first validation error as file, line, field, message and fix."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or "(file)"
    line = yaml_line(text, loc)
    named = [str(p) for p in loc if str(p) in FIXES]
    fix = FIXES[named[-1]] if named else "see conf/catalog/README.md for the fields of an entry."
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "this required field is missing"
    elif err["type"] == "extra_forbidden":
        message = "this field is not known"
        fix = "remove it or correct its spelling; see conf/catalog/README.md."
    elif err["type"] == "literal_error":
        message = f"{err['input']!r} is not allowed ({err['msg']})"
    at = f" (line {line})" if line else ""
    return ConfigError(f"field '{field}'{at}: {message}.", file=str(path), fix=fix)


def _parse(model: type[BaseModel], path: Path) -> BaseModel:
    raw, text = read_mapping(path, FIXES["resource"])
    try:
        return model(**raw, file_path=path)
    except ValidationError as exc:
        raise explain(exc, path, text) from None


def load_entry(path: Path) -> CatalogEntry:
    """One catalog entry; its `resource` must equal the file name."""
    entry = _parse(CatalogEntry, path)
    if entry.resource != path.stem:
        raise ConfigError(
            f"field 'resource': '{entry.resource}' differs from the file name '{path.stem}'.",
            file=str(path),
            fix="name the file <resource>.yaml so each resource has exactly one file.",
        )
    return entry


def catalog_dir() -> Path:
    return Path(os.environ.get("GOVLAKE_CATALOG_DIR", CATALOG_DIR))


def load_catalog(directory: Path | None = None) -> list[CatalogEntry]:
    """Every catalog entry, sorted by resource name."""
    directory = directory or catalog_dir()
    if not directory.is_dir():
        raise ConfigError(
            "the catalog folder does not exist.",
            file=str(directory),
            fix="create it with one <resource>.yaml per resource (see conf/catalog/README.md).",
        )
    return [load_entry(p) for p in sorted(directory.glob("*.yaml"))]


def load_rules(path: Path | None = None) -> CatalogRules:
    """The catalog rules (code, grades, deadline, calendar) of conf/catalog.yaml."""
    path = path or Path(os.environ.get("GOVLAKE_CATALOG_RULES", RULES_FILE))
    return _parse(CatalogRules, path)
