"""Where a detector looks on a frame: tiles around the zones, at the scale the people there need.

A high ceiling camera shows people 35-110 px tall on a 576-line picture. yolo11n-pose, given the whole
768x576 frame at 640 px, finds few of those under ~100 px (the outside check: 0-2 of 3-9 people); given the
same pixels twice as large it finds most. Raising the input size for the whole frame pays for pixels no
rule reads, so the planner spends them only where the rules look:

1. each zone's *region* is the bounding box of its polygon, grown by the height of a person standing at its
   edge (their head is above the zone when their feet are inside) and by half a person's height sideways;
2. the region's *scale* brings a person of the zone's height to `person_px` pixels of model input
   (clamped to `min_scale..max_scale`; by default never below the scale of the whole frame at `imgsz`, so a
   crop never sees people smaller than the old full-frame pass did); the height is the zone's
   `person_height` when configured, else what this camera's detections in the zone have shown (the upper
   quartile of the last 60 people seen whole, so half-hidden people do not shrink it; in seat, room and
   patrol zones any confident person, as seated people's ankles are never seen), else the detector's
   `person_height` prior;
3. regions are merged while their union costs no more model pixels than the two apart plus the fixed cost of
   one model input (`INPUT_OVERHEAD_PX`): an exam room's rows of seats become one input, not thirty;
4. a model that takes any input size (YOLO: `flexible_input`) runs each region as one input of exactly the
   size its scale needs (up to `max_input`), so no pixels are spent on tile overlap or square padding; a
   larger region, or any region for a fixed-size model (NanoDet), is cut into tiles of `size / scale`
   source pixels that overlap by 1.2 person heights, so everyone stands whole in at least one tile
   (SAHI-style slicing).

`detect_tiles` runs all tiles of all frames as one batch and merges them back in frame coordinates: a
person cut by a tile's inner edge and seen whole in the neighbouring tile is kept once (the whole box wins;
`merge_tiles`). Boxes from the same tile are never merged here: the model's own NMS already judged them, and
a second, class-agnostic pass would fuse the members of a tight group, which the counting rules must see.

Why not `sv.InferenceSlicer`: it slices one image at a time with a callback per slice, so slices of forty
cameras cannot share one batch, and it moves boxes but not pose keypoints back to frame coordinates.

>>> from analytics.config import YoloConfig, ZoneConfig
>>> zone = ZoneConfig(id="desk", polygon=[(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)], person_height=0.1)
>>> planner = RegionPlanner(YoloConfig(person_px=96), [zone], flexible=True)  # people 57.6 px, scale 1.67
>>> [(tuple(round(v, 2) for v in (r.x0, r.y0, r.x1, r.y1)), size) for r, size in planner.plan((768, 576))]
[((0.36, 0.29, 0.64, 0.61), 352)]
>>> len(RegionPlanner(YoloConfig(imgsz=160, person_px=96), [zone]).plan((768, 576)))  # fixed 160-px tiles
12
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from analytics.config import DetectorBase, RegionOfInterest, ZoneConfig
from analytics.detectors.base import Detector, merge_detections
from analytics.geometry import box_intersection_share

PERSON = 0
# The fixed cost of one model input (pre- and post-processing, NMS, ~300 layers each launched once), in model
# pixels: on the CPU one YOLO call costs ~8-10 ms before its pixels count, about what a 320x320 input's pixels
# cost. Two regions are merged when their union costs no more than the two apart plus this.
INPUT_OVERHEAD_PX = 320 * 320
# A region this large runs as the whole frame: it saves little, and at the scale of the full-frame pass the
# model then sees exactly what it saw before (the exam rules' head-yaw threshold was tuned on those pixels).
WHOLE_FRAME_SHARE = 0.6
# People in seat, room and patrol zones are mostly seen seated, to the waist over a desk: about this share of a
# standing person's height, so their boxes are brought to this share of person_px.
SEATED_SHARE = 0.55
Crop = tuple[RegionOfInterest | None, int | None]  # a region of the frame (None: all) and its model input size
HEIGHT_SAMPLES = 60  # person heights remembered per zone for the automatic scale
MIN_SAMPLES = 3  # fewer than this: the prior (or the zone's configured height) decides


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels (x1, y1 exclusive)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def clip(self, w: int, h: int) -> Box:
        return Box(max(0.0, self.x0), max(0.0, self.y0), min(float(w), self.x1), min(float(h), self.y1))

    def relative(self, w: int, h: int) -> RegionOfInterest:
        return RegionOfInterest(x0=self.x0 / w, y0=self.y0 / h, x1=self.x1 / w, y1=self.y1 / h)


@dataclass(frozen=True)
class Region:
    box: Box
    scale: float  # model pixels per source pixel wanted here
    person_h: float  # expected person height in source pixels


def tile_starts(lo: float, hi: float, size: float, overlap: float) -> list[float]:
    """Evenly spaced starts of tiles of `size` covering [lo, hi) with at least `overlap` between neighbours.

    >>> tile_starts(0, 100, 100, 10)
    [0.0]
    >>> tile_starts(0, 250, 100, 20)
    [0.0, 75.0, 150.0]
    """
    length = hi - lo
    if length <= size:
        return [float(lo)]
    n = math.ceil((length - overlap) / (size - overlap))
    step = (length - size) / (n - 1)
    return [float(lo + i * step) for i in range(n)]


def tile(region: Region, imgsz: int, frame_wh: tuple[int, int], shrink: bool = False) -> list[Box]:
    """Cut a region into tiles that each fill at most one model input of `imgsz` at the region's scale.

    `shrink` (a model that takes any input size): the tiles are made just large enough to cover the region
    with the overlap, instead of full `imgsz` tiles spread evenly. A region 10 % wider than one input then
    costs two half-width inputs, not two full ones that overlap by 90 % (a window camera's counter at 640x360:
    2 x 1280x512 model pixels became 2 x 768x512).

    >>> r = Region(Box(0, 0, 634, 218), scale=2.22, person_h=50)
    >>> [round(t.w) for t in tile(r, 1280, (640, 360))], [round(t.w) for t in tile(r, 1280, (640, 360), shrink=True)]
    ([577, 577], [347, 347])
    """
    size = imgsz / region.scale
    box = region.box
    if box.w <= size and box.h <= size:
        return [box]
    overlap = min(1.2 * region.person_h, size / 2)
    size_x = size_y = size
    if shrink:  # n tiles of (length + (n - 1) * overlap) / n cover the length with exactly the overlap
        nx, ny = len(tile_starts(box.x0, box.x1, size, overlap)), len(tile_starts(box.y0, box.y1, size, overlap))
        # (+0.01 px: rounding must not make tile_starts ask for one tile more)
        size_x = min(size, (box.w + (nx - 1) * overlap) / nx + 0.01)
        size_y = min(size, (box.h + (ny - 1) * overlap) / ny + 0.01)
    tiles = []
    for y in tile_starts(box.y0, box.y1, size_y, overlap):
        for x in tile_starts(box.x0, box.x1, size_x, overlap):
            tiles.append(Box(x, y, min(x + size_x, box.x1), min(y + size_y, box.y1)).clip(*frame_wh))
    return tiles


def merge_regions(regions: list[Region], overhead_px: float = INPUT_OVERHEAD_PX) -> list[Region]:
    """Merge two regions whenever their bounding box costs no more model pixels than the two apart, counting
    `overhead_px` for each input (the rows of seats of an exam room become one input, not thirty)."""
    regions = list(regions)
    merged = True
    while merged:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                a, b = regions[i], regions[j]
                scale = max(a.scale, b.scale)
                union = a.box.union(b.box)
                if union.area * scale**2 <= a.box.area * a.scale**2 + b.box.area * b.scale**2 + overhead_px:
                    regions[i] = Region(union, scale, min(a.person_h, b.person_h))
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return regions


class RegionPlanner:
    """Plans one camera's crops for one detector, and learns how tall people are in each zone."""

    def __init__(self, config: DetectorBase, zones: Sequence[ZoneConfig],
                 roi: RegionOfInterest | None = None, flexible: bool = False) -> None:
        self.config = config
        self.flexible = flexible  # the model takes any input size: one input per region, sized to its scale
        self.zones = list(zones)
        self.roi = roi
        self._heights: dict[str, deque[float]] = {z.id: deque(maxlen=HEIGHT_SAMPLES) for z in self.zones}

    @property
    def tiled(self) -> bool:
        return self.config.crops == "zones" and bool(self.zones)

    def person_height(self, zone: ZoneConfig, frame_h: int) -> float:
        """Expected standing height (source pixels) of a person whose feet are in the zone."""
        if zone.person_height is not None:
            return zone.person_height * frame_h
        seen = self._heights[zone.id]
        if len(seen) >= MIN_SAMPLES:
            return float(np.percentile(np.asarray(seen), 75))
        if zone.anchor == "box":
            # Seats, rooms, aisles: no prior. Until seated people have shown their size the zone is seen at the
            # full-frame scale (an empty seat at the prior's scale enlarged the whole room and moved resting
            # faces' head-yaw readings over the exam rule's threshold).
            return float("inf")
        return self.config.person_height * frame_h

    def regions(self, frame_wh: tuple[int, int]) -> list[Region]:
        w, h = frame_wh
        out = []
        for zone in self.zones:
            ph = self.person_height(zone, h)
            xs = [p[0] * w for p in zone.polygon]
            ys = [p[1] * h for p in zone.polygon]
            box = Box(min(xs) - 0.5 * ph, min(ys) - 1.1 * ph, max(xs) + 0.5 * ph, max(ys) + 0.15 * ph).clip(w, h)
            floor = self.config.min_scale or self.config.imgsz / max(w, h)
            target = self.config.person_px * (SEATED_SHARE if zone.anchor == "box" else 1.0)
            scale = min(self.config.max_scale, max(floor, target / max(ph, 1.0)))
            ph = min(ph, float(h))
            if zone.anchor == "box" and scale <= floor:
                # Seated people large enough for the full-frame pass: give the model the whole frame, the pixels
                # the exam rules' head-yaw threshold was tuned on (a crop of the same scale moved resting faces'
                # yaw readings across it: exam-head-turned-left missed its turn with seat crops).
                box = Box(0, 0, w, h)
            out.append(Region(box, scale, ph))
        return merge_regions(out)

    def plan(self, frame_wh: tuple[int, int]) -> list[Crop]:
        """The crops this detector runs on the camera's next frame: (region relative to the frame, or None for
        the whole frame; model input size, or None for the detector's `imgsz`)."""
        if self.config.crops == "full":
            return [(None, None)]
        if not self.tiled:
            return [(self.roi, None)]
        w, h = frame_wh
        out: list[Crop] = []
        for region in self.regions(frame_wh):
            if region.box.area >= WHOLE_FRAME_SHARE * w * h:  # the crop would save little: take the frame
                region = Region(Box(0, 0, w, h), region.scale, region.person_h)
            if self.flexible:
                # Only kinds whose model takes any input size (YOLO) are flexible, and they bound it.
                max_input: int = getattr(self.config, "max_input", self.config.imgsz)
                need = max(region.box.w, region.box.h) * region.scale
                if need <= max_input:
                    out.append((region.box.relative(w, h), max(64, 32 * math.ceil(need / 32))))
                    continue
                out += [(t.relative(w, h), max(64, 32 * math.ceil(max(t.w, t.h) * region.scale / 32)))
                        for t in tile(region, max_input, frame_wh, shrink=True)]
            else:
                out += [(t.relative(w, h), None) for t in tile(region, self.config.imgsz, frame_wh)]
        return out

    def observe(self, detections: sv.Detections, frame_wh: tuple[int, int], in_zone: dict[str, np.ndarray]) -> None:
        """Learn people's heights per zone from confident people: seen whole (an ankle seen, when there is a
        pose) in zones where people stand; any confident person in seat, room and patrol zones, where people
        sit behind desks and their ankles are never seen (a seated candidate's box is what the scale is for)."""
        if not self.tiled or not len(detections):
            return
        cls = np.zeros(len(detections), int) if detections.class_id is None else np.asarray(detections.class_id)
        conf = np.ones(len(detections)) if detections.confidence is None else np.asarray(detections.confidence)
        confident = (cls == PERSON) & (conf >= 0.5)
        whole = confident.copy()
        kps = detections.data.get("keypoints") if detections.data else None
        if kps is not None and len(kps) == len(detections):
            whole &= np.asarray(kps)[:, 15:17, 2].max(axis=1) >= 0.5  # an ankle is seen: not cut by a desk
        heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
        anchors = {z.id: z.anchor for z in self.zones}
        for zone_id, mask in in_zone.items():
            if zone_id in self._heights:
                usable = confident if anchors.get(zone_id) == "box" else whole
                self._heights[zone_id].extend(heights[usable & mask].tolist())


def cut_edges(det: sv.Detections, tile_box: Box, frame_wh: tuple[int, int], margin: float = 2.0) -> np.ndarray:
    """Which boxes touch an edge of their tile that is not an edge of the frame (the tile cut them)."""
    if not len(det):
        return np.zeros(0, dtype=bool)
    w, h = frame_wh
    x0, y0, x1, y1 = det.xyxy.T
    cut = np.zeros(len(det), dtype=bool)
    if tile_box.x0 > margin:
        cut |= x0 <= tile_box.x0 + margin
    if tile_box.y0 > margin:
        cut |= y0 <= tile_box.y0 + margin
    if tile_box.x1 < w - margin:
        cut |= x1 >= tile_box.x1 - margin
    if tile_box.y1 < h - margin:
        cut |= y1 >= tile_box.y1 - margin
    return cut


def merge_tiles(parts: Sequence[sv.Detections], tiles: Sequence[Box], frame_wh: tuple[int, int],
                threshold: float = 0.6) -> sv.Detections:
    """One frame's detections from its tiles: a box that overlaps a box of another tile by `threshold` of the
    smaller one (the same object seen twice) is dropped; whole boxes are kept before cut ones, then the more
    confident. Boxes of the same tile are all kept.

    >>> a = sv.Detections(xyxy=np.array([[90., 10., 120., 80.]]), confidence=np.array([.8]), class_id=np.array([0]))
    >>> b = sv.Detections(xyxy=np.array([[90., 10., 100., 80.]]), confidence=np.array([.9]), class_id=np.array([0]))
    >>> merged = merge_tiles([a, b], [Box(0, 0, 200, 100), Box(0, 0, 100, 100)], (200, 100))
    >>> merged.xyxy.tolist()   # the tile that ends at x=100 cut the person: the whole box wins
    [[90.0, 10.0, 120.0, 80.0]]
    """
    if len(parts) == 1:
        return merge_detections(parts)
    cut = np.concatenate([cut_edges(p, t, frame_wh) for p, t in zip(parts, tiles, strict=True)] or [np.zeros(0)])
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)] or [np.zeros(0)])
    merged = merge_detections(parts)
    if len(merged) < 2:
        return merged
    conf = np.ones(len(merged)) if merged.confidence is None else np.asarray(merged.confidence)
    cls = np.zeros(len(merged), int) if merged.class_id is None else np.asarray(merged.class_id)
    order = sorted(range(len(merged)), key=lambda i: (bool(cut[i]), -conf[i]))
    share = box_intersection_share(merged.xyxy, merged.xyxy)
    overlap = np.maximum(share, share.T)  # intersection over the smaller box
    kept: list[int] = []
    for i in order:
        if not any(owner[k] != owner[i] and cls[k] == cls[i] and overlap[i, k] >= threshold for k in kept):
            kept.append(i)
    return merged[np.array(sorted(kept))]


def detect_tiles(detector: Detector, images: Sequence[np.ndarray],
                 plans: Sequence[Sequence[Crop]]) -> list[sv.Detections]:
    """Run `detector` once over every crop of every image (one batch per input size) and give one result per
    image, merged back in frame coordinates (`merge_tiles`)."""
    flat_images, flat_rois, flat_sizes, owner = [], [], [], []
    for i, (image, crops) in enumerate(zip(images, plans, strict=True)):
        for roi, size in crops or [(None, None)]:
            flat_images.append(image)
            flat_rois.append(roi)
            flat_sizes.append(size)
            owner.append(i)
    if any(s is not None for s in flat_sizes):
        results = detector.detect(flat_images, flat_rois, sizes=flat_sizes)  # type: ignore[call-arg]
    else:
        results = detector.detect(flat_images, flat_rois)
    out = []
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        mine = [k for k, o in enumerate(owner) if o == i]
        boxes = [Box(0, 0, w, h) if flat_rois[k] is None else
                 Box(flat_rois[k].x0 * w, flat_rois[k].y0 * h, flat_rois[k].x1 * w, flat_rois[k].y1 * h)
                 for k in mine]
        out.append(merge_tiles([results[k] for k in mine], boxes, (w, h)))
    return out
