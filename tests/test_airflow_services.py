"""The scheduler-path test's liveness probe: which live schedulers Airflow counts as dead."""

import datetime as dt

from tests.airflow_services import dead_jobs

NOW = dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.UTC)
HOSTS = {"scheduler": "scheduler.host", "scheduler-2": "scheduler-2.host"}


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def job(id: int, host: str, state: str, started: float, beat: float | None) -> dict:
    return {
        "id": id,
        "hostname": host,
        "state": state,
        "start_date": ago(started),
        "latest_heartbeat": None if beat is None else ago(beat),
        "db_now": NOW,
    }


def test_a_running_job_with_a_recent_heartbeat_is_alive():
    spawned = dict.fromkeys(HOSTS, ago(300))
    jobs = [
        job(1, "scheduler.host", "running", 290, 2),
        job(2, "scheduler-2.host", "running", 290, 29),
    ]
    assert dead_jobs(spawned, jobs, HOSTS) == []


def test_a_failed_job_or_a_stale_heartbeat_since_the_start_is_dead():
    spawned = dict.fromkeys(HOSTS, ago(300))
    jobs = [
        job(1, "scheduler.host", "failed", 290, 40),
        job(2, "scheduler-2.host", "running", 290, 31),
    ]
    assert dead_jobs(spawned, jobs, HOSTS) == ["scheduler", "scheduler-2"]


def test_only_the_latest_job_since_the_latest_start_counts():
    # scheduler was restarted 20 s ago: its old failed job is history, its new job is starting
    # (no heartbeat yet); scheduler-2's newer job runs, its older one failed.
    spawned = {"scheduler": ago(20), "scheduler-2": ago(300)}
    jobs = [
        job(1, "scheduler.host", "failed", 290, 60),
        job(2, "scheduler-2.host", "failed", 290, 60),
        job(3, "scheduler-2.host", "running", 100, 1),
        job(4, "scheduler.host", "running", 10, None),
    ]
    assert dead_jobs(spawned, jobs, HOSTS) == []


def test_a_scheduler_without_a_job_yet_is_starting_and_other_hosts_are_not_judged():
    spawned = dict.fromkeys(HOSTS, ago(5))
    jobs = [job(1, "elsewhere.host", "failed", 4, 4)]
    assert dead_jobs(spawned, jobs, HOSTS) == []
    # Only the schedulers asked about (the live ones) are judged.
    dead = [job(2, "scheduler-2.host", "failed", 4, 4)]
    assert dead_jobs(spawned, dead, {"scheduler": "scheduler.host"}) == []
    assert dead_jobs(spawned, dead, HOSTS) == ["scheduler-2"]
