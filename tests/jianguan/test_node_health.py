"""Health wired through a live node: video loss opens and closes, each outage and each recovery is pushed,
recording that stops while the picture goes on is alerted, and a spool the disk refuses is alerted."""

from __future__ import annotations

import time

import psycopg
import pytest

from devkit.simulator import missing_reason, start_simulator
from tests.testkit.net import wait_until
from tests.testkit.node import camera, running_node, site

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def test_video_loss_alert_opens_and_closes(db_dsn, tmp_path):
    with start_simulator(["cam-1"]) as sim:
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), area="hall",
                                    camera_health={"video_loss": {"seconds": 3}}))
        with running_node(raw, db_dsn, drain_s=1) as node:
            counters = node.report.cameras["cam-1"]
            wait_until(lambda: counters.frames_analysed >= 4, 60, "frames analysed", every=0.2)
            sim.pause()  # the camera server hangs: no more frames
            time.sleep(7)
            sim.resume()
            before = counters.frames_analysed
            wait_until(lambda: counters.frames_analysed >= before + 4, 30, "frames after the outage", every=0.2)
            time.sleep(1)
    with psycopg.connect(db_dsn) as conn:
        rows = conn.execute("SELECT a.rule, a.severity, a.title, a.ended_at IS NOT NULL, i.ended_at - i.started_at"
                            " FROM alerts a JOIN incidents i ON i.id = a.incident_id ORDER BY a.id").fetchall()
    assert [r[:4] for r in rows] == [("video_loss", "critical", "视频丢失", True)]
    silent = rows[0][4].total_seconds()
    assert 5 <= silent <= 30  # paused 7 s; plus the reader's timeout and reconnect


def test_each_outage_is_pushed_and_so_is_each_recovery(db_dsn, tmp_path, receiver):
    """A camera lost twice pages twice (the second outage reopens the unread alert instead of being folded
    into it silently), each recovery is pushed ("Video restored"), and the reader is back within 5 s of the
    camera server answering again."""

    def events() -> list[tuple[str, str, int]]:
        return [(d.body["event"], d.body["rule"], d.body["alert_id"]) for d in receiver.deliveries]

    def seconds_until(cond, timeout_s: float, what: str) -> float:
        start = time.monotonic()
        wait_until(cond, timeout_s, what, every=0.1)
        return time.monotonic() - start

    with start_simulator(["cam-1"]) as sim:
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), area="hall",
                                    camera_health={"video_loss": {"seconds": 3}}), hook=True)
        with running_node(raw, db_dsn, env={"HOOK_URL": receiver.url}) as node:
            counters = node.report.cameras["cam-1"]
            wait_until(lambda: counters.frames_analysed >= 4, 60, "frames analysed")
            back_s = []
            for outage in (1, 2):
                sim.pause()
                wait_until(lambda n=outage: sum(e[0] != "alert.resolved" for e in events()) >= n, 30,
                           "the outage pushed")
                sim.resume()
                before = counters.frames_analysed
                back_s.append(seconds_until(lambda b=before: counters.frames_analysed > b, 30, "frames again"))
                wait_until(lambda n=outage: sum(e[0] == "alert.resolved" for e in events()) >= n, 30,
                           "the recovery pushed")
            time.sleep(2)  # a repeated push, if there were one, would come now
    kinds = [e[:2] for e in events()]
    assert kinds == [("alert.opened", "video_loss"), ("alert.resolved", "video_loss"),
                     ("alert.reopened", "video_loss"), ("alert.resolved", "video_loss")], kinds
    assert len({e[2] for e in events()}) == 1  # one alert, reopened: its timeline holds both outages
    titles = [d.body["title"] for d in receiver.deliveries]
    assert titles[1] == titles[3] == "视频已恢复"
    assert max(back_s) <= 5.0, back_s


def test_recording_that_stops_while_the_picture_goes_on_is_alerted_and_comes_back(db_dsn, tmp_path, receiver):
    """The camera's recordings folder becomes unwritable (here: a file where the folder was, as a dead or
    full volume would refuse it): the picture and the analysis go on, so only the recording watch can tell.
    One `recording_stopped` alert is pushed; once the folder can be written again the recorder comes back
    by itself and "Recording again" is pushed."""

    def pushed(event: str) -> bool:
        return any(d.body["event"] == event and d.body["rule"] == "recording_stopped" for d in receiver.deliveries)

    with start_simulator(["cam-1"]) as sim:
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), area="hall",
                                    record={"enabled": True, "segment_s": 2}), hook=True)
        with running_node(raw, db_dsn, env={"HOOK_URL": receiver.url}) as node:
            def recorded() -> int:  # the watch is set up by run(): read it afresh each time
                rec = node._recording_watch.recorders.get("cam-1")
                return 0 if rec is None else len(rec.segments())

            wait_until(lambda: recorded() >= 2, 60, "segments recorded", every=0.2)
            folder = node.config.paths.recordings_dir / "cam-1"
            folder.rename(folder.with_name("cam-1.before"))
            folder.write_text("not a folder")
            wait_until(lambda: pushed("alert.opened"), 90, "recording_stopped pushed", every=0.2)
            analysed = node.report.cameras["cam-1"].frames_analysed
            folder.unlink()
            wait_until(lambda: pushed("alert.resolved"), 60, "recording back", every=0.2)
            assert node.report.cameras["cam-1"].frames_analysed > analysed  # the picture went on all along
    rules = [d.body["rule"] for d in receiver.deliveries]
    assert rules == ["recording_stopped", "recording_stopped"], rules  # no video_loss: the picture never stopped
    assert [d.body["title"] for d in receiver.deliveries][1] == "录像已恢复"
    assert list((tmp_path / "recordings" / "cam-1").glob("*.mp4"))  # new segments in the folder made again


def test_a_spool_the_disk_refuses_raises_a_health_alert(db_dsn, tmp_path, receiver):
    """The alert spool's disk is full (its file is /dev/full): the incident still reaches the database and
    its commanders, and a critical `storage_failing` alert says the spools cannot be written."""
    with start_simulator(["cam-1"]) as sim:
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=3), hook=True)
        with running_node(raw, db_dsn, env={"HOOK_URL": receiver.url}) as node:
            wait_until(lambda: node._manager is not None, 60, "the alert writer")  # it removed its empty spool
            (tmp_path / "spool" / "alerts.spool").symlink_to("/dev/full")
            wait_until(lambda: {d.body["rule"] for d in receiver.deliveries} == {"zone_unattended", "storage_failing"},
                       90, "both alerts pushed", every=0.2)
    titles = [d.body["title"] for d in receiver.deliveries]
    assert any(t.startswith("磁盘已满或故障：缓存拒绝写入") for t in titles), titles
