"""AccessControl: load principals, roles and grants against the catalog, authenticate, plan
(the one enforcement point) and audit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlglot
from sqlglot import exp
from sqlglot.schema import MappingSchema

from govlake.access import enforce, metadata
from govlake.access.config import (
    Grant,
    PrincipalConf,
    access_dir,
    check_password,
    hash_password,
    load_grants,
    load_principals,
    load_roles,
)
from govlake.access.enforce import Plan, Read, Refused
from govlake.access.policy import (
    Access,
    check_grant,
    clearance,
    readable,
    resource_index,
    resources,
    shows_unmasked,
    warehouse_view,
)
from govlake.catalog.grades import GradeScheme
from govlake.catalog.loader import load_catalog, load_rules
from govlake.catalog.review import Review
from govlake.catalog.schemas import declared_lakehouse, real_lakehouse
from govlake.errors import ConfigError, GovlakeError
from govlake.masking import load_masking, mask_sql
from govlake.owned import SANDBOX_QUERIES, SHARE_REQUESTS
from govlake.sandbox import rules as sandbox_rules
from govlake.sandbox.config import Project, check_projects, load_projects

# States of share.requests whose rows are grants (within their period, checked when planning).
GRANTING_STATES = ("approved", "partially_approved")

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from govlake.settings import Settings

# One message for an unknown user and a wrong password: a caller cannot enumerate users.
BAD_LOGIN = "authentication failed: unknown user or wrong password."
# Compared against when the user is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("", salt=b"govlake-no-user!")


class AuthenticationFailed(GovlakeError):
    """Unknown user or wrong password (deliberately indistinguishable)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated (or impersonated) principal."""

    id: str
    kind: str
    department: str | None
    roles: tuple[str, ...]
    clearance: str | None
    impersonated: bool = False
    warehouse: str | None = None  # an application bound to its warehouse app_<name>

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


@dataclass(frozen=True)
class AuditEvent:
    """One statement's outcome, as audit.queries records it."""

    principal: Principal | str
    client: str
    statement: str
    plan: Plan | None
    verdict: str  # allowed | refused | failed
    reason: str | None = None
    rows: int | None = None
    duration_ms: int | None = None


class AccessControl:
    """Principals, roles and grants checked against the catalog; cached per instance."""

    def __init__(
        self,
        cfg,
        directory: Path,
        review: Review,
        masking,
        shared: list[Grant] = (),
        projects: dict[str, Project] | None = None,
        seen: dict | None = None,
    ) -> None:
        self.cfg = cfg
        self.directory = directory
        self.scheme = review.scheme
        self.masking = masking
        self.roles = load_roles(directory)
        principals, path = load_principals(directory)
        self._principals = _index_principals(principals, self.roles, self.scheme, path)
        self.tables = resources(review, masking)
        self.index = resource_index(self.tables)
        self.grants = load_grants(directory)
        for grant in self.grants:
            check_grant(grant, self.roles, self.index)
        # Approved requests (share.requests) of resources still catalogued, to one principal.
        self.grants += [g for g in shared if g.resource in self.index]
        self._views: dict[tuple, tuple] = {}
        # Sandbox projects (conf/sandbox/): their principals plan through govlake.sandbox.rules.
        self.projects = projects or {}
        kinds = {i: c.kind for i, c in self._principals.items()}
        check_projects(self.projects, kinds, {t: set(r.columns) for t, r in self.tables.items()})
        self._project_of = {pr.principal: pr for pr in self.projects.values()}
        self.overlap = sandbox_rules.Overlap(seen)

    @classmethod
    def load(
        cls, cfg: Settings, directory: Path | None = None, spark: SparkSession | None = None
    ) -> AccessControl:
        """conf/access/ (or `directory`, or GOVLAKE_ACCESS_DIR) against the catalog; with
        `spark`, table columns come from the Delta schemas (a dropped column is seen) and the
        approved requests of share.requests are grants to their principals."""
        entries, rules = load_catalog(), load_rules()
        shared: list[Grant] = []
        seen = None
        if spark is None:
            lake = declared_lakehouse()
        else:
            lake = real_lakehouse(
                spark, cfg, rules.registered_databases, rules.technical_column_prefix
            )
            shared = share_grants(spark, cfg)
            seen = sandbox_seen(spark, cfg, city_today(cfg))
        review = Review(entries, rules, lake, GradeScheme(rules.grades))
        projects = load_projects()
        return cls(cfg, access_dir(directory), review, load_masking(), shared, projects, seen)

    # -- principals ------------------------------------------------------------------------

    def authenticate(self, user: str, password: str) -> Principal:
        conf = self._principals.get(user)
        ok = check_password(password, conf.password_hash if conf else _DUMMY_HASH)
        if conf is None or not ok:
            raise AuthenticationFailed(BAD_LOGIN)
        return self._principal(conf, impersonated=False)

    def principal(self, user: str) -> Principal:
        """A principal without its password: local administrator impersonation (`--as`)."""
        conf = self._principals.get(user)
        if conf is None:
            raise GovlakeError(
                f"unknown principal '{user}'.",
                file=str(self.directory / "principals.yaml"),
                fix=f"use one of {', '.join(sorted(self._principals))}.",
            )
        return self._principal(conf, impersonated=True)

    def _principal(self, conf: PrincipalConf, impersonated: bool) -> Principal:
        return Principal(
            conf.id,
            conf.kind,
            conf.department,
            tuple(conf.roles),
            clearance(conf, self.roles, self.scheme),
            impersonated,
            conf.warehouse,
        )

    # -- planning ----------------------------------------------------------------------------

    def readable(self, p: Principal, today: dt.date | None = None) -> dict[str, Access]:
        today = today or city_today(self.cfg)
        return self._view(p, today)[0]

    def _view(self, p: Principal, today: dt.date, delivery: bool = False):
        key = (p.id, today, delivery)
        if key not in self._views:
            conf = self._principals[p.id]
            access = readable(conf, self.tables, self.grants, self.index, today)
            if conf.warehouse and not delivery:
                access = warehouse_view(access, conf.warehouse)
            schema = MappingSchema(dialect="spark")
            subqueries = {}
            for table, acc in access.items():
                cols = [c for c in acc.resource.columns if c in acc.columns]
                schema.add_table(table, dict.fromkeys(cols, "STRING"), dialect="spark")
                subqueries[table] = self._subquery(p, acc, cols)
            allowed = frozenset(sub.sql(dialect="spark") for sub in subqueries.values())
            self._views[key] = (access, schema, subqueries, allowed)
        return self._views[key]

    def _subquery(self, p: Principal, acc: Access, cols: list[str]) -> exp.Select:
        parts = []
        for name in cols:
            column = acc.resource.columns[name]
            quoted = f"`{name}`"
            shown = quoted
            if not acc.delivered and not shows_unmasked(column, p.clearance, self.scheme):
                shown = mask_sql(column.mask, quoted, self.masking)
            parts.append(f"{shown} AS {quoted}")
        parts += self._raw_columns(p, acc.resource.table)
        db, _, name = acc.resource.table.partition(".")
        where = [f"({acc.row_filter})"] if acc.row_filter else []
        if acc.resource.is_base:
            where.append("`_is_current`")
        sql = f"SELECT {', '.join(parts)} FROM `{db}`.`{name}`"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sqlglot.parse_one(sql, read="spark")

    def _raw_columns(self, p: Principal, table: str) -> list[str]:
        """A sandbox principal's subquery also carries the raw unit and join keys of the
        project's tables, under names no statement can select (the sandbox rules count and
        join on them; only aggregates leave)."""
        project = self._project_of.get(p.id) if p.kind == "sandbox" else None
        if project is None or table not in project.units:
            return []
        unit = f"`{project.units[table]}` AS `{sandbox_rules.UNIT}`"
        keys = [f"`{c}` AS `{sandbox_rules.KEY}{c}`" for c in project.keys(table)]
        return [unit, *keys]

    def plan(
        self, p: Principal, sql: str, today: dt.date | None = None, release: bool = False
    ) -> Plan:
        """The statement to run for `p`, rewritten; Refused when it cannot be proven safe.
        `release` (govlake.sandbox's noisy release only, never the endpoint): a sandbox
        statement's unaggregated rows, which go to the differential privacy engine."""
        try:
            return self._plan(p, sql, today, release)
        except RecursionError:
            raise Refused(enforce.TOO_DEEP) from None
        except sandbox_rules.SandboxRefused as refused:
            raise Refused(refused.reason) from None

    def plan_delivery(self, p: Principal, sql: str, today: dt.date | None = None) -> Plan:
        """The statement that fills `p`'s warehouse: planned over what its grants give it (the
        source tables, masked by its grade, filtered) rather than over the warehouse it reads.
        Called by the warehouse refresh only; a connection always plans with `plan`."""
        try:
            return self._plan(p, sql, today, release=False, delivery=True)
        except RecursionError:
            raise Refused(enforce.TOO_DEEP) from None

    def _plan(
        self, p: Principal, sql: str, today: dt.date | None, release: bool, delivery: bool = False
    ) -> Plan:
        if p.is_admin:
            return self._admin_plan(sql)
        tree = enforce.parse_one_statement(sql)
        kind = enforce.statement_kind(tree)
        fp = enforce.fingerprint(tree)
        today = today or city_today(self.cfg)
        access, schema, subqueries, allowed = self._view(p, today, delivery)
        if kind in ("use", "show", "describe"):
            return self._metadata(tree, kind, fp, access, subqueries)
        enforce.check_read_only(tree)
        enforce.check_no_substitution(tree, sql)
        enforce.strip_hints(tree)
        enforce.check_tables(tree, set(access))
        enforce.check_functions(tree)
        tree = enforce.qualified(tree, schema)
        sandbox = None
        if p.kind == "sandbox":
            tree, sandbox = self._sandbox(p, tree, today, release)
        reads = self._reads(p, tree, access)
        tables = sorted({r.table for r in reads} | _tables(tree))
        enforce.replace_tables(tree, subqueries)
        filters = tuple(
            f"{t}: {access[t].row_filter}" for t in tables if access[t].row_filter is not None
        )
        sql_out = tree.sql(dialect="spark", comments=False)
        enforce.check_no_substitution(tree, sql_out)
        enforce.check_rewritten(sql_out, allowed)
        return Plan(sql_out, kind, reads, filters, fp, tuple(tables), sandbox)

    def _sandbox(self, p: Principal, tree, today: dt.date, release: bool):
        """The sandbox rules (govlake/sandbox/rules.py) on a sandbox principal's statement:
        checked, admitted by the day's overlap bound, then rewritten (k threshold or, for a
        release, the rows). Reads are computed on the result, so raw columns stay unlisted."""
        project = self._project_of.get(p.id)
        if project is None:
            raise Refused(
                f"{p.id} is a sandbox principal without a sandbox project: add "
                f"conf/sandbox/<project>.yaml naming principal {p.id}."
            )
        found = sandbox_rules.check(tree, project)
        shape, variant = sandbox_rules.shape_and_variant(tree)
        self.overlap.admit(p.id, today, project, shape, variant)
        query = sandbox_rules.SandboxQuery(project.name, shape, variant, today)
        if not release:
            return sandbox_rules.rewrite(tree, found, project), query
        rows, groups, metrics, table = sandbox_rules.release_rows(tree, found, project)
        return rows, dataclasses.replace(query, groups=groups, metrics=metrics, table=table)

    @staticmethod
    def _admin_plan(sql: str) -> Plan:
        """An administrator's statement runs unchanged (still size-limited and audited), also
        one sqlglot cannot parse (OPTIMIZE, VACUUM, ...)."""
        try:
            kind = enforce.statement_kind(enforce.parse_one_statement(sql))
        except Refused as refused:
            if "over the limit" in refused.reason:
                raise
            kind = "command"
        return Plan(sql, kind, (), (), enforce.fingerprint_text(sql))

    def _metadata(self, tree, kind: str, fp: str, access: dict[str, Access], subqueries) -> Plan:
        """USE, SHOW and DESCRIBE, answered from what the principal may read only."""
        if kind == "use":
            databases = {t.split(".")[0] for t in access}
            return Plan(metadata.plan_use(tree, databases), kind, (), (), fp)
        if kind == "show":
            columns = {
                t: [c for c in a.resource.columns if c in a.columns] for t, a in access.items()
            }
            return Plan(metadata.plan_show(tree.text("expression"), columns), kind, (), (), fp)
        table = metadata.plan_describe(tree, set(access))
        alias = exp.to_identifier(table.split(".")[1], quoted=True).sql(dialect="spark")
        inner = subqueries[table].sql(dialect="spark")
        sql = f"DESCRIBE QUERY SELECT * FROM ({inner}) AS {alias}"
        return Plan(sql, kind, (), (), fp, (table,))

    def _reads(self, p: Principal, tree: exp.Expression, access: dict[str, Access]):
        reads = {}
        for column, table in enforce.table_sources(tree):
            info = access[table].resource.columns.get(column.name)
            if info is None:  # a sandbox rewrite's raw unit or key, counted, never output
                continue
            masked = not shows_unmasked(info, p.clearance, self.scheme)
            reads[(table, column.name)] = Read(
                table, column.name, info.grade, info.mask if masked else None
            )
        return tuple(reads[k] for k in sorted(reads))

    # -- audit -------------------------------------------------------------------------------

    def audit(self, spark: SparkSession, *events: AuditEvent) -> None:
        """Append one row per event to audit.queries, in one Delta commit (statement text
        masked); an endpoint may buffer events and append them together."""
        from govlake.access.audit import append

        append(spark, self.cfg, *events)


def _tables(tree: exp.Expression) -> set[str]:
    return {f"{t.db}.{t.name}".lower() for t in tree.find_all(exp.Table) if t.db}


def _index_principals(principals, roles, scheme: GradeScheme, path) -> dict[str, PrincipalConf]:
    out: dict[str, PrincipalConf] = {}
    for i, conf in enumerate(principals):
        if conf.id in out:
            raise ConfigError(
                f"field 'principals.{i}.id': '{conf.id}' is listed twice.",
                file=str(path),
                fix="give each principal one entry.",
            )
        for role in conf.roles:
            if role not in roles:
                raise ConfigError(
                    f"field 'principals.{i}.roles': unknown role '{role}'.",
                    file=str(path),
                    fix=f"add roles/{role}.yaml or use one of {', '.join(sorted(roles))}.",
                )
        if conf.warehouse and conf.kind != "application":
            raise ConfigError(
                f"field 'principals.{i}.warehouse': {conf.id} is a {conf.kind} principal; only "
                "an application is bound to a warehouse.",
                file=str(path),
                fix="remove warehouse, or make the principal's kind application.",
            )
        out[conf.id] = conf
    for name, role in roles.items():
        if not scheme.known(role.clearance):
            raise ConfigError(
                f"field 'clearance': unknown grade '{role.clearance}'.",
                file=str(path.parent / "roles" / f"{name}.yaml"),
                fix=f"use one of {', '.join(scheme.levels)}.",
            )
    return out


def share_grants(spark: SparkSession, cfg) -> list[Grant]:
    """The approved (fully or partly) requests of share.requests as grants to their principals:
    the approved items, from the period's first to its last day; revoked ones are not."""
    df = SHARE_REQUESTS.table.read_if_exists(spark, cfg)
    if df is None:
        return []
    rows = df.where(df.state.isin(*GRANTING_STATES)).collect()
    return [
        Grant(
            role="",
            principal=r.principal,
            resource=r.resource_code,
            columns=list(r.approved_items),
            since=r.period_start,
            until=r.period_end,
            basis=f"share request {r.request_id}: {r.legal_basis}",
            name=r.request_id,
            file=f"share.requests {r.request_id}",
        )
        for r in rows
    ]


def sandbox_seen(spark: SparkSession, cfg, today: dt.date) -> dict:
    """The sandbox query variants of today (and later days) per (principal, day, shape) from
    share.sandbox_queries, so the overlap bound survives a reload or a new process."""
    df = SANDBOX_QUERIES.table.read_if_exists(spark, cfg)
    seen: dict = {}
    if df is None:
        return seen
    for r in df.where(df.day >= today).select("principal", "day", "shape", "variant").collect():
        seen.setdefault((r.principal, r.day, r.shape), set()).add(r.variant)
    return seen


def city_today(cfg) -> dt.date:
    """Today in the city's time zone (grants end on a city date; audit periods are city days)."""
    return dt.datetime.now(ZoneInfo(cfg.timezone)).date()


def elapsed_ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)
