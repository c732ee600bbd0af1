"""Read one department HTTP JSON interface (`format: api`) into a raw DataFrame.

The interface is paged (page, page_size) and filtered by update time (the watermark's low
bound as a query parameter: values travel as parameters, never pasted into the URL's text).
Each page is fetched with the bearer token of the source's connection and retried while the
server fails (HTTP 5xx, a dropped connection); a refused token (401/403), another client error
or a body that is not JSON stops the load at once, naming the page's URL. A record that is not
a JSON object is kept as a reject with its text, so read = loaded + rejected + quarantined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from govlake.errors import SourceError
from govlake.settings import Settings
from govlake.sources import SourceSystem, TableSpec
from jobs.connections import HttpTarget, with_retries
from jobs.readers import Increment, _rows_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TIMEOUT_SECONDS = 60
NOT_AN_OBJECT = "is not a JSON object"


class ServerFailed(Exception):
    """A response the server may not give next time (5xx, 429): the page is fetched again."""


@dataclass(frozen=True)
class Page:
    """One fetched page: its URL (no token in it) and its records."""

    number: int
    url: str
    records: list[Any]

    @property
    def ref(self) -> str:
        """The page as rows name it (`_source_file`): path and query without the host, so a
        rerun against the same interface on another address is the same batch."""
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}"


@dataclass(frozen=True)
class ApiRead:
    """What the read brought: the ods columns, the rows, and the highest watermark seen."""

    columns: list[str]
    rows: list[tuple]
    high: str | None
    null_marks: int


def page_url(url: str, params: dict) -> str:
    return f"{url}?{urlencode(params)}"


def fetch(session, source: SourceSystem, url: str, params: dict, number: int, cfg: Settings):
    """The page's response, retried while the server fails; other failures are final."""
    shown = page_url(url, params)

    def get():
        response = session.get(url, params=params, timeout=TIMEOUT_SECONDS)
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerFailed(f"HTTP {response.status_code} from {shown}")
        return response

    fix = (
        f"ask {source.department} whether the interface is up (page {number} kept failing); "
        "rerun the load when it answers: it continues from the last loaded update time."
    )
    response = with_retries(get, f"page {number} at {shown}", source.system, cfg, fix=fix)
    if response.status_code in (401, 403):
        raise SourceError(
            f"the interface refused the token (HTTP {response.status_code}) for page {number} "
            f"at {shown}: it is expired or wrong; nothing was loaded.",
            source=source.system,
            fix=f"ask {source.department} for a valid token and put it in the password of the "
            f"connection '{source.location.conn_id}' (AIRFLOW_CONN_"
            f"{source.location.conn_id.upper()}), then rerun the load.",
        )
    if response.status_code >= 400:
        raise SourceError(
            f"the interface answered HTTP {response.status_code} for page {number} at {shown}; "
            "nothing was loaded.",
            source=source.system,
            fix=f"check 'endpoint' and the parameter names in {source.file_path} against the "
            f"interface's documentation from {source.department}.",
        )
    return response


def records_of(
    body: bytes, spec: TableSpec, source: SourceSystem, number: int, shown: str
) -> list[Any]:
    """The records list at `records_path` of a page's JSON body."""
    try:
        found: Any = json.loads(body)
    except ValueError as exc:
        raise SourceError(
            f"page {number} at {shown} is not valid JSON ({exc}); nothing was loaded.",
            source=source.system,
            fix=f"ask {source.department} to correct the interface's output (the body is cut "
            "short or not JSON), then rerun the load.",
        ) from None
    for part in spec.records_path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, list):
        raise SourceError(
            f"page {number} at {shown} has no list of records at '{spec.records_path}'; "
            "nothing was loaded.",
            source=source.system,
            fix=f"correct 'records_path' of table '{spec.name}' in {source.file_path}, or ask "
            f"{source.department} for the agreed page layout.",
        )
    return found


def read_pages(
    source: SourceSystem, spec: TableSpec, target: HttpTarget, cfg: Settings, low: str | None
) -> list[Page]:
    """Every page of the records updated since `low`, until a page shorter than page_size."""
    import requests

    url = target.url(spec.endpoint)
    pages: list[Page] = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {target.token}"
        session.headers["Accept"] = "application/json"
        while True:
            number = len(pages) + 1
            params = {spec.page_param: number, spec.size_param: spec.page_size}
            if spec.watermark and low is not None:
                params[spec.since_param] = low
            response = fetch(session, source, url, params, number, cfg)
            shown = page_url(url, params)
            records = records_of(response.content, spec, source, number, shown)
            if pages and records and records == pages[-1].records:
                raise SourceError(
                    f"page {number} at {shown} repeats page {number - 1}: the interface "
                    f"ignores the '{spec.page_param}' parameter; nothing was loaded.",
                    source=source.system,
                    fix=f"correct 'page_param' of table '{spec.name}' in {source.file_path}.",
                )
            pages.append(Page(number, shown, records))
            if len(records) < spec.page_size:
                return pages


def text_of(value: Any) -> str | None:
    """A JSON value as the text the ods column holds (objects and lists as JSON)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def to_rows(pages: list[Page], spec: TableSpec, window: Increment, source: SourceSystem):
    """Rows of the records, numbered in the order served; a rerun keeps its first window."""
    keys: dict[str, None] = {}
    for page in pages:
        for record in page.records:
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
    declared = list(dict.fromkeys([*spec.primary_key, *spec.columns]))
    missing = [c for c in declared if c not in keys] if keys else []
    if missing:
        raise SourceError(
            f"the records lack field(s) {missing}; they have {list(keys)}.",
            source=source.system,
            file=pages[0].url,
            fix=f"correct 'columns'/'primary_key' of table '{spec.name}' in "
            f"{source.file_path}, or ask {source.department} for the agreed fields.",
        )
    names, rows, marks, nulls = list(keys), [], [], 0
    number = 0
    for page in pages:
        for record in page.records:
            number += 1
            if not isinstance(record, dict):
                raw = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
                reason = f"record {number} (page {page.number}) {NOT_AN_OBJECT}"
                rows.append((*[None] * len(names), page.ref, number, raw, reason, None))
                continue
            mark = text_of(record.get(spec.watermark)) if spec.watermark else None
            if window.high is not None and mark is not None and mark > window.high:
                number -= 1  # updated after the batch's first load: the next batch's row
                continue
            nulls += spec.watermark is not None and mark is None
            marks += [mark] if mark is not None else []
            values = [text_of(record.get(n)) for n in names]
            rows.append((*values, page.ref, number, None, None, None))
    high = window.high or max(marks, default=window.low)
    return ApiRead([spec.ods_column(n) for n in names], rows, high, nulls)


def read_api(
    spark: SparkSession,
    source: SourceSystem,
    spec: TableSpec,
    target: HttpTarget,
    cfg: Settings,
    window: Increment,
) -> tuple[DataFrame, ApiRead]:
    """The batch's raw rows from the interface, and what the read saw (columns, high mark)."""
    pages = read_pages(source, spec, target, cfg, window.low)
    read = to_rows(pages, spec, window, source)
    frame = spark.createDataFrame(read.rows, _rows_schema(read.columns)).coalesce(1)
    return frame, read
