"""The review desk over real HTTP (uvicorn on 127.0.0.1), real PostgreSQL, and headless Chromium."""

from __future__ import annotations

import shutil
import time

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerts.links import LinkSigner
from alerts.review import LoginLimiter, add_user, create_app
from alerts.snapshot import write_jpeg
from tests.testkit.desk import VIDEO, browser_clip, serving

PASSWORD = "correct horse battery"


@pytest.fixture
def site(db_dsn, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    clip = browser_clip(evidence / "alert.mp4")  # a real browser-playable clip: 4 s of the demo footage
    import cv2

    snap = evidence / "alert.jpg"
    cap = cv2.VideoCapture(VIDEO)
    ok, frame = cap.read()
    assert ok
    write_jpeg(frame, snap)
    outside = tmp_path / "secret.txt"
    outside.write_text("not evidence")
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Office one'), ('s2', 'Office two')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES"
                     " ('w1', 's1', 'Window 1', 'window', 5), ('x1', 's2', 'Window X', 'window', 5)")
        clip_id = conn.execute("INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked)"
                               " VALUES ('w1', now() - interval '1 min', now(), %s, 'ab', 1, true) RETURNING id",
                               (str(clip),)).fetchone()[0]
        ids = {}
        for key, cam, site_id, snap_path in (("s1", "w1", "s1", str(snap)), ("s2", "x1", "s2", str(outside))):
            inc = conn.execute("INSERT INTO incidents (camera_id, rule, zone_id, started_at, confidence, evidence)"
                               " VALUES (%s, 'zone_unattended', 'staff', now() - interval '2 min', 0.97, %s)"
                               " RETURNING id",
                               (cam, Jsonb({"measures": {"empty_s": 130.0, "threshold_s": 120.0}}))).fetchone()[0]
            ids[key] = conn.execute(
                "INSERT INTO alerts (dedup_key, incident_id, site_id, camera_id, rule, zone_id, severity, title,"
                " started_at, snapshot_path, clip_id) VALUES (%s, %s, %s, %s, 'zone_unattended', 'staff', 'major',"
                " 'Zone staff unattended for 120 s', now() - interval '2 min', %s, %s) RETURNING id",
                (f"{cam}:zone_unattended:staff", inc, site_id, cam, snap_path,
                 clip_id if key == "s1" else None)).fetchone()[0]
            conn.execute("INSERT INTO alert_events (alert_id, actor, action) VALUES (%s, 'system', 'opened')",
                         (ids[key],))
        add_user(conn, "auditor1", PASSWORD, "auditor", ["s1"])
        add_user(conn, "auditor2", PASSWORD, "auditor", ["s2"])
        add_user(conn, "cmdr", PASSWORD, "commander", ["s1"])
        add_user(conn, "super", PASSWORD, "supervisor", ["s1"])
    return {"dsn": db_dsn, "evidence": evidence, "ids": ids}


@pytest.fixture
def server(site, role_dsn):
    links = LinkSigner("l" * 40)
    app = create_app(role_dsn("desk"), "x" * 40, site["evidence"], limiter=LoginLimiter(attempts=3, window_s=60),
                     links=links, live_sources={"w1": VIDEO})
    with serving(app) as base:
        yield {**site, "base": base, "links": links}


def login(base: str, user: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=base, follow_redirects=False)
    page = client.get("/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/login", data={"username": user, "password": password, "csrf": csrf, "next": "/alerts"})
    return client, r


def csrf_of(client: httpx.Client, path: str) -> str:
    return client.get(path).text.split('name="csrf" value="')[1].split('"')[0]


def test_pages_need_login(server):
    r = httpx.get(server["base"] + f"/alerts/{server['ids']['s1']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert httpx.get(server["base"] + f"/alerts/{server['ids']['s1']}/clip.mp4").status_code in (303, 307)


def test_wrong_password_then_rate_limit(server):
    for _ in range(3):
        _, r = login(server["base"], "auditor1", "wrong password!")
        assert r.status_code == 401 and "用户名或密码错误" in r.text  # zh_CN: the staff's language
    _, r = login(server["base"], "auditor1")  # even the right password waits now
    assert r.status_code == 429
    with psycopg.connect(server["dsn"]) as conn:
        (n,) = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login_failed'").fetchone()
    assert n == 3


def test_other_sites_alerts_are_refused(server):
    client, r = login(server["base"], "auditor2")
    assert r.status_code == 303
    assert client.get(f"/alerts/{server['ids']['s1']}").status_code == 404
    assert client.get(f"/alerts/{server['ids']['s1']}/clip.mp4").status_code == 404
    listing = client.get("/alerts").text
    assert f"/alerts/{server['ids']['s1']}\"" not in listing and f"/alerts/{server['ids']['s2']}\"" in listing


def test_verdict_needs_csrf_and_the_right_role(server):
    alert = server["ids"]["s1"]
    client, _ = login(server["base"], "auditor1")
    r = client.post(f"/alerts/{alert}/verdict", data={"verdict": "confirmed", "csrf": "forged"})
    assert r.status_code == 403
    cmdr, _ = login(server["base"], "cmdr")
    r = cmdr.post(f"/alerts/{alert}/verdict", data={"verdict": "confirmed", "csrf": csrf_of(cmdr, "/alerts")})
    assert r.status_code == 403
    r = cmdr.post(f"/alerts/{alert}/acknowledge", data={"csrf": csrf_of(cmdr, "/alerts")})
    assert r.status_code == 303
    with psycopg.connect(server["dsn"]) as conn:
        assert conn.execute("SELECT status, verdict FROM alerts WHERE id = %s", (alert,)).fetchone() == (
            "acknowledged", None)


def test_evidence_outside_the_evidence_root_is_never_served(server):
    client, _ = login(server["base"], "auditor2")
    r = client.get(f"/alerts/{server['ids']['s2']}/snapshot.jpg")  # its path points outside evidence/
    assert r.status_code == 404 and "not evidence" not in r.text


def test_hostile_input(server):
    client, _ = login(server["base"], "auditor1")
    assert client.get("/alerts/abc").status_code == 422
    assert client.get("/alerts", params={"site": "s1' OR '1'='1"}).status_code == 422
    assert client.get("/alerts", params={"limit": "100000"}).status_code == 422
    anon = httpx.Client(base_url=server["base"])
    page = anon.get("/login?next=//evil.example/x")
    assert 'value="/alerts"' in page.text  # no open redirect after login
    r = client.get("/alerts")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    cookie = login(server["base"], "auditor1")[1].headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 # WebRTC between two processes on loopback, with real host candidates:
                 "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


def browser_login(p, base, user):
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    page = browser.new_page()
    page.goto(base + "/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url("**/alerts")
    return browser, page


@needs_chromium
def test_live_view_receives_frames_over_webrtc(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser, page = browser_login(p, server["base"], "auditor1")
        page.goto(server["base"] + "/cameras/w1/live")
        page.wait_for_function("window.liveFramesDecoded().then(n => n > 10)", timeout=30_000, polling=500)
        expect(page.locator("#live-status")).to_have_attribute("data-state", "playing", timeout=20_000)
        assert page.inner_text("#live-status") == "播放中"
        t0 = page.evaluate("document.querySelector('#live').currentTime")
        page.wait_for_timeout(1000)
        assert page.evaluate("document.querySelector('#live').currentTime") > t0  # it keeps playing
        assert page.evaluate("document.querySelector('#live').videoWidth") == 768
        browser.close()
    other, _ = login(server["base"], "auditor2")
    assert other.get("/cameras/w1/live").status_code == 404  # another site's camera
    r = other.post("/cameras/w1/live/offer", json={"sdp": "v=0", "type": "offer"},
                   headers={"X-CSRF-Token": csrf_of(other, "/alerts")})
    assert r.status_code == 404
    mine, _ = login(server["base"], "auditor1")
    r = mine.post("/cameras/w1/live/offer", json={"sdp": "v=0", "type": "offer"})  # no CSRF header
    assert r.status_code == 403


@needs_chromium
def test_auditor_reviews_an_alert_in_the_browser(server):
    from playwright.sync_api import sync_playwright

    alert = server["ids"]["s1"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(server["base"] + "/alerts")
        assert page.url.startswith(server["base"] + "/login")
        page.fill("#username", "auditor1")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url("**/alerts")
        page.click(f"a[href='/alerts/{alert}']")
        page.wait_for_url(f"**/alerts/{alert}")
        # Chinese, from the rule's catalogue entry and the incident's measures (not the stored English title).
        assert page.inner_text("#title") == "staff：岗位无人 120 秒"
        assert page.inner_text("#measures") == "离岗 130 秒，阈值 120 秒"
        page.wait_for_function("document.querySelector('#clip').readyState >= 2", timeout=20_000)
        duration = page.evaluate("document.querySelector('#clip').duration")
        assert duration == pytest.approx(4.0, abs=0.3)
        assert page.evaluate("document.querySelector('#snapshot').naturalWidth") == 768
        page.check("input[value='confirmed']")
        page.fill("#note", "Clerk left the window with customers waiting")
        page.click("#submit-verdict")
        page.wait_for_url(f"**/alerts/{alert}")
        assert page.inner_text("#verdict") == "确认违规"
        assert page.inner_text("#status") == "已审核"
        trail = page.inner_text("#trail")
        assert "auditor1" in trail and "审核结论" in trail and "Clerk left the window" in trail
        page.screenshot(path=str(server["evidence"].parent / "review.png"))
        page.click("#to-en")  # English on request, kept for the session
        page.wait_for_url(f"**/alerts/{alert}")
        assert page.inner_text("#verdict") == "Violation confirmed" and page.inner_text("#status") == "Reviewed"
        assert page.inner_text("#title") == "staff: nobody at the post for 120 s"
        assert "Verdict" in page.inner_text("#trail")
        browser.close()
    with psycopg.connect(server["dsn"]) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE actor = 'auditor1' ORDER BY id")]
    assert actions == ["login", "view", "verdict", "view", "view"]  # the pages after the verdict and the switch


def status_of(dsn, alert_id):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status FROM alerts WHERE id = %s", (alert_id,)).fetchone()[0]


def test_signed_link_acknowledges_only_on_post(server):
    alert = server["ids"]["s1"]
    token = server["links"].sign(alert, "acknowledge", "wecom")
    anon = httpx.Client(base_url=server["base"])
    page = anon.get(f"/ack/{token}")  # what a chat app's link preview does
    assert page.status_code == 200 and status_of(server["dsn"], alert) == "open"
    assert anon.post(f"/ack/{token}").status_code == 200
    assert status_of(server["dsn"], alert) == "acknowledged"
    assert "此告警已被确认或审核" in anon.post(f"/ack/{token}").text
    with psycopg.connect(server["dsn"]) as conn:
        events = conn.execute("SELECT actor, action FROM alert_events WHERE alert_id = %s AND action = 'acknowledged'",
                              (alert,)).fetchall()
    assert events == [("link:wecom", "acknowledged")]
    assert anon.post(f"/ack/{token[:-3]}abc").status_code == 403
    other = LinkSigner("z" * 40).sign(alert, "acknowledge", "wecom")  # signed with another key
    assert anon.get(f"/ack/{other}").status_code == 403


def test_expired_link_is_refused():
    signer = LinkSigner("l" * 40)
    token = signer.sign(1, "acknowledge", "mail")
    time.sleep(1.1)
    assert signer.verify(token, max_age_s=0) is None and signer.verify(token) is not None


def test_false_alarm_closed_by_a_supervisor_unlocks_the_clip(server):
    alert = server["ids"]["s1"]
    auditor, _ = login(server["base"], "auditor1")
    r = auditor.post(f"/alerts/{alert}/verdict", data={"verdict": "false_alarm", "note": "shadow",
                                                        "csrf": csrf_of(auditor, "/alerts")})
    assert r.status_code == 303
    assert auditor.post(f"/alerts/{alert}/close", data={"csrf": csrf_of(auditor, "/alerts")}).status_code == 403
    sup, _ = login(server["base"], "super")
    assert sup.post(f"/alerts/{alert}/close", data={"csrf": csrf_of(sup, "/alerts")}).status_code == 303
    with psycopg.connect(server["dsn"]) as conn:
        status, locked = conn.execute("SELECT a.status, c.locked FROM alerts a JOIN clips c ON c.id = a.clip_id"
                                      " WHERE a.id = %s", (alert,)).fetchone()
        trail = [r[0] for r in conn.execute("SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id",
                                            (alert,))]
    assert (status, locked) == ("closed", False)
    assert trail == ["opened", "verdict", "closed"]
