"""Catalog entries and catalog rules as pydantic models (政务数据目录, GB/T 21063.3 metadata)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SharingType = Literal["无条件共享", "有条件共享", "不予共享"]
OpenType = Literal["无条件开放", "有条件开放", "不予开放"]
UpdateCycle = Literal["实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "不定期"]
# Data types of GB/T 21063.3 (字符型 C, 数值型 N, ...), by their Chinese names.
ItemType = Literal[
    "字符型",
    "数值型",
    "整型",
    "浮点型",
    "货币型",
    "日期型",
    "日期时间型",
    "逻辑型",
    "备注型",
    "复合型",
]
# app_<name>: an application's warehouse (一应用一数仓, conf/apps/), catalogued like a theme.
TABLE = r"^(ods|base|theme|app_[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*$"


class Level(BaseModel):
    """One level of the classification (类 / 项 / 目 / 细目): its code and name."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^\d*$")
    name: str = ""


class Classification(BaseModel):
    """Where the resource sits: 类 (lei), 项 (xiang), 目 (mu) and optional 细目 (ximu)."""

    model_config = ConfigDict(extra="forbid")

    lei: Level
    xiang: Level
    mu: Level
    ximu: Level = Level(code="")


class Provider(BaseModel):
    """The providing department (提供方) and its organisation code."""

    model_config = ConfigDict(extra="forbid")

    department: str
    code: str | None = None


class Sharing(BaseModel):
    """Sharing attribute (共享属性): type, the condition of 有条件共享, and how it is shared."""

    model_config = ConfigDict(extra="forbid")

    type: SharingType
    condition: str | None = None
    method: str | None = Field(None, description="e.g. 库表交换, 接口调用, 文件下载")


class Openness(BaseModel):
    """Open attribute (开放属性) towards the public."""

    model_config = ConfigDict(extra="forbid")

    type: OpenType
    condition: str | None = None


class DataItem(BaseModel):
    """One data item (信息项): the table column it describes, Chinese name, type and grade."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    type: ItemType
    grade: str | None = Field(None, description="a national or local level of conf/catalog.yaml")
    description: str = ""


class CatalogEntry(BaseModel):
    """One catalog resource (政务数据资源) as a department registers it."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="equal to the file name")
    code: str
    name: str
    abstract: str
    classification: Classification
    provider: Provider
    source_systems: list[str] = Field(default_factory=list, description="数据—系统")
    tables: list[str] = Field(min_length=1, description="目录—数据: db.table names")
    format: str = "数据库"
    items: list[DataItem] = Field(min_length=1)
    sharing: Sharing
    open: Openness
    update_cycle: UpdateCycle
    publish_date: dt.date
    related: list[str] = Field(default_factory=list, description="codes of related resources")
    legal_basis: str | None = None
    file_path: Path | None = Field(None, exclude=True)

    @field_validator("tables")
    @classmethod
    def _table_names(cls, tables: list[str]) -> list[str]:
        import re

        bad = [t for t in tables if not re.match(TABLE, t)]
        if bad:
            raise ValueError(
                f"tables {bad} are not db.table names in ods, base, theme or app_<name>"
            )
        return tables

    def content_hash(self) -> str:
        """A stable hash of what the department declared, to notice changed entries."""
        text = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class CodeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    example: str
    lei_by_database: dict[str, str] = Field(default_factory=dict)


class LocalLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str
    name: str
    national: str


class GradeRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standard: str
    national: list[str] = Field(min_length=1, description="loosest to strictest")
    local: list[LocalLevel] = Field(default_factory=list, description="loosest to strictest")


class CalendarYear(BaseModel):
    """A year the holiday package does not know, copied from the State Council notice."""

    model_config = ConfigDict(extra="forbid")

    notice: str = ""
    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list, description="adjusted working weekends")


class CalendarRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: dict[int, CalendarYear] = Field(default_factory=dict)


class CatalogRules(BaseModel):
    """conf/catalog.yaml: code rule, grade scheme, registration deadline, calendar."""

    model_config = ConfigDict(extra="forbid")

    code: CodeRule
    grades: GradeRules
    registered_databases: list[str] = ["ods", "base", "theme"]
    technical_column_prefix: str = "_"
    deadline_working_days: int = Field(20, ge=1)
    manager_department: str = Field(
        "市行政审批局", description="answers for tables no department provides (谁管理谁负责)"
    )
    calendar: CalendarRules = CalendarRules()
    file_path: Path | None = Field(None, exclude=True)
