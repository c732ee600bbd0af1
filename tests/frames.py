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
