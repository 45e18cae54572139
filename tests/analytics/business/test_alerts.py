"""Business findings go through the alert pipeline: dedup, units, outbox pushes, rectification trail."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import AlertsConfig, OutboxWorker, RetryConfig, WebhookNotifier, WebhookNotifierConfig
from alerts.business import BusinessAlerts, RectificationError, rectification_step
from analytics.business import BusinessConfig, run_checks
from jianguan.demo import WebhookReceiver
from tests.analytics.business.conftest import END, week

CHANNELS = ("centre", "hall", "inspection", "outlets", "testing")


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def test_findings_become_alerts_for_their_unit_and_the_centre(office_copy, receiver, as_role):
    config = AlertsConfig(notifiers=[WebhookNotifierConfig(type="webhook", id=c, url=receiver.url) for c in CHANNELS],
                          review_base_url="http://desk.example")
    with psycopg.connect(office_copy) as conn:
        report = run_checks(conn, BusinessConfig(), week(4), END)
    # As `jianguan business run` records and delivers them: with the business role (issue 18).
    with ConnectionPool(as_role(office_copy, "business"), min_size=1, max_size=2) as pool:
        sink = BusinessAlerts(pool, config)
        stats = sink.record(report.findings)
        again = sink.record(report.findings)                   # the scheduler re-reads the same period
        assert stats.findings == len(report.findings) and stats.already_recorded == 0
        assert again.already_recorded == len(report.findings) and again.alerts_opened == again.pushes == 0
        with pool.connection() as conn:
            alerts = conn.execute("SELECT a.id, a.rule, a.source_id, a.unit_id, a.camera_id, count(i.id)"
                                  " FROM alerts a JOIN incidents i ON i.source_id = a.source_id AND i.rule = a.rule"
                                  " WHERE a.rule LIKE 'business_%%' GROUP BY a.id").fetchall()
            outbox = conn.execute("SELECT o.alert_id, o.channel, o.payload FROM outbox o JOIN alerts a"
                                  " ON a.id = o.alert_id WHERE a.rule LIKE 'business_%%'").fetchall()
            incidents = conn.execute("SELECT count(*) FROM incidents WHERE evidence ? 'finding_key'").fetchone()[0]
        assert incidents == len(report.findings)
        # one live alert per source and rule; repeated findings (a drifting line, day after day) merge into it
        assert stats.alerts_opened == len(alerts) == len({(f.rule, f.source_id) for f in report.findings})
        assert stats.merged == len(report.findings) - len(alerts)
        assert all(a[4] is None for a in alerts)
        units = {(a[1], a[2]): a[3] for a in alerts}
        assert units[("business_outside_hours", "win-12")] == "office-01-hall"
        assert units[("business_inspection_short", "lane-1")] == "office-01-inspection"
        assert units[("business_pass_rate_drift", "line-03")] == "office-01-testing-b"
        assert units[("business_staff_outlier", "staff-01a")] == "office-01-hall"     # through the clerk's window
        by_alert: dict[int, set[str]] = {}
        for alert_id, channel, payload in outbox:
            by_alert.setdefault(alert_id, set()).add(channel)
            assert payload["explanation"] and payload["review_url"] == f"http://desk.example/alerts/{alert_id}"
        drift = next(a[0] for a in alerts if a[1] == "business_pass_rate_drift")
        assert by_alert[drift] == {"testing", "centre"}
        lane = next(a[0] for a in alerts if a[1] == "business_inspection_short")
        assert by_alert[lane] == {"inspection", "centre"}
        # the real outbox worker delivers them through real HTTP
        worker = OutboxWorker(pool, {c: WebhookNotifier(n) for c, n in zip(CHANNELS, config.notifiers, strict=True)},
                              RetryConfig(initial_s=0.1), listen=False)
        while worker.deliver_due():
            pass
    got = {(d.body["alert_id"], d.body["audience"]) for d in receiver.deliveries}
    assert len(receiver.deliveries) == len(outbox) == stats.pushes
    assert (drift, "unit") in got and (drift, "centre") in got


def test_rectification_open_rectified_verified_with_an_append_only_trail(office_copy, as_role):
    config = AlertsConfig(notifiers=[WebhookNotifierConfig(type="webhook", id="centre", url="http://127.0.0.1:9/x")])
    with psycopg.connect(office_copy) as conn:
        findings = run_checks(conn, BusinessConfig(), week(4), END).findings
    with ConnectionPool(as_role(office_copy, "business"), min_size=1, max_size=2) as pool:
        BusinessAlerts(pool, config).record(findings)
    with psycopg.connect(as_role(office_copy, "desk")) as conn:  # the steps are the desk's, with its role
        alert_id = conn.execute("SELECT id FROM alerts WHERE rule = 'business_outside_hours'").fetchone()[0]
        assert conn.execute("SELECT status, unit_id FROM rectifications WHERE alert_id = %s",
                            (alert_id,)).fetchone() == ("open", "office-01-hall")
        with pytest.raises(RectificationError, match="note is required"):
            rectification_step(conn, alert_id, "rectified", "hall-head", "  ")
        with pytest.raises(RectificationError, match="needs rectified"):
            rectification_step(conn, alert_id, "verified", "centre-duty")
        conn.rollback()
        with conn.transaction():
            assert rectification_step(conn, alert_id, "rectified", "hall-head", "after-hours login removed") \
                == "rectified"
        with conn.transaction():
            assert rectification_step(conn, alert_id, "rejected", "centre-duty", "no evidence attached") == "open"
        with conn.transaction():
            rectification_step(conn, alert_id, "rectified", "hall-head", "log of the fix attached")
        with conn.transaction():
            assert rectification_step(conn, alert_id, "verified", "centre-duty") == "verified"
        trail = conn.execute("SELECT e.action, e.actor, e.note FROM rectification_events e JOIN rectifications r"
                             " ON r.id = e.rectification_id WHERE r.alert_id = %s ORDER BY e.id",
                             (alert_id,)).fetchall()
        assert [t[0] for t in trail] == ["opened", "rectified", "rejected", "rectified", "verified"]
        row = conn.execute("SELECT status, note, rectified_at IS NOT NULL, verified_at IS NOT NULL"
                           " FROM rectifications WHERE alert_id = %s", (alert_id,)).fetchone()
        assert row == ("verified", "log of the fix attached", True, True)
        events = [r[0] for r in conn.execute("SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id",
                                             (alert_id,))]
        assert events[-1] == "rectification_verified"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE rectification_events SET note = 'rewritten'")
