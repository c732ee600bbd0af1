"""Great Expectations called directly from task code: a file context in the lakehouse.

The context lives in <lakehouse>/quality/gx so every validation result is kept for Data Docs,
which are built into <lakehouse>/quality/data_docs/. Setting the context up is serialized with
a file lock, as several Airflow tasks validate side by side.
"""

from __future__ import annotations

import copy
import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from jobs.quality.suites import Suite

SITE = "lakehouse"
DATASOURCE = "govlake_spark"
# GX's verdicts and counts without unexpected-value lists: those cost one Spark job per rule
# (35 jobs instead of 7 for the resident table); samples come from our one pass instead.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


def docs_dir(cfg: Settings) -> Path:
    return cfg.lakehouse / "quality" / "data_docs"


@contextmanager
def _locked(cfg: Settings):
    root = cfg.lakehouse / "quality"
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".gx.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_CONTEXTS: dict = {}


def context(cfg: Settings):
    """The lakehouse's GX file context, with a Data Docs site in <lakehouse>/quality/.

    Opened once per process: reading the project's config costs seconds on a busy machine."""
    root = cfg.lakehouse / "quality"
    if root in _CONTEXTS and (root / "gx" / "great_expectations.yml").exists():
        return _CONTEXTS[root]
    import great_expectations as gx

    import jobs.quality.gx_expectations  # noqa: F401  (registers the identifier expectations)

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="file", project_root_dir=str(cfg.lakehouse / "quality"))
    # Progress bars would interleave with the task's own output, once per validation.
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    sites = ctx.get_config().data_docs_sites or {}
    if SITE not in sites:
        ctx.add_data_docs_site(
            site_name=SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir(cfg)),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    _CONTEXTS[root] = ctx
    return ctx


def _definition(cfg: Settings, suite: Suite):
    """Data source, asset, suite and validation definition for the table (added or updated)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    with _locked(cfg):
        ctx = context(cfg)
        source = ctx.data_sources.add_or_update_spark(name=DATASOURCE)
        names = {a.name for a in source.assets}
        asset = (
            source.get_asset(suite.table)
            if suite.table in names
            else source.add_dataframe_asset(name=suite.table)
        )
        batches = {b.name for b in asset.batch_definitions}
        batch = (
            asset.get_batch_definition("batch")
            if "batch" in batches
            else asset.add_batch_definition_whole_dataframe("batch")
        )
        gx_suite = gx.ExpectationSuite(name=suite.table, meta={"file": str(suite.file_path)})
        for rule in suite.expectations:
            config = rule.gx_config()
            config["meta"]["rule"] = rule.name
            gx_suite.add_expectation_configuration(ExpectationConfiguration(**config))
        gx_suite = ctx.suites.add_or_update(gx_suite)
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.table, data=batch, suite=gx_suite)
        )
    return definition


def validate_with_gx(
    cfg: Settings, suite: Suite, df: DataFrame, run_name: str, counts: dict | None = None
) -> dict:
    """Run the suite on the DataFrame; returns GX's result per rule name.

    With `counts` from the row pass (jobs.quality.engine.count_failures), GX's own expectation
    classes judge every rule whose metrics those counts already hold, without computing them
    again in Spark jobs of their own; GX computes the rest from the batch. Either way the
    suite's validation result is stored for Data Docs."""
    from great_expectations.core.run_identifier import RunIdentifier

    definition = _definition(cfg, suite)
    run_id = RunIdentifier(run_name=run_name)
    if counts is None:
        result = definition.run(
            batch_parameters={"dataframe": df}, result_format=RESULT_FORMAT, run_id=run_id
        )
    else:
        result = _run_with_counts(cfg, definition, df, counts, run_id)
    out = {}
    for item in result.results:
        rule = item.expectation_config.meta.get("rule")
        error = (item.exception_info or {}).get("exception_message")
        out[rule] = {"success": bool(item.success), **(item.result or {}), "error": error}
    return out


_MISSING = object()


def _metric_from_counts(name: str, metric, expectation, counts: dict):
    """The value of one GX metric from the row pass, or _MISSING when the pass has none."""
    rule = expectation.meta.get("rule")
    map_metric = getattr(expectation, "map_metric", None)
    if name == "table.row_count":
        return counts["total"]
    if name == "column_values.nonnull.unexpected_count":
        return counts["nulls"].get(metric.metric_domain_kwargs.get("column"), _MISSING)
    if name == f"{map_metric}.unexpected_count":
        return counts["rules"].get(rule, _MISSING)
    if name == "compound_columns.unique.filtered_row_count":
        return counts["present"].get(rule, _MISSING)
    if name == f"{map_metric}.unexpected_values" and _no_values(metric):
        return []  # GX would take the first 0 unexpected values
    return _MISSING


def _no_values(metric) -> bool:
    """Whether a metric asks for no unexpected value at all (our BASIC format without lists)."""
    fmt = metric.metric_value_kwargs.get("result_format") or {}
    basic = fmt.get("result_format") == "BASIC" and not fmt.get("include_unexpected_rows")
    return basic and fmt.get("partial_unexpected_count") == 0


def _from_counts(config, counts: dict, runtime: dict, batch_id: str | None):
    """GX's result for one expectation from the row pass's counts, or None to let GX compute."""
    from jobs.quality.rules import counts_as_gx

    if not counts_as_gx(config.type, config.kwargs):
        return None
    config = copy.deepcopy(config)
    if batch_id:  # as GX's validator does before it evaluates an expectation
        config.kwargs.update({"batch_id": batch_id})
    expectation = config.to_domain_obj()
    needed = expectation.get_validation_dependencies(runtime_configuration=copy.deepcopy(runtime))
    metrics = {}
    for name, metric in needed.metric_configurations.items():
        value = _metric_from_counts(name, metric, expectation, counts)
        if value is _MISSING:
            return None
        metrics[metric.id] = value
    return expectation.metrics_validate(metrics, runtime_configuration=copy.deepcopy(runtime))


def _by_column(configs) -> list[int]:
    """Positions of the expectations in GX's order of evaluation: grouped by column, in the
    order each column first appears (Validator.process_expectations_for_validation)."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        column = config.kwargs.get("column")
        groups.setdefault(column if isinstance(column, str) else "", []).append(i)
    return [i for group in groups.values() for i in group]


def _run_with_counts(cfg: Settings, definition, df: DataFrame, counts: dict, run_id):
    """ValidationDefinition.run, with the metrics the row pass holds handed to GX."""
    import great_expectations as gx
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.v1_validator import Validator
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    validator = Validator(
        batch_definition=definition.batch_definition,
        result_format=RESULT_FORMAT,
        batch_parameters={"dataframe": df},
    )
    runtime = {"result_format": dict(RESULT_FORMAT)}
    configs = definition.suite.expectation_configurations
    batch_id = validator.active_batch_id
    given = {i: _from_counts(c, counts, runtime, batch_id) for i, c in enumerate(configs)}
    rest = [c for i, c in enumerate(configs) if given[i] is None]
    computed = validator.validate_expectation_suite(
        gx.ExpectationSuite(name=definition.suite.name, expectations=rest)
    )
    by_rule = {r.expectation_config.meta.get("rule"): r for r in computed.results}
    results = [given[i] or by_rule[configs[i].meta.get("rule")] for i in _by_column(configs)]
    stats = calc_validation_statistics(results)
    result = ExpectationSuiteValidationResult(
        results=results,
        success=stats.success,
        suite_name=definition.suite.name,
        statistics={
            "evaluated_expectations": stats.evaluated_expectations,
            "successful_expectations": stats.successful_expectations,
            "unsuccessful_expectations": stats.unsuccessful_expectations,
            "success_percent": stats.success_percent,
        },
        meta={
            **computed.meta,
            "validation_id": definition.id,
            "checkpoint_id": None,
            "run_id": run_id,
            "validation_time": run_id.run_time,
            "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR},
        },
        batch_id=computed.batch_id,
    )
    suite_id = ExpectationSuiteIdentifier(name=definition.suite.name)
    context(cfg).validation_results_store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=ValidationResultIdentifier(
            batch_identifier=batch_id,
            expectation_suite_identifier=suite_id,
            run_id=run_id,
        ),
        expectation_suite_identifier=suite_id,
    )
    return result


def build_data_docs(cfg: Settings) -> Path:
    """Build GX Data Docs of every kept validation result; returns the index.html path."""
    with _locked(cfg):
        ctx = context(cfg)
        ctx.build_data_docs(site_names=[SITE])
    return docs_dir(cfg) / "index.html"
