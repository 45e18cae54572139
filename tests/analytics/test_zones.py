import numpy as np
import pytest
import supervision as sv

from analytics import Zone, ZoneConfig


def dets(*boxes):
    return sv.Detections(xyxy=np.array(boxes, dtype=float))


def test_bottom_centre_decides_membership():
    # Zone is the lower half of a 200x100 frame; a box whose head is above but feet below is inside.
    zone = Zone("z", "staff", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
    d = dets([10, 10, 30, 80], [50, 10, 70, 40], [100, 45, 120, 50])
    # feet at (20, 80) inside; (60, 40) outside; (110, 50) exactly on the edge counts as inside
    assert zone.contains(d, (200, 100)).tolist() == [True, False, True]


def test_relative_polygon_scales_with_resolution():
    zone = Zone("z", "staff", ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))
    d = dets([150, 0, 170, 90])  # feet at x=160
    assert zone.contains(d, (200, 100)).tolist() == [True]
    assert zone.contains(d, (400, 100)).tolist() == [False]  # same pixels, wider frame: left half


def test_concave_polygon():
    # An L shape: the notch at top-right is outside.
    zone = Zone("l", "custom", ((0, 0), (0.5, 0), (0.5, 0.5), (1, 0.5), (1, 1), (0, 1)))
    d = dets([70, 0, 80, 20], [70, 60, 80, 80], [10, 10, 20, 30])
    assert zone.contains(d, (100, 100)).tolist() == [False, True, True]


def test_empty_detections():
    zone = Zone("z", "staff", ((0, 0), (1, 0), (1, 1)))
    assert zone.contains(sv.Detections.empty(), (10, 10)).shape == (0,)


def test_zone_config_rejects_absolute_points():
    with pytest.raises(ValueError, match="outside 0..1"):
        ZoneConfig(id="z", polygon=[(0, 0), (640, 0), (640, 480)])
