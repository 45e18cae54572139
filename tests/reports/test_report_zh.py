"""Chinese first (issue 17), the report page in headless Chromium: a site in Beijing time (zh_CN) has alerts on
both sides of local midnight; its daily and weekly reports are produced as the product does (`publish`), and an
auditor opens the pushed link through the desk, logs in (zh-CN) and reads them as staff read them: no rule code,
no untranslated English, no epoch number, the period in Beijing time with each alert in its local day, every
chart loaded (the desk's CSP lets the report's inline charts through), and a page that fits a phone. Screenshots
at 1400 and 375 px go to the test's folder (printed) for a person to look at."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerts.review import add_user, create_app
from reports import ReportsConfig, publish
from tests.testkit.desk import ALLOWED_ASCII, CHROMIUM, CHROMIUM_ARGS, read_as_staff, serving, shoot

PASSWORD = "correct horse battery"
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2024, 4, 12)  # a Friday; the week of 2024-04-08 to 2024-04-14 (ISO week 15)
# ASCII words a report may show: the time zone's IANA name (as the desk shows it), nothing else. Units are
# written in Chinese (分钟) and percentages are digits and %, which the word check does not see.
REPORT_ASCII = frozenset({"Asia", "Shanghai"})
assert REPORT_ASCII <= ALLOWED_ASCII  # no more lenient than the desk's pages


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


NEXT = DAY + timedelta(days=1)
# (rule, camera, zone, Beijing time, verdict): the first is on DAY though its UTC date is the day before, the last
# is on the next day though its UTC date is DAY (16:10 UTC): a report by UTC day would swap them.
ALERTS = [("exam_phone", "e1", "room", local(DAY, 0, 5), "confirmed"),
          ("video_loss", "w2", None, local(DAY, 10, 0), "false_alarm"),
          ("zone_unattended", "w1", "staff", local(DAY, 23, 50), "confirmed"),
          ("exam_candidate_absent", "e1", "room", local(NEXT, 0, 10), None)]
CAMERAS = [("w1", "服务大厅1号窗口", "window"), ("w2", "服务大厅2号窗口", "window"),
           ("k1", "24小时自助服务区", "self_service"), ("e1", "科目一考场", "exam_room")]


def _seed(conn: psycopg.Connection) -> None:
    """One office of a 车管所 in Beijing time: its cameras, units, a day's business and camera stats, alerts."""
    conn.execute("INSERT INTO sites (id, name, timezone, language) VALUES ('s1', '第一车管所', 'Asia/Shanghai',"
                 " 'zh_CN')")
    conn.cursor().executemany("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, 's1', %s, %s, 5)",
                              CAMERAS)
    conn.execute("INSERT INTO zones (camera_id, id, kind, polygon, name) VALUES ('w1', 'staff', 'staff', '[]',"
                 " '1号窗口'), ('e1', 'room', 'room', '[]', '考场')")
    conn.execute("INSERT INTO units (id, name, kind, parent) VALUES ('centre', '监管中心', 'supervision_centre', NULL),"
                 " ('s1', '第一车管所', 'office', 'centre'), ('s1-hall', '服务大厅', 'department', 's1'),"
                 " ('s1-exam', '考试科', 'department', 's1')")
    conn.execute("INSERT INTO unit_members (site_id, member_kind, member_id, unit_id) VALUES"
                 " ('s1', 'site', 's1', 's1'), ('s1', 'window', 'w1', 's1-hall'), ('s1', 'window', 'w2', 's1-hall'),"
                 " ('s1', 'window', 'k1', 's1-hall'), ('s1', 'camera', 'e1', 's1-exam')")
    conn.execute("INSERT INTO unit_contacts (unit_id, name, role, channel) VALUES ('centre', '值班台', 'supervisor',"
                 " 'centre')")
    with conn.cursor() as cur:
        # The day's tickets, 09:00-16:45 at the two windows, and the 24-hour kiosks at 00:20, 23:55 and the next
        # day's 00:05 (UTC 16:20 the day before, 15:55 and 16:05): hours 0 and 23 of DAY, none of the next day.
        tickets = [(w, local(DAY, h, m), 300 + 60 * (h % 4) + m, 420 + 30 * (h % 3))
                   for h in range(9, 17) for w, m in (("w1", 5), ("w2", 35), ("w1", 45))]
        tickets += [("k1", local(DAY, 0, 20), 0, 120), ("k1", local(DAY, 23, 55), 0, 150),
                    ("k1", local(NEXT, 0, 5), 0, 90)]
        cur.executemany("INSERT INTO transactions (message_id, site_id, window_id, business_type, queued_at,"
                        " called_at, finished_at, wait_s, handle_s) VALUES (%s, 's1', %s, 'licence_renewal', %s,"
                        " %s, %s, %s, %s)",
                        [(f"t{n}", w, at, at + timedelta(seconds=wait), at + timedelta(seconds=wait + handle),
                          wait, handle) for n, (w, at, wait, handle) in enumerate(tickets)])
        # Camera stats every 30 min of DAY; window 2 offline 10:00-12:00 (the video_loss alert).
        stats = [(local(DAY, 0, 0) + timedelta(minutes=30 * k), cam) for k in range(48) for cam, _, _ in CAMERAS]
        cur.executemany("INSERT INTO camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps,"
                        " detection_fps, decode_ms, lag_s, reconnects) VALUES (%s, %s, %s, 25, 5, 0, 5, 4, 0.2, 0)",
                        [(ts, cam, not (cam == "w2" and local(DAY, 10, 0) <= ts < local(DAY, 12, 0)))
                         for ts, cam in stats])
        cur.executemany("INSERT INTO inspections (site_id, lane_id, plate, inspector_id, started_at, finished_at)"
                        " VALUES ('s1', 'lane-1', %s, 'i7', %s, %s)",
                        [("苏A12345", local(DAY, 9, 0), local(DAY, 9, 14)),
                         ("苏A54321", local(DAY, 10, 0), local(DAY, 10, 3))])
        cur.executemany("INSERT INTO testing_results (message_id, site_id, line_id, tested_at, passed)"
                        " VALUES (%s, 's1', 'line-01', %s, %s)",
                        [("r1", local(DAY, 9, 30), True), ("r2", local(DAY, 11, 0), True),
                         ("r3", local(DAY, 14, 0), False)])
        for n, (rule, camera, zone, at, verdict) in enumerate(ALERTS):
            alert_id = cur.execute(
                "INSERT INTO alerts (dedup_key, site_id, camera_id, rule, zone_id, severity, status, verdict, title,"
                " started_at, ended_at) VALUES (%s, 's1', %s, %s, %s, 'major', %s, %s, %s, %s, %s) RETURNING id",
                (f"{camera}:{rule}:{n}", camera, rule, zone, "reviewed" if verdict else "open", verdict, rule, at,
                 at + timedelta(minutes=2))).fetchone()[0]
            cur.execute("INSERT INTO alert_events (alert_id, actor, action, detail) VALUES (%s, 'system', 'opened',"
                        " %s)", (alert_id, Jsonb({"ended_at": (at + timedelta(minutes=2)).timestamp()})))
            if rule == "zone_unattended":  # the window's post left empty: its unit put someone back
                cur.execute("INSERT INTO rectifications (alert_id, unit_id, status, note) VALUES (%s, 's1-hall',"
                            " 'rectified', '已安排人员补岗')", (alert_id,))
    add_user(conn, "auditor1", PASSWORD, "auditor", ["s1"])


@pytest.fixture
def office(db_dsn, tmp_path):
    """The seeded office and the desk serving its report archive; reports are published once the desk's
    address is known, so that the pushed link is the desk's."""
    archive, evidence = tmp_path / "archive", tmp_path / "evidence"
    evidence.mkdir()
    with psycopg.connect(db_dsn) as conn:
        _seed(conn)
    app = create_app(db_dsn, "x" * 40, evidence, reports_root=archive)
    with serving(app) as base:
        yield {"dsn": db_dsn, "base": base, "cfg": ReportsConfig(archive_dir=archive, review_base_url=base),
               "shots": tmp_path / "shots"}


def _pushed(conn: psycopg.Connection, report_id: int) -> tuple[str, str]:
    """The link and title queued for the supervision centre's duty desk (no commanders configured)."""
    return conn.execute("SELECT payload->>'review_url', payload->>'title' FROM outbox WHERE channel = 'centre'"
                        " AND idempotency_key = %s", (f"report-{report_id}-centre",)).fetchone()


def _rules_table(page) -> dict[str, int]:
    """The 'alerts by rule' table as {rule name: alerts}."""
    rows = page.eval_on_selector_all("#alerts-by-rule tbody tr", "rows => rows.map(r => [...r.cells].map(c =>"
                                     " c.innerText.trim()))")
    return {cells[0]: int(cells[1]) for cells in rows if len(cells) > 1}


def _charts_loaded(page, where: str, expected: int) -> None:
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)")
    assert len(widths) == expected and all(w > 0 for w in widths), (where, widths)


def test_an_auditor_reads_the_daily_and_weekly_reports_in_chinese(office):
    from playwright.sync_api import sync_playwright

    # The alerts either side of midnight, in UTC: 16:05 the day before (in DAY), 16:10 on DAY (not in DAY).
    assert [a[3].astimezone(UTC) for a in (ALERTS[0], ALERTS[3])] == [datetime(2024, 4, 11, 16, 5, tzinfo=UTC),
                                                                       datetime(2024, 4, 12, 16, 10, tzinfo=UTC)]
    with psycopg.connect(office["dsn"]) as conn:
        daily = publish(conn, "s1", "daily", DAY, office["cfg"])  # with its PDF, as `jianguan report` does
        following = publish(conn, "s1", "daily", NEXT, office["cfg"], with_pdf=False)
        weekly = publish(conn, "s1", "weekly", DAY, office["cfg"], with_pdf=False)
        pushed = [_pushed(conn, pub.report_id) for pub in (daily, following, weekly)]
    links = [link for link, _ in pushed]
    assert all(link.startswith(office["base"] + "/reports/") for link in links)
    assert [title for _, title in pushed] == ["监管日报 2024-04-12 (第一车管所)", "监管日报 2024-04-13 (第一车管所)",
                                              "监管周报 2024年第15周 (第一车管所)"]
    # Local hours of the day's tickets: 00:20 and 23:55 Beijing time are hours 0 and 23 of DAY.
    assert dict(daily.data.volume_by_hour)[0] == 1 and dict(daily.data.volume_by_hour)[23] == 1
    assert sum(n for _, n in daily.data.volume_by_hour) == 3 * 8 + 2

    csp_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 900})
        page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
        # The commander's pushed link: not logged in, so the desk asks first, then shows the report.
        page.goto(links[0])
        page.wait_for_url(re.compile(r".*/login\?next=/reports/\d+$"))
        page.fill("#username", "auditor1")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(links[0])
        page.wait_for_load_state("load")

        text = page.inner_text("body")
        read_as_staff(text, "daily report", REPORT_ASCII)
        assert page.inner_text("h1") == "监管日报"
        # The period in Beijing time: local midnight to midnight, never the UTC boundary (16:00 the day before).
        assert "2024-04-12 00:00 – 2024-04-13 00:00" in text and "16:00" not in text, text[:300]
        # Each alert in its local day: 00:05 (UTC the day before) is in, 00:10 the next day (UTC this day) is not.
        assert _rules_table(page) == {"考场使用手机": 1, "视频丢失": 1, "岗位无人": 1}
        assert page.inner_text("#total-alerts") == "3" and "考生离座" not in text
        assert page.inner_text("#total-transactions") == str(3 * 8 + 2)
        assert "服务大厅" in page.inner_text("#alerts-by-unit")
        assert "服务大厅2号窗口" in text  # the least available camera by its name
        _charts_loaded(page, "daily report", 4)  # volume, times, alerts by rule, uptime
        shoot(page, office["shots"], "report-daily")

        page.goto(links[1])  # the next day's report: only the alert of 00:10
        read_as_staff(page.inner_text("body"), "next day's report", REPORT_ASCII)
        assert _rules_table(page) == {"考生离座": 1}
        assert "2024-04-13 00:00 – 2024-04-14 00:00" in page.inner_text("body")

        page.goto(links[2])
        text = page.inner_text("body")
        read_as_staff(text, "weekly report", REPORT_ASCII)
        assert page.inner_text("h1") == "监管周报"
        assert "2024-04-08 00:00 – 2024-04-15 00:00" in text and "2024年第15周" in text
        assert _rules_table(page) == {"考场使用手机": 1, "视频丢失": 1, "岗位无人": 1, "考生离座": 1}
        _charts_loaded(page, "weekly report", 4)
        shoot(page, office["shots"], "report-weekly")
        browser.close()
    assert csp_errors == []
    assert daily.pdf_path is not None and daily.pdf_path.read_bytes().startswith(b"%PDF")
    print(f"\nscreenshots: {office['shots']}")
