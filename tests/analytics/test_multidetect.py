"""Motion regions in `CameraDetection`: only the crops something moved in are run; what the detector last found
in the others carries over, so a person standing still in a quiet zone stays seen (real detector, real frame)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from analytics import YoloConfig, ZoneConfig
from analytics.config import RegionOfInterest
from analytics.detectors import build_detector
from analytics.multidetect import CameraDetection

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
pytestmark = pytest.mark.skipif(not os.path.exists(VTEST), reason="needs vtest.avi (opencv-doc)")


def _frame(index: int = 200) -> np.ndarray:
    cap = cv2.VideoCapture(VTEST)
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


def _zone(zone_id: str, x0: float, y0: float, x1: float, y1: float) -> ZoneConfig:
    return ZoneConfig(id=zone_id, kind="staff", polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(np.sort(a, axis=0), np.sort(b, axis=0), atol=0.5)


@pytest.fixture(scope="module")
def detection() -> CameraDetection:
    config = YoloConfig(name="pose", imgsz=320)
    zones = [_zone("left", 0.0, 0.35, 0.2, 0.46), _zone("right", 0.73, 0.52, 1.0, 0.75)]
    return CameraDetection({"pose": build_detector(config)}, {"cam": (["pose"], zones, None)})


def test_only_crops_with_motion_run_and_the_rest_carry_over(detection: CameraDetection) -> None:
    image = _frame()
    [full] = detection.detect(["cam"], [image])  # first look: everywhere
    plan = detection.planners[("cam", "pose")].plan((image.shape[1], image.shape[0]))
    assert len(plan) == 2 and len(full) >= 2  # two separate crops; people in them on this frame
    ran = detection.crops_run

    [quiet] = detection.detect(["cam"], [image], motion=[[]])  # nothing moved anywhere
    assert detection.crops_run == ran and detection.crops_skipped == 2
    assert quiet.xyxy.tolist() == full.xyxy.tolist()  # everyone carried over, keypoints too
    assert np.array_equal(quiet.data["keypoints"], full.data["keypoints"])

    left = RegionOfInterest(x0=0.0, y0=0.3, x1=0.1, y1=0.5)  # motion in the left zone only
    [partly] = detection.detect(["cam"], [image], motion=[[left]])
    assert detection.crops_run == ran + 1  # the left crop ran, the right one did not
    assert _same(partly.xyxy, full.xyxy)  # same frame: the same people (the crop alone, not in a batch)

    [again] = detection.detect(["cam"], [image], motion=[None])  # the keep-alive: every crop runs
    assert detection.crops_run == ran + 3
    assert _same(again.xyxy, full.xyxy)
