"""The real detector on real photos shipped in the ultralytics wheel."""

from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics import ModelError, RegionOfInterest, YoloConfig, YoloDetector, resolve_model


def asset(name: str) -> np.ndarray:
    path = Path(str(resources.files("ultralytics") / "assets" / name))
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def detector() -> YoloDetector:
    return YoloDetector(YoloConfig(imgsz=640, confidence=0.4))


def test_builtin_model_resolves_offline():
    path = resolve_model("yolo11n-pose.pt")
    assert path.is_file() and path.stat().st_size > 1_000_000


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        resolve_model(str(tmp_path / "nope.pt"))


def test_corrupt_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load model bad.pt"):
        YoloDetector(YoloConfig(model=str(bad)))


def test_people_and_keypoints_in_real_photos(detector):
    bus, zidane = asset("bus.jpg"), asset("zidane.jpg")
    d_bus, d_zidane = detector.detect([bus, zidane])  # one batch, two "cameras"
    # bus.jpg shows four pedestrians in front of the bus; zidane.jpg two men.
    assert 4 <= len(d_bus) <= 5
    assert len(d_zidane) == 2
    assert set(d_bus.class_id.tolist()) == {0}
    assert d_bus.data["keypoints"].shape == (len(d_bus), 17, 3)
    # Keypoints lie inside their own boxes (nose of a standing person is in the upper part).
    for box, kps in zip(d_bus.xyxy, d_bus.data["keypoints"], strict=True):
        nose = kps[0]
        if nose[2] > 0.5:
            assert box[0] - 5 <= nose[0] <= box[2] + 5
            assert box[1] - 5 <= nose[1] <= box[1] + 0.4 * (box[3] - box[1])


def test_roi_crop_maps_boxes_back_to_the_full_frame(detector):
    bus = asset("bus.jpg")
    h, w = bus.shape[:2]
    (full,) = detector.detect([bus])
    roi = RegionOfInterest(x0=0.0, y0=0.3, x1=0.5, y1=1.0)
    (cropped,) = detector.detect([bus], [roi])
    assert len(cropped) >= 2
    for box in cropped.xyxy:
        # each box found in the crop matches a box found on the full frame, in full-frame pixels
        ious = _iou(box, full.xyxy)
        assert ious.max() > 0.6
        assert box[1] >= 0.3 * h - 1 and box[2] <= 0.5 * w + 1


def _iou(box, boxes):
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)
