"""`govlake demo`: sample sources for Ezhou, then the real nightly DAGs through Airflow."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from govlake.libraries import build_order, load_libraries
from govlake.owned import BALANCED, NOT_COPIED
from govlake.settings import Settings, settings
from govlake.site import site_dir
from govlake.sources import load_sources
from govlake.themes import load_themes
from govlake.warehouse.config import load_apps

NIGHTLY_DAG = "ezhou_nightly"
LEDGER_DAG = "ezhou_ledger"
THEME_PREFIX = "theme__"


def ensure_sample_sources(cfg: Settings, persons: int, day: dt.date, console: Console) -> dict:
    """Generate the sample sources unless the same size and date are already there."""
    manifest_file = cfg.sources_root / "manifest.json"
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        # A sample written before a source was configured lacks it: generate again.
        complete = {s.system for s in load_sources()} <= set(manifest.get("sources", {}))
        same = manifest.get("persons") == persons and manifest.get("logical_date") == str(day)
        if same and complete:
            console.print(
                f"Sample sources for {persons} persons on {day} already in {cfg.sources_root}"
            )
            return manifest
    from govlake.sample import generate_sources

    with console.status(f"Generating Ezhou sample sources for {persons} persons on {day} ..."):
        started = time.monotonic()
        manifest = generate_sources(cfg.sources_root, persons, day).to_dict()
    console.print(
        f"Generated sample sources in {time.monotonic() - started:.1f}s: {cfg.sources_root}"
    )
    return manifest


def run_nightly(day: dt.date, console: Console) -> list:
    """Run every source DAG, the nightly landing DAG, the libraries and themes, then the
    requests and approvals the applications' warehouses rest on, the app DAGs, and the ledger
    last (its catalog and site describe all of it), in this process via dag.test."""
    from govlake.orchestration import prepare_airflow

    with console.status("Preparing Airflow (metadata DB, DAG serialization) ..."):
        ready = prepare_airflow()
    console.print(
        f"Airflow ready in {ready.seconds}s, {len(ready.dag_ids)} DAGs; log: {ready.log_file}"
    )
    libraries = [f"{lib.database}__{lib.library}" for lib in build_order(load_libraries())]
    themes = [theme_dag_id(t.theme) for t in load_themes()]  # build order: a model after its inputs
    sources = [f"ods__{s.system}" for s in load_sources()]
    apps = [f"app__{a.name}" for a in load_apps()]
    collect = [*sources, NIGHTLY_DAG, *libraries, *themes]
    total = len(collect) + len(apps) + 1
    outcomes = run_dags(collect, day, console, 1, total)
    if all(o.succeeded for o in outcomes):
        print_requests(day, console)  # the warehouses rest on approved requests
        outcomes += run_dags(apps, day, console, len(collect) + 1, total)
        print_sandbox_release(console)
    return outcomes + run_dags([LEDGER_DAG], day, console, total, total)


def print_sandbox_release(console: Console) -> None:
    """The sandbox project's noisy statistic (可用不可见), released once and exported."""
    from govlake.sandbox.release import DEMO_PROJECT, demo_release
    from govlake.spark import get_spark

    cfg = settings()
    with console.status(f"Sandbox {DEMO_PROJECT}: a noisy release (PipelineDP) ..."):
        row, path = demo_release(get_spark(cfg), cfg)
    console.print(
        f"Sandbox {DEMO_PROJECT}: release {row['release_id']} (ε {row['epsilon']}) of "
        f"`{row['statement']}`, exported to {path}",
        highlight=False,
    )


def run_dags(dag_ids: list[str], day: dt.date, console: Console, first: int, total: int) -> list:
    """Each DAG by dag.test in order, numbered from `first` of `total`, with its outcome."""
    from govlake.orchestration import run_dag

    outcomes = []
    for number, dag_id in enumerate(dag_ids, start=first):
        with console.status(f"[{number}/{total}] airflow dag.test {dag_id} {day} ..."):
            outcome = run_dag(dag_id, day)
        mark = "[green]success[/]" if outcome.succeeded else f"[red]{outcome.state}[/]"
        console.print(f"[{number}/{total}] {dag_id}: {mark} in {outcome.seconds:.1f}s")
        for task in outcome.tasks.values():
            if task.error:
                console.print(f"    {task.task_id}: {task.error}", highlight=False)
        outcomes.append(outcome)
    return outcomes


def print_requests(day: dt.date, console: Console) -> None:
    """File and approve the applications' warehouse requests (or find them from a first run)."""
    from govlake.demo_use import request_warehouses
    from govlake.spark import get_spark

    cfg = settings()
    with console.status("Requests for the applications' warehouses (申请受理, 审核授权) ..."):
        rows = request_warehouses(get_spark(cfg), cfg, day)
    columns = ("app", "resource", "request_id", "state", "items", "period", "this_run")
    table = Table(title="Warehouse requests (govlake share list)")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)


def theme_dag_id(theme: str) -> str:
    return f"{THEME_PREFIX}{theme}"


def theme_rows(outcomes: list) -> list[dict]:
    """What each theme build of the night did (its task's return value): rows, mode, why."""
    rows = []
    for outcome in outcomes:
        if not outcome.dag_id.startswith(THEME_PREFIX):
            continue
        name = outcome.dag_id.removeprefix(THEME_PREFIX)
        task = outcome.tasks.get(f"build_{name}")
        built = (task.xcom if task else None) or {}
        rows.append(
            {
                "theme": f"theme.{name}",
                "status": outcome.state,
                "rows": built.get("rows"),
                "changed_keys": built.get("changed_keys"),
                "removed_keys": built.get("removed_keys"),
                "build": built.get("build"),  # unchanged, incremental (per key) or full
                "mode": built.get("mode"),
                "refresh": built.get("refresh"),
                "delta_version": built.get("delta_version"),
                "seconds": outcome.seconds,
                "reason": built.get("reason"),
            }
        )
    return rows


def print_themes(rows: list[dict], day: dt.date, console: Console) -> None:
    if not rows:
        return
    table = Table(title=f"Theme libraries (主题库), night of {day}")
    columns = [c for c in rows[0] if c != "reason"]  # a sentence: printed under the table
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row[c] is None else str(row[c]) for c in columns])
    console.print(table)
    for row in rows:
        why = row["reason"] or f"not built ({row['status']}): its task's error is above"
        console.print(f"  {row['theme']}: {why}", highlight=False)
    seconds = sum(r["seconds"] for r in rows)
    console.print(
        f"Themes built in {seconds:.1f}s. Query them: "
        'govlake sql "SELECT * FROM theme.person_profile LIMIT 1" '
        "(analyst queries: libraries/themes/README.md)"
    )


def summary_rows(day: dt.date) -> list[dict]:
    """Latest load of every configured table for the night, from ops.load_runs."""
    from govlake.spark import get_spark
    from jobs.ops import latest_runs

    cfg = settings()
    spark = get_spark(cfg)
    runs = latest_runs(spark, cfg, day)
    rows = []
    for source in load_sources():
        for spec in source.tables:
            run = runs.get(source.ods_table(spec), {})
            rows.append(
                {
                    "table": source.ods_table(spec),
                    "mode": source.mode,
                    "status": run.get("status", "not loaded"),
                    "read": run.get("rows_read"),
                    "written": run.get("rows_written"),
                    "rejected": run.get("rows_rejected"),
                    "quarantined": run.get("rows_quarantined"),
                    # Not data: title rows above a header, total rows listed in drop_rows.
                    "dropped": run.get("rows_dropped"),
                    # A logical source is never copied: its balance is n/a, not True.
                    "balanced": run.get("balance") or run.get("balanced"),
                    "in_source": run.get("source_rows"),
                }
            )
    return rows


def print_summary(rows: list[dict], day: dt.date, console: Console) -> bool:
    table = Table(title=f"Nightly collection into ods, batch {day}")
    for column in rows[0]:
        table.add_column(
            column,
            justify="right"
            if column in ("read", "written", "rejected", "quarantined", "dropped")
            else "left",
        )
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(table)
    copied = [r for r in rows if r["balanced"] != NOT_COPIED]  # n/a: no failure, not counted
    ok = all(r["status"] in ("success", "unchanged", "registered") for r in rows)
    ok = ok and all(r["balanced"] in (True, BALANCED) for r in copied)
    read = sum(r["read"] or 0 for r in copied)
    written = sum(r["written"] or 0 for r in copied)
    rejected = sum(r["rejected"] or 0 for r in copied)
    quarantined = sum(r["quarantined"] or 0 for r in copied)
    dropped = sum(r.get("dropped") or 0 for r in copied)
    balanced = ok and read == written + rejected + quarantined + dropped
    verdict = "[green]balanced[/]" if balanced else "[red]NOT balanced[/]"
    shown = f" + dropped {dropped}" if dropped else ""
    console.print(
        f"Rows read {read} = written {written} + rejected {rejected} + quarantined {quarantined}"
        f"{shown}: {verdict}"
    )
    console.print(
        'Query it: govlake tables | govlake sql "SELECT * FROM ods.psb_hukou__hj_resident LIMIT 5"'
    )
    return ok


def library_rows(day: dt.date) -> list[dict]:
    """Latest build of each library for the night, per input, from ops.library_runs."""
    from govlake.lakehouse import Table
    from govlake.spark import get_spark

    cfg = settings()
    runs = Table("ops", "library_runs").read_if_exists(get_spark(cfg), cfg)
    if runs is None:
        return []
    runs = runs.where(f"batch_date = DATE'{day}'")
    latest = (
        runs.groupBy("library")
        .agg({"finished_at": "max"})
        .withColumnRenamed("max(finished_at)", "f")
    )
    rows = (
        runs.join(latest, "library").where("finished_at = f").orderBy("library", "input").collect()
    )
    keep = ("library", "input", "department", "rows_in", "standardized", "quarantined", "keys")
    extra = ("changed_keys", "conflicts", "build_mode", "note")
    return [{k: r[k] for k in (*keep, *extra)} for r in rows]


def print_libraries(rows: list[dict], day: dt.date, console: Console) -> None:
    if not rows:
        return
    table = Table(title=f"Base libraries, night of {day}")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(table)


def print_ground_truth(console: Console) -> bool:
    """Compare quarantine and conflicts with the generator's per-row ground truth, for the
    inputs the generator wrote (a department a user added has no ground truth: named, skipped)."""
    from govlake.sample import truth
    from govlake.sample.manifest import Manifest, read_defect_rows
    from govlake.spark import get_spark

    cfg = settings()
    spark, defects = get_spark(cfg), read_defect_rows(cfg.sources_root)
    generated = Manifest.load(cfg.sources_root / "manifest.json").sources
    agree = True
    for lib in load_libraries():
        inputs = truth.generated_inputs(lib, generated)
        counts = []
        for what, expected, recorded in (
            ("quarantined", truth.expected_quarantine, truth.recorded_quarantine),
            ("conflicts", truth.expected_conflicts, truth.recorded_conflicts),
        ):
            want = expected(spark, cfg, lib, defects, inputs)
            got = recorded(spark, cfg, lib, inputs)
            agree &= want == got
            counts.append(f"{what} {len(got)} of {len(want)} planted")
        console.print(f"{lib.table}: " + ", ".join(counts), highlight=False)
        if skipped := sorted(set(lib.inputs) - inputs):
            console.print(
                f"  not compared (not written by the generator, no ground truth): "
                f"{', '.join(skipped)}; conflicts involving them are left out",
                highlight=False,
            )
    verdict = "[green]agree[/]" if agree else "[red]DO NOT agree[/]"
    console.print(
        f"Quarantine and conflicts of the generated inputs vs the generator's defects.jsonl: "
        f"{verdict}"
    )
    return agree


@contextmanager
def sample_interfaces(cfg: Settings, console: Console) -> Iterator[None]:
    """Serve the sample HTTP JSON interfaces (format: api, the 双公示 of ndrc_sgs) from the
    generated files while the night runs, with a token made for this run, and point each
    interface source's connection at it (AIRFLOW_CONN_<ID>, restored afterwards)."""
    import os
    import secrets

    from govlake.sample.api_server import ApiServer

    conn_ids = {s.location.conn_id for s in load_sources() if any(t.is_api for t in s.tables)}
    if not conn_ids:
        yield
        return
    server = ApiServer(cfg.sources_root, secrets.token_urlsafe(24))
    names = [f"AIRFLOW_CONN_{c.upper()}" for c in sorted(conn_ids)]
    before = {n: os.environ.get(n) for n in names}
    console.print(f"Sample 双公示 interface at {server.start()} (token made for this run)")
    os.environ.update(dict.fromkeys(names, server.connection_uri()))
    try:
        yield
    finally:
        server.stop()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        console.print(f"Sample 双公示 interface stopped after {len(server.requests)} requests")


def write_report(path: Path, cfg: Settings, persons: int, day: dt.date, outcomes: list, ok: bool):
    """The night's outcome per DAG as JSON, for scripts and benchmarks (no table values)."""
    report = {
        "env": cfg.env,
        "spark_master": cfg.spark_master,
        "persons": persons,
        "logical_date": str(day),
        "ok": ok,
        "dags": [{"dag_id": o.dag_id, "state": o.state, "seconds": o.seconds} for o in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")


def run_demo(
    persons: int | None, day: dt.date | None, console: Console, report: Path | None = None
) -> int:
    cfg = settings()
    persons = persons or cfg.demo_persons
    day = day or cfg.demo_logical_date
    ensure_sample_sources(cfg, persons, day, console)
    with sample_interfaces(cfg, console):
        outcomes = run_nightly(day, console)
    ok = print_summary(summary_rows(day), day, console)
    print_libraries(library_rows(day), day, console)
    print_themes(theme_rows(outcomes), day, console)
    ok &= print_ground_truth(console) and all(o.succeeded for o in outcomes)
    if report:
        write_report(report, cfg, persons, day, outcomes, ok)
    from jobs.quality.gx_run import docs_dir

    console.print(f"Quality: `govlake quality`; GX Data Docs: {docs_dir(cfg) / 'index.html'}")
    console.print(f"Ledger site (一本账): {site_dir(cfg) / 'index.html'} (or `govlake docs serve`)")
    return 0 if ok else 1
