"""Motion gate on real footage (vtest.avi from Debian's opencv-doc: people walking, fixed camera)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics import MotionConfig, MotionGate

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
pytestmark = pytest.mark.skipif(not VTEST.is_file(), reason="needs Debian's opencv-doc (scripts/setup.sh)")


def frames(step: int = 2, limit: int = 400) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out, i = [], 0
    while len(out) < limit:
        ok, image = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(image)
        i += 1
    cap.release()
    return out


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    return frames()  # 5 fps, as the node samples it


def test_static_frames_repeated_give_no_motion(footage):
    gate = MotionGate(MotionConfig(keepalive_s=1000))
    rng = np.random.default_rng(1)
    still = footage[0]
    results = []
    for k in range(50):
        # sensor noise of a real camera: +-2 grey levels, never "motion"
        noisy = np.clip(still.astype(np.int16) + rng.integers(-2, 3, still.shape), 0, 255).astype(np.uint8)
        results.append(gate.update(noisy, k * 0.2))
    assert results[0].run  # the first frame always goes to the detector
    assert not any(r.motion for r in results[1:])
    assert not any(r.run for r in results[1:])
    assert gate.skipped == 49


def test_people_walking_are_motion_where_they_walk(footage):
    gate = MotionGate()
    results = [gate.update(f, k * 0.2) for k, f in enumerate(footage)]
    moving = sum(r.motion for r in results[1:]) / (len(results) - 1)
    assert moving > 0.9  # somebody walks in nearly every frame of vtest.avi
    # A motion box covers the place where the frame differs most from the previous one.
    prev, cur = cv2.cvtColor(footage[100], cv2.COLOR_BGR2GRAY), cv2.cvtColor(footage[101], cv2.COLOR_BGR2GRAY)
    diff = cv2.GaussianBlur(cv2.absdiff(prev, cur), (31, 31), 0)
    y, x = np.unravel_index(np.argmax(diff), diff.shape)
    h, w = diff.shape
    boxes = results[101].boxes
    assert any(b.x0 * w <= x <= b.x1 * w and b.y0 * h <= y <= b.y1 * h for b in boxes)
    # and the boxes are regions, not the whole picture
    assert sum((b.x1 - b.x0) * (b.y1 - b.y0) for b in boxes) < 0.8


def test_keepalive_runs_the_detector_on_a_still_scene(footage):
    gate = MotionGate(MotionConfig(keepalive_s=2.0))
    runs = [gate.update(footage[0], k * 0.2).run for k in range(51)]  # 10 s of a still picture at 5 fps
    assert [k for k, r in enumerate(runs) if r] == [0, 10, 20, 30, 40, 50]


def test_frozen_then_moving_again(footage):
    gate = MotionGate(MotionConfig(keepalive_s=1000))
    for k in range(20):
        gate.update(footage[50], k * 0.2)
    assert gate.update(footage[50], 4.0).run is False
    assert gate.update(footage[60], 4.2).motion  # two seconds of walking later: people moved


def test_disabled_gate_runs_every_frame(footage):
    gate = MotionGate(MotionConfig(enabled=False))
    assert all(gate.update(footage[0], k * 0.2).run for k in range(5))
