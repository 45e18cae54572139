"""Hourly rollups (storage/rollups.py): equal to a direct GROUP BY over the raw rows on both backends; on plain
PostgreSQL kept up to date incrementally (closed hours only, late rows re-aggregated, nothing else touched).
The tests that read plain PostgreSQL's internals (rollup tables, watermarks) skip on TimescaleDB, saying so;
TimescaleDB's own behaviour is in test_timescale.py."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from storage.rollups import RollupRefresher, backend_of, refresh_rollups

T0 = datetime(2024, 5, 7, 2, 0, tzinfo=UTC)
STATS = ("ts", "camera_id", "online", "camera_fps", "process_fps", "skipped_fps", "detection_fps", "decode_ms",
         "lag_s", "reconnects", "luma_mean", "sharpness_ratio", "changed", "scene_shift", "analysed_fps", "needed_fps")

# Written here from the raw tables, independently of the migration's SQL.
DIRECT_STATS = """
SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01Z') AS bucket, camera_id, count(*), count(*) FILTER (WHERE online),
       sum(camera_fps::float8), sum(process_fps::float8), sum(skipped_fps::float8), sum(detection_fps::float8),
       sum(decode_ms::float8), max(lag_s), min(reconnects), max(reconnects),
       count(luma_mean), sum(luma_mean::float8), count(sharpness_ratio), sum(sharpness_ratio::float8),
       count(changed), sum(changed::float8), max(scene_shift),
       count(*) FILTER (WHERE analysed_fps IS NOT NULL AND needed_fps <> 0),
       sum((analysed_fps / needed_fps)::float8) FILTER (WHERE needed_fps <> 0)
FROM camera_stats GROUP BY 1, 2 ORDER BY 1, 2"""
DIRECT_OCCUPANCY = """
SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01Z') AS bucket, camera_id, zone_id, count(*), sum(people),
       max(people)
FROM occupancy_samples GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
# 0003's definition of camera_uptime_hourly, which 0009 re-defines over the rollup.
DIRECT_UPTIME = """
SELECT date_bin('1 hour', s.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, s.camera_id, count(*) AS samples,
       count(*) FILTER (WHERE s.online) AS online_samples,
       (count(*) FILTER (WHERE s.online))::float8 / count(*) AS uptime_share, avg(s.process_fps) AS avg_process_fps,
       max(s.lag_s) AS max_lag_s, max(s.reconnects) - min(s.reconnects) AS reconnects
FROM camera_stats s GROUP BY 1, 2 ORDER BY 1, 2"""


def stats_rows(rng: random.Random, start: datetime, minutes: int, cameras=("cam-a", "cam-b", "cam-c"), step_s=60):
    rows = []
    for cam in cameras:
        reconnects = 0
        for k in range(0, minutes * 60, step_s):
            online = rng.random() > 0.1
            reconnects += rng.random() < 0.05
            fps = round(rng.uniform(3, 5), 3) if online else 0.0
            # Picture measures: none while offline, the sharpness ratio only once its baseline is learned.
            picture = (rng.uniform(0, 255), rng.uniform(0.2, 1.5) if k > 600 else None, rng.uniform(0, 0.1),
                       rng.uniform(0, 0.02)) if online else (None,) * 4
            analysis = (rng.uniform(1, 2), rng.choice((2.0, 2.0, 0.0))) if rng.random() > 0.2 else (None, None)
            rows.append((start + timedelta(seconds=k), cam, online, 25.0, fps, rng.uniform(0, 1), rng.uniform(0, 5),
                         rng.uniform(2, 40), rng.uniform(0, 3), reconnects, *picture, *analysis))
    return rows


def copy_stats(conn: psycopg.Connection, rows) -> None:
    with conn.cursor().copy(f"COPY camera_stats ({', '.join(STATS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def occupancy_rows(rng: random.Random, start: datetime, minutes: int):
    return [(start + timedelta(seconds=k), cam, zone, rng.randint(0, 6))
            for cam in ("cam-a", "cam-b") for zone in ("staff", "queue") for k in range(0, minutes * 60, 30)]


def view(conn, name: str, keys: str):
    return conn.execute(f"SELECT * FROM {name} ORDER BY {keys}").fetchall()


def xmins(conn) -> dict:
    """Row version per rollup row: unchanged xmin = the bucket was not rewritten."""
    return {(b, c): x for b, c, x in conn.execute(
        "SELECT bucket, camera_id, xmin::text FROM rollup_camera_stats_hourly")}


@pytest.fixture
def conn(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def plain(conn):
    """For tests of plain PostgreSQL's rollup tables and watermarks (TimescaleDB has continuous aggregates)."""
    if backend_of(conn).name != "plain":
        pytest.skip("reads plain PostgreSQL's rollup tables; this server has TimescaleDB (test_timescale.py)")
    return conn


def bare(ts, cam, online, cam_fps, fps, skipped, det, decode, lag, reconnects):
    """A stats row without picture or analysis measures."""
    return (ts, cam, online, cam_fps, fps, skipped, det, decode, lag, reconnects, None, None, None, None, None, None)


def test_views_equal_a_direct_group_by_before_and_after_refresh(conn):
    rng = random.Random(5)
    copy_stats(conn, stats_rows(rng, T0 + timedelta(minutes=17), 6 * 60))
    conn.cursor().executemany("INSERT INTO occupancy_samples (ts, camera_id, zone_id, people) VALUES (%s, %s, %s, %s)",
                              occupancy_rows(rng, T0, 3 * 60))
    direct = conn.execute(DIRECT_STATS).fetchall()
    assert len(direct) == 3 * 7  # 6 h starting at :17 touch 7 hours
    # Never refreshed: everything comes from the live tail, and is already exact.
    assert view(conn, "camera_stats_hourly", "1, 2") == direct
    is_plain = backend_of(conn).name == "plain"
    if is_plain:
        assert conn.execute("SELECT count(*) FROM rollup_camera_stats_hourly").fetchone()[0] == 0

    done = {r.rollup: r for r in refresh_rollups(conn)}
    if is_plain:
        assert done["camera_stats_hourly"].buckets == len(direct)
        assert done["occupancy_hourly"].buckets == 2 * 2 * 3
        assert done["camera_stats_hourly"].watermark == datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        # Materialised now: the same rows from the rollup table (exact, floats included).
        assert conn.execute("SELECT * FROM rollup_camera_stats_hourly ORDER BY 1, 2").fetchall() == direct
    assert view(conn, "camera_stats_hourly", "1, 2") == direct
    assert view(conn, "occupancy_hourly", "1, 2, 3") == conn.execute(DIRECT_OCCUPANCY).fetchall()
    assert view(conn, "camera_uptime_hourly", "1, 2") == conn.execute(DIRECT_UPTIME).fetchall()
    if is_plain:  # a second refresh has nothing to do
        assert {r.rollup: r.buckets for r in refresh_rollups(conn)} == {"camera_stats_hourly": 0,
                                                                        "occupancy_hourly": 0}


def test_late_rows_re_aggregate_only_their_hours(plain, conn):
    rng = random.Random(6)
    copy_stats(conn, stats_rows(rng, T0, 5 * 60))
    refresh_rollups(conn)
    before = xmins(conn)
    # Late rows (a spool replayed after an outage, say) for hour 1 of cam-a and hour 3 of cam-b, through the
    # writers' durable path: INSERT .. ON CONFLICT DO NOTHING, with one duplicate that is not inserted.
    late = [bare(T0 + timedelta(hours=1, seconds=30), "cam-a", False, 0.0, 0.0, 0.0, 0.0, 0.0, 9.5, 7),
            bare(T0 + timedelta(hours=3, seconds=30), "cam-b", True, 25.0, 4.25, 0.5, 2.0, 3.0, 0.1, 0)]
    duplicate = next(r for r in stats_rows(random.Random(6), T0, 5 * 60) if r[1] == "cam-c")
    conn.cursor().executemany(
        f"INSERT INTO camera_stats ({', '.join(STATS)}) VALUES ({', '.join(['%s'] * len(STATS))})"
        " ON CONFLICT DO NOTHING", [*late, duplicate])
    stale = view(conn, "camera_stats_hourly", "1, 2")
    assert stale != conn.execute(DIRECT_STATS).fetchall()  # materialised hours do not see late rows yet
    assert conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone()[0] >= 2

    done = {r.rollup: r for r in refresh_rollups(conn)}
    assert view(conn, "camera_stats_hourly", "1, 2") == conn.execute(DIRECT_STATS).fetchall()
    assert done["camera_stats_hourly"].ranges == 2  # hour 1 and hour 3, not merged (hour 2 between)
    after = xmins(conn)
    rewritten = {key for key in before if after[key] != before[key]}
    # Whole hours are re-aggregated (every camera of them), and nothing else.
    assert {b for b, _ in rewritten} == {T0 + timedelta(hours=1), T0 + timedelta(hours=3)}
    assert conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone()[0] == 0
    row = conn.execute("SELECT samples, online_samples, max_lag_s, max_reconnects FROM camera_stats_hourly"
                       " WHERE camera_id = 'cam-a' AND bucket = %s", (T0 + timedelta(hours=1),)).fetchone()
    assert row[0] == 61 and row[2] == pytest.approx(9.5) and row[3] == 7


def test_open_hour_stays_live_and_new_hours_follow_the_watermark(plain, conn):
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    copy_stats(conn, [bare(hour - timedelta(minutes=30), "cam-a", True, 25.0, 5.0, 0.0, 4.0, 3.0, 0.2, 0),
                      bare(hour + timedelta(seconds=1), "cam-a", True, 25.0, 5.0, 0.0, 4.0, 3.0, 0.2, 0)])
    refresh_rollups(conn)
    materialised = [r[0] for r in conn.execute("SELECT bucket FROM rollup_camera_stats_hourly")]
    assert materialised == [hour - timedelta(hours=1)]  # the current hour is open: not materialised
    assert [r[0] for r in view(conn, "camera_stats_hourly", "1")] == [hour - timedelta(hours=1), hour]
    # Rows after the watermark show at once, without a refresh.
    copy_stats(conn, [bare(hour + timedelta(seconds=2), "cam-b", False, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1)])
    assert view(conn, "camera_stats_hourly", "1, 2") == conn.execute(DIRECT_STATS).fetchall()


def test_p_from_re_aggregates_older_hours(plain, conn):
    copy_stats(conn, stats_rows(random.Random(7), T0, 3 * 60))
    refresh_rollups(conn)
    conn.execute("UPDATE rollup_camera_stats_hourly SET samples = 0 WHERE bucket = %s", (T0,))  # damage
    assert view(conn, "camera_stats_hourly", "1, 2") != conn.execute(DIRECT_STATS).fetchall()
    refresh_rollups(conn, start=T0 + timedelta(minutes=10))  # floored to its hour
    assert view(conn, "camera_stats_hourly", "1, 2") == conn.execute(DIRECT_STATS).fetchall()


def test_rows_committed_after_a_refresh_began_are_not_lost(plain, conn, db_dsn):
    """A writer's transaction that was still open while a refresh materialised its hour: its hour is
    re-aggregated by the next refresh (its invalidation entries become visible with its rows)."""
    copy_stats(conn, stats_rows(random.Random(8), T0, 60))
    with psycopg.connect(db_dsn) as writer:  # a transaction left open
        copy_stats(writer, stats_rows(random.Random(9), T0 + timedelta(hours=2), 60, cameras=("cam-z",)))
        refresh_rollups(conn)  # runs while the writer's rows are invisible
        assert conn.execute("SELECT count(*) FROM camera_stats_hourly WHERE camera_id = 'cam-z'").fetchone()[0] == 0
        writer.commit()
    # The watermark has passed the writer's hour, so until the next refresh that hour is stale...
    assert conn.execute("SELECT count(*) FROM camera_stats_hourly WHERE camera_id = 'cam-z'").fetchone()[0] == 0
    refresh_rollups(conn)  # ...and then exact.
    assert view(conn, "camera_stats_hourly", "1, 2") == conn.execute(DIRECT_STATS).fetchall()


def test_concurrent_refreshes_and_writes_end_exact(conn, db_dsn):
    errors: list[BaseException] = []

    def writer(cam: str) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as c:
                rng = random.Random(cam)
                for batch in range(15):  # batches spread over past hours, as a spool replay would be
                    copy_stats(c, stats_rows(rng, T0 + timedelta(hours=batch % 5, minutes=batch), 1,
                                             cameras=(cam,), step_s=1))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def refresher() -> None:
        try:
            for _ in range(8):
                refresh_rollups(db_dsn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(3)]
    threads += [threading.Thread(target=refresher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors  # refreshes wait for each other (and for TimescaleDB's policy job) instead of failing
    refresh_rollups(conn)
    assert view(conn, "camera_stats_hourly", "1, 2") == conn.execute(DIRECT_STATS).fetchall()
    if backend_of(conn).name == "plain":
        assert conn.execute("SELECT * FROM rollup_camera_stats_hourly ORDER BY 1, 2").fetchall() \
            == conn.execute(DIRECT_STATS).fetchall()


def test_refresher_thread_and_cli_verb(plain, conn, db_dsn, monkeypatch):
    from jianguan.cli import cli

    copy_stats(conn, stats_rows(random.Random(10), T0, 120))
    refresher = RollupRefresher(db_dsn, every_s=30)
    refresher.start()
    deadline = time.monotonic() + 20
    while refresher.refreshes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    refresher.stop()
    assert refresher.refreshes == 1
    assert conn.execute("SELECT count(*) FROM rollup_camera_stats_hourly").fetchone()[0] == 3 * 2

    copy_stats(conn, stats_rows(random.Random(11), T0 + timedelta(hours=5), 60))
    monkeypatch.setenv("JIANGUAN_DSN", db_dsn)
    result = CliRunner().invoke(cli, ["db", "refresh-rollups"])
    assert result.exit_code == 0, result.output
    assert "camera_stats_hourly：1 个时段共 3 行小时数据" in result.output
    assert conninfo_to_dict(db_dsn)["password"] not in result.output
    assert conn.execute("SELECT count(*) FROM rollup_camera_stats_hourly").fetchone()[0] == 3 * 3


def test_seed_ends_with_refreshed_rollups(conn, db_dsn, monkeypatch):
    from jianguan.seed_cli import seed as seed_command

    monkeypatch.setenv("JIANGUAN_DSN", db_dsn)
    result = CliRunner().invoke(seed_command, ["--days", "1", "--end", "2024-05-15T10:00", "--stats-every", "3600",
                                               "--occupancy-every", "3600"])
    assert result.exit_code == 0, result.output
    assert "汇总：" in result.output and "camera_stats_hourly" in result.output
    direct = conn.execute(DIRECT_STATS).fetchall()
    assert direct and view(conn, "camera_stats_hourly", "1, 2") == direct
    if backend_of(conn).name == "plain":
        assert conn.execute("SELECT * FROM rollup_camera_stats_hourly ORDER BY 1, 2").fetchall() == direct
