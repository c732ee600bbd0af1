"""Great Expectations called directly from task code: a file context in the lakehouse.

The context lives in <lakehouse>/quality/gx so every validation result is kept for Data Docs,
which are built into <lakehouse>/quality/data_docs/. Setting the context up is serialized with
a file lock, as several Airflow tasks validate side by side.
"""

from __future__ import annotations

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


def validate_with_gx(cfg: Settings, suite: Suite, df: DataFrame, run_name: str) -> dict:
    """Run the suite on the DataFrame; returns GX's result per rule name."""
    from great_expectations.core.run_identifier import RunIdentifier

    definition = _definition(cfg, suite)
    result = definition.run(
        batch_parameters={"dataframe": df},
        result_format=RESULT_FORMAT,
        run_id=RunIdentifier(run_name=run_name),
    )
    out = {}
    for item in result.results:
        rule = item.expectation_config.meta.get("rule")
        error = (item.exception_info or {}).get("exception_message")
        out[rule] = {"success": bool(item.success), **(item.result or {}), "error": error}
    return out


def build_data_docs(cfg: Settings) -> Path:
    """Build GX Data Docs of every kept validation result; returns the index.html path."""
    with _locked(cfg):
        ctx = context(cfg)
        ctx.build_data_docs(site_names=[SITE])
    return docs_dir(cfg) / "index.html"
