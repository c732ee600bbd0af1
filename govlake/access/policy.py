"""What each principal may read: catalog resources and their graded columns, the catalog's sharing
defaults, and the grants of conf/access/ checked against both at load."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp

from govlake.access.config import Grant, PrincipalConf, Role
from govlake.catalog.grades import GradeScheme
from govlake.catalog.models import CatalogEntry
from govlake.catalog.publish import item_rows
from govlake.catalog.review import Review
from govlake.errors import ConfigError
from govlake.lakehouse import Table
from govlake.masking import Masking, column_mask_kind

UNCONDITIONAL, CONDITIONAL, NOT_SHARED = "无条件共享", "有条件共享", "不予共享"
# Principals of these kinds are government users: 无条件共享 resources are theirs by default.
GOVERNMENT_KINDS = ("person", "application")


@dataclass(frozen=True)
class ColumnInfo:
    """A catalogued column: its effective grade (declared or inherited, 就高从严) and mask kind."""

    name: str
    grade: str | None
    mask: str


@dataclass(frozen=True)
class Resource:
    """A catalog resource's table as access control sees it."""

    resource: str
    code: str
    table: str
    columns: dict[str, ColumnInfo]
    sharing: str
    provider_code: str | None
    provider: str

    @property
    def is_base(self) -> bool:
        # Base library tables keep retired rows; readers see only the current ones.
        return Table.parse(self.table).database == "base"


@dataclass
class Access:
    """A principal's view of one table: columns readable and the rows (None: all rows)."""

    resource: Resource
    columns: set[str] = field(default_factory=set)
    filters: list[str | None] = field(default_factory=list)  # OR-ed; None is every row
    delivered: bool = False  # a warehouse copy: its values were masked when delivered

    @property
    def row_filter(self) -> str | None:
        if not self.filters or None in self.filters:
            return None
        return " OR ".join(f"({f})" for f in dict.fromkeys(self.filters))


def resources(review: Review, masking: Masking) -> dict[str, Resource]:
    """Every catalogued table, with grades computed exactly as catalog.items publishes them."""
    inherited = review.inherited
    out: dict[str, Resource] = {}
    for entry in review.entries:
        rows = item_rows(entry, review.lake, review.scheme, inherited)
        items = {i.column: i for i in entry.items}
        for table in entry.tables:
            info = review.lake.tables.get(table)
            present = set(info.columns) if info and info.complete else None
            columns = {
                r["column"]: ColumnInfo(
                    r["column"],
                    r["grade"],
                    column_mask_kind(items[r["column"]].name, r["type"], masking),
                )
                for r in rows
                if r["table"] == table and (present is None or r["column"] in present)
            }
            out[table] = _resource(entry, table, columns)
    return out


def _resource(entry: CatalogEntry, table: str, columns: dict[str, ColumnInfo]) -> Resource:
    return Resource(
        entry.resource,
        entry.code,
        table,
        columns,
        entry.sharing.type,
        entry.provider.code,
        entry.provider.department,
    )


def check_grant(grant: Grant, roles: dict[str, Role], by_name: dict[str, list[Resource]]) -> None:
    """A grant naming an unknown role, resource or column, or a bad row filter, is refused."""
    where = {"file": grant.file}
    if grant.role not in roles:
        raise ConfigError(
            f"field 'role': unknown role '{grant.role}'.",
            **where,
            fix=f"name one of {', '.join(sorted(roles)) or '(none)'} or add roles/{grant.role}"
            ".yaml.",
        )
    if grant.resource not in by_name:
        raise ConfigError(
            f"field 'resource': '{grant.resource}' is not a catalog resource (name or code).",
            **where,
            fix="name a resource of conf/catalog/ by its file name or its 资源代码.",
        )
    known = set().union(*(r.columns for r in by_name[grant.resource]))
    if grant.columns != "all":
        missing = [c for c in grant.columns if c not in known]
        if missing:
            raise ConfigError(
                f"field 'columns': {', '.join(missing)} "
                f"{'is not a column' if len(missing) == 1 else 'are not columns'} of "
                f"{grant.resource} "
                "(not catalogued, or dropped from the table since the grant was written).",
                **where,
                fix=f"grant only columns the table has now: {', '.join(sorted(known))}.",
            )
    if grant.row_filter:
        check_row_filter(grant, known)


def check_row_filter(grant: Grant, known: set[str]) -> None:
    fix = "write a SQL predicate over the resource's columns, e.g. division = '420704'."
    try:
        node = sqlglot.parse_one(grant.row_filter, read="spark")
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(
            f"field 'row_filter': not a SQL predicate ({exc}).", file=grant.file, fix=fix
        ) from None
    unknown = sorted({c.name for c in node.find_all(exp.Column)} - known)
    bad = [n for n in node.walk() if isinstance(n, exp.Query | exp.Table | exp.Star)]
    if unknown or bad or not isinstance(node, exp.Predicate | exp.Connector | exp.Not):
        what = f"unknown columns {', '.join(unknown)}" if unknown else "not a plain predicate"
        raise ConfigError(f"field 'row_filter': {what}.", file=grant.file, fix=fix)


def resource_index(tables: dict[str, Resource]) -> dict[str, list[Resource]]:
    """Resources by name and by code."""
    index: dict[str, list[Resource]] = {}
    for res in tables.values():
        index.setdefault(res.resource, []).append(res)
        index.setdefault(res.code, []).append(res)
    return index


def readable(
    principal: PrincipalConf,
    tables: dict[str, Resource],
    grants: list[Grant],
    index: dict[str, list[Resource]],
    today: dt.date,
) -> dict[str, Access]:
    """Per table, what the (non-admin) principal reads: catalog defaults, then its grants."""
    out: dict[str, Access] = {}
    for table, res in tables.items():
        default = (res.sharing == UNCONDITIONAL and principal.kind in GOVERNMENT_KINDS) or (
            principal.department is not None and principal.department == res.provider_code
        )
        if default:
            out[table] = Access(res, set(res.columns), [None])
    for grant in grants:
        if not _applies(grant, principal, today):
            continue
        for res in index[grant.resource]:
            access = out.setdefault(res.table, Access(res))
            cols = res.columns if grant.columns == "all" else grant.columns
            # A share grant's column dropped from the table since its approval is skipped
            # (YAML grants are refused at load instead).
            access.columns |= {c for c in cols if c in res.columns}
            access.filters.append(grant.row_filter)
    return out


def warehouse_table(warehouse: str, table: str) -> str:
    """Where an application's warehouse holds its copy of `table`: app_<name>.<db>__<table>."""
    database, _, name = table.partition(".")
    return f"{warehouse}.{database}__{name}"


def warehouse_view(access: dict[str, Access], warehouse: str) -> dict[str, Access]:
    """What an application bound to its warehouse reads: instead of each table it is granted,
    the copy in its warehouse (filtered and masked when delivered), and nothing else."""
    out: dict[str, Access] = {}
    for table, acc in access.items():
        target = warehouse_table(warehouse, table)
        res = replace(acc.resource, table=target)
        out[target] = Access(res, set(acc.columns), [None], delivered=True)
    return out


def _applies(grant: Grant, principal: PrincipalConf, today: dt.date) -> bool:
    """A role grant applies to the role's principals, a share grant to its one principal;
    either only within its period."""
    if grant.principal is not None:
        if grant.principal != principal.id or (grant.since and grant.since > today):
            return False
    elif grant.role not in principal.roles:
        return False
    return not (grant.until and grant.until < today)


def clearance(principal: PrincipalConf, roles: dict[str, Role], scheme: GradeScheme) -> str | None:
    """The strictest clearance among the principal's roles (None: sees no graded value)."""
    return scheme.strictest([roles[r].clearance for r in principal.roles if r in roles])


def shows_unmasked(column: ColumnInfo, cleared: str | None, scheme: GradeScheme) -> bool:
    """Whether a clearance shows this column raw; an ungraded column counts as strictest."""
    if cleared is None or column.grade is None or not scheme.known(column.grade):
        return False
    return not scheme.looser(cleared, column.grade)
