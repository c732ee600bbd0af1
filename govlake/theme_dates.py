"""Which rows of a theme the night's date moves, read from the model's SQL (sqlglot).

A model that calls current_date() (bound to the night's logical date by jobs.theme) gives
another result on another night only through the expressions that read the date: an age
`floor(months_between(current_date(), p.birth_date) / 12)`, a validity `b.valid_until >=
current_date()`, a window `x.decision_date > add_months(current_date(), -36)`. Each is taken
whole: the smallest comparison around current_date() that reads a column, else the largest
expression around it evaluated per row (a projection, a condition), never across an aggregate
or a window. A row whose expression has another value on tonight's date than on the last
build's names keys exactly like a changed row of its input (govlake.theme_keys), so a new night
recomputes those keys only:

- an expression whose columns all come, row for row (directly or through CTE columns computed
  per row), from one row of one input table is evaluated on that input's rows (*input* test);
- an expression of the outer query over a CTE's computed column (`inspections.last_inspection_
  date`, a max per enterprise) is evaluated on that CTE's rows, which name keys by their join
  to the driving rows (*source* test);
- anything else (columns of two tables, an aggregate compared with the date, an input without
  a route, no column at all) cannot be traced: the night is full, and the reason names the
  file and the expression.

Why this is exact: apart from these expressions, the model's result is a function of the rows
it reads; a key none of whose rows changed and none of whose expressions moved has the same row
on both nights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.theme_keys import KeyPaths, origin
from govlake.themes import DIALECT

if TYPE_CHECKING:
    from govlake.themes import Theme


@dataclass(frozen=True)
class DateTest:
    """One expression that reads the date: `expression` is over the columns of `input` (an
    input test) or over those of `source`, an alias of the outer query (a source test)."""

    text: str  # as the model writes it, for reasons
    expression: object  # a sqlglot expression, current_date() still in it
    input: str | None = None
    source: str | None = None


@dataclass
class DateTests:
    """Every date expression of a model, or why one cannot be traced to keys."""

    tests: list[DateTest] = field(default_factory=list)
    reason: str | None = None


def date_tests(theme: Theme, paths: KeyPaths) -> DateTests:
    """The date expressions of a model whose key routes are `paths` (see the docstring)."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import build_scope

    tree = theme.parsed.tree
    root = build_scope(tree)
    scopes = {id(s.expression): s for s in root.traverse()}
    found: DateTests = DateTests()
    seen: set[int] = set()
    for node in tree.find_all(exp.CurrentDate):
        expression = enclosing(node)
        if id(expression) in seen:  # `x BETWEEN current_date() - 7 AND current_date()`
            continue
        seen.add(id(expression))
        scope = scopes.get(id(expression.find_ancestor(exp.Select)))
        test = _test(scope, scope is root, expression, paths)
        if isinstance(test, str):
            return DateTests(reason=f"{_where(theme)}: `{_sql(expression)}` {test}")
        same = [t for t in found.tests if t.expression == test.expression]
        if not any((t.input, t.source) == (test.input, test.source) for t in same):
            found.tests.append(test)  # credit.sql tests each list entry's validity twice
    return found


def enclosing(node):
    """The expression around one current_date() that is tested per row: the first comparison
    that reads a column, else the outermost scalar expression (stopping below an aggregate, a
    window, a projection's alias or a clause)."""
    from sqlglot import exp

    while True:
        if isinstance(node, exp.Predicate) and node.find(exp.Column):
            return node
        parent = node.parent
        scalar = isinstance(parent, exp.Func | exp.Binary | exp.Unary)
        if not scalar or isinstance(parent, exp.AggFunc):
            return node
        node = parent


def _test(scope, outer: bool, expression, paths: KeyPaths) -> DateTest | str:
    """The test of one expression, or what keeps it from naming keys (a clause of a reason)."""
    from sqlglot import exp

    if expression.find(exp.AggFunc, exp.Window):
        return (
            "compares an aggregate or a window with the date: which rows it moves is not known "
            "(compare each row inside the aggregate instead)"
        )
    columns = list(expression.find_all(exp.Column))
    if not columns:
        return "reads no column: its value would move every row at once"
    if not all(c.table for c in columns):
        return "reads a column without its table's alias (write alias.column)"
    traced = [origin(scope, c) if scope else None for c in columns]
    rows = {(o[0][0], o[0][2]) for o in traced if o and len(o) == 1}
    if len(rows) == 1 and all(o and len(o) == 1 for o in traced):
        return _input_test(expression, traced, rows.pop()[0], paths)
    aliases = sorted({c.table for c in columns})
    if len(rows) > 1 or len(aliases) > 1:
        tables = sorted({table for table, _ in rows}) if len(rows) > 1 else aliases
        return (
            f"reads columns of {' and '.join(tables)}: a moved value cannot be traced to one "
            "input's rows (compute the date expression over one table, in a CTE)"
        )
    if outer and aliases[0] in paths.joined:
        return DateTest(_sql(expression), expression.copy(), source=aliases[0])
    return (
        f"reads {aliases[0]}, computed from several rows that reach the key other than by one "
        "join of the outer query"
    )


def _input_test(expression, traced: list, table: str, paths: KeyPaths) -> DateTest | str:
    """An input test: the expression rewritten over `table`'s columns, if it has a route."""
    from sqlglot import exp

    if table in paths.unmapped:
        return f"is over {table}, which {paths.unmapped[table]}"
    if table != paths.driving and not any(r.input == table for r in paths.routes):
        return f"is over {table}, which has no route to the key"
    over = expression.copy()
    for column, found in zip(list(over.find_all(exp.Column)), traced, strict=True):
        column.replace(found[0][1].copy())
    return DateTest(_sql(expression), over, input=table)


def date_literal(night: dt.date):
    """current_date() on a given night, as the model's SQL reads it: a DATE literal."""
    from sqlglot import exp

    return exp.cast(exp.Literal.string(night.isoformat()), "DATE")


def on_night(expression, night: dt.date):
    """A copy of `expression` with current_date() bound to `night`."""
    from sqlglot import exp

    def bind(node):
        return date_literal(night) if isinstance(node, exp.CurrentDate) else node

    return expression.copy().transform(bind)


def moved(expression, before: dt.date, now: dt.date):
    """True for a row whose value of `expression` differs between two nights (NULL-safe)."""
    from sqlglot import exp

    return exp.not_(
        exp.EqualNull(this=on_night(expression, before), expression=on_night(expression, now))
    )


def moved_sql(tests: list[DateTest], before: dt.date, now: dt.date) -> str:
    """A Spark SQL condition: some expression of `tests` differs between the two nights."""
    from sqlglot import exp

    return exp.or_(*[moved(t.expression, before, now) for t in tests]).sql(dialect=DIALECT)


def source_query(theme: Theme, test: DateTest, paths: KeyPaths, before, now, name: str):
    """A query (the model's CTEs kept, current_date() left for the caller to bind) returning,
    as column `name`, the join value of every row of the outer source `test.source` whose
    expression differs between the two nights."""
    import sqlglot
    from sqlglot import exp

    tree = theme.parsed.tree
    joins = [j.this for j in tree.args.get("joins") or []]
    sources = [tree.args["from_"].this, *joins]
    node = next(s for s in sources if s.alias_or_name == test.source)
    side = sqlglot.parse_one(paths.joined[test.source].side, read=DIALECT)
    query = exp.select(exp.cast(side, "STRING").as_(name)).from_(node.copy())
    query = query.where(moved(test.expression, before, now))
    if tree.args.get("with_"):
        query.set("with_", tree.args["with_"].copy())
    return query


def _where(theme: Theme) -> str:
    """The model's SQL file, from the project's root when it is the project's."""
    from govlake.settings import PROJECT_ROOT

    path = theme.sql_path
    if path is None:
        return theme.theme
    return str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)


def _sql(expression) -> str:
    return expression.sql(dialect=DIALECT)
