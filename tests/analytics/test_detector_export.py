"""`jianguan models export` works offline, and the YOLO detector loads what it writes."""

import shutil

import cv2
import numpy as np
import pytest
import supervision as sv
from click.testing import CliRunner

from analytics import DetectorConfig, YoloDetector
from analytics.detectors.accuracy import image_path
from jianguan.cli import cli


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for fmt in ("onnx", "openvino"):
        result = CliRunner().invoke(cli, ["models", "export", "--format", fmt, "--imgsz", "320", "--no-compare",
                                          "--out-dir", str(out)])
        assert result.exit_code == 0, result.output
        paths[fmt] = result.output.strip().splitlines()[-1].split(": ", 1)[1]
    return paths


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_gives_the_same_people_and_keypoints(exports, fmt, tmp_path):
    bus = cv2.imread(str(image_path("ultralytics", "assets/bus.jpg")))
    (torch_det,) = YoloDetector(DetectorConfig(imgsz=320, confidence=0.4)).detect([bus])
    # Renamed without "pose": the task must come from the export's metadata, not the file name.
    renamed = tmp_path / ("people.onnx" if fmt == "onnx" else "people_openvino_model")
    (shutil.copy if fmt == "onnx" else shutil.copytree)(exports[fmt], renamed)
    detector = YoloDetector(DetectorConfig(model=str(renamed), imgsz=320, confidence=0.4))
    assert detector.pose
    det, det_b = detector.detect([bus, bus[:, ::-1].copy()])  # a batch of two through one export
    assert len(det) == len(torch_det) >= 3 and len(det_b) >= 3
    ious = sv.box_iou_batch(det.xyxy, torch_det.xyxy).max(axis=1)
    assert (ious > 0.9).all()
    assert det.data["keypoints"].shape == (len(det), 17, 3)
    assert np.abs(np.sort(det.confidence) - np.sort(torch_det.confidence)).max() < 0.05


def test_export_of_a_missing_model_is_one_line():
    result = CliRunner().invoke(cli, ["models", "export", "nope.pt"])
    assert result.exit_code != 0
    assert "model file not found" in (result.output + str(result.exception))
