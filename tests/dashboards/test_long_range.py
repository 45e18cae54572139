"""Panels that read the hourly rollups (dashboards/long_range.py): over 24 h the rollup branch gives exactly
what the raw branch gives at the same whole-hour points, before and after a refresh and after late rows; up
to 24 h the raw branch answers; the branch the range rules out is removed by the planner."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import ALL, all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.long_range import RAW_BRANCH, ROLLUP_BRANCH
from storage.rollups import backend_of, refresh_rollups

# Recent (aligned to midnight UTC, 5 days ago): on TimescaleDB a refresh materialises these hours (rows past the
# 180-day retention horizon it never would), so both the materialised and the real-time parts are compared.
T0 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
HOURS = 30
CAMERAS = [("w1", "s1", "Window 1", "window"), ("w2", "s1", "Window 2", "window"), ("x1", "s2", "Exam 1", "exam_room")]
HEALTH = "jianguan-camera-health"
# Every panel with the two branches (test_every_two_branch_panel_is_compared keeps this list complete).
SERIES = [("jianguan-overview", "People per zone"), ("jianguan-windows", "People per zone"),
          ("jianguan-exam-rooms", "People per zone"),
          (HEALTH, "Processed fps"), (HEALTH, "Detection fps"), (HEALTH, "Lag"), (HEALTH, "Offline share"),
          (HEALTH, "Analysis against need"), (HEALTH, "Brightness"), (HEALTH, "Sharpness vs. baseline"),
          (HEALTH, "Picture change"), (HEALTH, "Scene shift")]
LONG = (T0, T0 + timedelta(hours=HOURS + 2))  # over 24 h: the rollup branch
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


def _picture(rng: random.Random, online: bool, k: int, previous_online: bool) -> tuple:
    """The health measures the node writes (jianguan/node.py health_figures): none while offline; the
    sharpness ratio and scene shift only once the baseline is learned (here: after 50 min); `changed` only
    with a previous health sample."""
    if not online:
        return (None,) * 7
    learned = k >= 3000
    return (round(rng.uniform(40, 160), 1), round(rng.uniform(20, 50), 1), round(rng.uniform(100, 400), 1),
            round(rng.uniform(0.3, 1.1), 3) if learned else None,
            round(rng.uniform(0.0005, 0.02), 5) if previous_online else None,
            round(rng.uniform(0, 0.01), 4) if learned else None, round(rng.uniform(0.4, 0.8), 3))


def write_samples(conn: psycopg.Connection, start: datetime, hours: float, seed: int) -> None:
    rng = random.Random(seed)
    with conn.cursor() as cur:
        with cur.copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps, detection_fps,"
                      " decode_ms, lag_s, reconnects, luma_mean, luma_std, sharpness, sharpness_ratio, changed,"
                      " scene_shift, scene_response, analysed_fps, dropped_fps, needed_fps) FROM STDIN") as copy:
            for cam, *_ in CAMERAS:
                previous_online = False
                for k in range(0, int(hours * 3600), 120):
                    ts = start + timedelta(seconds=k)
                    # x1 is down for three whole hours: no picture measures at all there.
                    online = rng.random() > 0.15 and not (cam == "x1" and T0 + timedelta(hours=10) <= ts
                                                          < T0 + timedelta(hours=13))
                    process = rng.uniform(3, 5) if online else 0.0
                    # Rows written before migration 0010 have no analysis rate (here: the first 5 hours).
                    analysis = (round(process * rng.uniform(0.7, 1.0), 2), 0.5, 5.0) \
                        if ts >= T0 + timedelta(hours=5) else (None, None, None)
                    copy.write_row((ts, cam, online, 25.0, process, rng.uniform(0, 2), rng.uniform(0, 5),
                                    rng.uniform(2, 30), rng.uniform(0, 4), k // 5000,
                                    *_picture(rng, online, k, previous_online), *analysis))
                    previous_online = online
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


def is_timescaledb(conn) -> bool:
    return backend_of(conn).name == "timescaledb"


def target_of(uid: str, title: str):
    return next(t for p in dashboard_models()[uid].panels if p.title == title for t in p.targets)


def run(conn, uid: str, sql: str, time_from: datetime, time_to: datetime, interval_s: float, site=(ALL,),
        timescaledb: bool = False):
    selected, options = variable_options(conn, all_dashboards()[uid], {"site": list(site)}, time_from, time_to)
    text = expand_macros(sql, time_from=time_from, time_to=time_to, interval_s=interval_s, variables=selected,
                         all_values=options, timescaledb=timescaledb)
    rows = conn.execute(text).fetchall()
    # The panels order by time only (all Grafana needs): the series at one time may come in any order.
    return sorted(rows, key=lambda r: r[:2]) if text.rstrip().endswith("ORDER BY 1") else rows


def branch(sql: str, which: str) -> str:
    """The panel's SQL with one branch forced, whatever the range."""
    assert RAW_BRANCH in sql and ROLLUP_BRANCH in sql
    raw_on = which == "raw"
    return sql.replace(RAW_BRANCH, "true" if raw_on else "false").replace(ROLLUP_BRANCH, "false" if raw_on else "true")


def assert_branches_agree(conn) -> None:
    time_from, time_to = LONG
    for uid, title in SERIES:
        sql = target_of(uid, title).sql
        # (Grafana's interval, the whole hours per point the rollup branch gives over 24 h)
        for interval_s, hours in ((60, 1), (600, 1), (3600, 1), (5400, 2), (10800, 3)):
            raw = run(conn, uid, branch(sql, "raw"), time_from, time_to, hours * 3600)
            assert raw, f"{uid}/{title}: no rows"
            assert any(r[2] is not None for r in raw), f"{uid}/{title}: only NULLs"
            # Over 24 h the panel reads the rollup, at whole hours: the raw figures at those points.
            assert run(conn, uid, sql, time_from, time_to, interval_s) == raw, f"{uid}/{title} at {interval_s} s"
            assert run(conn, uid, branch(sql, "rollup"), time_from, time_to, interval_s) == raw


def test_series_from_the_rollup_equal_the_raw_series(conn):
    assert_branches_agree(conn)  # never refreshed: the live tail only
    refresh_rollups(conn)
    assert_branches_agree(conn)  # materialised
    write_samples(conn, T0 + timedelta(hours=3, seconds=31), 2, seed=2)  # late rows into materialised hours
    refresh_rollups(conn)
    assert_branches_agree(conn)


def test_every_two_branch_panel_is_compared():
    two = {(uid, p.title) for uid, m in dashboard_models().items() for p in m.panels for t in p.targets
           if ROLLUP_BRANCH in t.sql}
    assert two == set(SERIES)
    assert {(HEALTH, "Brightness"), (HEALTH, "Analysis against need")} <= two


def test_a_range_off_the_hour_differs_only_in_its_first_point(conn):
    """`$__timeFilter(h.bucket)` takes the whole hour the range starts in (10:37 -> from 10:00), so the first
    point holds up to 59 minutes before the range; every later point is the raw figure."""
    refresh_rollups(conn)
    time_from, time_to = T0 + timedelta(minutes=37), T0 + timedelta(hours=HOURS, minutes=11)
    for uid, title in SERIES:
        sql = target_of(uid, title).sql
        raw = run(conn, uid, branch(sql, "raw"), time_from, time_to, 7200)
        got = run(conn, uid, sql, time_from, time_to, 7200)
        first = raw[0][0]
        assert [r for r in got if r[0] != first] == [r for r in raw if r[0] != first], f"{uid}/{title}"
        assert {r[:2] for r in got} == {r[:2] for r in raw}


@pytest.mark.parametrize("hours", [2, 24])
def test_up_to_24_hours_the_raw_rows_answer(conn, hours):
    refresh_rollups(conn)
    time_from, time_to = T0 + timedelta(hours=5), T0 + timedelta(hours=5 + hours)
    for uid, title in SERIES:
        sql = target_of(uid, title).sql
        for interval_s in (60, 600):
            raw = run(conn, uid, branch(sql, "raw"), time_from, time_to, interval_s)
            assert raw and run(conn, uid, sql, time_from, time_to, interval_s) == raw, f"{uid}/{title}"


def test_the_datasource_timescaledb_toggle_gives_the_same_points(conn):
    """With the datasource's TimescaleDB toggle, $__timeGroup is time_bucket() (a timestamptz): both branches
    still agree in type, and the points are those of the default datasource."""
    if not is_timescaledb(conn):
        pytest.skip("time_bucket() needs TimescaleDB")
    refresh_rollups(conn)
    for uid, title in SERIES:
        sql = target_of(uid, title).sql
        for time_from, time_to in (LONG, (T0 + timedelta(hours=5), T0 + timedelta(hours=7))):
            for interval_s in (600, 3600):
                plain = run(conn, uid, sql, time_from, time_to, interval_s)
                toggled = run(conn, uid, sql, time_from, time_to, interval_s, timescaledb=True)
                assert plain and [(t.timestamp(), *r) for t, *r in toggled] == plain, f"{uid}/{title}"


@pytest.mark.parametrize("start_min, end_min", [(0, 24 * 60), (37, 20 * 60 + 11), (65, 100), (-600, 50),
                                                (120, 120), (HOURS * 60 + 500, HOURS * 60 + 900)])
def test_stream_problems_is_exact_for_any_range(conn, start_min, end_min):
    refresh_rollups(conn)
    panel = target_of(HEALTH, "Stream problems per camera").sql
    time_from, time_to = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
    for site in ([ALL], ["s2"]):
        expected = run(conn, HEALTH, RAW_STREAM_PROBLEMS, time_from, time_to, 60, site)
        got = run(conn, HEALTH, panel, time_from, time_to, 60, site)
        assert got == expected, (start_min, end_min, site)


# A scan of the raw rows of the panel's raw branch (alias s: camera_stats, or a TimescaleDB chunk of it), and
# one of the rollup: plain PostgreSQL's materialised table or live tail, TimescaleDB's materialised hypertable
# or the real-time part (the continuous aggregate's own alias r over the raw chunks).
RAW_SCAN = re.compile(r" on \S+ s(_\d+)?( |$)", re.MULTILINE)
ROLLUP_SCAN = re.compile(r"rollup_camera_stats_hourly|camera_stats_hourly_between|_materialized_hypertable_"
                         r"| on _hyper_\S+ r(_\d+)?( |$)", re.MULTILINE)


@pytest.mark.parametrize("title", ["Processed fps", "Brightness"])
def test_the_ruled_out_branch_is_not_executed(conn, title):
    refresh_rollups(conn)
    sql = target_of(HEALTH, title).sql
    plans = {}
    for hours in (24, HOURS):  # at a 2-minute interval both: only the range decides
        rows = run(conn, HEALTH, "EXPLAIN " + sql, T0, T0 + timedelta(hours=hours), 120)
        plans[hours] = "\n".join(r[0] for r in rows)
    assert RAW_SCAN.search(plans[24]) and not ROLLUP_SCAN.search(plans[24]), plans[24]
    assert ROLLUP_SCAN.search(plans[HOURS]) and not RAW_SCAN.search(plans[HOURS]), plans[HOURS]
    if not is_timescaledb(conn):
        assert "rollup_camera_stats_hourly" in plans[HOURS]  # refreshed: the materialised hours
