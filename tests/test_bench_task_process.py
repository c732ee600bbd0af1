"""benchmarks.task_process: the child's result line among the JVM's and Airflow's output, the
best run per task and tree, and a task id that is not declared."""

from __future__ import annotations

import pytest

from benchmarks.task_process import best, child_result, run_child


def test_the_childs_result_is_its_last_marked_line_among_other_output():
    stdout = (
        '{"level": "info", "event": "Closing down clientserver connection"}\n'
        '{"task": "load_x", "seconds": 9.5, "status": "unchanged"}\n'
        "2026-12-06T17:30:34Z [info] Closing down clientserver connection\n"
    )
    assert child_result(stdout) == {"task": "load_x", "seconds": 9.5, "status": "unchanged"}
    assert child_result("Traceback (most recent call last):\n") is None


def test_best_is_the_fastest_run_per_task_and_tree_leaving_failed_runs_out():
    rows = [
        {"task": "load_x", "tree": "/a", "wall": 30.0},
        {"task": "load_x", "tree": "/b", "wall": 26.0},
        {"task": "load_x", "tree": "/a", "wall": 28.5},
        {"task": "load_x", "tree": "/b", "wall": 5.0, "error": "died"},
        {"task": "build_y", "tree": "/b", "wall": 40.0},
    ]
    assert best(rows) == {"load_x": {"/a": 28.5, "/b": 26.0}, "build_y": {"/b": 40.0}}


def test_a_task_that_is_not_declared_is_refused_with_the_known_ids():
    with pytest.raises(SystemExit, match="no declared task 'load_nothing'; known: .*build_site"):
        run_child("load_nothing")
