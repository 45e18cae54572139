"""Reports from a seeded office: figures equal to SQL recomputed here, HTML + PDF archived, link pushed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import date, datetime

import psycopg
import pytest

from reports import ReportsConfig, default_day, period, publish
from tests.analytics.business.conftest import TZ


def test_periods():
    assert period("monthly", date(2024, 2, 10), TZ).days == 29
    assert default_day("weekly", date(2024, 4, 17)) == date(2024, 4, 14)
    assert default_day("monthly", date(2024, 4, 17)) == date(2024, 3, 31)
    with pytest.raises(ValueError, match="unknown report kind"):
        period("yearly", date(2024, 1, 1), TZ)


def test_weekly_report_figures_match_sql_and_the_pdf_renders(seeded, tmp_path):
    cfg = ReportsConfig(archive_dir=tmp_path / "archive", commanders=["commanders"])
    with psycopg.connect(seeded) as conn:
        pub = publish(conn, "office-01", "weekly", date(2024, 4, 10), cfg)
        start, end = datetime(2024, 4, 8, tzinfo=TZ), datetime(2024, 4, 15, tzinfo=TZ)
        tx, wait = conn.execute("SELECT count(*), avg(wait_s) / 60 FROM transactions WHERE site_id = 'office-01'"
                                " AND queued_at >= %s AND queued_at < %s", (start, end)).fetchone()
        outlets = conn.execute("SELECT count(*) FROM transactions WHERE window_id LIKE 'outlet-%%'"
                               " AND queued_at >= %s AND queued_at < %s", (start, end)).fetchone()[0]
        insp = conn.execute("SELECT count(*) FROM inspections WHERE started_at >= %s AND started_at < %s",
                            (start, end)).fetchone()[0]
        by_rule = dict(conn.execute("SELECT rule, count(*) FROM alerts WHERE started_at >= %s AND started_at < %s"
                                    " GROUP BY 1", (start, end)).fetchall())
        confirmed = conn.execute("SELECT count(*) FROM alerts WHERE verdict = 'confirmed' AND started_at >= %s"
                                 " AND started_at < %s", (start, end)).fetchone()[0]
        uptime = conn.execute("SELECT avg(online::int) FROM camera_stats WHERE ts >= %s AND ts < %s",
                              (start, end)).fetchone()[0]
        rect = conn.execute("SELECT count(*), count(*) FILTER (WHERE r.status = 'rectified') FROM rectifications r"
                            " JOIN alerts a ON a.id = r.alert_id WHERE a.started_at >= %s AND a.started_at < %s",
                            (start, end)).fetchone()
        row = conn.execute("SELECT kind, html_sha256, pdf_sha256, figures->'totals'->>'transactions'"
                           " FROM reports WHERE id = %s", (pub.report_id,)).fetchone()
        pushed = conn.execute("SELECT channel, payload->>'review_url' FROM outbox WHERE alert_id IS NULL").fetchall()
    t = pub.data.totals
    assert tx > 1000 and t["transactions"] == tx and abs(t["avg_wait_min"] - float(wait)) < 1e-9
    assert t["transactions_outlets"] == outlets > 0
    assert t["transactions_windows"] + t["transactions_outlets"] + t["transactions_kiosks"] == tx
    assert sum(r[1] + r[2] + r[3] for r in pub.data.volume_by_day) == tx and len(pub.data.volume_by_day) == 7
    assert t["inspections"] == insp
    assert {r["rule"]: r["alerts"] for r in pub.data.alerts_by_rule} == by_rule
    assert any(r.startswith("business_") for r in by_rule)
    assert sum(r["alerts"] for r in pub.data.alerts_by_unit) == sum(by_rule.values())
    assert t["alerts_confirmed"] == confirmed
    assert abs(t["camera_uptime"] - float(uptime)) < 1e-9
    assert (pub.data.rectifications["total"], pub.data.rectifications["rectified"]) == rect and rect[1] == 1
    # archived with hashes that match the files; the link queued for the commanders
    assert row == ("weekly", hashlib.sha256(pub.html_path.read_bytes()).hexdigest(),
                   hashlib.sha256(pub.pdf_path.read_bytes()).hexdigest(), str(tx))
    assert pub.html_path == tmp_path / "archive" / "office-01" / "weekly" / "2024-W15" / "report.html"
    assert pushed == [("commanders", f"http://127.0.0.1:8080/reports/{pub.report_id}")]
    html = pub.html_path.read_text()
    assert f'<b id="total-transactions">{tx}</b>' in html and "data:image/png;base64," in html
    # In the site's language (zh_CN by default): titles, tables and rule names, never a rule's code.
    assert '<html lang="zh-CN">' in html and "<h1>监管周报</h1>" in html and "各规则告警" in html
    assert not [rule for rule in by_rule if f"<td>{rule}</td>" in html]
    assert pub.pdf_path.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm"):  # the page as an image, to look at (tests/reports/README: how it was checked)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pub.pdf_path),
                        str(tmp_path / "page")], check=True, timeout=60)
        pages = sorted(tmp_path.glob("page*.png"))
        assert pages and all(p.stat().st_size > 10_000 for p in pages)
        keep = shutil.os.environ.get("JIANGUAN_KEEP_REPORT_PNG")
        if keep:
            for p in pages:
                shutil.copy(p, keep)


def test_escapes_names_and_daily_report_without_pdf(seeded, tmp_path):
    with psycopg.connect(seeded) as conn:
        conn.execute("UPDATE sites SET name = '<script>alert(1)</script> office' WHERE id = 'office-01'")
        conn.commit()
        pub = publish(conn, "office-01", "daily", date(2024, 4, 12), ReportsConfig(archive_dir=tmp_path),
                      with_pdf=False)
        centre = conn.execute("SELECT DISTINCT channel FROM outbox WHERE alert_id IS NULL").fetchall()
    html = pub.html_path.read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert pub.pdf_path is None and pub.data.kind == "daily" and len(pub.data.volume_by_hour) > 5
    assert centre == [("centre",)]   # no commanders configured: the supervision centre's contact


def test_the_pushed_link_opens_the_report_for_its_site_only(seeded, tmp_path):
    """The link in the commanders' push (/reports/<id>) serves the archived report to logged-in users of its
    site, and to no one else."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from alerts.review import LoginLimiter, add_user, create_app

    archive = tmp_path / "reports"
    with psycopg.connect(seeded) as conn:
        pub = publish(conn, "office-01", "daily", date(2024, 4, 12), ReportsConfig(archive_dir=archive),
                      with_pdf=False)
        report_id = pub.report_id
        conn.execute("INSERT INTO sites (id, name) VALUES ('office-99', 'Other office') ON CONFLICT DO NOTHING")
        add_user(conn, "chief", "correct horse battery", "commander", ["office-01"])
        add_user(conn, "stranger", "correct horse battery", "commander", ["office-99"])
        conn.commit()
    app = create_app(seeded, "x" * 40, tmp_path / "evidence", limiter=LoginLimiter(), reports_root=archive)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)

    def login(user: str) -> httpx.Client:
        client = httpx.Client(base_url=base, follow_redirects=False)
        csrf = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/login", data={"username": user, "password": "correct horse battery", "csrf": csrf})
        assert r.status_code == 303
        return client

    try:
        assert httpx.get(f"{base}/reports/{report_id}").status_code in (303, 401)  # not logged in
        chief = login("chief")
        page = chief.get(f"/reports/{report_id}")
        assert page.status_code == 200 and page.text == pub.html_path.read_text()
        # Its charts are inline data: images: the report route allows them, the rest of the desk does not.
        assert "data:image/png;base64," in page.text
        assert "img-src 'self' data:;" in page.headers["content-security-policy"]
        assert "img-src 'self';" in chief.get("/alerts").headers["content-security-policy"]
        assert chief.get(f"/reports/{report_id}?format=pdf").status_code == 404  # rendered without a PDF
        assert login("stranger").get(f"/reports/{report_id}").status_code == 404
    finally:
        server.should_exit = True
