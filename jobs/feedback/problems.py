"""Problem rows tracked over nights in quality.problems (问题数据可反馈, 可定责).

A problem is keyed by (department, table, key, field, rule). It opens the first night it is
seen; each later night it is seen again adds one to times_seen (the same broken row three
nights running is one problem seen three times); it is fixed on the first night the same
checker looked at its table again and no longer found it, with days_to_fix = that night minus
first_seen. One Delta MERGE per run does all three.

Where problems come from (origin):
- quality: quality.failed_rows of the night (GX rules on ods and base tables; each DAG
  validates under its own run id, so the night is the run date);
- load: ops.rejected_rows of the batch (rows that do not parse); key = hash of the raw line,
  so the same broken line is recognised in the next night's file; and, one per table, the rows
  of an incremental database table whose watermark column is NULL (ops.load_runs
  rows_null_watermark), which no incremental load ever reads;
- library: quarantine.<library>, one problem per blocking rule a row broke, unless the quality
  checks already reported the same table, field and value tonight;
- conflict: base.conflicts where the department's statement lost against the authoritative
  department (一数一源) or against what the identity number encodes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.owned import FAILED_ROWS, LOAD_RUNS, PROBLEMS, REJECTED_ROWS, RESULTS
from govlake.settings import Settings
from jobs.feedback.common import (
    COMMITTED,
    CONFLICTS,
    LIBRARY_RUNS,
    night_rows,
    qualified_table,
    sql_list,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

OBSERVED = (
    "department",
    "system",
    "table",
    "key",
    "field",
    "value",
    "rule",
    "rule_zh",
    "rule_en",
    "origin",
    "source_ref",
)
LIBRARY_RULE = re.compile(r"^(missing|unparseable|invalid)_([a-z0-9_]+?)(?::(.*))?$")
KEY_LABELS = {
    "ric": ("居民身份证号码", "resident ID number"),
    "uscc": ("统一社会信用代码", "unified social credit code"),
    "cert": ("电子证照标识", "e-certificate identifier"),
    "unit_code": ("不动产单元代码", "real-estate unit code"),
    "industry": ("国民经济行业代码（GB/T 4754-2017）", "industry code (GB/T 4754-2017)"),
}


def input_tables() -> dict[tuple[str, str], str]:
    """(library, input) -> the ods table feeding it, from libraries/*.yaml."""
    from govlake.libraries import load_libraries

    return {
        (lib.library, name): source.table
        for lib in load_libraries()
        for name, source in lib.inputs.items()
    }


def lost_conflicts(conflicts: DataFrame) -> DataFrame:
    """Statements that lost against another department's authority or the ID number itself
    (a newer statement of the same department, or a fallback, is not the department's fault)."""
    from pyspark.sql import functions as F

    return conflicts.where(
        (F.col("winner_input") == "identity_number")
        | (
            (F.col("winner_department") != F.col("department"))
            & F.col("reason").startswith("authoritative")
        )
    )


def with_table_names(df: DataFrame, system_departments: dict[str, str]) -> DataFrame:
    """Add system (from ods.<system>__<table>) and fill department from the source config."""
    from pyspark.sql import functions as F

    system = F.regexp_extract("table", r"^ods\.([a-z0-9_]+?)__", 1)
    df = df.withColumn("system", F.coalesce(F.col("system"), F.nullif(system, F.lit(""))))
    pairs = [F.lit(x) for kv in system_departments.items() for x in kv]
    if pairs:
        df = df.withColumn(
            "department", F.coalesce(F.col("department"), F.create_map(*pairs)[F.col("system")])
        )
    return df


def raw_hash(column: str):
    """'row:' + a short hash of a raw record: the same broken row in tomorrow's file too."""
    from pyspark.sql import functions as F

    return F.concat(F.lit("row:"), F.substring(F.sha2(F.col(column), 256), 1, 16))


def file_name(ref):
    """A row reference without the server's folders: file:line or table:key."""
    from pyspark.sql import functions as F

    return F.regexp_replace(ref, r"^/(?:[^/:]*/)*", "")


def from_failed_rows(spark: SparkSession, cfg: Settings, run_date) -> DataFrame | None:
    from pyspark.sql import functions as F

    failed = FAILED_ROWS.table.read_if_exists(spark, cfg)
    if failed is None:
        return None
    validations = RESULTS.table.read_if_exists(spark, cfg)
    return night_rows(failed, run_date, validations).select(
        "department",
        "system",
        qualified_table(),
        # A row without its key is still one problem per row: fall back to where it came from.
        F.coalesce(
            F.nullif(F.col("key").cast("string"), F.lit("")), file_name(F.col("source_row"))
        ).alias("key"),
        F.col("column").alias("field"),
        F.col("value").cast("string"),
        "rule",
        "rule_zh",
        "rule_en",
        F.lit("quality").alias("origin"),
        file_name(F.col("source_row")).alias("source_ref"),
    )


def from_rejected_rows(spark: SparkSession, cfg: Settings, run_date: dt.date):
    from pyspark.sql import functions as F

    rejected = REJECTED_ROWS.table.read_if_exists(spark, cfg)
    if rejected is None:
        return None
    return rejected.where(F.col("batch_date") == F.lit(run_date)).select(
        F.lit(None).cast("string").alias("department"),
        F.col("source_system").alias("system"),
        F.concat(F.lit("ods."), "source_system", F.lit("__"), "table_name").alias("table"),
        raw_hash("raw_record").alias("key"),
        F.lit("(整行 whole row)").alias("field"),
        F.col("raw_record").alias("value"),
        F.lit("unparseable_row").alias("rule"),
        F.lit("整行无法按表结构解析（字段数不符、格式损坏或超出表头）").alias("rule_zh"),
        F.concat(F.lit("the row does not parse: "), F.col("reason")).alias("rule_en"),
        F.lit("load").alias("origin"),
        file_name(F.concat_ws(":", "source_file", F.col("source_row").cast("string"))).alias(
            "source_ref"
        ),
    )


NULL_WATERMARK_KEY = "(增量字段为空的行 rows without a watermark)"


def from_null_watermarks(spark: SparkSession, cfg: Settings, run_date: dt.date):
    """One problem per table whose night's committed load counted rows with a NULL watermark:
    those rows are never collected, so the department must fill the column (value: how many)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = LOAD_RUNS.table.read_if_exists(spark, cfg)
    if runs is None or "rows_null_watermark" not in runs.columns:
        return None
    tonight = (F.col("batch_date") == F.lit(run_date)) & F.col("status").isin(*COMMITTED)
    newest = Window.partitionBy("ods_table").orderBy(F.col("finished_at").desc())
    latest = runs.where(tonight).withColumn("_n", F.row_number().over(newest)).where("_n = 1")
    rows = latest.where(F.col("rows_null_watermark") > 0).collect()
    if not rows:
        return None
    return spark.createDataFrame(
        [null_watermark_problem(r) for r in rows], ", ".join(f"{c} string" for c in OBSERVED)
    )


def null_watermark_problem(run) -> dict:
    """The problem row of one load run that left rows without a watermark unread."""
    from govlake.errors import ConfigError
    from govlake.sources import get_table

    try:
        column = get_table(run["source_system"], run["table_name"])[1].watermark
    except ConfigError:  # the source left the configuration since: name it generically
        column = None
    column = column or "watermark"
    n = run["rows_null_watermark"]
    return {
        "department": run["department"],
        "system": run["source_system"],
        "table": run["ods_table"],
        "key": NULL_WATERMARK_KEY,
        "field": column,
        "value": f"{n} 行 rows",
        "rule": "null_watermark",
        "rule_zh": f"增量字段 {column} 为空：这些行无法按增量采集，不会进入数据湖，请补全该字段",
        "rule_en": f"{column} (the watermark) is empty: these rows are never collected "
        "incrementally and do not reach the lakehouse; fill the column",
        "origin": "load",
        "source_ref": run["location"],
    }


def library_rule_text(library, input_name: str, rule: str) -> dict | None:
    """Field (the department's column) and plain-language text of a quarantine rule."""
    from jobs.identifiers import REASONS_ZH

    match = LIBRARY_RULE.match(rule)
    if not match:
        return None
    kind, attribute, reason = match.groups()
    source = library.inputs[input_name]
    is_key = attribute == library.key
    columns = source.key_columns | source.columns  # a further key part (a year) is a column too
    field = source.key if is_key else columns.get(attribute, attribute)
    json_name = "key" if is_key else attribute
    if kind == "missing":
        zh, en = f"必填项 {field} 为空", f"required field {field} is empty"
    elif kind == "unparseable":
        typ = library.attributes[attribute].type if attribute in library.attributes else "value"
        zh, en = f"{field} 的值无法识别（应为{typ}）", f"{field} cannot be read as a {typ}"
    else:
        checked = library.key_type if is_key else library.attributes[attribute].type
        label_zh, label_en = KEY_LABELS.get(checked, (attribute, attribute))
        why = REASONS_ZH.get(reason or "", reason or "")
        zh = f"{field} 不是有效的{label_zh}：{why}"
        en = f"{field} is not a valid {label_en}: {(reason or '').replace('_', ' ')}"
    return {"field": field, "json_name": json_name, "rule_zh": zh, "rule_en": en}


def quarantine_rules(libraries: list, exploded: dict) -> dict[str, list[dict]]:
    """library -> the text of each (input, rule) its quarantine holds, from one Spark job for
    every library (a job per library cost each its fixed overhead)."""
    from functools import reduce

    from pyspark.sql import functions as F

    texts: dict[str, list[dict]] = {lib.library: [] for lib in libraries}
    if not exploded:
        return texts
    by_name = {lib.library: lib for lib in libraries}
    pairs = [
        rows.select(F.lit(name).alias("library"), "input", "rule_raw").distinct()
        for name, rows in exploded.items()
    ]
    for r in reduce(lambda a, b: a.unionByName(b), pairs).collect():
        lib = by_name[r["library"]]
        if r["input"] in lib.inputs:
            text = library_rule_text(lib, r["input"], r["rule_raw"])
            if text:
                texts[lib.library].append({"input": r["input"], "rule_raw": r["rule_raw"], **text})
    return texts


def from_quarantine(spark: SparkSession, cfg: Settings, libraries: list) -> DataFrame | None:
    """One problem per blocking rule a quarantined row broke, with the department's column."""
    from pyspark.sql import functions as F

    exploded = {}
    for lib in libraries:
        rows = Table.parse(lib.quarantine_table).read_if_exists(spark, cfg)
        if rows is not None:
            exploded[lib.library] = rows.select("*", F.explode("rules").alias("rule_raw"))
    texts = quarantine_rules(libraries, exploded)
    parts = []
    for name, rows in exploded.items():
        if not texts[name]:
            continue
        lookup = spark.createDataFrame(texts[name])
        raw = F.from_json("raw", "map<string,string>")
        parts.append(
            rows.join(lookup, ["input", "rule_raw"]).select(
                "department",
                F.lit(None).cast("string").alias("system"),
                F.col("source_table").alias("table"),
                # A row without its key: the hash of its raw values finds it again next night.
                F.coalesce("key_value", raw_hash("raw")).alias("key"),
                "field",
                raw[F.col("json_name")].alias("value"),
                F.concat(F.lit(f"{name}:"), "rule_raw").alias("rule"),
                "rule_zh",
                "rule_en",
                F.lit("library").alias("origin"),
                file_name(F.col("row_ref")).alias("source_ref"),
            )
        )
    return union(parts)


def conflict_text(lib, input_name: str, attribute: str, winner: str, derived: bool) -> dict:
    """Field (the department's column) and plain-language text of a lost conflict."""
    field = lib.inputs[input_name].columns.get(attribute, attribute)
    named = field if field == attribute else f"{field}（{attribute}）"
    if derived:
        return {
            "field": field,
            "rule": f"{lib.library}:conflict_{attribute}:identity_number",
            "rule_zh": f"{named} 与身份证号码所含信息不一致",
            "rule_en": f"{named} differs from what the identity number encodes",
        }
    return {
        "field": field,
        "rule": f"{lib.library}:conflict_{attribute}",
        "rule_zh": f"{named} 与权威部门{winner}的值不一致（一数一源）",
        "rule_en": f"{named} differs from the authoritative source, {winner}",
    }


def from_conflicts(spark: SparkSession, cfg: Settings, libraries: list) -> DataFrame | None:
    """The department's side of every conflict it lost against the authority."""
    from pyspark.sql import functions as F

    conflicts = CONFLICTS.read_if_exists(spark, cfg)
    if conflicts is None:
        return None
    by_name = {lib.library: lib for lib in libraries}
    lost = lost_conflicts(conflicts).where(F.col("library").isin(*by_name) if by_name else "false")
    texts = []
    pairs = lost.select("library", "input", "attribute", "winner_department", "winner_input")
    for r in pairs.distinct().collect():
        lib = by_name[r["library"]]
        if r["input"] not in lib.inputs:
            continue
        derived = r["winner_input"] == "identity_number"
        text = conflict_text(lib, r["input"], r["attribute"], r["winner_department"], derived)
        texts.append({**r.asDict(), "table": lib.inputs[r["input"]].table, **text})
    if not texts:
        return None
    lookup = spark.createDataFrame(texts)
    join = ["library", "input", "attribute", "winner_department", "winner_input"]
    return lost.join(lookup, join).select(
        "department",
        F.lit(None).cast("string").alias("system"),
        "table",
        F.col("key").cast("string"),
        "field",
        F.col("value").cast("string"),
        "rule",
        "rule_zh",
        "rule_en",
        F.lit("conflict").alias("origin"),
        F.concat_ws(":", "table", "key").alias("source_ref"),
    )


def union(parts: list) -> DataFrame | None:
    from functools import reduce

    parts = [p for p in parts if p is not None]
    return reduce(lambda a, b: a.unionByName(b), parts) if parts else None


def built_libraries(spark: SparkSession, cfg: Settings, run_date: dt.date) -> list:
    """Libraries built for the night (ops.library_runs); all declared ones if none recorded."""
    from pyspark.sql import functions as F

    from govlake.libraries import load_libraries

    libraries = load_libraries()
    runs = LIBRARY_RUNS.read_if_exists(spark, cfg)
    if runs is None:
        return libraries
    built = {
        r["library"]
        for r in runs.where(F.col("batch_date") == F.lit(run_date))
        .select("library")
        .distinct()
        .collect()
    }
    return [lib for lib in libraries if lib.library in built]


def checked_scopes(spark: SparkSession, cfg: Settings, run_date, libraries) -> set[str]:
    """'<origin>|<table>' of every table a checker looked at tonight: only there can a problem
    not seen again be called fixed (a table that did not load tonight proves nothing)."""
    from pyspark.sql import functions as F

    looked: list[DataFrame] = []  # '<origin>|<table>' rows, collected in one Spark job
    validations = RESULTS.table.read_if_exists(spark, cfg)
    for owned in (RESULTS, FAILED_ROWS):
        df = owned.table.read_if_exists(spark, cfg)
        if df is not None:
            tonight = night_rows(df, run_date, validations).select(qualified_table())
            looked.append(tonight.select(F.concat(F.lit("quality|"), "table").alias("scope")))
    loads = LOAD_RUNS.table.read_if_exists(spark, cfg)
    if loads is not None:
        tonight = (F.col("batch_date") == F.lit(run_date)) & F.col("status").isin(*COMMITTED)
        scope = F.concat(F.lit("load|"), "ods_table").alias("scope")
        looked.append(loads.where(tonight).select(scope))
    found = union(looked)
    scopes: set[str] = set()
    if found is not None:  # a NULL table names no scope a problem could be in
        scopes = {r[0] for r in found.where(F.col("scope").isNotNull()).distinct().collect()}
    for lib in libraries:
        for source in lib.inputs.values():
            scopes |= {f"library|{source.table}", f"conflict|{source.table}"}
    return scopes


def observed(spark: SparkSession, cfg: Settings, run_date, libraries) -> DataFrame | None:
    """Tonight's problems, one row per (department, table, key, field, rule)."""
    from pyspark.sql import functions as F

    from jobs.feedback.common import departments_by_system

    quality = from_failed_rows(spark, cfg, run_date)
    library = from_quarantine(spark, cfg, libraries)
    if quality is not None and library is not None:
        # The ods checks already reported this value of this column: do not list it twice.
        seen = quality.select("table", "field", F.col("value").alias("_v")).distinct()
        cond = (
            (library["table"] == seen["table"])
            & (library["field"] == seen["field"])
            & library["value"].eqNullSafe(seen["_v"])
        )
        library = library.join(seen, cond, "left_anti")
    parts = [quality, from_rejected_rows(spark, cfg, run_date), library]
    parts.append(from_null_watermarks(spark, cfg, run_date))
    parts.append(from_conflicts(spark, cfg, libraries))
    found = union([p.select(*OBSERVED) for p in parts if p is not None])
    if found is None:
        return None
    found = with_table_names(found, departments_by_system())
    identity = ["department", "table", "key", "field", "rule"]
    others = [F.first(c, ignorenulls=True).alias(c) for c in OBSERVED if c not in identity]
    return found.where(F.col("department").isNotNull()).groupBy(*identity).agg(*others)


def problem_rows(found: DataFrame, run_date: dt.date, run_id: str) -> DataFrame:
    """Tonight's problems in the shape of quality.problems, identifiers masked."""
    from pyspark.sql import functions as F

    from govlake.masking import mask_column

    identity = F.concat_ws(
        "\u0001",
        *[F.coalesce(F.col(c), F.lit("")) for c in ("department", "table", "key", "field", "rule")],
    )
    return found.select(
        F.substring(F.sha2(identity, 256), 1, 20).alias("problem_id"),
        "department",
        "system",
        "table",
        mask_column(F.col("key")).alias("key"),
        "field",
        mask_column(F.col("value")).alias("value_masked"),
        "rule",
        "rule_zh",
        "rule_en",
        "origin",
        mask_column(F.col("source_ref")).alias("source_ref"),
        F.lit(run_date).alias("first_seen"),
        F.lit(run_date).alias("last_seen"),
        F.lit(1).alias("times_seen"),
        F.lit("open").alias("status"),
        F.lit(None).cast("date").alias("fixed_on"),
        F.lit(None).cast("int").alias("days_to_fix"),
        F.lit(run_id).alias("first_run_id"),
        F.lit(run_id).alias("last_run_id"),
    )


def merge_problems(
    spark: SparkSession, cfg: Settings, tonight: DataFrame, run_date, scopes: set[str]
) -> None:
    """One MERGE: insert new problems, count the ones seen again, close the ones gone."""
    from govlake.lakehouse import retry_concurrent

    PROBLEMS.table.create_if_missing(spark, PROBLEMS.schema, cfg=cfg)
    day = f"DATE'{run_date.isoformat()}'"
    latest = {c: f"s.{c}" for c in ("value_masked", "rule_zh", "rule_en", "source_ref", "system")}
    seen_again = {
        **latest,
        "times_seen": "t.times_seen + 1",
        "last_seen": "s.last_seen",
        "last_run_id": "s.last_run_id",
        "status": "'open'",
        "fixed_on": "NULL",
        "days_to_fix": "NULL",
    }
    gone = (
        f"t.status = 'open' AND t.last_seen < {day} "
        f"AND concat(t.origin, '|', t.table) IN ({sql_list(sorted(scopes))})"
    )
    fixed = {
        "status": "'fixed'",
        "fixed_on": day,
        "days_to_fix": f"CAST(datediff({day}, t.first_seen) AS INT)",
    }

    # A rerun of the night updates a problem only where what it shows changed (the run id alone
    # is no change: last_run_id stays the first run of the night that saw it).
    same = " AND ".join(f"t.{c} <=> s.{c}" for c in latest)
    seen_tonight = f"t.last_seen = s.last_seen AND NOT ({same})"
    # Each clause of the MERGE below, as a condition on the two sides joined.
    changes = (
        f"(t.problem_id IS NULL) OR (s.problem_id IS NULL AND {gone}) "
        f"OR (t.last_seen < s.last_seen) OR ({seen_tonight})"
    )

    def run() -> None:
        target = PROBLEMS.table.delta(spark, cfg)
        if not would_change(target.toDF(), tonight, changes):
            return  # Delta commits a MERGE that changes no row: a rerun must commit nothing
        (
            target.alias("t")
            .merge(tonight.alias("s"), "t.problem_id = s.problem_id")
            .whenMatchedUpdate("t.last_seen < s.last_seen", seen_again)
            .whenMatchedUpdate(seen_tonight, {**latest, "last_run_id": "s.last_run_id"})
            .whenNotMatchedInsertAll()
            .whenNotMatchedBySourceUpdate(gone, fixed)
            .execute()
        )

    retry_concurrent(run)


def would_change(target: DataFrame, tonight: DataFrame, changes: str) -> bool:
    """Whether any row of the two sides, joined on problem_id, meets `changes` (one of the
    MERGE's clauses): one small Spark job instead of the MERGE's commit on a rerun."""
    from pyspark.sql import functions as F

    joined = target.alias("t").join(
        tonight.alias("s"), F.col("t.problem_id") == F.col("s.problem_id"), "full_outer"
    )
    return bool(joined.where(F.expr(changes)).limit(1).count())


def track_problems(spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str) -> dict:
    """Tonight's problems merged into quality.problems; counts of open, new, fixed tonight."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import functions as F

    libraries = built_libraries(spark, cfg, run_date)
    # Where the checkers looked is one small job of its own: it runs beside tonight's rows.
    with ThreadPoolExecutor(1, thread_name_prefix="problem-scopes") as pool:
        looked = pool.submit(checked_scopes, spark, cfg, run_date, libraries)
        found = observed(spark, cfg, run_date, libraries)
    scopes = looked.result()
    tonight = (
        problem_rows(found, run_date, run_id)
        if found is not None
        else spark.createDataFrame([], PROBLEMS.schema)
    )
    merge_problems(spark, cfg, tonight, run_date, scopes)
    problems = PROBLEMS.table.read_if_exists(spark, cfg)
    counts = problems.agg(
        F.count(F.when(F.col("status") == "open", 1)).alias("open"),
        F.count(F.when(F.col("first_seen") == F.lit(run_date), 1)).alias("new"),
        F.count(F.when(F.col("fixed_on") == F.lit(run_date), 1)).alias("fixed"),
    ).first()
    return counts.asDict()
