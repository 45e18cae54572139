"""Every panel query of every dashboard, expanded like Grafana and executed against the real schema."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from dashboards import ALL, all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
COVERING = (T0 - timedelta(hours=1), T0 + timedelta(hours=3))
LONG = (T0 - timedelta(days=2), T0 + timedelta(hours=3))  # over 24 h: the time series read the hourly rollups
EMPTY = (T0 - timedelta(days=30), T0 - timedelta(days=29))
# s'2 carries a quote on purpose: every value must reach SQL quoted.
SITES = [("s1", "车管所一 Site One"), ("s'2", "O'Hare office")]
CAMERAS = [("w1", "s1", "Window 1", "window"), ("w2", "s1", "Window 2", "window"),
           ("lane1", "s1", "Lane 1", "inspection_lane"), ("exam1", "s1", "Exam room 1", "exam_room"),
           ("hall1", "s1", "Hall", "hall"), ("w3", "s'2", "Window 3", "window"),
           ("exam2", "s'2", "Exam room 2", "exam_room")]
RULES = ["zone_unattended", "extra_person", "loitering"]


def seed(dsn: str) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO sites (id, name) VALUES (%s, %s)", SITES)
        cur.executemany("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, %s, %s, %s, 5)",
                        CAMERAS)
        statuses = ["open", "acknowledged", "reviewed", "closed"]
        verdicts = [None, None, "confirmed", "false_alarm"]
        n = 0
        for cam, site, _, _ in CAMERAS:
            for i, rule in enumerate(RULES):
                start = T0 + timedelta(minutes=5 * n)
                cur.execute(
                    "INSERT INTO alerts (dedup_key, site_id, camera_id, rule, zone_id, severity, status, verdict,"
                    " title, started_at) VALUES (%s, %s, %s, %s, 'staff', %s, %s, %s, %s, %s) RETURNING id",
                    (f"{cam}:{rule}:staff", site, cam, rule, ["minor", "major", "critical"][i], statuses[n % 4],
                     verdicts[n % 4], f"{rule} at {cam}", start))
                alert_id = cur.fetchone()[0]
                cur.execute("INSERT INTO alert_events (alert_id, at, actor, action, detail) VALUES"
                            " (%s, %s, 'system', 'opened', %s), (%s, %s, 'auditor1', 'reviewed', %s)",
                            (alert_id, start, Jsonb({}), alert_id, start + timedelta(minutes=5), Jsonb({})))
                n += 1
        with cur.copy("COPY occupancy_samples (ts, camera_id, zone_id, people) FROM STDIN") as copy:
            for (cam, *_), k in itertools.product(CAMERAS, range(0, 7200, 10)):
                copy.write_row((T0 + timedelta(seconds=k), cam, "staff", (k // 600) % 3))
        with cur.copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps,"
                      " detection_fps, decode_ms, lag_s, reconnects, luma_mean, luma_std, sharpness, sharpness_ratio,"
                      " changed, scene_shift, scene_response, health_issues, analysed_fps, dropped_fps, needed_fps)"
                      " FROM STDIN") as copy:
            for (cam, *_), k in itertools.product(CAMERAS, range(0, 7200, 10)):
                online = not (cam == "w2" and 3000 <= k < 3600)
                health = (110.0, 40.0, 300.0, 0.95, 0.01, 0.002, 0.6, None) if online else (None,) * 7 + (
                    ["video_loss"],)
                copy.write_row((T0 + timedelta(seconds=k), cam, online, 25.0 if online else 0.0, 5.0, 0.2, 4.8,
                                3.5, 0.4, k // 3600, *health, 1.8, 0.2, 2.0))
        for i in range(60):
            site = "s1" if i % 3 else "s'2"
            queued = T0 + timedelta(minutes=2 * i)
            cur.execute("INSERT INTO transactions (message_id, site_id, window_id, business_type, ticket, staff_id,"
                        " queued_at, called_at, finished_at, wait_s, handle_s)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (f"m{i}", site, f"W{i % 4 + 1}", ["licence_renewal", "registration", "transfer"][i % 3],
                         f"A{i:03d}", f"staff{i % 5}", queued, queued + timedelta(seconds=60 + i * 7),
                         queued + timedelta(seconds=400 + i * 9), 60.0 + i * 7, 340.0 + i * 2))
        for i in range(40):
            cur.execute("INSERT INTO lane_events (ts, message_id, site_id, lane_id, kind, plate, inspector_id)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (T0 + timedelta(minutes=3 * i), f"e{i}", "s1" if i % 4 else "s'2", f"L{i % 2 + 1}",
                         ["vehicle_in", "inspection_start", "inspection_end", "vehicle_out"][i % 4],
                         f"京A{i:05d}", f"insp{i % 3}"))
        for i in range(20):
            started = T0 + timedelta(minutes=6 * i)
            cur.execute("INSERT INTO inspections (site_id, lane_id, plate, inspector_id, started_at, finished_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        ("s1" if i % 4 else "s'2", f"L{i % 2 + 1}", f"京A{i:05d}", f"insp{i % 3}" if i % 5 else None,
                         started, None if i == 19 else started + timedelta(minutes=2 + i % 7)))


@pytest.fixture
def seeded(db_dsn):
    seed(db_dsn)
    return db_dsn


def _cases():
    for uid, model in dashboard_models().items():
        for panel in model.panels:
            for target in panel.targets:
                yield pytest.param(uid, panel.title, target.ref_id, id=f"{uid}/{panel.title}/{target.ref_id}")


def test_every_target_is_covered_by_the_runner():
    """The JSON and the builder objects describe the same SQL targets (so the runner below sees them all); the
    System dashboard's PromQL runs against a real Prometheus in test_system.py."""
    from_json = [(uid, p["title"], t["refId"], t["rawSql"]) for uid, d in all_dashboards("en").items()
                 for p in d["panels"] for t in p["targets"] if "rawSql" in t]
    from_models = [(uid, p.title, t.ref_id, t.sql.strip()) for uid, m in dashboard_models().items()
                   for p in m.panels for t in p.targets]
    assert from_json == from_models
    assert len(from_json) >= 30


@pytest.mark.parametrize(("uid", "title", "ref_id"), list(_cases()))
def test_panel_query_runs(seeded, uid, title, ref_id):
    model = dashboard_models()[uid]
    panel = next(p for p in model.panels if p.title == title)
    target = next(t for t in panel.targets if t.ref_id == ref_id)
    dashboard = all_dashboards()[uid]
    with psycopg.connect(seeded) as conn:
        conn.execute("SET default_transaction_read_only = on")  # like Grafana's read-only role: panels only read
        for (time_from, time_to), site in itertools.product((COVERING, LONG, EMPTY), (["s1"], [ALL])):
            selected, options = variable_options(conn, dashboard, {"site": site}, time_from, time_to)
            sql = expand_macros(target.sql, time_from=time_from, time_to=time_to,
                                interval_s=auto_interval_s(time_from, time_to, panel.max_data_points),
                                variables=selected,
                                all_values=options)
            assert "$" not in sql, f"unexpanded variable or macro in {sql}"
            cur = conn.execute(sql)
            columns = tuple(d.name for d in cur.description)
            rows = cur.fetchall()
            assert columns == target.columns, f"{uid}/{title}: columns {columns}"
            if (time_from, time_to) != EMPTY:
                assert rows, f"{uid}/{title}: no rows for site={site} over the seeded range"
                assert any(v not in (None, 0) for row in rows for v in row), f"{uid}/{title}: only zeros/NULLs"
            if target.format == "time_series" and rows:
                assert columns[0] == "time"
                times = [r[0] for r in rows]
                assert times == sorted(times), "time series must be sorted by time"
                assert all(time_from.timestamp() - 86400 <= float(t) <= time_to.timestamp() for t in times)


def test_site_selection_filters(seeded):
    """One site selected: nothing from the other site leaks in (the quoted id included)."""
    dashboard = all_dashboards()["jianguan-overview"]
    table = next(t for p in dashboard_models()["jianguan-overview"].panels if p.title == "Latest alerts"
                 for t in p.targets)
    with psycopg.connect(seeded) as conn:
        counts = {}
        for site in ("s1", "s'2"):
            selected, options = variable_options(conn, dashboard, {"site": [site]}, *COVERING)
            assert set(options["camera"]) == {c[0] for c in CAMERAS if c[1] == site}
            sql = expand_macros(table.sql, time_from=COVERING[0], time_to=COVERING[1], interval_s=60,
                                variables=selected, all_values=options)
            counts[site] = len(conn.execute(sql).fetchall())
        assert counts == {"s1": 5 * len(RULES), "s'2": 2 * len(RULES)}
        selected, options = variable_options(conn, dashboard, {"site": ["s1"], "camera": ["w1"]}, *COVERING)
        sql = expand_macros(table.sql, time_from=COVERING[0], time_to=COVERING[1], interval_s=60,
                            variables=selected, all_values=options)
        rows = conn.execute(sql).fetchall()
        assert {r[1] for r in rows} == {"Window 1"} and len(rows) == len(RULES)
        assert all(r[-1].startswith("/alerts/") for r in rows)
