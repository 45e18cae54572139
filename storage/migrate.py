"""Forward-only, versioned schema migrations from the `storage/migrations/NNNN_name.sql` files.

A file is applied in one transaction together with its `schema_migrations` row, so it is either wholly
applied and recorded or not at all. A session-level advisory lock serialises concurrent runners: the
second one waits, then finds nothing left to do.

A file whose first line is `-- requires: ext[, ext]` is applied only where those extensions can be
created, and recorded only when applied, so a database that gains TimescaleDB later picks it up. TimescaleDB
can only be created where the server preloads it: installed but not preloaded, one warning says what to
add to postgresql.conf and the plain path goes on (CREATE EXTENSION would end the connection with FATAL).

After the files, `storage.rollups.install` makes the hourly rollups those of the database's backend (and
converts them after a late TimescaleDB upgrade), under the same lock.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from i18n import N_
from storage import rollups
from storage.dsn import connect, redact_dsn
from storage.errors import StorageError

log = logging.getLogger(__name__)

# "jianguan" in ASCII: one fixed key, so every jianguan process contends for the same lock.
MIGRATION_LOCK_KEY = 0x6A69616E6775616E
_FILE_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
_REQUIRES = re.compile(r"^--\s*requires:\s*(.+?)\s*$")


@dataclass(frozen=True)
class Migration:
    version: str          # the file's stem, e.g. "0001_core"
    sql: str
    requires: tuple[str, ...]


def load_migrations() -> list[Migration]:
    """The migration files shipped in the package, in version order."""
    found: list[Migration] = []
    seen: dict[str, str] = {}
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        number = match.group(1)
        if number in seen:
            raise StorageError(N_("two migrations share number {number}: {first} and {second}"), number=number,
                               first=seen[number], second=entry.name)
        seen[number] = entry.name
        text = entry.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        req = _REQUIRES.match(first)
        requires = tuple(e.strip() for e in req.group(1).split(",") if e.strip()) if req else ()
        found.append(Migration(entry.name.removesuffix(".sql"), text, requires))
    return sorted(found, key=lambda m: m.version)


def migrate(dsn: str) -> list[str]:
    """Apply pending migrations to the database at `dsn`; return the versions applied by this call."""
    migrations = load_migrations()
    applied_now: list[str] = []
    usable: dict[str, bool] = {}
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            unknown = done - {m.version for m in migrations}
            if unknown:
                log.warning("database has migrations this code does not know: %s", ", ".join(sorted(unknown)))
            for migration in migrations:
                if migration.version in done:
                    continue
                for ext in migration.requires:  # asked once per run (one warning, not one per file)
                    if ext not in usable:
                        usable[ext] = _ensure_extension(conn, ext)
                missing = [ext for ext in migration.requires if not usable[ext]]
                if missing:
                    log.info("migration %s skipped: extension %s not available", migration.version,
                             ", ".join(missing))
                    continue
                _apply(conn, migration)
                applied_now.append(migration.version)
            rollups.install(conn, changed=bool(applied_now))
        finally:
            if not conn.closed:  # a lost connection has released its session lock with it
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def pending(conn: psycopg.Connection) -> list[str]:
    """What `migrate` would do to the connected database: the versions of the files it would apply (those
    needing an extension the database lacks are skipped there too, so not pending), and `rollups` when they
    are not this code's. Reads only, so any role of storage/roles.py may ask."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return [m.version for m in load_migrations() if not m.requires] + ["rollups"]
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    installed = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    todo = [m.version for m in load_migrations() if m.version not in done and set(m.requires) <= installed]
    return todo if rollups.is_current(conn) else [*todo, "rollups"]


def require_current(dsn: str) -> None:
    """Refuse (StorageError) a database that `migrate` has files left to apply to: a process given only its own
    role's DSN cannot migrate, and must not run against a schema its code does not expect. Rollups of another
    version only warn: they still answer."""
    with connect(dsn, autocommit=True) as conn:
        try:
            todo = pending(conn)
        except psycopg.Error as exc:
            raise StorageError(N_("cannot read the schema version at {dsn}: {error}"), dsn=redact_dsn(dsn),
                               error=" ".join(str(exc).split())) from None
    if todo == ["rollups"]:  # the old rollups still answer, only slower or without new columns: go on
        log.warning("the rollups at %s are not this code's version: run `jianguan db migrate` with the owner's "
                    "DSN in JIANGUAN_DSN", redact_dsn(dsn))
    elif todo:
        raise StorageError(N_("the database at {dsn} is not up to date (pending: {versions}); run `jianguan db "
                              "migrate` with the owner's DSN in JIANGUAN_DSN"), dsn=redact_dsn(dsn),
                           versions=", ".join(todo))


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql)  # no parameters: sent as one simple query, many statements allowed
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())
        raise StorageError(N_("migration {version} failed and was rolled back: {error}"), version=migration.version,
                           error=detail) from None
    log.info("applied migration %s", migration.version)


# Extensions that must be in shared_preload_libraries before CREATE EXTENSION (else: FATAL, connection lost).
PRELOADED = {"timescaledb"}


def _ensure_extension(conn: psycopg.Connection, name: str) -> bool:
    """Create extension `name` if the server offers it; False when it is absent or cannot be created
    (e.g. timescaledb installed but not in shared_preload_libraries)."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone() is None:
        return False
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (name,)).fetchone() is not None:
        return True
    if name in PRELOADED and name not in _preloaded(conn):
        log.warning("%s is installed on the server but not preloaded, so it is not used: add "
                    "shared_preload_libraries = '%s' to postgresql.conf and restart PostgreSQL; "
                    "going on with plain PostgreSQL", name, name)
        return False
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        log.warning("extension %s is available but could not be created: %s", name, " ".join(str(exc).split()))
        return False
    return True


def _preloaded(conn: psycopg.Connection) -> set[str]:
    value = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0] or ""
    return {lib.strip().strip('"').removesuffix(".so").rsplit("/", 1)[-1] for lib in value.split(",") if lib.strip()}
