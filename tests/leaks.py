"""Raw personal identifiers found outside the graded stores (issue 17, item 4).

The identifiers come from the base libraries themselves (every identity number in
base.population, every legal representative's number and every sole trader's USCC in
base.legal_entity), never from the code that masks them. Everything a run leaves behind is then
searched for them: files (logs, lineage, Data Docs, the site, workbooks, CSVs, exports; the
inside of .xlsx files too), the rows of every Delta table that is not a graded store, and any
command output the caller passes in.
"""

from __future__ import annotations

import filecmp
import io
import re
import zipfile
from pathlib import Path

from govlake.cluster import event_lines

# Graded stores: they hold raw values by design and are read only through governed access.
# quality.failed_rows keeps the key of each failing row (a problem's identity across nights, as
# quarantine does); it is no catalog resource, so no grant reaches it. app_* are the
# applications' warehouses, each graded by its own catalog entry (一应用一数仓).
GRADED_DATABASES = ("ods", "std", "base", "theme", "quarantine")
GRADED_TABLES = ("quality/failed_rows",)
# What departments delivered: their own raw files, not an output of the lakehouse.
DELIVERIES = ("sources",)
CANDIDATE = re.compile(rb"(?<![0-9A-Z])[0-9A-Z]{17}[0-9A-Z](?![0-9A-Z])")
SOLE_TRADER = "92"  # USCC registration category 9 (industry and commerce), type 2: 个体工商户


def personal_identifiers(spark, lake: Path) -> set[str]:
    """Identity numbers of residents and representatives, and sole traders' USCCs."""
    from pyspark.sql import functions as F

    population = spark.read.format("delta").load(str(lake / "base" / "population"))
    found = {r[0] for r in population.select("id_number").distinct().collect() if r[0]}
    entities = spark.read.format("delta").load(str(lake / "base" / "legal_entity"))
    representatives = entities.select("legal_representative_id").distinct().collect()
    found |= {r[0] for r in representatives if r[0]}
    traders = entities.where(F.col("uscc").startswith(SOLE_TRADER)).select("uscc").collect()
    return found | {r[0] for r in traders}


def count_in(data: bytes, identifiers: set[str]) -> int:
    return sum(1 for m in CANDIDATE.findall(data.upper()) if m.decode() in identifiers)


def is_graded(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] in DELIVERIES:
        return True
    if len(parts) < 2 or parts[0] != "lakehouse":
        return False
    database = parts[1]
    graded_table = "/".join(parts[1:3]) in GRADED_TABLES
    return database in GRADED_DATABASES or database.startswith("app_") or graded_table


def fetched_copy(path: Path, artifacts: Path | None) -> bool:
    """The file is byte for byte a jar of `artifacts` (the project's jar cache): a cluster's
    executors fetch the session's jars into their work folders (about 200 MB in the e2e test's
    night), downloads, not outputs. A jar that differs from the cache is searched."""
    if artifacts is None or path.suffix != ".jar":
        return False
    cached = artifacts / path.name
    return cached.is_file() and filecmp.cmp(path, cached, shallow=False)


def file_leaks(home: Path, identifiers: set[str], artifacts: Path | None = None) -> dict[str, int]:
    """Per file outside the graded stores (Delta data files and copies of `artifacts` aside),
    identifiers found in it."""
    found: dict[str, int] = {}
    for path in home.rglob("*"):
        relative = path.relative_to(home)
        if not path.is_file() or is_graded(relative) or path.suffix == ".parquet":
            continue
        if fetched_copy(path, artifacts):
            continue
        data = path.read_bytes()
        if path.suffix == ".zstd":  # Spark's compressed event logs, read as govlake.cluster does
            with event_lines(path) as lines:
                data = lines.read().encode("utf-8")
        if path.suffix in (".xlsx", ".docx", ".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                hits = sum(count_in(archive.read(n), identifiers) for n in archive.namelist())
        else:
            hits = count_in(data, identifiers)
        if hits:
            found[str(relative)] = hits
    return found


def table_leaks(spark, home: Path, identifiers: set[str]) -> dict[str, int]:
    """Per Delta table outside the graded stores, identifiers found in its rows: one Spark
    query over all of them (a job per table cost the e2e test about a second each)."""
    from functools import reduce

    from pyspark.sql import functions as F

    wanted = spark.createDataFrame([(i,) for i in sorted(identifiers)], "_id string")
    token = F.lit(r"(?<![0-9A-Z])([0-9A-Z]{18})(?![0-9A-Z])")
    texts = []
    for log in sorted(home.glob("lakehouse/*/*/_delta_log")):
        location = log.parent
        if is_graded(location.relative_to(home)):
            continue
        rows = spark.read.format("delta").load(str(location))
        # The whole row as JSON, so a number inside a sentence or a struct is found too.
        text = F.upper(F.to_json(F.struct(*[F.col(f"`{c}`") for c in rows.columns])))
        name = F.lit(str(location.relative_to(home)))
        texts.append(rows.select(name.alias("_table"), text.alias("_text")))
    if not texts:
        return {}
    tokens = reduce(lambda a, b: a.unionAll(b), texts).select(
        "_table", F.explode(F.regexp_extract_all("_text", token, F.lit(1))).alias("_id")
    )
    hits = tokens.join(F.broadcast(wanted), "_id").groupBy("_table").count().collect()
    return {r["_table"]: r["count"] for r in hits}


def text_leaks(texts: dict[str, str], identifiers: set[str]) -> dict[str, int]:
    """Per command output (stdout, stderr, error messages), identifiers found in it."""
    counts = {name: count_in(text.encode("utf-8"), identifiers) for name, text in texts.items()}
    return {name: n for name, n in counts.items() if n}
