"""Issue 18's cluster faults seen from a user's command (the guard itself: tests/test_cluster.py).

The master down at start: a command of the cluster-local row whose master does not answer stops
before a JVM starts, naming the master, the settings file and the fix. Without the guard in
get_spark, Spark would try to register for about a minute and then say only "All masters are
unresponsive". A worker killed during a load: benchmarks/worker_kill.py and docs/faults.md
("Scale-out faults"), too slow for the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from govlake.settings import PROJECT_ROOT


def test_a_command_against_a_master_that_is_down_stops_at_once_naming_it(tmp_path: Path):
    from govlake.cluster import free_port

    master = f"spark://127.0.0.1:{free_port('127.0.0.1')}"  # nobody listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVLAKE_")}
    env |= {
        "GOVLAKE_ENV": "cluster-local",
        "GOVLAKE_SPARK_MASTER": master,
        "GOVLAKE_LAKEHOUSE": str(tmp_path / "lakehouse"),
        "GOVLAKE_SPARK_EVENT_LOG": str(tmp_path / "events"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "COLUMNS": "300",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "govlake.cli", "sql", "SELECT 1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - started
    said = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode == 1, said
    assert f"the Spark master {master} does not answer" in said, said
    assert "conf/settings.yaml" in said and "GOVLAKE_SPARK_MASTER overrides it" in said, said
    # No JVM was started: its console log (govlake.spark.jvm_output_to) was never opened.
    assert not (tmp_path / "logs" / "spark.log").exists()
    print(f"failed in {seconds:.1f} s")
