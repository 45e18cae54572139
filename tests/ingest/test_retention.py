"""Retention on real ffmpeg recordings and a real PostgreSQL: age, disk budget, the segment being written,
segments a pending clip needs, and evidence clips held by their alerts (issue 3). The sweeper reaches the
database through alerts' `ClipRetention`, as the node wires it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import av
import cv2
import numpy as np
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import ClipRetention
from ingest import Recorder, RecordingConfig, RetentionSweeper, cut_clip

from .conftest import free_port, gray_frame_at, serve, stop_server, wait_for

BASE = 1_700_000_000.0
DAY = 86400.0


@pytest.fixture(scope="module")
def h264(vtest, tmp_path_factory) -> Path:
    """vtest.avi as H.264 with a keyframe every 2 s: the recorder remuxes it (-c copy) like a camera's main stream."""
    out = tmp_path_factory.mktemp("src") / "vtest.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(vtest), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-force_key_frames", "expr:gte(t,n_forced*2)",
                    "-an", str(out)], check=True, timeout=120)
    return out


def record(h264: Path, recordings: Path, camera_id: str) -> Recorder:
    rec = Recorder(camera_id, str(h264), recordings / camera_id, segment_s=10, base_ts=BASE, transcode=False)
    rec.start()
    assert rec.wait(60) and rec.last_error is None
    assert len(rec.segments()) == 8
    return rec


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def seg_files(root: Path) -> set[Path]:
    return set(root.rglob("*.mp4"))


@pytest.fixture
def pool(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES"
                     " ('cam1', 's1', 'Cam 1', 'window', 5), ('cam2', 's1', 'Cam 2', 'hall', 5)")
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as p:
        yield p


def test_age_deletes_old_segments_only(h264, tmp_path, pool):
    rec = record(h264, tmp_path, "cam1")
    segs = rec.segments()
    for i, seg in enumerate(segs):  # the first segment is 8000 s old, the last 1000 s
        age(seg.path, (len(segs) - i) * 1000)
    sweeper = RetentionSweeper(tmp_path, RecordingConfig(retain_s=3500, disk_budget_gb=None), ClipRetention(pool),
                               recorders={"cam1": rec})
    report = sweeper.sweep()
    assert report.segments == {"age": 5} and report.db_ok and not report.over_budget
    assert [s.path for s in rec.segments()] == [s.path for s in segs[5:]]
    assert not any(s.path.exists() for s in segs[:5])
    assert report.segment_bytes > 0 and report.kept_bytes == sum(
        p.stat().st_size for p in (tmp_path / "cam1").iterdir())
    # A camera's own keep_s overrides the site's retain_s.
    RetentionSweeper(tmp_path, RecordingConfig(retain_s=3500, disk_budget_gb=None), ClipRetention(pool),
                     recorders={"cam1": rec}, keep_s={"cam1": 1500}).sweep()
    assert [s.path for s in rec.segments()] == [s.path for s in segs[7:]]


def test_budget_deletes_oldest_first_across_cameras(h264, tmp_path, pool):
    recs = {cam: record(h264, tmp_path, cam) for cam in ("cam1", "cam2")}
    # Interleave the two cameras' ages: cam1 seg k is 100 * (2k) s younger than the oldest, cam2's in between.
    order = []
    for k in range(8):
        for j, cam in enumerate(("cam1", "cam2")):
            seg = recs[cam].segments()[k]
            age(seg.path, 5000 - 100 * (2 * k + j))
            order.append(seg.path)  # oldest first
    csv_bytes = sum(p.stat().st_size for p in tmp_path.rglob("*.csv"))
    sizes = {p: p.stat().st_size for p in order}
    budget = sum(sizes.values()) + csv_bytes - sizes[order[0]] - sizes[order[1]] - sizes[order[2]] // 2
    cfg = RecordingConfig(retain_s=DAY, disk_budget_gb=budget / 1e9)
    report = RetentionSweeper(tmp_path, cfg, ClipRetention(pool), recorders=recs).sweep()
    # Two whole segments and half of a third over: the three oldest go, alternating cameras.
    assert report.segments == {"budget": 3}
    assert seg_files(tmp_path) == set(order[3:])
    assert report.kept_bytes <= budget and not report.over_budget
    assert report.kept_bytes == sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    # Nothing over the budget now: a second sweep deletes nothing.
    assert RetentionSweeper(tmp_path, cfg, ClipRetention(pool), recorders=recs).sweep().segments == {}


def test_leftovers_of_earlier_runs_are_swept(h264, tmp_path):
    """A restarted node does not know the old run's segments from memory: they are found on disk."""
    old = record(h264, tmp_path, "cam1")
    for p in (tmp_path / "cam1").iterdir():
        age(p, 2 * DAY)
    report = RetentionSweeper(tmp_path, RecordingConfig(retain_s=DAY)).sweep()  # no recorders, no database
    assert report.segments == {"age": 8} and report.lists == 1
    assert not any((tmp_path / "cam1").iterdir())
    assert old.segments() == []


@pytest.mark.timeout(90)
def test_segment_being_written_survives_a_budget_it_cannot_meet(vtest, tmp_path, pool, caplog):
    port = free_port()
    server = serve(vtest, port)
    rec = Recorder("cam1", f"http://127.0.0.1:{port}/live.ts", tmp_path / "cam1", segment_s=3, transcode=False,
                   timeout_s=3)
    rec.start()
    try:
        assert wait_for(lambda: len(rec.segments()) >= 2, 30), rec.last_error
        n = len(rec.segments())
        assert wait_for(lambda: len(rec.segments()) > n, 10)  # a segment just closed: ~3 s until the next
        writing = [p for p in rec.in_use() if p.suffix == ".mp4"]
        assert len(writing) == 1 and writing[0].exists()  # the one ffmpeg has open
        report = RetentionSweeper(tmp_path, RecordingConfig(disk_budget_gb=1e-9), ClipRetention(pool),
                                  recorders={"cam1": rec}).sweep()
        assert report.segments["budget"] >= 3 and report.over_budget
        assert "over the" in caplog.text
        assert writing[0].exists() and rec.segments() == []
        # Recording goes on: the segment that was being written is completed and listed.
        assert wait_for(lambda: writing[0] in {s.path for s in rec.segments()}, 15)
        assert writing[0].exists()
    finally:
        rec.stop()
        stop_server(server)


def test_segments_a_pending_clip_needs_are_kept(h264, tmp_path, pool):
    rec = record(h264, tmp_path, "cam1")
    for p in (tmp_path / "cam1").glob("*.mp4"):
        age(p, 2 * DAY)
    with pool.connection() as conn:
        alert_id = conn.execute(
            "INSERT INTO alerts (dedup_key, site_id, camera_id, rule, severity, title, started_at)"
            " VALUES ('cam1:x:z', 's1', 'cam1', 'x', 'major', 't', to_timestamp(%s)) RETURNING id",
            (BASE + 30,)).fetchone()[0]
    cfg = RecordingConfig(retain_s=DAY, disk_budget_gb=1e-9)
    sweeper = RetentionSweeper(tmp_path, cfg, ClipRetention(pool), recorders={"cam1": rec}, clip_pre_s=5,
                               max_clip_s=12)
    report = sweeper.sweep()
    # The clip will cover [25, 37] s: the segments [20, 30) and [30, 40) stay, the other six go.
    assert report.segments["age"] == 6
    kept = rec.segments()
    assert [t - BASE for s in kept for t in (s.start_ts, s.end_ts)] == pytest.approx([20, 30, 30, 40], abs=0.2)
    clip = cut_clip(kept, BASE + 25, BASE + 37, tmp_path / "clip.mp4")
    assert clip.duration_s == pytest.approx(12, abs=0.3)
    # Once the clip has failed (or been attached), nothing holds the segments any more.
    with pool.connection() as conn:
        conn.execute("INSERT INTO alert_events (alert_id, actor, action) VALUES (%s, 'system', 'clip_failed')",
                     (alert_id,))
    assert sweeper.sweep().segments["age"] == 2 and rec.segments() == []


def test_without_database_recent_segments_are_kept(h264, tmp_path, caplog):
    rec = record(h264, tmp_path, "cam1")
    segs = rec.segments()
    for i, seg in enumerate(segs):
        age(seg.path, 100 * (len(segs) - i))  # 800 .. 100 s old
    dead = ConnectionPool("host=127.0.0.1 port=1 dbname=x connect_timeout=1", min_size=0, max_size=1, open=True)
    try:
        cfg = RecordingConfig(disk_budget_gb=1e-9, clip_hold_s=450)
        report = RetentionSweeper(tmp_path, cfg, ClipRetention(dead), recorders={"cam1": rec}).sweep()
    finally:
        dead.close()
    assert not report.db_ok and report.segments == {"budget": 4}  # the four older than clip_hold_s
    assert "database unreachable" in caplog.text
    assert [s.path for s in rec.segments()] == [s.path for s in segs[4:]]


def test_vanished_files_do_not_break_a_sweep(h264, tmp_path, pool):
    rec = record(h264, tmp_path, "cam1")
    for p in (tmp_path / "cam1").glob("*.mp4"):
        age(p, 2 * DAY)
    sweeper = RetentionSweeper(tmp_path, RecordingConfig(retain_s=DAY), ClipRetention(pool), recorders={"cam1": rec})
    files = sweeper._scan()
    victim = next(f.path for f in files if f.path.suffix == ".mp4")
    victim.unlink()  # gone between the scan and the delete (another sweeper, an operator)
    sweeper._scan = lambda: files  # replay the stale listing
    report = sweeper.sweep()
    assert report.vanished == 1 and report.segments == {"age": 7} and report.failed == 0


# -- clips -------------------------------------------------------------------------------------------------
def ffprobe_plays(path: Path) -> float:
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                                      "-of", "json", str(path)], capture_output=True, check=True, text=True).stdout)
    assert info["streams"][0]["codec_name"] == "h264"
    decode = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    assert decode.returncode == 0 and decode.stderr.strip() == "", decode.stderr
    return float(info["format"]["duration"])


def add_clip(conn, path: Path, clip, *, status: str | None, verdict: str | None = None, locked: bool = True,
             days_old: float = 40, key: str = "k") -> int:
    clip_id = conn.execute(
        "INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked, created_at)"
        " VALUES ('cam1', to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s, now() - make_interval(days => %s))"
        " RETURNING id", (clip.start_ts, clip.end_ts, str(path), clip.sha256, clip.bytes, locked, days_old)
    ).fetchone()[0]
    if status is not None:
        conn.execute("INSERT INTO alerts (dedup_key, site_id, camera_id, rule, severity, status, verdict, title,"
                     " started_at, clip_id) VALUES (%s, 's1', 'cam1', 'x', 'major', %s, %s, 't', now(), %s)",
                     (key, status, verdict, clip_id))
    return clip_id


def test_clips_held_by_their_alerts_survive_and_released_ones_go(h264, vtest, tmp_path, pool):
    rec = record(h264, tmp_path / "rec", "cam1")
    evidence = tmp_path / "evidence"
    # The known moment: second 25 of the footage, cut as [20, 32] like an alert's clip.
    master = cut_clip(rec.segments(), BASE + 20, BASE + 32, evidence / "master.mp4")
    cases = {  # name: (status, verdict, locked, days old) -> held?
        "open": ("open", None, True, 40),
        "acknowledged": ("acknowledged", None, True, 40),
        "confirmed": ("closed", "confirmed", True, 40),
        "follow_up": ("reviewed", "needs_follow_up", True, 40),
        "false_alarm_not_closed": ("reviewed", "false_alarm", True, 40),
        "false_alarm_closed": ("closed", "false_alarm", False, 40),
        "released_then_reconfirmed": ("reviewed", "confirmed", False, 40),  # verdict changed after the close
        "no_alert_unlocked": (None, None, False, 40),
        "young_released": ("closed", "false_alarm", False, 5),
        "vanished": ("closed", "false_alarm", False, 40),
    }
    ids, paths = {}, {}
    with pool.connection() as conn:
        for name, (status, verdict, locked, days) in cases.items():
            paths[name] = evidence / f"{name}.mp4"
            shutil.copyfile(master.path, paths[name])
            ids[name] = add_clip(conn, paths[name], master, status=status, verdict=verdict, locked=locked,
                                 days_old=days, key=f"cam1:x:{name}")
    paths["vanished"].unlink()
    # The recording itself is two days old and goes by age in the same sweep.
    for p in (tmp_path / "rec" / "cam1").glob("*.mp4"):
        age(p, 2 * DAY)
    report = RetentionSweeper(tmp_path / "rec", RecordingConfig(retain_s=DAY, clip_retain_days=30),
                              ClipRetention(pool), recorders={"cam1": rec}).sweep()
    gone = {"false_alarm_closed", "no_alert_unlocked", "vanished"}
    assert report.segments == {"age": 8}
    assert report.clips == 2 and report.vanished == 1 and report.clip_bytes == 2 * master.bytes
    with pool.connection() as conn:
        rows = dict(conn.execute("SELECT id, deleted_reason FROM clips").fetchall())
        events = conn.execute("SELECT a.clip_id, e.actor FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
                              " WHERE e.action = 'clip_deleted'").fetchall()
    for name in cases:
        deleted = name in gone
        assert (rows[ids[name]] is not None) == deleted, name
        assert paths[name].exists() == (not deleted), name
    assert "not held" in rows[ids["false_alarm_closed"]]
    assert sorted(events) == sorted((ids[n], "retention") for n in ("false_alarm_closed", "vanished"))

    # The held clip, after the sweep that removed every segment it came from: plays, and shows second 25.
    held = paths["confirmed"]
    assert not any((tmp_path / "rec" / "cam1").glob("*.mp4"))
    assert ffprobe_plays(held) == pytest.approx(12.0, abs=0.3)
    with av.open(str(held)) as c:
        frames = [(f.time, f) for f in c.decode(video=0)]
    at5 = cv2.cvtColor(min(frames, key=lambda tf: abs(tf[0] - 5.0))[1].to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)

    def mad(t: float) -> float:
        return float(np.abs(at5.astype(int) - gray_frame_at(vtest, t)).mean())

    assert mad(25.0) < 12.0 and mad(15.0) > 2 * mad(25.0)
    # A second sweep finds nothing more to do.
    again = RetentionSweeper(tmp_path / "rec", RecordingConfig(retain_s=DAY, clip_retain_days=30),
                             ClipRetention(pool)).sweep()
    assert again.clips == 0 and again.vanished == 0


def test_clip_that_cannot_be_deleted_keeps_its_row(h264, tmp_path, pool):
    rec = record(h264, tmp_path / "rec", "cam1")
    clip = cut_clip(rec.segments(), BASE, BASE + 4, tmp_path / "c.mp4")
    odd = tmp_path / "odd.mp4"
    odd.mkdir()  # unlink() fails on it with something other than "not found" (as a permission error would)
    with pool.connection() as conn:
        good_id = add_clip(conn, clip.path, clip, status=None, locked=False)
        odd_id = add_clip(conn, odd, clip, status=None, locked=False)
    report = RetentionSweeper(tmp_path / "rec", RecordingConfig(), ClipRetention(pool)).sweep()
    assert report.failed == 1 and report.clips == 1 and odd.exists() and not clip.path.exists()
    with pool.connection() as conn:
        marks = dict(conn.execute("SELECT id, deleted_at IS NOT NULL FROM clips").fetchall())
    assert marks == {good_id: True, odd_id: False}


def test_a_nearly_full_volume_is_freed_oldest_first_whatever_the_budget(h264, tmp_path, pool, caplog):
    """The volume's own free space is read (here: a volume of `capacity` bytes holding exactly these files):
    under `min_free_share` free, the oldest segments go until the share is free again, even within the
    budget; if everything left is protected, a critical line says the disk is nearly full."""
    rec = record(h264, tmp_path, "cam1")
    segs = rec.segments()
    for i, seg in enumerate(segs):
        age(seg.path, 5000 - 100 * i)  # oldest first

    def on_disk() -> int:
        return sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())

    capacity = int(on_disk() / 0.9)  # 10 % free

    def usage(_path: Path) -> tuple[int, int, int]:
        used = on_disk()
        return capacity, used, capacity - used

    cfg = RecordingConfig(retain_s=DAY, disk_budget_gb=50, min_free_share=0.3)
    report = RetentionSweeper(tmp_path, cfg, ClipRetention(pool), recorders={"cam1": rec}, disk_usage=usage).sweep()
    deleted = report.segments["free_space"]
    assert deleted >= 1 and not report.low_space and set(report.segments) == {"free_space"}
    assert usage(tmp_path)[2] >= 0.3 * capacity  # the share is free again...
    assert seg_files(tmp_path) == {s.path for s in segs[deleted:]}  # ...by deleting the oldest
    # Nothing more may go: with the database away, every segment younger than clip_hold_s may be needed by a
    # clip. The volume stays short of its share: a critical line says so.
    for seg in segs[deleted:]:
        age(seg.path, 10)
    caplog.set_level("CRITICAL")
    dead = ConnectionPool("host=127.0.0.1 port=1 dbname=x connect_timeout=1", min_size=0, max_size=1, open=True)
    try:
        report = RetentionSweeper(tmp_path, RecordingConfig(retain_s=DAY, min_free_share=0.9), ClipRetention(dead),
                                  recorders={"cam1": rec}, disk_usage=usage).sweep()
    finally:
        dead.close()
    assert report.low_space and report.segments == {}
    assert "nearly full" in report.line(None) and any("under the 90 %" in r.message for r in caplog.records)
