"""Geometry helpers on hand-computed cases."""

import doctest
import math

import numpy as np
import pytest

import analytics.geometry as geometry
from analytics.geometry import (
    ArcCover,
    angle_around_box,
    bottom_centre,
    box_intersection_share,
    box_polygon_overlap,
    head_yaw,
    points_in_polygon,
    side_of_angle,
)


def test_doctests():
    assert doctest.testmod(geometry).failed == 0


def test_bottom_centre_is_where_feet_stand():
    pts = bottom_centre(np.array([[0, 0, 10, 30], [100, 50, 120, 90]]))
    assert pts.tolist() == [[5.0, 30.0], [110.0, 90.0]]


def test_points_in_concave_polygon_edges_count():
    # An L: the square 0..20 without its top-right quarter 10..20 x 0..10.
    ell = np.array([[0, 0], [10, 0], [10, 10], [20, 10], [20, 20], [0, 20]])
    pts = np.array([[5, 5], [15, 5], [15, 15], [10, 5], [20, 20], [21, 15]])
    assert points_in_polygon(pts, ell).tolist() == [True, False, True, True, True, False]


def test_box_overlap_with_triangle():
    # Right triangle (0,0),(10,0),(0,10): area 50. Box 0..10 x 0..10 (area 100) holds all of it -> 0.5.
    tri = np.array([[0, 0], [10, 0], [0, 10]])
    # Box 0..5 x 0..5 lies entirely below the hypotenuse x + y = 10 -> 1.0.
    # Box 5..10 x 5..10: only the corner (5,5) touches the hypotenuse -> 0.
    # Box 0..10 x 0..5 (area 50): the triangle part is the trapezoid under y<=5: (10 + 5) / 2 * 5 = 37.5 -> 0.75.
    got = box_polygon_overlap(np.array([[0, 0, 10, 10], [0, 0, 5, 5], [5, 5, 10, 10], [0, 0, 10, 5]]), tri)
    assert got.tolist() == pytest.approx([0.5, 1.0, 0.0, 0.75])


def test_box_overlap_with_concave_polygon():
    # The L above (area 300); box 5..15 x 5..15 (area 100): missing is its part in 10..15 x 5..10 (25) -> 0.75.
    ell = np.array([[0, 0], [10, 0], [10, 10], [20, 10], [20, 20], [0, 20]])
    assert box_polygon_overlap(np.array([[5, 5, 15, 15]]), ell).tolist() == pytest.approx([0.75])
    # A degenerate (zero-area) box overlaps nothing rather than dividing by zero.
    assert box_polygon_overlap(np.array([[5, 5, 5, 15]]), ell).tolist() == [0.0]


def test_box_intersection_share_is_asymmetric():
    a, b = np.array([[0, 0, 10, 10]]), np.array([[5, 0, 25, 10]])
    assert box_intersection_share(a, b).tolist() == [[0.5]]  # half of a lies on b
    assert box_intersection_share(b, a).tolist() == [[0.25]]  # a quarter of b lies on a


def test_angles_are_normalised_to_the_box():
    # A long box 0..200 x 0..50: the point at its right end (200, 25) and its bottom middle (100, 50) are
    # 0° and 90°; the corner (200, 50) is 45° although in pixels it lies at atan(25/100) = 14°.
    box = [0, 0, 200, 50]
    got = angle_around_box(np.array([[200, 25], [100, 50], [200, 50], [0, 25], [100, 0], [0, 0]]), box)
    assert got.tolist() == pytest.approx([0, 90, 45, 180, 270, 225])
    # anchor_y moves the reference point down: (200, 40) is level with it at anchor 0.8 (0 + 0.8 * 50).
    assert angle_around_box(np.array([[200, 40]]), box, anchor_y=0.8).tolist() == pytest.approx([0.0])


def test_sides_split_on_the_diagonals():
    assert [side_of_angle(a) for a in (0, 46, 90, 134.9, 135, 225, 315, 360)] == [0, 1, 1, 1, 2, 3, 0, 0]


def test_arc_cover_wraps_and_merges():
    c = ArcCover()
    assert c.add_step(300, 30) == 90.0  # 300 -> 360 -> 30, the short way
    assert c.add_step(30, 20) == 0.0  # walking back over covered ground adds nothing
    assert c.add_step(200, 250) == 50.0
    assert c.covered() == 140.0
    assert c.add_step(250, 300) == 50.0  # joins the two arcs
    assert c.covered() == 190.0
    assert c.covered_in(-45, 45) == 75.0  # right side: 315..360 and 0..30
    assert c.sides(min_share=0.5) == [0, 3]  # right 75°, top (225..315) 90°; left 25°, bottom 0°


def test_arc_cover_jump_is_not_joined():
    c = ArcCover()
    assert c.add_step(0, 130, max_step=120) == 0.0
    assert c.add_step(0, 120, max_step=120) == 120.0


def test_full_walk_around_covers_360():
    c = ArcCover()
    angles = [i * 10.0 for i in range(37)]  # 0, 10, ..., 360
    for a, b in zip(angles, angles[1:], strict=False):
        c.add_step(a, b)
    assert c.covered() == 360.0
    assert c.sides() == [0, 1, 2, 3]


def _face(nose_x, left=(100, 50), right=(130, 50), pair=(3, 4), conf=1.0):
    kp = np.zeros((17, 3))
    kp[0] = (nose_x, 55, conf)
    kp[pair[0]] = (*left, conf)
    kp[pair[1]] = (*right, conf)
    return kp


def test_head_yaw_from_ears():
    assert head_yaw(_face(115)) == 0.0
    # offset = 0.67 * 30 * tan(30°) = 11.605 px to the right: +30°; the same to the left: -30°
    off = geometry.EAR_K * 30 * math.tan(math.radians(30))
    assert head_yaw(_face(115 + off)) == pytest.approx(30.0)
    assert head_yaw(_face(115 - off)) == pytest.approx(-30.0)


def test_head_yaw_falls_back_to_eyes_and_needs_the_nose():
    # Ears unseen (a turned head hides the far one): the eyes, 10 px apart, nose 0.4 * 10 * tan 60° right.
    kp = _face(0, left=(110, 45), right=(120, 45), pair=(1, 2))
    kp[0, 0] = 115 + geometry.EYE_K * 10 * math.tan(math.radians(60))
    assert head_yaw(kp) == pytest.approx(60.0)
    kp[0, 2] = 0.2  # nose below the confidence: no estimate
    assert head_yaw(kp) is None
    assert head_yaw(None) is None
    assert head_yaw(np.zeros((17, 3))) is None  # a non-person row of the merged detections


def test_head_yaw_from_one_ear_when_the_far_one_is_hidden():
    # Eyes at 110 and 120 (10 px apart), only the ear on the image left seen, at x 100 (conf of the other 0.1).
    kp = np.zeros((17, 3))
    kp[1], kp[2], kp[3], kp[4] = (120, 45, 0.9), (110, 45, 0.9), (135, 50, 0.1), (100, 50, 0.9)
    # Facing the camera the nose is EAR_HALF / (2 EYE_HALF) = 7.5 / 6.3 eye distances from an ear: 0°.
    kp[0] = (100 + 10 * 7.5 / 6.3, 55, 0.9)
    assert head_yaw(kp) == pytest.approx(0.0, abs=1e-9)
    # Turned 40° away from that ear: r = (7.5 + 10 tan 40°) / 6.3 eye distances.
    kp[0, 0] = 100 + 10 * (7.5 + 10 * math.tan(math.radians(40))) / 6.3
    assert head_yaw(kp) == pytest.approx(40.0)
    # Mirrored: the ear on the image right seen at 130, nose to its left: turned toward image left.
    kp[3, :], kp[4, 2] = (130, 50, 0.9), 0.1
    kp[0, 0] = 130 - 10 * (7.5 + 10 * math.tan(math.radians(40))) / 6.3
    assert head_yaw(kp) == pytest.approx(-40.0)


def test_ground_points_use_the_best_seen_part_of_the_body():
    from analytics.geometry import ANCHOR_ANKLES, ANCHOR_BOX, ANCHOR_HIPS, ANCHOR_KNEES, ground_points

    boxes = np.array([[0, 0, 40, 100], [100, 0, 140, 60], [200, 0, 240, 50], [300, 0, 340, 100.0]])
    kp = np.zeros((4, 17, 3))
    kp[0, [15, 16]] = [[15, 97, 0.9], [25, 96, 0.9]]  # ankles seen: between them, at the soles
    kp[1, [11, 12]] = [[115, 40, 0.9], [125, 40, 0.9]]  # hips and knees seen, shins behind a desk
    kp[1, [13, 14]] = [[115, 58, 0.9], [125, 58, 0.9]]
    kp[2, [5, 6]] = [[210, 10, 0.9], [230, 10, 0.9]]  # a clerk behind a counter: shoulders and hips only
    kp[2, [11, 12]] = [[212, 40, 0.9], [228, 40, 0.9]]
    kp[3, [13, 14]] = [[315, 70, 0.9], [325, 70, 0.9]]  # knees without hips: the box decides
    points, kind = ground_points(boxes, kp)
    assert kind.tolist() == [ANCHOR_ANKLES, ANCHOR_KNEES, ANCHOR_HIPS, ANCHOR_BOX]
    assert points[0].tolist() == [20.0, 100.0]
    assert points[1].tolist() == pytest.approx([120.0, 58 + 1.2 * 18])
    assert points[2].tolist() == pytest.approx([220.0, 40 + 1.6 * 30])
    assert points[3].tolist() == [320.0, 100.0]
    # no keypoints (vehicles, phones, a person-only model): the bottom-centre
    assert ground_points(boxes)[1].tolist() == [ANCHOR_BOX] * 4
