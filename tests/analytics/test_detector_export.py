"""`jianguan models export` works offline, and the YOLO detector loads what it writes."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv
from click.testing import CliRunner

from analytics import YoloConfig, YoloDetector
from analytics.config import RegionOfInterest
from analytics.detectors.yolo import BEST_FILE
from devkit.accuracy import image_path
from jianguan.cli import cli


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for fmt in ("onnx", "openvino"):
        result = CliRunner().invoke(cli, ["models", "export", "--format", fmt, "--imgsz", "320", "--no-compare",
                                          "--out-dir", str(out)])
        assert result.exit_code == 0, result.output
        paths[fmt] = result.output.strip().splitlines()[-1].split("：", 1)[1]
    return paths


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_gives_the_same_people_and_keypoints(exports, fmt, tmp_path):
    bus = cv2.imread(str(image_path("ultralytics", "assets/bus.jpg")))
    (torch_det,) = YoloDetector(YoloConfig(imgsz=320, confidence=0.4)).detect([bus])
    # Renamed without "pose": the task must come from the export's metadata, not the file name.
    renamed = tmp_path / ("people.onnx" if fmt == "onnx" else "people_openvino_model")
    (shutil.copy if fmt == "onnx" else shutil.copytree)(exports[fmt], renamed)
    detector = YoloDetector(YoloConfig(model=str(renamed), imgsz=320, confidence=0.4))
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


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_an_export_runs_zone_crops_at_their_own_sizes(exports, fmt):
    # Zone crops reach the model at the size their scale needs, not at the export's 320: a dynamic export
    # must find the same people as torch at those sizes.
    bus = cv2.imread(str(image_path("ultralytics", "assets/bus.jpg")))
    h, w = bus.shape[:2]
    crop_roi = RegionOfInterest(x0=0.0, y0=0.2, x1=1.0, y1=0.9)
    torch_det = YoloDetector(YoloConfig(confidence=0.4, runtime="torch"))
    export_det = YoloDetector(YoloConfig(model=exports[fmt], confidence=0.4))
    for size in (256, 448, 640):
        (a,) = torch_det.detect([bus], [crop_roi], sizes=[size])
        (b,) = export_det.detect([bus], [crop_roi], sizes=[size])
        assert len(a) == len(b) >= 3, size
        assert (sv.box_iou_batch(b.xyxy, a.xyxy).max(axis=1) > 0.9).all(), size
        assert (b.xyxy[:, 3] <= h).all() and (b.xyxy[:, 2] <= w).all()


def test_export_best_makes_the_fastest_runtime_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("JIANGUAN_MODEL_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["models", "export", "--best", "--imgsz", "320"])
    assert result.exit_code == 0, result.output
    assert "本机最快" in result.output and "每次输入" in result.output
    table = json.loads((tmp_path / BEST_FILE).read_text())
    (entry,) = table.values()
    assert set(entry["ms_per_input"]) == {"torch", "onnx", "openvino"}
    chosen = Path(entry["path"])
    assert YoloDetector(YoloConfig()).path == chosen  # runtime auto: what was measured fastest
    assert YoloDetector(YoloConfig(runtime="torch")).path.suffix == ".pt"
    if chosen.suffix != ".pt":
        shutil.rmtree(chosen) if chosen.is_dir() else chosen.unlink()  # gone: back to the .pt, no error
        assert YoloDetector(YoloConfig()).path.suffix == ".pt"
