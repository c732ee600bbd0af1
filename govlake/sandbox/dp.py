"""A noisy release computed by PipelineDP's Spark backend: count, sum and mean per group, one
row per person contributing to one group (contribution bounds), groups chosen privately with a
pre-threshold of k units, all within the ε and δ given."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from govlake.sandbox.config import Project
    from govlake.sandbox.rules import SandboxQuery


def noisy_rows(rows: DataFrame, query: SandboxQuery, project: Project, epsilon: float):
    """The released rows (group values, then the noisy metrics) of `rows`, whose columns are
    __unit, __g0.., __v0 (govlake.sandbox.rules.release_rows)."""
    import pipeline_dp

    groups = len(query.groups)
    value = _value_column(query)
    params = _params(query, project, value, pipeline_dp)
    rdd = rows.rdd.map(tuple).filter(lambda r: r[0] is not None)
    if value is not None:
        rdd = rdd.filter(lambda r: r[-1] is not None)
    extractors = pipeline_dp.DataExtractors(
        privacy_id_extractor=lambda r: r[0],
        partition_extractor=lambda r: tuple(r[1 : 1 + groups]),
        value_extractor=(lambda r: float(r[-1])) if value is not None else (lambda r: 0.0),
    )
    accountant = pipeline_dp.NaiveBudgetAccountant(total_epsilon=epsilon, total_delta=project.delta)
    engine = pipeline_dp.DPEngine(
        accountant, pipeline_dp.SparkRDDBackend(rows.sparkSession.sparkContext)
    )
    # Without GROUP BY the one partition is public: nothing is learnt from its presence.
    public = [()] if groups == 0 else None
    result = engine.aggregate(rdd, params, extractors, public_partitions=public)
    accountant.compute_budgets()
    return [_row(key, metrics, query) for key, metrics in by_group(result.collect())]


def by_group(released: list) -> list:
    """(group key, metrics) pairs in group order; a NULL in a key (a resident without a
    district) sorts after the values, where Python's own order would raise a TypeError."""
    return sorted(released, key=lambda kv: [(v is None, "" if v is None else v) for v in kv[0]])


def _value_column(query: SandboxQuery) -> str | None:
    return next((column for _, _, column in query.metrics if column), None)


def _params(query: SandboxQuery, project: Project, value: str | None, pipeline_dp):
    kinds = {
        "count": pipeline_dp.Metrics.COUNT,
        "sum": pipeline_dp.Metrics.SUM,
        "mean": pipeline_dp.Metrics.MEAN,
    }
    lo, hi = project.bounds[value] if value is not None else (0.0, 1.0)
    return pipeline_dp.AggregateParams(
        metrics=list(dict.fromkeys(kinds[m] for _, m, _ in query.metrics)),
        noise_kind=pipeline_dp.NoiseKind.LAPLACE,
        max_partitions_contributed=1,
        max_contributions_per_partition=1,
        min_value=lo,
        max_value=hi,
        pre_threshold=project.k if query.groups else None,
    )


def _row(key: tuple, metrics, query: SandboxQuery) -> dict:
    row = dict(zip(query.groups, key, strict=True))
    for name, metric, _slot in query.metrics:
        number = getattr(metrics, metric)
        row[name] = round(number) if metric == "count" else round(number, 2)
    return row
