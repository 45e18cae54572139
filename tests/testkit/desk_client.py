"""The review desk in-process (Starlette's TestClient, no server, no browser): a small site with alerts in every
status, users of every role, and logged-in clients that carry their session's CSRF token. Quick enough for
property-based tests that send hundreds of requests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from fastapi import FastAPI
from psycopg.types.json import Jsonb
from starlette.exceptions import StarletteDeprecationWarning

from alerts.links import LinkSigner
from alerts.review import LoginLimiter, add_user, create_app

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx is what this project has
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
# user name -> (role, sites); the admin sees every site
USERS = {"auditor1": ("auditor", ["s1"]), "super": ("supervisor", ["s1"]), "cmdr": ("commander", ["s1"]),
         "admin": ("admin", [])}
LINK_SECRET = "l" * 40


@dataclass
class Desk:
    dsn: str
    app: FastAPI
    links: LinkSigner
    alerts: dict[str, int]  # status -> id of an alert of site s1 in that status
    other_site: int  # an alert of site s2, which only the admin may see


def seed(dsn: str) -> tuple[dict[str, int], int]:
    """Sites s1 and s2, a camera each, one s1 alert per status (the closed one a false alarm), one s2 alert."""
    alerts: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Office one'), ('s2', 'Office two')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES"
                     " ('w1', 's1', 'Window 1', 'window', 5), ('x1', 's2', 'Window X', 'window', 5)")
        rows = [(status, "w1", "s1") for status in ("open", "acknowledged", "reviewed", "closed")]
        for n, (status, cam, site) in enumerate([*rows, ("open", "x1", "s2")]):
            inc = conn.execute("INSERT INTO incidents (camera_id, rule, zone_id, started_at, confidence, evidence)"
                               " VALUES (%s, 'zone_unattended', 'staff', now() - interval '2 min', 0.97, %s)"
                               " RETURNING id",
                               (cam, Jsonb({"measures": {"empty_s": 130.0, "threshold_s": 120.0}}))).fetchone()[0]
            verdict = "false_alarm" if status in ("reviewed", "closed") else None
            alert_id = conn.execute(
                "INSERT INTO alerts (dedup_key, incident_id, site_id, camera_id, rule, zone_id, severity, title,"
                " started_at, status, verdict) VALUES (%s, %s, %s, %s, 'zone_unattended', 'staff', 'major',"
                " 'Zone staff unattended for 120 s', now() - interval '2 min', %s, %s) RETURNING id",
                (f"{cam}:zone_unattended:staff:{n}", inc, site, cam, status, verdict)).fetchone()[0]
            conn.execute("INSERT INTO alert_events (alert_id, actor, action) VALUES (%s, 'system', 'opened')",
                         (alert_id,))
            if site == "s1":
                alerts[status] = alert_id
            else:
                other = alert_id
        for name, (role, sites) in USERS.items():
            add_user(conn, name, PASSWORD, role, sites)
    return alerts, other


@contextmanager
def desk(dsn: str, evidence: Path) -> Iterator[Desk]:
    """The seeded desk's app; the login limit is off (a fuzzer fails logins on purpose)."""
    alerts, other = seed(dsn)
    links = LinkSigner(LINK_SECRET)
    # A live source for w1 (never opened here: nothing in these tests completes a WebRTC offer).
    app = create_app(dsn, "x" * 40, evidence, limiter=LoginLimiter(attempts=10**9), links=links,
                     live_sources={"w1": "rtsp://127.0.0.1:9/none"})
    try:
        yield Desk(dsn, app, links, alerts, other)
    finally:
        app.state.pool.close()


def csrf_in(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def logged_in(app: FastAPI, username: str) -> tuple[TestClient, str]:
    """A client with `username`'s session, and that session's CSRF token."""
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_in(client.get("/login").text)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 303, r.text
    return client, csrf_in(client.get("/alerts").text)


def status_of(dsn: str, alert_id: int) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status FROM alerts WHERE id = %s", (alert_id,)).fetchone()[0]
