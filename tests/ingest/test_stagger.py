"""Staggered start: live cameras open spread over `recording.start_stagger_s`, and a staggered camera's first
frame comes no later than its offset plus the usual open time (the RTSP simulator, real readers)."""

from __future__ import annotations

import threading
import time

import pytest

from devkit.simulator import missing_reason, start_simulator
from ingest import CameraReader, Frame
from jianguan.config import SiteConfig
from jianguan.node import Node, Preflight

from .conftest import VTEST, wait_for

_missing = missing_reason()
OPEN_S = 4.0  # RTSP setup plus the wait for the next keyframe (the simulator sends one every 2 s)


def site(stagger_s: float, live: int) -> SiteConfig:
    cams = [{"id": f"cam-{i}", "name": f"Cam {i}", "area": "hall",
             "streams": {"detect": f"rtsp://127.0.0.1:1/cam-{i}/sub", "record": f"rtsp://127.0.0.1:1/cam-{i}/main"}}
            for i in range(live)]
    cams.append({"id": "file", "name": "File", "area": "hall", "streams": {"detect": str(VTEST)}})
    return SiteConfig.model_validate({"site": {"id": "s", "name": "S"}, "recording": {"start_stagger_s": stagger_s},
                                      "cameras": cams})


def test_node_spreads_live_cameras_over_the_window():
    node = Node(site(4.0, live=8), "postgresql://unused", checked=Preflight({}, {}, {}))
    readers, recorders, live = node._open_sources()
    delays = [readers[f"cam-{i}"].start_delay_s for i in range(8)]
    assert delays == pytest.approx([0.5 * i for i in range(8)])
    # Each recorder opens its camera's main stream a quarter second after the sub stream's reader.
    assert [recorders[f"cam-{i}"].start_delay_s for i in range(8)] == pytest.approx([0.5 * i + 0.25 for i in range(8)])
    assert readers["file"].start_delay_s == 0 and recorders["file"].start_delay_s == 0  # files: at once
    assert not live["file"] and live["cam-7"]
    no_stagger = Node(site(0.0, live=8), "postgresql://unused", checked=Preflight({}, {}, {}))._open_sources()
    assert {r.start_delay_s for r in no_stagger[0].values()} == {0.0}


@pytest.mark.skipif(_missing is not None, reason=f"RTSP simulator unavailable: {_missing}")
@pytest.mark.timeout(90)
def test_staggered_readers_get_frames_right_after_their_offset():
    cams = [f"cam-{i}" for i in range(4)]
    stagger_s = 3.0
    offsets = {c: i * stagger_s / len(cams) for i, c in enumerate(cams)}
    with start_simulator(cams) as sim:
        first: dict[str, float] = {}
        counts = dict.fromkeys(cams, 0)
        lock = threading.Lock()

        def on_frame(f: Frame) -> None:
            with lock:
                first.setdefault(f.camera_id, time.monotonic())
                counts[f.camera_id] += 1

        readers = [CameraReader(c, sim.url(c, "sub"), fps=5, start_delay_s=offsets[c]) for c in cams]
        t0 = time.monotonic()
        for r in readers:
            r.start(on_frame)
        try:
            assert wait_for(lambda: len(first) == len(cams), stagger_s + OPEN_S + 5), first
            # Frames keep coming at the asked rate once a camera is open.
            before = dict(counts)
            time.sleep(2.0)
            after = dict(counts)
        finally:
            for r in readers:
                r.stop()
    for c in cams:
        waited = first[c] - t0
        assert waited >= offsets[c], f"{c} opened before its turn"
        assert waited - offsets[c] < OPEN_S, f"{c}: first frame {waited - offsets[c]:.2f} s after its offset"
        assert after[c] - before[c] >= 7, f"{c}: {after[c] - before[c]} frames in 2 s at 5 fps"
