"""Geometry the rules share: anchors of boxes, boxes against polygons, coverage of angles around a vehicle,
and head yaw from pose keypoints. Pixels throughout, x to the right and y down (image convention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# COCO keypoint order used by YOLO pose models.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
# A mean adult head seen from above (cm): eyes 6.3 apart with the nose tip 2.5 in front of them, ears 15 apart
# with the nose tip 10 in front of their axis. Turning the head by θ moves the nose off the midpoint of a pair
# by k·tan θ of the pair's (foreshortened) distance: k = 2.5 / 6.3 for the eyes, 10 / 15 for the ears.
EYE_HALF, EAR_HALF, NOSE_EYE, NOSE_EAR = 3.15, 7.5, 2.5, 10.0
EYE_K = NOSE_EYE / (2 * EYE_HALF)  # 0.40
EAR_K = NOSE_EAR / (2 * EAR_HALF)  # 0.67


def bottom_centre(xyxy: np.ndarray) -> np.ndarray:
    """(n, 2) points where the boxes stand.

    >>> bottom_centre(np.array([[10., 20., 30., 60.]])).tolist()
    [[20.0, 60.0]]
    """
    xyxy = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)


# Where a person stands, by the best part of the body that is seen (`ground_points`).
ANCHOR_BOX, ANCHOR_ANKLES, ANCHOR_KNEES, ANCHOR_HIPS = 0, 1, 2, 3
L_SHOULDER, L_HIP, L_KNEE, L_ANKLE = 5, 11, 13, 15  # right side: +1 each
# A standing adult, from the top of the head (fraction of height): shoulders 0.18, hips 0.50, knees 0.72,
# soles 1.0. So the ground lies one hip-to-knee length below the knees (0.28 vs 0.22: the shin and foot are a
# little longer), and 1.6 shoulder-to-hip lengths below the hips.
KNEE_TO_GROUND, HIP_TO_GROUND = 1.2, 1.6


def ground_points(xyxy: np.ndarray, keypoints: np.ndarray | None = None, min_conf: float = 0.5
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) points where people stand and (n,) which anchor gave each (`ANCHOR_*`).

    The bottom-centre of the box is where the feet are only when the feet are seen. A person behind a counter,
    a desk, a pole or another person has a box that ends where they are cut, above the floor, and would be
    placed too far from the camera. With pose keypoints: ankles seen -> between the ankles (at the box's bottom,
    the soles); else knees and hips seen -> the knees projected down by the body's proportions; else hips and
    shoulders seen -> the hips projected down. A projection is used only where it lies below the box (the feet
    are hidden); rows without keypoints (vehicles, phones, person-only models) keep the bottom-centre.

    >>> box = np.array([[100., 100., 140., 160.]])   # a person cut at the hips' height by a counter
    >>> kp = np.zeros((1, 17, 3))
    >>> kp[0, [5, 6]] = [[110, 110, .9], [130, 110, .9]]   # shoulders
    >>> kp[0, [11, 12]] = [[112, 150, .9], [128, 150, .9]]   # hips; knees and ankles hidden
    >>> pts, kind = ground_points(box, kp)
    >>> pts.tolist(), kind.tolist()
    ([[120.0, 214.0]], [3])
    """
    xyxy = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    points = bottom_centre(xyxy)
    kind = np.full(len(xyxy), ANCHOR_BOX, dtype=int)
    if keypoints is None or len(keypoints) != len(xyxy):
        return points, kind
    kp = np.asarray(keypoints, dtype=float)
    heights = xyxy[:, 3] - xyxy[:, 1]
    for i in range(len(xyxy)):
        pt = _anchor_from_pose(kp[i], min_conf)
        if pt is None:
            continue
        (x, y), k = pt
        bottom = xyxy[i, 3]
        if k == ANCHOR_ANKLES:
            points[i] = (x, bottom if bottom - y < 0.25 * heights[i] else y)
            kind[i] = k
        elif y > bottom:  # projected below the box: the feet are hidden
            points[i] = (x, min(y, bottom + 1.5 * heights[i]))
            kind[i] = k
    return points, kind


def _anchor_from_pose(kp: np.ndarray, min_conf: float) -> tuple[tuple[float, float], int] | None:
    def seen(j: int) -> np.ndarray | None:
        pair = kp[[j, j + 1]]
        ok = pair[:, 2] >= min_conf
        return pair[ok, :2].mean(axis=0) if ok.any() else None

    ankles, knees, hips, shoulders = seen(L_ANKLE), seen(L_KNEE), seen(L_HIP), seen(L_SHOULDER)
    if ankles is not None:
        return (float(ankles[0]), float(ankles[1])), ANCHOR_ANKLES
    if knees is not None and hips is not None and knees[1] > hips[1]:
        return (float(knees[0]), float(knees[1] + KNEE_TO_GROUND * (knees[1] - hips[1]))), ANCHOR_KNEES
    if hips is not None and shoulders is not None and hips[1] > shoulders[1]:
        return (float(hips[0]), float(hips[1] + HIP_TO_GROUND * (hips[1] - shoulders[1]))), ANCHOR_HIPS
    return None


def centre(xyxy: np.ndarray) -> np.ndarray:
    """(n, 2) centres of the boxes.

    >>> centre(np.array([[10., 20., 30., 60.]])).tolist()
    [[20.0, 40.0]]
    """
    xyxy = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], axis=1)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside the polygon or on its edge (boolean (n,)).

    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    >>> points_in_polygon(np.array([[5, 5], [10, 5], [11, 5]]), square).tolist()
    [True, True, False]
    """
    poly = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    (x0, y0), (x1, y1) = poly.min(axis=0), poly.max(axis=0)
    out = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)  # cheap reject first
    for i in np.flatnonzero(out):
        out[i] = cv2.pointPolygonTest(poly, (float(pts[i, 0]), float(pts[i, 1])), False) >= 0
    return out


def _polygon_area(pts: list[tuple[float, float]]) -> float:
    if len(pts) < 3:
        return 0.0
    a = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        a += x0 * y1 - x1 * y0
    return abs(a) / 2


def _clip(pts: list[tuple[float, float]], inside, cross) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for i, cur in enumerate(pts):
        prev = pts[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(cross(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cross(prev, cur))
    return out


def _clip_to_box(polygon: Sequence[Sequence[float]], box: Sequence[float]) -> list[tuple[float, float]]:
    """Sutherland–Hodgman: the polygon cut to an axis-aligned box (correct area for concave polygons too)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pts = [(float(x), float(y)) for x, y in polygon]

    def at_x(x):
        return lambda p, q: (x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0]))

    def at_y(y):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y)

    for inside, cross in ((lambda p: p[0] >= x0, at_x(x0)), (lambda p: p[0] <= x1, at_x(x1)),
                          (lambda p: p[1] >= y0, at_y(y0)), (lambda p: p[1] <= y1, at_y(y1))):
        pts = _clip(pts, inside, cross)
        if not pts:
            break
    return pts


def box_polygon_overlap(xyxy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Share of each box's area that lies inside the polygon (0..1, shape (n,)).

    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    >>> box_polygon_overlap(np.array([[5., 0., 15., 10.], [20., 20., 30., 30.]]), square).tolist()
    [0.5, 0.0]
    """
    boxes = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    poly = np.asarray(polygon, dtype=float).reshape(-1, 2)
    (px0, py0), (px1, py1) = poly.min(axis=0), poly.max(axis=0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    # Only boxes that meet the polygon's bounding rectangle need clipping (most, in a room full of seats, don't).
    meets = (boxes[:, 0] < px1) & (boxes[:, 2] > px0) & (boxes[:, 1] < py1) & (boxes[:, 3] > py0) & (area > 0)
    out = np.zeros(len(boxes))
    for i in np.flatnonzero(meets):
        out[i] = min(1.0, _polygon_area(_clip_to_box(poly.tolist(), boxes[i])) / area[i])
    return out


def box_intersection_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m): the share of each box of `a` covered by each box of `b` (intersection over the area of a).

    >>> box_intersection_share(np.array([[0., 0., 2., 2.]]), np.array([[1., 0., 5., 5.], [3., 3., 4., 4.]])).tolist()
    [[0.5, 0.0]]
    """
    a = np.asarray(a, dtype=float).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=float).reshape(-1, 4)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    return np.where(area > 0, w * h / np.where(area > 0, area, 1), 0.0)


def angle_around_box(points: np.ndarray, box: Sequence[float], anchor_y: float = 0.5) -> np.ndarray:
    """Angles in degrees [0, 360) of points around a box, measured in the box's own normalised frame.

    The box is stretched into a square of side 2 around its reference point (horizontal centre, `anchor_y`
    of the height from the top), so each side of the box spans exactly 90°: 0° is the right side, 90° the
    bottom (toward a down-looking camera), 180° the left, 270° the top. A long vehicle then gets as many
    degrees per side as a short one, which is what "walked round it" means on the ground.

    >>> angle_around_box(np.array([[30., 10.], [10., 25.], [-20., 10.], [10., -5.], [30., 30.]]),
    ...                  [0., 0., 20., 20.]).round(1).tolist()
    [0.0, 90.0, 180.0, 270.0, 45.0]
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    hw, hh = max((x1 - x0) / 2, 1e-6), max((y1 - y0) / 2, 1e-6)
    ref_y = y0 + anchor_y * (y1 - y0)
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    u = (pts[:, 0] - (x0 + x1) / 2) / hw
    v = (pts[:, 1] - ref_y) / hh
    return np.degrees(np.arctan2(v, u)) % 360.0


SIDES = ("right", "bottom", "left", "top")


def side_of_angle(angle: float) -> int:
    """Which side of the box an angle from `angle_around_box` faces: 0 right, 1 bottom, 2 left, 3 top.

    >>> [side_of_angle(a) for a in (0, 44.9, 45, 180, 300, 359)]
    [0, 0, 1, 2, 3, 0]
    """
    return int(((angle + 45.0) % 360.0) // 90.0)


class ArcCover:
    """The union of arcs of a circle, in degrees, with wrap-around at 360.

    >>> c = ArcCover()
    >>> c.add_step(350, 20)     # the short way across 0: 350..360 and 0..20
    30.0
    >>> c.add_step(10, 100)
    80.0
    >>> c.covered(), c.covered_in(0, 90)
    (110.0, 90.0)
    >>> c.add_step(100, 300, max_step=120)    # 160° the short way: a jump, not added
    0.0
    """

    def __init__(self) -> None:
        self._arcs: list[tuple[float, float]] = []  # disjoint, sorted, inside [0, 360)

    def add_step(self, a: float, b: float, max_step: float = 179.0) -> float:
        """Add the short arc from a to b (a walk between two positions); returns the degrees newly covered.

        A step longer than `max_step` is not added: a jump (a new person, a track-id switch, a position lost
        behind the vehicle) says nothing about which way round the positions were joined.
        """
        a, b = a % 360.0, b % 360.0
        d = (b - a + 180.0) % 360.0 - 180.0  # signed short way, -180..180
        if abs(d) > max_step:
            return 0.0
        lo = a if d >= 0 else b
        return self.add_arc(lo, abs(d))

    def add_arc(self, start: float, extent: float) -> float:
        before = self.covered()
        start = start % 360.0
        end = start + min(extent, 360.0)
        pieces = [(start, min(end, 360.0))] + ([(0.0, end - 360.0)] if end > 360.0 else [])
        merged: list[tuple[float, float]] = []
        for lo, hi in sorted(self._arcs + pieces):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._arcs = merged
        return round(self.covered() - before, 6)

    def covered(self) -> float:
        return round(sum(hi - lo for lo, hi in self._arcs), 6)

    def covered_in(self, lo: float, hi: float) -> float:
        """Degrees covered inside [lo, hi) (lo may be negative to cross 0, e.g. -45..45 for the right side)."""
        total = 0.0
        for s, e in ((lo, hi),) if lo >= 0 else ((lo + 360.0, 360.0), (0.0, hi)):
            total += sum(max(0.0, min(e, ahi) - max(s, alo)) for alo, ahi in self._arcs)
        return round(total, 6)

    def sides(self, min_share: float = 1 / 3) -> list[int]:
        """Sides of the box (see `side_of_angle`) of which at least `min_share` of its 90° is covered."""
        return [i for i in range(4) if self.covered_in(i * 90.0 - 45.0, i * 90.0 + 45.0) >= 90.0 * min_share - 1e-9]


def head_yaw(keypoints: np.ndarray | None, min_conf: float = 0.5) -> float | None:
    """Signed head yaw in degrees from COCO pose keypoints (17, 3): + when the face turns toward image right.

    The nose tip sits in front of the ears' and eyes' axes, so turning the head by θ shifts it off a pair's
    midpoint by k·tan θ of the pair's distance (`EAR_K`, `EYE_K`). In order of preference:
    - both ears seen: the ear pair (the largest signal);
    - one ear seen (a head turned away from the camera's axis hides the far ear, and pose models then put it
      on the cheek's contour, which would underestimate the turn) and both eyes: the nose's distance from the
      visible ear in eye distances, r = (EAR_HALF·cos θ + NOSE_EAR·sin θ) / (2·EYE_HALF·cos θ), so
      tan θ = (2·EYE_HALF·r − EAR_HALF) / NOSE_EAR, turned away from that ear;
    - both eyes: the eye pair.
    Without the nose, or with none of these, there is no estimate (None). Normalising by the head's own
    distances makes the value independent of how far the person sits and of how the torso is turned (a
    shoulder width would shrink with the torso, not the head).

    >>> kp = np.zeros((17, 3)); kp[[0, 3, 4], 2] = 1.0
    >>> kp[3, :2], kp[4, :2] = (100, 50), (130, 50)        # ears 30 px apart, midpoint x = 115
    >>> kp[0, :2] = (115, 55); head_yaw(kp)                 # nose on the midpoint: facing the camera
    0.0
    >>> kp[0, :2] = (135, 55); round(head_yaw(kp), 1)       # 20 px = 0.67 x 30 x tan 45°
    45.0
    """
    if keypoints is None:
        return None
    kp = np.asarray(keypoints, dtype=float)
    if kp.shape[0] < 5 or kp[NOSE, 2] < min_conf:
        return None
    seen = kp[:, 2] >= min_conf
    nose = kp[NOSE, 0]
    eye_span = abs(kp[R_EYE, 0] - kp[L_EYE, 0]) if seen[L_EYE] and seen[R_EYE] else 0.0
    if seen[L_EAR] and seen[R_EAR] and abs(kp[R_EAR, 0] - kp[L_EAR, 0]) > 1e-6:
        return _pair_yaw(nose, kp[L_EAR, 0], kp[R_EAR, 0], EAR_K)
    if (seen[L_EAR] or seen[R_EAR]) and eye_span > 1e-6:
        ear = kp[L_EAR, 0] if seen[L_EAR] else kp[R_EAR, 0]
        r = abs(nose - ear) / eye_span
        turn = math.degrees(math.atan((2 * EYE_HALF * r - EAR_HALF) / NOSE_EAR))
        return turn if nose >= ear else -turn
    if eye_span > 1e-6:
        return _pair_yaw(nose, kp[L_EYE, 0], kp[R_EYE, 0], EYE_K)
    return None


def _pair_yaw(nose: float, a: float, b: float, k: float) -> float:
    return float(math.degrees(math.atan((nose - (a + b) / 2) / (k * abs(b - a)))))
