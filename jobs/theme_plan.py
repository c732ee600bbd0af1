"""How tonight's build of a theme runs: unchanged, per key (incremental) or full, and why.

Each commit of a theme keeps, as Delta user metadata, what the build read: a hash of the model,
the night (when the model uses current_date()) and the version of every input. The next build
compares: no input moved -> nothing is computed; only inputs with a route to the key
(govlake.theme_keys) moved -> only the keys their changed rows name are recomputed and merged;
anything else -> a full recompute, with the reason.
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
from govlake.theme_keys import KeyPaths, key_paths
from govlake.themes import Theme

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
    if previous["night"] != state["night"]:
        return "the model uses current_date() and this is another night"
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
    spark: SparkSession, cfg: Settings, theme: Theme, night: dt.date, view: Callable, logical
) -> Plan:
    """Decide tonight's build; for incremental, find the keys. `view(table)` is what the model
    reads of an input; `logical(table)` says whether it is read in place."""
    from pyspark.errors import AnalysisException

    state = state_of(spark, cfg, theme, night, logical)
    previous = last_state(spark, cfg, theme)
    reason = why_not_unchanged(previous, state)
    if reason is None:
        changed = [t for t, v in state["inputs"].items() if previous["inputs"][t] != v]
        if not changed:
            return Plan("unchanged", "no input changed since the last build", state)
        paths = key_paths(theme)
        reason = why_full(theme, paths, changed)
    if reason is not None:
        return Plan("full", reason, state)
    try:
        keys = changed_keys(spark, cfg, paths, previous["inputs"], state["inputs"], view)
    except AnalysisException as exc:  # e.g. the change data feed was not kept that far back
        return Plan("full", f"changes cannot be read: {str(exc).splitlines()[0]}", state)
    count = keys.count()
    named = ", ".join(changed)
    return Plan("incremental", f"{count} keys changed by {named}", state, keys, count)


def changed_keys(spark: SparkSession, cfg: Settings, paths: KeyPaths, before, now, view):
    """The keys the changed rows of every moved input name (checkpointed: the build joins it)."""
    from pyspark.sql import functions as F

    parts = []
    for table in [t for t in now if before[t] != now[t]]:
        rows = changed_rows(spark, cfg, table, before[table], now[table])
        if table == paths.driving:
            parts.append(rows.select(F.expr(paths.key).cast("string").alias(KEY)))
        for route in [r for r in paths.routes if r.input == table]:
            values = rows.select(F.expr(route.values).cast("string").alias(KEY))
            if route.lookup is not None:
                driving = view(paths.driving).withColumn(KEY, F.expr(route.lookup).cast("string"))
                matched = driving.join(values.distinct(), KEY, "left_semi")
                values = matched.select(F.expr(paths.key).cast("string").alias(KEY))
            parts.append(values)
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
    columns = [c for c in new.columns if not c.startswith("_")]
    old, new = old.select(*columns), new.select(*columns)
    return new.exceptAll(old).unionByName(old.exceptAll(new))
