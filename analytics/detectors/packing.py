"""Packing model inputs of several shapes into shared canvases (a mosaic), when that costs less than one call
per shape.

A node's batch holds crops of many shapes: every camera's zones differ, so after each crop is brought to its
own scale (`yolo.model_input`) few shapes repeat. Inputs of one shape run as one batched call; each further
shape is another call, and every call has a fixed cost before its pixels count (measured by
`bench/bench_packing.py`: ~6 ms with torch, under 1 ms with OpenVINO on this machine). Packing places inputs
side by side on shelves of one canvas, `GAP` grey pixels apart, runs the canvases as one call and hands each
input back the detections whose centre lies on it, clipped to its edges (a box clipped there touches its
tile's edge, so `merge_tiles` treats it as cut, as it does at any tile edge).

`plan_calls` chooses, deterministically from the shapes alone, whichever of the two plans costs fewer
*model pixels*, counting `overhead_px` for each call: the same shapes give the same canvases on every
machine, so evaluations replay exactly.

>>> calls = plan_calls([(256, 352), (288, 288), (256, 448)], overhead_px=100_000)
>>> [(c.shape, len(c.canvases), [len(p) for p in c.canvases]) for c in calls]   # three shapes: one canvas
[((288, 1152), 1, [3])]
>>> [(c.shape, len(c.canvases)) for c in plan_calls([(256, 352)] * 3, overhead_px=100_000)]   # one shape
[((256, 352), 3)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

STRIDE = 32  # YOLO's largest stride: canvases are multiples of it
GAP = STRIDE  # grey between packed inputs, so no anchor sees two inputs' pixels as one object
MAX_SIDE = 2048  # a canvas no larger than this a side (memory, and one call's latency)
# Packing must save this share of the cost to be chosen: big canvases cost a little more per pixel than the
# count says (torch, 4 cameras of 3 shapes: counted 3 % cheaper packed, measured 8 % dearer).
PACK_MARGIN = 0.9


@dataclass(frozen=True)
class Placement:
    index: int  # which input
    x: int
    y: int
    h: int
    w: int


@dataclass(frozen=True)
class Call:
    """One batched model call: canvases of one shape, each holding the inputs placed on it."""

    shape: tuple[int, int]
    canvases: tuple[tuple[Placement, ...], ...]

    @property
    def pixels(self) -> int:
        return self.shape[0] * self.shape[1] * len(self.canvases)


def _ceil(v: float) -> int:
    return STRIDE * math.ceil(v / STRIDE)


def by_shape(shapes: Sequence[tuple[int, int]]) -> list[Call]:
    """One call per distinct shape, each input alone on its canvas."""
    calls = []
    for shape in sorted(set(shapes)):
        calls.append(Call(shape, tuple((Placement(i, 0, 0, *s),) for i, s in enumerate(shapes) if s == shape)))
    return calls


def _ffdh(shapes: Sequence[tuple[int, int]], order: Sequence[int], width: int) -> list[list[Placement]]:
    """First-fit decreasing-height shelves of `width`; a new canvas when one would pass MAX_SIDE."""
    canvases: list[list[Placement]] = []
    placed: list[Placement] = []
    rows: list[list[int]] = []  # per shelf of the current canvas: y, height, x used
    for i in order:
        h, w = shapes[i]
        row = next((r for r in rows if r[2] + w <= width), None)
        if row is None:
            y = rows[-1][0] + rows[-1][1] + GAP if rows else 0
            if placed and y + h > MAX_SIDE:
                canvases.append(placed)
                placed, rows, y = [], [], 0
            row = [y, h, 0]
            rows.append(row)
        placed.append(Placement(i, row[2], row[0], h, w))
        row[2] += w + GAP
    canvases.append(placed)
    return canvases


def shelves(shapes: Sequence[tuple[int, int]], tries: int = 32) -> list[Call]:
    """Shelf packing (first fit, tallest first) at the canvas width, among `tries` from the widest input up,
    that needs the fewest canvas pixels; canvases of one shape share a call."""
    order = sorted(range(len(shapes)), key=lambda i: (-shapes[i][0], -shapes[i][1], i))
    widest = max(w for _h, w in shapes)
    total = min(MAX_SIDE, sum(w + GAP for _h, w in shapes))
    widths = sorted({_ceil(widest + k * max(0, total - widest) / tries) for k in range(tries + 1)})
    best: list[Call] | None = None
    for width in widths:
        sized: dict[tuple[int, int], list[tuple[Placement, ...]]] = {}
        for placed in _ffdh(shapes, order, width):
            shape = (_ceil(max(p.y + p.h for p in placed)), _ceil(max(p.x + p.w for p in placed)))
            sized.setdefault(shape, []).append(tuple(placed))
        calls = [Call(shape, tuple(c)) for shape, c in sorted(sized.items())]
        if best is None or cost(calls, 0) < cost(best, 0):
            best = calls
    assert best is not None
    return best


def cost(calls: Sequence[Call], overhead_px: float) -> float:
    return sum(c.pixels + overhead_px for c in calls)


def plan_calls(shapes: Sequence[tuple[int, int]], overhead_px: float) -> list[Call]:
    """Shelf packing when it costs less than `PACK_MARGIN` of one call per shape, else one call per shape."""
    if not shapes:
        return []
    plain = by_shape(shapes)
    if len(plain) == 1:
        return plain
    packed = shelves(shapes)
    return packed if cost(packed, overhead_px) < PACK_MARGIN * cost(plain, overhead_px) else plain


def compose(shape: tuple[int, int], placed: Sequence[Placement], inputs: Sequence[np.ndarray],
            fill: int) -> np.ndarray:
    """The canvas of one call with its inputs drawn in place (a lone input of the call's shape as it is)."""
    if len(placed) == 1 and inputs[placed[0].index].shape[:2] == shape:
        return inputs[placed[0].index]
    canvas = np.full((*shape, 3), fill, dtype=np.uint8)
    for p in placed:
        canvas[p.y:p.y + p.h, p.x:p.x + p.w] = inputs[p.index]
    return canvas


def split(det: sv.Detections, placed: Sequence[Placement]) -> dict[int, sv.Detections]:
    """Each placed input's detections in its own coordinates: the rows whose centre lies on it, moved and
    clipped to its edges (keypoints moved with them)."""
    if len(placed) == 1 and placed[0].x == 0 and placed[0].y == 0:
        return {placed[0].index: det}
    cx = (det.xyxy[:, 0] + det.xyxy[:, 2]) / 2
    cy = (det.xyxy[:, 1] + det.xyxy[:, 3]) / 2
    out = {}
    for p in placed:
        mine = det[(cx >= p.x) & (cx < p.x + p.w) & (cy >= p.y) & (cy < p.y + p.h)]
        shift = np.array([p.x, p.y, p.x, p.y], dtype=mine.xyxy.dtype)
        mine.xyxy = np.clip(mine.xyxy - shift, 0, [p.w, p.h, p.w, p.h]).astype(mine.xyxy.dtype)
        kps = mine.data.get("keypoints")
        if kps is not None and len(kps):
            kps = np.array(kps, copy=True)
            kps[..., 0] -= p.x
            kps[..., 1] -= p.y
            mine.data["keypoints"] = kps
        out[p.index] = mine
    return out
