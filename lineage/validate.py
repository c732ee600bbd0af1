"""OpenLineage events checked against the vendored JSON schema before anything is written.

The core schema checks the event envelope; each facet is checked against its own schema,
found by the facet's `_schemaURL`. A facet with no vendored schema is an error too: lineage
that cannot be checked is not written (see lineage/schema/README.md).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from govlake.errors import GovlakeError

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# Where facets sit in a run event: (path to the facet dicts, label for messages).
FACET_PLACES = (
    (("run", "facets"), "run"),
    (("job", "facets"), "job"),
)
DATASET_FACET_KEYS = {"inputs": ("facets", "inputFacets"), "outputs": ("facets", "outputFacets")}


class LineageSchemaError(GovlakeError):
    """A lineage event that does not match the OpenLineage schema; nothing was written."""


def _checker():
    from jsonschema import FormatChecker

    checker = FormatChecker()

    # jsonschema checks date-time only with an extra package; the spec asks for ISO 8601
    # with an offset, which Python parses itself.
    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return dt.datetime.fromisoformat(value).tzinfo is not None

    return checker


@lru_cache(maxsize=1)
def _schemas() -> tuple[Any, dict[str, dict]]:
    """The registry of vendored schemas and the facet schemas by `$id`."""
    from referencing import Registry, Resource

    documents = [json.loads(p.read_text(encoding="utf-8")) for p in _schema_files()]
    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in documents
    )
    facets = {doc["$id"]: doc for doc in documents if doc["$id"] != CORE_ID}
    return registry, facets


def _schema_files() -> list[Path]:
    files = [SCHEMA_DIR / "OpenLineage.json", *sorted((SCHEMA_DIR / "facets").glob("*.json"))]
    if not files[0].exists():
        raise GovlakeError(
            f"the OpenLineage schema is missing at {files[0]}.",
            fix="restore lineage/schema/ from git (see lineage/schema/README.md).",
        )
    return files


def _validator(schema: dict):
    from jsonschema import Draft202012Validator

    registry, _ = _schemas()
    return Draft202012Validator(schema, registry=registry, format_checker=_checker())


def schema_errors(event: dict) -> list[str]:
    """Every way the event breaks the schema, as 'where: what' lines (empty when valid)."""
    kind = "RunEvent" if "run" in event else "DatasetEvent" if "dataset" in event else "JobEvent"
    core = {"$ref": f"{CORE_ID}#/$defs/{kind}"}
    errors = [_describe(e) for e in _validator(core).iter_errors(event)]
    for where, key, facet in _facets(event):
        errors += _facet_errors(where, key, facet)
    return errors


def _facets(event: dict):
    """(where, key, facet) for every facet of the event."""
    for path, label in FACET_PLACES:
        node = event
        for part in path:
            node = (node.get(part) or {}) if isinstance(node, dict) else {}
        for key, facet in node.items():
            yield label, key, facet
    for side, places in DATASET_FACET_KEYS.items():
        for i, dataset in enumerate(event.get(side) or []):
            for place in places:
                for key, facet in (dataset.get(place) or {}).items():
                    yield f"{side}[{i}].{place}", key, facet


def _facet_errors(where: str, key: str, facet: Any) -> list[str]:
    url = facet.get("_schemaURL", "") if isinstance(facet, dict) else ""
    schema = _schemas()[1].get(url.split("#", 1)[0])
    if schema is None:
        return [
            f"{where}.{key}: no vendored schema for facet schema URL '{url}' "
            "(only facets listed in lineage/schema/README.md can be written)"
        ]
    return [f"{where}.{_describe(e)}" for e in _validator(schema).iter_errors({key: facet})]


def _describe(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(event)"
    return f"{path}: {error.message}"


def validate_event(event: dict) -> dict:
    """Return the event if it matches the OpenLineage schema, else raise LineageSchemaError."""
    errors = schema_errors(event)
    if errors:
        job = (event.get("job") or {}).get("name", "?")
        raise LineageSchemaError(
            f"the {event.get('eventType', '')} lineage event of job '{job}' does not match the "
            f"OpenLineage schema, so it was not written: " + "; ".join(errors[:5]),
            fix="fix the facet or dataset named above in lineage/emit.py or the job's hook; "
            "schemas are in lineage/schema/.",
        )
    return event
