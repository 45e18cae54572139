"""Detector inputs on shared canvases: placement, the choice of plan, and detections handed back."""

import random

import cv2
import numpy as np
import pytest
import supervision as sv

from analytics import YoloConfig
from analytics.config import RegionOfInterest
from analytics.detectors.packing import GAP, MAX_SIDE, by_shape, plan_calls, shelves, split
from analytics.detectors.yolo import YoloDetector, model_input

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


@pytest.mark.parametrize("seed", range(20))
def test_every_input_is_placed_once_inside_its_canvas_and_apart_from_the_others(seed):
    rng = random.Random(seed)
    shapes = [(32 * rng.randint(2, 40), 32 * rng.randint(2, 40)) for _ in range(rng.randint(1, 30))]
    calls = shelves(shapes)
    placed = [(call.shape, p) for call in calls for canvas in call.canvases for p in canvas]
    assert sorted(p.index for _s, p in placed) == list(range(len(shapes)))
    for shape, p in placed:
        assert (p.h, p.w) == shapes[p.index]
        assert p.x + p.w <= shape[1] and p.y + p.h <= shape[0]
        assert shape[1] <= max(MAX_SIDE, max(w for _h, w in shapes))
    for call in calls:
        for canvas in call.canvases:
            for a in canvas:
                for b in canvas:
                    if a.index < b.index:  # apart by GAP on at least one axis
                        assert (a.x + a.w + GAP <= b.x or b.x + b.w + GAP <= a.x
                                or a.y + a.h + GAP <= b.y or b.y + b.h + GAP <= a.y)


def test_one_shape_is_never_packed_and_small_distinct_shapes_are():
    assert plan_calls([(256, 352)] * 4, overhead_px=320 * 320) == by_shape([(256, 352)] * 4)
    packed = plan_calls([(256, 352), (288, 288), (256, 448)], overhead_px=320 * 320)
    assert len(packed) == 1 and len(packed[0].canvases) == 1
    # many crops of a few shapes (a busy node): batching them by shape is cheaper than the canvases' waste
    busy = [(256, 352), (288, 288), (256, 448)] * 4
    assert len(plan_calls(busy, overhead_px=320 * 320)) == 3


def test_split_hands_each_input_the_boxes_centred_on_it_clipped_and_with_keypoints_moved():
    from analytics.detectors.packing import Placement

    kps = np.zeros((3, 17, 3), np.float32)
    kps[:, :, 0], kps[:, :, 1] = 110.0, 20.0
    det = sv.Detections(xyxy=np.array([[10., 10., 50., 60.], [100., 5., 140., 40.], [90., 5., 130., 40.]]),
                        confidence=np.array([.9, .8, .7]), class_id=np.array([0, 0, 0]), data={"keypoints": kps})
    a, b = Placement(0, 0, 0, 64, 64), Placement(1, 96, 0, 64, 64)
    out = split(det, [a, b])
    assert out[0].xyxy.tolist() == [[10., 10., 50., 60.]]
    # centre x 120 and 110: on input 1; the second box began in the gap, so it is clipped to the input's edge
    assert out[1].xyxy.tolist() == [[4., 5., 44., 40.], [0., 5., 34., 40.]]
    assert out[1].data["keypoints"][0, 0].tolist() == [14., 20., 0.]


def test_model_input_is_what_ultralytics_letterbox_makes():
    from ultralytics.data.augment import LetterBox

    part = np.random.default_rng(0).integers(0, 255, (218, 577, 3), dtype=np.uint8)
    canvas, ratio, (left, top) = model_input(part, 1280)
    expected = LetterBox(1280, auto=True, stride=32)(image=part)
    assert canvas.shape == expected.shape and ratio == pytest.approx(1280 / 577)
    assert np.array_equal(canvas, expected) and (left, top) == (0, 14)


def test_packed_and_per_shape_calls_find_the_same_people_on_a_real_frame():
    """Three zone crops of the real clip, distinct shapes: packed on one canvas, the detector finds who it
    finds one call per shape (the 1-2 px of difference is the neighbours' context)."""
    cap = cv2.VideoCapture(VTEST)
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, image = cap.read()
    assert ok
    rois = [RegionOfInterest(x0=0.0, y0=0.19, x1=0.23, y1=0.48), RegionOfInterest(x0=0.47, y0=0.24, x1=0.65, y1=0.54),
            RegionOfInterest(x0=0.69, y0=0.09, x1=0.99, y1=0.36)]
    sizes = [352, 288, 448]
    packed = YoloDetector(YoloConfig(name="pose"))
    assert len(packed.calls([image] * 3, rois, sizes)) == 1
    apart = YoloDetector(YoloConfig(name="pose", pack=False))
    assert len(apart.calls([image] * 3, rois, sizes)) == 3
    found = packed.detect([image] * 3, rois, sizes)
    expected = apart.detect([image] * 3, rois, sizes)
    assert sum(len(d) for d in expected) >= 3
    for got, want in zip(found, expected, strict=True):
        assert len(got) == len(want)
        if len(want):
            iou = sv.box_iou_batch(want.xyxy, got.xyxy).max(axis=1)
            assert (iou >= 0.8).all()
            assert got.data["keypoints"].shape == want.data["keypoints"].shape
