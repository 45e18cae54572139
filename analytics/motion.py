"""Motion gate per camera: which of the camera's crops the detector runs (Frigate's motion regions).

Each frame is shrunk to a small grey picture (`width` px wide), blurred, and compared with a running
average of past frames (the background). Pixels that differ by more than `threshold` grey levels form
motion boxes; boxes smaller than `min_area` of the frame are noise. The node (`Node._gated_detect`) passes the
boxes to `analytics.multidetect.CameraDetection.detect`, which runs only the planned crops a box touches (a
whole crop, or the whole frame with `crops: full`; none on a static frame) and carries over what was last
found in the others; when `keepalive_s` seconds have passed since the last full look (`due`) every crop runs,
so a person who stands still (a clerk at a window) is still seen and tracked. The node hands over the decoded
frame's Y plane, so no second colour conversion is made. Costs a few ms a frame at width 160
(bench/bench_detectors.py).

>>> import numpy as np
>>> gate = MotionGate(MotionConfig(keepalive_s=5))
>>> still = np.full((576, 768, 3), 90, np.uint8)
>>> [gate.update(still, t).run for t in (0.0, 0.2, 0.4)]      # first frame runs, then static frames don't
[True, False, False]
>>> moved = still.copy(); moved[200:400, 300:380] = 250       # something appears
>>> result = gate.update(moved, 0.6); result.run, len(result.boxes)
(True, 1)
>>> gate.update(still, 5.7).run                                 # static, but the keep-alive is due
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from analytics.config import RegionOfInterest
from common.model import Strict


class MotionConfig(Strict):
    """`motion:` of a camera's detect settings."""

    enabled: bool = True
    width: int = Field(160, ge=32, le=1280, description="width of the grey picture compared, px")
    threshold: int = Field(25, ge=1, le=255, description="grey-level change that counts as motion")
    min_area: float = Field(0.001, ge=0, lt=1, description="smallest motion box, share of the frame")
    # 0.1 per frame: a change (someone sat down) fades into the background in ~3 s at 5 fps
    alpha: float = Field(0.1, gt=0, le=1, description="background learning rate per frame")
    # 2 s: a person who stands still is looked at again every 2 s (every 4th frame at the dwell rules' 2 fps)
    keepalive_s: float = Field(2.0, gt=0, description="look everywhere at least this often, motion or not")
    padding: float = Field(0.02, ge=0, le=0.5, description="margin added around each motion box, of the frame")


@dataclass
class MotionResult:
    run: bool                      # whether the detector should look at this frame
    motion: bool                   # whether anything moved
    boxes: list[RegionOfInterest] = field(default_factory=list)  # relative, padded, merged where they overlap
    changed: float = 0.0           # share of pixels that changed
    due: bool = True               # the keep-alive (or the first frame): look everywhere, not only at motion


class MotionGate:
    """One per camera; feed frames in time order with their timestamps (seconds)."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._background: np.ndarray | None = None
        self._last_full: float | None = None
        self.frames = 0
        self.skipped = 0

    def update(self, image: np.ndarray, ts: float, luma: np.ndarray | None = None) -> MotionResult:
        """`luma`: the decoded frame's Y plane where the reader kept it (no second colour conversion)."""
        self.frames += 1
        cfg = self.config
        if not cfg.enabled:
            self._last_full = ts
            return MotionResult(run=True, motion=True)
        gray = self._small_gray(image if luma is None else luma)
        if self._background is None or self._background.shape != gray.shape:
            self._background = gray.astype(np.float32)
            self._last_full = ts
            return MotionResult(run=True, motion=True, changed=1.0)
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        mask = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)[1]
        mask = cv2.dilate(mask, None, iterations=2)
        h, w = gray.shape
        boxes = self._boxes(mask, w, h)
        # Learn the background slowly, so a person who stops is still "motion" for a while, then fades in.
        cv2.accumulateWeighted(gray, self._background, cfg.alpha)
        motion = bool(boxes)
        # Measured from the last full look, not the last run: motion in one corner must not starve the rest.
        due = self._last_full is None or ts - self._last_full >= cfg.keepalive_s
        run = motion or due
        if due:
            self._last_full = ts
        if not run:
            self.skipped += 1
        return MotionResult(run=run, motion=motion, boxes=boxes, changed=float(np.count_nonzero(mask)) / mask.size,
                            due=due)

    def _small_gray(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = min(self.config.width, w)
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(gray, (5, 5), 0)

    def _boxes(self, mask: np.ndarray, w: int, h: int) -> list[RegionOfInterest]:
        cfg = self.config
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            if bw * bh >= cfg.min_area * w * h:
                p = cfg.padding
                rects.append([max(0.0, x / w - p), max(0.0, y / h - p),
                              min(1.0, (x + bw) / w + p), min(1.0, (y + bh) / h + p)])
        return [RegionOfInterest(x0=r[0], y0=r[1], x1=r[2], y1=r[3]) for r in _merge_overlapping(rects)]


def _merge_overlapping(rects: list[list[float]]) -> list[list[float]]:
    """Union boxes that touch until none do (few boxes per frame, so the simple loop is enough)."""
    merged = True
    while merged:
        merged = False
        out: list[list[float]] = []
        for r in rects:
            for o in out:
                if r[0] <= o[2] and o[0] <= r[2] and r[1] <= o[3] and o[1] <= r[3]:
                    o[:] = [min(o[0], r[0]), min(o[1], r[1]), max(o[2], r[2]), max(o[3], r[3])]
                    merged = True
                    break
            else:
                out.append(list(r))
        rects = out
    return rects
