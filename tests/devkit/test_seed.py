"""`devkit.seed` (the `jianguan seed` generator) on a small scale: dashboards have data, the rhythm is there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import make_conninfo

from dashboards import ALL, all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s
from devkit.office import office_config
from devkit.seed import seed
from jianguan.seed_cli import seed as seed_command
from storage import StorageError
from tests.testkit.pg import clone_template

END = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)  # Wednesday 18:00 in Asia/Shanghai
DAYS = 14
LAST_WEEK = (END - timedelta(days=7), END)


@pytest.fixture(scope="module")
def seeded(pg_admin_dsn, _migrated_template):
    """One seeded database for the module (seeding takes a few seconds; the tests only read)."""
    name = f"jianguan_seed_{uuid.uuid4().hex[:10]}"
    clone_template(pg_admin_dsn, _migrated_template, name)
    dsn = make_conninfo(pg_admin_dsn, dbname=name)
    lines: list[str] = []
    report = seed(dsn, days=DAYS, end=END, seed=7, stats_every_s=600, occupancy_every_s=600, progress=lines.append)
    yield dsn, report, lines
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_seeded_office_is_the_generated_office_config(seeded):
    """What `jianguan seed` writes by default and what jianguan/examples/office-112.yaml configures are one
    office (both come from devkit.office): same cameras, zones and inspection lanes."""
    dsn, _, _ = seeded
    cfg = office_config()
    with psycopg.connect(dsn) as conn:
        site = conn.execute("SELECT id, name, timezone FROM sites").fetchall()
        # sorted here, not by the server: its collation may order ids with '-' otherwise than Python
        cameras = sorted(conn.execute("SELECT id, name, area, detect_fps FROM cameras").fetchall())
        zones = sorted(conn.execute("SELECT camera_id, id, kind, polygon FROM zones").fetchall())
        lanes = sorted(r[0] for r in conn.execute("SELECT DISTINCT lane_id FROM lane_events"))
        inspected = sorted(r[0] for r in conn.execute("SELECT DISTINCT lane_id FROM inspections"))
        members = sorted(r[0] for r in conn.execute("SELECT member_id FROM unit_members WHERE member_kind = 'lane'"))
    assert site == [(cfg.site.id, cfg.site.name, cfg.site.timezone)]
    assert cameras == sorted((c.id, c.name, c.area, c.detect.fps) for c in cfg.cameras)
    assert zones == sorted((c.id, z.id, z.kind, [list(p) for p in z.polygon]) for c in cfg.cameras
                           for z in c.zones)
    assert lanes == inspected == members == cfg.lane_ids() == [f"lane-{n}" for n in range(1, 7)]


def test_report_and_progress(seeded):
    _dsn, report, lines = seeded
    assert len(lines) == DAYS + 1 and lines[-1].startswith("seeded ")
    for table in ("transactions", "camera_stats", "occupancy_samples", "lane_events", "inspections", "alerts",
                  "alert_events"):
        assert report.rows[table] > 0, table
    assert report.rows["camera_stats"] == 112 * ((DAYS - 1) * 144 + 18 * 6)  # the last day ends at 18:00 local


def test_weekly_and_daily_rhythm(seeded):
    dsn, _, _ = seeded
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'Asia/Shanghai'")
        per_dow = dict(conn.execute("SELECT extract(isodow FROM queued_at)::int, count(*) FROM transactions"
                                    " GROUP BY 1").fetchall())
        slots = dict(conn.execute(
            "SELECT to_char(queued_at, 'HH24:MI') >= '12:30', count(*) FROM transactions"
            " WHERE extract(isodow FROM queued_at) BETWEEN 1 AND 5 AND window_id LIKE 'win-%%'"
            " AND (to_char(queued_at, 'HH24:MI') BETWEEN '10:00' AND '10:29'"
            "      OR to_char(queued_at, 'HH24:MI') BETWEEN '12:30' AND '12:59')"
            " GROUP BY 1").fetchall())
        sunday_windows = conn.execute("SELECT count(*) FROM transactions WHERE extract(isodow FROM queued_at) = 7"
                                      " AND window_id LIKE 'win-%%'").fetchone()[0]
        hours = conn.execute("SELECT min(to_char(queued_at, 'HH24:MI')), max(to_char(queued_at, 'HH24:MI'))"
                             " FROM transactions WHERE window_id LIKE 'win-%%'").fetchone()
        handle = dict(conn.execute("SELECT business_type, avg(handle_s) / 60 FROM transactions GROUP BY 1").fetchall())
    assert per_dow[7] * 8 < per_dow[2], per_dow           # Sunday: only the self-service kiosks
    assert per_dow[1] > per_dow[3] and per_dow[6] < per_dow[3] / 2, per_dow  # Monday busiest, Saturday half a day
    assert sunday_windows == 0
    assert slots[False] > 2.5 * slots[True], slots         # 10:00 peak vs the lunch dip at 12:30
    assert hours[0] >= "08:30" and hours[1] < "17:30"
    assert 2 <= handle["inspection_certificate"] < 5 and 20 <= handle["vehicle_registration"] <= 30


def test_every_dashboard_panel_has_data(seeded):
    dsn, _, _ = seeded
    empty = []
    with psycopg.connect(dsn) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for uid, model in dashboard_models().items():
            dashboard = all_dashboards()[uid]
            for site in (["office-01"], [ALL]):
                selected, options = variable_options(conn, dashboard, {"site": site}, *LAST_WEEK)
                for panel in model.panels:
                    for target in panel.targets:
                        sql = expand_macros(target.sql, time_from=LAST_WEEK[0], time_to=LAST_WEEK[1],
                                            interval_s=auto_interval_s(*LAST_WEEK, panel.max_data_points),
                                            variables=selected,
                                            all_values=options)
                        rows = conn.execute(sql).fetchall()
                        if not rows or not any(v not in (None, 0) for r in rows for v in r):
                            empty.append(f"{uid}/{panel.title}/{target.ref_id} site={site}")
    assert empty == []


def test_views_and_health_have_the_expected_shape(seeded):
    dsn, _, _ = seeded
    with psycopg.connect(dsn) as conn:
        flaky = conn.execute("SELECT avg(uptime_share) FROM camera_uptime_hourly WHERE camera_id = 'outlet-07'"
                             ).fetchone()[0]
        typical = conn.execute("SELECT avg(uptime_share) FROM camera_uptime_hourly WHERE camera_id <> 'outlet-07'"
                               ).fetchone()[0]
        target = conn.execute("SELECT sum(within_target)::float8 / sum(finished) FROM business_volume_hourly"
                              ).fetchone()[0]
        verdicts = dict(conn.execute("SELECT verdict IS NULL, count(*) FROM alerts GROUP BY 1").fetchall())
        live = conn.execute("SELECT count(*) FROM alerts WHERE status IN ('open', 'acknowledged')").fetchone()[0]
        short = conn.execute("SELECT count(*) FROM inspections WHERE finished_at - started_at < interval '3 min'"
                             ).fetchone()[0]
    assert flaky < typical and typical > 0.98
    assert 0.3 < target < 1.0
    assert verdicts[False] > verdicts.get(True, 0) > 0 and live > 0
    assert short > 0


def test_deterministic_and_refuses_a_seeded_database(db_dsn, pg_admin_dsn, _migrated_template):
    def fingerprint(dsn: str) -> tuple:
        with psycopg.connect(dsn) as conn:
            return conn.execute(
                "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY message_id)) FROM transactions t),"
                " (SELECT md5(string_agg(s::text, ',' ORDER BY camera_id, ts)) FROM camera_stats s),"
                " (SELECT md5(string_agg(concat_ws('|', camera_id, rule, started_at, verdict), ','"
                "  ORDER BY started_at, camera_id, rule)) FROM alerts),"
                " (SELECT count(*) FROM alerts)").fetchone()

    kw = {"days": 2, "end": END, "seed": 3, "stats_every_s": 1800, "occupancy_every_s": 1800}
    seed(db_dsn, **kw)
    first = fingerprint(db_dsn)
    assert first[3] > 0
    other = f"jianguan_seed2_{uuid.uuid4().hex[:8]}"
    clone_template(pg_admin_dsn, _migrated_template, other)
    try:
        other_dsn = make_conninfo(pg_admin_dsn, dbname=other)
        seed(other_dsn, **kw)
        assert fingerprint(other_dsn) == first  # same seed and end: the same rows, alerts included
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
    with pytest.raises(StorageError, match="already holds"):
        seed(db_dsn, **kw)
    lines: list[str] = []
    seed(db_dsn, truncate=True, progress=lines.append, **kw)
    assert fingerprint(db_dsn) == first  # series re-created identically; alerts kept, not duplicated
    assert any("none added" in line for line in lines)
    seed(db_dsn, truncate=True, **{**kw, "seed": 4})
    assert fingerprint(db_dsn)[0] != first[0]


def test_cli_command(db_dsn, monkeypatch):
    monkeypatch.setenv("JIANGUAN_DSN", db_dsn)
    result = CliRunner().invoke(seed_command, ["--days", "1", "--end", "2024-05-15T10:00", "--stats-every", "3600",
                                               "--occupancy-every", "3600"])
    assert result.exit_code == 0, result.output
    assert "112 路摄像机" in result.output and "完成：" in result.output
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM camera_stats").fetchone()[0] == 112 * 18
