"""DataFrame assertions for the tests: one equality check that shows both sides when it fails."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row


def assert_frames_equal(
    actual: DataFrame,
    expected: DataFrame | Iterable[Row | tuple | Mapping[str, Any]],
    *,
    ordered: bool = False,
    **options: Any,
) -> None:
    """Assert `actual` holds the rows and columns of `expected`; a failure prints the rows of
    both side by side (pyspark.testing.assertDataFrameEqual), not just "lists differ".

    `expected` may be a DataFrame or rows (Rows, tuples or dicts in `actual`'s column order,
    built with `actual`'s schema). Rows compare in any order unless `ordered`; `options` go to
    assertDataFrameEqual (e.g. ignoreColumnOrder=True, rtol=...).
    """
    from pyspark.sql import DataFrame
    from pyspark.testing import assertDataFrameEqual

    if not isinstance(expected, DataFrame):
        rows = [dict(r) if isinstance(r, Mapping) else r for r in expected]
        expected = actual.sparkSession.createDataFrame(rows, actual.schema)
    assertDataFrameEqual(actual, expected, checkRowOrder=ordered, **options)


POPULATION_SCHEMA = (
    "id_number string, name string, sex string, birth_date date, ethnicity string, "
    "household_address string, division string, marital_status string, death_date date, "
    "social_insurance_status string, provenance map<string,string>, _is_current boolean"
)


def write_population(spark, cfg, people) -> None:
    """base.population from (id_number, name, birth_date, division, _is_current) tuples, the
    other columns filled alike: the governed-access tests read it through masks and filters."""
    from govlake.lakehouse import Table

    rows = [
        (i, n, "1", b, "01", "鄂州市某路1号", d, "20", None, "1", {"name": "psb"}, c)
        for i, n, b, d, c in people
    ]
    frame = spark.createDataFrame(rows, POPULATION_SCHEMA)
    Table.parse("base.population").write(frame, "overwrite", cfg=cfg)
