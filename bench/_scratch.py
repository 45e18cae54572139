"""A throwaway, migrated database for a benchmark: on $JIANGUAN_DSN's server, or a private embedded one."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from storage import EmbeddedPostgres, migrate


@contextmanager
def scratch_database(prefix: str = "jianguan-bench-") -> Iterator[str]:
    """Yield the DSN of a fresh migrated database; drop it (and stop a server started here) afterwards."""
    admin = os.environ.get("JIANGUAN_DSN", "").strip()
    server = data_dir = None
    if not admin:
        data_dir = Path(tempfile.mkdtemp(prefix=prefix))  # under /tmp: reachable by the server's account
        server = EmbeddedPostgres(data_dir)
        admin = server.start()
    name = f"jianguan_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dsn = make_conninfo(admin, dbname=name)
        migrate(dsn)
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
