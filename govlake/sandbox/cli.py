"""`govlake sandbox list | release | releases | export`: the sandbox projects, their releases
(exact or noisy, spending ε) and the re-checked export."""

from __future__ import annotations

import argparse

from govlake.console import console, print_rows
from govlake.settings import settings


def _sandbox():
    from govlake.access.control import AccessControl
    from govlake.sandbox.release import Sandbox
    from govlake.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg)
    return Sandbox(spark, cfg, AccessControl.load(cfg, spark=spark))


def cmd_list(args: argparse.Namespace) -> int:
    sandbox = _sandbox()
    rows = [
        {
            "project": p.name,
            "title": p.title,
            "principal": p.principal,
            "k": p.k,
            "epsilon_spent": sandbox.spent(p.name),
            "epsilon_budget": p.epsilon,
            "overlap_per_day": p.overlap_per_day,
            "tables": ", ".join(p.units),
        }
        for p in sandbox.ac.projects.values()
    ]
    print_rows(rows, args.json, title="Sandbox projects")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    row = _sandbox().release(args.project, args.query, args.epsilon)
    if args.json:
        print_rows([row], True)
        return 0
    noise = f", ε={row['epsilon']:g} spent" if row["epsilon"] else " (exact, groups >= k)"
    console.print(f"released {row['release_id']}: {row['rows']} rows{noise}", highlight=False)
    import json

    print_rows(json.loads(row["result"]), False)
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    keep = ("release_id", "project", "principal", "at", "kind", "epsilon", "rows", "statement")
    from govlake.sandbox.release import recorded_releases

    rows = [{k: r[k] for k in keep} for r in recorded_releases(settings(), args.project)]
    print_rows(rows, args.json, title="Sandbox releases")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    path = _sandbox().export(args.release_id)
    console.print(f"exported {args.release_id} (re-checked) to {path}", highlight=False)
    return 0


def register(add) -> None:
    sandbox = add("sandbox", lambda args: sandbox.print_help() or 2, "the sandbox (可用不可见)")
    listing = add("sandbox list", cmd_list, "projects: k, ε spent of the budget, tables")
    release = add("sandbox release", cmd_release, "release an aggregate (exact, or noisy)")
    release.add_argument("project", help="a project of conf/sandbox/, e.g. health_study")
    release.add_argument("--query", required=True, help="one aggregate SELECT ... GROUP BY")
    release.add_argument(
        "--epsilon", type=float, default=None, help="noisy release spending this ε (PipelineDP)"
    )
    releases = add("sandbox releases", cmd_releases, "the releases of share.sandbox_releases")
    releases.add_argument("project", nargs="?", default=None)
    export = add("sandbox export", cmd_export, "re-check a release and write it as CSV")
    export.add_argument("release_id")
    for parser in (listing, release, releases):
        parser.add_argument("--json", action="store_true")
