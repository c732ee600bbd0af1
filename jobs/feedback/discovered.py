"""Duplicate collection found from the data (识别重复采集数据), declared by a library or not.

jobs.feedback.duplicates measures only attributes a library lists from two departments. This
module finds them in the ods tables themselves, in four steps, at a cost linear in the tables:

1. Profile: each table's first PROFILE_ROWS rows (a small read per table); every value of the
   form of an identifier (15, 18 or 28 characters, or the certificate root) is tested with the
   engine's checks (jobs.identifiers.CHECKS: ric, uscc, cert, unit_code), all tables in one
   Spark job. A column is an identifier of kind K when at least MIN_VALID values pass K, and
   the passing values are at least ID_SHARE of its non-blank ones (defects allowed; a column
   may be of two kinds: a right holder's number is a person's or an enterprise's).
2. Sample (one Spark job for all tables, a row travels as JSON): per identifier column, the
   rows of the SKETCH_KEYS keys with the smallest xxhash64 of the normalized value (bottom-k,
   one row per key, the newest batch). The hashes are a KMV sketch: the distinct count is
   (k-1)/u of the k-th smallest, and because every table keeps the keys below its own
   threshold, two samples cut at the lower of both thresholds hold exactly the shared keys
   below it (coordinated sampling): the join of the samples samples the join of the tables.
3. Pairs (driver, no Spark): for every two identifier columns of one kind in tables of two
   departments, the Jaccard estimate J from the sketches gives the overlap J(nA+nB)/(1+J);
   pairs sharing at least MIN_SHARED sampled keys are joined on those keys.
4. Agreement (driver): for every other column pair of one class (date, identifier, text:
   names, codes, addresses), values normalized (NFKC: full-width to half-width; trimmed,
   spaces removed, upper case; dates of any of the usual forms as ISO), the share of joined
   rows stating both that agree, and the share expected by chance, sum_v p_a(v) * p_b(v)
   over the two columns' values among those rows. A pair is reported when at least
   MIN_COMPARED rows state both, the agreement is at least MIN_AGREEMENT and exceeds chance
   by MIN_LIFT; a column pair found through several keys is reported once, by its best key.

Only column names, counts and rates are written (quality.discovered_duplicates, one slice per
night); the sampled values stay in the driver's memory. A pair is `declared` when a library
attribute lists both columns among its sources (libraries/*.yaml). Pairs of one department's
tables are not reported: the question is what a department collects that another already has.
Cost: a small read per table and two Spark jobs in all, plus a driver loop over identifier
pairs, each bounded by SKETCH_KEYS rows; benchmarks/README.md gives the time for half the
tables, all of them and all of them twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.owned import DISCOVERED_DUPLICATES
from govlake.settings import Settings
from jobs.feedback.common import night_predicate, write_slice

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ID_KINDS = ("ric", "uscc", "cert", "unit_code")
PROFILE_ROWS = 300  # rows profiled per table
PROFILE_THREADS = 4  # tables whose rows are read at once
ID_SHARE = 0.5  # share of non-blank sampled values passing a kind's check
MIN_VALID = 5  # and at least this many
SKETCH_KEYS = 512  # keys sampled (bottom-k by hash) per identifier column
MIN_SHARED = 5  # sampled keys two identifier columns must share to be joined
MIN_COMPARED = 5  # joined rows stating both columns
MIN_AGREEMENT = 0.5
MIN_LIFT = 0.3  # agreement minus chance agreement
DATE_SHARE = 0.8  # share of a column's sampled values that are dates for the date class
HASH_SPAN = 2**64
MAX_HASH = 2**63 - 1
TRIM = " \t\r\n\u3000\u00a0\u200b\ufeff"
SEPARATED_DATE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
)
COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WHOLE_NUMBER = re.compile(r"^(-?\d+)\.0+$")


@dataclass(frozen=True)
class OdsTable:
    """An ods table with its providing department."""

    table: str
    department: str


@dataclass
class KeySample:
    """One identifier column's bottom-k sample: key hash -> the row's normalized values."""

    table: OdsTable
    column: str
    kinds: tuple[str, ...]
    rows: dict[int, dict[str, str | None]]
    threshold: int  # every key hashing at most this is in `rows`
    distinct: int  # distinct keys, estimated when the sample is cut
    classes: dict[str, str] = field(default_factory=dict)  # column -> date | id | text


# -- normalization and classes ------------------------------------------------------------


def as_date(text: str) -> str | None:
    """ISO form of a date written 2024-01-02, 2024/1/2, 20240102, 2024年1月2日 (midnight too)."""
    found = SEPARATED_DATE.match(text) or COMPACT_DATE.match(text)
    if not found:
        return None
    try:
        return dt.date(*(int(g) for g in found.groups())).isoformat()
    except ValueError:
        return None


def normalize(value) -> str | None:
    """How two departments' statements are compared: NFKC (full-width to half-width), no
    spaces, upper case, dates as ISO, 26.0 as 26; NULL for blank."""
    if value is None:
        return None
    stripped = unicodedata.normalize("NFKC", str(value)).strip(TRIM)
    day = as_date(stripped)  # before the spaces go: 2024-01-02 00:00:00 is a date
    if day:
        return day
    text = re.sub(r"\s+", "", stripped).upper()
    whole = WHOLE_NUMBER.match(text)
    return whole.group(1) if whole else text or None


def column_class(values: list[str | None], identifier: bool) -> str:
    """date, id or text: only columns of one class are compared."""
    if identifier:
        return "id"
    stated = [v for v in values if v is not None]
    dates = sum(bool(ISO_DATE.match(v)) for v in stated)
    return "date" if stated and dates >= DATE_SHARE * len(stated) else "text"


# -- Spark: which tables, which identifier columns, the key samples ----------------------


def ods_tables(spark: SparkSession, cfg: Settings, sources=None) -> list[OdsTable]:
    """Every configured department table that has landed in ods, with its department."""
    from govlake.sources import load_sources

    found = []
    for source in sources if sources is not None else load_sources():
        for spec in source.tables:
            name = source.ods_table(spec)
            if Table.parse(name).exists(spark, cfg):
                found.append(OdsTable(name, source.department))
    return sorted(found, key=lambda t: t.table)


def content_columns(df: DataFrame) -> list[str]:
    """The department's columns, without the load's metadata (_batch_date, _run_id, ...)."""
    return [c for c in df.columns if not c.startswith("_")]


def _long(df: DataFrame, table: str, columns: list[str], value, keep=()) -> DataFrame:
    """(table, c: {column, value}, *keep) rows, one per row and column: any table's shape."""
    from pyspark.sql import functions as F

    cells = [F.struct(F.lit(c).alias("column"), value(c).alias("value")) for c in columns]
    return df.select(F.lit(table).alias("table"), F.explode(F.array(*cells)).alias("c"), *keep)


def plausible(value: str | None) -> bool:
    """Whether a value has the form of an identifier of some kind: the engine's checks run on
    these only (a certificate check, MOD 37,36 over every character, on every name and address
    would cost most of the step)."""
    from jobs.identifiers import CERT_ROOT, UNIT_CODE_LENGTH

    key = normalize(value)
    return key is not None and (len(key) in (15, 18, UNIT_CODE_LENGTH) or key.startswith(CERT_ROOT))


def profile_heads(frames: dict[str, DataFrame]) -> dict[str, tuple[list[str], list]]:
    """table -> (content columns, its first PROFILE_ROWS rows as strings). Each table's rows
    are its own small job, as before (a limit under a union would take other rows than a
    table's first ones); the jobs are submitted from PROFILE_THREADS threads, since each is
    mostly the driver's fixed overhead (planning, the Delta snapshot, scheduling) and waiting."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import functions as F

    def head(df: DataFrame) -> tuple[list[str], list]:
        columns = content_columns(df)
        strings = df.select(*[F.col(c).cast("string").alias(c) for c in columns])
        return columns, strings.limit(PROFILE_ROWS).collect()

    with ThreadPoolExecutor(PROFILE_THREADS, thread_name_prefix="discovered-profile") as pool:
        heads = dict(zip(frames, pool.map(head, frames.values()), strict=True))
    return heads


def identifier_columns(frames: dict[str, DataFrame]) -> dict[str, dict[str, tuple[str, ...]]]:
    """table -> {column: identifier kinds}, from the engine's checks on each table's first
    PROFILE_ROWS rows: read per table, checked in one Spark job for all tables."""
    from pyspark.sql import functions as F

    from jobs.identifiers import CHECKS

    stated: Counter = Counter()
    cells = []
    for table, (columns, head) in profile_heads(frames).items():
        for row in head:
            for column, value in zip(columns, row, strict=True):
                stated[(table, column)] += normalize(value) is not None
                if plausible(value):
                    cells.append((table, column, value))
    found: dict[str, dict[str, tuple[str, ...]]] = {t: {} for t in frames}
    if not cells:
        return found
    checked = frames[next(iter(frames))].sparkSession.createDataFrame(
        cells, "table string, column string, value string"
    )
    counted = checked.groupBy("table", "column").agg(
        *[F.count_if(CHECKS[k]("value")["valid"]).alias(k) for k in ID_KINDS]
    )
    for r in counted.collect():
        # A right holder's number is a person's or an enterprise's: a column may be both.
        kinds = tuple(k for k in ID_KINDS if r[k] >= MIN_VALID)
        if kinds and sum(r[k] for k in kinds) >= ID_SHARE * stated[(r["table"], r["column"])]:
            found[r["table"]][r["column"]] = kinds
    return found


def key_samples(frames: dict[str, DataFrame], ids: dict[str, dict]) -> dict:
    """(table, column) -> {key hash: row}: per identifier column, the rows of its SKETCH_KEYS
    smallest key hashes, one row per key, the newest batch's (one Spark job for all tables;
    a row travels as JSON so tables of any columns share one plan)."""
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from jobs.identifiers import normalize_id

    def key_hash(c):
        key = normalize_id(F.col(c).cast("string"))
        return F.when(F.length(key) > 0, F.xxhash64(key))

    parts = []
    for table, df in frames.items():
        if not ids.get(table):
            continue
        batch = F.col("_batch_date") if "_batch_date" in df.columns else F.lit(None)
        row = F.to_json(
            F.struct(*[F.col(c).cast("string").alias(c) for c in content_columns(df)]),
            {"ignoreNullFields": "false"},
        )
        keyed = df.select("*", row.alias("_row"), batch.cast("date").alias("_batch"))
        cells = _long(keyed, table, list(ids[table]), key_hash, keep=("_row", "_batch"))
        parts.append(
            cells.select("table", "c.column", F.col("c.value").alias("h"), "_row", "_batch")
        )
    if not parts:
        return {}
    by_column = Window.partitionBy("table", "column")
    by_key = Window.partitionBy("table", "column", "h").orderBy(F.col("_batch").desc_nulls_last())
    ranked = (
        reduce(lambda a, b: a.unionByName(b), parts)
        .where(F.col("h").isNotNull())
        .withColumn("_rank", F.dense_rank().over(by_column.orderBy("h")))
        .where(F.col("_rank") <= SKETCH_KEYS)
        .withColumn("_one", F.row_number().over(by_key))
        .where(F.col("_one") == 1)
    )
    grouped: dict[tuple[str, str], dict[int, dict]] = {}
    for r in ranked.select("table", "column", "h", "_row").collect():
        values = json.loads(r["_row"])
        grouped.setdefault((r["table"], r["column"]), {})[r["h"]] = {
            c: normalize(v) for c, v in values.items()
        }
    return grouped


def _sample(table: OdsTable, column: str, kinds: tuple, rows: dict, ids: dict) -> KeySample:
    """A KeySample with its threshold, distinct estimate (KMV) and column classes."""
    if len(rows) < SKETCH_KEYS:
        threshold, distinct = MAX_HASH, len(rows)
    else:
        threshold = max(rows)
        distinct = round((SKETCH_KEYS - 1) * HASH_SPAN / (threshold + 2**63 + 1))
    sample = KeySample(table, column, kinds, rows, threshold, distinct)
    values = list(rows.values())
    for c in values[0] if values else ():
        sample.classes[c] = column_class([v[c] for v in values], c in ids)
    return sample


# -- driver: overlap, agreement, declared ------------------------------------------------


def overlap(a: KeySample, b: KeySample) -> tuple[list[int], int]:
    """(shared sampled keys, estimated shared distinct keys) of two identifier columns."""
    cut = min(a.threshold, b.threshold)
    left = {h for h in a.rows if h <= cut}
    right = {h for h in b.rows if h <= cut}
    union = left | right
    shared = sorted(left & right)
    if not union:
        return shared, 0
    jaccard = len(shared) / len(union)
    return shared, round(jaccard * (a.distinct + b.distinct) / (1 + jaccard))


def agreement(pairs: list[tuple[str | None, str | None]]) -> tuple[int, float, float] | None:
    """(rows stating both, agreement, chance agreement) of one column pair over joined rows."""
    both = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not both:
        return None
    n = len(both)
    agree = sum(x == y for x, y in both) / n
    left, right = Counter(x for x, _ in both), Counter(y for _, y in both)
    chance = sum(count * right[v] for v, count in left.items()) / (n * n)
    return n, agree, chance


def agreeing_columns(a: KeySample, b: KeySample, shared: list[int]) -> list[dict]:
    """Column pairs (not the keys) of one class whose values agree beyond chance."""
    found = []
    for ca, cb in itertools.product(a.classes, b.classes):
        if ca == a.column or cb == b.column or a.classes[ca] != b.classes[cb]:
            continue
        measured = agreement([(a.rows[h][ca], b.rows[h][cb]) for h in shared])
        if measured is None:
            continue
        n, agree, chance = measured
        if n >= MIN_COMPARED and agree >= MIN_AGREEMENT and agree - chance >= MIN_LIFT:
            found.append(
                {
                    "column_a": ca,
                    "column_b": cb,
                    "value_class": a.classes[ca],
                    "rows_compared": n,
                    "agree": agree,
                    "chance": chance,
                }  # fmt: skip
            )
    return found


def declared_pairs(libraries) -> dict[frozenset, str]:
    """{(table, column), (table, column)} of two departments -> 'library.attribute' for every
    attribute a library takes from more than one department."""
    declared = {}
    for library in libraries:
        for name, attribute in library.attributes.items():
            stated = []
            for source in attribute.sources:
                given = library.inputs[source]
                if name in given.columns:
                    stated.append((given.department, (given.table, given.columns[name])))
            for (da, ca), (db, cb) in itertools.combinations(stated, 2):
                if da != db:
                    declared.setdefault(frozenset((ca, cb)), f"{library.library}.{name}")
    return declared


def pair_rows(a: KeySample, b: KeySample, declared: dict[frozenset, str]) -> list[dict]:
    """Report rows of one pair of identifier columns (empty when they share too few keys)."""
    shared, both = overlap(a, b)
    if len(shared) < MIN_SHARED:
        return []
    rows = []
    for found in agreeing_columns(a, b, shared):
        pair = frozenset(((a.table.table, found["column_a"]), (b.table.table, found["column_b"])))
        by = declared.get(pair)
        rows.append(
            {
                "department_a": a.table.department,
                "table_a": a.table.table,
                "key_a": a.column,
                "department_b": b.table.department,
                "table_b": b.table.table,
                "key_b": b.column,
                "key_kind": "+".join(k for k in a.kinds if k in b.kinds),
                "keys_a": a.distinct,
                "keys_b": b.distinct,
                "keys_overlap": both,
                "overlap_percent": round(100 * both / max(1, min(a.distinct, b.distinct)), 2),
                "keys_sampled": len(shared),
                "column_a": found["column_a"],
                "column_b": found["column_b"],
                "value_class": found["value_class"],
                "rows_compared": found["rows_compared"],
                "agree_percent": round(100 * found["agree"], 2),
                "chance_percent": round(100 * found["chance"], 2),
                "declared": by is not None,
                "declared_by": by,
            }
        )
    return rows


def discover(samples: list[KeySample], declared: dict[frozenset, str]) -> list[dict]:
    """Every agreeing column pair of two departments' tables, once per column pair (its key
    pair with the most rows compared), sorted by department pair and tables."""
    best: dict[tuple, dict] = {}
    ordered = sorted(samples, key=lambda s: (s.table.table, s.column))
    for a, b in itertools.combinations(ordered, 2):
        if not set(a.kinds) & set(b.kinds) or a.table.department == b.table.department:
            continue
        for row in pair_rows(a, b, declared):
            key = (row["table_a"], row["column_a"], row["table_b"], row["column_b"])
            if key not in best or row["rows_compared"] > best[key]["rows_compared"]:
                best[key] = row
    order = ("department_a", "department_b", "table_a", "table_b", "column_a", "column_b")
    return sorted(best.values(), key=lambda r: tuple(r[k] for k in order))


def sample_frames(frames: dict[OdsTable, DataFrame]) -> list[KeySample]:
    """Key samples of every identifier column of the tables (two Spark jobs in all)."""
    by_name = {t.table: df for t, df in frames.items()}
    ids = identifier_columns(by_name)
    rows = key_samples(by_name, ids)
    return [
        _sample(table, column, kinds, rows.get((table.table, column), {}), ids[table.table])
        for table in sorted(frames, key=lambda t: t.table)
        for column, kinds in sorted(ids[table.table].items())
    ]


def find_duplicates(
    spark: SparkSession, cfg: Settings, tables=None, libraries=None, frames=None
) -> list[dict]:
    """The discovered duplicate collection of the ods tables (all configured ones that have
    landed by default; `frames` {OdsTable: DataFrame} to look at other rows)."""
    from govlake.libraries import load_libraries

    libraries = load_libraries() if libraries is None else libraries
    if frames is None:
        tables = ods_tables(spark, cfg) if tables is None else tables
        frames = {t: Table.parse(t.table).read(spark, cfg) for t in tables}
    return discover(sample_frames(frames), declared_pairs(libraries))


def write_discovered(
    spark: SparkSession, cfg: Settings, run_date: dt.date, run_id: str, **kw
) -> list[dict]:
    """quality.discovered_duplicates for the night (a rerun replaces the night's rows)."""
    rows = [
        {"run_id": run_id, "run_date": run_date, **r} for r in find_duplicates(spark, cfg, **kw)
    ]
    df = spark.createDataFrame(rows, DISCOVERED_DUPLICATES.schema)
    write_slice(df, cfg, DISCOVERED_DUPLICATES, night_predicate(run_date))
    return rows


def latest_discovered(spark: SparkSession, cfg: Settings) -> list[dict]:
    """The newest night's discovered duplicate collection."""
    from pyspark.sql import functions as F

    report = DISCOVERED_DUPLICATES.table.read_if_exists(spark, cfg)
    if report is None:
        return []
    newest = report.agg(F.max("run_date")).first()[0]
    rows = report.where(F.col("run_date") == F.lit(newest)).orderBy(
        "department_a", "department_b", "table_a", "table_b", "column_a", "column_b"
    )
    return [r.asDict() for r in rows.collect()]
