"""Kill harness (issue 17 item 1): SIGKILL the night inside its writes, then check and rerun.

Usage: python -m benchmarks.faults [--kills 60] [--persons 300] [--seed 17] [--per-round 15]
                                   [--nights 2]

A child process runs the night's tasks (loads, landing, library builds, catalog, feedback,
ledger site) in one Spark JVM. Every Delta write it makes (Table.write, and each MERGE) is
announced on stdout and waits for the parent's go-ahead, before and after, so the parent can
snapshot the table with delta-rs (an independent reader, no JVM) and kill the child inside a
chosen write: after the go-ahead, at a seeded random delay within the write's duration in a
clean night. After each kill the parent checks every table (opens at a committed version,
data files present; the killed table at the version before or after the write, with the clean
night's row count for that state) and the run records (a killed load reads as abandoned),
then restarts the night from the killed task in a new child. After each night: every load
balances, counted independently (read = ods rows of the batch + rejected + quarantined +
dropped), and each table holds the clean night's rows (append-only run records excepted).
With --nights 2 the killed night is the second: a first night runs once, unkilled, then a 1%
increment of the sources (benchmarks.libraries' next night), and every killed night starts from a
copy of the first night's lakehouse. Only a second night makes library MERGEs, ods appends over
an existing partition and catalog updates of existing entries.
Figures go to stdout and benchmarks/results/faults-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

DAY = dt.date(2026, 11, 25)
RUNS = "ops.load_runs"
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
# Run records a rerun appends to (each run is kept); every other table must hold exactly the
# clean night's rows after a killed night is rerun.
AUDIT_TABLES = {"ops.load_runs", "ops.library_runs", "lineage.column_edges", "quality.results"}


# -- the child: runs the night's tasks and announces each write -------------------------------


def night_tasks(only: str | None = None) -> list:
    """The night's tasks in order, without themes and application warehouses (not in the
    issue's list of writes) and the file-only ledger steps other than the site; with `only`
    (comma-separated dag id prefixes), just the tasks of those DAGs."""
    from govlake.libraries import build_order, load_libraries
    from govlake.tasks import all_tasks, landing_task, ledger_steps, library_task

    loads = [t for t in all_tasks() if t.dag_id.startswith("ods__")]
    builds = [library_task(lib) for lib in build_order(load_libraries())]
    ledger = [
        t
        for t in ledger_steps()
        if t.task_id in ("publish_catalog", "publish_feedback", "build_site")
    ]
    tasks = [*loads, landing_task(), *builds, *ledger]
    if not only:
        return tasks
    return [t for t in tasks if t.dag_id.startswith(tuple(only.split(",")))]


class Announcer:
    """Wraps Table.write and DeltaMergeBuilder.execute: WRITE/WROTE lines, each acknowledged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.task = -1
        self.ordinal = 0
        # Per thread: the table whose Delta handle a MERGE runs on (publish_feedback's steps
        # run in threads; another thread's Table.delta must not rename this thread's MERGE).
        self.local = threading.local()

    def say(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            sys.stdin.readline()

    def around(self, table: str, kind: str, write):
        with self.lock:
            self.ordinal += 1
            n = self.ordinal
        self.say(f"WRITE {self.task} {n} {table} {kind}")
        result = write()
        self.say(f"WROTE {self.task} {n} {table}")
        return result

    def install(self) -> None:
        from delta.tables import DeltaMergeBuilder

        from govlake.lakehouse import Table

        announcer, table_write, table_delta = self, Table.write, Table.delta
        merge_execute = DeltaMergeBuilder.execute

        def write(self, df, mode="append", *args, **kwargs):
            call = lambda: table_write(self, df, mode, *args, **kwargs)  # noqa: E731
            return announcer.around(self.qualified, mode, call)

        def delta(self, *args, **kwargs):
            announcer.local.table = self.qualified
            return table_delta(self, *args, **kwargs)

        def execute(self):
            call = lambda: merge_execute(self)  # noqa: E731
            return announcer.around(getattr(announcer.local, "table", "?"), "merge", call)

        Table.write, Table.delta, DeltaMergeBuilder.execute = write, delta, execute
        self.install_append()

    def install_append(self) -> None:
        """Run records are appended by delta-rs once their table exists, small batches replaced
        by it: kill points too."""
        from govlake import lakehouse

        announcer, append = self, lakehouse.append_without_jvm

        def append_rows(table, rows, cfg=None):
            call = lambda: append(table, rows, cfg)  # noqa: E731
            if lakehouse.open_without_jvm(table, cfg) is None:
                return call()  # falls back to Table.write, which announces itself
            return announcer.around(table.qualified, "append", call)

        lakehouse.append_without_jvm = append_rows
        replace = lakehouse.replace_without_jvm

        def replace_rows(table, df, where, cfg=None, **kwargs):
            # Small batches and set-aside rows are replaced, and their tables created, by
            # delta-rs: kill points too (one that falls back to Table.write announces again).
            call = lambda: replace(table, df, where, cfg, **kwargs)  # noqa: E731
            return announcer.around(table.qualified, "replace", call)

        lakehouse.replace_without_jvm = replace_rows


def child(first: int, run_id: str, only: str | None, day: dt.date = DAY) -> None:
    """Run the night from task `first`; protocol lines on stdout, everything else on stderr."""
    protocol = sys.stdout
    sys.stdout = sys.stderr  # jobs that print must not break the protocol
    announcer = Announcer()
    announcer_stdout = protocol

    def say(line: str) -> None:
        with announcer.lock:
            announcer_stdout.write(line + "\n")
            announcer_stdout.flush()
            sys.stdin.readline()

    announcer.say = say
    announcer.install()
    from govlake.spark import get_spark

    get_spark()
    tasks = night_tasks(only)
    for i in range(first, len(tasks)):
        announcer.task, announcer.ordinal = i, 0  # writes numbered within their task
        say(f"TASK {i} {tasks[i].dag_id}.{tasks[i].task_id}")
        started = time.monotonic()
        try:
            tasks[i].run(day, run_id)
        except Exception as exc:  # a task of a clean night may fail (a source down): recorded
            say(f"FAILED {i} {type(exc).__name__}: {str(exc)[:300]!r}")
        say(f"ENDED {i} {time.monotonic() - started:.2f}")
    say("NIGHT_DONE")


# -- the parent: reader, killer and judge ------------------------------------------------------


def mean(values) -> float | None:
    values = list(values)
    return round(fmean(values), 2) if values else None


def kind_of(table: str, mode: str) -> str:
    """The write kind of the issue's list that a write of `table` belongs to."""
    database, _, name = table.partition(".")
    if database == "ods":
        return "ods replace" if mode == "overwrite" else "ods append"
    named = {
        "ops.rejected_rows": "rejected rows",
        "ops.dropped_rows": "rejected rows",
        "ops.load_runs": "run records",
        "ops.library_runs": "run records",
        "ops.nightly_landing": "run records",
        "quality.results": "quality results",
        "quality.failed_rows": "quality failed rows",
        "quality.problems": "problem tracking",
        "base.conflicts": "library findings",
    }
    if table in named:
        return named[table]
    if database == "base":
        return "library MERGE" if mode == "merge" else "library write"
    if database in ("std", "quarantine"):
        return "std and findings slices"
    if database == "catalog":
        return "catalog SCD2"
    if database == "quality":
        return "quality scores"
    return database


@dataclass
class Write:
    task: int
    ordinal: int
    table: str
    kind: str
    before: tuple | None = None
    after: tuple | None = None
    seconds: float = 0.0
    # The how-many-th write of this table in its task: ordinals follow arrival, and a task whose
    # steps write from threads (publish_feedback) interleaves them differently each night.
    occurrence: int = 1


@dataclass
class Night:
    """One night run from start to end through kills; what each child saw."""

    home: Path
    sources: Path
    run_id: str
    only: str | None = None
    day: dt.date = DAY
    writes: list[Write] = field(default_factory=list)
    task_names: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    task_seconds: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0

    def note(self, word: str, rest: list[str]) -> None:
        """A TASK, ENDED or FAILED line of the child."""
        task = int(rest[0])
        if word == "TASK":
            self.task_names[task] = rest[1]
        elif word == "ENDED":
            self.task_seconds[task] = float(rest[1])
        else:
            self.failed[task] = " ".join(rest[1:])

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            GOVLAKE_ENV="test",
            GOVLAKE_LAKEHOUSE=str(self.home / "lakehouse"),
            GOVLAKE_SOURCES=str(self.sources),
            AIRFLOW_HOME=str(self.home / "airflow"),
            PYTHONPATH=str(ROOT),
        )
        return env

    @property
    def cfg(self):
        from govlake.settings import settings

        os.environ["GOVLAKE_LAKEHOUSE"] = str(self.home / "lakehouse")
        os.environ["GOVLAKE_SOURCES"] = str(self.sources)
        settings.cache_clear()
        return settings()


def size(table: str, cfg) -> tuple | None:
    from govlake.lakehouse import Table, size_without_jvm

    return size_without_jvm(Table.parse(table), cfg)


def run_child(night: Night, first: int, target=None, reference=False) -> dict | None:
    """Run the night from task `first`; kill it at `target` (task, ordinal, delay) if given.
    Returns what the kill hit, or None when the night ran to its end."""
    cfg = night.cfg
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.faults",
            "--child",
            str(first),
            "--run-id",
            night.run_id,
            *(["--only", night.only] if night.only else []),
            *["--day", night.day.isoformat()],
        ],
        cwd=ROOT,
        env=night.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(night.home / "child.log", "a"),  # noqa: SIM115
        text=True,
        bufsize=1,
    )
    open_writes: dict[int, Write] = {}
    seen: Counter = Counter()
    try:
        for line in proc.stdout:
            word, *rest = line.split()
            if word in ("TASK", "ENDED", "FAILED"):
                night.note(word, rest)
            elif word == "WRITE":
                task, n, table, mode = int(rest[0]), int(rest[1]), rest[2], rest[3]
                seen[task, table] += 1
                w = Write(task, n, table, kind_of(table, mode), before=size(table, cfg))
                w.occurrence = seen[task, table]
                w.seconds = time.monotonic()
                open_writes[n] = w
                # At the target, or the first write after it when a rerun writes less.
                if target and (task, n) >= target[:2]:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    time.sleep(target[2])
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return {"write": w, "delay": target[2]}
            elif word == "WROTE":
                w = open_writes.pop(int(rest[1]))
                w.seconds = time.monotonic() - w.seconds
                if reference:
                    w.after = size(w.table, cfg)
                night.writes.append(w)
            elif word == "NIGHT_DONE":
                proc.stdin.write("go\n")
                proc.stdin.flush()
                proc.wait()
                return None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        raise RuntimeError(f"the child died on its own: see {night.home / 'child.log'}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def all_sizes(cfg) -> dict[str, tuple]:
    from govlake.lakehouse import listed_tables, size_without_jvm

    return {t.qualified: size_without_jvm(t, cfg) for t in listed_tables(cfg)}


def committed_and_whole(cfg) -> list[str]:
    """Tables that fail to open at a committed version or miss a data file their log names."""
    from govlake.lakehouse import listed_tables, open_without_jvm

    problems = []
    for table in listed_tables(cfg):
        try:
            opened = open_without_jvm(table, cfg)
            if opened is None:
                continue
            missing = [
                f for f in opened.file_uris() if not Path(f.removeprefix("file://")).exists()
            ]
            if missing:
                problems.append(f"{table.qualified}: {len(missing)} data file(s) missing")
        except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
            problems.append(f"{table.qualified}: does not open: {exc}")
    return problems


def check_kill(hit: dict, night: Night, reference: dict) -> list[str]:
    """After a kill: all tables committed and whole; the killed table before or after the write,
    with the clean night's rows for that state; a killed load's run reads as abandoned."""
    cfg = night.cfg
    w: Write = hit["write"]
    problems = committed_and_whole(cfg)
    now = size(w.table, cfg)
    before = w.before
    if now != before:
        version_ok = before is None and now is not None or now[0] == before[0] + 1
        if not version_ok:
            problems.append(f"{w.table}: version {before} -> {now}, not one commit")
        ref = reference.get((w.task, w.table, w.occurrence))
        if ref and ref.before == before and ref.after and now[1] != ref.after[1]:
            problems.append(f"{w.table}: {now[1]} rows after the write, clean night {ref.after[1]}")
    name = night.task_names.get(w.task, "")
    if ".load_" in name and w.table != "ops.load_runs":
        from jobs.ops import latest_runs_without_jvm

        ods = "ods." + name.split(".")[0].removeprefix("ods__") + "__" + name.split(".load_")[-1]
        run = latest_runs_without_jvm(cfg).get(ods)
        if run is None or run["status"] != "abandoned":
            problems.append(f"{ods}: killed load reads {run and run['status']}, not abandoned")
    return problems


def balances(cfg) -> list[str]:
    """Every load's latest committed run balances, each side counted here by delta-rs."""
    from govlake.lakehouse import Table, query_without_jvm
    from jobs.ops import latest_runs_without_jvm

    problems = []
    for ods, run in latest_runs_without_jvm(cfg).items():
        if run["mode"] != "physical":
            continue
        if run["status"] not in ("success", "unchanged"):
            problems.append(f"{ods}: latest run {run['status']}: {run.get('error')}")
            continue
        day = f"DATE '{run['batch_date']}'"
        written = query_without_jvm(
            f"SELECT count(*) AS n FROM t WHERE _batch_date = {day}", {"t": Table.parse(ods)}, cfg
        )[0]["n"]
        where = (
            f"source_system = '{run['source_system']}' AND table_name = '{run['table_name']}' "
            f"AND batch_date = {day}"
        )
        aside = 0
        for name in ("ops.rejected_rows", "ops.dropped_rows"):
            rows = query_without_jvm(
                f"SELECT count(*) AS n FROM t WHERE {where}", {"t": Table.parse(name)}, cfg
            )
            aside += rows[0]["n"] if rows else 0
        held = written + aside + (run["rows_quarantined"] or 0)
        if held != run["rows_read"]:
            problems.append(f"{ods}: read {run['rows_read']}, held {held} (ods {written})")
    return problems


def same_rows(cfg, clean: dict[str, tuple]) -> list[str]:
    """Each table holds the clean night's rows (append-only run records excepted)."""
    now = all_sizes(cfg)
    problems = []
    for table, ref in clean.items():
        if table in AUDIT_TABLES or ref is None:
            continue
        got = now.get(table)
        if got is None or got[1] != ref[1]:
            problems.append(f"{table}: {got and got[1]} rows, clean night {ref[1]}")
    return problems


def plan(writes: list[Write], kills: int, rng: random.Random) -> list[tuple]:
    """`kills` targets (task, ordinal, delay), round-robin over write kinds, seeded."""
    by_kind: dict[str, list[Write]] = defaultdict(list)
    for w in writes:
        by_kind[w.kind].append(w)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    chosen: list[tuple] = []
    pools = {k: rng.sample(v, len(v)) for k, v in by_kind.items()}
    while len(chosen) < kills and any(pools.values()):
        for kind in kinds:
            if pools[kind] and len(chosen) < kills:
                w = pools[kind].pop()
                chosen.append((w.task, w.ordinal, round(rng.uniform(0, w.seconds), 3)))
    return chosen


def fresh_night(base: Path, sources: Path, name: str, only: str | None, prior=None) -> Night:
    """A night in its own folder; after `prior` (a finished night): from a copy of its
    lakehouse, for the next day."""
    home = base / name
    shutil.rmtree(home, ignore_errors=True)
    if prior is None:
        home.mkdir(parents=True)
        return Night(home, sources, f"faults__{name}", only)
    shutil.copytree(prior.home, home, ignore=shutil.ignore_patterns("child.log"))
    day = prior.day + dt.timedelta(days=1)
    return Night(home, sources, f"faults__{name}", only, day)


def first_night(base: Path, sources: Path, only: str | None, log) -> Night:
    """Run a first night unkilled, then write the next day's 1% increment into the sources
    (the library benchmark's next night: SQLite changes, next-day files)."""
    from benchmarks.libraries import CHANGED_FRACTION, SAMPLE_SEED, redeliver_files
    from benchmarks.run import physical_tables
    from govlake.sample import generate_increment

    prior = fresh_night(base, sources, "first", only)
    t0 = time.monotonic()
    run_child(prior, 0)
    if prior.failed:
        raise RuntimeError(f"the first night failed: {prior.failed}; see {prior.home}/child.log")
    day = prior.day + dt.timedelta(days=1)
    changes = generate_increment(sources, day, SAMPLE_SEED, CHANGED_FRACTION)
    redeliver_files(prior.cfg, physical_tables(), prior.day, day)
    log(f"first night: {time.monotonic() - t0:.0f}s; increment for {day}: {changes}")
    return prior


def night_with_kills(night: Night, targets: list[tuple], reference: dict, log) -> list[dict]:
    """Run the night, killing at each target in order; restart from the killed task each time."""
    outcomes = []
    first = 0
    for target in sorted(targets):
        hit = None
        while hit is None:
            hit = run_child(night, first, target)
            if hit is None:  # the night ended before the target (its write did not happen)
                break
        if hit is None:
            outcomes.append({"target": target, "kind": None, "problems": ["write not reached"]})
            return outcomes
        problems = check_kill(hit, night, reference)
        w = hit["write"]
        outcomes.append({"target": target, "kind": w.kind, "table": w.table, "problems": problems})
        log(f"  kill {len(outcomes)}: {w.kind:24} {w.table:40} +{hit['delay']:.2f}s "
            f"{'ok' if not problems else problems}")  # fmt: skip
        first = w.task
    run_child(night, first)
    return outcomes


def run(
    kills: int,
    persons: int,
    seed: int,
    per_round: int,
    only: str | None = None,
    log=print,
    nights: int = 1,
) -> dict:
    """The whole harness; returns the figures (see the module docstring). The settings this
    process reads are pointed at each night's folders, and restored after."""
    from rich.console import Console

    from govlake.demo import sample_interfaces
    from govlake.settings import settings

    saved = {k: os.environ.get(k) for k in ("GOVLAKE_LAKEHOUSE", "GOVLAKE_SOURCES")}
    base = Path(tempfile.mkdtemp(prefix="govlake-faults-"))
    os.environ["GOVLAKE_SOURCES"] = str(base / "sources")
    settings.cache_clear()
    try:
        # The 双公示 interface is served while the nights run, as the demo serves it; the
        # children inherit its connection (AIRFLOW_CONN_...) from this process's environment.
        with sample_interfaces(settings(), Console(stderr=True)):
            return _run(base, kills, persons, seed, per_round, only, log, nights)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        settings.cache_clear()


def _run(
    base: Path, kills: int, persons: int, seed: int, per_round: int, only, log, nights: int
) -> dict:
    from govlake.sample import generate_sources

    started = time.monotonic()
    sources = base / "sources"
    generate_sources(sources, persons, DAY)
    prior = first_night(base, sources, only, log) if nights == 2 else None
    clean = fresh_night(base, sources, "clean", only, prior)
    t0 = time.monotonic()
    run_child(clean, 0, reference=True)
    clean.seconds = time.monotonic() - t0
    clean_cfg = clean.cfg
    clean_sizes = all_sizes(clean_cfg)
    baseline = balances(clean_cfg)
    log(f"clean night: {len(clean.writes)} writes in {clean.seconds:.0f}s; failed tasks "
        f"{clean.failed or 'none'}; balance {baseline or 'ok'}")  # fmt: skip
    reference = {(w.task, w.table, w.occurrence): w for w in clean.writes}
    targets = plan(clean.writes, kills, random.Random(seed))
    outcomes, nights = [], []
    for r in range(0, len(targets), per_round):
        night = fresh_night(base, sources, f"round{r // per_round}", only, prior)
        log(f"round {r // per_round}: {len(targets[r : r + per_round])} kills")
        done = night_with_kills(night, targets[r : r + per_round], reference, log)
        cfg = night.cfg
        after = balances(cfg) + same_rows(cfg, clean_sizes) + committed_and_whole(cfg)
        log(f"  rerun: {'balanced, clean night rows' if not after else after}")
        outcomes += done
        nights.append({"round": r // per_round, "problems": after})
        shutil.rmtree(night.home, ignore_errors=True)
    per_kind = Counter(o["kind"] for o in outcomes)
    failed = [o for o in outcomes if o["problems"]] + [n for n in nights if n["problems"]]
    figures = {
        "persons": persons,
        "only": only,
        "killed_night": clean.day.isoformat() if prior else "first",
        "seed": seed,
        "clean_night_seconds": round(clean.seconds, 1),
        "clean_night_writes": len(clean.writes),
        "writes_per_kind": dict(Counter(w.kind for w in clean.writes)),
        # The cost of recording a load as running first (issue 20 item 12): its share of a load.
        "run_record_append_seconds": mean(w.seconds for w in clean.writes if w.table == RUNS),
        "load_task_seconds": mean(
            s for i, s in clean.task_seconds.items() if ".load_" in clean.task_names[i]
        ),
        "kills": len(outcomes),
        "kills_per_kind": dict(per_kind),
        "clean_night_problems": baseline,
        "failed": failed,
        "seconds": round(time.monotonic() - started, 1),
    }
    shutil.rmtree(base, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--per-round", type=int, default=15)
    parser.add_argument("--only", default=None, help="comma-separated DAG id prefixes")
    parser.add_argument("--nights", type=int, choices=(1, 2), default=1, help="kill the 2nd night")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=DAY, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.run_id, args.only, args.day)
        return 0
    figures = run(
        args.kills, args.persons, args.seed, args.per_round, args.only, nights=args.nights
    )
    print(json.dumps({k: v for k, v in figures.items() if k != "failed"}, indent=2, default=str))
    for f in figures["failed"]:
        print("FAILED:", json.dumps(f, default=str))
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"faults-{stamp}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"{figures['kills']} kills, {len(figures['failed'])} inconsistent")
    return 1 if figures["failed"] or figures["clean_night_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
