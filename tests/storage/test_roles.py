"""Least privilege in the database (issue 18): each process kind's role does what its process needs and cannot
undo the append-only trails: no disabling or dropping their triggers, no UPDATE, DELETE or TRUNCATE, no
session_replication_role. The owner (the migrating role) alone could; no process connects as it."""

from __future__ import annotations

import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from storage import KINDS, EmbeddedPostgres, StorageConfig, StorageError, open_store, role_name
from storage.rollups import backend_of, refresh_rollups
from tests.testkit.pg import empty_database

TRAILS = ("alert_events", "audit_log", "rectification_events")
DENIED = psycopg.errors.InsufficientPrivilege


@pytest.fixture
def rows(db_dsn: str) -> dict[str, int]:
    """One row of everything the checks touch, written by the owner."""
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Office')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES ('w1', 's1', 'W1', 'window', 5)")
        clip = conn.execute("INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked)"
                            " VALUES ('w1', now(), now(), '/x.mp4', 'ab', 1, true) RETURNING id").fetchone()[0]
        alert = conn.execute("INSERT INTO alerts (dedup_key, site_id, camera_id, rule, severity, title, started_at,"
                             " clip_id) VALUES ('k', 's1', 'w1', 'zone_unattended', 'major', 'T', now(), %s)"
                             " RETURNING id", (clip,)).fetchone()[0]
        rect = conn.execute("INSERT INTO rectifications (alert_id) VALUES (%s) RETURNING id", (alert,)).fetchone()[0]
        conn.execute("INSERT INTO alert_events (alert_id, actor, action) VALUES (%s, 'system', 'opened')", (alert,))
        conn.execute("INSERT INTO audit_log (actor, action, object) VALUES ('a', 'login', 'session')")
        conn.execute("INSERT INTO rectification_events (rectification_id, actor, action) VALUES (%s, 'system',"
                     " 'opened')", (rect,))
        user = conn.execute("INSERT INTO users (username, password_hash, role, sites) VALUES"
                            " ('aud', 'x', 'auditor', '{s1}') RETURNING id").fetchone()[0]
    return {"alert": alert, "clip": clip, "rect": rect, "user": user}


def denied(dsn: str, statement: str, why: str = "permission denied") -> str:
    """Run `statement` as the DSN's role; it must be refused for lack of privilege, saying `why`."""
    with psycopg.connect(dsn) as conn, pytest.raises(DENIED) as exc:
        conn.execute(statement)  # type: ignore[arg-type]
    message = str(exc.value)
    assert why in message, message
    return message


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("table", TRAILS)
def test_no_role_can_rewrite_a_trail(role_dsn, rows, kind, table):
    dsn = role_dsn(kind)
    # Privileges refuse these, before any trigger runs (the trigger's refusal says "append-only").
    denied(dsn, f"UPDATE {table} SET actor = 'someone else'")
    denied(dsn, f"DELETE FROM {table}")
    denied(dsn, f"TRUNCATE {table}")
    # Only the owner may touch the triggers, or switch them off for the session.
    denied(dsn, f"ALTER TABLE {table} DISABLE TRIGGER ALL", "must be owner")
    denied(dsn, f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only", "must be owner")
    denied(dsn, f"DROP TRIGGER {table}_no_truncate ON {table}", "must be owner")
    denied(dsn, "SET session_replication_role = replica", "permission denied to set parameter")
    denied(dsn, f"ALTER TABLE {table} OWNER TO {role_name(kind)}", "must be owner")


@pytest.mark.parametrize("kind", KINDS)
def test_no_role_is_privileged_or_creates_objects(role_dsn, kind):
    with psycopg.connect(role_dsn(kind)) as conn:
        flags = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
                             " WHERE rolname = current_user").fetchone()
        assert flags == (False, False, False, False)
        # Nobody runs as the owner of a table.
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                            " AND pg_has_role(tableowner, 'USAGE')").fetchone() == (0,)
    denied(role_dsn(kind), "CREATE TABLE mine (x int)")
    denied(role_dsn(kind), "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'")


def test_the_desk_gives_verdicts_and_writes_the_trail(role_dsn, rows, db_dsn):
    alert, clip = rows["alert"], rows["clip"]
    with psycopg.connect(role_dsn("desk")) as conn:
        conn.execute("SELECT status FROM alerts WHERE id = %s FOR UPDATE", (alert,))
        conn.execute("UPDATE alerts SET verdict = 'confirmed', status = 'reviewed', updated_at = now()"
                     " WHERE id = %s", (alert,))
        conn.execute("INSERT INTO alert_events (alert_id, actor, action) VALUES (%s, 'aud', 'verdict')", (alert,))
        conn.execute("INSERT INTO audit_log (actor, action, object) VALUES ('aud', 'verdict', %s)", (f"alert:{alert}",))
        conn.execute("UPDATE clips SET locked = false WHERE id = %s", (clip,))
        conn.execute("UPDATE rectifications SET status = 'rectified', rectified_at = now(), note = 'fixed',"
                     " updated_at = now() WHERE id = %s", (rows["rect"],))
        conn.execute("INSERT INTO rectification_events (rectification_id, actor, action) VALUES (%s, 'c', 'rectified')",
                     (rows["rect"],))
        conn.execute("UPDATE users SET locale = 'en' WHERE id = %s", (rows["user"],))
        conn.execute("INSERT INTO desk_sessions (id, user_id, expires_at) VALUES ('h', %s, now() + interval '1 h')",
                     (rows["user"],))
        conn.execute("UPDATE desk_sessions SET last_seen_at = now() WHERE id = 'h'")
        conn.execute("DELETE FROM desk_sessions WHERE user_id = %s", (rows["user"],))
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT verdict, status FROM alerts WHERE id = %s", (alert,)).fetchone() == \
            ("confirmed", "reviewed")
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (2,)


def test_the_desk_cannot_rewrite_facts_or_accounts(role_dsn, rows):
    desk = role_dsn("desk")
    denied(desk, f"UPDATE alerts SET title = 'nothing happened' WHERE id = {rows['alert']}")
    denied(desk, f"UPDATE alerts SET started_at = now() WHERE id = {rows['alert']}")
    denied(desk, f"DELETE FROM alerts WHERE id = {rows['alert']}")
    denied(desk, f"UPDATE users SET role = 'admin' WHERE id = {rows['user']}")
    denied(desk, f"UPDATE users SET password_hash = 'x' WHERE id = {rows['user']}")
    denied(desk, "INSERT INTO users (username, password_hash, role) VALUES ('me', 'x', 'admin')")
    denied(desk, f"UPDATE clips SET path = '/elsewhere' WHERE id = {rows['clip']}")
    denied(desk, "INSERT INTO outbox (channel, idempotency_key, payload) VALUES ('c', 'k', '{}')")


def test_each_kind_writes_only_its_own(role_dsn, rows):
    alert = rows["alert"]
    # A node ends and extends alerts, never decides them; nor reads the desk's accounts.
    denied(role_dsn("node"), f"UPDATE alerts SET verdict = 'false_alarm' WHERE id = {alert}")
    denied(role_dsn("node"), f"UPDATE alerts SET status = 'closed' WHERE id = {alert}")
    denied(role_dsn("node"), f"UPDATE clips SET locked = false WHERE id = {rows['clip']}")
    denied(role_dsn("node"), "INSERT INTO audit_log (actor, action, object) VALUES ('n', 'x', 'y')")
    # The intake writes lane events and transactions, nothing of the alerts.
    denied(role_dsn("intake"), "INSERT INTO alerts (dedup_key, site_id, rule, severity, title, started_at)"
                               " VALUES ('x', 's1', 'r', 'major', 't', now())")
    denied(role_dsn("intake"), "INSERT INTO alert_events (alert_id, actor, action) VALUES (1, 'i', 'x')")
    # Business alerts are opened and merged, never reviewed; reports only archive and push.
    denied(role_dsn("business"), f"UPDATE alerts SET verdict = 'confirmed' WHERE id = {alert}")
    denied(role_dsn("business"), "INSERT INTO lane_events (ts, message_id, site_id, lane_id, kind)"
                                 " VALUES (now(), 'm', 's1', 'l', 'vehicle_in')")
    denied(role_dsn("reports"), f"UPDATE alerts SET updated_at = now() WHERE id = {alert}")
    denied(role_dsn("reports"), "INSERT INTO incidents (rule, started_at) VALUES ('r', now())")
    for kind in ("node", "intake", "business", "reports"):
        for table in ("users", "desk_sessions", "audit_log"):
            denied(role_dsn(kind), f"SELECT * FROM {table}")


def test_the_node_writes_series_and_refreshes_rollups(role_dsn, db_dsn):
    node = role_dsn("node")
    with psycopg.connect(node) as conn:
        conn.execute("INSERT INTO camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps,"
                     " detection_fps, decode_ms, lag_s, reconnects) VALUES"
                     " (now() - interval '3 hours', 'w1', true, 25, 5, 0, 5, 3, 0.5, 0)")
        conn.execute("INSERT INTO occupancy_samples (ts, camera_id, zone_id, people)"
                     " VALUES (now() - interval '3 hours', 'w1', 'staff', 1)")
        plain = backend_of(conn).name == "plain"
    refreshed = refresh_rollups(node)  # plain: the owner's SECURITY DEFINER function; TimescaleDB: its policies
    with psycopg.connect(db_dsn) as conn:
        rows = conn.execute("SELECT sum(samples) FROM camera_stats_hourly").fetchone()
    assert rows == (1,)
    if plain:
        assert {r.rollup for r in refreshed} == {"camera_stats_hourly", "occupancy_hourly"}
        with psycopg.connect(db_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM rollup_camera_stats_hourly").fetchone() == (1,)
        denied(node, "DELETE FROM rollup_camera_stats_hourly")  # only through the function
        denied(role_dsn("desk"), "SELECT * FROM refresh_rollups(NULL, NULL)")


def test_a_role_dsn_alone_cannot_migrate_and_refuses_a_stale_schema(pg_admin_dsn, as_role, monkeypatch):
    with empty_database(pg_admin_dsn, "jianguan_roles") as dsn:
        monkeypatch.delenv("JIANGUAN_DSN", raising=False)
        monkeypatch.setenv("JIANGUAN_DSN_INTAKE", as_role(dsn, "intake"))
        store = open_store(StorageConfig(data_dir=Path("/nonexistent")), "intake")
        assert store.owner_dsn is None and store.embedded is None
        with pytest.raises(StorageError) as exc:
            store.migrate()
        assert "jianguan db migrate" in str(exc.value) and "0014_roles" in str(exc.value)
        # Given the owner's DSN too, it migrates as the owner and goes on working as its role.
        monkeypatch.setenv("JIANGUAN_DSN", dsn)
        store = open_store(StorageConfig(), "intake")
        assert store.owner_dsn == dsn and conninfo_to_dict(store.dsn)["user"] == "jianguan_intake"
        assert "0014_roles" in store.migrate()
        assert store.migrate() == []
        monkeypatch.delenv("JIANGUAN_DSN")
        assert open_store(StorageConfig(), "intake").migrate() == []  # now current: the role alone may run


def test_the_owner_dsn_alone_still_works_with_a_warning(db_dsn, monkeypatch, caplog):
    for kind in KINDS:
        monkeypatch.delenv(f"JIANGUAN_DSN_{kind.upper()}", raising=False)
    monkeypatch.setenv("JIANGUAN_DSN", db_dsn)
    store = open_store(StorageConfig(), "desk")
    assert store.dsn == store.owner_dsn == db_dsn
    assert "JIANGUAN_DSN_DESK is not set" in caplog.text


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="jianguan-roles-"))  # not tmp_path: the server account must reach it
    yield path
    EmbeddedPostgres(path).stop()
    shutil.rmtree(path, ignore_errors=True)


def test_the_embedded_server_sets_up_the_logins_itself(data_dir, monkeypatch):
    for var in ("JIANGUAN_DSN", *(f"JIANGUAN_DSN_{k.upper()}" for k in KINDS)):
        monkeypatch.delenv(var, raising=False)
    store = open_store(StorageConfig(data_dir=data_dir), "desk")
    try:
        assert store.embedded is not None and store.embedded.started_here
        assert "0014_roles" in store.migrate()  # as the superuser, who owns the schema
        for kind in KINDS:
            path = store.embedded.role_password_path(kind)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.read_text().strip() in store.embedded.role_dsn(kind)
        with psycopg.connect(store.dsn) as conn:
            assert conn.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"
                                ).fetchone() == ("jianguan_desk", False)
        denied(store.dsn, "ALTER TABLE audit_log DISABLE TRIGGER ALL", "must be owner")
        # Another process of another kind on the same server: found running, same passwords, its own role.
        node = open_store(StorageConfig(data_dir=data_dir), "node")
        assert not node.embedded.started_here and node.owner_dsn == store.owner_dsn
        assert conninfo_to_dict(node.dsn)["user"] == "jianguan_node"
        with psycopg.connect(node.dsn) as conn:
            conn.execute("SELECT 1")
        # A password file removed by hand is made again, and the role's password with it, at the next start.
        store.embedded.role_password_path("node").unlink()
        again = open_store(StorageConfig(data_dir=data_dir), "node")
        assert again.dsn != node.dsn
        with psycopg.connect(again.dsn) as conn:
            conn.execute("SELECT 1")
    finally:
        store.close()
