"""Duplicate collection (识别重复采集数据): attributes that several departments collect for the
same entities, how far their values overlap and agree, and which source should be authoritative.

Declared: an attribute whose `sources` in libraries/<lib>.yaml span more than one department.
Measured: over the inputs' current ods rows, standardized as the library build does, the keys
both departments state and how many of those they state alike. Recommended: the first declared
source's department (一数一源); the others can stop collecting and use the shared value.
Not read from std.<library>__<input>: that layer holds only the accepted rows, while the
statement of a quarantined row with a key counts here (and its values are typed, not as stated).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from govlake.lakehouse import Table
from govlake.owned import DUPLICATE_COLLECTION
from govlake.settings import Settings
from jobs.feedback.common import night_predicate, write_slice

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def collected_twice(library) -> dict[str, list[tuple[str, list[str]]]]:
    """attribute -> [(department, [inputs])] in declared order, for attributes with 2+ depts."""
    out = {}
    for name, attribute in library.attributes.items():
        departments: dict[str, list[str]] = {}
        for source in attribute.sources:
            departments.setdefault(library.inputs[source].department, []).append(source)
        if len(departments) > 1:
            out[name] = list(departments.items())
    return out


def statements(spark: SparkSession, cfg: Settings, library, attributes: set[str], run_id: str):
    """(library, key, attribute, department, value) stated by the library's inputs,
    standardized; None when an input has not landed yet."""
    from pyspark.sql import functions as F

    from jobs.library import BuildContext, current_rows, select_input

    ctx = BuildContext(library, dt.date.today(), run_id, cfg, dt.datetime.now())
    parts = []
    for name, source in library.inputs.items():
        wanted = [a for a in source.columns if a in attributes]
        if not wanted:
            continue
        if not Table.parse(source.table).exists(spark, cfg):
            return None
        rows = select_input(ctx, name, source, current_rows(spark, cfg, source))
        pairs = F.explode(
            F.array(
                *[F.struct(F.lit(a).alias("attribute"), F.col(a).alias("value")) for a in wanted]
            )
        )
        parts.append(
            rows.where(F.col("_key").isNotNull())
            .select(
                F.col("_key").alias("key"),
                F.lit(source.department).alias("department"),
                pairs.alias("s"),
            )
            .select(
                "key", "department", "s.attribute", F.col("s.value").cast("string").alias("value")
            )
            .where(F.col("value").isNotNull())
        )
    from functools import reduce

    stated = reduce(lambda a, b: a.unionByName(b), parts)
    # One value per key, attribute and department (two inputs of one department may both state it).
    one = stated.groupBy("key", "attribute", "department").agg(F.max("value").alias("value"))
    return one.select(F.lit(library.library).alias("library"), "*")


def overlap(stated: DataFrame) -> dict[str, dict]:
    """library -> {"pairs": {(attribute, department A, department B): {both, agree}},
    "keys": {(attribute, department): keys}}, for the (library, key, attribute, department,
    value) statements of every library, in one Spark job: each key's statements are grouped
    once and paired in place (a join per library cost two jobs each)."""
    from pyspark.sql import functions as F

    per_key = stated.groupBy("library", "key", "attribute").agg(
        F.collect_list(F.struct("department", "value")).alias("s")
    )

    def others(a):
        return F.filter(F.col("s"), lambda b: b["department"] != a["department"])

    def pair(a):
        return F.transform(
            others(a),
            lambda b: F.struct(
                a["department"].alias("da"),
                b["department"].alias("db"),
                (a["value"] == b["value"]).alias("same"),
            ),
        )

    pairs = (
        per_key.select(
            "library", "attribute", F.explode(F.flatten(F.transform("s", pair))).alias("p")
        )
        .groupBy("library", "attribute", F.col("p.da").alias("da"), F.col("p.db").alias("db"))
        .agg(F.count(F.lit(1)).alias("both"), F.count_if(F.col("p.same")).alias("agree"))
    )
    keys = (
        per_key.select("library", "attribute", F.explode("s.department").alias("da"))
        .groupBy("library", "attribute", "da")
        .agg(F.count(F.lit(1)).alias("both"))
        .select(
            "library",
            "attribute",
            "da",
            F.lit(None).cast("string").alias("db"),
            "both",
            F.lit(None).cast("long").alias("agree"),
        )
    )
    out: dict[str, dict] = {}
    for r in pairs.unionByName(keys).collect():
        measured = out.setdefault(r["library"], {"pairs": {}, "keys": {}})
        if r["db"] is None:
            measured["keys"][(r["attribute"], r["da"])] = r["both"]
        else:
            measured["pairs"][(r["attribute"], r["da"], r["db"])] = {
                "both": r["both"],
                "agree": r["agree"],
            }
    return out


def recommendation(attribute: str, authority: str, department: str, agree_percent) -> str:
    agreement = "" if agree_percent is None else f"，两者一致率 {agree_percent:.1f}%"
    return (
        f"{attribute} 以 {authority} 为权威来源（一数一源）{agreement}；"
        f"{department} 可停止重复采集，改为共享调用。 "
        f"Use {authority} as the authoritative source of {attribute}; "
        f"{department} can stop collecting it and use the shared value."
    )


def library_report(library, twice: dict, measured: dict | None, run_date, run_id: str) -> list:
    """Report rows for one library: one per attribute and non-authoritative department;
    `measured` is its part of overlap(), None when an input has not landed (nothing measured)."""
    found = measured or {"pairs": {}, "keys": {}}
    rows = []
    for attribute, departments in twice.items():
        authority, authority_inputs = departments[0]
        for rank, (department, inputs) in enumerate(departments[1:], start=2):
            pair = found["pairs"].get((attribute, authority, department))
            both = pair["both"] if pair else (0 if measured is not None else None)
            agree = pair["agree"] if pair else (0 if measured is not None else None)
            percent = round(100 * agree / both, 2) if both else None
            rows.append(
                {
                    "run_id": run_id,
                    "run_date": run_date,
                    "library": library.library,
                    "attribute": attribute,
                    "authoritative_department": authority,
                    "authoritative_inputs": ",".join(authority_inputs),
                    "department": department,
                    "inputs": ",".join(inputs),
                    "declared_rank": rank,
                    "keys_authority": found["keys"].get((attribute, authority)),
                    "keys_department": found["keys"].get((attribute, department)),
                    "keys_both": both,
                    "keys_agree": agree,
                    "agree_percent": percent,
                    "recommendation": recommendation(attribute, authority, department, percent),
                }
            )
    return rows


def measure_all(spark, cfg: Settings, declared: dict, run_id: str) -> dict[str, dict | None]:
    """library -> its overlap() part ({} when its inputs state nothing), None for a library
    with an input not landed; every library measured in one Spark job."""
    from functools import reduce

    stated = {lib: statements(spark, cfg, library, set(twice), run_id)
              for lib, (library, twice) in declared.items()}  # fmt: skip
    landed = [df for df in stated.values() if df is not None]
    measured = overlap(reduce(lambda a, b: a.unionByName(b), landed)) if landed else {}
    return {lib: None if df is None else measured.get(lib, {}) for lib, df in stated.items()}


def write_duplicates(
    spark, cfg: Settings, run_date: dt.date, run_id: str, libraries=None
) -> list[dict]:
    """The duplicate-collection report of every library into quality.duplicate_collection;
    a rerun of the night, under any run id, replaces the night's report."""
    from govlake.libraries import load_libraries

    declared = {}
    for library in libraries if libraries is not None else load_libraries():
        twice = collected_twice(library)
        if twice:
            declared[library.library] = (library, twice)
    measured = measure_all(spark, cfg, declared, run_id)
    rows = []
    for name, (library, twice) in declared.items():
        rows += library_report(library, twice, measured[name], run_date, run_id)
    df = spark.createDataFrame(rows, DUPLICATE_COLLECTION.schema)
    write_slice(df, cfg, DUPLICATE_COLLECTION, night_predicate(run_date))
    return rows


def latest_report(spark, cfg: Settings) -> list[dict]:
    """The newest run's duplicate-collection rows."""
    from pyspark.sql import functions as F

    report = DUPLICATE_COLLECTION.table.read_if_exists(spark, cfg)
    if report is None:
        return []
    newest = (
        report.orderBy(F.col("run_date").desc(), F.col("run_id").desc()).select("run_id").first()
    )
    if newest is None:
        return []
    rows = report.where(F.col("run_id") == newest[0]).orderBy(
        "library", "attribute", "declared_rank"
    )
    return [r.asDict() for r in rows.collect()]
