"""Airflow connections, read one way for every caller (department databases and interfaces,
the object store's keys).

AIRFLOW_CONN_<ID> (a URI or JSON) first, then Airflow's secrets backends and metadata database.
Secrets live only there, never in conf. A connection that is not defined is None; one whose
store fails is ConnectionUnreadable, so no caller can mistake an unreachable secrets store for
an absent connection and fall back to something else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Connection:
    """The fields of an Airflow connection this project uses; repr never shows the password."""

    conn_type: str
    host: str = ""
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str = ""
    extra: dict = field(default_factory=dict, repr=False)


class ConnectionUnreadable(Exception):
    """The store holding a connection failed; `where` names it (a variable, a backend)."""

    def __init__(self, conn_id: str, where: str, cause: Exception):
        super().__init__(f"{where}: {type(cause).__name__}: {cause}")
        self.conn_id, self.where, self.cause = conn_id, where, cause


def env_var(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def parse_value(value: str) -> Connection:
    """An AIRFLOW_CONN_ value, URI or JSON; ValueError when it is neither."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
        return Connection(
            data.get("conn_type") or "",
            data.get("host") or "",
            data.get("port"),
            data.get("login"),
            data.get("password"),
            data.get("schema") or "",
            extra,
        )
    parts = urlsplit(value)
    return Connection(
        parts.scheme,
        parts.hostname or "",
        parts.port,  # a port that is not a number raises ValueError here
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        parts.path.lstrip("/"),
        dict(parse_qsl(parts.query)),
    )


def read_connection(conn_id: str, use_airflow: bool = True) -> Connection | None:
    """The connection from the environment, else from Airflow (when `use_airflow`); None only
    when neither defines it. Any failure to read raises ConnectionUnreadable."""
    value = os.environ.get(env_var(conn_id))
    if value:
        try:
            return parse_value(value)
        except ValueError as exc:
            raise ConnectionUnreadable(conn_id, env_var(conn_id), exc) from None
    return _from_airflow(conn_id) if use_airflow else None


def _from_airflow(conn_id: str) -> Connection | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        _no_backend_failed(conn_id)
        return None
    except Exception as exc:
        raise ConnectionUnreadable(conn_id, "Airflow", exc) from exc
    return Connection(
        conn.conn_type or "",
        conn.host or "",
        conn.port,
        conn.login,
        conn.password,
        conn.schema or "",
        conn.extra_dejson or {},
    )


def _no_backend_failed(conn_id: str) -> None:
    """Ask each secrets backend again: Airflow logs a backend's error and reports the connection
    as not defined, so an unreachable secrets store would look like a missing connection."""
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

    for backend in ensure_secrets_backend_loaded():
        try:
            backend.get_connection(conn_id=conn_id)
        except Exception as exc:
            raise ConnectionUnreadable(conn_id, type(backend).__name__, exc) from exc
