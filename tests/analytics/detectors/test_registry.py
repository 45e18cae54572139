"""The registry's convention: merging two detectors' results on one frame, crops around zones."""

import numpy as np
import pytest
import supervision as sv
from pydantic import ValidationError

from analytics import NanoDetConfig, YoloConfig, ZoneConfig
from analytics.detectors import RegionPlanner, build_detector, detect_tiles, merge_detections
from devkit.accuracy import image_path


def test_config_defaults_per_kind_and_class_ids():
    assert YoloConfig().model == "yolo11n-pose.pt" and YoloConfig().iou == 0.7
    nano = NanoDetConfig(classes=[2, 3, 5, 7, 67])
    assert nano.model == "nanodet-m" and nano.iou == 0.6 and nano.name == "nanodet"
    with pytest.raises(ValidationError, match="COCO class ids are 0..79"):
        YoloConfig(classes=[80])
    with pytest.raises(ValidationError):
        YoloConfig(kind="ssd")


def test_merge_fills_keypoints_and_names():
    pose = sv.Detections(xyxy=np.array([[0, 0, 10, 20.0]]), confidence=np.array([0.9]), class_id=np.array([0]))
    pose.data["keypoints"] = np.ones((1, 17, 3), dtype=np.float32)
    pose.data["class_name"] = np.array(["person"])
    coco = sv.Detections(xyxy=np.array([[5, 5, 9, 9.0], [1, 1, 3, 3.0]]), confidence=np.array([0.5, 0.4]),
                         class_id=np.array([67, 2]))
    merged = merge_detections([pose, coco, sv.Detections.empty()])
    assert merged.class_id.tolist() == [0, 67, 2]
    assert merged.data["class_name"].tolist() == ["person", "cell phone", "car"]
    assert merged.data["keypoints"].shape == (3, 17, 3)
    assert merged.data["keypoints"][1:].sum() == 0 and merged.data["keypoints"][0].sum() == 51
    assert "class_name" not in coco.data  # the inputs are not changed
    assert len(merge_detections([])) == 0


def test_crops_default_per_kind():
    assert YoloConfig().crops == "zones" and NanoDetConfig().crops == "roi"
    zones = [ZoneConfig(id="seat-1", polygon=[(0.1, 0.2), (0.3, 0.2), (0.3, 0.5)])]
    assert RegionPlanner(NanoDetConfig(), zones).plan((768, 576)) == [(None, None)]
    assert RegionPlanner(YoloConfig(), []).plan((768, 576)) == [(None, None)]  # no zone: the whole frame


def test_two_detectors_on_one_batch_with_zone_crops():
    import cv2

    bus = cv2.imread(str(image_path("ultralytics", "assets/bus.jpg")))
    zidane = cv2.imread(str(image_path("ultralytics", "assets/zidane.jpg")))
    pose = build_detector(YoloConfig(imgsz=320, confidence=0.4))
    # People there are half the picture high (person_height): the two overlapping "zones" share one crop,
    # shrunk to the model's input, and the bus is found once.
    coco = build_detector(NanoDetConfig(imgsz=320, classes=[2, 5, 7, 67], crops="zones",
                                         person_height=0.6, min_scale=0.25))
    zones = [ZoneConfig(id="a", polygon=[(0.0, 0.15), (0.8, 0.15), (0.8, 0.75)]),
             ZoneConfig(id="b", polygon=[(0.2, 0.15), (1.0, 0.15), (1.0, 0.75)])]
    crops = [RegionPlanner(coco.config, zones).plan(bus.shape[1::-1]), [(None, None)]]
    assert len(crops[0]) == 1
    people = pose.detect([bus, zidane])
    things = detect_tiles(coco, [bus, zidane], crops)
    frames = [merge_detections([p, t]) for p, t in zip(people, things, strict=True)]
    names = frames[0].data["class_name"].tolist()
    assert names.count("bus") == 1 and names.count("person") >= 3
    assert frames[0].data["keypoints"].shape == (len(frames[0]), 17, 3)
    assert frames[1].data["class_name"].tolist().count("person") == 2


@pytest.mark.parametrize(("threads", "expected"), [(None, "cores"), (1, "1")])
def test_yolo_inference_threads_are_set_even_after_ultralytics_set_omp_to_one(threads, expected) -> None:
    """Importing ultralytics before torch sets OMP_NUM_THREADS=1, and its predictor's set-up (inside the first
    predict) sets torch to cores - 1 threads (training defaults): inference then used one core of two
    (measured: the scenario evaluation ran at 100 % CPU, 108 ms a frame at 640; 57 ms with both). A fresh
    process imports ultralytics first, loads the detector and runs it twice."""
    import os
    import subprocess
    import sys

    code = ("import ultralytics, torch\n"
            "from analytics.config import YoloConfig\n"
            "from analytics.detectors.yolo import YoloDetector\n"
            "import numpy as np\n"
            f"d = YoloDetector(YoloConfig(threads={threads!r}, imgsz=64))\n"
            "d.detect([np.zeros((64, 64, 3), np.uint8)])\n"
            "d.detect([np.zeros((64, 64, 3), np.uint8)])\n"
            "print(torch.get_num_threads())\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    want = str(len(os.sched_getaffinity(0))) if expected == "cores" else expected
    assert out.stdout.strip().splitlines()[-1] == want
