"""Which rows of a theme a changed input row touches, read from the model's SQL (sqlglot).

A per-key (incremental) theme build recomputes only the keys whose inputs changed. This module
finds, without running anything, how the changed rows of each input name those keys:

- the *driving* input is the one the result's key column comes from (`FROM base.population`,
  directly or through a CTE): its changed rows name their keys themselves;
- an input joined to the driving rows by one equality (`LEFT JOIN enrolment ON enrolment.id =
  person.id_number`), directly or through a CTE that groups it by the joined expression, names
  the keys of the driving rows it joins to: its *route* is the expression over its own columns
  (`upper(trim(id_number))`) and, when the driving side is not the key itself, the driving
  column it is looked up in (`legal_representative_id`);
- any other input (read through a join inside a CTE, by a window, a subquery, an inequality) is
  *unmapped*: when it changes, the build is full, and says why.

The rules are conservative on purpose: a route exists only where a changed row can touch no
key but the ones it names, so a per-key build gives the rows a full build would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.themes import DIALECT

if TYPE_CHECKING:
    from govlake.themes import Theme


@dataclass(frozen=True)
class Route:
    """How the changed rows of one input name theme keys: `values` over the input's columns;
    `lookup` None means the values are keys, else the keys are those of the driving rows whose
    `lookup` (over the driving input's columns) is one of the values."""

    input: str
    values: str
    lookup: str | None = None


@dataclass(frozen=True)
class Joined:
    """How a row of a source of the outer query (by its alias) names keys: `side`, over the
    alias's columns, is the key itself (lookup None) or a value of the driving rows' `lookup`.
    Used for a current_date() expression over a CTE's computed column (govlake.theme_dates)."""

    side: str
    lookup: str | None = None


@dataclass
class KeyPaths:
    """Every route of a model, the inputs without one, or why the model has none at all."""

    driving: str | None = None
    key: str | None = None  # the key over the driving input's columns
    routes: list[Route] = field(default_factory=list)
    unmapped: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # set: the model is always built in full
    joined: dict[str, Joined] = field(default_factory=dict)  # outer sources with a route


Origin = tuple[str, "object", int]  # (input table, expression over its columns, id of its node)


def key_paths(theme: Theme) -> KeyPaths:
    """The routes of a model's inputs to its key (see the module docstring)."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import build_scope

    tree = theme.parsed.tree
    if len(theme.key) != 1:
        return KeyPaths(reason="its key has several columns")
    for kind, what in ((exp.Window, "a window function"), (exp.Subquery, "a subquery")):
        if any(not _in_from(node) for node in tree.find_all(kind)):
            return KeyPaths(reason=f"it uses {what}, whose rows are not one key's")
    root = build_scope(tree)
    if root is None or not isinstance(root.expression, exp.Select):
        return KeyPaths(reason="its outer query is not one SELECT")
    paths = KeyPaths()
    driven = _driving(root, theme.key[0], paths)
    if driven is None:
        return paths
    alias, origin = driven
    covered = {origin[2]}
    for join in root.expression.args.get("joins") or []:
        covered |= _join_routes(root, join, alias, paths)
    for table in _tables(tree):
        name = f"{table.db}.{table.name}".lower()
        if id(table) not in covered and name not in paths.unmapped:
            paths.unmapped[name] = (
                "its rows reach the theme's rows only through other rows (a join inside a "
                "CTE, or a condition other than one equality with the driving rows)"
            )
    return paths


def _in_from(node) -> bool:
    """A subquery in FROM/JOIN is a scope like a CTE; one inside an expression is not."""
    from sqlglot import exp

    return isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join))


def _tables(tree) -> list:
    from sqlglot import exp

    return [t for t in tree.find_all(exp.Table) if t.db]


def _driving(root, key: str, paths: KeyPaths):
    """(alias, origin) of the source the key column comes from; sets paths.reason if none."""
    from sqlglot import exp

    select = root.expression
    projection = next((s for s in select.expressions if s.alias_or_name == key), None)
    column = projection.unalias() if projection is not None else None
    if not isinstance(column, exp.Column):
        paths.reason = f"its key {key} is computed, not a column of the rows it reads"
        return None
    group = select.args.get("group")
    if group and not any(g == column for g in group.expressions):
        paths.reason = f"it aggregates over rows other than one {key}"
        return None
    origins = origin(root, column)
    if not origins or len(origins) != 1:
        paths.reason = f"its key {key} does not come from one input's column"
        return None
    paths.driving, paths.key = origins[0][0], _sql(origins[0][1])
    paths.joined[column.table] = Joined(_sql(column))
    return column.table, origins[0]


def _join_routes(root, join, driving_alias: str, paths: KeyPaths) -> set[int]:
    """Routes of the inputs a root join reads; returns the ids of the table nodes covered."""
    from sqlglot import exp

    on = join.args.get("on")
    alias = join.this.alias_or_name
    if join.side not in ("", "LEFT") or join.kind not in ("", "INNER", "OUTER"):
        return set()
    if not isinstance(on, exp.EQ):
        return set()
    sides = {_alias_of(on.left): on.left, _alias_of(on.right): on.right}
    if set(sides) != {alias, driving_alias}:
        return set()
    mine, driving_side = sides[alias], sides[driving_alias]
    if not isinstance(driving_side, exp.Column):
        return set()
    looked_up = origin(root, driving_side)
    if not looked_up or len(looked_up) != 1 or looked_up[0][0] != paths.driving:
        return set()
    lookup = _sql(looked_up[0][1])
    lookup = None if lookup == paths.key else lookup
    origins = _side_origins(root, alias, mine)
    if origins is None:
        return set()
    for table, expression, _ in origins:
        paths.routes.append(Route(table, _sql(expression), lookup))
    paths.joined[alias] = Joined(_sql(mine), lookup)
    return {node for _, _, node in origins}


def _alias_of(side) -> str | None:
    """The one source alias an expression's columns name, or None."""
    from sqlglot import exp

    names = {c.table for c in side.find_all(exp.Column)}
    return names.pop() if len(names) == 1 else None


def _side_origins(root, alias: str, side) -> list[Origin] | None:
    """The joined source's side of the equality, as expressions over its inputs' columns."""
    from sqlglot import exp

    source = root.sources.get(alias)
    if isinstance(source, exp.Table):
        return [(_name(source), _strip(side.copy()), id(source))]
    if not isinstance(side, exp.Column):
        return None
    return _projection(source, side.name)


def origin(scope, column) -> list[Origin] | None:
    """Where a column of a scope comes from: (input, expression over its columns, node id)."""
    from sqlglot import exp

    source = scope.sources.get(column.table)
    if isinstance(source, exp.Table):
        return [(_name(source), _strip(column.copy()), id(source))]
    if source is None:
        return None
    return _projection(source, column.name)


def _projection(scope, name: str) -> list[Origin] | None:
    """The origins of one output column of a CTE or subquery (each branch of a UNION)."""
    from sqlglot import exp

    if isinstance(scope.expression, exp.Union):
        found = []
        position = scope.expression.named_selects.index(name)
        for branch in scope.set_operation_scopes:
            part = _projection(branch, branch.expression.named_selects[position])
            if part is None:
                return None
            found += part
        return found
    expression = _per_row(scope, name)
    if expression is None:
        return None
    columns = list(expression.find_all(exp.Column))
    inner = origin(scope, columns[0]) if len(columns) == 1 else None
    if not inner:
        return None
    return [(table, _substituted(expression, origin), node) for table, origin, node in inner]


def _per_row(scope, name: str):
    """The expression of output column `name` if each output row holds one value of it: a
    plain row, or a group of that very expression; else None."""
    from sqlglot import exp

    select = scope.expression
    if not isinstance(select, exp.Select) or select.args.get("distinct"):
        return None
    projection = next((s for s in select.expressions if s.alias_or_name == name), None)
    if projection is None:
        return None
    expression = projection.unalias()
    group = select.args.get("group")
    if group and not any(g == expression for g in group.expressions):
        return None  # grouped by something else: a row of it mixes several values
    return None if expression.find(exp.AggFunc) else expression


def _substituted(expression, origin):
    """`expression` with its one column replaced by `origin` (an expression over an input)."""
    from sqlglot import exp

    if isinstance(expression, exp.Column):
        return origin.copy()
    replaced = expression.copy()
    next(replaced.find_all(exp.Column)).replace(origin.copy())
    return replaced


def _name(table) -> str:
    return f"{table.db}.{table.name}".lower()


def _strip(expression):
    """The expression with its columns' table aliases removed (evaluated on the input)."""
    from sqlglot import exp

    for column in list(expression.find_all(exp.Column)):  # the expression itself included
        column.set("table", None)
    return expression


def _sql(expression) -> str:
    return expression.sql(dialect=DIALECT)
