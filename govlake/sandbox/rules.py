"""The sandbox's query rules on the qualified sqlglot tree (Spark dialect), applied by governed
access to every statement of a sandbox principal: one aggregate SELECT over the project's
resources, joins only on declared keys, every group covering at least k distinct units (small
groups are suppressed by an enforced HAVING), and at most `overlap_per_day` differently filtered
queries over one grouping a day. Pure: no Spark, no governed-access import."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

from sqlglot import exp

from govlake.sandbox.config import Project

UNIT = "__unit"  # the raw unit column each sandbox subquery adds (never selectable by a user)
KEY = "__key_"  # prefix of the raw join-key columns
K_COLUMN = "__k"  # the output column: distinct units of the group

# Aggregates that summarise a group; anything else (min, max, percentile, median, first,
# collect_list, count_if, ...) returns or selects one row's value and is refused.
SUMMARIES = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
    exp.ApproxDistinct,
)
# Nodes that are never part of a sandbox query, with why.
FORBIDDEN = {
    exp.Window: "window functions return row-level values",
    exp.Limit: "LIMIT picks rows instead of summarising them (LIMIT tricks)",
    exp.Offset: "OFFSET picks rows instead of summarising them",
    exp.TableSample: "TABLESAMPLE picks rows instead of summarising them",
    exp.With: "CTEs are refused: write one aggregate SELECT",
    exp.Subquery: "subqueries are refused: write one aggregate SELECT",
    exp.Lateral: "LATERAL VIEW is refused: write one aggregate SELECT",
    exp.Unnest: "UNNEST is refused: write one aggregate SELECT",
}
# Conditions inside a grouping or a projection select one person (GROUP BY id = 'x').
CONDITIONS = (exp.Predicate, exp.Case, exp.If, exp.Not, exp.Connector)


@dataclass(frozen=True)
class SandboxQuery:
    """What a sandbox plan records: its project, grouping shape, filtered variant, and (for a
    release) the statistic's groups and metrics."""

    project: str
    shape: str
    variant: str
    day: dt.date | None = None
    groups: tuple[str, ...] = ()
    # (output, count|sum|mean, the table.column summed or averaged, whose bounds apply)
    metrics: tuple[tuple[str, str, str | None], ...] = ()
    table: str | None = None


class SandboxRefused(Exception):  # noqa: N818 - mirrors enforce.Refused, which access raises
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _digest(tree: exp.Expression) -> str:
    text = tree.sql(dialect="spark", normalize=True, comments=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shape_and_variant(select: exp.Select) -> tuple[str, str]:
    """The grouping shape (the query without WHERE and HAVING, literals ignored) and the
    variant (the whole query with its literals): two variants of one shape are two filters of
    the same statistic, which differencing subtracts."""
    shape = select.copy()
    shape.set("where", None)
    shape.set("having", None)
    for lit in list(shape.find_all(exp.Literal)):
        lit.replace(exp.Placeholder())
    return _digest(shape), _digest(select)


def aliases(select: exp.Select, project: Project) -> dict[str, str]:
    """alias -> table of the FROM and JOIN items; each a table of the project's resources."""
    items = [select.args["from_"].this] + [j.this for j in select.args.get("joins") or []]
    out = {}
    for item in items:
        if not isinstance(item, exp.Table):
            raise SandboxRefused("only tables may be read in the sandbox (no subqueries).")
        table = f"{item.db}.{item.name}".lower()
        if table not in project.units:
            raise SandboxRefused(
                f"table {table} is not a resource of sandbox project {project.name}; its "
                f"resources are {', '.join(sorted(project.units))}."
            )
        out[item.alias_or_name] = table
    return out


def check(tree: exp.Expression, project: Project) -> dict[str, str]:
    """Refuse what is not one aggregate SELECT over the project's resources; aliases back."""
    if not isinstance(tree, exp.Select) or tree.args.get("from_") is None:
        raise SandboxRefused(
            "the sandbox runs one aggregate SELECT ... FROM ... GROUP BY ...; set operations "
            "and statements without a table are refused."
        )
    for node in tree.walk():
        why = next((w for kind, w in FORBIDDEN.items() if isinstance(node, kind)), None)
        if why:
            raise SandboxRefused(f"{why} (sandbox project {project.name}).")
        if isinstance(node, exp.Select) and node is not tree:
            raise SandboxRefused("subqueries are refused: write one aggregate SELECT.")
    if tree.args.get("distinct"):
        raise SandboxRefused("SELECT DISTINCT lists rows: use GROUP BY with an aggregate.")
    found = aliases(tree, project)
    _check_joins(tree, found, project)
    groups = _check_groups(tree)
    _check_projections(tree, groups)
    _check_having(tree, project)
    return found


def _check_joins(select: exp.Select, found: dict[str, str], project: Project) -> None:
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is None or (join.args.get("kind") or "").upper() == "CROSS":
            raise SandboxRefused(
                "a join without ON (a cross join) is refused: join on the declared keys "
                f"{_declared(project)}."
            )
        for cond in on.flatten() if isinstance(on, exp.And) else [on]:
            if not (isinstance(cond, exp.EQ) and _all_columns(cond)):
                raise SandboxRefused(
                    f"join condition {cond.sql(dialect='spark')} is refused: only equality of "
                    f"declared keys {_declared(project)}."
                )
            left, right = (_named(c, found) for c in (cond.this, cond.expression))
            if not project.joinable(left, right):
                raise SandboxRefused(
                    f"join on {left} = {right} is not declared for sandbox project "
                    f"{project.name}: joins only on {_declared(project)}."
                )


def _all_columns(cond: exp.EQ) -> bool:
    return isinstance(cond.this, exp.Column) and isinstance(cond.expression, exp.Column)


def _named(column: exp.Column, found: dict[str, str]) -> str:
    return f"{found.get(column.table, column.table)}.{column.name}"


def _declared(project: Project) -> str:
    return ", ".join(f"{a} = {b}" for a, b in project.joins) or "(none declared)"


def _check_groups(select: exp.Select) -> set[str]:
    group = select.args.get("group")
    exprs = group.expressions if group else []
    for g in exprs:
        bad = next(g.find_all(*CONDITIONS, exp.AggFunc), None)
        if bad is not None:
            raise SandboxRefused(
                f"GROUP BY {g.sql(dialect='spark')} is refused: group by columns or functions "
                "of columns, without conditions (a condition isolates the rows it matches)."
            )
    return {g.sql(dialect="spark") for g in exprs}


def _check_projections(select: exp.Select, groups: set[str]) -> None:
    aggregated = False
    for projection in select.expressions:
        value = projection.unalias()
        if value.sql(dialect="spark") in groups:
            continue
        aggs = list(value.find_all(exp.AggFunc))
        for agg in aggs:
            _check_aggregate(agg)
        loose = [c for c in value.find_all(exp.Column) if c.find_ancestor(exp.AggFunc) is None]
        if loose or (not aggs and not isinstance(value, exp.Literal)):
            raise SandboxRefused(
                f"{value.sql(dialect='spark')} is row-level output: select only GROUP BY "
                "expressions and aggregates (count, sum, avg, stddev, variance)."
            )
        aggregated = aggregated or bool(aggs)
    if not aggregated:
        raise SandboxRefused(
            "the sandbox runs aggregate queries only: add count(*), sum(...) or avg(...)."
        )


def _check_aggregate(agg: exp.AggFunc) -> None:
    name = agg.sql_name().lower()
    if not isinstance(agg, SUMMARIES):
        raise SandboxRefused(
            f"aggregate {name} is refused in the sandbox: it returns or selects one row's "
            "value; use count, sum, avg, stddev or variance."
        )
    arg = agg.this
    if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1:
        arg = arg.expressions[0]
    if not isinstance(arg, exp.Star | exp.Column | exp.Literal):
        raise SandboxRefused(
            f"{agg.sql(dialect='spark')} is refused: aggregate a column itself, not an "
            "expression (a CASE or condition inside an aggregate isolates one row)."
        )


def _check_having(select: exp.Select, project: Project) -> None:
    """A HAVING that compares a count with a number below k cannot lower the threshold: it is
    refused with the reason rather than silently overruled."""
    having = select.args.get("having")
    if having is None:
        return
    for cmp in having.find_all(exp.Binary):
        sides = (cmp.this, cmp.expression)
        count = any(isinstance(s, exp.Count | exp.ApproxDistinct) for s in sides)
        number = [s for s in sides if isinstance(s, exp.Literal) and s.is_number]
        if count and number and float(number[0].this) < project.k:
            raise SandboxRefused(
                f"HAVING {cmp.sql(dialect='spark')} is refused: every group of sandbox project "
                f"{project.name} must cover at least k={project.k} distinct persons or "
                "enterprises, and groups below k are suppressed whatever HAVING says; remove "
                "the condition."
            )


# -- the rewrite ---------------------------------------------------------------------------


def _units(found: dict[str, str]) -> exp.Expression:
    counts = [
        exp.Count(this=exp.Distinct(expressions=[exp.column(UNIT, table=a, quoted=True)]))
        for a in sorted(found)
    ]
    return counts[0] if len(counts) == 1 else exp.Least(this=counts[0], expressions=counts[1:])


def rewrite(select: exp.Select, found: dict[str, str], project: Project) -> exp.Select:
    """Join conditions read the raw keys; the output gains `__k` (distinct units of the group)
    and the enforced HAVING `__k >= k`, AND-ed with the user's own."""
    for join in select.args.get("joins") or []:
        for column in join.args["on"].find_all(exp.Column):
            column.set("this", exp.to_identifier(f"{KEY}{column.name}", quoted=True))
    units = _units(found)
    select = select.select(exp.alias_(units, K_COLUMN, quoted=True), copy=False)
    enforced = exp.GTE(this=units.copy(), expression=exp.Literal.number(project.k))
    having = select.args.get("having")
    condition = enforced if having is None else exp.and_(exp.paren(having.this), enforced)
    select.set("having", exp.Having(this=condition))
    return select


def release_rows(select: exp.Select, found: dict[str, str], project: Project):
    """For a noisy release: the rows (unit, group values, metric values) the statistic is
    computed from, and what it computes. One table; metrics count(*), sum(column), avg(column)."""
    if len(found) != 1:
        raise SandboxRefused("a noisy release reads one table (no joins).")
    ((alias, table),) = found.items()
    group = select.args.get("group")
    groups = {g.sql(dialect="spark"): g for g in (group.expressions if group else [])}
    names, metrics, values = [], [], {}
    for projection in select.expressions:
        value = projection.unalias()
        if value.sql(dialect="spark") in groups:
            names.append(projection.alias_or_name)
            continue
        metric, column = _metric(value, table, project)
        bounded = f"{table}.{column.name}" if column is not None else None
        if column is not None:
            values.setdefault(bounded, exp.alias_(column.copy(), "__v0", quoted=True))
        metrics.append((projection.alias_or_name, metric, bounded))
    if len(values) > 1:
        raise SandboxRefused("a noisy release sums or averages one column (got several).")
    keyed = [exp.alias_(g.copy(), f"__g{i}", quoted=True) for i, g in enumerate(groups.values())]
    rows = exp.select(exp.alias_(exp.column(UNIT, table=alias, quoted=True), UNIT, quoted=True))
    rows = rows.select(*keyed, *values.values())
    rows.set("from_", select.args["from_"].copy())
    if select.args.get("where") is not None:
        rows.set("where", select.args["where"].copy())
    return rows, tuple(names), tuple(metrics), table


def _metric(value: exp.Expression, table: str, project: Project):
    if isinstance(value, exp.Count) and isinstance(value.this, exp.Star):
        return "count", None
    if isinstance(value, exp.Sum | exp.Avg) and isinstance(value.this, exp.Column):
        if f"{table}.{value.this.name}" not in project.bounds:
            raise SandboxRefused(
                f"{value.sql(dialect='spark')} needs bounds: declare bounds: "
                f"{{{table}.{value.this.name}: [lowest, highest]}} in the project's file."
            )
        return ("sum" if isinstance(value, exp.Sum) else "mean"), value.this
    raise SandboxRefused(
        f"{value.sql(dialect='spark')} cannot be released with noise: use count(*), "
        "sum(column) or avg(column) per group."
    )


# -- differencing --------------------------------------------------------------------------


class Overlap:
    """Distinct filtered variants per (principal, day, shape): beyond the project's
    overlap_per_day, a new variant is refused (the same query again is not a new variant)."""

    def __init__(self, seen: dict[tuple[str, dt.date, str], set[str]] | None = None) -> None:
        self._seen = seen or {}
        self._lock = threading.Lock()

    def admit(self, principal: str, day: dt.date, project: Project, shape: str, variant: str):
        with self._lock:
            variants = self._seen.setdefault((principal, day, shape), set())
            if variant in variants:
                return
            if len(variants) >= project.overlap_per_day:
                raise SandboxRefused(
                    f"this is query {len(variants) + 1} today over the same grouping with "
                    f"another filter; sandbox project {project.name} allows "
                    f"{project.overlap_per_day} a day, so that subtracting nearly equal "
                    "queries cannot isolate one person. Run it again tomorrow, or release a "
                    "noisy statistic (`govlake sandbox release --epsilon`)."
                )
            variants.add(variant)
