"""How tonight's build of a theme runs: unchanged, per key (incremental) or full, and why.

Each commit of a theme keeps, as Delta user metadata, what the build read: a hash of the model,
the night (when the model uses current_date()) and the version of every input. The next build
compares: nothing moved (same night, no input moved) -> nothing is computed; only inputs with a
route to the key (govlake.theme_keys) moved, and/or another night whose date expressions can be
traced to keys (govlake.theme_dates) -> only the keys their changed rows name, and those whose
date expressions take another value between the two nights, are recomputed and merged, unless
the theme's recorded per-key build cost at least its full one (jobs/theme_cost.py); anything
else -> a full recompute, with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.settings import Settings
from govlake.theme_dates import DateTests, date_tests, moved_sql, source_query
from govlake.theme_keys import KeyPaths, key_paths
from govlake.themes import Theme
from jobs.theme_cost import full_cheaper

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STATE = '{"theme_build"'  # how a theme commit's user metadata starts
KEY = "_key"


@dataclass
class Plan:
    """Tonight's build: mode (full | incremental | unchanged), why, what it reads, which keys."""

    mode: str
    reason: str
    state: dict
    keys: DataFrame | None = None  # incremental: column `_key`, the keys to recompute
    changed: int = 0


def uses_current_date(theme: Theme) -> bool:
    from sqlglot import exp

    return theme.parsed.tree.find(exp.CurrentDate) is not None


def state_of(spark: SparkSession, cfg: Settings, theme: Theme, night: dt.date, logical) -> dict:
    """What a build of tonight reads: the model, the night if it matters, every input's version
    (None for a table read in place, whose changes are not known)."""
    model = "\u0000".join([theme.sql, ",".join(theme.key), theme.refresh.rule])
    return {
        "theme_build": 1,
        "model": hashlib.sha256(model.encode()).hexdigest()[:16],
        "night": night.isoformat() if uses_current_date(theme) else None,
        "inputs": {
            table: None if logical(table) else Table.parse(table).version(spark, cfg)
            for table in theme.inputs
        },
    }


def last_state(spark: SparkSession, cfg: Settings, theme: Theme) -> dict | None:
    text = Table.parse(theme.table).last_metadata(spark, STATE, cfg)
    return json.loads(text) if text else None


def why_not_unchanged(previous: dict | None, state: dict) -> str | None:
    """Why the last build's result may not hold tonight; None when nothing it read moved."""
    if previous is None:
        return "no earlier build recorded"
    if previous["model"] != state["model"]:
        return "the model changed since the last build"
    if set(previous["inputs"]) != set(state["inputs"]):
        return "the model reads other inputs than at the last build"
    unknown = sorted(t for t, v in state["inputs"].items() if v is None)
    if unknown:
        return f"{unknown[0]} is read in place (logical): its changes are not known"
    return None


def why_full(theme: Theme, paths: KeyPaths, changed: list[str]) -> str | None:
    """Why the changed inputs cannot be traced to keys; None when every one can."""
    if theme.refresh.rule == "full":
        return f"full rebuild as declared: {theme.refresh.reason}"
    if paths.reason:
        return f"cannot be built per key: {paths.reason}"
    for table in changed:
        if table in paths.unmapped:
            return f"{table} changed, and {paths.unmapped[table]}"
    return None


def plan_build(
    spark: SparkSession,
    cfg: Settings,
    theme: Theme,
    night: dt.date,
    view: Callable,
    logical,
    run: Callable,
) -> Plan:
    """Decide tonight's build; for incremental, find the keys. `view(table)` is what the model
    reads of an input; `logical(table)` says whether it is read in place; `run(tree)` runs a
    query over the model's CTEs (a source date test), its tables and date bound as the model's."""
    from pyspark.errors import AnalysisException

    state = state_of(spark, cfg, theme, night, logical)
    previous = last_state(spark, cfg, theme)
    reason = why_not_unchanged(previous, state)
    if reason is not None:
        return Plan("full", reason, state)
    changed = [t for t, v in state["inputs"].items() if previous["inputs"][t] != v]
    nights = Nights.of(previous, state)
    if not changed and nights is None:
        return Plan("unchanged", "no input changed since the last build", state)
    paths = key_paths(theme)
    reason = why_full(theme, paths, changed)
    tests = date_tests(theme, paths) if nights and reason is None else None
    if tests is not None and tests.reason:
        reason = f"the date expressions cannot be traced to keys between {nights}: {tests.reason}"
    if reason is None:
        reason = full_cheaper(cfg, theme.table)  # recorded costs: per key no cheaper than full
    if reason is not None:
        return Plan("full", reason, state)
    work = PerKey(theme, paths, view, run)
    try:
        return work.plan(spark, cfg, state, previous, changed, tests, nights)
    except AnalysisException as exc:  # e.g. the change data feed was not kept that far back
        return Plan("full", f"changes cannot be read: {str(exc).splitlines()[0]}", state)


@dataclass(frozen=True)
class Nights:
    """The last build's night and tonight, when they differ (a current_date() model)."""

    before: dt.date
    now: dt.date

    @classmethod
    def of(cls, previous: dict, state: dict) -> Nights | None:
        if previous["night"] == state["night"]:
            return None
        return cls(dt.date.fromisoformat(previous["night"]), dt.date.fromisoformat(state["night"]))

    def __str__(self) -> str:
        return f"{self.before} and {self.now}"


@dataclass
class PerKey:
    """The keys of a per-key night: named by changed input rows, or by rows whose date
    expressions move between two nights; both reach keys by the model's routes."""

    theme: Theme
    paths: KeyPaths
    view: Callable
    run: Callable

    def plan(self, spark, cfg, state, previous, changed, tests: DateTests | None, nights):
        """The incremental plan (or unchanged: another night that moves no key and no input)."""
        parts = {}
        if changed:
            parts["rows"] = self.changed_keys(spark, cfg, previous["inputs"], state["inputs"])
        if tests is not None:
            parts["dates"] = self.dated_keys(tests, nights)
        counts = {name: keys.count() for name, keys in parts.items()}
        if len(parts) == 1:
            [keys] = parts.values()
            count = sum(counts.values())
        else:
            keys = _distinct(list(parts.values()))
            count = keys.count()
            for part in parts.values():
                part.unpersist()
        if not count and not changed:  # no commit: the next night compares with the last one
            keys.unpersist()
            why = f"no input changed and no date expression changes between {nights}"
            return Plan("unchanged", why, state)
        return Plan("incremental", _reason(count, counts, changed, nights), state, keys, count)

    def changed_keys(self, spark: SparkSession, cfg: Settings, before: dict, now: dict):
        """The keys the changed rows of every moved input name (checkpointed)."""
        parts = []
        for table in [t for t in now if before[t] != now[t]]:
            rows = changed_rows(spark, cfg, table, before[table], now[table])
            parts += self.named_by(rows, table)
        return _distinct(parts)

    def dated_keys(self, tests: DateTests, nights: Nights):
        """The keys of the rows whose date expressions differ between the two nights: an input
        test filters the input's rows tonight, a source test runs a query over the CTEs."""
        from pyspark.sql import functions as F

        parts = []
        for table in sorted({t.input for t in tests.tests if t.input}):
            mine = [t for t in tests.tests if t.input == table]
            rows = self.view(table).where(F.expr(moved_sql(mine, nights.before, nights.now)))
            parts += self.named_by(rows, table)
        for test in [t for t in tests.tests if t.source]:
            query = source_query(self.theme, test, self.paths, nights.before, nights.now, KEY)
            parts.append(self.looked_up(self.run(query), self.paths.joined[test.source].lookup))
        return _distinct(parts)

    def named_by(self, rows, table: str) -> list:
        """The keys rows of `table` name: their own key (the driving input) and every route."""
        from pyspark.sql import functions as F

        paths, parts = self.paths, []
        if table == paths.driving:
            parts.append(rows.select(F.expr(paths.key).cast("string").alias(KEY)))
        for route in [r for r in paths.routes if r.input == table]:
            values = rows.select(F.expr(route.values).cast("string").alias(KEY))
            parts.append(self.looked_up(values, route.lookup))
        return parts

    def looked_up(self, values, lookup: str | None):
        """Keys from join values: the values themselves, or the keys of the driving rows whose
        `lookup` is one of them."""
        from pyspark.sql import functions as F

        if lookup is None:
            return values
        paths = self.paths
        driving = self.view(paths.driving).withColumn(KEY, F.expr(lookup).cast("string"))
        matched = driving.join(values.distinct(), KEY, "left_semi")
        return matched.select(F.expr(paths.key).cast("string").alias(KEY))


def scoped_to_keys(theme: Theme, frames: dict, keys) -> dict:
    """The inputs of a per-key night as the model should read them: an input read only in
    known ways (as the driving input, or by routes) keeps only the rows that name one of
    `keys` in one of those ways, so the model computes those keys and few others. By the
    routes' rule a row touches no key but the ones it names, so the rows dropped touch none of
    `keys`, and a row kept for one way touches only keys it names in the others. An input read
    any other way (unmapped: a join inside a CTE, say) is read whole. Before this the model ran
    over every row and was cut to the keys afterwards: a per-key night cost a full build plus
    its planning."""
    paths = key_paths(theme)
    if paths.driving is None or paths.driving not in frames:
        return frames
    ways = _ways(theme, paths)
    planned = _naming(frames[paths.driving], [(paths.key, keys)])  # the planned keys' rows
    scoped = dict(frames)
    for table, named in ways.items():
        if table not in frames or any(way is None for way in named):
            continue
        wanted = []
        for expression, lookup in named:
            if lookup is None:
                wanted.append((expression, keys))
            else:
                lookups = planned.select(_as_key(lookup)).where(f"{KEY} IS NOT NULL").distinct()
                wanted.append((expression, lookups))
        scoped[table] = _naming(frames[table], wanted)
    return scoped


def _ways(theme: Theme, paths: KeyPaths) -> dict[str, list]:
    """Per input, each way the model reads it: (expression naming keys, lookup or None) for the
    driving read and each route, None for any other read (unmapped, or more table nodes than
    known ways: a self-join)."""
    from collections import Counter, defaultdict

    from sqlglot import exp

    ways: dict[str, list] = defaultdict(list)
    ways[paths.driving].append((paths.key, None))
    for route in paths.routes:
        ways[route.input].append((route.values, route.lookup))
    tables = theme.parsed.tree.find_all(exp.Table)
    nodes = Counter(f"{n.db}.{n.name}".lower() for n in tables if n.db)
    for table, count in nodes.items():
        if table in paths.unmapped or count > len(ways[table]):
            ways[table].append(None)
    return ways


def _as_key(expression: str):
    from pyspark.sql import functions as F

    return F.expr(expression).cast("string").alias(KEY)


def _naming(rows, wanted: list[tuple]):
    """The rows that name a wanted key in one of the ways given: (expression over the rows'
    columns, cast to string as the plan named keys; a frame of `_key`s)."""
    from pyspark.sql import functions as F

    if len(wanted) == 1:
        [(expression, keys)] = wanted
        named = rows.withColumn(KEY, _as_key(expression))
        return named.join(keys, KEY, "left_semi").drop(KEY)
    marks = []
    for i, (expression, keys) in enumerate(wanted):
        column, mark = f"{KEY}{i}", f"_hit{i}"
        rows = rows.withColumn(column, F.expr(expression).cast("string"))
        hits = keys.select(F.col(KEY).alias(column), F.lit(True).alias(mark)).distinct()
        rows = rows.join(hits, column, "left").drop(column)
        marks.append(mark)
    return rows.where(F.coalesce(*map(F.col, marks), F.lit(False))).drop(*marks)


def _reason(count: int, counts: dict, changed: list[str], nights: Nights | None) -> str:
    """`N keys ...`: how many keys, and whether changed rows, date expressions or both name them."""
    named = ", ".join(changed)
    if "dates" not in counts:
        return f"{count} keys changed by {named}"
    if not changed:
        return f"{count} keys whose date expressions change between {nights}"
    return (
        f"{count} keys ({counts['rows']} from changed rows of {named}, {counts['dates']} whose "
        f"date expressions change between {nights})"
    )


def _distinct(parts: list):
    """One column `_key`, distinct and not NULL, checkpointed (the build joins it twice)."""
    from pyspark.sql import functions as F

    keys = parts[0]
    for part in parts[1:]:
        keys = keys.unionByName(part)
    return keys.where(F.col(KEY).isNotNull()).distinct().localCheckpoint()


def changed_rows(spark: SparkSession, cfg: Settings, table: str, since: int, now: int):
    """Rows of an input that differ between two versions, as the model reads them: the change
    data feed of a library or theme table (both images); for an ods table, the current rows
    that differ (a snapshot's new batch repeats unchanged rows, so its feed would not do)."""
    parsed = Table.parse(table)
    if parsed.database != "ods":
        return parsed.changes(spark, since + 1, now, cfg=cfg)
    from jobs.library.read import current_rows, declared_input

    source, spec = declared_input(table)
    restrict = None
    if spec.watermark:
        feed = parsed.changes(spark, since + 1, now, cfg=cfg)
        touched = feed.select(*spec.ods_primary_key).distinct()

        def restrict(df):
            return df.join(touched, spec.ods_primary_key, "left_semi")

    old = current_rows(spark, cfg, source, version=since, restrict=restrict)
    new = current_rows(spark, cfg, source, version=now, restrict=restrict)
    return differing(old, new)


def differing(old, new):
    """The distinct rows (their columns without a leading `_`) held a different number of times
    by two frames: one aggregate over both, where `a.exceptAll(b) ∪ b.exceptAll(a)` makes two.
    Each copy of a row names the same keys, so the planner needs each such row once."""
    from pyspark.sql import functions as F

    columns = [c for c in new.columns if not c.startswith("_")]
    sides = new.select(*columns, F.lit(1).alias("_side")).unionByName(
        old.select(*columns, F.lit(-1).alias("_side"))
    )
    counted = sides.groupBy(*columns).agg(F.sum("_side").alias("_side"))
    return counted.where(F.col("_side") != 0).drop("_side")
