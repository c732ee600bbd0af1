"""Benchmark: how long Airflow takes to parse dags/ when conf/sources holds N source systems.

Each measurement is a fresh interpreter (like a dag-processor child) pointed at N generated
copies of conf/sources/*.yaml through GOVLAKE_SOURCES_DIR; importing Airflow is not counted.
Usage: python benchmarks/dagbag_parse.py [N]   (default 200)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from govlake.orchestration import airflow_env
from govlake.settings import PROJECT_ROOT, settings

TEMPLATES = PROJECT_ROOT / "conf" / "sources"
DAGS = PROJECT_ROOT / "dags"

CHILD = r"""
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag

seconds, bags = [], []
for _ in range(2):
    start = time.perf_counter()
    bags.append(DagBag(dag_folder=sys.argv[1]))
    seconds.append(time.perf_counter() - start)
bag = bags[0]
print(json.dumps({
    "cold": seconds[0],
    "warm": seconds[1],
    "dags": len(bag.dags),
    "tasks": sum(len(d.tasks) for d in bag.dags.values()),
    "files": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats},
    "import_errors": {Path(k).name: v.splitlines()[-1] for k, v in bag.import_errors.items()},
    "heavy": sorted(m for m in ("pyspark", "pandas") if m in sys.modules),
}))
"""


def write_sources(directory: Path, n_sources: int) -> None:
    """N source files cycling through the real ones, each with its own system name."""
    templates = sorted(TEMPLATES.glob("*.yaml"))
    for i in range(n_sources):
        template = templates[i % len(templates)]
        config = yaml.safe_load(template.read_text(encoding="utf-8"))
        config["system"] = f"{template.stem}_{i:03d}"
        text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
        (directory / f"{config['system']}.yaml").write_text(text, encoding="utf-8")


def _parse_once(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(n_sources: int, repeats: int = 3) -> dict:
    """Median DagBag parse time of dags/ over `repeats` fresh interpreters with N sources."""
    with tempfile.TemporaryDirectory(prefix="govlake-bench-") as tmp:
        sources = Path(tmp) / "sources"
        sources.mkdir()
        write_sources(sources, n_sources)
        cfg = settings().model_copy(update={"airflow_home": Path(tmp) / "airflow"})
        env = {**os.environ, **airflow_env(cfg), "GOVLAKE_SOURCES_DIR": str(sources)}
        runs = [_parse_once(env) for _ in range(repeats)]
    last = runs[-1]
    return {
        "n_sources": n_sources,
        "dags": last["dags"],
        "tasks": last["tasks"],
        "parse_seconds_median": round(statistics.median(r["cold"] for r in runs), 3),
        "parse_seconds": [round(r["cold"], 3) for r in runs],
        "warm_reparse_seconds_median": round(statistics.median(r["warm"] for r in runs), 3),
        "file_seconds": {name: round(s, 3) for name, s in sorted(last["files"].items())},
        "import_errors": last["import_errors"],
        "heavy_modules": last["heavy"],
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 200), indent=2))
