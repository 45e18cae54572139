"""The database roles of jianguan's process kinds (issue 18), and their logins.

Migration 0014 creates one role per process kind and grants it what that kind writes, nothing more; the role
that runs the migrations owns every table (and alone could disable the append-only triggers). This module
names the roles, gives them logins (the embedded server does so itself; an external server's administrator
does it by hand, docs/security.md), and says where a process of each kind finds its DSN.
"""

from __future__ import annotations

import contextlib
import os

import psycopg
from psycopg import sql

from i18n import N_
from storage.errors import StorageError

# Process kind -> what runs as it: the review desk; a node (and the cluster's site services); the lane-sensor
# and transaction intake; business early warning; the supervision reports.
KINDS = ("desk", "node", "intake", "business", "reports")
ROLE_PREFIX = "jianguan_"
DSN_ENV_PREFIX = "JIANGUAN_DSN_"
# Created bare (no SUPERUSER, CREATEDB, CREATEROLE...: the defaults), then only given a login: a CREATEROLE
# administrator may run this too, not only a superuser.
_CREATE = sql.SQL("CREATE ROLE {role} NOLOGIN")
_ALTER = sql.SQL("ALTER ROLE {role} LOGIN PASSWORD {verifier}")


def role_name(kind: str) -> str:
    """`jianguan_desk` for `desk`: the database role of a process kind."""
    _check(kind)
    return ROLE_PREFIX + kind


def dsn_env(kind: str) -> str:
    """`JIANGUAN_DSN_DESK` for `desk`: the environment variable with that kind's DSN on an external server."""
    _check(kind)
    return DSN_ENV_PREFIX + kind.upper()


def dsn_from_env(kind: str) -> str | None:
    return os.environ.get(dsn_env(kind), "").strip() or None


def ensure_logins(conn: psycopg.Connection, passwords: dict[str, str]) -> None:
    """Give each kind's role (`passwords`: kind -> password) a login with that password, creating the role
    where 0014 has not run yet (it then only grants). `conn`: a superuser's (or CREATEROLE) connection in
    autocommit. The password travels as a SCRAM verifier computed here, so it never sits in a statement the
    server might log."""
    for kind, password in passwords.items():
        role = role_name(kind)
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        names = {"role": sql.Identifier(role), "verifier": sql.Literal(verifier)}
        try:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                # Made meanwhile by another process (the race ends in either error): ALTER it below.
                with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                    conn.execute(_CREATE.format(**names))
            conn.execute(_ALTER.format(**names))
        except psycopg.Error as exc:
            raise StorageError(N_("cannot give the database role {role} a login: {error}"), role=role,
                               error=" ".join(str(exc).split())) from None


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown process kind {kind!r}; one of {', '.join(KINDS)}")


__all__ = ["KINDS", "dsn_env", "dsn_from_env", "ensure_logins", "role_name"]
