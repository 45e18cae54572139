"""The embedded PostgreSQL: first start, reuse, stop, restart, and the errors a user can cause."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

import storage.embedded as embedded
from storage import EmbeddedPostgres, StorageConfig, StorageError, connect, redact_dsn, resolve_dsn


@pytest.fixture
def data_dir():
    # Under /tmp directly: pytest's tmp_path is in a 0700 directory the server account cannot enter as root.
    path = Path(tempfile.mkdtemp(prefix="jianguan-embedded-"))
    yield path
    EmbeddedPostgres(path).stop()
    shutil.rmtree(path, ignore_errors=True)


def test_start_reuse_stop_restart(data_dir):
    server = EmbeddedPostgres(data_dir)
    dsn = server.start()
    assert server.started_here
    password = server.password_path.read_text().strip()
    assert len(password) >= 24 and password in dsn and password not in redact_dsn(dsn)
    assert stat.S_IMODE(server.password_path.stat().st_mode) == 0o600
    with connect(dsn) as conn:
        assert conn.execute("SELECT current_database(), current_setting('application_name')").fetchone() == \
            ("jianguan", "jianguan")
        assert conn.autocommit is False
        assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("127.0.0.1",)

    # A second object on the same directory finds the running server and reuses it.
    again = EmbeddedPostgres(data_dir)
    assert again.start() == dsn
    assert not again.started_here

    server.stop()
    assert server.running_port() is None
    with pytest.raises(StorageError):
        connect(dsn, connect_timeout=2)

    # Restart: same cluster (data survives), same password.
    restarted = EmbeddedPostgres(data_dir)
    dsn2 = restarted.start()
    assert restarted.started_here and password in dsn2
    assert (data_dir / "server.log").stat().st_size > 0
    restarted.stop()


def test_context_manager_stops_what_it_started(data_dir):
    with EmbeddedPostgres(data_dir) as server:
        port = server.running_port()
        assert port is not None
    assert EmbeddedPostgres(data_dir).running_port() is None


def test_data_survives_restart(data_dir):
    with EmbeddedPostgres(data_dir) as server, connect(server.dsn(server.running_port())) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('监管')")
        conn.commit()
    with EmbeddedPostgres(data_dir) as server, connect(server.dsn(server.running_port())) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("监管",)]


def test_fixed_port_busy_is_a_clear_error(data_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StorageError, match=f"port {port} .*already in use"):
            EmbeddedPostgres(data_dir, port=port).start()


def test_fixed_port_is_used(data_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with EmbeddedPostgres(data_dir, port=port) as server:
        assert server.running_port() == port


def test_missing_binaries(monkeypatch, tmp_path, data_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(embedded, "SEARCH_ROOTS", [tmp_path / "nowhere"])
    with pytest.raises(StorageError, match="binaries .* not found") as info:
        EmbeddedPostgres(data_dir).start()
    assert "\n" not in str(info.value)


def test_server_that_will_not_start_shows_its_log(data_dir):
    server = EmbeddedPostgres(data_dir)
    server.start()
    server.stop()
    with (server.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("shared_buffers = 'not-a-size'\n")
    with pytest.raises(StorageError, match="failed to start") as info:
        EmbeddedPostgres(data_dir).start()
    message = str(info.value)
    assert "shared_buffers" in message and "server.log" in message
    assert "\n" not in message and server.password_path.read_text().strip() not in message


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_unreachable_data_dir_as_root(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(StorageError, match="not searchable"):
        EmbeddedPostgres(private / "pg").start()


def test_resolve_dsn_prefers_environment(monkeypatch):
    monkeypatch.setenv("JIANGUAN_DSN", "host=db.example port=5432 dbname=x")
    assert resolve_dsn(StorageConfig(dsn="host=other")) == ("host=db.example port=5432 dbname=x", None)
    monkeypatch.delenv("JIANGUAN_DSN")
    assert resolve_dsn(StorageConfig(dsn="host=other")) == ("host=other", None)


def test_resolve_dsn_starts_embedded(monkeypatch, data_dir):
    monkeypatch.delenv("JIANGUAN_DSN", raising=False)
    dsn, server = resolve_dsn(StorageConfig(data_dir=data_dir))
    assert server is not None
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError):
        StorageConfig(dsn=None, datadir="typo")
