"""conf/access/: principals, roles and grants, validated with file/field/fix errors; passwords
are stored only as scrypt hashes (hashlib, standard library)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govlake.conffile import explain_validation, read_mapping
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

ACCESS_DIR = PROJECT_ROOT / "conf" / "access"
PrincipalKind = Literal["person", "application", "sandbox", "admin"]

FIXES = {
    "title": "give the role's title, e.g. 鄂城区政务数据查询员.",
    "department": "give the department code (统一社会信用代码 or the catalog provider code).",
    "clearance": "give the highest catalog grade shown unmasked, a level of conf/catalog.yaml "
    "(L1..L4 or 一般/重要/核心).",
    "id": "give the principal's login name: lower case letters, digits, '_' or '.'.",
    "kind": "use person, application, sandbox or admin.",
    "roles": "list role names, each a file conf/access/roles/<role>.yaml.",
    "password_hash": "paste the output of `govlake access hash-password` (never the password).",
    "warehouse": "name the application's warehouse database app_<name> (conf/apps/<name>.yaml); "
    "only an application principal is bound to one.",
    "role": "name a role of conf/access/roles/.",
    "resource": "name a catalog resource (its file name in conf/catalog/) or its code.",
    "columns": "list the resource's item columns, or write `all`.",
    "row_filter": "a SQL predicate over the resource's columns, e.g. division = '420704'.",
    "until": "give the last day of the grant as YYYY-MM-DD.",
    "basis": "give the legal basis or the approval (审批) the grant rests on.",
}


class Role(BaseModel):
    """roles/<role>.yaml: who the role is and the highest grade it sees unmasked."""

    model_config = ConfigDict(extra="forbid")

    title: str
    department: str
    clearance: str


class PrincipalConf(BaseModel):
    """One entry of principals.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    kind: PrincipalKind
    department: str | None = None
    roles: list[str] = Field(default_factory=list)
    password_hash: str = Field(pattern=r"^scrypt\$")
    description: str = ""
    # An application bound to its warehouse (一应用一数仓) reads app_<name>.* only.
    warehouse: str | None = Field(default=None, pattern=r"^app_[a-z][a-z0-9_]*$")


class PrincipalsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principals: list[PrincipalConf] = Field(min_length=1)


class Grant(BaseModel):
    """grants/<name>.yaml: a catalog resource granted to a role."""

    model_config = ConfigDict(extra="forbid")

    role: str
    resource: str
    columns: list[str] | Literal["all"] = "all"
    row_filter: str | None = None
    until: dt.date | None = None
    basis: str
    # Set only on grants made from approved share.requests (govlake.share), never in YAML:
    # such a grant goes to one principal (not a role) from its first day.
    principal: str | None = Field(None, exclude=True)
    since: dt.date | None = Field(None, exclude=True)
    name: str = Field("", exclude=True)
    file: str = Field("", exclude=True)


def _explain(exc: ValidationError, path: Path) -> ConfigError:
    return explain_validation(exc, path, FIXES, "govlake/access/README.md")


def _parse(model: type[BaseModel], path: Path, **extra) -> BaseModel:
    raw, _text = read_mapping(path, "write the fields as a YAML mapping.")
    try:
        return model(**raw, **extra)
    except ValidationError as exc:
        raise _explain(exc, path) from None


def access_dir(directory: Path | None = None) -> Path:
    """conf/access/, or GOVLAKE_ACCESS_DIR (tests and other deployments)."""
    return Path(directory or os.environ.get("GOVLAKE_ACCESS_DIR") or ACCESS_DIR)


def load_roles(directory: Path) -> dict[str, Role]:
    return {p.stem: _parse(Role, p) for p in sorted((directory / "roles").glob("*.yaml"))}


def load_principals(directory: Path) -> tuple[list[PrincipalConf], Path]:
    path = directory / "principals.yaml"
    if not path.is_file():
        raise ConfigError(
            "the principals file does not exist.",
            file=str(path),
            fix="list principals (id, kind, department, roles, password_hash) in it.",
        )
    return _parse(PrincipalsFile, path).principals, path


def load_grants(directory: Path) -> list[Grant]:
    paths = sorted((directory / "grants").glob("*.yaml"))
    grants = [_parse(Grant, p, name=p.stem, file=str(p)) for p in paths]
    for grant in grants:
        if grant.principal is not None or grant.since is not None:
            raise ConfigError(
                "fields 'principal' and 'since' are not known in a grant file.",
                file=grant.file,
                fix="grant to a role; a grant to one principal comes from an approved request "
                "(`govlake share request` / `approve`).",
            )
    return grants


# -- passwords -------------------------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64): what principals.yaml stores instead of a password."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches a stored scrypt hash (constant-time comparison)."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False
