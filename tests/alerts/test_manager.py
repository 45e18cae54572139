"""The alert manager against the real database: an incident opened without a frame still becomes an alert."""

import psycopg
from psycopg_pool import ConnectionPool

from alerts import AlertStore
from alerts.manager import AlertManager
from analytics import Incident
from analytics.rules.base import IncidentEvent
from jianguan.config import AlertsConfig


def test_an_incident_opened_without_a_frame_gets_an_alert_and_a_placeholder_snapshot(db_dsn, tmp_path):
    """A lane rule judges a pending session when observation ends, with no frame to show: the node once
    passed None and the snapshot drawing killed it (bench_node, office mix, at stop)."""
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps)"
                     " VALUES ('l1', 's1', 'Lane 1', 'inspection_lane', 5)")
    inc = Incident(camera_id="l1", rule="vehicle_left_uninspected", zone_id="lane", severity="major",
                   started_at=1_700_000_000.0, raised_at=1_700_000_010.0, measures={"threshold_s": 0.0})
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        manager = AlertManager(AlertStore(pool), AlertsConfig(), {}, tmp_path, site_of=lambda _c: "s1")
        manager.handle(IncidentEvent("opened", inc), None, None, None)
        inc.ended_at = inc.raised_at
        manager.handle(IncidentEvent("closed", inc), None, None, None)
        manager.close()
    with psycopg.connect(db_dsn) as conn:
        (snapshot, status), = conn.execute("SELECT snapshot_path, status FROM alerts").fetchall()
    assert snapshot.endswith(".jpg") and (tmp_path / "l1").is_dir()
    assert status == "open" and manager.stats.alerts_opened == 1
