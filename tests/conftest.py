"""Shared fixtures: one real PostgreSQL per test session, and a fresh migrated database per test.

- `pg_admin_dsn` (session): superuser DSN of an `EmbeddedPostgres` in a temporary directory, or of the
  server in $JIANGUAN_TEST_DSN when set (then nothing is started or stopped).
- `db_dsn` (function): DSN of a brand-new database with every migration applied, cloned from a template
  migrated once per session (`CREATE DATABASE .. TEMPLATE ..` takes milliseconds), dropped afterwards. It is
  the owner's (the migrating role's), as `jianguan db migrate` uses.
- `role_dsn` (function): `role_dsn("desk")` is `db_dsn`'s database as the desk's role (storage/roles.py), what
  that process kind connects as; `as_role(dsn, kind)` the same for any test database.

On a TimescaleDB server (JIANGUAN_TEST_DSN, docs/store.md) the template is closed to connections once
migrated, and its job scheduler's session ended: a copy needs a template nobody is connected to.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from storage import KINDS, EmbeddedPostgres, migrate, role_name
from storage.roles import ensure_logins
from tests.testkit.pg import clone_template

# The suite reads the command as its users do by default, in Chinese (i18n.cli_locale): a developer's
# LANG=en_US must not change what the tests see. Subprocesses inherit it.
os.environ["JIANGUAN_LANG"] = "zh_CN"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    external = os.environ.get("JIANGUAN_TEST_DSN", "").strip()
    if external:
        yield external
        return
    # Not pytest's tmp_path: under root that lives in a 0700 directory the server's account cannot enter.
    data_dir = Path(tempfile.mkdtemp(prefix="jianguan-test-pg-"))
    server = EmbeddedPostgres(data_dir)
    dsn = server.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A throwaway cluster needs no durability; this makes CREATE DATABASE and commits much cheaper.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield dsn
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _migrated_template(pg_admin_dsn: str) -> Iterator[str]:
    name = f"jianguan_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(make_conninfo(pg_admin_dsn, dbname=name))
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        yield name
    finally:
        _drop(pg_admin_dsn, name)


@pytest.fixture
def db_dsn(pg_admin_dsn: str, _migrated_template: str) -> Iterator[str]:
    name = f"jianguan_t_{uuid.uuid4().hex[:12]}"
    dsn = clone_template(pg_admin_dsn, _migrated_template, name)
    try:
        yield dsn
    finally:
        _drop(pg_admin_dsn, name)


@pytest.fixture(scope="session")
def _role_passwords(pg_admin_dsn: str, _migrated_template: str) -> dict[str, str]:
    """Logins for the process kinds' roles (0014 made them and their grants when the template was migrated),
    with passwords of this session: on $JIANGUAN_TEST_DSN's server the roles may predate it."""
    passwords = {kind: secrets.token_urlsafe(18) for kind in KINDS}
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        ensure_logins(conn, passwords)
    return passwords


@pytest.fixture(scope="session")
def as_role(_role_passwords: dict[str, str]) -> Callable[[str, str], str]:
    def dsn_as(dsn: str, kind: str) -> str:
        return make_conninfo(dsn, user=role_name(kind), password=_role_passwords[kind])
    return dsn_as


@pytest.fixture
def role_dsn(db_dsn: str, as_role: Callable[[str, str], str]) -> Callable[[str], str]:
    return lambda kind: as_role(db_dsn, kind)
