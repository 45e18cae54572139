"""PostgreSQL (TimescaleDB where present) storage: the embedded server, connections, migrations, writers."""

from storage.config import DSN_ENV, StorageConfig, resolve_dsn
from storage.dsn import connect, redact_dsn, timescaledb_enabled
from storage.embedded import EmbeddedPostgres, find_bindir
from storage.errors import StorageError
from storage.migrate import load_migrations, migrate
from storage.writers import BatchWriter

__all__ = [
    "DSN_ENV",
    "BatchWriter",
    "EmbeddedPostgres",
    "StorageConfig",
    "StorageError",
    "connect",
    "find_bindir",
    "load_migrations",
    "migrate",
    "redact_dsn",
    "resolve_dsn",
    "timescaledb_enabled",
]
