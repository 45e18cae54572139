"""Alert lifecycle rows in the real database: dedup, close, clip attach."""

from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import AlertStore
from analytics import Incident


@pytest.fixture
def store(db_dsn, role_dsn):
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES"
                     " ('w1', 's1', 'Window 1', 'window', 5), ('w2', 's1', 'Window 2', 'window', 5)")
    # As a node writes them: with the node's database role (issue 18).
    with ConnectionPool(role_dsn("node"), min_size=1, max_size=2, open=True) as pool:
        yield AlertStore(pool)


def incident(camera="w1", zone="staff", start=1_700_000_000.0):
    return Incident(camera_id=camera, rule="zone_unattended", zone_id=zone, severity="major", started_at=start,
                    raised_at=start + 60, track_ids=[3], boxes=[{"ts": start - 1, "track_id": 3,
                                                                 "xyxy": [1, 2, 3, 4]}],
                    measures={"threshold_s": 60.0, "empty_s": 60.0})


def q(dsn, sql, *args):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def test_same_key_while_live_is_one_alert(store, db_dsn):
    a = store.record_incident(incident(), "s1", "t", ("/x.jpg", "ab"))
    b = store.record_incident(incident(start=1_700_000_500.0), "s1", "t", ("/y.jpg", "cd"))
    c = store.record_incident(incident(camera="w2"), "s1", "t", None)
    assert a.created and not b.created and c.created
    assert a.alert_id == b.alert_id != c.alert_id
    assert a.incident_id != b.incident_id
    assert q(db_dsn, "SELECT count(*) FROM alerts") == [(2,)]
    actions = q(db_dsn, "SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id", a.alert_id)
    assert actions == [("opened",), ("incident_merged",)]


def test_a_closed_alert_does_not_absorb_the_next_incident(store, db_dsn):
    a = store.record_incident(incident(), "s1", "t", None)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE alerts SET status = 'closed' WHERE id = %s", (a.alert_id,))
    b = store.record_incident(incident(start=1_700_001_000.0), "s1", "t", None)
    assert b.created and b.alert_id != a.alert_id


def test_close_and_attach_clip(store, db_dsn):
    inc = incident()
    ref = store.record_incident(inc, "s1", "t", None)
    inc.ended_at = inc.started_at + 90
    inc.measures["empty_s"] = 90.0
    store.close_incident(ref, inc)

    @dataclass
    class Clip:
        path: Path
        sha256: str
        bytes: int
        start_ts: float
        end_ts: float

    clip_id = store.attach_clip(ref.alert_id, "w1", Clip(Path("/c.mp4"), "ff" * 32, 1234, inc.started_at - 5,
                                                          inc.raised_at + 5))
    ((ended, evidence),) = q(db_dsn, "SELECT ended_at, evidence FROM incidents WHERE id = %s", ref.incident_id)
    assert ended.timestamp() == inc.ended_at
    assert evidence["measures"]["empty_s"] == 90.0 and evidence["boxes"][0]["track_id"] == 3
    assert q(db_dsn, "SELECT clip_id, ended_at IS NOT NULL FROM alerts WHERE id = %s", ref.alert_id) == [
        (clip_id, True)]
    assert q(db_dsn, "SELECT locked, bytes FROM clips WHERE id = %s", clip_id) == [(True, 1234)]


@pytest.mark.parametrize("table", ["alert_events", "audit_log"])
def test_trails_are_append_only(store, db_dsn, table):
    ref = store.record_incident(incident(), "s1", "t", None)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO audit_log (actor, action, object) VALUES ('a', 'verdict', 'alert:1')")
    for sql in (f"UPDATE {table} SET actor = 'someone else'", f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE"):
        with psycopg.connect(db_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege,
                                                            match="append-only"):
            conn.execute(sql)
    assert q(db_dsn, f"SELECT count(*) > 0 FROM {table}") == [(True,)]
    assert ref.alert_id


def test_cooldown_after_close_records_instead_of_paging_again(store, db_dsn):
    a = store.record_incident(incident(), "s1", "t", None, cooldown_s=300)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE alerts SET status = 'closed', updated_at = now() WHERE id = %s", (a.alert_id,))
    b = store.record_incident(incident(start=1_700_000_900.0), "s1", "t", None, cooldown_s=300)
    assert not b.created and b.alert_id == a.alert_id and b.incident_id != a.incident_id
    assert q(db_dsn, "SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id", a.alert_id) == [
        ("opened",), ("incident_during_cooldown",)]
    with psycopg.connect(db_dsn) as conn:  # the cooldown has passed
        conn.execute("UPDATE alerts SET updated_at = now() - interval '301 seconds' WHERE id = %s", (a.alert_id,))
    c = store.record_incident(incident(start=1_700_001_900.0), "s1", "t", None, cooldown_s=300)
    assert c.created and c.alert_id != a.alert_id
