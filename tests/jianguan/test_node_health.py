"""Camera health wired through the node: a live RTSP camera that goes silent raises a video-loss alert,
which closes when the picture comes back."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from ingest.simulator import missing_reason, start_simulator
from jianguan.config import parse_config
from jianguan.node import Node
from storage import migrate

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def test_video_loss_alert_opens_and_closes(pg_admin_dsn, tmp_path):
    name = f"health_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    with start_simulator(["cam-1"]) as sim:
        cfg = parse_config({
            "site": {"id": "s1", "name": "S"},
            "paths": {"data_dir": str(tmp_path)},
            "detector": {"imgsz": 320},
            "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "hall",
                         "streams": {"detect": sim.url("cam-1", "sub", credentials=False)},
                         "detect": {"fps": 2}, "record": {"enabled": False},
                         "camera_health": {"video_loss": {"seconds": 3}}}],
        }, env={})
        node = Node(cfg, dsn, drain_s=1)
        runner = threading.Thread(target=node.run, daemon=True)
        runner.start()
        deadline = time.monotonic() + 60
        while node.report.cameras["cam-1"].frames_analysed < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert node.report.cameras["cam-1"].frames_analysed >= 4
        sim.pause()  # the camera server hangs: no more frames
        time.sleep(7)
        sim.resume()
        before = node.report.cameras["cam-1"].frames_analysed
        deadline = time.monotonic() + 30
        while node.report.cameras["cam-1"].frames_analysed < before + 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        node.stop_event.set()
        runner.join(timeout=30)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT a.rule, a.severity, a.title, a.ended_at IS NOT NULL, i.ended_at - i.started_at"
                            " FROM alerts a JOIN incidents i ON i.id = a.incident_id ORDER BY a.id").fetchall()
    assert [r[:4] for r in rows] == [("video_loss", "critical", "Video lost", True)]
    silent = rows[0][4].total_seconds()
    assert 5 <= silent <= 30  # paused 7 s; plus the reader's timeout and reconnect


def test_each_outage_is_pushed_and_so_is_each_recovery(pg_admin_dsn, tmp_path):
    """A camera lost twice pages twice (the second outage reopens the unread alert instead of being folded
    into it silently), each recovery is pushed ("Video restored"), and the reader is back within 5 s of the
    camera server answering again."""
    from jianguan.demo import WebhookReceiver

    name = f"outages_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    receiver = WebhookReceiver()

    def events() -> list[tuple[str, str, int]]:
        return [(d.body["event"], d.body["rule"], d.body["alert_id"]) for d in receiver.deliveries]

    def wait(cond, timeout_s: float, what: str) -> float:
        start = time.monotonic()
        while not cond():
            assert time.monotonic() - start < timeout_s, f"{what}: {events()}"
            time.sleep(0.1)
        return time.monotonic() - start

    try:
        with start_simulator(["cam-1"]) as sim:
            cfg = parse_config({
                "site": {"id": "s1", "name": "S"},
                "paths": {"data_dir": str(tmp_path)},
                "detector": {"imgsz": 320},
                "alerts": {"notifiers": [{"type": "webhook", "id": "hook", "url": "${HOOK_URL}"}],
                           "retry": {"initial_s": 1}},
                "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "hall",
                             "streams": {"detect": sim.url("cam-1", "sub", credentials=False)},
                             "detect": {"fps": 2}, "record": {"enabled": False},
                             "camera_health": {"video_loss": {"seconds": 3}}}],
            }, env={"HOOK_URL": receiver.url})
            node = Node(cfg, dsn, drain_s=5)
            runner = threading.Thread(target=node.run, daemon=True)
            runner.start()
            counters = node.report.cameras["cam-1"]
            wait(lambda: counters.frames_analysed >= 4, 60, "no frame analysed")
            back_s = []
            for outage in (1, 2):
                sim.pause()
                wait(lambda n=outage: sum(e[0] != "alert.resolved" for e in events()) >= n, 30, "outage not pushed")
                sim.resume()
                before = counters.frames_analysed
                back_s.append(wait(lambda b=before: counters.frames_analysed > b, 30, "camera not read again"))
                wait(lambda n=outage: sum(e[0] == "alert.resolved" for e in events()) >= n, 30,
                     "recovery not pushed")
            time.sleep(2)  # a repeated push, if there were one, would come now
            node.stop_event.set()
            runner.join(timeout=30)
    finally:
        receiver.close()
    kinds = [e[:2] for e in events()]
    assert kinds == [("alert.opened", "video_loss"), ("alert.resolved", "video_loss"),
                     ("alert.reopened", "video_loss"), ("alert.resolved", "video_loss")], kinds
    assert len({e[2] for e in events()}) == 1  # one alert, reopened: its timeline holds both outages
    titles = [d.body["title"] for d in receiver.deliveries]
    assert titles[1] == titles[3] == "Video restored"
    assert max(back_s) <= 5.0, back_s


def test_recording_that_stops_while_the_picture_goes_on_is_alerted_and_comes_back(pg_admin_dsn, tmp_path):
    """The camera's recordings folder becomes unwritable (here: a file where the folder was, as a dead or
    full volume would refuse it): the picture and the analysis go on, so only the recording watch can tell.
    One `recording_stopped` alert is pushed; once the folder can be written again the recorder comes back
    by itself and "Recording again" is pushed."""
    from jianguan.demo import WebhookReceiver

    name = f"recstop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    receiver = WebhookReceiver()

    def pushed(event: str) -> bool:
        return any(d.body["event"] == event and d.body["rule"] == "recording_stopped" for d in receiver.deliveries)

    def wait(cond, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, f"{what}: {[d.body['title'] for d in receiver.deliveries]}"
            time.sleep(0.2)

    try:
        with start_simulator(["cam-1"]) as sim:
            cfg = parse_config({
                "site": {"id": "s1", "name": "S"},
                "paths": {"data_dir": str(tmp_path)},
                "detector": {"imgsz": 320},
                "alerts": {"notifiers": [{"type": "webhook", "id": "hook", "url": "${HOOK_URL}"}],
                           "retry": {"initial_s": 1}},
                "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "hall",
                             "streams": {"detect": sim.url("cam-1", "sub", credentials=False)},
                             "detect": {"fps": 2}, "record": {"enabled": True, "segment_s": 2}}],
            }, env={"HOOK_URL": receiver.url})
            node = Node(cfg, dsn, drain_s=5)
            runner = threading.Thread(target=node.run, daemon=True)
            runner.start()
            wait(lambda: "cam-1" in node._recording_watch.recorders
                 and len(node._recording_watch.recorders["cam-1"].segments()) >= 2, 60, "nothing recorded")
            folder = cfg.paths.recordings_dir / "cam-1"
            folder.rename(folder.with_name("cam-1.before"))
            folder.write_text("not a folder")
            wait(lambda: pushed("alert.opened"), 90, "recording_stopped not pushed")
            analysed = node.report.cameras["cam-1"].frames_analysed
            folder.unlink()
            wait(lambda: pushed("alert.resolved"), 60, "recording did not come back")
            assert node.report.cameras["cam-1"].frames_analysed > analysed  # the picture went on all along
            node.stop_event.set()
            runner.join(timeout=30)
    finally:
        receiver.close()
    rules = [d.body["rule"] for d in receiver.deliveries]
    assert rules == ["recording_stopped", "recording_stopped"], rules  # no video_loss: the picture never stopped
    assert [d.body["title"] for d in receiver.deliveries][1] == "Recording again"
    assert list((tmp_path / "recordings" / "cam-1").glob("*.mp4"))  # new segments in the folder made again


def test_a_spool_the_disk_refuses_raises_a_health_alert(pg_admin_dsn, tmp_path):
    """The alert spool's disk is full (its file is /dev/full): the incident still reaches the database and
    its commanders, and a critical `storage_failing` alert says the spools cannot be written."""
    from jianguan.demo import WebhookReceiver

    name = f"storage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    receiver = WebhookReceiver()
    try:
        with start_simulator(["cam-1"]) as sim:
            cfg = parse_config({
                "site": {"id": "s1", "name": "S"},
                "paths": {"data_dir": str(tmp_path)},
                "detector": {"imgsz": 320},
                "alerts": {"notifiers": [{"type": "webhook", "id": "hook", "url": "${HOOK_URL}"}],
                           "retry": {"initial_s": 1}},
                "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "window",
                             "streams": {"detect": sim.url("cam-1", "sub", credentials=False)},
                             "detect": {"fps": 2}, "record": {"enabled": False},
                             "zones": [{"id": "sky", "kind": "staff", "polygon": [[0.02, 0.02], [0.2, 0.02],
                                                                                  [0.2, 0.1], [0.02, 0.1]]}],
                             "rules": [{"type": "zone_unattended", "zone": "sky", "seconds": 3}]}],
            }, env={"HOOK_URL": receiver.url})
            node = Node(cfg, dsn, drain_s=5)
            runner = threading.Thread(target=node.run, daemon=True)
            runner.start()
            deadline = time.monotonic() + 60
            while node._manager is None:  # the writer has opened (and removed) its empty spool
                assert time.monotonic() < deadline
                time.sleep(0.05)
            (tmp_path / "spool" / "alerts.spool").symlink_to("/dev/full")
            deadline = time.monotonic() + 90
            while {d.body["rule"] for d in receiver.deliveries} != {"zone_unattended", "storage_failing"}:
                assert time.monotonic() < deadline, [d.body["title"] for d in receiver.deliveries]
                time.sleep(0.2)
            node.stop_event.set()
            runner.join(timeout=30)
    finally:
        receiver.close()
    titles = [d.body["title"] for d in receiver.deliveries]
    assert any(t.startswith("Disk full or failing: spools refused") for t in titles), titles
