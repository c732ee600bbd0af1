"""Catalog entries for tests that build their own tables (a library needs one to publish)."""

from __future__ import annotations

from pathlib import Path

import yaml

from govlake.lakehouse import Table


def entry(resource: str, table: str, columns: list[str], systems: list[str], **fields) -> dict:
    """A catalog entry that passes review: every column an item graded L2, conditional sharing."""
    lei = {"ods": "3", "base": "1", "theme": "2"}[Table.parse(table).database]
    return {
        "resource": resource,
        "code": fields.pop("code", f"{lei}01001-0001"),
        "name": f"测试资源 {resource}",
        "abstract": "a resource written by a test",
        "classification": {
            "lei": {"code": lei, "name": "测试"},
            "xiang": {"code": "01", "name": "测试"},
            "mu": {"code": "001", "name": "测试"},
        },
        "provider": {"department": "市行政审批局", "code": "420700008"},
        "source_systems": systems,
        "tables": [table],
        "items": [{"column": c, "name": c, "type": "字符型", "grade": "L2"} for c in columns],
        "sharing": {"type": "有条件共享", "condition": "仅限测试", "method": "库表交换"},
        "open": {"type": "不予开放"},
        "update_cycle": "每日",
        "publish_date": "2026-11-20",
        **fields,
    }


def write_entry(folder: Path, resource: str, table: str, columns, systems, **fields) -> Path:
    """Write conf-style <resource>.yaml into folder; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = entry(resource, table, list(columns), list(systems), **fields)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    (folder / f"{resource}.yaml").write_text(text, encoding="utf-8")
    return folder
