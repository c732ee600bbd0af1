"""Frictionless Data Packages and the DCAT catalogue of open data: descriptors built from the
catalog, rows written as UTF-8 CSV, validated with the frictionless library, published by rename
(a package that fails validation is not published; the previous one stays)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from govlake.catalog.grades import GradeScheme
from govlake.errors import GovlakeError
from govlake.open.config import OpenDataset, above_open

CSV_NAME = "data.csv"
DESCRIPTOR = "datapackage.json"
CATALOGUE = "catalog.jsonld"
DCAT_CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
}


@dataclass(frozen=True)
class Field:
    """One published column: name, Chinese title, frictionless type and constraints."""

    name: str
    title: str
    type: str
    constraints: dict


@dataclass(frozen=True)
class Version:
    """The data's own version: the source table's Delta version and its commit time (UTC)."""

    table_version: int | None
    modified: str | None


class InvalidPackage(GovlakeError):
    """A package whose data violates its own schema: not published."""


def cell(value) -> str:
    """A value as CSV text in the form frictionless parses for the field's type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def csv_bytes(fields: list[Field], rows: list[tuple]) -> bytes:
    """UTF-8 CSV (RFC 4180, \\r\\n), header of field names; the same rows give the same bytes."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f.name for f in fields])
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def descriptor(ds: OpenDataset, fields: list[Field], version: Version) -> dict:
    """datapackage.json: Chinese titles, licence, provenance and the resource's Table Schema."""
    conf = ds.conf
    package = {
        "name": ds.name,
        "title": conf.title,
        "description": conf.description,
        "licenses": [conf.license.model_dump()],
        "sources": [{"title": f"{ds.entry_name}（{ds.resource.code}）", "path": ds.table}],
        "contributors": [{"title": ds.resource.provider, "role": "publisher"}],
        "version": f"{version.table_version}" if version.table_version is not None else "0",
        "govlake": {
            "resource": ds.resource.resource,
            "code": ds.resource.code,
            "open_type": ds.open_type,
            "condition": conf.condition,
            "row_filter": conf.row_filter,
            "masked": conf.masked,
            "aggregate": conf.aggregate.model_dump() if conf.aggregate else None,
            "update_cycle": conf.update_cycle,
            "priority": ds.priority,
            "modified": version.modified,
        },
        "resources": [
            {
                "name": ds.name,
                "title": conf.title,
                "path": CSV_NAME,
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {"fields": [_field(f) for f in fields]},
            }
        ],
    }
    return package


def _field(f: Field) -> dict:
    out = {"name": f.name, "title": f.title, "type": f.type}
    if f.constraints:
        out["constraints"] = f.constraints
    return out


def json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def validate_package(folder: Path, ds: OpenDataset, shown: Path | None = None) -> None:
    """The frictionless library validates the written package; the first error is raised
    naming dataset, file (`shown`: where it would have been published), row, field and fix."""
    from frictionless import Package

    package = Package(str(folder / DESCRIPTOR))
    report = package.validate()
    if report.valid:
        return
    errors = [e for task in report.tasks for e in task.errors] or list(report.errors)
    first = errors[0]
    row = getattr(first, "row_number", None)
    field = getattr(first, "field_name", None)
    more = f" ({len(errors) - 1} more errors)" if len(errors) > 1 else ""
    raise InvalidPackage(
        f"open dataset {ds.name}: {first.type}"
        + (f" in field '{field}'" if field else "")
        + f": {first.message}{more}. The package was not published; the previous one stays.",
        file=str((shown or folder) / (CSV_NAME if row else DESCRIPTOR)) + " (staged)",
        row=row,
        fix=f"correct the value at the source ({ds.table}), or the constraint in "
        f"{ds.conf.file} (field 'constraints') if the constraint is wrong.",
    )


def check_no_graded_column(header: list[str], ds: OpenDataset, scheme: GradeScheme) -> None:
    """Second line after the load-time check: every column of the written file is published
    by the dataset, and none graded above 一般 is there unmasked."""
    published = set(ds.columns)
    if ds.conf.aggregate:
        published.add(ds.conf.aggregate.count)
    for name in header:
        info = ds.columns.get(name)
        graded = info is not None and above_open(info.grade, scheme)
        if name not in published or (graded and name not in ds.conf.masked):
            raise InvalidPackage(
                f"open dataset {ds.name}: column '{name}' is not allowed in the open file "
                "(not declared, or graded above 一般 and not masked).",
                file=ds.conf.file,
                fix="publish only the declared columns; mask or drop graded ones.",
            )


def publish(staging: Path, target: Path) -> None:
    """Swap the validated staging folder in: the old package moves aside, then goes."""
    old = target.with_name(f".old-{target.name}")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)


def write_package(root: Path, ds: OpenDataset, files: dict[str, bytes], scheme) -> Path:
    """Write into a staging folder, validate, then publish; on failure the staging folder is
    removed and the published package is left as it was."""
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{ds.name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        header = next(csv.reader(io.StringIO(files[CSV_NAME].decode("utf-8"))))
        check_no_graded_column(header, ds, scheme)
        validate_package(staging, ds, shown=root / ds.name)
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(staging, root / ds.name)
    return root / ds.name


def dcat_catalogue(packages: list[dict]) -> dict:
    """A dcat:Catalog with one dcat:Dataset per published package (descriptor dicts)."""
    datasets = []
    for p in sorted(packages, key=_priority_order):
        meta = p["govlake"]
        dataset = {
            "@id": f"{p['name']}/",
            "@type": "dcat:Dataset",
            "dct:identifier": p["name"],
            "dct:title": p["title"],
            "dct:description": p["description"],
            "dct:publisher": {"@type": "foaf:Organization", "foaf:name": _publisher(p)},
            "dct:source": meta["code"],
            "dct:license": p["licenses"][0]["path"],
            "dct:accrualPeriodicity": meta["update_cycle"],
            "dcat:version": p["version"],
            "dcat:distribution": [
                {
                    "@type": "dcat:Distribution",
                    "dct:title": f"{p['title']}（CSV）",
                    "dcat:downloadURL": f"{p['name']}/{CSV_NAME}",
                    "dcat:mediaType": "text/csv",
                },
                {
                    "@type": "dcat:Distribution",
                    "dct:title": "Data Package",
                    "dcat:downloadURL": f"{p['name']}/{DESCRIPTOR}",
                    "dcat:mediaType": "application/json",
                },
            ],
        }
        if meta.get("modified"):
            dataset["dct:modified"] = meta["modified"]
        if meta.get("priority"):
            dataset["dcat:keyword"] = ["重点清单"]
        datasets.append(dataset)
    return {
        "@context": DCAT_CONTEXT,
        "@type": "dcat:Catalog",
        "dct:title": "鄂州市公共数据开放目录",
        "dcat:dataset": datasets,
    }


def _publisher(package: dict) -> str:
    return next((c["title"] for c in package.get("contributors", [])), "")


def _priority_order(package: dict) -> tuple:
    rank = package["govlake"].get("priority")
    return (rank is None, rank or 0, package["name"])


def write_catalogue(root: Path, names: list[str]) -> Path:
    """catalog.jsonld from the published packages of the configured datasets `names` (a dataset
    whose export failed keeps its previous package), written by rename."""
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / n / DESCRIPTOR for n in sorted(names)]
    packages = [json.loads(p.read_text(encoding="utf-8")) for p in paths if p.is_file()]
    target = root / CATALOGUE
    tmp = root / f".{CATALOGUE}.tmp"
    tmp.write_bytes(json_bytes(dcat_catalogue(packages)))
    tmp.replace(target)
    return target
