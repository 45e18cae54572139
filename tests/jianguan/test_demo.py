"""The spine end to end: real footage, real model, real PostgreSQL, real ffmpeg, real HTTP receiver.

The demo footage (vtest.avi) was looked at frame by frame: the zone `staff_area` (a patch of the footpath)
is crossed by pedestrians until about 37.5 s, stays empty until about 48 s, and is crossed again after.
That gap is the one unattended period longer than the rule's 8 s, so exactly one alert must fire.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import av
import cv2
import psycopg
import pytest

from jianguan.demo import DEMO_VIDEO, WebhookReceiver, demo_config, run_demo
from storage import migrate

GAP_START_S, GAP_END_S = 37.5, 48.2  # ground truth by eye, seconds into vtest.avi
TOLERANCE_S = 1.5


@pytest.fixture(scope="module")
def demo(pg_admin_dsn, as_role, tmp_path_factory):
    name = f"demo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    receiver = WebhookReceiver(fail_first=1)
    data = tmp_path_factory.mktemp("demo")
    cfg = demo_config(data, receiver.url)
    report = run_demo(cfg, as_role(dsn, "node"), owner_dsn=dsn)  # the node as its own role, as `jianguan demo`
    receiver.close()
    return {"dsn": dsn, "report": report, "receiver": receiver, "data": data}


def one(dsn, sql, *args):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchone()


def test_every_sampled_frame_is_analysed(demo):
    report = demo["report"]
    cam = report.cameras["demo-window-03"]
    # 795 frames at 10 fps sampled at 2 fps: the demo's only rule (zone_unattended) needs no more
    assert cam.frames_analysed == cam.expected_frames and 155 <= cam.frames_analysed <= 161
    assert report.detections > cam.frames_analysed  # a busy footpath: several people per frame on average


def test_exactly_one_alert_for_the_one_long_gap(demo):
    report = demo["report"]
    assert report.incidents == 1 and report.alerts == 1
    (alert_id,) = report.alert_ids
    row = one(demo["dsn"], "SELECT a.status, a.rule, a.zone_id, a.severity, i.started_at, i.ended_at,"
              " (i.evidence->>'raised_at')::float, i.confidence FROM alerts a JOIN incidents i ON i.id = a.incident_id"
              " WHERE a.id = %s", alert_id)
    status, rule, zone, severity, started, ended, raised, confidence = row
    assert (status, rule, zone, severity) == ("open", "zone_unattended", "staff_area", "major")
    base = demo["report"].base_ts
    assert abs(started.timestamp() - base - GAP_START_S) <= TOLERANCE_S
    assert abs(ended.timestamp() - base - GAP_END_S) <= TOLERANCE_S
    assert raised - started.timestamp() == pytest.approx(8.0, abs=0.25)
    assert confidence >= 0.9


def test_clip_plays_and_covers_the_incident(demo):
    (alert_id,) = demo["report"].alert_ids
    path, sha, locked, c0, c1, i0, raised = one(
        demo["dsn"], "SELECT c.path, c.sha256, c.locked, c.started_at, c.ended_at, i.started_at,"
        " (i.evidence->>'raised_at')::float FROM alerts a JOIN clips c ON c.id = a.clip_id"
        " JOIN incidents i ON i.id = a.incident_id WHERE a.id = %s", alert_id)
    clip = Path(path)
    assert clip.is_file() and locked
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == sha
    # 3 s before the zone emptied .. 3 s after the alert was raised (8 s later): 14 s.
    assert c0.timestamp() <= i0.timestamp() - 2.5 and c1.timestamp() >= raised + 2.5
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        duration = float(container.duration) / av.time_base
        decoded = sum(1 for _ in container.decode(video=0))
    assert duration == pytest.approx(14.0, abs=0.6)
    assert decoded >= 130  # 10 fps for ~14 s: it really decodes, not just a header
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(clip)], capture_output=True, text=True, check=True)
    assert float(probe.stdout) == pytest.approx(14.0, abs=0.6)


def test_clip_shows_the_source_footage_at_the_right_moment(demo):
    (alert_id,) = demo["report"].alert_ids
    path, c0 = one(demo["dsn"], "SELECT c.path, c.started_at FROM alerts a JOIN clips c ON c.id = a.clip_id"
                   " WHERE a.id = %s", alert_id)
    offset = c0.timestamp() - demo["report"].base_ts
    with av.open(path) as container:
        first = next(container.decode(video=0)).to_ndarray(format="gray")
    with av.open(str(DEMO_VIDEO)) as container:
        best, best_t = None, None
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            if abs(t - offset) < 1.5:
                diff = cv2.absdiff(frame.to_ndarray(format="gray"), first).mean()
                if best is None or diff < best:
                    best, best_t = diff, t
    assert best is not None and best < 12
    assert abs(best_t - offset) <= 0.25


def test_snapshot_has_boxes_and_matches_its_hash(demo):
    (alert_id,) = demo["report"].alert_ids
    path, sha = one(demo["dsn"], "SELECT snapshot_path, snapshot_sha256 FROM alerts WHERE id = %s", alert_id)
    data = Path(path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    image = cv2.imread(path)
    assert image.shape == (576, 768, 3)
    # The zone is drawn in red: its outline pixels are there.
    red = (image[:, :, 2] > 200) & (image[:, :, 1] < 60) & (image[:, :, 0] < 60)
    assert red.sum() > 200


def test_webhook_got_exactly_one_delivery_after_one_failure(demo):
    receiver = demo["receiver"]
    assert receiver.attempts == 2
    assert len(receiver.deliveries) == 1
    body = receiver.deliveries[0].body
    assert body["alert_id"] == demo["report"].alert_ids[0]
    assert body["rule"] == "zone_unattended" and body["review_url"].endswith(f"/alerts/{body['alert_id']}")
    from alerts.links import LinkSigner
    from jianguan.review_cli import desk_config, desk_links

    token = body["ack_url"].rsplit("/ack/", 1)[1]
    assert LinkSigner("demo-link-secret-do-not-use-in-production").verify(token) is None  # the old public one
    claim = desk_links(desk_config(demo["data"], None)).verify(token)  # the desk as the README starts it
    assert (claim.alert_id, claim.action, claim.channel) == (body["alert_id"], "acknowledge", "commander-webhook")
    status, attempts = one(demo["dsn"], "SELECT status, attempts FROM outbox WHERE alert_id = %s", body["alert_id"])
    assert (status, attempts) == ("delivered", 2)


def test_metrics_reach_the_database(demo):
    n, peak = one(demo["dsn"], "SELECT count(*), max(people) FROM occupancy_samples"
                  " WHERE camera_id = 'demo-window-03' AND zone_id = 'staff_area'")
    assert 75 <= n <= 81  # one sample a second over 80 s of footage
    assert peak >= 1
    (stats,) = one(demo["dsn"], "SELECT count(*) FROM camera_stats WHERE camera_id = 'demo-window-03'")
    assert stats >= 1


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jianguan", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)


def test_cli_demo_with_missing_footage_is_one_clear_line(tmp_path):
    r = _cli("demo", "--data-dir", str(tmp_path), "--source", str(tmp_path / "nope.avi"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"错误：找不到视频：{tmp_path / 'nope.avi'}"
                                             "（请安装 Debian 的 opencv-doc，或用 --source 指定）"]


def test_cli_demo_with_missing_model_is_one_clear_line(tmp_path):
    r = _cli("demo", "--data-dir", str(tmp_path), "--model", str(tmp_path / "nope.pt"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"错误：找不到模型权重文件：{tmp_path / 'nope.pt'}"


def test_cli_run_with_unreachable_stream_is_one_clear_line(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "site: {id: s, name: S}\n"
        f"paths: {{data_dir: {tmp_path}}}\n"
        "cameras:\n"
        "  - {id: c1, name: C1, area: window, streams: {detect: 'rtsp://127.0.0.1:9/none'}}\n")
    r = _cli("run", str(cfg))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    # the cause, itself an error of the camera, reads in Chinese too
    assert line == "错误：所有摄像机均无法连接（共尝试 1 路）；第一路：无法打开 rtsp://127.0.0.1:9/none：连接被拒绝"


def test_cli_run_with_missing_file_source_is_one_clear_line(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "site: {id: s, name: S}\n"
        "cameras:\n"
        f"  - {{id: c1, name: C1, area: window, streams: {{detect: '{tmp_path}/missing.mp4'}}}}\n")
    r = _cli("run", str(cfg))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("错误：") and "missing.mp4" in line


def test_overview_dashboard_shows_the_demo_alert_and_occupancy(demo):
    from datetime import UTC, datetime, timedelta

    from dashboards import expand_macros, iter_targets, supervision_overview, variable_options

    dash = supervision_overview("en")  # panels by their English titles
    base = datetime.fromtimestamp(demo["report"].base_ts, tz=UTC)
    t0, t1 = base - timedelta(minutes=5), base + timedelta(minutes=5)
    results = {}
    with psycopg.connect(demo["dsn"]) as conn:
        selected, options = variable_options(conn, dash, {"site": ["demo-office"]}, t0, t1)
        assert options["camera"] == ["demo-window-03"]
        for pt in iter_targets({dash["uid"]: dash}):
            sql = expand_macros(pt.target["rawSql"], time_from=t0, time_to=t1, interval_s=10,
                                variables=selected, all_values=options)
            cur = conn.execute(sql)
            results[pt.panel_title] = ([c.name for c in cur.description], cur.fetchall())
    columns, rows = results["Latest alerts"]
    assert len(rows) == 1
    row = dict(zip(columns, rows[0], strict=True))
    (alert_id,) = demo["report"].alert_ids
    assert row["camera"] == "大厅3号窗口 (演示视频)"  # the panel shows camera names
    assert (row["rule"], row["zone"], row["link"]) == ("zone_unattended", "staff_area", f"/alerts/{alert_id}")
    people_panel = next(t for t in results if "eople" in t)
    assert len(results[people_panel][1]) > 5  # occupancy curve over the footage
