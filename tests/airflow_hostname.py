"""Airflow's `[core] hostname_callable` for a component of the scheduler-path test.

An HA deployment runs each scheduler on its own host, and Airflow tells its scheduler jobs
apart by hostname (the job table, the scheduler's health check). The test's schedulers share
one machine, so each is given the name the test chose for it, in GOVLAKE_COMPONENT_HOST.
"""

import os


def component_hostname() -> str:
    """The host name this component stands for."""
    return os.environ["GOVLAKE_COMPONENT_HOST"]
