"""Databases for tests: copies of the session's migrated template (tests/conftest.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import make_conninfo


def clone_template(admin_dsn: str, template: str, name: str) -> str:
    """CREATE DATABASE `name` from `template`; its DSN. On TimescaleDB a scheduler worker may still be
    leaving the template (copies need nobody connected to it): it is ended and the copy tried again."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for attempt in range(50):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')  # type: ignore[arg-type]
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                             (template,))
                time.sleep(0.1)
    return make_conninfo(admin_dsn, dbname=name)


@contextmanager
def empty_database(admin_dsn: str, prefix: str) -> Iterator[str]:
    """A new, unmigrated database for the duration; its DSN. Dropped afterwards (sessions ended)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]
