"""Routing by site/area/rule/severity/hours, and escalation of unacknowledged alerts, on a real database."""

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts.routing import AlertFacts, EscalationConfig, EscalationStep, Escalator, Route, RouteMatch, route


def facts(**kw):
    base = dict(site_id="s1", area="window", rule="zone_unattended", severity="major",
                at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai, a Monday
    base.update(kw)
    return AlertFacts(**base)


ROUTES = [
    Route(match=RouteMatch(min_severity="major"), notifiers=["command-centre"]),
    Route(match=RouteMatch(areas=["exam_room"]), notifiers=["exam-office"]),
    Route(match=RouteMatch(sites=["s2"], rules=["zone_unattended"]), notifiers=["s2-manager"]),
    Route(match=RouteMatch(hours="18:00-08:00", min_severity="minor"), notifiers=["night-duty"]),
]


@pytest.mark.parametrize("kw, expected", [
    ({}, ["command-centre"]),
    ({"severity": "minor"}, []),
    ({"area": "exam_room", "severity": "critical"}, ["command-centre", "exam-office"]),
    ({"site_id": "s2", "severity": "info"}, ["s2-manager"]),
    ({"severity": "minor", "at": datetime(2026, 3, 2, 14, 0, tzinfo=UTC)}, ["night-duty"]),  # 22:00 local
    ({"severity": "minor", "at": datetime(2026, 3, 2, 0, 0, tzinfo=UTC)}, []),  # 08:00 local: day again
])
def test_routes(kw, expected):
    assert route(ROUTES, facts(**kw), "Asia/Shanghai", default=["all"]) == expected


def test_no_routes_means_the_default():
    assert route([], facts(), "Asia/Shanghai", default=["a", "b"]) == ["a", "b"]


def test_bad_hours_and_unordered_steps_are_config_errors():
    with pytest.raises(ValueError, match="hours must look like"):
        RouteMatch(hours="8-17h")
    with pytest.raises(ValueError, match="increasing after_min"):
        EscalationConfig(steps=[EscalationStep(after_min=10, notifiers=["a"]),
                                EscalationStep(after_min=5, notifiers=["b"])])


def test_unacknowledged_serious_alerts_escalate_once_per_step(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'S')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES ('c', 's1', 'C', 'window', 5)")
        ids = {}
        for key, severity, status, age_min in (("old_major", "major", "open", 20), ("young", "critical", "open", 2),
                                               ("acked", "critical", "acknowledged", 30),
                                               ("minor", "minor", "open", 30)):
            ids[key] = conn.execute(
                "INSERT INTO alerts (dedup_key, site_id, camera_id, rule, severity, status, title, started_at,"
                " created_at) VALUES (%s, 's1', 'c', 'zone_unattended', %s, %s, 't', now(), now() - %s * interval"
                " '1 minute') RETURNING id", (key, severity, status, age_min)).fetchone()[0]
    cfg = EscalationConfig(steps=[EscalationStep(after_min=5, notifiers=["duty-chief"]),
                                  EscalationStep(after_min=15, notifiers=["director", "duty-chief"])])
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        esc = Escalator(pool, cfg, "http://review")
        assert esc.run_once() == 2  # old_major: level 1 and level 2
        assert esc.run_once() == 0  # nothing twice
    with psycopg.connect(db_dsn) as conn:
        rows = conn.execute("SELECT alert_id, channel, payload->>'level' FROM outbox ORDER BY channel, 3").fetchall()
    old = ids["old_major"]
    assert sorted(rows) == sorted([(old, "duty-chief", "1"), (old, "director", "2"), (old, "duty-chief", "2")])
