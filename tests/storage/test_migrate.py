"""Migrations against a real server: idempotent, safe under concurrency, TimescaleDB file skipped on plain PG."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from storage import StorageError, connect, load_migrations, migrate, redact_dsn, timescaledb_enabled
from tests.testkit.pg import empty_database


@pytest.fixture
def empty_db(pg_admin_dsn):
    with empty_database(pg_admin_dsn, "jianguan_m") as dsn:
        yield dsn


def _timescale_available(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone() is not None


def _recorded(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_files_are_found_in_order():
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    assert versions[:2] == ["0001_core", "0002_timescale"]
    assert versions == sorted(versions)
    assert migrations[0].requires == () and migrations[1].requires == ("timescaledb",)


def test_migrate_is_idempotent(empty_db):
    first = migrate(empty_db)
    assert "0001_core" in first
    assert migrate(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"sites", "cameras", "alerts", "occupancy_samples", "camera_stats", "outbox", "schema_migrations"} <= tables


def test_timescale_file_skipped_and_not_recorded_on_plain_postgres(empty_db):
    if _timescale_available(empty_db):
        pytest.skip("timescaledb is installed on this server")
    applied = migrate(empty_db)
    assert "0002_timescale" not in applied
    assert "0002_timescale" not in _recorded(empty_db)
    with connect(empty_db) as conn:
        assert timescaledb_enabled(conn) is False


def test_timescale_file_applied_where_available(empty_db):
    if not _timescale_available(empty_db):
        pytest.skip("timescaledb is not available on this server (plain PostgreSQL)")
    assert "0002_timescale" in migrate(empty_db)
    with connect(empty_db) as conn:
        assert timescaledb_enabled(conn)


def test_concurrent_migrations_apply_each_file_once(empty_db):
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(migrate(empty_db))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == _recorded(empty_db)  # every recorded file applied by exactly one of the two
    assert [] in results


def test_db_dsn_fixture_is_migrated_and_fresh(db_dsn):
    assert "0001_core" in _recorded(db_dsn)
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sites").fetchone() == (0,)
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")


def test_db_dsn_fixture_does_not_leak_between_tests(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sites").fetchone() == (0,)


def test_bad_dsn_error_hides_the_password():
    secret = "s3cr3t-Pa55"
    for dsn in (f"host=127.0.0.1 port=1 user=u password={secret} dbname=x connect_timeout=2",
                f"postgresql://u:{secret}@127.0.0.1:1/x?connect_timeout=2"):
        with pytest.raises(StorageError) as info:
            migrate(dsn)
        message = str(info.value)
        assert secret not in message and "\n" not in message
        assert "cannot connect" in message and "127.0.0.1" in message


def test_unparseable_dsn_is_a_storage_error():
    with pytest.raises(StorageError, match="invalid PostgreSQL DSN") as info:
        connect("host=x password='unterminated-s3cr3t")
    assert "s3cr3t" not in str(info.value)


def test_wrong_password_is_a_storage_error(pg_admin_dsn):
    params = psycopg.conninfo.conninfo_to_dict(pg_admin_dsn)
    if "password" not in params:
        pytest.skip("server under test does not use a password")
    bad = make_conninfo(pg_admin_dsn, password="wrong-Pa55word")
    with pytest.raises(StorageError, match="password authentication failed") as info:
        connect(bad)
    assert "wrong-Pa55word" not in str(info.value)


@pytest.mark.parametrize(("dsn", "shown"), [
    ("host=h user=u password=abc dbname=d", "host=h user=u password=*** dbname=d"),
    ("host=h password='a b\\'c' dbname=d", "host=h password=*** dbname=d"),
    ("postgresql://u:abc@h:5432/d", "postgresql://u:***@h:5432/d"),
    ("postgresql://u@h/d?password=abc&sslmode=require", "postgresql://u@h/d?password=***&sslmode=require"),
    ("postgresql://h/d", "postgresql://h/d"),
])
def test_redact_dsn(dsn, shown):
    assert redact_dsn(dsn) == shown
