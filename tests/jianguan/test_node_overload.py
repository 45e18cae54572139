"""Past capacity the node follows the present: a live frame older than `live_buffer_s` is dropped (and counted)
while a newer one waits, so alert latency stays bounded; file frames are never dropped. The overload health
incident itself is tested in jianguan/overload.py's doctest; the capacity figures are bench/bench_node.py's."""

from __future__ import annotations

import queue
import time

import numpy as np

from ingest import Frame
from jianguan.config import parse_config
from jianguan.node import Node


def _node() -> Node:
    cfg = parse_config({"site": {"id": "s1", "name": "S"}, "cameras": [
        {"id": "cam-1", "name": "Cam 1", "area": "hall", "streams": {"detect": "rtsp://127.0.0.1:9/x"},
         "detect": {"live_buffer_s": 1.0}}]}, env={})
    return Node(cfg, "postgresql://unused")


def _frames(ages: list[float]) -> queue.Queue[Frame]:
    q: queue.Queue[Frame] = queue.Queue()
    now = time.time()
    for i, age in enumerate(ages):
        q.put(Frame("cam-1", now - age, i, np.zeros((4, 4, 3), np.uint8)))
    return q


def test_stale_live_frames_give_way_to_newer_ones():
    node = _node()
    cam = node.config.cameras[0]
    q = _frames([3.0, 2.0, 1.5, 0.5, 0.3])
    assert node._next_frame(q, cam, is_live=True).index == 3  # the three older than 1 s are dropped
    assert node.report.cameras["cam-1"].dropped == 3
    assert node._next_frame(q, cam, is_live=True).index == 4


def test_the_last_frame_is_analysed_however_old_and_files_are_never_dropped():
    node = _node()
    cam = node.config.cameras[0]
    assert node._next_frame(_frames([5.0]), cam, is_live=True).index == 0  # nothing newer waits
    q = _frames([30.0, 20.0])
    assert [node._next_frame(q, cam, is_live=False).index for _ in range(2)] == [0, 1]
    assert node.report.cameras["cam-1"].dropped == 0
