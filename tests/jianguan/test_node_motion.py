"""The motion gate in the node: static frames skip the detector yet the rules still see who stands still."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from analytics.motion import MotionConfig
from devkit.scenarios import SpriteBank, render
from devkit.scenarios.library import build_library
from jianguan.evaluate import load_found, site_config
from jianguan.node import Node, preflight


def test_static_scene_is_mostly_gated_and_nobody_goes_missing(db_dsn: str) -> None:
    # Everyone stands still for 45 s: an examiner at the front, six seated candidates.
    scenario = next(s for s in build_library() if s.id == "exam-examiner-stands-still")
    work = Path(tempfile.mkdtemp(prefix="jianguan-motion-"))
    video = render(scenario, SpriteBank(work / "sprites"), work)
    cfg = site_config([scenario], {scenario.id: video}, work / "run", model="yolo11n-pose.pt", imgsz=640)
    cfg.cameras[0].detect.motion = MotionConfig(keepalive_s=2.0)
    base_ts = float(int(time.time()))
    report = Node(cfg, db_dsn, checked=preflight(cfg), base_ts=base_ts, drain_s=0.0).run()
    counters = report.cameras[scenario.id]
    fps = cfg.cameras[0].analysis_fps  # its exam rules judge dwell times: 2 frames/s
    assert counters.frames_analysed == round(45 * fps)
    # The picture only changes by sensor noise: the detector runs on the first frame and then about once per
    # keep-alive (every 2 s), so most frames are gated.
    assert counters.gated >= 0.65 * counters.frames_analysed, counters
    # held detections keep all seven people in every frame
    assert counters.detections >= 7 * (counters.frames_analysed - 10)
    found = load_found(db_dsn, base_ts, [scenario.id])
    assert [f for f in found.get(scenario.id, []) if f.rule == "exam_no_examiner"] == []
