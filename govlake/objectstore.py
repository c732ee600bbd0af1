"""Object storage for the lakehouse's tables: where the S3 store is and the keys to it.

Used when `tables_uri` is `s3a://bucket/prefix`. The endpoint, region and path-style addressing
are settings (conf/settings.yaml); the keys come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN) or, when `object_store_conn_id` names one,
from an Airflow connection (AIRFLOW_CONN_<ID> or Airflow's connection store). Keys are never read
from a settings file, never written to one, and a failure to read them stops the process with a
message naming where they were looked for. Spark's S3A options and delta-rs's storage options
are both built here, so the JVM and the JVM-free readers reach the same store the same way.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from govlake.connections import Connection, ConnectionUnreadable, env_var, read_connection
from govlake.errors import ConfigError
from govlake.settings import Settings

# The scheme of tables on S3: Hadoop's S3A connector (delta-rs and pyarrow call it s3://).
S3_SCHEMES = ("s3a",)
# How S3A (java.nio.file.AccessDeniedException) and the AWS SDK (status 403) say that the store
# refused a request: a permission, not a transient fault, so no retry helps.
REFUSED = re.compile(r"AccessDenied|Status Code: 403|403 Forbidden")


def uses_object_store(cfg: Settings) -> bool:
    """Whether the environment's tables live on S3 (tables_uri s3a://...)."""
    return uri_scheme(cfg.tables_uri or "") in S3_SCHEMES


def uri_scheme(uri: str) -> str:
    """`s3a` of `s3a://bucket/x`; empty for a local path."""
    scheme, sep, _ = uri.partition("://")
    return scheme.lower() if sep else ""


@dataclass(frozen=True)
class S3Keys:
    """The access key pair (and session token) of the store; repr never shows the secret."""

    key_id: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    endpoint: str | None = None  # an Airflow connection may carry its own endpoint_url
    origin: str = ""


def s3_keys(cfg: Settings) -> S3Keys:
    """The keys, from the Airflow connection `object_store_conn_id` when set, else from the
    environment; anything missing or unreadable raises ConfigError saying where to put them."""
    if cfg.object_store_conn_id:
        return _keys_from_connection(cfg.object_store_conn_id)
    key_id = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        pairs = (("AWS_ACCESS_KEY_ID", key_id), ("AWS_SECRET_ACCESS_KEY", secret))
        missing = " and ".join(name for name, value in pairs if not value)
        raise ConfigError(
            f"tables_uri {cfg.tables_uri} is on object storage, but {missing} is not set "
            "and the environment's row names no object_store_conn_id.",
            file="conf/settings.yaml",
            fix="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
            f"temporary keys), or set object_store_conn_id in the '{cfg.env}' row to an Airflow "
            "connection of type aws whose login/password are the key id and secret.",
        )
    token = os.environ.get("AWS_SESSION_TOKEN") or None
    return S3Keys(key_id, secret, token, origin="environment")


def _keys_from_connection(conn_id: str) -> S3Keys:
    """An aws connection: login = key id, password = secret, extra may hold endpoint_url and
    aws_session_token. AIRFLOW_CONN_<ID> (URI or JSON) first, then Airflow's backends."""
    conn = _connection(conn_id)
    if not conn.login or not conn.password:
        raise ConfigError(
            f"Airflow connection '{conn_id}' (object_store_conn_id) has no "
            f"{'login (key id)' if not conn.login else 'password (secret key)'}.",
            fix=f"define it with the access key id as login and the secret as password, e.g. "
            f"`airflow connections add {conn_id} --conn-type aws --conn-login <key id> "
            "--conn-password <secret>` (extra endpoint_url for an S3-compatible store).",
        )
    endpoint = conn.extra.get("endpoint_url") or None
    token = conn.extra.get("aws_session_token") or None
    return S3Keys(conn.login, conn.password, token, endpoint, f"Airflow connection '{conn_id}'")


def _connection(conn_id: str) -> Connection:
    """The connection; undefined or unreadable is an error (never a fall back to other keys)."""
    fix = (
        f"set {env_var(conn_id)} or `airflow connections add {conn_id} --conn-type aws ...`, "
        "or restore access to the secrets backend."
    )
    try:
        conn = read_connection(conn_id)
    except ConnectionUnreadable as exc:
        raise ConfigError(
            f"Airflow connection '{conn_id}' (object_store_conn_id) could not be read ({exc}).",
            fix=fix,
        ) from None
    if conn is None:
        raise ConfigError(
            f"Airflow connection '{conn_id}' (object_store_conn_id) is not defined.", fix=fix
        )
    return conn


def refused_write_fix(cfg: Settings, location: str, error: str) -> str | None:
    """What to do when the object store refused a write under `location` (HTTP 403): give the
    keys write access there and rerun; None for any other error, or tables off object storage."""
    if not uses_object_store(cfg) or not REFUSED.search(error):
        return None
    keys = (
        f"the Airflow connection '{cfg.object_store_conn_id}'"
        if cfg.object_store_conn_id
        else "AWS_ACCESS_KEY_ID"
    )
    return (
        f"the object store refused a write under {location} (access denied). Give the keys of "
        f"{keys} write access there (s3:PutObject and s3:DeleteObject, in their IAM policy and "
        "the bucket's policy), then rerun; the table stays at its last committed version."
    )


def _endpoint(cfg: Settings, keys: S3Keys) -> str | None:
    return cfg.object_store_endpoint or keys.endpoint


def hadoop_options(cfg: Settings) -> dict[str, str]:
    """S3A's options without the keys (fit for spark-defaults.conf): endpoint, region,
    path-style addressing and TLS as the endpoint's scheme says; empty off object storage."""
    if not uses_object_store(cfg):
        return {}
    options = {
        "fs.s3a.endpoint.region": cfg.object_store_region,
        "fs.s3a.path.style.access": str(cfg.object_store_path_style).lower(),
    }
    if cfg.object_store_endpoint:
        options["fs.s3a.endpoint"] = cfg.object_store_endpoint
        secure = uri_scheme(cfg.object_store_endpoint) != "http"
        options["fs.s3a.connection.ssl.enabled"] = str(secure).lower()
    return {f"spark.hadoop.{k}": v for k, v in options.items()}


def hadoop_secrets(cfg: Settings) -> dict[str, str]:
    """S3A's key options for this process's Spark session only (never written to a file).

    Given as Spark properties rather than left to S3A's environment-variable provider: the
    session's Hadoop options travel with each job to executors on other machines, whose
    environment has no keys. An analyst's SQL cannot read them back (govlake/access refuses
    `${spark.hadoop...}` substitutions and SET)."""
    if not uses_object_store(cfg):
        return {}
    keys = s3_keys(cfg)
    options = {"fs.s3a.access.key": keys.key_id, "fs.s3a.secret.key": keys.secret}
    if keys.token:
        options["fs.s3a.session.token"] = keys.token
        provider = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        options["fs.s3a.aws.credentials.provider"] = provider
    if keys.endpoint and not cfg.object_store_endpoint:
        options["fs.s3a.endpoint"] = keys.endpoint
        options["fs.s3a.connection.ssl.enabled"] = str(uri_scheme(keys.endpoint) != "http").lower()
    return {f"spark.hadoop.{k}": v for k, v in options.items()}


def rs_storage_options(cfg: Settings) -> dict[str, str]:
    """delta-rs's storage_options for the tables root (empty for a local folder).

    delta-rs 1.x commits each log entry to S3 with a conditional put (If-None-Match: *), so
    delta-rs writers never overwrite each other's commit; it has no DynamoDB lock any more.
    """
    if not uses_object_store(cfg):
        return {}
    keys = s3_keys(cfg)
    options = {
        "AWS_ACCESS_KEY_ID": keys.key_id,
        "AWS_SECRET_ACCESS_KEY": keys.secret,
        "AWS_REGION": cfg.object_store_region,
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not cfg.object_store_path_style).lower(),
    }
    if keys.token:
        options["AWS_SESSION_TOKEN"] = keys.token
    endpoint = _endpoint(cfg, keys)
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        options["AWS_ALLOW_HTTP"] = str(uri_scheme(endpoint) == "http").lower()
    return options


def pyarrow_filesystem(cfg: Settings):
    """pyarrow's S3 file system for listing the tables root (same keys and endpoint)."""
    from pyarrow import fs as pafs

    keys = s3_keys(cfg)
    endpoint = _endpoint(cfg, keys)
    options = {
        "access_key": keys.key_id,
        "secret_key": keys.secret,
        "session_token": keys.token,
        "region": cfg.object_store_region,
        "force_virtual_addressing": not cfg.object_store_path_style,
    }
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    return pafs.S3FileSystem(**options)
