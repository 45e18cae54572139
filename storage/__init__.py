"""PostgreSQL (TimescaleDB where present) storage: the embedded server, connections, migrations, writers."""

from storage.config import DSN_ENV, StorageConfig, Store, open_store, resolve_dsn
from storage.dead_letters import put_dead_letters
from storage.dsn import connect, redact_dsn, timescaledb_enabled
from storage.embedded import EmbeddedPostgres, find_bindir
from storage.errors import StorageError
from storage.migrate import load_migrations, migrate, require_current
from storage.roles import KINDS, dsn_env, role_name
from storage.writers import BatchWriter

__all__ = [
    "DSN_ENV",
    "BatchWriter",
    "EmbeddedPostgres",
    "KINDS",
    "Store",
    "StorageConfig",
    "StorageError",
    "connect",
    "dsn_env",
    "find_bindir",
    "load_migrations",
    "migrate",
    "open_store",
    "put_dead_letters",
    "redact_dsn",
    "require_current",
    "resolve_dsn",
    "role_name",
    "timescaledb_enabled",
]
