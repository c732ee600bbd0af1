"""Department database connections: the Airflow connection, or the embedded default when none
is defined.

Credentials live only in Airflow connections (AIRFLOW_CONN_<ID>, a secrets backend or the
metadata DB); the conf file may name an embedded default URL that carries none. A connection
that cannot be read fails the task: loading the default instead would be silently wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from govlake.connections import Connection, ConnectionUnreadable, read_connection
from govlake.errors import SourceError, summarize_java_error
from govlake.settings import Settings
from govlake.sources import URL_PLACEHOLDER, SourceSystem

T = TypeVar("T")

DRIVERS = {
    "postgresql": "org.postgresql.Driver",
    "sqlite": "org.sqlite.JDBC",
}
# Driver properties that make a connection refuse writes: the lakehouse only ever reads a
# department's database, so even a statement Spark would run as a write (INSERT INTO a logical
# table) is refused by the database itself. pgjdbc: readOnlyMode=always applies it in autocommit
# too; sqlite-jdbc: open_mode 1 is SQLITE_OPEN_READONLY.
READ_ONLY = {
    "postgresql": {"readOnly": "true", "readOnlyMode": "always"},
    "sqlite": {"open_mode": "1"},
}
CONN_TYPES = {"postgres": "postgresql", "postgresql": "postgresql", "sqlite": "sqlite"}


@dataclass(frozen=True)
class JdbcTarget:
    """A JDBC URL and its properties; `display` is safe to print and store."""

    url: str
    driver: str
    properties: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def display(self) -> str:
        user = self.properties.get("user")
        return f"{self.url} (user {user})" if user else self.url

    def options(self) -> dict[str, str]:
        return {"url": self.url, "driver": self.driver, **self.properties}

    def read_options(self) -> dict[str, str]:
        """Options of a connection that can only read (every read of a department database)."""
        kind = self.url.split(":")[1] if self.url.count(":") > 1 else ""
        return {**self.options(), **READ_ONLY.get(kind, {})}


def jdbc_target(conn: Connection) -> JdbcTarget:
    """The JDBC URL and properties of a database connection."""
    return _target(conn.conn_type, conn.host, conn.port, conn.login, conn.password, conn.schema)


def _target(kind, host, port, login, password, schema) -> JdbcTarget:
    jdbc_kind = CONN_TYPES.get(kind)
    if jdbc_kind is None:
        raise SourceError(
            f"connection type '{kind}' is not supported.",
            fix=f"use one of {', '.join(sorted(CONN_TYPES))}.",
        )
    if jdbc_kind == "sqlite":
        return JdbcTarget(
            f"jdbc:sqlite:{host or ''}{'/' if host else ''}{schema}", DRIVERS["sqlite"]
        )
    props = {k: v for k, v in (("user", login), ("password", password)) if v}
    url = f"jdbc:postgresql://{host}:{port or 5432}/{schema}"
    return JdbcTarget(url, DRIVERS["postgresql"], props)


def _connection(conn_id: str, system: str, use_airflow: bool) -> Connection | None:
    """The connection (environment, then Airflow); None only when nothing defines it. Any
    failure to read stops the task, naming the connection: falling back to the embedded
    default would load sample data instead of the department's."""
    try:
        return read_connection(conn_id, use_airflow)
    except ConnectionUnreadable as exc:
        raise _unreadable(conn_id, system, exc.where, exc.cause) from exc


def _unreadable(conn_id: str, system: str, where: str, exc: Exception) -> SourceError:
    return SourceError(
        f"Airflow connection '{conn_id}' could not be read ({where}: "
        f"{type(exc).__name__}: {exc}); the source's default_url is not used in its place.",
        source=system,
        fix="restore access to the secrets backend (or the Airflow metadata database) and "
        "rerun the task; nothing was loaded.",
    )


def resolve_jdbc(source: SourceSystem, cfg: Settings, use_airflow: bool = True) -> JdbcTarget:
    """The JDBC target of a database source, credentials from Airflow, never from conf.

    The embedded default_url is used only when no connection of that id is defined."""
    conn_id = source.location.conn_id
    found = _connection(conn_id, source.system, use_airflow)
    if found:
        return jdbc_target(found)
    if source.location.default_url:
        # Replaced as text, not str.format: a conf string must not reach Python's formatter
        # ({sources_root.__class__...} would read interpreter attributes into the URL).
        url = source.location.default_url.replace(URL_PLACEHOLDER, str(cfg.sources_root))
        kind = url.split(":")[1]
        return JdbcTarget(url, DRIVERS.get(kind, ""))
    raise SourceError(
        f"Airflow connection '{conn_id}' is not defined and the source has no default_url.",
        source=source.system,
        fix=f"set AIRFLOW_CONN_{conn_id.upper()} or run `airflow connections add {conn_id}`.",
    )


@dataclass(frozen=True)
class HttpTarget:
    """The base URL of a department's HTTP interface and its bearer token; `display` is safe
    to print and store (the token never is)."""

    base_url: str
    token: str = field(repr=False)

    @property
    def display(self) -> str:
        return self.base_url

    def url(self, endpoint: str) -> str:
        return self.base_url.rstrip("/") + endpoint


def _http_target(kind, host, port, password, system: str, conn_id: str) -> HttpTarget:
    """An HTTP(S) connection with a token (the connection's password); anything less fails."""
    scheme = (kind or "").lower()
    if scheme not in ("http", "https") or not host:
        raise SourceError(
            f"connection '{conn_id}' is of type '{kind}' with host '{host}': an HTTP interface "
            "needs an http or https connection with a host.",
            source=system,
            fix=f"define it as AIRFLOW_CONN_{conn_id.upper()}='https://:<token>@host:port' or "
            f"`airflow connections add {conn_id} --conn-type http --conn-host ... "
            "--conn-password <token>`.",
        )
    if not password:
        raise SourceError(
            f"connection '{conn_id}' holds no token (its password is empty); the interface "
            "is not called without one.",
            source=system,
            fix=f"put the bearer token the department issued in the password of '{conn_id}'.",
        )
    host = host.split("://", 1)[-1].rstrip("/")
    return HttpTarget(f"{scheme}://{host}{f':{port}' if port else ''}", password)


def resolve_http(source: SourceSystem, use_airflow: bool = True) -> HttpTarget:
    """The base URL and token of an HTTP interface source: from AIRFLOW_CONN_<ID> or Airflow's
    connection, never from conf. An error reading it fails the load: there is no fallback."""
    conn_id, system = source.location.conn_id, source.system
    conn = _connection(conn_id, system, use_airflow)
    if conn is None:
        raise SourceError(
            f"Airflow connection '{conn_id}' is not defined: the interface's URL and token "
            "come only from it.",
            source=system,
            fix=f"set AIRFLOW_CONN_{conn_id.upper()}='https://:<token>@host:port' or run "
            f"`airflow connections add {conn_id}` with the token as its password.",
        )
    return _http_target(conn.conn_type, conn.host, conn.port, conn.password, system, conn_id)


def with_retries(
    action: Callable[[], T], what: str, source: str, cfg: Settings, fix: str | None = None
) -> T:
    """Run a connecting action, retrying with backoff; one clear error when it keeps failing."""
    delay = cfg.connect_backoff_seconds
    for attempt in range(1, cfg.connect_attempts + 1):
        try:
            return action()
        except Exception as exc:  # Py4J wraps the SQLException; any failure here is retried
            reason = summarize_java_error(exc)
            if attempt == cfg.connect_attempts:
                raise SourceError(
                    f"cannot read {what} after {attempt} attempts: {reason}",
                    source=source,
                    fix=fix
                    or "check that the department database is up and the connection's host, "
                    "port and credentials are right; other sources are not affected.",
                ) from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
