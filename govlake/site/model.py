"""The ledger (一本账) as typed data: what the site shows, independent of where it was read from.

The collector fills it from the catalog, lineage, quality and ops tables when they exist and
from configuration otherwise; the renderer only ever sees this model, so tests can build a
site from a hand-written ledger without Spark.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from lineage.declared import ColumnEdge

UNKNOWN = "未登记"  # shown for a catalog attribute nobody has registered yet
UNGRADED = "未定级"


@dataclass(frozen=True)
class Item:
    """A data item (数据项) of a resource: one column with its Chinese name, type and grade."""

    name: str
    name_zh: str = ""
    data_type: str = ""
    grade: str | None = None
    table: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Freshness:
    """The latest load of a table: when, which batch, what it wrote, and the table's rows now."""

    last_load: dt.datetime | None = None
    batch_date: dt.date | None = None
    status: str | None = None
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    rows_total: int | None = None
    notes: str | None = None  # ops.load_runs.notes: an empty delivery, title/total rows dropped


@dataclass(frozen=True)
class QualityScore:
    """The latest table-level quality score (0-100) from quality.scores."""

    run_date: dt.date | None
    overall: float | None
    dimensions: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemInfo:
    """A department's information system (数据—系统) that tables come from."""

    system: str
    department: str
    information_system: str
    department_code: str | None = None
    mode: str | None = None


@dataclass
class Resource:
    """A catalog resource (目录) with the tables it maps to (目录—数据)."""

    resource_id: str
    name: str
    tables: list[str]
    code: str | None = None
    abstract: str = ""
    classification: str = ""
    layer: str = ""
    department: str | None = None
    department_code: str | None = None
    systems: list[str] = field(default_factory=list)
    grade: str | None = None
    sharing_type: str | None = None
    sharing_condition: str | None = None
    sharing_method: str | None = None
    open_type: str | None = None
    update_cycle: str | None = None
    publish_date: dt.date | None = None
    related: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    registered: bool = False  # True when read from catalog.resources, not inferred
    review: str | None = None  # passed | returned (退回纠正)
    review_findings: list[str] = field(default_factory=list)
    legal_basis: str | None = None

    @property
    def slug(self) -> str:
        return slug(self.resource_id)


@dataclass(frozen=True)
class Registration:
    """A registration or update that the catalog rules require within 20 working days."""

    department: str
    resource: str
    reason: str
    detected_on: dt.date | None
    due_date: dt.date | None
    registered_on: dt.date | None = None
    status: str = "due"  # due | overdue | done


@dataclass(frozen=True)
class Access:
    """Statements through governed access naming one table, per reading department and
    verdict (from audit.queries; counts only: no statement text, no value)."""

    table: str
    department: str
    verdict: str  # allowed | refused | failed
    statements: int
    rows: int
    masked: int  # statements that read at least one masked column
    principals: int


@dataclass(frozen=True)
class OpenDataset:
    """A published open-data package (数据开放), from <lakehouse>/open/catalog.jsonld and its
    datapackage.json; `folder` is its folder name under open/ (the download links)."""

    name: str
    title: str
    publisher: str
    resource_code: str
    rows: int
    version: str
    modified: str | None
    priority: int | None  # rank on the 重点清单, None: not on it
    license: str
    description: str = ""


@dataclass(frozen=True)
class ShareRequest:
    """A request for a catalog resource (供需对接) as `govlake share list` shows it: state as of
    the build day, working days taken, answered on time or overdue."""

    request_id: str
    principal: str
    department: str | None  # the requesting department's code
    resource: str
    items: str
    provider: str
    delivery: str
    state: str  # pending | approved | partially_approved | rejected | revoked | expired
    requested_on: dt.date
    due_on: dt.date | None  # None: the holiday calendar does not reach it yet
    decided_on: dt.date | None
    age_working_days: int | None
    overdue: bool | None
    on_time: bool | None  # decided by the due date; None while pending or without a due date
    reason: str | None = None


@dataclass(frozen=True)
class SourceFreshness:
    """One ods table's delivery against its schedule (like dbt's source freshness): the batch
    the schedule expects by now and the newest batch committed."""

    table: str
    department: str
    schedule: str
    expected_batch: dt.date
    latest_batch: dt.date | None  # newest committed batch (success or unchanged)
    status: str  # on_time | late | never

    @property
    def days_late(self) -> int:
        if self.latest_batch is None:
            return 0
        return max((self.expected_batch - self.latest_batch).days, 0)


@dataclass(frozen=True)
class Problems:
    """Problems sent back to one department (quality.problems): open now, fixed, and the
    median days a fix took."""

    department: str
    open: int
    fixed: int
    median_days_to_fix: float | None


@dataclass(frozen=True)
class Delivery:
    """The latest delivery into one application warehouse table (一应用一数仓, share.deliveries)."""

    app: str
    warehouse_table: str
    source_table: str
    night: dt.date
    rows: int | None
    state: str  # delivered | emptied
    request_id: str | None
    reason: str | None = None


@dataclass(frozen=True)
class DuplicateCollection:
    """Two departments' columns stating one fact, found from the data (识别重复采集数据,
    quality.discovered_duplicates): names and rates only, never a value."""

    department_a: str
    table_a: str
    column_a: str
    department_b: str
    table_b: str
    column_b: str
    key_kind: str
    keys_overlap: int
    overlap_percent: float
    agree_percent: float
    chance_percent: float
    declared_by: str | None


@dataclass(frozen=True)
class SandboxRelease:
    """A statistic released from a sandbox project (可用不可见, share.sandbox_releases); the
    statement with any identifier in it masked."""

    project: str
    release_id: str
    at: dt.datetime
    kind: str  # aggregate (exact, k-anonymous) | dp (noisy)
    epsilon: float | None
    rows: int | None
    statement: str


@dataclass
class Ledger:
    """Everything the site shows, plus a note per input saying where it came from or why not."""

    generated_at: dt.datetime
    resources: list[Resource]
    edges: list[ColumnEdge] = field(default_factory=list)
    systems: dict[str, SystemInfo] = field(default_factory=dict)
    freshness: dict[str, Freshness] = field(default_factory=dict)
    scores: dict[str, QualityScore] = field(default_factory=dict)  # table -> latest
    department_scores: dict[str, QualityScore] = field(default_factory=dict)
    data_docs: dict[str, str] = field(default_factory=dict)  # table -> page under data_docs/
    registrations: list[Registration] | None = None  # None: not tracked yet
    access: list[Access] | None = None  # None: nobody has read through governed access yet
    open_data: list[OpenDataset] | None = None  # None: nothing published as open data yet
    requests: list[ShareRequest] | None = None  # None: nobody has requested a resource yet
    source_freshness: list[SourceFreshness] = field(default_factory=list)
    # department -> [(night, overall score)] oldest first, the last PORTAL_NIGHTS nights
    score_history: dict[str, list[tuple[dt.date, float]]] = field(default_factory=dict)
    problems: dict[str, Problems] | None = None  # None: no problem tracked yet
    deliveries: list[Delivery] | None = None  # None: no application warehouse served yet
    releases: list[SandboxRelease] | None = None  # None: nothing released from a sandbox yet
    duplicates: list[DuplicateCollection] | None = None  # None: none looked for yet
    # project -> (ε spent, ε budget) of every configured sandbox project
    budgets: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # input -> where from / why missing

    def resource_of(self, table: str) -> Resource | None:
        return next((r for r in self.resources if table in r.tables), None)


def slug(text: str) -> str:
    """A file-name-safe id: dots and other punctuation become '_', CJK is kept."""
    return re.sub(r"[^\w-]+", "_", text).strip("_") or "_"
