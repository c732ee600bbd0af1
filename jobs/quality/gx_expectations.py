"""Identifier rules as real Great Expectations expectations, usable from any GX suite.

Each expectation is a ColumnMapExpectation whose metric is computed on Spark by the same
column expressions the pipeline uses (jobs.identifiers), so a suite and a library build can
never disagree about what a valid ID number, credit code or certificate identifier is.
Importing this module registers the expectations with GX (by their snake_case names, e.g.
`expect_column_values_to_be_valid_ric`).
"""

from __future__ import annotations

from typing import ClassVar

from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from jobs import identifiers


class ColumnValuesValidRic(ColumnMapMetricProvider):
    """True per row whose value is a valid GB 11643 ID number (居民身份证号码)."""

    condition_metric_name = "column_values.valid_ric"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return identifiers.passes_or_blank(identifiers.ric_check(column))


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    """True per row whose value is a valid GB 32100 credit code (统一社会信用代码)."""

    condition_metric_name = "column_values.valid_uscc"
    condition_value_keys = ("check_org_code",)

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, check_org_code=False, **kwargs):
        check = identifiers.uscc_check(column, check_org_code=bool(check_org_code))
        return identifiers.passes_or_blank(check)


class ColumnValuesValidCert(ColumnMapMetricProvider):
    """True per row whose value is a valid GB/T 36904 e-certificate identifier (电子证照标识)."""

    condition_metric_name = "column_values.valid_cert"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return identifiers.passes_or_blank(identifiers.cert_check(column))


class ColumnValuesValidUnitCode(ColumnMapMetricProvider):
    """True per row whose value is a valid GB/T 37346 real-estate unit code of Ezhou."""

    condition_metric_name = "column_values.valid_unit_code"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return identifiers.passes_or_blank(identifiers.unit_code_check(column))


class ColumnValuesValidDate(ColumnMapMetricProvider):
    """True per row whose value is a real date in a format departments use (NULL passes)."""

    condition_metric_name = "column_values.valid_date"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        from jobs.standardize import date_or_blank

        return date_or_blank(column)


class ExpectColumnValuesToBeValidDate(ColumnMapExpectation):
    """Expect column values to be real dates (2023-02-30 is not) in any format departments use:
    the same parsing the base libraries apply (jobs.standardize.parse_date)."""

    map_metric = "column_values.valid_date"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["govlake", "date"], "contributors": []}


class ExpectColumnValuesToBeValidRic(ColumnMapExpectation):
    """Expect column values to be valid GB 11643 ID numbers (checksum, birth date, province)."""

    map_metric = "column_values.valid_ric"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["govlake", "identifier"], "contributors": []}


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect column values to be valid GB 32100 unified social credit codes."""

    check_org_code: bool = False
    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly", "check_org_code")
    library_metadata: ClassVar[dict] = {"tags": ["govlake", "identifier"], "contributors": []}


class ExpectColumnValuesToBeValidCert(ColumnMapExpectation):
    """Expect column values to be valid GB/T 36904 electronic certificate identifiers."""

    map_metric = "column_values.valid_cert"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["govlake", "identifier"], "contributors": []}


class ExpectColumnValuesToBeValidUnitCode(ColumnMapExpectation):
    """Expect column values to be valid GB/T 37346 real-estate unit codes (不动产单元代码) of
    one of Ezhou's districts."""

    map_metric = "column_values.valid_unit_code"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["govlake", "identifier"], "contributors": []}


IDENTIFIER_EXPECTATIONS = {
    "ric": "expect_column_values_to_be_valid_ric",
    "uscc": "expect_column_values_to_be_valid_uscc",
    "cert": "expect_column_values_to_be_valid_cert",
    "unit_code": "expect_column_values_to_be_valid_unit_code",
}
