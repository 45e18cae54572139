"""The node's stats carry the camera-health figures (migration 0008), and its retention thread sweeps the
recordings directory (leftovers of an earlier run included)."""

from __future__ import annotations

import os
import shutil
import time

import psycopg
import pytest

from jianguan.config import parse_config
from jianguan.node import Node

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
pytestmark = pytest.mark.skipif(not os.path.exists(VTEST) or shutil.which("ffmpeg") is None,
                                reason="needs vtest.avi (opencv-doc) and ffmpeg")


def test_health_figures_in_camera_stats_and_leftovers_swept(db_dsn, tmp_path):
    old = tmp_path / "recordings" / "gone-cam"
    old.mkdir(parents=True)
    for i in range(3):  # an earlier run's segments, two days old, of a camera no longer configured
        seg = old / f"gone-cam-20240101-000000-r0-{i:05d}.mp4"
        seg.write_bytes(b"\0" * 1000)
        os.utime(seg, (time.time() - 2 * 86400,) * 2)
    fresh = old / "gone-cam-20240101-000000-r0-00003.mp4"
    fresh.write_bytes(b"\0" * 1000)
    cfg = parse_config({
        "site": {"id": "s1", "name": "S"},
        "paths": {"data_dir": str(tmp_path)},
        "detector": {"imgsz": 320},
        "recording": {"retain_s": 86400},
        "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "hall", "streams": {"detect": VTEST},
                     "detect": {"fps": 2}, "record": {"enabled": False}},
                    # 5 frames/s allowed, but its only rule judges dwell times: analysed at 2 (rates by need)
                    {"id": "cam-2", "name": "Cam 2", "area": "window", "streams": {"detect": VTEST},
                     "record": {"enabled": False},
                     "zones": [{"id": "z", "kind": "staff", "polygon": [[0, 0], [0.2, 0], [0.2, 0.2]]}],
                     "rules": [{"type": "zone_unattended", "zone": "z", "seconds": 30}]}],
    }, env={})
    report = Node(cfg, db_dsn, stats_every_s=0.5, drain_s=1).run()
    assert report.frames > 100
    two = report.cameras["cam-2"]
    assert two.expected_frames == report.cameras["cam-1"].expected_frames  # both at 2 frames/s
    assert abs(two.frames_analysed - two.expected_frames) <= 2 and two.dropped == 0
    assert report.needed_fps == 2.0
    assert sorted(p.name for p in old.iterdir()) == [fresh.name]  # the old ones went by age
    with psycopg.connect(db_dsn) as conn:
        rows = conn.execute("SELECT online, luma_mean, luma_std, sharpness, changed, health_issues FROM camera_stats"
                            " WHERE camera_id = 'cam-1' ORDER BY ts").fetchall()
    online = [r for r in rows if r[0]]
    measured = [r for r in online if r[1] is not None]
    assert measured and len(measured) >= len(online) - 1, rows  # only a sample before its first frame lacks them
    for _online, luma, spread, sharp, changed, issues in measured:
        # vtest.avi: a grey campus scene with people walking, healthy picture.
        assert 60 < luma < 200 and spread > 10 and sharp > 10 and (changed is None or 0 < changed < 0.5)
        assert issues is None
    final = rows[-1]
    assert final[0] is False and final[1] is None  # the last sample says offline: no stale measures
    with psycopg.connect(db_dsn) as conn:
        rates = conn.execute("SELECT analysed_fps, dropped_fps, needed_fps FROM camera_stats WHERE camera_id = "
                             "'cam-2' AND analysed_fps IS NOT NULL").fetchall()
    assert any(a > 0 for a, _d, _n in rates)
    assert all(d == 0 and n == 2.0 for _a, d, n in rates)  # a file is never dropped
