"""Chinese first (issue 17), in headless Chromium: an auditor of a 车管所 reviews three alerts with the keyboard
only, and what every page shows is read as staff read it: no rule code, no untranslated English, no epoch
number, times in the site's zone. Screenshots of the list, alert and acknowledge pages at 1400 and 375 px go
to the test's folder (printed) for a person to look at."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import psycopg
import pytest
import supervision as sv
from psycopg.types.json import Jsonb

from alerts.links import LinkSigner
from alerts.review import add_user, create_app
from alerts.snapshot import draw_evidence, write_jpeg
from analytics.texts import alert_title
from i18n import local_datetime
from tests.testkit.desk import CHROMIUM_ARGS, VIDEO, browser_clip, read_as_staff, serving, shoot

PASSWORD = "correct horse battery"
TZ = "Asia/Shanghai"
# (rule, zone, Chinese zone name, measures): a window post, an exam seat, a camera's health.
ALERTS = [("zone_unattended", "staff", "1号窗口", {"empty_s": 130.4, "threshold_s": 120.0}),
          ("exam_candidate_absent", "a12", "A12", {"absent_s": 41.2, "threshold_s": 30.0}),
          ("video_loss", None, None, {"silent_s": 12.5})]


@pytest.fixture
def desk(db_dsn, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    clip = browser_clip(evidence / "alert.mp4")
    ok, frame = cv2.VideoCapture(VIDEO).read()
    assert ok
    zone = np.array([[0, 300], [380, 300], [380, 576], [0, 576]], np.float32)
    people = sv.Detections(xyxy=np.array([[420.0, 200, 470, 330]]), confidence=np.array([0.88]),
                           class_id=np.array([0]))
    people.data["anchor"] = np.array([[445.0, 330]])
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    ids = []
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name, timezone) VALUES ('s1', '第一车管所', %s)", (TZ,))
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES"
                     " ('w1', 's1', '服务大厅1号窗口', 'window', 5)")
        conn.execute("INSERT INTO zones (camera_id, id, kind, polygon, name) VALUES ('w1', 'staff', 'staff', '[]',"
                     " '1号窗口'), ('w1', 'a12', 'seat', '[]', 'A12')")
        clip_id = conn.execute("INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked)"
                               " VALUES ('w1', %s, %s, %s, 'ab12cd34ef56ab78cd90', 1, true) RETURNING id",
                               (started - timedelta(seconds=2), started + timedelta(seconds=2), str(clip)),
                               ).fetchone()[0]
        for n, (rule, zone_id, zone_name, measures) in enumerate(ALERTS):
            at = started + timedelta(minutes=n)
            title = alert_title(rule, measures, zone_name)
            snap = evidence / f"alert-{n}.jpg"
            caption = f"服务大厅1号窗口  {title}  {local_datetime(at, TZ, offset=True)}"
            write_jpeg(draw_evidence(frame, people, zone if zone_id else None, caption), snap)
            inc = conn.execute("INSERT INTO incidents (camera_id, rule, zone_id, started_at, confidence, evidence)"
                               " VALUES ('w1', %s, %s, %s, 0.9, %s) RETURNING id",
                               (rule, zone_id, at, Jsonb({"measures": measures, "raised_at": at.timestamp()}))
                               ).fetchone()[0]
            ids.append(conn.execute(
                "INSERT INTO alerts (dedup_key, incident_id, site_id, camera_id, rule, zone_id, severity, title,"
                " started_at, ended_at, snapshot_path, clip_id) VALUES (%s, %s, 's1', 'w1', %s, %s, 'major', %s, %s,"
                " %s, %s, %s) RETURNING id",
                (f"w1:{rule}:{n}", inc, rule, zone_id, title, at, at + timedelta(seconds=40), str(snap),
                 clip_id if n == 0 else None)).fetchone()[0])
            conn.execute("INSERT INTO alert_events (alert_id, actor, action, detail) VALUES (%s, 'system', 'opened',"
                         " %s)", (ids[-1], Jsonb({"ended_at": at.timestamp() + 40})))  # an epoch, as the store writes
        add_user(conn, "auditor1", PASSWORD, "auditor", ["s1"])
    links = LinkSigner("l" * 40)
    app = create_app(db_dsn, "x" * 40, evidence, links=links)
    with serving(app) as base:
        yield {"dsn": db_dsn, "base": base, "ids": ids, "links": links, "started": started,
               "shots": tmp_path / "shots"}


def test_an_auditor_reviews_three_alerts_in_chinese_with_the_keyboard(desk):
    from playwright.sync_api import sync_playwright

    first_local = local_datetime(desk["started"], TZ)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 900})
        page.goto(desk["base"] + "/alerts")
        page.fill("#username", "auditor1")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*:\d+/alerts$"))
        listing = page.inner_text("body")
        assert "3 条告警待审核" in listing.replace("\n", " ")
        assert first_local in listing  # the oldest unreviewed first, at Beijing time
        for code, name in (("zone_unattended", "岗位无人"), ("exam_candidate_absent", "考生离座"),
                           ("video_loss", "视频丢失")):
            assert name in listing, code
        read_as_staff(listing, "list")
        shoot(page, desk["shots"], "list")

        page.goto(desk["base"] + f"/alerts/{desk['ids'][0]}")  # the queue's first: where "开始审核" leads
        assert page.inner_text("#title") == "1号窗口：岗位无人 120 秒"
        assert page.inner_text("#measures") == "离岗 130.4 秒，阈值 120 秒"
        page.wait_for_function("document.querySelector('#clip').readyState >= 1", timeout=20_000)
        assert page.is_visible("#clip-marker")  # the moment of the alert marked under the clip
        alert_text = page.inner_text("body")
        read_as_staff(alert_text, "alert")
        assert first_local in alert_text and "1796" not in alert_text
        shoot(page, desk["shots"], "alert")
        for key, expected_next in (("1", 1), ("2", 2), ("3", None)):  # a verdict, then on to the next
            with page.expect_navigation():
                page.keyboard.press(key)
            if expected_next is not None:
                page.wait_for_url(re.compile(rf".*/alerts/{desk['ids'][expected_next]}$"))
                read_as_staff(page.inner_text("body"), f"alert {expected_next}")
        assert page.inner_text("#status") == "已审核"
        page.goto(desk["base"] + "/alerts")
        assert "0 条告警待审核" in page.inner_text("body").replace("\n", " ")

        # The commander's phone: the pushed acknowledge link, no login.
        phone = browser.new_page(locale="zh-CN", viewport={"width": 375, "height": 800})
        token = desk["links"].sign(desk["ids"][1], "acknowledge", "wecom")
        phone.goto(f"{desk['base']}/ack/{token}")
        ack_text = phone.inner_text("body")
        assert "A12座位：考生离座 30 秒" in ack_text and "服务大厅1号窗口" in ack_text and "考生离座" in ack_text
        assert phone.evaluate("document.querySelector('#snapshot').naturalWidth") == 768
        read_as_staff(ack_text, "acknowledge")
        shoot(phone, desk["shots"], "ack")
        phone.goto(f"{desk['base']}/ack/forged.token")  # an expired or forged link: a page, not JSON
        assert "此链接无效或已过期" in phone.inner_text("body")
        browser.close()
    with psycopg.connect(desk["dsn"]) as conn:
        verdicts = [v for (v,) in conn.execute("SELECT verdict FROM alerts ORDER BY started_at")]
    assert verdicts == ["confirmed", "false_alarm", "needs_follow_up"]
    print(f"\nscreenshots: {desk['shots']}")
    assert ZoneInfo(TZ)  # the zone the pages were checked in
