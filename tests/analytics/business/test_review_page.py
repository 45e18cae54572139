"""A business alert on the review desk (uvicorn on 127.0.0.1): evidence rows, unit, rectification steps."""

from __future__ import annotations

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from alerts import AlertsConfig
from alerts.business import BusinessAlerts
from alerts.review import LoginLimiter, add_user, create_app
from analytics.business import BusinessConfig, run_checks
from tests.analytics.business.conftest import END, week
from tests.testkit.desk import serving

PASSWORD = "correct horse battery"


def _login(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False)
    csrf = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/login", data={"username": user, "password": PASSWORD, "csrf": csrf}).status_code == 303
    return client


def _csrf(client: httpx.Client, path: str) -> str:
    return client.get(path).text.split('name="csrf" value="')[1].split('"')[0]


def test_business_alert_page_shows_evidence_and_tracks_rectification(office_copy, tmp_path, as_role):
    with psycopg.connect(office_copy) as conn:
        findings = run_checks(conn, BusinessConfig(), week(4), END).findings
        for name, role in (("chief", "commander"), ("centre", "supervisor")):
            add_user(conn, name, PASSWORD, role, ["office-01"])
    with ConnectionPool(as_role(office_copy, "business"), min_size=1, max_size=2) as pool:
        BusinessAlerts(pool, AlertsConfig()).record(findings)
    with psycopg.connect(office_copy) as conn:
        alert_id = conn.execute("SELECT id FROM alerts WHERE rule = 'business_outside_hours'").fetchone()[0]
    f = next(f for f in findings if f.rule == "business_outside_hours" and f.source_id == "win-12")
    app = create_app(as_role(office_copy, "desk"), "x" * 40, tmp_path, limiter=LoginLimiter())
    with serving(app) as base:
        chief = _login(base, "chief")
        listing = chief.get("/alerts?rule=business_outside_hours").text
        assert f"/alerts/{alert_id}" in listing and "win-12" in listing
        page = chief.get(f"/alerts/{alert_id}").text
        assert 'id="source">win-12<' in page and "Service hall" in page
        # the explanation, the evidence table's names and the timeline in the desk's language (zh_CN)
        assert "当天办公时间：08:30-17:30" in page and "<th>记录编号</th>" in page and "正常应为零" in page
        assert "opening hours" not in page and f.key not in page and "非工作时间办理业务：win-12" in page
        assert page.count("<tr>") >= 1 + 5 and "inj-hours-" in page           # the five evidence rows
        assert 'id="rect-status">待整改<' in page  # zh_CN: the staff's language
        path = f"/alerts/{alert_id}/rectification"
        r = chief.post(path, data={"step": "verified", "csrf": _csrf(chief, f"/alerts/{alert_id}")})
        assert r.status_code == 403                                            # a commander cannot verify
        r = chief.post(path, data={"step": "rectified", "note": "evening logins disabled",
                                   "csrf": _csrf(chief, f"/alerts/{alert_id}")})
        assert r.status_code == 303
        centre = _login(base, "centre")
        r = centre.post(path, data={"step": "verified", "csrf": _csrf(centre, f"/alerts/{alert_id}")})
        assert r.status_code == 303
        page = centre.get(f"/alerts/{alert_id}").text
        assert 'id="rect-status">已核验<' in page and "evening logins disabled" in page
        r = centre.post(path, data={"step": "verified", "csrf": _csrf(centre, f"/alerts/{alert_id}")})
        assert r.status_code == 409 and "is verified" in r.text
    with psycopg.connect(office_copy) as conn:
        trail = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE object = %s ORDER BY id",
                                            (f"alert:{alert_id}",))]
    assert trail.count("rectification_rectified") == 1 and trail.count("rectification_verified") == 1
