"""Panels that read the hourly rollups (dashboards/long_range.py): the rollup branch gives exactly what the
raw branch gives at the same interval, before and after a refresh and after late rows, and the branch that
`$__interval` rules out is removed by the planner."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import ALL, all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.long_range import ROLLUP_INTERVAL_MS
from storage.rollups import refresh_rollups

T0 = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)
HOURS = 30
CAMERAS = [("w1", "s1", "Window 1", "window"), ("w2", "s1", "Window 2", "window"), ("x1", "s2", "Exam 1", "exam_room")]
SERIES = [("jianguan-overview", "People per zone"), ("jianguan-windows", "People per zone"),
          ("jianguan-camera-health", "Processed fps"), ("jianguan-camera-health", "Detection fps"),
          ("jianguan-camera-health", "Lag"), ("jianguan-camera-health", "Offline share")]
# The panel's SQL before the rollups (raw rows only): the reference for the hybrid one.
RAW_STREAM_PROBLEMS = """
SELECT c.name AS camera, count(*) AS samples,
       count(*) FILTER (WHERE NOT s.online) AS offline_samples,
       max(s.reconnects) - min(s.reconnects) AS reconnects,
       round(avg(s.decode_ms)::numeric, 1) AS avg_decode_ms,
       round(max(s.lag_s)::numeric, 1) AS max_lag_s,
       round(avg(s.skipped_fps)::numeric, 2) AS avg_skipped_fps
FROM camera_stats s JOIN cameras c ON c.id = s.camera_id
WHERE $__timeFilter(s.ts) AND c.site_id IN ($site) AND s.camera_id IN ($camera)
GROUP BY c.name
ORDER BY offline_samples DESC, reconnects DESC, c.name
"""


def write_samples(conn: psycopg.Connection, start: datetime, hours: float, seed: int) -> None:
    rng = random.Random(seed)
    with conn.cursor() as cur:
        with cur.copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps, detection_fps,"
                      " decode_ms, lag_s, reconnects) FROM STDIN") as copy:
            for cam, *_ in CAMERAS:
                for k in range(0, int(hours * 3600), 120):
                    online = rng.random() > 0.15
                    copy.write_row((start + timedelta(seconds=k), cam, online, 25.0,
                                    rng.uniform(3, 5) if online else 0.0, rng.uniform(0, 2), rng.uniform(0, 5),
                                    rng.uniform(2, 30), rng.uniform(0, 4), k // 5000))
        with cur.copy("COPY occupancy_samples (ts, camera_id, zone_id, people) FROM STDIN") as copy:
            for cam, *_ in CAMERAS:
                for zone in ("staff", "queue"):
                    for k in range(0, int(hours * 3600), 90):
                        copy.write_row((start + timedelta(seconds=k), cam, zone, rng.randint(0, 7)))


@pytest.fixture
def conn(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as c:
        c.cursor().executemany("INSERT INTO sites (id, name) VALUES (%s, %s)", [("s1", "Site 1"), ("s2", "Site 2")])
        c.cursor().executemany("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, %s, %s, %s, 5)",
                               CAMERAS)
        write_samples(c, T0 + timedelta(minutes=7), HOURS, seed=1)
        yield c


def target_of(uid: str, title: str):
    return next(t for p in dashboard_models()[uid].panels if p.title == title for t in p.targets)


def run(conn, uid: str, sql: str, time_from: datetime, time_to: datetime, interval_s: float, site=(ALL,)):
    selected, options = variable_options(conn, all_dashboards()[uid], {"site": list(site)}, time_from, time_to)
    text = expand_macros(sql, time_from=time_from, time_to=time_to, interval_s=interval_s, variables=selected,
                         all_values=options)
    return conn.execute(text).fetchall()


def branch(sql: str, which: str) -> str:
    """The panel's SQL with one branch forced, whatever the interval."""
    raw_on = which == "raw"
    return (sql.replace(f"$__interval_ms < {ROLLUP_INTERVAL_MS}", "true" if raw_on else "false")
               .replace(f"$__interval_ms >= {ROLLUP_INTERVAL_MS}", "false" if raw_on else "true"))


def assert_branches_agree(conn) -> None:
    time_from, time_to = T0, T0 + timedelta(hours=HOURS + 2)
    for uid, title in SERIES:
        sql = target_of(uid, title).sql
        for interval_s in (3600, 10800):
            raw = run(conn, uid, branch(sql, "raw"), time_from, time_to, interval_s)
            rolled = run(conn, uid, branch(sql, "rollup"), time_from, time_to, interval_s)
            assert raw, f"{uid}/{title}: no rows"
            assert rolled == raw, f"{uid}/{title} at {interval_s} s"
            # And unforced, the panel picks the rollup from an hour per point up.
            assert run(conn, uid, sql, time_from, time_to, interval_s) == raw


def test_series_from_the_rollup_equal_the_raw_series(conn):
    assert_branches_agree(conn)  # never refreshed: the live tail only
    refresh_rollups(conn)
    assert_branches_agree(conn)  # materialised
    write_samples(conn, T0 + timedelta(hours=3, seconds=31), 2, seed=2)  # late rows into materialised hours
    refresh_rollups(conn)
    assert_branches_agree(conn)


@pytest.mark.parametrize("start_min, end_min", [(0, 24 * 60), (37, 20 * 60 + 11), (65, 100), (-600, 50),
                                                (120, 120), (HOURS * 60 + 500, HOURS * 60 + 900)])
def test_stream_problems_is_exact_for_any_range(conn, start_min, end_min):
    refresh_rollups(conn)
    panel = target_of("jianguan-camera-health", "Stream problems per camera").sql
    time_from, time_to = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
    for site in ([ALL], ["s2"]):
        expected = run(conn, "jianguan-camera-health", RAW_STREAM_PROBLEMS, time_from, time_to, 60, site)
        got = run(conn, "jianguan-camera-health", panel, time_from, time_to, 60, site)
        assert got == expected, (start_min, end_min, site)


def test_the_ruled_out_branch_is_not_executed(conn):
    refresh_rollups(conn)
    uid, title = "jianguan-camera-health", "Processed fps"
    sql = target_of(uid, title).sql
    time_from, time_to = T0, T0 + timedelta(hours=HOURS)
    plans = {}
    for interval_s in (60, 3600):
        rows = run(conn, uid, "EXPLAIN " + sql, time_from, time_to, interval_s)
        plans[interval_s] = "\n".join(r[0] for r in rows)
    assert "camera_stats s" in plans[60] and "camera_stats_hourly" not in plans[60]
    assert "rollup_camera_stats_hourly" in plans[3600] and "camera_stats s" not in plans[3600]
