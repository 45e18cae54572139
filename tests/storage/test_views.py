"""The business metric views (0003; continuous aggregates of the same names from 0004 on TimescaleDB)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage import load_migrations

T0 = datetime(2024, 5, 7, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Asia/Shanghai
VIEWS = ("business_volume_hourly", "camera_uptime_hourly", "alerts_daily")
COLUMNS = {
    "business_volume_hourly": ["bucket", "site_id", "window_id", "business_type", "transactions", "finished",
                               "avg_wait_s", "p50_wait_s", "p90_wait_s", "avg_handle_s", "p50_handle_s",
                               "p90_handle_s", "within_target", "within_target_share"],
    "camera_uptime_hourly": ["bucket", "camera_id", "samples", "online_samples", "uptime_share", "avg_process_fps",
                             "max_lag_s", "reconnects"],
    "alerts_daily": ["day", "bucket", "site_id", "rule", "alerts", "major_or_critical", "confirmed", "false_alarms",
                     "needs_follow_up", "pending"],
}


def _timescale(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is not None


def test_migration_files_pair_up():
    """0003 (plain) and 0004 (TimescaleDB) define the hourly views under the same names; 0004 is gated."""
    by_version = {m.version: m for m in load_migrations()}
    plain, tsdb = by_version["0003_business_views"], by_version["0004_timescale_aggregates"]
    assert plain.requires == () and tsdb.requires == ("timescaledb",)
    created = set(re.findall(r"^CREATE MATERIALIZED VIEW (\w+)", tsdb.sql, re.M))
    assert created == {"business_volume_hourly", "camera_uptime_hourly"}
    assert created <= set(re.findall(r"^CREATE VIEW (\w+)", plain.sql, re.M))
    assert tsdb.sql.count("timescaledb.materialized_only = false") == len(created)


def test_views_have_their_columns(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        for view in VIEWS:
            cur = conn.execute(f"SELECT * FROM {view} LIMIT 0")
            assert [d.name for d in cur.description] == COLUMNS[view]


def test_business_volume_hourly(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        rows = []
        for i in range(10):  # 10 tickets at window W1 in one hour: waits 60..600 s, handling 300 s
            queued = T0 + timedelta(minutes=5 * i)
            rows.append((f"m{i}", "s1", "W1", "registration", queued, queued + timedelta(seconds=60 * (i + 1)),
                         queued + timedelta(seconds=60 * (i + 1) + 300) if i < 9 else None, 60.0 * (i + 1),
                         300.0 if i < 9 else None))
        rows.append(("m-next-hour", "s1", "W1", "registration", T0 + timedelta(hours=1), None, None, None, None))
        conn.cursor().executemany(
            "INSERT INTO transactions (message_id, site_id, window_id, business_type, queued_at, called_at,"
            " finished_at, wait_s, handle_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        got = conn.execute("SELECT bucket, transactions, finished, avg_wait_s, p50_wait_s, p90_wait_s, avg_handle_s,"
                           " within_target, within_target_share FROM business_volume_hourly"
                           " WHERE site_id = 's1' ORDER BY bucket").fetchall()
    assert len(got) == 2
    bucket, n, finished, avg_wait, p50, p90, avg_handle, within, share = got[0]
    assert bucket == T0 and n == 10 and finished == 9
    assert avg_wait == pytest.approx(330) and p50 == pytest.approx(330) and p90 == pytest.approx(546)
    assert avg_handle == pytest.approx(300)
    # wait + handle <= 1800 s for all 9 finished tickets (the slowest: 540 + 300)
    assert within == 9 and share == pytest.approx(0.9)
    assert got[1][0] == T0 + timedelta(hours=1) and got[1][1] == 1


def test_camera_uptime_hourly(db_dsn):
    with psycopg.connect(db_dsn) as conn, conn.cursor().copy(
            "COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps, detection_fps,"
            " decode_ms, lag_s, reconnects) FROM STDIN") as copy:
        for minute in range(120):  # cam-a offline for 15 minutes of the first hour, reconnecting 3 times
            offline = 10 <= minute < 25
            copy.write_row((T0 + timedelta(minutes=minute), "cam-a", not offline, 25.0, 0.0 if offline else 5.0,
                            0.0, 4.0, 3.0, 0.5, min(3, max(0, minute - 22))))
    with psycopg.connect(db_dsn) as conn:
        got = conn.execute("SELECT bucket, samples, online_samples, uptime_share, reconnects FROM camera_uptime_hourly"
                           " ORDER BY bucket").fetchall()
    assert got == [(T0, 60, 45, 0.75, 3), (T0 + timedelta(hours=1), 60, 60, 1.0, 0)]


def test_alerts_daily_uses_the_sites_local_day(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name, timezone) VALUES ('s1', 'Office', 'Asia/Shanghai')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES ('c1', 's1', 'C1', 'window', 5)")
        # 23:30 UTC on the 6th is 07:30 on the 7th in Shanghai: the same local day as T0 (10:00 on the 7th).
        for i, (at, verdict, status) in enumerate([(T0, "confirmed", "closed"),
                                                   (T0 - timedelta(hours=2, minutes=30), "false_alarm", "closed"),
                                                   (T0 + timedelta(days=1), None, "open")]):
            conn.execute("INSERT INTO alerts (dedup_key, site_id, camera_id, rule, severity, status, verdict, title,"
                         " started_at) VALUES (%s, 's1', 'c1', 'zone_unattended', 'major', %s, %s, 't', %s)",
                         (f"k{i}", status, verdict, at))
        got = conn.execute("SELECT day::text, bucket, alerts, confirmed, false_alarms, pending FROM alerts_daily"
                           " ORDER BY day").fetchall()
    assert got == [("2024-05-07", datetime(2024, 5, 6, 16, 0, tzinfo=UTC), 2, 1, 1, 0),
                   ("2024-05-08", datetime(2024, 5, 7, 16, 0, tzinfo=UTC), 1, 0, 0, 1)]


def test_hourly_views_are_continuous_aggregates_on_timescaledb(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        if not _timescale(conn):
            pytest.skip("timescaledb is not available on this server (plain PostgreSQL): 0004 not applied")
        got = dict(conn.execute("SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
                                ).fetchall())
        from storage.rollups import ROLLUPS  # 0004's two, and the rollups of storage/rollups.py

        assert got == dict.fromkeys(["business_volume_hourly", "camera_uptime_hourly", *(r.name for r in ROLLUPS)],
                                    False)
        jobs = {r[0] for r in conn.execute("SELECT proc_name FROM timescaledb_information.jobs")}
        assert {"policy_refresh_continuous_aggregate", "policy_compression", "policy_retention"} <= jobs
