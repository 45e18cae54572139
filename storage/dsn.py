"""Connecting, and showing a DSN without its password."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from i18n import N_
from storage.errors import StorageError

APPLICATION_NAME = "jianguan"

# Both DSN spellings libpq accepts: key=value pairs and URIs (user:password@host, or ?password=).
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(://[^:/@?#\s]*:)([^@\s]*)(@)")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#\s]*)", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """`dsn` with its password replaced by `***`, in the spelling it was given in (for logs and messages)."""
    if re.match(r"^postgres(ql)?://", dsn.strip(), re.IGNORECASE):
        out = _QUERY_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1***\3", dsn))
    else:
        out = _KV_PASSWORD.sub(r"\1***", dsn)
    password = _password_of(dsn)
    if password:  # belt and braces: a spelling the patterns missed must still not show it
        out = out.replace(password, "***")
    return out


def _password_of(dsn: str) -> str | None:
    try:
        return conninfo_to_dict(dsn).get("password") or None
    except psycopg.Error:
        return None


def _one_line(message: str, dsn: str) -> str:
    password = _password_of(dsn)
    if password:
        message = message.replace(password, "***")
    return " ".join(part.strip() for part in message.splitlines() if part.strip())[:500]


def connect(dsn: str, **kw: Any) -> psycopg.Connection:
    """A psycopg connection (autocommit off unless asked) tagged `application_name=jianguan`.

    Any failure becomes a `StorageError` naming the server but never the password.
    """
    kw.setdefault("autocommit", False)
    kw.setdefault("application_name", APPLICATION_NAME)
    kw.setdefault("connect_timeout", 10)
    try:
        conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        # A parse error can quote the fragment it choked on, which may be the password: mask quoted text.
        detail = re.sub(r'"[^"]{2,}"', '"…"', _one_line(str(exc), dsn))
        raise StorageError(N_("invalid PostgreSQL DSN ({detail})"), detail=detail) from None
    try:
        return psycopg.connect(dsn, **kw)
    except psycopg.Error as exc:
        # `from None`: the chained psycopg exception would print the DSN-bearing context in tracebacks.
        raise StorageError(N_("cannot connect to PostgreSQL at {dsn}: {error}"), dsn=redact_dsn(dsn),
                           error=_one_line(str(exc), dsn)) from None


def timescaledb_enabled(conn: psycopg.Connection) -> bool:
    """Whether the `timescaledb` extension is installed in the connected database."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").fetchone()
    return bool(row and row[0])
